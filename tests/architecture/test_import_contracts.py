"""The import-linter contracts hold for the real tree, and they bite on a bad one.

The "bite" tests copy the project's real contract configuration into a temporary
directory next to a small fake package tree, plant one bad import, and check that
``lint-imports`` fails naming the contract that was broken. A clean fake tree is
checked too, so that a failure cannot come from the set-up itself.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = REPO_ROOT / "pyproject.toml"

pytestmark = pytest.mark.slow


def _contract_names() -> list[str]:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    contracts: list[dict[str, object]] = config["tool"]["importlinter"]["contracts"]
    return [str(contract["name"]) for contract in contracts]


def _contract_named(prefix: str) -> str:
    matches = [name for name in _contract_names() if name.startswith(prefix)]
    assert len(matches) == 1, f"expected exactly one contract starting with {prefix!r}, got {matches}"
    return matches[0]


LAYERS = _contract_named("Hexagonal layers")
PURE_DOMAIN = _contract_named("The domain is pure")
APPLICATION_PORTS = _contract_named("The application talks to the world only through ports")
ADAPTERS_INWARD = _contract_named("Adapters never reach the ways in")
EDGE_NO_ADAPTERS = _contract_named("GraphQL and HTTP never reach adapters")

# A minimal tree with every module the contracts name, and only legal imports.
CLEAN_TREE: dict[str, str] = {
    "domain/__init__.py": "",
    "domain/model.py": "import dataclasses\n",
    "application/__init__.py": "",
    "application/use_case.py": "import domain.model\n",
    "adapters/__init__.py": "",
    "adapters/repository.py": "import application.use_case\nimport domain.model\n",
    "interfaces/__init__.py": "",
    "interfaces/container.py": "import adapters.repository\n",
    "interfaces/graphql/__init__.py": "",
    "interfaces/graphql/schema.py": "import application.use_case\n",
    "interfaces/http/__init__.py": "",
    "interfaces/http/app.py": "import interfaces.graphql.schema\n",
}


def _lint_imports_executable() -> str:
    beside_python = Path(sys.executable).parent / "lint-imports"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("lint-imports")
    assert found is not None, "lint-imports is not installed (pip install -e '.[dev]')"
    return found


def _run_lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [_lint_imports_executable(), "--no-cache", "--no-logo"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _write_tree(root: Path, tree: dict[str, str]) -> None:
    shutil.copyfile(PYPROJECT, root / "pyproject.toml")
    for relative, source in tree.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")


def test_the_real_tree_keeps_every_contract() -> None:
    result = subprocess.run(
        [_lint_imports_executable(), "--no-cache", "--no-logo"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for name in _contract_names():
        assert f"{name} KEPT" in result.stdout


def test_a_clean_fake_tree_passes(tmp_path: Path) -> None:
    _write_tree(tmp_path, CLEAN_TREE)
    result = _run_lint_imports(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("bad_module", "bad_source", "broken"),
    [
        pytest.param("domain/leak.py", "import sqlalchemy\n", [PURE_DOMAIN], id="domain-imports-sqlalchemy"),
        pytest.param("domain/leak.py", "import strawberry\n", [PURE_DOMAIN], id="domain-imports-strawberry"),
        pytest.param(
            "domain/leak.py",
            "import application.use_case\n",
            [LAYERS, PURE_DOMAIN],
            id="domain-imports-application",
        ),
        pytest.param(
            "application/leak.py",
            "import adapters.repository\n",
            [LAYERS, APPLICATION_PORTS],
            id="application-imports-adapters",
        ),
        pytest.param(
            "application/leak.py",
            "from sqlalchemy import select\n",
            [APPLICATION_PORTS],
            id="application-imports-sqlalchemy",
        ),
        pytest.param(
            "adapters/leak.py",
            "import interfaces.http.app\n",
            [ADAPTERS_INWARD],
            id="adapters-import-interfaces",
        ),
        pytest.param(
            "interfaces/graphql/leak.py",
            "import adapters.repository\n",
            [EDGE_NO_ADAPTERS],
            id="graphql-imports-adapters",
        ),
        pytest.param(
            "interfaces/http/leak.py",
            "import interfaces.container\n",
            [EDGE_NO_ADAPTERS],
            id="http-reaches-adapters-indirectly",
        ),
    ],
)
def test_a_bad_import_is_reported(
    tmp_path: Path, bad_module: str, bad_source: str, broken: list[str]
) -> None:
    _write_tree(tmp_path, {**CLEAN_TREE, bad_module: bad_source})
    result = _run_lint_imports(tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    for name in broken:
        assert f"{name} BROKEN" in output, output
    bad_importer = bad_module.removesuffix(".py").replace("/", ".")
    assert bad_importer in output

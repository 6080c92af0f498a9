"""The domain takes time, ids and chance as inputs: no clock, no uuid4, no random inside it.

import-linter cannot see these (they are standard-library calls), so an AST scan does.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

DOMAIN_ROOT = Path(__file__).resolve().parents[2] / "domain"

# modules whose only use in a domain would be reading a clock or drawing randomness
FORBIDDEN_MODULES = frozenset({"random", "secrets", "time"})
# names that must not be imported from otherwise-acceptable modules
FORBIDDEN_FROM_IMPORTS = {
    "uuid": frozenset({"uuid1", "uuid4"}),
    "os": frozenset({"urandom", "getrandom"}),
}
# attribute calls that read a clock or draw an id: datetime.now(), date.today(), uuid.uuid4(), ...
FORBIDDEN_ATTRIBUTE_CALLS = frozenset({"now", "utcnow", "today", "uuid1", "uuid4", "urandom", "getrandom"})


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


def impurities(source: str, path: str = "<string>") -> list[Finding]:
    """Every clock read, random draw or id generation in ``source``."""
    findings: list[Finding] = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".", 1)[0]
                if top in FORBIDDEN_MODULES:
                    findings.append(Finding(path, node.lineno, f"import {alias.name}"))
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            top = node.module.split(".", 1)[0]
            if top in FORBIDDEN_MODULES:
                findings.append(Finding(path, node.lineno, f"from {node.module} import ..."))
            for alias in node.names:
                if alias.name in FORBIDDEN_FROM_IMPORTS.get(top, frozenset()):
                    findings.append(Finding(path, node.lineno, f"from {node.module} import {alias.name}"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in FORBIDDEN_ATTRIBUTE_CALLS
        ):
            findings.append(Finding(path, node.lineno, f"call to .{node.func.attr}()"))
    return findings


def test_the_domain_reads_no_clock_and_draws_no_randomness() -> None:
    sources = sorted(DOMAIN_ROOT.rglob("*.py"))
    assert sources, f"no domain sources found under {DOMAIN_ROOT}"
    findings = [
        finding
        for path in sources
        for finding in impurities(path.read_text(encoding="utf-8"), str(path.relative_to(DOMAIN_ROOT.parent)))
    ]
    assert not findings, "the domain must take time and ids as inputs:\n" + "\n".join(map(str, findings))


@pytest.mark.parametrize(
    "source",
    [
        "from datetime import datetime\nx = datetime.now()\n",
        "import datetime\nx = datetime.datetime.utcnow()\n",
        "from datetime import date\nx = date.today()\n",
        "import uuid\nx = uuid.uuid4()\n",
        "from uuid import uuid4\n",
        "import random\n",
        "from random import choice\n",
        "import secrets\n",
        "import time\n",
        "from time import monotonic\n",
        "import os\nx = os.urandom(16)\n",
    ],
)
def test_the_scan_catches_impure_code(source: str) -> None:
    assert impurities(source)


@pytest.mark.parametrize(
    "source",
    [
        "from datetime import datetime, timedelta\n"
        "def deadline(opened_at: datetime) -> datetime:\n"
        "    return opened_at + timedelta(hours=72)\n",
        "from uuid import UUID\nx = UUID(int=1)\n",
        "import hashlib\nx = hashlib.sha256(b'').hexdigest()\n",
    ],
)
def test_the_scan_accepts_pure_code(source: str) -> None:
    assert not impurities(source)

"""docs/errors.md lists exactly the error codes the code can return, one class per code."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

from domain.shared.errors import DomainError

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "docs" / "errors.md"


LAYERS = ("domain", "application", "adapters", "interfaces")


def _error_classes() -> dict[str, set[str]]:
    """Every DomainError subclass defined in the product's code (not in tests)."""
    for root in LAYERS:
        package = importlib.import_module(root)
        for module in pkgutil.walk_packages(package.__path__, f"{root}."):
            if ".migrations" not in module.name:  # Alembic scripts run only under Alembic
                importlib.import_module(module.name)
    found: dict[str, set[str]] = {}

    def walk(cls: type[DomainError]) -> None:
        for sub in cls.__subclasses__():
            if sub.__module__.split(".")[0] in LAYERS:
                found.setdefault(sub.code, set()).add(f"{sub.__module__}.{sub.__qualname__}")
            walk(sub)

    walk(DomainError)
    return found


def _documented() -> set[str]:
    return set(re.findall(r"^\| `([A-Z0-9_]+)` \|", CATALOGUE.read_text(), flags=re.MULTILINE))


def test_every_code_is_documented_and_nothing_stale() -> None:
    codes = set(_error_classes())
    documented = _documented()
    assert codes - documented == set(), "add these codes to docs/errors.md"
    assert documented - codes == set(), "these codes in docs/errors.md no longer exist"


def test_each_code_belongs_to_one_class() -> None:
    shared = {code: classes for code, classes in _error_classes().items() if len(classes) > 1}
    assert shared == {}

"""docs/errors.md lists exactly the error codes the code can return, one class per code,
and, in its own table, exactly the gateway and client codes that traces carry."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

from adapters.diagnostics.catalogue import MarkdownErrorCatalogue
from domain.diagnostics.spans import TraceErrorCode
from domain.shared.errors import DomainError

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "docs" / "errors.md"
TRACE_CODES_HEADING = "## Gateway and client error codes"


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


def _sections() -> tuple[str, str]:
    """(the DomainError table's part of the file, the gateway and client codes' part)."""
    product, _, traces = CATALOGUE.read_text().partition(TRACE_CODES_HEADING)
    return product, traces


def _documented() -> set[str]:
    return set(re.findall(r"^\| `([A-Z0-9_]+)` \|", _sections()[0], flags=re.MULTILINE))


def _documented_trace_codes() -> set[str]:
    return set(re.findall(r"^\| [a-z]+ \| `([A-Z0-9_]+)` \|", _sections()[1], flags=re.MULTILINE))


def test_every_code_is_documented_and_nothing_stale() -> None:
    codes = set(_error_classes())
    documented = _documented()
    assert codes - documented == set(), "add these codes to docs/errors.md"
    assert documented - codes == set(), "these codes in docs/errors.md no longer exist"


def test_each_code_belongs_to_one_class() -> None:
    shared = {code: classes for code, classes in _error_classes().items() if len(classes) > 1}
    assert shared == {}


def test_trace_codes_the_inspector_reports_are_documented_apart() -> None:
    """``supportos inspect`` reports the codes of failed spans; each one it knows is in the
    gateway and client table, that table holds nothing else, and no product code is in it."""
    trace_codes = {code.value for code in TraceErrorCode}
    documented = _documented_trace_codes()
    assert trace_codes - documented == set(), "add these trace codes to docs/errors.md"
    assert documented - trace_codes == set(), "these trace codes are not in TraceErrorCode"
    assert documented & set(_error_classes()) == set(), "a trace code must not reuse a product code"
    entries = MarkdownErrorCatalogue(CATALOGUE).entries()  # what the inspector itself reads
    for code in trace_codes:
        assert entries[code].section != "product"
        assert entries[code].meaning and entries[code].action

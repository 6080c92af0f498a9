"""The error catalogue ``docs/errors.md``, read as data: code -> meaning and what to do.

Two tables: the product's DomainError codes (``| `CODE` | meaning | what to do |``) and,
under "Gateway and client error codes", the codes that traces carry
(``| source | `CODE` | meaning | what to do |``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from domain.diagnostics.spans import CatalogueEntry

CATALOGUE: Final = Path(__file__).resolve().parents[2] / "docs" / "errors.md"
PRODUCT_ROW: Final = re.compile(r"^\| `([A-Z0-9_]+)` \| (.*?) \| (.*?) \|\s*$", re.MULTILINE)
TRACE_ROW: Final = re.compile(r"^\| ([a-z]+) \| `([A-Z0-9_]+)` \| (.*?) \| (.*?) \|\s*$", re.MULTILINE)


def parse_catalogue(text: str) -> dict[str, CatalogueEntry]:
    entries = {
        code: CatalogueEntry(code, meaning.strip(), action.strip(), "product")
        for code, meaning, action in PRODUCT_ROW.findall(text)
    }
    for source, code, meaning, action in TRACE_ROW.findall(text):
        entries[code] = CatalogueEntry(code, meaning.strip(), action.strip(), source)
    return entries


class MarkdownErrorCatalogue:
    """Satisfies ``application.ports.diagnostics.ErrorCatalogue``; read once, on first use."""

    def __init__(self, path: Path = CATALOGUE) -> None:
        self._path = path
        self._entries: dict[str, CatalogueEntry] | None = None

    def entries(self) -> Mapping[str, CatalogueEntry]:
        if self._entries is None:
            try:
                self._entries = parse_catalogue(self._path.read_text(encoding="utf-8"))
            except OSError:
                self._entries = {}
        return self._entries

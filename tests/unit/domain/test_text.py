"""What no text column may hold (D110)."""

from __future__ import annotations

import pytest

from domain.shared.text import first_unstorable, has_unstorable


@pytest.mark.parametrize(
    "text", ["nul \x00", "bell \x07", "escape \x1b[31m", "vt \x0b", "half \ud800", "\udfff"]
)
def test_control_characters_and_unpaired_surrogates_are_unstorable(text: str) -> None:
    assert has_unstorable(text)


@pytest.mark.parametrize("text", ["", "línea\nnueva\r\n\ttab", "emoji 🎁", "ñandú – “quoted”", "\x7f del"])
def test_ordinary_text_with_tabs_and_line_breaks_is_storable(text: str) -> None:
    assert not has_unstorable(text)


def test_the_first_unstorable_string_of_a_document_is_named_by_its_path() -> None:
    assert first_unstorable({"type": "t", "data": {"ok": ["fine", 1, None, 2.5]}}) is None
    assert first_unstorable({"data": {"items": ["fine", {"note": "a\x00b"}]}}) == "$.data.items[1].note"
    assert first_unstorable({"data": {"bad \x01": 1}}) == "$.data (a key)"
    assert first_unstorable("\x00", "body") == "body"

"""A page's cursors (D154): the end cursor encoded at once, the others when first read, and
then the same values, in the same order, as encoding each item's."""

from __future__ import annotations

from adapters.persistence.read_models import _page, decode_cursor, encode_cursor
from application.ports.read_models import PageRequest


def test_cursors_are_encoded_when_read_and_equal_each_items() -> None:
    encoded: list[int] = []

    def cursor_of(item: int) -> str:
        encoded.append(item)
        return encode_cursor("n", item)

    page = _page([5, 4, 3, 2], PageRequest(first=3), cursor_of)

    assert page.items == [5, 4, 3] and page.has_next_page
    assert encoded == [3]  # the end cursor only
    assert decode_cursor("n", page.end_cursor or "", (int,)) == [3]
    expected = tuple(encode_cursor("n", item) for item in (5, 4, 3))
    assert len(page.cursors) == 3 and encoded == [3]
    assert page.cursors[-1] == page.end_cursor
    assert tuple(page.cursors) == expected and page.cursors == expected
    assert page.cursors[1:] == expected[1:] and list(reversed(page.cursors)) == list(reversed(expected))
    assert encoded == [3, 5, 4, 3]  # each item once, however often they are read
    assert page == _page([5, 4, 3, 2], PageRequest(first=3), cursor_of)


def test_an_empty_page_ends_where_it_began() -> None:
    empty: list[int] = []
    page = _page(empty, PageRequest(first=3, after="c"), str)

    assert page.end_cursor == "c" and not page.has_next_page
    assert len(page.cursors) == 0 and tuple(page.cursors) == ()

"""The address and link patterns cannot backtrack without bound (D104).

A character class under an unbounded repeat (``[a-z0-9-]+``, ``(?:\\.[a-z0-9-]+)*``) lets
one 2,000-character message (``a.b.a.b...``) cost the screen seconds of backtracking; every
such repeat is bounded instead (a label 63 characters, a local part 64, 9 labels). Checked on
the parsed patterns, not by timing them: only runs of white space (``\\s*``) and a link's
trailing path (``/\\S*``) stay unbounded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from domain.messaging import lexicon

_parser: Any = getattr(re, "_parser")  # noqa: B009 - the stdlib's own regex parser (no stubs)
_constants: Any = getattr(re, "_constants")  # noqa: B009
UNBOUNDED = _constants.MAXREPEAT
REPEATS = {_constants.MAX_REPEAT, _constants.MIN_REPEAT, _constants.POSSESSIVE_REPEAT}
WHITE_SPACE = [(_constants.IN, [(_constants.CATEGORY, _constants.CATEGORY_SPACE)])]
# a link's path (``/\S*``) runs to the end of the pattern: nothing after it to backtrack into
PATH = [(_constants.IN, [(_constants.CATEGORY, _constants.CATEGORY_NOT_SPACE)])]

PATTERNS = (
    *(("email", p) for p in lexicon.EMAIL_PATTERNS),
    *(("link", p) for p in lexicon.LINK_PATTERNS),
    ("bare-domain", lexicon.BARE_CCTLD_DOMAIN),
)


def unbounded_repeats(parsed: Any) -> Iterator[str]:
    """Every unbounded repeat of anything but white space, as text."""
    for op, argument in parsed:
        if op in REPEATS:
            _low, high, item = argument
            if high == UNBOUNDED and list(item) not in (WHITE_SPACE, PATH):
                yield str(list(item))[:80]
            yield from unbounded_repeats(item)
        elif op in (_constants.SUBPATTERN,):
            yield from unbounded_repeats(argument[-1])
        elif op in (_constants.BRANCH,):
            for branch in argument[1]:
                yield from unbounded_repeats(branch)
        elif op in (_constants.ASSERT, _constants.ASSERT_NOT):
            yield from unbounded_repeats(argument[1])


@pytest.mark.parametrize(("kind", "pattern"), PATTERNS, ids=[f"{k}-{i}" for i, (k, _) in enumerate(PATTERNS)])
def test_no_address_or_link_pattern_repeats_a_class_without_bound(kind: str, pattern: str) -> None:
    assert list(unbounded_repeats(_parser.parse(pattern))) == []


def test_a_path_is_only_ever_the_end_of_a_link() -> None:
    for pattern in lexicon.LINK_PATTERNS:
        assert "\\S" not in pattern or pattern.endswith(("\\S+", "\\S*)?", "\\S*"))


def test_the_check_finds_an_unbounded_class() -> None:
    assert list(unbounded_repeats(_parser.parse(r"[a-z0-9-]+(?:\.[a-z]+)*\s*x")))
    assert list(unbounded_repeats(_parser.parse(r"[a-z0-9-]{1,63}\s*x"))) == []

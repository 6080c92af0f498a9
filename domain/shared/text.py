"""What no text column may hold (D110): NUL and the other control characters but tab, line
feed and carriage return, and unpaired surrogates. PostgreSQL refuses NUL and invalid UTF-8
(SQLite would store them), nobody types them, and a log or terminal may act on them."""

from __future__ import annotations

import re
from typing import Final

_UNSTORABLE: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def has_unstorable(text: str) -> bool:
    """Whether ``text`` holds a character no text column may hold."""
    return _UNSTORABLE.search(text) is not None


def first_unstorable(value: object, path: str = "$") -> str | None:
    """The JSON path of the first string (key or value) in ``value``, a parsed JSON document,
    that holds such a character; ``None`` if there is none."""
    stack: list[tuple[str, object]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            if has_unstorable(item):
                return where
        elif isinstance(item, dict):
            for key, member in item.items():
                if isinstance(key, str) and has_unstorable(key):
                    return f"{where} (a key)"
                stack.append((f"{where}.{key}", member))
        elif isinstance(item, list):
            stack.extend((f"{where}[{index}]", member) for index, member in enumerate(item))
    return None

"""IdGenerator port: new identifiers are made outside the domain and passed in."""

from __future__ import annotations

from typing import Protocol


class IdGenerator(Protocol):
    def new_id(self, prefix: str) -> str:
        """A new, unique, opaque id starting with ``prefix`` (e.g. ``"dsp"`` -> ``"dsp_01H..."``)."""
        ...

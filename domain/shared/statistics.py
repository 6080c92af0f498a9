"""Exact percentiles, for reports and summaries that must be reproducible to the unit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

_N = TypeVar("_N", int, float)


def nearest_rank(sorted_values: Sequence[_N], percentile: int) -> _N | None:
    """The exact nearest-rank percentile of already sorted values (``None`` when empty):
    the sample at rank ``ceil(percentile / 100 * n)``, computed in integers, never interpolated."""
    if not sorted_values:
        return None
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    rank = -(-percentile * len(sorted_values) // 100)  # ceil, in integers
    return sorted_values[rank - 1]

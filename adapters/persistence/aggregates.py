"""What the aggregate repositories share: an identity map with the version each aggregate was
read at, and dialect-aware ``INSERT ... ON CONFLICT DO NOTHING``.

Identity map
    Within one unit of work an aggregate is one object: loading it again returns the
    instance already loaded (or added), so two copies of one order can never be changed
    apart. The map remembers the version each aggregate had when it was loaded or added,
    and after each successful save the version saved: that is the ``version = :expected``
    of the next optimistic ``UPDATE``. The aggregates it holds, in the order first seen,
    are where the unit of work collects domain events from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Insert, Table, TextClause
from sqlalchemy.dialects import postgresql, sqlite

from domain.shared import CountryCode

A = TypeVar("A")
Key = tuple[str, str]


def key_of(country: CountryCode, aggregate_id: str) -> Key:
    return (country.value, aggregate_id)


class IdentityMap(Generic[A]):
    """Aggregates loaded or added in one unit of work, with the version last read or written."""

    def __init__(self) -> None:
        self._aggregates: dict[Key, A] = {}
        self._versions: dict[Key, int] = {}

    def get(self, key: Key) -> A | None:
        return self._aggregates.get(key)

    def remember(self, key: Key, aggregate: A, version: int) -> A:
        """Track ``aggregate`` as stored at ``version``; if the key is already tracked, the
        tracked instance wins and is returned (the row just read is not used)."""
        tracked = self._aggregates.get(key)
        if tracked is not None:
            return tracked
        self._aggregates[key] = aggregate
        self._versions[key] = version
        return aggregate

    def expected_version(self, key: Key, aggregate: A) -> int | None:
        """The stored version ``aggregate`` was read at, or None if it is not this map's instance."""
        if self._aggregates.get(key) is not aggregate:
            return None
        return self._versions[key]

    def saved(self, key: Key, version: int) -> None:
        self._versions[key] = version

    @property
    def seen(self) -> tuple[A, ...]:
        return tuple(self._aggregates.values())


def insert_ignoring_conflict(
    dialect: str,
    table: Table,
    values: Mapping[str, Any],
    *,
    index_elements: Sequence[str],
    index_where: ColumnElement[bool] | TextClause | None = None,
) -> Insert:
    """``INSERT ... ON CONFLICT (index_elements) [WHERE index_where] DO NOTHING RETURNING 1``.

    Only a conflict on that unique index (or primary key) is ignored; any other violation
    still raises. A row comes back exactly when the insert happened.
    """
    if dialect == "postgresql":
        return (
            postgresql.insert(table)
            .values(dict(values))
            .on_conflict_do_nothing(index_elements=list(index_elements), index_where=index_where)
            .returning(table.c[index_elements[0]])
        )
    if dialect == "sqlite":
        return (
            sqlite.insert(table)
            .values(dict(values))
            .on_conflict_do_nothing(index_elements=list(index_elements), index_where=index_where)
            .returning(table.c[index_elements[0]])
        )
    raise NotImplementedError(f"no ON CONFLICT support for {dialect}")

"""Capture the SQL a request sends and replay it with ``pgbench -f`` (the resolve baseline).

:class:`StatementRecorder` hooks an engine (SQLAlchemy's ``before_cursor_execute``, plus
``begin``/``commit``/``rollback``) and keeps every statement with its parameters, and where
each transaction starts and ends. :func:`pgbench_script` turns one recorded request into a
pgbench script:

- every ``$n`` placeholder becomes the SQL literal of its parameter (pgbench's simple
  protocol sends text, as psql would);
- the ids of the sample request (``substitutions``: e.g. ``dsp_sample`` -> ``dsp_p:n``) are
  replaced inside every literal, so each pgbench transaction works on its own dispute;
  ``:n`` comes from ``SELECT nextval(...) AS n \\gset`` at the top of the script;
- the audit chain is kept valid: the tail read (``audit_log_locked_tail()``, which also
  takes the chain's lock, D68; or ``audit_log_tail()``) gets ``\\gset tail_``,
  and the appended entry's ``sequence``/``previous_hash``/``entry_hash`` are computed from
  it (the hash by ``sha256()`` in SQL, where the service hashes in Python);
- the transaction boundaries become ``BEGIN;``/``COMMIT;``.

pgbench substitutes ``:name`` only for variables that are set, so the colons of timestamps
and JSON pass through untouched; :func:`pgbench_script` refuses a sample whose literals
already contain one of its own variable names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

BEGIN: Final = "BEGIN"
COMMIT: Final = "COMMIT"
ROLLBACK: Final = "ROLLBACK"
SEQUENCE_VARIABLE: Final = "n"
_PLACEHOLDER: Final = re.compile(r"\$(\d+)")
_AUDIT_INSERT: Final = re.compile(
    r"INSERT INTO audit_log \((?P<columns>[^)]*)\) VALUES \((?P<values>[^)]*)\)"
)
_OWN_VARIABLES: Final = re.compile(r":(n|tail_\w+)(?![A-Za-z0-9_])")
_TAIL_READ: Final = re.compile(r"\baudit_log_(?:locked_)?tail\(\)")  # the chain's tail read (and lock)


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    params: tuple[Any, ...] = ()


Step = Statement | str  # a statement, or BEGIN / COMMIT / ROLLBACK


@dataclass
class StatementRecorder:
    """Records what an engine sends while ``recording()`` is active."""

    steps: list[Step] = field(default_factory=list)
    active: bool = False

    def attach(self, engine: AsyncEngine) -> None:
        sync = engine.sync_engine
        event.listen(sync, "begin", self._begin, insert=True)
        event.listen(sync, "commit", self._commit)
        event.listen(sync, "rollback", self._rollback)
        event.listen(sync, "before_cursor_execute", self._execute)

    @contextmanager
    def recording(self) -> Iterator[list[Step]]:
        self.steps.clear()
        self.active = True
        try:
            yield self.steps
        finally:
            self.active = False

    def _begin(self, connection: Connection) -> None:
        if not self.active:
            return
        # The country scope's ``begin`` listener may run first and send its set_config
        # before this marker: it belongs inside the transaction.
        last = self.steps[-1] if self.steps else None
        if isinstance(last, Statement) and "set_config(" in last.sql:
            self.steps.insert(len(self.steps) - 1, BEGIN)
        else:
            self.steps.append(BEGIN)

    def _commit(self, connection: Connection) -> None:
        if self.active:
            self.steps.append(COMMIT)

    def _rollback(self, connection: Connection) -> None:
        if self.active:
            self.steps.append(ROLLBACK)

    def _execute(self, conn: Connection, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        if self.active:
            params = tuple(parameters) if isinstance(parameters, list | tuple) else ()
            self.steps.append(Statement(statement, params))


def sql_literal(value: Any) -> str:
    """``value`` as a PostgreSQL literal (standard_conforming_strings, the default)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return _quote(value.isoformat())
    if isinstance(value, bytes):
        return f"'\\x{value.hex()}'::bytea"
    if isinstance(value, dict | list):
        return _quote(json.dumps(value, separators=(",", ":")))
    if isinstance(value, str | UUID):
        return _quote(str(value))
    raise TypeError(f"no SQL literal for {type(value).__name__}")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def inline(sql: str, params: Sequence[Any], overrides: Mapping[int, str] | None = None) -> str:
    """``sql`` with each ``$n`` replaced by the literal of ``params[n-1]`` (or ``overrides[n]``)."""
    chosen = overrides or {}

    def replace(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if index in chosen:
            return chosen[index]
        return sql_literal(params[index - 1])

    return _PLACEHOLDER.sub(replace, sql)


def _audit_overrides(sql: str) -> dict[int, str]:
    """For an INSERT INTO audit_log: the chain columns, computed from the ``\\gset`` tail."""
    match = _AUDIT_INSERT.search(sql)
    if match is None:
        return {}
    columns = [c.strip() for c in match.group("columns").split(",")]
    values = [v.strip() for v in match.group("values").split(",")]
    chain = {
        "sequence": ":tail_sequence + 1",
        "previous_hash": "':tail_entry_hash'",
        "entry_hash": (
            f"encode(sha256(convert_to(':tail_entry_hash' || ':{SEQUENCE_VARIABLE}', 'UTF8')), 'hex')"
        ),
    }
    overrides: dict[int, str] = {}
    for column, value in zip(columns, values, strict=True):
        placeholder = _PLACEHOLDER.fullmatch(value.split("::")[0])
        if column in chain and placeholder is not None:
            overrides[int(placeholder.group(1))] = chain[column]
    missing = set(chain) - {c for c in columns if c in chain}
    if missing:
        raise ValueError(f"audit insert without {sorted(missing)}")
    return overrides


def pgbench_script(steps: Sequence[Step], *, sequence: str, substitutions: Mapping[str, str]) -> str:
    """A pgbench script replaying ``steps`` once per transaction, on a fresh ``:n``."""
    lines = [f"SELECT nextval('{sequence}') AS {SEQUENCE_VARIABLE} \\gset"]
    for step in steps:
        if isinstance(step, str):
            lines.append(f"{step};")
            continue
        sql = " ".join(step.sql.split())
        rendered = inline(sql, step.params, _audit_overrides(sql))
        clash = _OWN_VARIABLES.search(inline(sql, step.params))
        if clash is not None:
            raise ValueError(f"a captured literal already contains the pgbench variable {clash.group(0)!r}")
        for sample, template in substitutions.items():
            rendered = rendered.replace(sample, template)
        if _TAIL_READ.search(sql):
            lines.append(f"{rendered} \\gset tail_")
        else:
            lines.append(f"{rendered};")
    return "\n".join(lines) + "\n"


def transactions(steps: Sequence[Step]) -> int:
    """How many transactions ``steps`` commit."""
    return sum(1 for step in steps if step == COMMIT)


def statement_count(steps: Sequence[Step]) -> int:
    return sum(1 for step in steps if isinstance(step, Statement))

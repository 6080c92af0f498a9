"""The scheduler's ledger task: periodic balance checkpoints (SPEC §4, D13, D69).

A balance is the account's newest balance snapshot plus the SUM of its postings after it,
so reading a balance costs what was posted since the last checkpoint. This task keeps that
bounded: each tick it asks ``uow.ledger.checkpoints_due`` for the accounts posted to
recently that have at least ``every`` postings after their newest snapshot (at most
``batch`` of them), and checkpoints each **in a unit of work of its own**, committed at once
(a checkpoint holds the account's exclusive advisory lock, which holds back posting to that
one account until it commits; D13).

"Recently" is the postings after a cursor: on a process's first tick, the newest ``window``
postings; afterwards, the postings since the newest one the previous complete tick saw
(less ``recheck``, for postings whose ids were handed out before it but committed after);
a tick that finds nothing posted since then reads nothing more.
An account that gained no posting since a tick looked at it cannot have become due; it is
looked at again on its next posting. So a tick reads what was posted since the last one,
whatever the size of the ledger. A tick that found a full batch does not move the cursor
(the next one goes on from the same place).

Nothing is lost on a crash: a checkpoint is one transaction (the snapshot row or nothing),
and a balance is exact with or without it. Two schedulers racing on one account write one
snapshot: the second waits for the first's lock, then finds nothing new after it (and the
snapshot's key, ``(country, account, currency, as_of_posting_id)``, is unique anyway).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from application.context import Services
from application.security.scope import system_scope

DEFAULT_EVERY: Final = 1_000
"""Postings after an account's newest snapshot that make it due: a balance read sums fewer."""
DEFAULT_WINDOW: Final = 50_000
"""The newest postings whose accounts a tick considers."""
DEFAULT_BATCH: Final = 100
"""Accounts checkpointed per tick at most."""
RECHECK: Final = 1_000
"""Postings before the cursor a later tick looks at again (ids are handed out in order but
committed in any order)."""


@dataclass(frozen=True, slots=True)
class LedgerCheckpoints:
    """The tick task: ``await task(svc, now)`` checkpoints every due account (at most
    ``batch``) and returns how many it checkpointed."""

    every: int = DEFAULT_EVERY
    window: int = DEFAULT_WINDOW
    batch: int = DEFAULT_BATCH
    recheck: int = RECHECK
    # the newest posting id the last complete tick of this process saw (0: none yet)
    _cursor: list[int] = field(default_factory=lambda: [0], init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name, least in (("every", 1), ("window", 1), ("batch", 1), ("recheck", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"LedgerCheckpoints.{name} must be an integer >= {least}, not {value!r}")

    @system_scope
    async def __call__(self, svc: Services, now: datetime) -> int:
        async with svc.uow() as uow:
            newest, cursor = await uow.ledger.newest_posting_id(), self._cursor[0]
            if cursor and newest == cursor:
                return 0  # nothing posted since the last complete tick (a late commit waits for the next)
            after = max(newest - self.window, cursor - self.recheck) if cursor else newest - self.window
            due = await uow.ledger.checkpoints_due(every=self.every, after=after, limit=self.batch)
        for key in due:
            async with svc.uow() as uow:
                await uow.ledger.checkpoint(key.country, key.account, key.currency)
                await uow.commit()
        if len(due) < self.batch:
            self._cursor[0] = newest
        return len(due)

"""How a dispute's execution is named in the ledger and the outbox.

A dispute's execution plan is built with the reference ``dispute:<id>``; every step's
idempotency key, and so every ledger transaction it posts, starts with ``dispute:<id>/``
(``domain.disputes.outcomes.step_key``). Reading back what a dispute moved is a prefix
query on that key.
"""

from __future__ import annotations

from typing import Final

from domain.ledger.transactions import TransactionKind

REFUND_KINDS: Final = frozenset(
    {
        TransactionKind.REFUND,
        TransactionKind.PARTIAL_REFUND,
        TransactionKind.CLAWBACK,
        TransactionKind.REFUND_REISSUED,
    }
)
"""The transactions that send money back to the buyer's card (a ``REFUND_RETURNED`` takes
some of it back, D136)."""


def dispute_reference(dispute_id: str) -> str:
    """The reference a dispute's execution plan is built with."""
    return f"dispute:{dispute_id}"


def ledger_prefix(dispute_id: str) -> str:
    """Every ledger key of a dispute's execution starts with this (``dispute:<id>/``)."""
    return f"{dispute_reference(dispute_id)}/"

"""Which dead job a replay may call with a fresh provider key (D83, D99, D117): only one whose
key is known to have moved nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from application.integrations.dead_letters import needs_fresh_provider_key
from application.ports.outbox import Job, JobError, JobStatus
from domain.shared import CountryCode

AT = datetime(2026, 3, 1, tzinfo=UTC)
DEAD = Job(
    id=1,
    country=CountryCode("MX"),
    idempotency_key="dispute:d1/FULL_REFUND/provider_refund",
    kind="dispute.step",
    provider="payments",
    reference="dispute:d1",
    payload={},
    status=JobStatus.DEAD,
    attempts=1,
    max_attempts=8,
    available_at=AT,
    created_at=AT,
)


def dead_after(*kinds: str) -> Job:
    return replace(DEAD, errors=tuple(JobError(AT, n, kind, "") for n, kind in enumerate(kinds, start=1)))


@pytest.mark.parametrize(
    ("history", "fresh"),
    [
        (("PROVIDER_PERMANENT",), True),  # refused at once: the key moved nothing
        (("PROVIDER_DECLINED",), True),  # the provider's own decline of the key
        (("TRANSIENT", "PROVIDER_PERMANENT"), False),  # a lost call before: it may have refunded
        (("PROVIDER_ACCEPTED", "PROVIDER_PERMANENT"), False),  # D99
        (("LEASE_EXPIRED",), False),  # D117: runs died mid-call, the outcome is unknown
        (("LEASE_EXPIRED", "PROVIDER_PERMANENT"), False),  # a refusal after such a run proves nothing
        (("TRANSIENT",) * 8, False),
    ],
)
def test_a_fresh_key_only_when_the_key_moved_nothing(history: tuple[str, ...], fresh: bool) -> None:
    assert needs_fresh_provider_key(dead_after(*history)) is fresh

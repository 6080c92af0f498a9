"""Case changes on the change feed (application/ports/events.py): the console's live queue.

Every committed case change is announced, after the commit, on its country's queue topic
``case:<country>:queue`` (:func:`queue_topic`) as a :class:`~application.ports.events.Change`
of kind ``case.<timeline kind>`` (``case.ACKNOWLEDGED``, ``case.SLA_BREACHED``...) carrying
identifiers only: the case id and its version. A subscriber (the ``caseChanged`` GraphQL
subscription) re-reads the case through the ordinary read path and permission checks. One
topic per country, not per case: the console watches a country's whole queue (D45).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from application.ports.events import Change, ChangeFeed, topic
from domain.cases.case import CaseChanged
from domain.shared import CountryCode, DomainEvent

TOPIC_KIND: Final = "case"
QUEUE: Final = "queue"
CHANGE_PREFIX: Final = "case."


def queue_topic(country: CountryCode) -> str:
    """The topic of every case change in ``country``, e.g. ``case:MX:queue``."""
    return topic(TOPIC_KIND, country, QUEUE)


def case_change(event: CaseChanged) -> Change:
    return Change(
        queue_topic(event.country),
        f"{CHANGE_PREFIX}{event.change.value}",
        {"case_id": event.case_id, "version": event.version},
    )


async def announce_case_changes(feed: ChangeFeed, events: Iterable[DomainEvent]) -> None:
    """After commit: one wake-up per :class:`CaseChanged` (other events are not the queue's).
    Consecutive changes of one case are coalesced to the last (a subscriber re-reads it)."""
    last: dict[tuple[str, str], CaseChanged] = {}
    for event in events:
        if isinstance(event, CaseChanged):
            key = (event.country.value, event.case_id)
            last.pop(key, None)
            last[key] = event
    for event in last.values():
        await feed.publish(case_change(event))

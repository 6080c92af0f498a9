"""An order's track as the delivery tracking feed recorded it (D90).

L0 (``application/cases/l0.py``) and a dispute's decision (``application/disputes/facts.py``)
read it in their own transaction, before asking the tracking port; the feed itself
(``application/integrations/tracking_feed.py``) records the reports.
"""

from __future__ import annotations

from typing import Final

from application.ports.unit_of_work import UnitOfWork
from domain.cases.l0 import DeliveryTrack
from domain.cases.tracking import fold_track
from domain.shared import CountryCode

READ_LIMIT: Final = 1_000
"""The newest reports a track is folded from (each positions report holds up to 500 points)."""


async def recorded_track(uow: UnitOfWork, country: CountryCode, order_id: str) -> DeliveryTrack | None:
    """The order's track from the reports the feed recorded, read in ``uow``'s transaction
    (``None`` when none was recorded). L0 and the dispute's decision read it first and ask
    the tracking port (``Services.tracking``) only when nothing was recorded."""
    return fold_track(await uow.tracking.for_order(country, order_id, limit=READ_LIMIT))

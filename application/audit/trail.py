"""Writing audit entries from use cases (same transaction as the change they record).

``record`` stages the entry: the unit of work appends it to the chain in ``commit()``, just
before the COMMIT, so the chain's lock is held as briefly as possible (D50).
"""

from __future__ import annotations

from datetime import datetime

from application.context import RequestContext
from application.ports.unit_of_work import UnitOfWork
from domain.audit import AuditDraft, JsonObject
from domain.shared import CountryCode
from domain.shared.ids import ActorId


async def record(
    uow: UnitOfWork,
    ctx: RequestContext,
    *,
    country: CountryCode,
    action: str,
    target_type: str,
    target_id: str,
    at: datetime,
    before: JsonObject | None = None,
    after: JsonObject | None = None,
) -> None:
    uow.audit.stage(
        AuditDraft(
            actor_id=ActorId(ctx.principal.actor_id),
            actor_role=ctx.principal.role.value,
            country=country,
            action=action,
            target_type=target_type,
            target_id=target_id,
            request_id=ctx.request_id,
            occurred_at=at,
            before=before,
            after=after,
        )
    )

"""Use case: write a refused access to the audit log (SPEC §2: "Denials are audited").

Every ``FORBIDDEN`` answer is recorded, whatever the entry point, with who asked, as which
role, for which operation, in which country, and what they were after. An object that is
hidden from the actor (a partner asking for another seller's order) is answered as
``NOT_FOUND`` but recorded here too, as a denial (:func:`audit_hidden`), whether the
request was a read or a mutation (D17, D135).

The entry is written in a unit of work of its own: the request that was refused changes
nothing else, so there is no other transaction to join.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from application.audit.trail import record
from application.context import RequestContext, Services
from application.security.principal import Forbidden, Operation
from domain.shared import CountryCode

DENIAL_ACTION: Final = "access.denied"
HIDDEN: Final = "not a party of this order"
MAX_TARGET_ID_CHARS: Final = 200


@dataclass(frozen=True, slots=True)
class DenialTarget:
    """What the refused request was after: ``("order", "ord_1")``, ``("query", "orders")``..."""

    target_type: str
    target_id: str


async def record_denial(
    svc: Services, ctx: RequestContext, forbidden: Forbidden, target: DenialTarget
) -> None:
    """Append an ``access.denied`` entry for ``forbidden``, in the refused country."""
    country = CountryCode.parse(forbidden.country).value_or(None)
    if country is None:  # pragma: no cover - a Forbidden always names a parsed country
        return
    target_id = target.target_id[:MAX_TARGET_ID_CHARS] or "-"
    async with svc.uow() as uow:
        await record(
            uow,
            ctx,
            country=country,
            action=DENIAL_ACTION,
            target_type=target.target_type[:64] or "-",
            target_id=target_id,
            at=svc.clock.now(),
            after={
                "code": forbidden.code,
                "operation": forbidden.operation,
                "why": forbidden.why,
                "actor_countries": sorted(c.value for c in ctx.principal.countries),
            },
        )
        await uow.commit()


async def audit_hidden(
    svc: Services, ctx: RequestContext, operation: Operation, country: CountryCode, target: DenialTarget
) -> None:
    """A party reaching for another party's order (or its dispute) is answered ``NOT_FOUND``
    and recorded here as a denial. Call it after the refused request's own unit of work has
    closed: this one commits on its own (on SQLite, a second writer would wait for the first)."""
    await record_denial(svc, ctx, Forbidden(operation.value, country.value, HIDDEN), target)

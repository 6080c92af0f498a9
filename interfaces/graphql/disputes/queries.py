"""Root queries on disputes: ``dispute``, ``disputes``, ``disputeState`` and ``evidencePack``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, TypeAlias

import strawberry
from returns.result import Failure

from application.audit.denials import DenialTarget
from application.ports.read_models import DisputeFilter, Page
from application.security.principal import Operation
from domain.disputes import Dispute as DomainDispute
from domain.disputes.codes import DisputeReason
from domain.disputes.status import DisputeStatus
from interfaces.graphql.common import (
    DEFAULT_PAGE_SIZE,
    Connection,
    check_aware,
    check_id,
    connection,
    first_problem,
    load_one,
    page_request,
)
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.disputes.types import (
    Dispute,
    DisputeState,
    EvidencePackType,
    preload_relations,
    refunded_so_far,
)
from interfaces.graphql.errors import (
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    UnauthenticatedError,
    invalid_input,
    not_found,
)
from interfaces.graphql.orders.queries import AfterArgument, CountryArgument, FirstArgument
from interfaces.graphql.scope import Scope, guard

DisputeResult: TypeAlias = Annotated[
    Dispute | UnauthenticatedError | ForbiddenError | NotFoundError | InvalidInputError,
    strawberry.union("DisputeResult"),
]
DisputesResult: TypeAlias = Annotated[
    Connection[Dispute] | UnauthenticatedError | ForbiddenError | InvalidInputError,
    strawberry.union("DisputesResult"),
]
DisputeStateResult: TypeAlias = Annotated[
    DisputeState | UnauthenticatedError | ForbiddenError | NotFoundError | InvalidInputError,
    strawberry.union("DisputeStateResult"),
]
EvidencePackResult: TypeAlias = Annotated[
    EvidencePackType | UnauthenticatedError | ForbiddenError | NotFoundError | InvalidInputError,
    strawberry.union("EvidencePackResult"),
]


@strawberry.input(name="DisputeFilter", description="All given conditions apply (AND).")
class DisputeFilterInput:
    statuses: list[DisputeStatus] | None = None
    reasons: list[DisputeReason] | None = None
    opened_before: datetime | None = strawberry.field(
        default=None, description="Age: opened strictly before this instant."
    )
    opened_from: datetime | None = strawberry.field(default=None, description="Opened at or after.")
    evidence_deadline_before: datetime | None = strawberry.field(
        default=None, description="Evidence deadline strictly before this instant."
    )


async def visible_dispute(
    scope: Scope, dispute_id: str, field: str = "id"
) -> DomainDispute | NotFoundError | InvalidInputError:
    """The dispute if it exists in the scope's country and the caller may see its order."""
    problem = check_id(field, dispute_id)
    if problem is not None:
        return invalid_input(problem)
    # one root field's one dispute: loaded at once, kept in the loader for nested fields (D151)
    dispute = await load_one(scope.loaders.disputes, (scope.country, dispute_id))
    if dispute is None:
        return not_found("dispute", dispute_id)
    if not scope.party.unrestricted:
        order = await load_one(scope.loaders.orders, (scope.country, dispute.order_id))
        if order is None or not scope.sees(order):
            return await scope.hidden("dispute", dispute_id)
    return dispute


async def resolve_dispute(info: GraphQLInfo, *, country_code: CountryArgument, id: str) -> DisputeResult:
    scope = await guard(info, country_code, Operation.DISPUTE_READ, DenialTarget("dispute", id))
    if not isinstance(scope, Scope):
        return scope
    found = await visible_dispute(scope, id)
    return Dispute.from_domain(found) if isinstance(found, DomainDispute) else found


async def resolve_disputes(
    info: GraphQLInfo,
    *,
    country_code: CountryArgument,
    first: FirstArgument = DEFAULT_PAGE_SIZE,
    after: AfterArgument = None,
    filter: DisputeFilterInput | None = None,
) -> DisputesResult:
    scope = await guard(info, country_code, Operation.DISPUTE_READ, DenialTarget("query", "disputes"))
    if not isinstance(scope, Scope):
        return scope
    where = filter or DisputeFilterInput()
    problem = first_problem(
        check_aware("openedBefore", where.opened_before),
        check_aware("openedFrom", where.opened_from),
        check_aware("evidenceDeadlineBefore", where.evidence_deadline_before),
    )
    if problem is not None:
        return invalid_input(problem)
    page = page_request(first, after)
    if isinstance(page, Failure):
        return invalid_input(page.failure())
    party = scope.party
    if party.nothing:
        return connection(Page([], None, False), Dispute.from_domain)
    listed = await scope.reads.disputes.list_disputes(
        scope.country,
        DisputeFilter(
            statuses=frozenset(where.statuses or ()),
            reasons=frozenset(where.reasons or ()),
            opened_before=where.opened_before,
            opened_from=where.opened_from,
            evidence_deadline_before=where.evidence_deadline_before,
            seller_id=party.seller_id,
            buyer_id=party.buyer_id,
            courier_id=party.courier_id,
            payment_partner_id=party.payment_partner_id,
        ),
        page.unwrap(),
    )
    if isinstance(listed, Failure):
        return invalid_input(listed.failure())
    found = listed.unwrap()
    for dispute in found.items:
        scope.loaders.disputes.prime((scope.country, dispute.id), dispute)
    await preload_relations(info, found.items)
    return connection(found, Dispute.from_domain)


async def resolve_dispute_state(
    info: GraphQLInfo, *, country_code: CountryArgument, id: str
) -> DisputeStateResult:
    scope = await guard(info, country_code, Operation.DISPUTE_READ, DenialTarget("dispute", id))
    if not isinstance(scope, Scope):
        return scope
    found = await visible_dispute(scope, id)
    if not isinstance(found, DomainDispute):
        return found
    return DisputeState.from_domain(found, await refunded_so_far(info, found))


async def resolve_evidence_pack(
    info: GraphQLInfo, *, country_code: CountryArgument, dispute_id: str
) -> EvidencePackResult:
    scope = await guard(info, country_code, Operation.EVIDENCE_READ, DenialTarget("dispute", dispute_id))
    if not isinstance(scope, Scope):
        return scope
    found = await visible_dispute(scope, dispute_id, "disputeId")
    return EvidencePackType.from_domain(found) if isinstance(found, DomainDispute) else found


@strawberry.type
class DisputeQueries:
    dispute: DisputeResult = strawberry.field(
        resolver=resolve_dispute, description="One dispute of the country."
    )
    disputes: DisputesResult = strawberry.field(
        resolver=resolve_disputes, description="The country's disputes the caller may see, newest first."
    )
    dispute_state: DisputeStateResult = strawberry.field(
        resolver=resolve_dispute_state,
        description="What partner tools poll: status, outcome, deadlines and the amount refunded so far.",
    )
    evidence_pack: EvidencePackResult = strawberry.field(
        resolver=resolve_evidence_pack,
        description="The trident with its content hash; frozen once decided or withdrawn.",
    )

"""Customer diagnostics tickets as cases (SPEC §10's SLA; D56).

Support opens a ticket on behalf of a customer (``diagnostics_ticket.open``: L1-L3; not L0,
which opens nothing, nor the parties, who see no case): the customer's id, the channel the
trouble was seen on (the bundle names' channel: ``ui``, ``android``, ``pos_terminal``...), a
summary, the severity (``SEV1``..``SEV3``: there is no Sev-0 ticket, ``SEVERITY_NOT_COVERED``)
and, optionally, the order it is about (which must exist in the country and be the
customer's: bought, sold or delivered by them).

The ticket is a ``DIAGNOSTICS`` case at tier L1 under the country's current diagnostics
SLA policy (``default_sla_policy(country, DIAGNOSTICS)`` unless another version was
published): its ``subject_ref`` is the customer's id, its title the summary, and a second
timeline entry (``ACTION`` ``diagnostics_ticket_opened``) keeps the customer and the
channel. One transaction writes the case and the audit entry ``case.opened``; the change is
announced on the country's live queue after the commit.

:func:`open_diagnostics_ticket_with_bundle` also attaches the first bundle in the same
request: the upload's cheap refusals (size, file name, empty) come before anything is
written; the ticket is then opened and the bundle attached through ``attach_bundle``
(application/cases/bundles.py). A refusal found only by the inspection (another country's
bundle) or a storage failure leaves the ticket open and is answered next to it: the ticket
is real, and the bundle can be attached again with ``caseAttachBundle``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from returns.result import Failure, Result, Success

from application.audit.trail import record
from application.cases.bundles import (
    AttachBundle,
    Attached,
    AttachFailure,
    BundleServices,
    BundleUploadTooLarge,
    attach_bundle,
    upload_problem,
)
from application.cases.use_cases import actor_of, case_summary, publish_changes
from application.context import RequestContext, Services
from application.errors import NotFound
from application.security.principal import Forbidden, Operation, authorize
from domain.cases.case import MAX_REF_CHARS, MAX_TITLE_CHARS, Case
from domain.cases.errors import CaseError
from domain.cases.kinds import CaseKind, Severity, Tier
from domain.cases.sla import SeverityNotCovered
from domain.shared import CountryCode, DomainEvent, InvalidInput
from domain.shared.ids import OrderId

TICKET_ACTION: Final = "diagnostics_ticket_opened"
CHANNEL: Final = re.compile(r"[a-z0-9][a-z0-9_]{0,31}")
"""A channel as bundle names spell it (``trace-<timestamp>-<channel>.zip``)."""


@dataclass(frozen=True, slots=True)
class OpenDiagnosticsTicket:
    country: CountryCode
    customer_id: str
    channel: str
    summary: str
    severity: Severity
    order_id: OrderId | None = None


@dataclass(frozen=True, slots=True)
class TicketBundle:
    filename: str
    content: bytes


@dataclass(frozen=True, slots=True)
class OpenedTicket:
    case: Case
    attached: Attached | None = None  # the first bundle, when one was sent and attached
    bundle_refusal: AttachFailure | None = None  # sent, but refused after the ticket opened


OpenTicketFailure = Forbidden | NotFound | InvalidInput | SeverityNotCovered | CaseError
OpenTicketWithBundleFailure = OpenTicketFailure | BundleUploadTooLarge


def _input_problem(cmd: OpenDiagnosticsTicket) -> InvalidInput | None:
    customer = cmd.customer_id.strip()
    if not customer or len(customer) > MAX_REF_CHARS or not customer.isprintable():
        return InvalidInput("customer_id", f"must be 1 to {MAX_REF_CHARS} printable characters")
    if not CHANNEL.fullmatch(cmd.channel):
        return InvalidInput(
            "channel", "must be 1-32 lowercase letters, digits or '_', as in the bundle's name"
        )
    summary = cmd.summary.strip()
    if not summary or len(summary) > MAX_TITLE_CHARS:
        return InvalidInput("summary", f"must be 1 to {MAX_TITLE_CHARS} characters")
    return None


async def open_diagnostics_ticket(
    svc: Services, ctx: RequestContext, cmd: OpenDiagnosticsTicket
) -> Result[Case, OpenTicketFailure]:
    allowed = authorize(ctx.principal, Operation.DIAGNOSTICS_TICKET_OPEN, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    problem = _input_problem(cmd)
    if problem is not None:
        return Failure(problem)
    customer = cmd.customer_id.strip()
    now = svc.clock.now()
    actor = actor_of(ctx.principal)
    async with svc.uow() as uow:
        policy = await uow.sla_policies.current(cmd.country, CaseKind.DIAGNOSTICS)
        covered = policy.targets_for(cmd.severity)
        if isinstance(covered, Failure):
            return covered
        if cmd.order_id is not None:
            order = await uow.orders.get(cmd.country, cmd.order_id)
            if order is None:
                return Failure(NotFound("order", cmd.order_id))
            if customer not in (order.buyer_id, order.seller_id, order.courier_id):
                return Failure(
                    InvalidInput("order_id", "the order was not bought, sold or delivered by this customer")
                )
        opened = Case.open(
            case_id=svc.ids.new_id("case"),
            country=cmd.country,
            kind=CaseKind.DIAGNOSTICS,
            severity=cmd.severity,
            title=cmd.summary,
            opened_by=actor,
            at=now,
            policy=policy,
            calendar=svc.calendars.calendar_for(cmd.country),
            tier=Tier.L1,
            order_id=cmd.order_id,
            subject_ref=customer,
        )
        if isinstance(opened, Failure):
            return opened
        case = opened.unwrap()
        noted = case.record_action(
            now,
            actor,
            TICKET_ACTION,
            f"Diagnostics ticket for customer {customer} ({cmd.channel})",
            {"customer_id": customer, "channel": cmd.channel},
        )
        if isinstance(noted, Failure):
            return noted
        await uow.cases.add(case)
        await record(
            uow,
            ctx,
            country=cmd.country,
            action="case.opened",
            target_type="case",
            target_id=case.case_id,
            at=now,
            after={**case_summary(case), "customer_id": customer, "channel": cmd.channel},
        )
        events: list[DomainEvent] = list(case.pull_events())
        await uow.commit()
    await publish_changes(svc, events)
    return Success(case)


async def open_diagnostics_ticket_with_bundle(
    bundles: BundleServices, ctx: RequestContext, cmd: OpenDiagnosticsTicket, bundle: TicketBundle | None
) -> Result[OpenedTicket, OpenTicketWithBundleFailure]:
    """Open the ticket and attach its first bundle (see the module's docstring)."""
    if bundle is not None:
        allowed = authorize(ctx.principal, Operation.CASE_ATTACH_BUNDLE, cmd.country)
        if isinstance(allowed, Failure):
            return allowed
        problem = upload_problem(bundles.max_bytes, bundle.filename, bundle.content)
        if problem is not None:
            return Failure(problem)
    opened = await open_diagnostics_ticket(bundles.base, ctx, cmd)
    if isinstance(opened, Failure):
        return opened
    case = opened.unwrap()
    if bundle is None:
        return Success(OpenedTicket(case))
    attached = await attach_bundle(
        bundles, ctx, AttachBundle(cmd.country, case.case_id, bundle.filename, bundle.content)
    )
    if isinstance(attached, Failure):
        return Success(OpenedTicket(case, bundle_refusal=attached.failure()))
    return Success(OpenedTicket(attached.unwrap().case, attached=attached.unwrap()))

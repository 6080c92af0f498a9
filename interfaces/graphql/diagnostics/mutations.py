"""``caseAttachBundle``: upload a diagnostics bundle onto a case (GraphQL multipart request
spec; D48, D49).

The file is read here up to the limit plus one byte (an upload past it is refused with
``BUNDLE_UPLOAD_TOO_LARGE`` and nothing is kept; the HTTP layer already refused bodies
whose declared length is past it), then handed to the use case
(application/cases/bundles.py), which authorizes again, inspects off the event loop, stores
the bytes through the storage port and records the result on the case.
"""

from __future__ import annotations

from typing import Annotated, TypeAlias

import strawberry
from returns.result import Failure
from strawberry.file_uploads import Upload

from application.audit.denials import DenialTarget
from application.cases.bundles import AttachBundle, attach_bundle
from application.cases.tickets import (
    OpenDiagnosticsTicket,
    TicketBundle,
    open_diagnostics_ticket_with_bundle,
)
from application.security.principal import Operation
from domain.cases.case import MAX_TITLE_CHARS
from domain.cases.kinds import Severity
from domain.shared.ids import OrderId
from interfaces.graphql.cases.types import Case, case_of
from interfaces.graphql.common import check_id, check_text, first_problem
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.diagnostics.types import CaseBundle
from interfaces.graphql.errors import AnyError, Error, invalid_field, invalid_input, to_error
from interfaces.graphql.scope import Scope, guard


@strawberry.input(
    description="A diagnostics bundle (trace-<timestamp>-<channel>.zip) for a case, sent as a "
    "multipart request (the `file` variable mapped to the upload)."
)
class CaseAttachBundleInput:
    country_code: str
    case_id: str
    file: Upload


@strawberry.type(description="The bundle on the case, with its inspection result.")
class CaseAttachBundleSuccess:
    bundle: CaseBundle
    created: bool = strawberry.field(description="False: these bytes were already on the case.")


CaseAttachBundleResult: TypeAlias = Annotated[
    CaseAttachBundleSuccess | AnyError, strawberry.union("CaseAttachBundleResult")
]


async def _read_capped(upload: object, limit: int) -> tuple[bytes, str] | None:
    """The upload's bytes (at most ``limit + 1``) and its file name; ``None`` if not a file."""
    read = getattr(upload, "read", None)
    if read is None:
        return None
    content = await read(limit + 1)
    name = getattr(upload, "filename", None)
    return (content if isinstance(content, bytes) else bytes(content)), str(name or "")


read_capped = _read_capped  # disputeEvidenceUpload reads its file the same way (D84)


async def case_attach_bundle(info: GraphQLInfo, input: CaseAttachBundleInput) -> CaseAttachBundleResult:
    target = DenialTarget("case", input.case_id)
    scope = await guard(info, input.country_code, Operation.CASE_ATTACH_BUNDLE, target)
    if not isinstance(scope, Scope):
        return scope
    problem = check_id("caseId", input.case_id)
    if problem is not None:
        return invalid_input(problem)
    services = info.context.bundles
    read = await _read_capped(input.file, services.max_bytes)
    if read is None:
        return invalid_field("file", "send the bundle as a multipart upload")
    content, filename = read
    result = await attach_bundle(
        services, scope.request, AttachBundle(scope.country, input.case_id, filename, content)
    )
    scope.loaders.clear_all()
    if isinstance(result, Failure):
        return await scope.failed(result.failure(), target)
    attached = result.unwrap()
    return CaseAttachBundleSuccess(
        bundle=CaseBundle.from_domain(attached.attachment), created=attached.created
    )


@strawberry.input(
    description="Open a customer's diagnostics ticket (a DIAGNOSTICS case at L1, SPEC §10's SLA): "
    "support opens it on the customer's behalf. Optionally send the first bundle as a multipart "
    "upload in the same request (the `file` variable)."
)
class DiagnosticsTicketOpenInput:
    country_code: str
    customer_id: str = strawberry.field(description="The customer the ticket is for (the case's subjectRef).")
    channel: str = strawberry.field(
        description="Where the trouble was seen, as bundle names spell it: 1-32 of a-z, 0-9, _ "
        "(ui, android...)."
    )
    summary: str = strawberry.field(description=f"The case's title (at most {MAX_TITLE_CHARS} characters).")
    severity: Severity = strawberry.field(description="SEV1, SEV2 or SEV3 (there is no SEV0 ticket).")
    order_id: str | None = strawberry.field(
        default=None, description="The order it is about: bought, sold or delivered by the customer."
    )
    file: Upload | None = strawberry.field(default=None, description="The first bundle, if any.")


@strawberry.type(description="The ticket, and its first bundle when one was sent.")
class DiagnosticsTicketOpenSuccess:
    case: Case
    bundle: CaseBundle | None = strawberry.field(description="The first bundle, inspected and attached.")
    bundle_error: Error | None = strawberry.field(
        description="The bundle was refused after the ticket opened (e.g. BUNDLE_COUNTRY_MISMATCH): the "
        "ticket stays open; attach another bundle with caseAttachBundle."
    )


DiagnosticsTicketOpenResult: TypeAlias = Annotated[
    DiagnosticsTicketOpenSuccess | AnyError, strawberry.union("DiagnosticsTicketOpenResult")
]


async def diagnostics_ticket_open(
    info: GraphQLInfo, input: DiagnosticsTicketOpenInput
) -> DiagnosticsTicketOpenResult:
    target = DenialTarget("customer", input.customer_id[:200])
    scope = await guard(info, input.country_code, Operation.DIAGNOSTICS_TICKET_OPEN, target)
    if not isinstance(scope, Scope):
        return scope
    problem = first_problem(
        check_id("customerId", input.customer_id),
        check_text("channel", input.channel, 32),
        check_text("summary", input.summary, MAX_TITLE_CHARS),
        None if input.order_id is None else check_id("orderId", input.order_id),
    )
    if problem is not None:
        return invalid_input(problem)
    services = info.context.bundles
    bundle: TicketBundle | None = None
    if input.file is not None:
        read = await _read_capped(input.file, services.max_bytes)
        if read is None:
            return invalid_field("file", "send the bundle as a multipart upload")
        content, filename = read
        bundle = TicketBundle(filename, content)
    command = OpenDiagnosticsTicket(
        scope.country,
        input.customer_id,
        input.channel,
        input.summary,
        input.severity,
        None if input.order_id is None else OrderId(input.order_id),
    )
    result = await open_diagnostics_ticket_with_bundle(services, scope.request, command, bundle)
    scope.loaders.clear_all()
    if isinstance(result, Failure):
        return await scope.failed(result.failure(), target)
    opened = result.unwrap()
    return DiagnosticsTicketOpenSuccess(
        case=case_of(info, opened.case),
        bundle=None if opened.attached is None else CaseBundle.from_domain(opened.attached.attachment),
        bundle_error=None if opened.bundle_refusal is None else to_error(opened.bundle_refusal),
    )


@strawberry.type
class DiagnosticsMutations:
    diagnostics_ticket_open: DiagnosticsTicketOpenResult = strawberry.mutation(
        resolver=diagnostics_ticket_open,
        description="Open a customer's diagnostics ticket (L1+), optionally with its first bundle.",
    )
    case_attach_bundle: CaseAttachBundleResult = strawberry.mutation(
        resolver=case_attach_bundle,
        description="Attach a diagnostics bundle to a case (L1+; multipart upload, size-limited): it is "
        "inspected, kept in storage (not without telemetry consent) and its verdict, leak locations "
        "and summary are stored on the case, with a timeline entry and an audit entry.",
    )

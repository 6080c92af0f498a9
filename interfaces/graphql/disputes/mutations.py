"""Dispute mutations: open, submit evidence, start review, resolve, withdraw, and the
re-issue of a refund the provider returned (L3, D136).

Each takes one ``input`` (with its ``countryCode``), passes the scope guard, calls the
use case, and answers a union of its success type and the shared error types. Resolving
takes an outcome code, a reason code and an idempotency key — there is no amount
anywhere: every figure is computed from the order's snapshot.
"""

from __future__ import annotations

from typing import Annotated, TypeAlias

import strawberry
from returns.result import Failure
from strawberry.file_uploads import Upload

from application.audit.denials import DenialTarget
from application.disputes.evidence_files import UploadEvidenceFile, upload_evidence_file
from application.disputes.refund_returns import ReissueRefund, reissue_refund
from application.disputes.use_cases import (
    DecideDispute,
    OpenDispute,
    StartReview,
    SubmitEvidence,
    WithdrawDispute,
    decide_dispute,
    open_dispute,
    start_review,
    submit_evidence,
    withdraw_dispute,
)
from application.ports.idempotency import MAX_KEY_LENGTH
from application.security.principal import Operation
from domain.disputes.codes import DecisionReasonCode, DisputeReason, OutcomeCode
from domain.disputes.dispute import MAX_NOTE_CHARS, MAX_WITHDRAWAL_REASON_CHARS
from domain.disputes.evidence import MAX_FILENAME_CHARS, MAX_STATEMENT_CHARS
from domain.disputes.returns import ReissueMethod
from domain.orders import MAX_REASON_LENGTH
from domain.shared.ids import DisputeId, OrderId
from interfaces.graphql.common import BigInt, Money, check_id, check_text, first_problem
from interfaces.graphql.context import GraphQLInfo
from interfaces.graphql.diagnostics.mutations import read_capped
from interfaces.graphql.disputes.types import DecisionReceipt, Dispute, EvidenceSubmissionType
from interfaces.graphql.errors import AnyError, invalid_field, invalid_input
from interfaces.graphql.scope import Scope, guard

SHA256_HEX_CHARS = 64


async def _reloaded(scope: Scope, dispute_id: str) -> Dispute | None:
    found = await scope.loaders.disputes.load((scope.country, dispute_id))
    return None if found is None else Dispute.from_domain(found)


# ----------------------------------------------------------------------------- open


@strawberry.input(description="Open a dispute on a DELIVERED order, within its dispute window.")
class DisputeOpenInput:
    country_code: str
    order_id: str
    reason: DisputeReason
    statement: str = strawberry.field(
        description="The opener's statement, the pack's first submission "
        f"(at most {MAX_STATEMENT_CHARS} characters)."
    )


@strawberry.type
class DisputeOpenSuccess:
    dispute: Dispute


DisputeOpenResult: TypeAlias = Annotated[DisputeOpenSuccess | AnyError, strawberry.union("DisputeOpenResult")]


async def dispute_open(info: GraphQLInfo, input: DisputeOpenInput) -> DisputeOpenResult:
    target = DenialTarget("order", input.order_id)
    scope = await guard(info, input.country_code, Operation.DISPUTE_OPEN, target)
    if not isinstance(scope, Scope):
        return scope
    problem = first_problem(
        check_id("orderId", input.order_id), check_text("statement", input.statement, MAX_STATEMENT_CHARS)
    )
    if problem is not None:
        return invalid_input(problem)
    result = await open_dispute(
        scope.services,
        scope.request,
        OpenDispute(scope.country, OrderId(input.order_id), input.reason, input.statement),
    )
    scope.loaders.clear_all()
    if isinstance(result, Failure):
        return await scope.failed(result.failure(), target)
    return DisputeOpenSuccess(dispute=Dispute.from_domain(result.unwrap()))


# ----------------------------------------------------------------------------- evidence


@strawberry.input(
    description="A file uploaded for this dispute with disputeEvidenceUpload, named by its sha256."
)
class EvidenceFileInput:
    content_sha256: str = strawberry.field(
        description="64 lowercase hexadecimal characters, as disputeEvidenceUpload answered."
    )
    filename: str
    media_type: str | None = strawberry.field(
        default=None, description="Ignored: the pack records the type read from the stored bytes."
    )
    size_bytes: int | None = strawberry.field(
        default=None, description="Ignored: the pack records the stored file's size."
    )


@strawberry.input(
    description="Submit a statement or a stored file (exactly one) to a dispute's evidence pack."
)
class DisputeEvidenceSubmitInput:
    country_code: str
    dispute_id: str
    statement: str | None = None
    file: EvidenceFileInput | None = None


@strawberry.type
class DisputeEvidenceSubmitSuccess:
    evidence: EvidenceSubmissionType = strawberry.field(
        description="The submission as stored (the earlier one, if this actor already sent this content)."
    )
    dispute: Dispute | None


DisputeEvidenceSubmitResult: TypeAlias = Annotated[
    DisputeEvidenceSubmitSuccess | AnyError, strawberry.union("DisputeEvidenceSubmitResult")
]


async def dispute_evidence_submit(
    info: GraphQLInfo, input: DisputeEvidenceSubmitInput
) -> DisputeEvidenceSubmitResult:
    target = DenialTarget("dispute", input.dispute_id)
    scope = await guard(info, input.country_code, Operation.DISPUTE_SUBMIT_EVIDENCE, target)
    if not isinstance(scope, Scope):
        return scope
    file = input.file
    problem = first_problem(
        check_id("disputeId", input.dispute_id),
        check_text("statement", input.statement, MAX_STATEMENT_CHARS),
        None if file is None else check_text("file.contentSha256", file.content_sha256, SHA256_HEX_CHARS),
        None if file is None else check_text("file.filename", file.filename, MAX_FILENAME_CHARS),
    )
    if problem is not None:
        return invalid_input(problem)
    result = await submit_evidence(
        scope.services,
        scope.request,
        SubmitEvidence(
            scope.country,
            DisputeId(input.dispute_id),
            statement=input.statement,
            content_sha256=None if file is None else file.content_sha256,
            filename=None if file is None else file.filename,
        ),
        files=None if info.context.evidence_files is None else info.context.evidence_files.storage,
    )
    scope.loaders.clear_all()
    if isinstance(result, Failure):
        return await scope.failed(result.failure(), target)
    return DisputeEvidenceSubmitSuccess(
        evidence=EvidenceSubmissionType.from_domain(result.unwrap()),
        dispute=await _reloaded(scope, input.dispute_id),
    )


@strawberry.input(
    description="A photo (JPEG, PNG, WebP, HEIC) or PDF for a dispute's evidence, sent as a multipart "
    "request (the `file` variable mapped to the upload); submit it with disputeEvidenceSubmit."
)
class DisputeEvidenceUploadInput:
    country_code: str
    dispute_id: str
    file: Upload


@strawberry.type(description="The file as stored for the dispute: submit it by its sha256.")
class DisputeEvidenceUploadSuccess:
    content_sha256: str = strawberry.field(description="The sha256 of the bytes, computed by the server.")
    size_bytes: int
    media_type: str = strawberry.field(description="Read from the bytes, not from the client.")
    created: bool = strawberry.field(description="False: these bytes were already stored for the dispute.")


DisputeEvidenceUploadResult: TypeAlias = Annotated[
    DisputeEvidenceUploadSuccess | AnyError, strawberry.union("DisputeEvidenceUploadResult")
]


async def dispute_evidence_upload(
    info: GraphQLInfo, input: DisputeEvidenceUploadInput
) -> DisputeEvidenceUploadResult:
    target = DenialTarget("dispute", input.dispute_id)
    scope = await guard(info, input.country_code, Operation.DISPUTE_SUBMIT_EVIDENCE, target)
    if not isinstance(scope, Scope):
        return scope
    problem = check_id("disputeId", input.dispute_id)
    if problem is not None:
        return invalid_input(problem)
    services = info.context.evidence_files
    if services is None:
        raise RuntimeError("the HTTP app was created without evidence file services")
    read = await read_capped(input.file, services.max_bytes)
    if read is None:
        return invalid_field("file", "send the file as a multipart upload")
    content, _ = read
    result = await upload_evidence_file(
        services, scope.request, UploadEvidenceFile(scope.country, DisputeId(input.dispute_id), content)
    )
    if isinstance(result, Failure):
        return await scope.failed(result.failure(), target)
    uploaded = result.unwrap()
    return DisputeEvidenceUploadSuccess(
        content_sha256=uploaded.sha256,
        size_bytes=uploaded.size_bytes,
        media_type=uploaded.media_type,
        created=uploaded.created,
    )


# ----------------------------------------------------------------------------- review


@strawberry.input(description="Start reviewing a dispute (OPEN or GATHERING_EVIDENCE -> UNDER_REVIEW).")
class DisputeReviewStartInput:
    country_code: str
    dispute_id: str


@strawberry.type
class DisputeReviewStartSuccess:
    dispute: Dispute


DisputeReviewStartResult: TypeAlias = Annotated[
    DisputeReviewStartSuccess | AnyError, strawberry.union("DisputeReviewStartResult")
]


async def dispute_review_start(info: GraphQLInfo, input: DisputeReviewStartInput) -> DisputeReviewStartResult:
    target = DenialTarget("dispute", input.dispute_id)
    scope = await guard(info, input.country_code, Operation.DISPUTE_START_REVIEW, target)
    if not isinstance(scope, Scope):
        return scope
    problem = check_id("disputeId", input.dispute_id)
    if problem is not None:
        return invalid_input(problem)
    result = await start_review(
        scope.services, scope.request, StartReview(scope.country, DisputeId(input.dispute_id))
    )
    scope.loaders.clear_all()
    if isinstance(result, Failure):
        return await scope.failed(result.failure(), target)
    return DisputeReviewStartSuccess(dispute=Dispute.from_domain(result.unwrap()))


# ----------------------------------------------------------------------------- resolve


@strawberry.input(
    description="Decide a dispute under review: an outcome code and a reason code, never an amount. "
    "Idempotent per (country, actor, idempotencyKey)."
)
class DisputeResolveInput:
    country_code: str
    dispute_id: str
    outcome: OutcomeCode
    reason_code: DecisionReasonCode
    idempotency_key: str = strawberry.field(
        description=f"1-{MAX_KEY_LENGTH} printable characters; "
        "a retry with the same key and input replays the answer."
    )
    partial_refund_tier_bp: int | None = strawberry.field(
        default=None,
        description="PARTIAL_REFUND only: one of the snapshot policy's tiers (e.g. 2500, 5000). A partial "
        "refund that the cap at the total charged makes the whole charge is decided as FULL_REFUND "
        "(the answer's outcome says so; the audit entry keeps what was asked, D134).",
    )
    note: str | None = strawberry.field(default=None, description=f"At most {MAX_NOTE_CHARS} characters.")


@strawberry.type
class DisputeResolveSuccess:
    receipt: DecisionReceipt
    dispute: Dispute | None


DisputeResolveResult: TypeAlias = Annotated[
    DisputeResolveSuccess | AnyError, strawberry.union("DisputeResolveResult")
]


async def dispute_resolve(info: GraphQLInfo, input: DisputeResolveInput) -> DisputeResolveResult:
    target = DenialTarget("dispute", input.dispute_id)
    scope = await guard(info, input.country_code, Operation.DISPUTE_DECIDE, target)
    if not isinstance(scope, Scope):
        return scope
    problem = first_problem(
        check_id("disputeId", input.dispute_id),
        check_text("note", input.note, MAX_NOTE_CHARS),
        check_text("idempotencyKey", input.idempotency_key, MAX_KEY_LENGTH),
    )
    if problem is not None:
        return invalid_input(problem)
    result = await decide_dispute(
        scope.services,
        scope.request,
        DecideDispute(
            scope.country,
            DisputeId(input.dispute_id),
            input.outcome,
            input.reason_code,
            input.idempotency_key,
            input.partial_refund_tier_bp,
            input.note or "",
        ),
    )
    scope.loaders.clear_all()
    if isinstance(result, Failure):
        return await scope.failed(result.failure(), target)
    return DisputeResolveSuccess(
        receipt=DecisionReceipt.from_domain(result.unwrap()), dispute=await _reloaded(scope, input.dispute_id)
    )


# ----------------------------------------------------------------------------- withdraw


@strawberry.input(description="Withdraw a dispute before a decision; the order completes as usual.")
class DisputeWithdrawInput:
    country_code: str
    dispute_id: str
    reason: str = strawberry.field(
        description=f"Why (required, at most {MAX_WITHDRAWAL_REASON_CHARS} characters)."
    )


@strawberry.type
class DisputeWithdrawSuccess:
    dispute: Dispute


DisputeWithdrawResult: TypeAlias = Annotated[
    DisputeWithdrawSuccess | AnyError, strawberry.union("DisputeWithdrawResult")
]


async def dispute_withdraw(info: GraphQLInfo, input: DisputeWithdrawInput) -> DisputeWithdrawResult:
    target = DenialTarget("dispute", input.dispute_id)
    scope = await guard(info, input.country_code, Operation.DISPUTE_WITHDRAW, target)
    if not isinstance(scope, Scope):
        return scope
    problem = first_problem(
        check_id("disputeId", input.dispute_id),
        check_text("reason", input.reason, MAX_WITHDRAWAL_REASON_CHARS),
    )
    if problem is not None:
        return invalid_input(problem)
    result = await withdraw_dispute(
        scope.services,
        scope.request,
        WithdrawDispute(scope.country, DisputeId(input.dispute_id), input.reason),
    )
    scope.loaders.clear_all()
    if isinstance(result, Failure):
        return await scope.failed(result.failure(), target)
    return DisputeWithdrawSuccess(dispute=Dispute.from_domain(result.unwrap()))


# ------------------------------------------------------------------ refund re-issue


@strawberry.input(
    description="Re-issue what the payments provider returned of a dispute's refunds (L3). The amount is "
    "the dispute's refundAwaitingReissue, never typed in."
)
class DisputeRefundReissueInput:
    country_code: str
    dispute_id: str
    method: ReissueMethod
    reason: str = strawberry.field(
        description=f"Why, in words (required, at most {MAX_REASON_LENGTH} characters)."
    )


@strawberry.type
class DisputeRefundReissueSuccess:
    dispute: Dispute
    method: ReissueMethod
    amount: Money = strawberry.field(description="What is re-issued: all that awaited re-issue.")
    idempotency_key: str = strawberry.field(
        description="The re-issue's key (its outbox job's and its ledger posting's)."
    )
    job_id: BigInt = strawberry.field(
        description="The outbox job: the refund to the card (posted when the provider confirms it), "
        "or the buyer's notice of the credit (the credit is posted already)."
    )


DisputeRefundReissueResult: TypeAlias = Annotated[
    DisputeRefundReissueSuccess | AnyError, strawberry.union("DisputeRefundReissueResult")
]


async def dispute_refund_reissue(
    info: GraphQLInfo, input: DisputeRefundReissueInput
) -> DisputeRefundReissueResult:
    target = DenialTarget("dispute", input.dispute_id)
    scope = await guard(info, input.country_code, Operation.DISPUTE_REFUND_REISSUE, target)
    if not isinstance(scope, Scope):
        return scope
    problem = first_problem(
        check_id("disputeId", input.dispute_id), check_text("reason", input.reason, MAX_REASON_LENGTH)
    )
    if problem is not None:
        return invalid_input(problem)
    result = await reissue_refund(
        scope.services,
        scope.request,
        ReissueRefund(scope.country, input.dispute_id, input.method, input.reason),
    )
    scope.loaders.clear_all()
    if isinstance(result, Failure):
        return await scope.failed(result.failure(), target)
    reissue = result.unwrap()
    return DisputeRefundReissueSuccess(
        dispute=Dispute.from_domain(reissue.dispute),
        method=reissue.method,
        amount=Money.from_domain(reissue.amount),
        idempotency_key=reissue.idempotency_key,
        job_id=BigInt(reissue.job_id),
    )


@strawberry.type
class DisputeMutations:
    dispute_open: DisputeOpenResult = strawberry.mutation(
        resolver=dispute_open, description="Open a dispute."
    )
    dispute_evidence_upload: DisputeEvidenceUploadResult = strawberry.mutation(
        resolver=dispute_evidence_upload,
        description="Upload a file for a dispute's evidence (the parties who may submit evidence on it; "
        "multipart upload, size-limited, photos and PDFs; only while the pack is open): stored by its "
        "sha256 in the dispute's own storage, audited. Nothing enters the pack until it is submitted.",
    )
    dispute_evidence_submit: DisputeEvidenceSubmitResult = strawberry.mutation(
        resolver=dispute_evidence_submit,
        description="Add a statement or an uploaded file (by its sha256) to the evidence pack.",
    )
    dispute_review_start: DisputeReviewStartResult = strawberry.mutation(
        resolver=dispute_review_start, description="Start the review of a dispute."
    )
    dispute_resolve: DisputeResolveResult = strawberry.mutation(
        resolver=dispute_resolve,
        description="Decide the outcome: freezes the evidence pack and schedules the execution saga.",
    )
    dispute_withdraw: DisputeWithdrawResult = strawberry.mutation(
        resolver=dispute_withdraw, description="Withdraw a dispute (the buyer gives up the claim)."
    )
    dispute_refund_reissue: DisputeRefundReissueResult = strawberry.mutation(
        resolver=dispute_refund_reissue,
        description="Re-issue a refund the payments provider took back after confirming it (L3; reason "
        "required; audited): CARD sends it to the card again through the provider, STORE_CREDIT gives it "
        "as the buyer's store credit at once. One re-issue at a time (REFUND_REISSUE_IN_FLIGHT); "
        "NO_REFUND_TO_REISSUE when nothing awaits re-issue.",
    )

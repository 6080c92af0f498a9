"""Use case: upload a file for a dispute's evidence pack (SPEC §5 party submissions, §7; D84).

Order of work, every refusal before anything is kept:

1. authorize ``dispute.submit_evidence`` (whoever may submit evidence may upload);
2. the size limit (``max_bytes``, default 10 MiB; ``EVIDENCE_FILE_TOO_LARGE``), an empty
   upload (``InvalidInput``), and the type read from the bytes' signature
   (``EVIDENCE_FILE_TYPE_NOT_ALLOWED`` unless JPEG, PNG, WebP, HEIC or PDF);
3. the dispute must exist in the country and be the caller's (parties: their own orders,
   exactly as ``submit_evidence`` checks; otherwise ``NOT_FOUND``, and another party's
   dispute is audited as ``access.denied``, D135), its pack not frozen
   (``EVIDENCE_PACK_FROZEN``) and its deadline not passed (``EVIDENCE_DEADLINE_PASSED``) -
   a read transaction;
4. keep the bytes through the dispute's own storage (content-addressed within the country
   and dispute: the same bytes twice are stored once and answer ``created: false``;
   idempotency key ``dispute-evidence:<country>:<dispute>:<sha256>``), audited whatever it
   answers (``provider.call``: provider, ``put``, key, outcome, latency, sha256, size,
   media type), in its own transaction.

The upload changes nothing on the dispute: a file enters the pack when it is submitted
(``disputeEvidenceSubmit`` with its sha256), which reads it back from the same storage.
"""

from __future__ import annotations

from dataclasses import dataclass

from returns.result import Failure, Result, Success

from application.context import RequestContext
from application.disputes.evidence_storage import (
    EvidenceFileServices,
    EvidenceFileTooLarge,
    EvidenceFileTypeNotAllowed,
    evidence_idempotency_key,
    sniff_media_type,
)
from application.disputes.use_cases import load_for_party
from application.errors import NotFound
from application.integrations.provider_calls import audited_call
from application.ports.providers import ProviderError
from application.ports.storage import content_key
from application.security.principal import Forbidden, Operation, authorize
from domain.disputes import SubmitEvidenceError
from domain.disputes.errors import EvidenceDeadlinePassed, EvidencePackFrozen
from domain.shared import CountryCode, InvalidInput
from domain.shared.ids import DisputeId


@dataclass(frozen=True, slots=True)
class UploadEvidenceFile:
    country: CountryCode
    dispute_id: DisputeId
    content: bytes


@dataclass(frozen=True, slots=True)
class UploadedEvidenceFile:
    sha256: str
    size_bytes: int
    media_type: str
    created: bool  # False: these bytes were already stored for this dispute


UploadFailure = (
    Forbidden
    | NotFound
    | InvalidInput
    | EvidenceFileTooLarge
    | EvidenceFileTypeNotAllowed
    | SubmitEvidenceError
    | ProviderError
)


async def upload_evidence_file(
    files: EvidenceFileServices, ctx: RequestContext, cmd: UploadEvidenceFile
) -> Result[UploadedEvidenceFile, UploadFailure]:
    svc = files.base
    allowed = authorize(ctx.principal, Operation.DISPUTE_SUBMIT_EVIDENCE, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    if len(cmd.content) > files.max_bytes:
        return Failure(EvidenceFileTooLarge(files.max_bytes))
    if not cmd.content:
        return Failure(InvalidInput("file", "the upload is empty"))
    media_type = sniff_media_type(cmd.content)
    if media_type is None:
        return Failure(EvidenceFileTypeNotAllowed())
    now = svc.clock.now()
    async with svc.uow() as uow:
        lookup = await load_for_party(uow, ctx.principal, cmd.country, cmd.dispute_id)
    await lookup.audit(svc, ctx, Operation.DISPUTE_SUBMIT_EVIDENCE)  # another party's: audited
    loaded = lookup.result()
    if isinstance(loaded, Failure):
        return loaded
    dispute, _ = loaded.unwrap()
    if dispute.is_evidence_frozen:
        return Failure(EvidencePackFrozen(dispute.status))
    if now > dispute.evidence_deadline:
        return Failure(EvidenceDeadlinePassed(deadline=dispute.evidence_deadline, attempted_at=now))
    sha256 = content_key(cmd.content)
    storage = files.storage
    blobs = storage.for_dispute(cmd.country.value, cmd.dispute_id)
    idempotency_key = evidence_idempotency_key(cmd.country, cmd.dispute_id, sha256)
    stored = await audited_call(
        svc,
        ctx,
        country=cmd.country,
        provider=storage.name,
        operation="put",
        idempotency_key=idempotency_key,
        target_type="dispute",
        target_id=cmd.dispute_id,
        call=lambda: blobs.put(idempotency_key=idempotency_key, content=cmd.content, content_type=media_type),
        details={"content_sha256": sha256, "size_bytes": len(cmd.content), "media_type": media_type},
    )
    if isinstance(stored, Failure):
        return stored
    blob = stored.unwrap()
    return Success(UploadedEvidenceFile(blob.key, blob.size, media_type, blob.created))

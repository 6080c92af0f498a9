"""Use case: attach a diagnostics bundle to a case (SPEC §10 "attaches the result to a
case"; D48, D49).

Order of work, every refusal before anything is kept:

1. authorize ``case.attach_bundle`` (L1-L3; parties and auditors may not; L0 uploads nothing);
2. the size limit (``max_bytes``, default 50 MiB) and the file name; an empty upload is
   refused;
3. the case must exist in the country and be open (a read transaction); the same bytes
   already on the case answer the first attachment (idempotent, nothing written);
4. inspect off the event loop (``asyncio.to_thread`` on a temporary file; the inspector
   streams, so memory stays bounded by the upload itself). A bundle whose
   ``metadata.json`` names another country is refused: its data would cross the case's
   country scope;
5. keep the bytes through the storage port (content-addressed; idempotency key from the
   country, case id and sha256) - except without telemetry consent (``NO_CONSENT``): the
   inspector read nothing but ``metadata.json`` and the bytes are not kept (D49). The
   call is audited whatever it answers (``provider.call``: provider, ``put``, idempotency
   key, outcome, latency, the content's sha256; SPEC §7), in its own transaction;
6. one transaction: the ``case_bundles`` row (the verdict and the inspection summary,
   never the leaked values), a timeline entry on the case and the audit entry.

A storage failure leaves the case untouched but for the call's audit entry (a stored blob
without a row is harmless: it is content-addressed and a retry finds it).
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Final

from returns.result import Failure, Result, Success

from application.cases.use_cases import actor_of, change_case, load_case
from application.context import RequestContext, Services
from application.errors import NotFound
from application.integrations.provider_calls import audited_call
from application.ports.concurrency import ConcurrencyConflict
from application.ports.providers import ProviderError
from application.ports.storage import BlobStorage
from application.ports.unit_of_work import UnitOfWork
from application.security.principal import Forbidden, Operation, authorize
from domain.cases.case import Case
from domain.cases.errors import CaseClosed, CaseError
from domain.diagnostics import InspectionRefusal, InspectionReport
from domain.diagnostics.attachment import (
    BundleAttachment,
    BundleVerdict,
    inspection_document,
    verdict_of,
)
from domain.shared import CountryCode, DomainError, InvalidInput

DEFAULT_MAX_BUNDLE_BYTES: Final = 50 * 1024 * 1024
MAX_FILENAME_CHARS: Final = 200
BUNDLE_CONTENT_TYPE: Final = "application/zip"
ATTACHED_ACTION: Final = "case.bundle_attached"

Inspect = Callable[[Path], Result[InspectionReport, InspectionRefusal]]
"""The synchronous inspector (``BundleInspector.inspect``): run in a worker thread."""
NamedCountry = Callable[[Path], CountryCode | None]
"""The country a bundle's ``metadata.json`` names, if readable (``BundleInspector.named_country``)."""


@dataclass(frozen=True, slots=True)
class BundleUploadTooLarge(DomainError):
    """The upload is past the attach limit (``SUPPORTOS_BUNDLE_UPLOAD_MAX_BYTES``)."""

    code: ClassVar[str] = "BUNDLE_UPLOAD_TOO_LARGE"
    limit_bytes: int

    @property
    def message(self) -> str:
        return f"the bundle is larger than the upload limit of {self.limit_bytes} bytes"


@dataclass(frozen=True, slots=True)
class BundleCountryMismatch(DomainError):
    """The bundle's ``metadata.json`` names a country other than the case's."""

    code: ClassVar[str] = "BUNDLE_COUNTRY_MISMATCH"
    bundle_country: str
    case_country: str

    @property
    def message(self) -> str:
        return (
            f"the bundle belongs to {self.bundle_country}, the case to {self.case_country}: "
            "attach it to a case of its own country"
        )


@dataclass(frozen=True, slots=True)
class BundleServices:
    """What attaching needs besides transactions: the storage port and the inspector."""

    base: Services
    storage: BlobStorage
    inspect: Inspect
    named_country: NamedCountry
    max_bytes: int = DEFAULT_MAX_BUNDLE_BYTES


@dataclass(frozen=True, slots=True)
class AttachBundle:
    country: CountryCode
    case_id: str
    filename: str
    content: bytes


@dataclass(frozen=True, slots=True)
class Attached:
    case: Case
    attachment: BundleAttachment
    created: bool  # False: these bytes were already on the case (the first attachment)


AttachFailure = (
    Forbidden
    | NotFound
    | InvalidInput
    | CaseError
    | ConcurrencyConflict
    | BundleUploadTooLarge
    | BundleCountryMismatch
    | ProviderError
)


def _filename_problem(filename: str) -> InvalidInput | None:
    if not filename.strip():
        return InvalidInput("file", "the upload has no file name")
    if len(filename) > MAX_FILENAME_CHARS:
        return InvalidInput("file", f"the file name is longer than {MAX_FILENAME_CHARS} characters")
    if any(c in filename for c in "/\\\x00") or filename in (".", ".."):
        return InvalidInput("file", "the file name must be a plain name, without directories")
    if any(ord(c) < 32 for c in filename):
        return InvalidInput("file", "the file name has control characters")
    return None


def upload_problem(
    max_bytes: int, filename: str, content: bytes
) -> BundleUploadTooLarge | InvalidInput | None:
    """Why an upload is refused before anything is read or kept: past the size limit, a
    file name that is not a plain name, or empty (``None``: acceptable)."""
    if len(content) > max_bytes:
        return BundleUploadTooLarge(max_bytes)
    problem = _filename_problem(filename)
    if problem is not None:
        return problem
    if not content:
        return InvalidInput("file", "the upload is empty")
    return None


def _inspect_bytes(
    bundles: BundleServices, filename: str, content: bytes
) -> tuple[Result[InspectionReport, InspectionRefusal], CountryCode | None]:
    """Write the upload to a private temporary directory and inspect it there (blocking):
    the inspection, and the country the bundle names (its report's, or for a refused bundle
    what its ``metadata.json`` says, if anything can be read of it)."""
    with tempfile.TemporaryDirectory(prefix="supportos-bundle-") as directory:
        path = Path(directory) / filename
        path.write_bytes(content)
        inspected = bundles.inspect(path)
        if isinstance(inspected, Success):
            return inspected, inspected.unwrap().metadata.country
        return inspected, bundles.named_country(path)


async def _precheck(
    svc: Services, country: CountryCode, case_id: str, sha256: str
) -> Result[BundleAttachment | None, NotFound | CaseClosed]:
    async with svc.uow() as uow:
        loaded = await load_case(uow, country, case_id)
        if isinstance(loaded, Failure):
            return loaded
        existing = await uow.case_bundles.get(country, case_id, sha256)
        if existing is not None:
            return Success(existing)
        state = loaded.unwrap().state
        if not state.is_open:
            return Failure(CaseClosed(case_id, state.status.value))
        return Success(None)


async def attach_bundle(
    bundles: BundleServices, ctx: RequestContext, cmd: AttachBundle
) -> Result[Attached, AttachFailure]:
    svc = bundles.base
    allowed = authorize(ctx.principal, Operation.CASE_ATTACH_BUNDLE, cmd.country)
    if isinstance(allowed, Failure):
        return allowed
    problem = upload_problem(bundles.max_bytes, cmd.filename, cmd.content)
    if problem is not None:
        return Failure(problem)
    sha256 = hashlib.sha256(cmd.content).hexdigest()
    prior = await _precheck(svc, cmd.country, cmd.case_id, sha256)
    if isinstance(prior, Failure):
        return prior
    existing = prior.unwrap()
    if existing is not None:
        async with svc.uow() as uow:
            case = await uow.cases.get(cmd.country, cmd.case_id)
        if case is None:
            return Failure(NotFound("case", cmd.case_id))
        return Success(Attached(case, existing, created=False))

    inspected, named = await asyncio.to_thread(_inspect_bytes, bundles, cmd.filename, cmd.content)
    result: InspectionReport | InspectionRefusal = (
        inspected.unwrap() if isinstance(inspected, Success) else inspected.failure()
    )
    # before anything is kept: a bundle naming another country is refused whatever its
    # verdict (a malformed or unconsented bundle of another country is still its data, D102)
    if named is not None and named != cmd.country:
        return Failure(BundleCountryMismatch(named.value, cmd.country.value))
    verdict = verdict_of(result)
    blob_key: str | None = None
    if verdict is not BundleVerdict.NO_CONSENT:
        storage = bundles.storage
        idempotency_key = f"case-bundle:{cmd.country.value}:{cmd.case_id}:{sha256}"
        stored = await audited_call(
            svc,
            ctx,
            country=cmd.country,
            provider=storage.name,
            operation="put",
            idempotency_key=idempotency_key,
            target_type="case",
            target_id=cmd.case_id,
            call=lambda: storage.put(
                idempotency_key=idempotency_key, content=cmd.content, content_type=BUNDLE_CONTENT_TYPE
            ),
            details={"content_sha256": sha256, "size_bytes": len(cmd.content)},
        )
        if isinstance(stored, Failure):
            return stored
        blob_key = stored.unwrap().key

    leaks = result.pii.total if isinstance(result, InspectionReport) else 0
    kept: list[BundleAttachment] = []
    audit_extra: dict[str, Any] = {
        "bundle": {
            "sha256": sha256,
            "filename": cmd.filename,
            "size_bytes": len(cmd.content),
            "verdict": verdict.value,
            "leaks": leaks,
            "stored": blob_key is not None,
        }
    }

    async def change(
        uow: UnitOfWork, case: Case, now: datetime
    ) -> Result[None, CaseError | ConcurrencyConflict]:
        attachment = BundleAttachment(
            country=cmd.country,
            case_id=cmd.case_id,
            sha256=sha256,
            blob_key=blob_key,
            filename=cmd.filename,
            size_bytes=len(cmd.content),
            verdict=verdict,
            leak_count=leaks,
            report=inspection_document(result),
            attached_by=actor_of(ctx.principal),
            attached_at=now,
        )
        recorded = case.record_action(
            now,
            actor_of(ctx.principal),
            "bundle_attached",
            f"Diagnostics bundle {cmd.filename} attached: {verdict.value.lower().replace('_', ' ')}"
            + (f" ({leaks} leaks)" if leaks else ""),
            {"sha256": sha256, "verdict": verdict.value, "leaks": str(leaks)},
        )
        if isinstance(recorded, Failure):
            return recorded
        if not await uow.case_bundles.add(attachment):  # attached concurrently by someone else
            return Failure(ConcurrencyConflict("case_bundle", f"{cmd.case_id}/{sha256}", case.version))
        kept.append(attachment)
        return Success(None)

    changed = await change_case(
        svc,
        ctx,
        operations=(Operation.CASE_ATTACH_BUNDLE,),
        country=cmd.country,
        case_id=cmd.case_id,
        action=ATTACHED_ACTION,
        change=change,
        audit_extra=audit_extra,
    )
    if isinstance(changed, Failure):
        return changed
    return Success(Attached(changed.unwrap(), kept[0], created=True))


@dataclass(frozen=True, slots=True)
class CaseBundles:
    country: CountryCode
    case_id: str


async def case_bundles(
    svc: Services, ctx: RequestContext, query: CaseBundles
) -> Result[list[BundleAttachment], Forbidden | NotFound]:
    """The bundles attached to a case, oldest first (``case.read``)."""
    allowed = authorize(ctx.principal, Operation.CASE_READ, query.country)
    if isinstance(allowed, Failure):
        return allowed
    async with svc.uow() as uow:
        loaded = await load_case(uow, query.country, query.case_id)
        if isinstance(loaded, Failure):
            return loaded
        return Success(await uow.case_bundles.for_case(query.country, query.case_id))

"""GraphQL types of a bundle attached to a case (D48): its verdict, where its leaks are (never
their values), and the stored inspection summary."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from domain.diagnostics.attachment import BundleAttachment, BundleVerdict
from interfaces.graphql.disputes.types import ActorType

strawberry.enum(
    BundleVerdict,
    description="CLEAN, LEAKS (personal data found), MALFORMED (refused by the reader or a schema) "
    "or NO_CONSENT (no telemetry consent: nothing else read, bytes not kept).",
)


@strawberry.type(description="Where personal data was found in a bundle (never the value itself).")
class BundleLeak:
    file: str
    path: str | None = strawberry.field(description="The JSON path; null in a text file.")
    offset: int = strawberry.field(description="Character offset in the JSON string value or text file.")
    length: int
    kind: str = strawberry.field(description="EMAIL, PHONE, CARD_NUMBER, IBAN, NATIONAL_ID, ...")
    detector: str = strawberry.field(description="Which detector: email, phone, visa, CPF, IPv4...")


def _leaks(report: Mapping[str, object]) -> list[BundleLeak]:
    raw = report.get("leaks")
    leaks: list[BundleLeak] = []
    if not isinstance(raw, list):
        return leaks
    for item in raw:
        if isinstance(item, Mapping):
            path = item.get("path")
            leaks.append(
                BundleLeak(
                    file=str(item.get("file", "")),
                    path=None if path is None else str(path),
                    offset=int(str(item.get("offset", 0))),
                    length=int(str(item.get("length", 0))),
                    kind=str(item.get("kind", "")),
                    detector=str(item.get("detector", "")),
                )
            )
    return leaks


@strawberry.type(description="A diagnostics bundle attached to a case, with its inspection result.")
class CaseBundle:
    case_id: str
    country_code: str
    filename: str
    size: int = strawberry.field(description="Bytes uploaded.")
    sha256: str
    stored: bool = strawberry.field(
        description="The bytes are kept in storage: not without consent, not after the retention purge."
    )
    purged_at: datetime | None = strawberry.field(
        description="When the retention purge (telemetry.retentionDays) ended this attachment's bytes; "
        "the verdict, leak locations, summary and sha256 stay."
    )
    verdict: BundleVerdict
    leak_count: int
    leaks: list[BundleLeak] = strawberry.field(description="At most 1000, in file order.")
    report: JSON = strawberry.field(
        description="The stored inspection summary (supportos.case-bundle/v1): metadata, snapshot "
        "summary, failed spans with their catalogue meaning, leak locations; or the refusal."
    )
    attached_by: ActorType
    attached_at: datetime

    @staticmethod
    def from_domain(attachment: BundleAttachment) -> CaseBundle:
        return CaseBundle(
            case_id=attachment.case_id,
            country_code=attachment.country.value,
            filename=attachment.filename,
            size=attachment.size_bytes,
            sha256=attachment.sha256,
            stored=attachment.stored,
            purged_at=attachment.purged_at,
            verdict=attachment.verdict,
            leak_count=attachment.leak_count,
            leaks=_leaks(attachment.report),
            report=JSON(dict(attachment.report)),
            attached_by=ActorType.from_domain(attachment.attached_by),
            attached_at=attachment.attached_at,
        )

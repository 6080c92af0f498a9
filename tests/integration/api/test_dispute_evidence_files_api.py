"""Dispute evidence files over GraphQL multipart uploads, then submitted by sha256 (D84).

The storage is the sandbox's content-addressed disk storage in a temporary directory, one
space per country and dispute; the upload limit is lowered to 4 KiB here.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from application.security.principal import Role
from interfaces.settings import Settings
from tests.integration.api.conftest import CO, JPEG_BYTES, MX, Api, serving, upload_evidence

LIMIT = 4 * 1024
PDF_BYTES = b"%PDF-1.7\n" + b"1 0 obj << >> endobj\n" * 10
SUBMIT = """
mutation($input: DisputeEvidenceSubmitInput!) {
  disputeEvidenceSubmit(input: $input) {
    __typename
    ... on DisputeEvidenceSubmitSuccess {
      evidence { kind contentSha256 filename mediaType sizeBytes submittedBy { actorId role } }
      dispute { version evidenceSubmissionCount }
    }
    ... on Error { code message }
  }
}"""
RESOLVE = """
mutation($input: DisputeResolveInput!) {
  disputeResolve(input: $input) { __typename ... on Error { code message } }
}"""


@pytest.fixture
async def api(app_url: str, engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Api]:
    settings = Settings(
        database_url=app_url,
        environment="development",
        evidence_upload_max_bytes=LIMIT,
        blob_dir=tmp_path / "blobs",
    )
    async with serving(settings, engine) as api:
        for country in (MX, CO):
            await api.policy(country)
        yield api


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def evidence_blobs(api: Api) -> list[Path]:
    root = api.settings.blob_dir / "evidence"
    if not root.exists():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.parent.name != "keys")


async def submit(
    api: Api, dispute_id: str, file: dict[str, Any], headers: dict[str, str], country: str = "MX"
) -> dict[str, Any]:
    data = await api.gql(
        SUBMIT, {"input": {"countryCode": country, "disputeId": dispute_id, "file": file}}, headers
    )
    answer: dict[str, Any] = data["disputeEvidenceSubmit"]
    return answer


async def submitted_count(api: Api, action: str = "dispute.evidence_submitted") -> int:
    return int(await api.scalar("SELECT COUNT(*) FROM audit_log WHERE action = :a", a=action))


async def test_a_party_uploads_then_submits_and_the_pack_records_the_stored_file(api: Api) -> None:
    dispute = await api.dispute("ord_1", buyer="buy_7")
    buyer = api.bearer(Role.BUYER, subject="buy_7")

    uploaded = await upload_evidence(api, dispute.id, PDF_BYTES, buyer, filename="receipt.pdf")

    assert uploaded == {
        "__typename": "DisputeEvidenceUploadSuccess",
        "contentSha256": sha(PDF_BYTES),
        "sizeBytes": len(PDF_BYTES),
        "mediaType": "application/pdf",
        "created": True,
    }
    (blob,) = evidence_blobs(api)
    assert blob.read_bytes() == PDF_BYTES and blob.name == sha(PDF_BYTES)
    assert blob.relative_to(api.settings.blob_dir / "evidence").parts[:2] == ("MX", dispute.id)
    put = await api.scalar(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'provider.call' AND target_type = 'dispute'"
        " AND target_id = :d",
        d=dispute.id,
    )
    assert put == 1  # the storage put, audited against the dispute

    lying = {
        "contentSha256": sha(PDF_BYTES),
        "filename": "receipt.pdf",
        "mediaType": "image/png",
        "sizeBytes": 1,
    }
    result = await submit(api, dispute.id, lying, buyer)

    assert result["__typename"] == "DisputeEvidenceSubmitSuccess", result
    assert result["evidence"] == {
        "kind": "FILE",
        "contentSha256": sha(PDF_BYTES),
        "filename": "receipt.pdf",
        "mediaType": "application/pdf",  # read from the stored bytes, not the client's claim
        "sizeBytes": len(PDF_BYTES),
        "submittedBy": {"actorId": "buy_7", "role": "BUYER"},
    }
    assert result["dispute"]["evidenceSubmissionCount"] == 2
    async with api.svc.uow() as uow:
        stored = await uow.disputes.get(MX, dispute.id)
    assert stored is not None
    (file,) = [s for s in stored.evidence.submissions if s.kind.value == "FILE"]
    assert (file.size_bytes, file.media_type) == (len(PDF_BYTES), "application/pdf")


async def test_the_same_bytes_twice_are_stored_once(api: Api) -> None:
    dispute = await api.dispute("ord_1", seller="sel_3")
    seller = api.bearer(Role.SELLER, subject="sel_3")

    first = await upload_evidence(api, dispute.id, JPEG_BYTES, seller)
    again = await upload_evidence(api, dispute.id, JPEG_BYTES, seller, filename="other-name.jpg")

    assert first["created"] is True and again["created"] is False
    assert again["contentSha256"] == first["contentSha256"] == sha(JPEG_BYTES)
    assert len(evidence_blobs(api)) == 1


async def test_an_unknown_hash_is_refused_and_nothing_changes(api: Api) -> None:
    dispute = await api.dispute("ord_1")
    other = await api.dispute("ord_2")
    l1 = api.bearer(Role.L1)
    await upload_evidence(api, other.id, JPEG_BYTES, l1)  # uploaded, but for another dispute
    before = await api.scalar("SELECT version FROM disputes WHERE id = :d", d=dispute.id)
    submissions = await submitted_count(api)

    for unknown in (sha(b"never uploaded"), sha(JPEG_BYTES)):
        result = await submit(api, dispute.id, {"contentSha256": unknown, "filename": "x.jpg"}, l1)
        assert (result["__typename"], result["code"]) == ("RuleViolationError", "EVIDENCE_FILE_NOT_UPLOADED")

    assert await api.scalar("SELECT version FROM disputes WHERE id = :d", d=dispute.id) == before
    assert await submitted_count(api) == submissions
    async with api.svc.uow() as uow:
        stored = await uow.disputes.get(MX, dispute.id)
    assert stored is not None and len(stored.evidence.submissions) == 1  # the opening statement


async def test_a_non_party_can_neither_upload_nor_submit(api: Api) -> None:
    dispute = await api.dispute("ord_1", buyer="buy_1", seller="sel_1")
    await upload_evidence(api, dispute.id, JPEG_BYTES)  # by L1
    stranger = api.bearer(Role.BUYER, subject="buy_other")
    other_seller = api.bearer(Role.SELLER, subject="sel_other")

    for headers in (stranger, other_seller):
        refused = await upload_evidence(api, dispute.id, PDF_BYTES, headers)
        assert (refused["__typename"], refused["code"]) == ("NotFoundError", "NOT_FOUND")
        claimed = await submit(
            api, dispute.id, {"contentSha256": sha(JPEG_BYTES), "filename": "a.jpg"}, headers
        )
        assert claimed["__typename"] == "NotFoundError"
    forbidden = await upload_evidence(api, dispute.id, PDF_BYTES, api.bearer(Role.AUDITOR))
    assert forbidden["__typename"] == "ForbiddenError"
    other_country = await upload_evidence(api, dispute.id, PDF_BYTES, api.bearer(Role.L1, CO), country="CO")
    assert other_country["__typename"] == "NotFoundError"
    assert [p.name for p in evidence_blobs(api)] == [sha(JPEG_BYTES)]


async def test_oversize_and_unknown_types_are_refused_before_anything_is_kept(api: Api) -> None:
    dispute = await api.dispute("ord_1")
    too_big = JPEG_BYTES + bytes(LIMIT)

    refused = await upload_evidence(api, dispute.id, too_big)
    assert (refused["__typename"], refused["code"]) == ("RuleViolationError", "EVIDENCE_FILE_TOO_LARGE")
    html = await upload_evidence(api, dispute.id, b"<html><script>alert(1)</script></html>", filename="a.jpg")
    assert (html["__typename"], html["code"]) == ("RuleViolationError", "EVIDENCE_FILE_TYPE_NOT_ALLOWED")
    empty = await upload_evidence(api, dispute.id, b"")
    assert empty["__typename"] == "InvalidInputError"
    assert evidence_blobs(api) == []
    assert await submitted_count(api, "provider.call") == 0


async def test_no_upload_once_the_pack_froze(api: Api) -> None:
    dispute = await api.dispute("ord_1", review=True)
    decided = await api.gql(
        RESOLVE,
        {
            "input": {
                "countryCode": "MX",
                "disputeId": dispute.id,
                "outcome": "REJECTED",
                "reasonCode": "OTHER",
                "idempotencyKey": "decide-1",
            }
        },
        api.bearer(Role.L2),
    )
    assert decided["disputeResolve"]["__typename"] == "DisputeResolveSuccess", decided

    refused = await upload_evidence(api, dispute.id, JPEG_BYTES)

    assert (refused["__typename"], refused["code"]) == ("RuleViolationError", "EVIDENCE_PACK_FROZEN")
    assert evidence_blobs(api) == []

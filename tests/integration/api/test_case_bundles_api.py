"""Diagnostics bundles attached to cases over GraphQL multipart uploads (D48, D49).

Bundles are built in the test (tests/fakes/bundles.py); the storage is the sandbox's
content-addressed disk storage in a temporary directory; the upload limit is 64 KiB.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from application.security.principal import Role
from application.security.scope import scoped_to
from domain.audit import AuditEntry
from domain.cases.case import TimelineKind
from domain.cases.kinds import CaseKind, Severity
from interfaces.settings import Settings
from tests.fakes import bundles
from tests.integration.api.conftest import CO, MX, START, Api, serving
from tests.integration.case_builders import open_case

LIMIT = 64 * 1024
ATTACH = """
mutation Attach($input: CaseAttachBundleInput!) {
  caseAttachBundle(input: $input) {
    __typename
    ... on Error { code message }
    ... on CaseAttachBundleSuccess {
      created
      bundle {
        caseId filename size sha256 stored verdict leakCount report
        leaks { file path offset length kind detector }
        attachedBy { actorId role }
      }
    }
  }
}
"""
LIST = """
query List($caseId: String!) {
  caseBundles(countryCode: "MX", caseId: $caseId) {
    __typename
    ... on CaseBundleList { bundles { filename verdict leakCount stored } }
  }
}
"""


@pytest.fixture
async def api(app_url: str, engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Api]:
    """The conftest's app, with a small upload limit and the blobs in a temporary directory."""
    settings = Settings(
        database_url=app_url,
        environment="development",
        bundle_upload_max_bytes=LIMIT,
        evidence_upload_max_bytes=LIMIT,  # the HTTP cap is the larger of the two upload limits
        blob_dir=tmp_path / "blobs",
    )
    async with serving(settings, engine) as api:
        yield api


async def diagnostics_case(api: Api, case_id: str, country: Any = MX) -> None:
    case = open_case(
        case_id,
        country=country,
        kind=CaseKind.DIAGNOSTICS,
        severity=Severity.SEV2,
        at=START,
        order_id=None,
        subject_ref="cus_8f14e45f",
    )
    async with api.svc.uow() as uow:
        await uow.cases.add(case)
        await uow.commit()


def bundle_bytes(tmp_path: Path, name: str, files: dict[str, object] | None = None) -> bytes:
    return bundles.write_bundle(tmp_path / name, files).read_bytes()


async def upload(
    api: Api,
    content: bytes,
    *,
    case_id: str = "case_diag",
    country: str = "MX",
    filename: str = "trace-20260301T120000Z-ui.zip",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    operations = {
        "query": ATTACH,
        "variables": {"input": {"countryCode": country, "caseId": case_id, "file": None}},
    }
    with scoped_to(None):
        return await api.client.post(
            "/graphql",
            data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.file"]})},
            files={"0": (filename, content, "application/zip")},
            headers=api.bearer(Role.L1) if headers is None else headers,
        )


def answer(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["caseAttachBundle"]
    return result


def blobs(api: Api) -> list[Path]:
    root = api.settings.blob_dir
    return (
        sorted(p for p in root.rglob("*") if p.is_file() and p.parent.name != "keys") if root.exists() else []
    )


async def rows(api: Api) -> int:
    return int(await api.scalar("SELECT COUNT(*) FROM case_bundles"))


async def test_a_clean_bundle_is_stored_inspected_and_on_the_case(api: Api, tmp_path: Path) -> None:
    await diagnostics_case(api, "case_diag")
    content = bundle_bytes(tmp_path, "clean.zip")
    audit_before = await api.audit_count()

    result = answer(await upload(api, content))

    assert result["__typename"] == "CaseAttachBundleSuccess", result
    assert result["created"] is True
    bundle = result["bundle"]
    assert bundle["verdict"] == "CLEAN" and bundle["leakCount"] == 0 and bundle["leaks"] == []
    assert bundle["stored"] is True and bundle["size"] == len(content)
    assert bundle["attachedBy"] == {"actorId": "l1-1", "role": "L1"}
    report = bundle["report"]
    assert report["verdict"] == "CLEAN"
    assert report["snapshot"]["queue_depth"] == 42
    assert report["failed_spans"][0]["name"] == "gateway.outbound"
    assert report["failed_spans"][0]["error_code"] == "GATEWAY_TIMEOUT"
    # the bytes are in storage under their sha256, and nowhere else
    stored = blobs(api)
    assert [p.name for p in stored] == [bundle["sha256"]]
    assert stored[0].read_bytes() == content
    # a timeline entry on the case and its audit entry, in the same transaction; before
    # them, the storage call's own entry (SPEC §7: every external call is audited)
    async with api.svc.uow() as uow:
        case = await uow.cases.get(MX, "case_diag")
        entries = [e async for e in uow.audit.entries() if isinstance(e, AuditEntry)]
    assert case is not None
    entry = case.state.timeline[-1]
    assert entry.kind is TimelineKind.ACTION
    assert entry.data["action"] == "bundle_attached" and entry.data["verdict"] == "CLEAN"
    assert await api.audit_count() == audit_before + 2
    stored_call, attached = entries[-2:]
    assert [stored_call.action, attached.action] == ["provider.call", "case.bundle_attached"]
    assert (stored_call.country, stored_call.actor_id, stored_call.target_type, stored_call.target_id) == (
        MX,
        "l1-1",
        "case",
        "case_diag",
    )
    assert stored_call.request_id == attached.request_id  # the same request
    assert stored_call.after is not None
    assert isinstance(stored_call.after["latency_ms"], int)
    assert {k: v for k, v in stored_call.after.items() if k != "latency_ms"} == {
        "provider": "sandbox-storage",
        "operation": "put",
        "idempotency_key": f"case-bundle:MX:case_diag:{bundle['sha256']}",
        "outcome": "OK",
        "content_sha256": bundle["sha256"],
        "size_bytes": len(content),
    }

    listed = await api.gql(LIST, {"caseId": "case_diag"}, api.bearer(Role.AUDITOR))
    assert listed["caseBundles"]["bundles"] == [
        {"filename": "trace-20260301T120000Z-ui.zip", "verdict": "CLEAN", "leakCount": 0, "stored": True}
    ]

    again = answer(await upload(api, content))  # the same bytes: the first attachment, nothing new
    assert again["created"] is False and again["bundle"]["sha256"] == bundle["sha256"]
    assert await rows(api) == 1
    assert await api.audit_count() == audit_before + 2  # no second storage call either


async def test_a_bundle_with_leaks_lists_where_never_what(api: Api, tmp_path: Path) -> None:
    await diagnostics_case(api, "case_diag")
    files = bundles.clean_files()
    files["logs/app.log"] = "2026-03-01T11:59:00Z INFO login user=juan.perez@gmail.com ok\n"
    files["trace.json"] = bundles.trace(
        [bundles.span("s1", "client.sync", attributes={"enduser.id": "maria.lopez@hotmail.com"})]
    )
    content = bundle_bytes(tmp_path, "leaky.zip", files)

    result = answer(await upload(api, content))

    bundle = result["bundle"]
    assert bundle["verdict"] == "LEAKS" and bundle["stored"] is True
    assert bundle["leakCount"] == 2
    leaks = {(leak["file"], leak["path"], leak["kind"]) for leak in bundle["leaks"]}
    assert leaks == {
        ("trace.json", '$.spans[0].attributes["enduser.id"]', "EMAIL"),
        ("logs/app.log", None, "EMAIL"),
    }
    in_log = next(leak for leak in bundle["leaks"] if leak["file"] == "logs/app.log")
    assert in_log["offset"] == len("2026-03-01T11:59:00Z INFO login user=")
    assert in_log["length"] == len("juan.perez@gmail.com")
    stored = json.dumps(await api.scalar("SELECT report FROM case_bundles"))
    for value in ("juan.perez", "maria.lopez", "gmail.com", "hotmail.com"):
        assert value not in stored and value not in json.dumps(bundle)


async def test_past_the_size_limit_nothing_changes(api: Api, tmp_path: Path) -> None:
    await diagnostics_case(api, "case_diag")
    audit_before = await api.audit_count()
    async with api.svc.uow() as uow:
        before = await uow.cases.get(MX, "case_diag")
    assert before is not None

    result = answer(await upload(api, b"PK" + b"\0" * LIMIT))  # one byte past the limit
    assert result == {
        "__typename": "RuleViolationError",
        "code": "BUNDLE_UPLOAD_TOO_LARGE",
        "message": f"the bundle is larger than the upload limit of {LIMIT} bytes",
    }
    # a body declared far past the limit is refused before it is read
    too_big = await upload(api, b"\0" * (2 * LIMIT + 1))
    assert too_big.status_code == 413

    assert await rows(api) == 0 and blobs(api) == []
    assert await api.audit_count() == audit_before
    async with api.svc.uow() as uow:
        after = await uow.cases.get(MX, "case_diag")
    assert after is not None and after.version == before.version
    assert after.state.timeline == before.state.timeline


async def test_outside_the_callers_country_refused_and_audited(api: Api, tmp_path: Path) -> None:
    await diagnostics_case(api, "case_co", CO)
    content = bundle_bytes(tmp_path, "clean.zip")

    result = answer(await upload(api, content, case_id="case_co", country="CO"))  # an MX agent

    assert result["__typename"] == "ForbiddenError"
    denials = await api.denials()
    assert (denials[-1]["actor_id"], denials[-1]["country_code"], denials[-1]["target_id"]) == (
        "l1-1",
        "CO",
        "case_co",
    )
    assert await rows(api) == 0 and blobs(api) == []


async def test_parties_may_not_attach(api: Api, tmp_path: Path) -> None:
    await diagnostics_case(api, "case_diag")
    result = answer(await upload(api, bundle_bytes(tmp_path, "c.zip"), headers=api.bearer(Role.BUYER)))
    assert result["__typename"] == "ForbiddenError"
    assert await rows(api) == 0 and blobs(api) == []


async def test_a_bundle_of_another_country_is_refused(api: Api, tmp_path: Path) -> None:
    await diagnostics_case(api, "case_diag")
    files = bundles.clean_files()
    files["metadata.json"] = bundles.metadata(country="CO")
    result = answer(await upload(api, bundle_bytes(tmp_path, "co.zip", files)))
    assert (result["__typename"], result["code"]) == ("RuleViolationError", "BUNDLE_COUNTRY_MISMATCH")
    assert await rows(api) == 0 and blobs(api) == []


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param({"snapshot.json": {"captured_at": "not a time"}}, id="malformed snapshot"),
        pytest.param({"trace.json": None}, id="missing trace"),
        pytest.param(
            {"metadata.json": bundles.metadata(country="CO", channel=7)}, id="metadata breaks its schema"
        ),
        pytest.param(
            {"metadata.json": bundles.metadata(country="CO", telemetry_consent={"granted": False})},
            id="no consent",
        ),
    ],
)
async def test_a_refused_bundle_of_another_country_is_refused_too(
    api: Api, tmp_path: Path, broken: dict[str, object]
) -> None:
    """D102: a bundle the inspection refuses (malformed, no consent) but whose metadata names
    another country is still that country's data: refused before anything is kept."""
    await diagnostics_case(api, "case_diag")
    files: dict[str, object] = {**bundles.clean_files(), "metadata.json": bundles.metadata(country="CO")}
    files.update(broken)
    content = bundle_bytes(tmp_path, "co.zip", {name: doc for name, doc in files.items() if doc is not None})
    audit_before = await api.audit_count()

    result = answer(await upload(api, content))

    assert (result["__typename"], result["code"]) == ("RuleViolationError", "BUNDLE_COUNTRY_MISMATCH")
    assert await rows(api) == 0 and blobs(api) == []
    assert await api.audit_count() == audit_before


async def test_a_refused_bundle_of_the_case_country_is_kept_as_refused(api: Api, tmp_path: Path) -> None:
    """The other side of D102: the same malformed bundle naming the case's own country is
    attached as MALFORMED, as before."""
    await diagnostics_case(api, "case_diag")
    files = {**bundles.clean_files(), "snapshot.json": {"captured_at": "not a time"}}
    result = answer(await upload(api, bundle_bytes(tmp_path, "mx.zip", files)))
    assert (result["bundle"]["verdict"], result["bundle"]["stored"]) == ("MALFORMED", True)
    assert await rows(api) == 1


async def test_without_consent_the_verdict_is_kept_not_the_bytes(api: Api, tmp_path: Path) -> None:
    await diagnostics_case(api, "case_diag")
    files = bundles.clean_files()
    files["metadata.json"] = bundles.metadata(
        telemetry_consent={"granted": False, "recorded_at": "2026-02-26T12:00:00Z"}
    )

    result = answer(await upload(api, bundle_bytes(tmp_path, "noconsent.zip", files)))

    bundle = result["bundle"]
    assert (bundle["verdict"], bundle["stored"], bundle["leaks"]) == ("NO_CONSENT", False, [])
    assert bundle["report"]["refusal"]["code"] == "TELEMETRY_CONSENT_MISSING"
    assert blobs(api) == []
    assert await api.scalar("SELECT blob_key FROM case_bundles") is None
    # the bytes were not kept, so the storage was never called: no provider.call entry
    assert await api.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'provider.call'") == 0


async def test_a_malformed_bundle_is_kept_as_malformed(api: Api) -> None:
    await diagnostics_case(api, "case_diag")
    result = answer(await upload(api, b"this is not a zip archive"))
    bundle = result["bundle"]
    assert (bundle["verdict"], bundle["stored"]) == ("MALFORMED", True)
    assert bundle["report"]["refusal"]["code"] == "BUNDLE_NOT_A_ZIP"


async def test_multipart_without_credentials_is_refused_before_parsing(api: Api, tmp_path: Path) -> None:
    response = await upload(api, bundle_bytes(tmp_path, "c.zip"), headers={})
    assert response.status_code == 400
    assert "Authorization" in response.json()["detail"]

"""Diagnostics tickets over GraphQL (D56), ``Case.bundles`` (one query per page of cases) and
what the retention purge leaves visible (D57), on SQLite and PostgreSQL.

Bundles are built in the test (tests/fakes/bundles.py); the storage is the sandbox's
content-addressed disk storage in a temporary directory; the upload limit is 64 KiB.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from application.diagnostics.purge import PurgeBundles, purge_expired_case_bundles
from application.security.principal import Role
from application.security.scope import ALL, scoped_to
from interfaces.graphql.cases import types as case_types
from interfaces.settings import Settings
from tests.fakes import bundles
from tests.integration.api.conftest import CO, START, Api, serving
from tests.integration.scenario import SYSTEM

LIMIT = 64 * 1024
BUNDLE_FIELDS = "filename sha256 stored purgedAt verdict leakCount"
OPEN = f"""
mutation Open($input: DiagnosticsTicketOpenInput!) {{
  diagnosticsTicketOpen(input: $input) {{
    __typename
    ... on Error {{ code message }}
    ... on InvalidInputError {{ field }}
    ... on DiagnosticsTicketOpenSuccess {{
      case {{
        id kind severity tier status title subjectRef orderId
        clocks {{ kind deadline }}
        timeline {{ kind data {{ key value }} }}
        bundles {{ {BUNDLE_FIELDS} }}
      }}
      bundle {{ {BUNDLE_FIELDS} }}
      bundleError {{ code message }}
    }}
  }}
}}
"""
QUEUE = f"""
query {{
  cases(countryCode: "MX", filter: {{kinds: [DIAGNOSTICS]}}, first: 20) {{
    __typename
    ... on CaseConnection {{ nodes {{ id bundles {{ {BUNDLE_FIELDS} }} }} }}
  }}
}}
"""
LIST = f"""
query List($caseId: String!) {{
  caseBundles(countryCode: "MX", caseId: $caseId) {{
    __typename
    ... on CaseBundleList {{ bundles {{ {BUNDLE_FIELDS} }} }}
  }}
}}
"""


@pytest.fixture
async def api(app_url: str, engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Api]:
    settings = Settings(
        database_url=app_url,
        environment="development",
        bundle_upload_max_bytes=LIMIT,
        blob_dir=tmp_path / "blobs",
    )
    async with serving(settings, engine) as api:
        yield api


def ticket_input(**changes: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "countryCode": "MX",
        "customerId": "cus_8f14e45f",
        "channel": "android",
        "summary": "Payments time out after the update",
        "severity": "SEV2",
    }
    fields.update(changes)
    return fields


async def open_ticket(api: Api, role: Role = Role.L1, **changes: Any) -> dict[str, Any]:
    data = await api.gql(OPEN, {"input": ticket_input(**changes)}, api.bearer(role))
    result: dict[str, Any] = data["diagnosticsTicketOpen"]
    return result


async def open_with_bundle(
    api: Api, tmp_path: Path, name: str, files: dict[str, object] | None = None, **changes: Any
) -> dict[str, Any]:
    content = bundles.write_bundle(tmp_path / name, files).read_bytes()
    operations = {"query": OPEN, "variables": {"input": {**ticket_input(**changes), "file": None}}}
    with scoped_to(None):
        response = await api.client.post(
            "/graphql",
            data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.file"]})},
            files={"0": ("trace-20260301T120000Z-android.zip", content, "application/zip")},
            headers=api.bearer(Role.L1),
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]["diagnosticsTicketOpen"]
    return result


async def test_support_opens_a_ticket_for_a_customer(api: Api) -> None:
    audit_before = await api.audit_count()

    result = await open_ticket(api, severity="SEV1")

    assert result["__typename"] == "DiagnosticsTicketOpenSuccess", result
    case = result["case"]
    assert (case["kind"], case["severity"], case["tier"], case["status"]) == (
        "DIAGNOSTICS",
        "SEV1",
        "L1",
        "NEW",
    )
    assert case["subjectRef"] == "cus_8f14e45f" and case["orderId"] is None
    assert case["title"] == "Payments time out after the update"
    clocks = {clock["kind"]: clock["deadline"] for clock in case["clocks"]}
    assert clocks["ACKNOWLEDGE"] == (START + timedelta(minutes=30)).isoformat()
    assert clocks["MITIGATE"] == (START + timedelta(hours=4)).isoformat()
    noted = case["timeline"][1]
    assert noted["kind"] == "ACTION"
    assert {d["key"]: d["value"] for d in noted["data"]} == {
        "action": "diagnostics_ticket_opened",
        "channel": "android",
        "customer_id": "cus_8f14e45f",
    }
    assert case["bundles"] == [] and result["bundle"] is None and result["bundleError"] is None
    assert await api.audit_count() == audit_before + 1
    assert await api.scalar("SELECT action FROM audit_log ORDER BY sequence DESC LIMIT 1") == "case.opened"


async def test_sev0_and_bad_channels_are_refused_and_nothing_changes(api: Api) -> None:
    audit_before = await api.audit_count()

    sev0 = await open_ticket(api, severity="SEV0")
    channel = await open_ticket(api, channel="Android App")

    assert sev0 == {
        "__typename": "RuleViolationError",
        "code": "SEVERITY_NOT_COVERED",
        "message": "the MX SLA policy for DIAGNOSTICS cases has no targets for SEV0",
    }
    assert channel["__typename"] == "InvalidInputError" and channel["field"] == "channel"
    assert await api.scalar("SELECT COUNT(*) FROM cases") == 0
    assert await api.audit_count() == audit_before


async def test_parties_and_other_countries_are_refused_and_audited(api: Api) -> None:
    buyer = await api.gql(OPEN, {"input": ticket_input()}, api.bearer(Role.BUYER, subject="buy_1"))
    colombian = await api.gql(OPEN, {"input": ticket_input()}, api.bearer(Role.L3, CO))

    assert buyer["diagnosticsTicketOpen"]["code"] == "FORBIDDEN"
    assert colombian["diagnosticsTicketOpen"]["code"] == "FORBIDDEN"
    assert [(d["actor_role"], d["target_type"]) for d in await api.denials()] == [
        ("BUYER", "customer"),
        ("L3", "customer"),
    ]
    assert await api.scalar("SELECT COUNT(*) FROM cases") == 0


async def test_a_ticket_with_its_first_bundle_in_one_request(api: Api, tmp_path: Path) -> None:
    result = await open_with_bundle(api, tmp_path, "clean.zip")

    assert result["__typename"] == "DiagnosticsTicketOpenSuccess", result
    assert result["bundleError"] is None
    bundle = result["bundle"]
    assert bundle["verdict"] == "CLEAN" and bundle["stored"] is True and bundle["purgedAt"] is None
    assert result["case"]["bundles"] == [bundle]
    assert [entry["kind"] for entry in result["case"]["timeline"]] == ["OPENED", "ACTION", "ACTION"]


async def test_a_bundle_of_another_country_is_answered_next_to_the_open_ticket(
    api: Api, tmp_path: Path
) -> None:
    files = {**bundles.clean_files(), "metadata.json": bundles.metadata(country="CO")}

    result = await open_with_bundle(api, tmp_path, "co.zip", files)

    assert result["__typename"] == "DiagnosticsTicketOpenSuccess", result
    assert result["bundle"] is None and result["case"]["bundles"] == []
    assert result["bundleError"]["code"] == "BUNDLE_COUNTRY_MISMATCH"
    assert await api.scalar("SELECT COUNT(*) FROM cases") == 1
    assert await api.scalar("SELECT COUNT(*) FROM case_bundles") == 0


async def test_the_queue_loads_every_cases_bundles_in_one_query(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    leaky = bundles.clean_files()
    leaky["logs/app.log"] = "2026-03-01T11:59:00Z INFO login user=juan.perez@gmail.com ok\n"
    for index in range(3):
        await open_with_bundle(api, tmp_path, f"b{index}.zip", leaky if index == 1 else None)
    await open_ticket(api)  # a ticket without a bundle
    loaded_alone: list[str] = []  # the page preloads the bundles: no case loads its own (D143)
    load_alone = case_types._load_case_bundles

    def recording(root: Any, info: Any) -> Any:
        loaded_alone.append(root.id)
        return load_alone(root, info)

    monkeypatch.setattr(case_types, "_load_case_bundles", recording)

    with api.sql.counting() as statements:
        data = await api.gql(QUEUE, None, api.bearer(Role.L2))
    assert loaded_alone == []

    nodes = data["cases"]["nodes"]
    assert len(nodes) == 4
    verdicts = sorted(b["verdict"] for node in nodes for b in node["bundles"])
    assert verdicts == ["CLEAN", "CLEAN", "LEAKS"]
    assert sum(1 for node in nodes if node["bundles"] == []) == 1
    assert sum(1 for s in statements if "FROM case_bundles" in s) == 1


async def test_an_auditor_reads_bundles_a_partner_does_not_reach_cases(api: Api, tmp_path: Path) -> None:
    await open_with_bundle(api, tmp_path, "a.zip")

    data = await api.gql(QUEUE, None, api.bearer(Role.AUDITOR))

    (node,) = data["cases"]["nodes"]
    assert [b["verdict"] for b in node["bundles"]] == ["CLEAN"]


async def test_after_the_purge_the_bundle_shows_purged_and_not_stored(api: Api, tmp_path: Path) -> None:
    opened = await open_with_bundle(api, tmp_path, "old.zip")
    case_id = opened["case"]["id"]
    api.clock.advance(timedelta(days=31))
    storage = api.container.bundles().storage

    with scoped_to(ALL):
        report = await purge_expired_case_bundles(api.svc, SYSTEM, storage, PurgeBundles(30))

    assert [b.case_id for b in report.purged] == [case_id]
    data = await api.gql(LIST, {"caseId": case_id}, api.bearer(Role.L1))
    (bundle,) = data["caseBundles"]["bundles"]
    assert bundle["stored"] is False
    assert bundle["purgedAt"] == api.clock.now().isoformat()
    assert bundle["verdict"] == "CLEAN" and bundle["sha256"] == opened["bundle"]["sha256"]
    queue = await api.gql(QUEUE, None, api.bearer(Role.L1))
    assert queue["cases"]["nodes"][0]["bundles"] == [bundle]

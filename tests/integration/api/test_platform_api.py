"""Platform incidents and the case report over GraphQL: open (L2), update to MITIGATED,
close (L3) with its review, read both back; the monthly report; country scope."""

from __future__ import annotations

from datetime import timedelta

from application.security.principal import Role
from tests.integration.api.conftest import CO, MX, Api

INCIDENT = """
    id countryCode severity title status caseId updateDueAt rootCause orderIds caseIds version
    actionItems { description owner }
    updates { sequence text status author { actorId role } }
    timeline { sequence kind summary }
"""
OPEN = (
    "mutation($i: PlatformIncidentOpenInput!) { platformIncidentOpen(input: $i) { __typename"
    f" ... on PlatformIncidentSuccess {{ incident {{ {INCIDENT} }} }} ... on Error {{ code message }} }} }}"
)
UPDATE = (
    "mutation($i: PlatformIncidentUpdateInput!) { platformIncidentUpdate(input: $i) { __typename"
    f" ... on PlatformIncidentSuccess {{ incident {{ {INCIDENT} }} }} ... on Error {{ code message }} }} }}"
)
CLOSE = (
    "mutation($i: PlatformIncidentCloseInput!) { platformIncidentClose(input: $i) { __typename"
    f" ... on PlatformIncidentCloseSuccess {{ incident {{ {INCIDENT} }}"
    " review { incidentId markdown ordersAffected casesAffected disputes refunded { minor currency } } }"
    " ... on Error { code message } } }"
)
READ = (
    "query($c: String!, $id: String!) { platformIncident(countryCode: $c, id: $id) { __typename"
    f" ... on PlatformIncident {{ {INCIDENT} }} ... on Error {{ code }} }}"
    " postIncidentReview(countryCode: $c, incidentId: $id) { __typename"
    " ... on PostIncidentReview { markdown ordersAffected writtenBy { role } } ... on Error { code } } }"
)
REPORT = (
    "query($c: String!, $m: String!) { caseReport(countryCode: $c, month: $m) { __typename"
    " ... on CaseReport { countryCode month cases disputes resolved markdown"
    "   byKindSeverity { kind severity cases } acknowledge { count p50Seconds p90Seconds }"
    "   sla { severity clocksMet clocksBreached complianceBp } byTier { tier resolved shareBp }"
    "   satisfaction { ratings averageHundredths } refunded { minor currency } }"
    " ... on Error { code message } } }"
)


async def test_open_update_close_and_read_back(api: Api) -> None:
    await api.order("o1")
    l2, l3, l1 = api.bearer(Role.L2), api.bearer(Role.L3), api.bearer(Role.L1)
    opened = await api.gql(
        OPEN,
        {"i": {"countryCode": "MX", "severity": "SEV0", "title": "Checkout down", "orderIds": ["o1"]}},
        l2,
    )
    result = opened["platformIncidentOpen"]
    assert result["__typename"] == "PlatformIncidentSuccess", result
    incident = result["incident"]
    assert (incident["status"], incident["orderIds"], incident["severity"]) == ("OPEN", ["o1"], "SEV0")
    assert incident["updateDueAt"] == (api.clock.now() + timedelta(minutes=15)).isoformat()  # SEV0: 15 min

    api.clock.advance(timedelta(minutes=10))
    updated = await api.gql(
        UPDATE,
        {
            "i": {
                "countryCode": "MX",
                "incidentId": incident["id"],
                "text": "Failed over",
                "status": "MITIGATED",
            }
        },
        l2,
    )
    mitigated = updated["platformIncidentUpdate"]["incident"]
    assert mitigated["status"] == "MITIGATED"
    assert mitigated["updates"] == [
        {
            "sequence": 1,
            "text": "Failed over",
            "status": "MITIGATED",
            "author": {"actorId": "l2-1", "role": "L2"},
        }
    ]

    refused = await api.gql(
        CLOSE, {"i": {"countryCode": "MX", "incidentId": incident["id"], "rootCause": "r"}}, l2
    )
    assert refused["platformIncidentClose"]["__typename"] == "ForbiddenError"
    api.clock.advance(timedelta(minutes=20))
    closed = await api.gql(
        CLOSE,
        {
            "i": {
                "countryCode": "MX",
                "incidentId": incident["id"],
                "rootCause": "A bad deploy of the checkout service",
                "actionItems": [{"description": "Canary deploys", "owner": "platform-team"}],
            }
        },
        l3,
    )
    answer = closed["platformIncidentClose"]
    assert answer["__typename"] == "PlatformIncidentCloseSuccess", answer
    assert answer["incident"]["status"] == "CLOSED"
    assert answer["incident"]["actionItems"] == [{"description": "Canary deploys", "owner": "platform-team"}]
    review = answer["review"]
    assert (review["ordersAffected"], review["casesAffected"], review["disputes"], review["refunded"]) == (
        1,
        0,
        0,
        [],
    )
    assert "## Root cause\n\nA bad deploy of the checkout service" in review["markdown"]
    assert "| 1 | Canary deploys | platform-team |" in review["markdown"]

    read = await api.gql(READ, {"c": "MX", "id": incident["id"]}, l1)
    assert read["platformIncident"]["status"] == "CLOSED"
    assert [e["kind"] for e in read["platformIncident"]["timeline"]][-2:] == ["RESOLVED", "CLOSED"]
    assert read["postIncidentReview"] == {
        "__typename": "PostIncidentReview",
        "markdown": review["markdown"],
        "ordersAffected": 1,
        "writtenBy": {"role": "L3"},
    }
    elsewhere = await api.gql(READ, {"c": "CO", "id": incident["id"]}, api.bearer(Role.L1, MX, CO))
    assert elsewhere["platformIncident"] == {"__typename": "NotFoundError", "code": "NOT_FOUND"}
    assert elsewhere["postIncidentReview"] == {"__typename": "NotFoundError", "code": "NOT_FOUND"}

    report = await api.gql(REPORT, {"c": "MX", "m": "2026-03"}, api.bearer(Role.AUDITOR))
    data = report["caseReport"]
    assert data["__typename"] == "CaseReport", data
    assert (data["cases"], data["resolved"], data["disputes"]) == (1, 1, 0)
    assert {"kind": "PLATFORM_INCIDENT", "severity": "SEV0", "cases": 1} in data["byKindSeverity"]
    assert data["acknowledge"] == {"count": 1, "p50Seconds": 0, "p90Seconds": 0}  # acknowledged on opening
    assert {"tier": "L3", "resolved": 1, "shareBp": 10_000} in data["byTier"]
    sev0 = next(line for line in data["sla"] if line["severity"] == "SEV0")
    # met: acknowledged at once, mitigated in 10 min, the first update period (posted at +10);
    # breached: the second update period, due at +25 and still running at the close (+30)
    assert (sev0["clocksMet"], sev0["clocksBreached"]) == (3, 1)
    assert data["markdown"].startswith("# Case report MX 2026-03")
    bad = await api.gql(REPORT, {"c": "MX", "m": "March"}, api.bearer(Role.AUDITOR))
    assert bad["caseReport"]["__typename"] == "InvalidInputError"


CASE_CHANGE = (
    "mutation($i: {input}!) {{ {name}(input: $i) {{ __typename"
    " ... on CaseChangeSuccess {{ case {{ id status version }} }} ... on Error {{ code message }} }} }}"
)


async def test_the_incident_s_own_case_refuses_ordinary_status_changes(api: Api) -> None:
    """D46: the incident's own case moves with the incident; caseStatusUpdate and
    caseWaitOnCustomer answer the typed rule violation and change nothing, while
    caseAssign works and the incident still mitigates."""
    l1, l2 = api.bearer(Role.L1), api.bearer(Role.L2)
    opened = await api.gql(
        OPEN, {"i": {"countryCode": "MX", "severity": "SEV1", "title": "Payments down"}}, l2
    )
    incident = opened["platformIncidentOpen"]["incident"]
    case_id, incident_id = incident["caseId"], incident["id"]
    audited = await api.audit_count()

    update = CASE_CHANGE.format(name="caseStatusUpdate", input="CaseStatusUpdateInput")
    for status, bearer in (("RESOLVED", l2), ("CLOSED", l2), ("MITIGATED", l1), (None, l1)):
        refused = await api.gql(
            update, {"i": {"countryCode": "MX", "caseId": case_id, "text": "done", "status": status}}, bearer
        )
        answer = refused["caseStatusUpdate"]
        assert answer["__typename"] == "RuleViolationError", (status, answer)
        assert answer["code"] == "CASE_FOLLOWS_PLATFORM_INCIDENT"
        assert incident_id in answer["message"]
    wait = CASE_CHANGE.format(name="caseWaitOnCustomer", input="CaseWaitOnCustomerInput")
    waited = await api.gql(wait, {"i": {"countryCode": "MX", "caseId": case_id, "reason": "asked"}}, l2)
    assert waited["caseWaitOnCustomer"]["code"] == "CASE_FOLLOWS_PLATFORM_INCIDENT"
    assert await api.audit_count() == audited  # nothing written, nothing audited

    assign = CASE_CHANGE.format(name="caseAssign", input="CaseAssignInput")
    assigned = await api.gql(assign, {"i": {"countryCode": "MX", "caseId": case_id, "assignee": "l2-9"}}, l2)
    assert assigned["caseAssign"]["__typename"] == "CaseChangeSuccess", assigned
    assert assigned["caseAssign"]["case"]["status"] == "ACKNOWLEDGED"

    mitigated = await api.gql(
        UPDATE,
        {"i": {"countryCode": "MX", "incidentId": incident_id, "text": "Failed over", "status": "MITIGATED"}},
        l2,
    )
    assert mitigated["platformIncidentUpdate"]["incident"]["status"] == "MITIGATED", mitigated

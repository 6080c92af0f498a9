"""Cases and incidents over GraphQL: the work queue, one case, and every mutation.

Incidents are opened through ``incidentOpen`` (L0 then routes them by severity: SEV0 to
L3, SEV1 to L2, SEV2 to L1 acknowledged at once). Incident SLA targets (D38): SEV0
acknowledge 5 min / mitigate 30 min, SEV1 10 / 60 min, SEV2 mitigate 240 min with
status updates every 120 min; all 24x7, so deadlines are exact from the fixed clock.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from application.cases.scheduler import SlaBreaches
from application.security.principal import Role
from domain.orders import OrderStatus
from tests.integration.api.conftest import CO, MX, START, Api

CASE_BODY = """
    id countryCode kind severity tier status title assignee orderId incidentType breaches
    nextDeadline version resolution resolvedTier
    clocks { kind state deadline remainingSeconds overdue breachedAt target { basis description } }
    timeline { sequence kind summary actor { actorId role } data { key value } }
    rating { score comment }
    order { id status }
"""
CASE_FIELDS = f"... on Case {{ {CASE_BODY} }} ... on Error {{ code message }}"
QUEUE = (
    "query($c: String!, $f: CaseFilter, $first: Int!, $after: String) {"
    " cases(countryCode: $c, filter: $f, first: $first, after: $after) {"
    " __typename ... on CaseConnection { nodes { id severity tier status }"
    " pageInfo { hasNextPage endCursor } }"
    " ... on Error { code } } }"
)
CASE = f"query($c: String!, $id: String!) {{ case(countryCode: $c, id: $id) {{ __typename {CASE_FIELDS} }} }}"
OPEN = (
    "mutation($i: IncidentOpenInput!) { incidentOpen(input: $i) { __typename"
    f" ... on IncidentOpenSuccess {{ case {{ {CASE_BODY} }} order {{ id status }} }}"
    " ... on Error { code message } } }"
)
ACTION = (
    "mutation($i: IncidentActionInput!) { incidentAction(input: $i) { __typename"
    " ... on IncidentActionSuccess { orderStatus ledgerKeys case { id status resolution }"
    "   dispute { id origin status orderId decision { outcome } } refund { minor currency } }"
    " ... on Error { code message } } }"
)


def change(name: str, input_type: str) -> str:
    return (
        f"mutation($i: {input_type}!) {{ {name}(input: $i) {{ __typename"
        f" ... on CaseChangeSuccess {{ case {{ {CASE_BODY} }} }}"
        " ... on Error { code message } } }"
    )


async def open_incident(
    api: Api, order_id: str, severity: str, *, country: str = "MX", role: Role = Role.L2
) -> dict[str, Any]:
    code = CO if country == "CO" else MX
    await api.order(order_id, country=code, until=OrderStatus.IN_TRANSIT)
    data = await api.gql(
        OPEN,
        {
            "i": {
                "countryCode": country,
                "orderId": order_id,
                "type": "SELLER_UNRESPONSIVE",
                "severity": severity,
                "title": f"{severity} on {order_id}",
            }
        },
        api.bearer(role, code),
    )
    answer: dict[str, Any] = data["incidentOpen"]
    assert answer["__typename"] == "IncidentOpenSuccess", answer
    return answer


async def queue(
    api: Api, headers: dict[str, str], first: int = 50, after: str | None = None, **f: Any
) -> Any:
    data = await api.gql(QUEUE, {"c": "MX", "f": f or None, "first": first, "after": after}, headers)
    return data["cases"]


async def three_incidents(api: Api) -> dict[str, str]:
    """SEV2 first, then SEV0, then SEV1, all at START; and one SEV0 in Colombia."""
    ids = {}
    for order_id, severity in (("ord_s2", "SEV2"), ("ord_s0", "SEV0"), ("ord_s1", "SEV1")):
        ids[severity] = (await open_incident(api, order_id, severity))["case"]["id"]
    ids["CO"] = (await open_incident(api, "ord_co", "SEV0", country="CO"))["case"]["id"]
    return ids


async def test_the_work_queue_is_ordered_by_the_nearest_deadline_and_paginated(api: Api) -> None:
    ids = await three_incidents(api)
    l1 = api.bearer(Role.L1, MX)

    first = await queue(api, l1, first=2)
    assert [(n["id"], n["severity"], n["tier"], n["status"]) for n in first["nodes"]] == [
        (ids["SEV0"], "SEV0", "L3", "NEW"),  # acknowledge due at +5 min
        (ids["SEV1"], "SEV1", "L2", "NEW"),  # acknowledge due at +10 min
    ]
    assert first["pageInfo"]["hasNextPage"] is True
    second = await queue(api, l1, first=2, after=first["pageInfo"]["endCursor"])
    assert [n["id"] for n in second["nodes"]] == [ids["SEV2"]]  # status update due at +120 min
    assert second["pageInfo"] == {"hasNextPage": False, "endCursor": None}
    # the Colombian case is in no page of Mexico's queue
    assert ids["CO"] not in {n["id"] for n in first["nodes"] + second["nodes"]}

    bad = await queue(api, l1, after="not-a-cursor")
    assert bad == {"__typename": "InvalidInputError", "code": "INVALID_INPUT"}


async def test_the_work_queue_filters(api: Api) -> None:
    ids = await three_incidents(api)
    dispute = await api.dispute("ord_dsp")  # every dispute opens a DISPUTE case
    l1 = api.bearer(Role.L1, MX)

    async def found(**f: Any) -> list[str]:
        return [n["id"] for n in (await queue(api, l1, **f))["nodes"]]

    incidents = ["ORDER_INCIDENT"]
    assert await found(kinds=incidents, severities=["SEV2"]) == [ids["SEV2"]]
    assert await found(kinds=incidents, tiers=["L3"]) == [ids["SEV0"]]
    assert await found(kinds=incidents, statuses=["ACKNOWLEDGED"]) == [ids["SEV2"]]
    assert await found(kinds=["ORDER_INCIDENT"], severities=["SEV0", "SEV1"]) == [ids["SEV0"], ids["SEV1"]]
    dispute_cases = await found(kinds=["DISPUTE"])
    assert len(dispute_cases) == 1
    assert await found(orderId="ord_dsp") == dispute_cases
    assert dispute.order_id == "ord_dsp"

    # at risk: a running clock due within 60 minutes by default, or the horizon given
    assert await found(kinds=["ORDER_INCIDENT"], atRisk=True) == [ids["SEV0"], ids["SEV1"]]
    assert await found(kinds=["ORDER_INCIDENT"], atRisk=True, atRiskWithinMinutes=8) == [ids["SEV0"]]
    assert await found(kinds=["ORDER_INCIDENT"], atRisk=True, atRiskWithinMinutes=180) == [
        ids["SEV0"],
        ids["SEV1"],
        ids["SEV2"],
    ]
    too_far = await queue(api, l1, atRisk=True, atRiskWithinMinutes=0)
    assert too_far == {"__typename": "InvalidInputError", "code": "INVALID_INPUT"}

    # assignee
    assigned = await api.gql(
        change("caseAssign", "CaseAssignInput"),
        {"i": {"countryCode": "MX", "caseId": ids["SEV1"], "assignee": "agent-7"}},
        api.bearer(Role.L2, MX),
    )
    assert assigned["caseAssign"]["case"]["assignee"] == "agent-7"
    assert await found(assignee="agent-7") == [ids["SEV1"]]

    # breached: six minutes on, the scheduler marks SEV0's acknowledge clock
    api.clock.advance(timedelta(minutes=6))
    breached = await SlaBreaches()(api.svc, api.clock.now())
    assert await found(kinds=incidents, breached=True) == [ids["SEV0"]]
    assert await found(kinds=incidents, breached=False) == [ids["SEV1"], ids["SEV2"]]
    assert breached == 2  # the SEV0 acknowledge clocks of Mexico and of Colombia
    assert await found(breached=True) == [ids["SEV0"]]


async def test_one_case_with_its_clocks_timeline_and_frozen_order(api: Api) -> None:
    opened = await open_incident(api, "ord_1", "SEV0")
    case_id = opened["case"]["id"]
    assert opened["order"] == {"id": "ord_1", "status": "FROZEN"}  # the payout is held

    api.clock.advance(timedelta(minutes=2))
    data = await api.gql(CASE, {"c": "MX", "id": case_id}, api.bearer(Role.AUDITOR, MX))
    case = data["case"]
    assert case["__typename"] == "Case"
    assert (case["kind"], case["severity"], case["tier"], case["status"]) == (
        "ORDER_INCIDENT",
        "SEV0",
        "L3",
        "NEW",
    )
    assert (case["orderId"], case["incidentType"], case["order"]) == (
        "ord_1",
        "SELLER_UNRESPONSIVE",
        {"id": "ord_1", "status": "FROZEN"},
    )
    clocks = {clock["kind"]: clock for clock in case["clocks"]}
    assert set(clocks) == {"ACKNOWLEDGE", "MITIGATE"}
    ack = clocks["ACKNOWLEDGE"]
    assert (ack["state"], ack["remainingSeconds"], ack["overdue"], ack["breachedAt"]) == (
        "RUNNING",
        180,
        False,
        None,
    )
    assert ack["target"] == {"basis": "CONTINUOUS", "description": "5 min, 24x7"}
    assert ack["deadline"] == (START + timedelta(minutes=5)).isoformat()
    assert clocks["MITIGATE"]["remainingSeconds"] == 28 * 60
    assert case["nextDeadline"] == ack["deadline"]
    assert case["timeline"][0]["kind"] == "OPENED"
    assert case["timeline"][0]["actor"] == {"actorId": "l2-1", "role": "L2"}
    assert case["rating"] is None


async def test_another_countrys_case_is_never_returned(api: Api) -> None:
    co_case = (await open_incident(api, "ord_co", "SEV2", country="CO"))["case"]["id"]
    both = api.bearer(Role.L1, MX, CO)

    # asked for in the wrong country, even by a caller of both: not found
    data = await api.gql(CASE, {"c": "MX", "id": co_case}, both)
    assert data["case"]["__typename"] == "NotFoundError"
    assert (await api.gql(CASE, {"c": "CO", "id": co_case}, both))["case"]["id"] == co_case
    acked = await api.gql(
        change("caseEscalate", "CaseEscalateInput"),
        {"i": {"countryCode": "MX", "caseId": co_case, "reason": "r"}},
        both,
    )
    assert acked["caseEscalate"]["__typename"] == "NotFoundError"

    # a caller of Mexico only asking Colombia: forbidden, and the denial is audited
    before = len(await api.denials())
    mx_only = api.bearer(Role.L1, MX, subject="agent-mx")
    refused = await api.gql(CASE, {"c": "CO", "id": co_case}, mx_only)
    assert refused["case"]["__typename"] == "ForbiddenError"
    denials = await api.denials()
    assert len(denials) == before + 1
    assert (denials[-1]["actor_id"], denials[-1]["country_code"], denials[-1]["target_id"]) == (
        "agent-mx",
        "CO",
        co_case,
    )
    queue_co = await api.gql(QUEUE, {"c": "CO", "f": None, "first": 10, "after": None}, mx_only)
    assert queue_co["cases"] == {"__typename": "ForbiddenError", "code": "FORBIDDEN"}


async def test_acknowledge_assign_escalate(api: Api) -> None:
    case_id = (await open_incident(api, "ord_1", "SEV1"))["case"]["id"]  # NEW at L2
    l2 = api.bearer(Role.L2, MX)

    refused = await api.gql(
        change("caseAcknowledge", "CaseAcknowledgeInput"),
        {"i": {"countryCode": "MX", "caseId": case_id}},
        api.bearer(Role.BUYER, MX),
    )
    assert refused["caseAcknowledge"]["__typename"] == "ForbiddenError"

    acked = (
        await api.gql(
            change("caseAcknowledge", "CaseAcknowledgeInput"),
            {"i": {"countryCode": "MX", "caseId": case_id}},
            l2,
        )
    )["caseAcknowledge"]["case"]
    clocks = {clock["kind"]: clock["state"] for clock in acked["clocks"]}
    assert acked["status"] == "ACKNOWLEDGED"
    assert clocks == {"ACKNOWLEDGE": "STOPPED", "MITIGATE": "RUNNING", "STATUS_UPDATE": "RUNNING"}
    again = await api.gql(
        change("caseAcknowledge", "CaseAcknowledgeInput"), {"i": {"countryCode": "MX", "caseId": case_id}}, l2
    )
    assert again["caseAcknowledge"]["__typename"] == "RuleViolationError"

    assign_refused = await api.gql(
        change("caseAssign", "CaseAssignInput"),
        {"i": {"countryCode": "MX", "caseId": case_id, "assignee": "agent-2"}},
        api.bearer(Role.AUDITOR, MX),
    )
    assert assign_refused["caseAssign"]["__typename"] == "ForbiddenError"
    assigned = await api.gql(
        change("caseAssign", "CaseAssignInput"),
        {"i": {"countryCode": "MX", "caseId": case_id, "assignee": "agent-2"}},
        l2,
    )
    assert assigned["caseAssign"]["case"]["assignee"] == "agent-2"

    escalate_refused = await api.gql(
        change("caseEscalate", "CaseEscalateInput"),
        {"i": {"countryCode": "MX", "caseId": case_id, "reason": "needs L3"}},
        api.bearer(Role.SELLER, MX),
    )
    assert escalate_refused["caseEscalate"]["__typename"] == "ForbiddenError"
    escalated = (
        await api.gql(
            change("caseEscalate", "CaseEscalateInput"),
            {"i": {"countryCode": "MX", "caseId": case_id, "reason": "needs L3"}},
            l2,
        )
    )["caseEscalate"]["case"]
    assert (escalated["tier"], escalated["assignee"]) == ("L3", None)
    assert escalated["timeline"][-1]["summary"] == "escalated L2 -> L3: needs L3"


async def test_status_updates_wait_on_the_customer_resolve_close_and_rate(api: Api) -> None:
    case_id = (await open_incident(api, "ord_1", "SEV2"))["case"]["id"]  # ACKNOWLEDGED at L1
    l1 = api.bearer(Role.L1, MX)
    update = change("caseStatusUpdate", "CaseStatusUpdateInput")

    refused = await api.gql(
        update, {"i": {"countryCode": "MX", "caseId": case_id, "text": "t"}}, api.bearer(Role.AUDITOR, MX)
    )
    assert refused["caseStatusUpdate"]["__typename"] == "ForbiddenError"

    api.clock.advance(timedelta(minutes=30))
    posted = (
        await api.gql(update, {"i": {"countryCode": "MX", "caseId": case_id, "text": "Seller called"}}, l1)
    )["caseStatusUpdate"]["case"]
    status_clock = next(clock for clock in posted["clocks"] if clock["kind"] == "STATUS_UPDATE")
    assert status_clock["deadline"] == (START + timedelta(minutes=30 + 120)).isoformat()  # restarted
    assert posted["timeline"][-1]["summary"] == "Seller called"

    waiting = (
        await api.gql(
            change("caseWaitOnCustomer", "CaseWaitOnCustomerInput"),
            {"i": {"countryCode": "MX", "caseId": case_id, "reason": "Asked the buyer for a new address"}},
            l1,
        )
    )["caseWaitOnCustomer"]["case"]
    assert waiting["status"] == "WAITING_ON_CUSTOMER"
    assert {clock["state"] for clock in waiting["clocks"] if clock["kind"] != "ACKNOWLEDGE"} == {"PAUSED"}
    assert waiting["nextDeadline"] is None
    replied_refused = await api.gql(
        change("caseCustomerReplied", "CaseCustomerRepliedInput"),
        {"i": {"countryCode": "MX", "caseId": case_id}},
        api.bearer(Role.BUYER, MX),
    )
    assert replied_refused["caseCustomerReplied"]["__typename"] == "ForbiddenError"
    api.clock.advance(timedelta(hours=5))  # paused: no time runs out
    replied = (
        await api.gql(
            change("caseCustomerReplied", "CaseCustomerRepliedInput"),
            {"i": {"countryCode": "MX", "caseId": case_id}},
            l1,
        )
    )["caseCustomerReplied"]["case"]
    assert replied["status"] == "ACKNOWLEDGED"
    mitigate = next(clock for clock in replied["clocks"] if clock["kind"] == "MITIGATE")
    assert (mitigate["state"], mitigate["remainingSeconds"]) == ("RUNNING", (240 - 30) * 60)

    mitigated = (
        await api.gql(
            update,
            {"i": {"countryCode": "MX", "caseId": case_id, "text": "New seller", "status": "MITIGATED"}},
            l1,
        )
    )["caseStatusUpdate"]["case"]
    assert mitigated["status"] == "MITIGATED"
    resolution = {
        "i": {
            "countryCode": "MX",
            "caseId": case_id,
            "text": "Delivered by the new seller",
            "status": "RESOLVED",
            "resolution": "order delivered",
        }
    }
    by_l1 = (await api.gql(update, resolution, l1))["caseStatusUpdate"]
    assert by_l1["__typename"] == "ForbiddenError"  # resolving lifts the payout hold: L2+ (D74)
    resolved = (await api.gql(update, resolution, api.bearer(Role.L2, MX)))["caseStatusUpdate"]["case"]
    assert (resolved["status"], resolved["resolution"], resolved["resolvedTier"]) == (
        "RESOLVED",
        "order delivered",
        "L2",
    )
    assert resolved["order"]["status"] == "IN_TRANSIT"  # the hold is lifted

    # the buyer rates it, once; staff may not
    rate = (
        "mutation($i: CaseRateInput!) { caseRate(input: $i) { __typename"
        " ... on CaseRateSuccess { caseId rating { score comment ratedBy { actorId role } } }"
        " ... on Error { code } } }"
    )
    rating = {"countryCode": "MX", "caseId": case_id, "score": 5, "comment": "Quick and kind"}
    staff = await api.gql(rate, {"i": rating}, l1)
    assert staff["caseRate"] == {"__typename": "ForbiddenError", "code": "FORBIDDEN"}
    buyer = api.bearer(Role.BUYER, MX, subject="buy_1")
    rated = (await api.gql(rate, {"i": rating}, buyer))["caseRate"]
    assert rated == {
        "__typename": "CaseRateSuccess",
        "caseId": case_id,
        "rating": {"score": 5, "comment": "Quick and kind", "ratedBy": {"actorId": "buy_1", "role": "BUYER"}},
    }
    twice = (await api.gql(rate, {"i": rating}, buyer))["caseRate"]
    assert twice == {"__typename": "RuleViolationError", "code": "CASE_ALREADY_RATED"}
    other_buyer = (await api.gql(rate, {"i": rating}, api.bearer(Role.BUYER, MX, subject="buy_9")))[
        "caseRate"
    ]
    assert other_buyer == {"__typename": "NotFoundError", "code": "NOT_FOUND"}

    closing = {"i": {"countryCode": "MX", "caseId": case_id, "text": "Done", "status": "CLOSED"}}
    assert (await api.gql(update, closing, l1))["caseStatusUpdate"]["__typename"] == "ForbiddenError"
    closed = (await api.gql(update, closing, api.bearer(Role.L2, MX)))["caseStatusUpdate"]["case"]
    assert closed["status"] == "CLOSED"
    assert closed["rating"] == {"score": 5, "comment": "Quick and kind"}
    assert [entry["kind"] for entry in closed["timeline"][-2:]] == ["NOTE", "CLOSED"]


async def test_incident_open_freezes_the_order_once(api: Api) -> None:
    await api.order("ord_1", until=OrderStatus.IN_TRANSIT)
    variables = {
        "i": {
            "countryCode": "MX",
            "orderId": "ord_1",
            "type": "COURIER_UNAVAILABLE",
            "severity": "SEV2",
            "title": "No courier",
        }
    }
    refused = await api.gql(OPEN, variables, api.bearer(Role.BUYER, MX))
    assert refused["incidentOpen"]["__typename"] == "ForbiddenError"

    opened = (await api.gql(OPEN, variables, api.bearer(Role.L1, MX)))["incidentOpen"]
    assert opened["__typename"] == "IncidentOpenSuccess"
    assert opened["order"] == {"id": "ord_1", "status": "FROZEN"}
    assert (opened["case"]["kind"], opened["case"]["incidentType"], opened["case"]["title"]) == (
        "ORDER_INCIDENT",
        "COURIER_UNAVAILABLE",
        "No courier",
    )
    assert await api.scalar("SELECT status FROM orders WHERE id = 'ord_1'") == "FROZEN"
    again = (await api.gql(OPEN, variables, api.bearer(Role.L1, MX)))["incidentOpen"]
    assert (again["__typename"], again["code"]) == ("RuleViolationError", "INCIDENT_ALREADY_OPEN")


async def test_incident_actions_retry_and_operational_cancellation_returning_the_dispute(api: Api) -> None:
    case_id = (await open_incident(api, "ord_1", "SEV1"))["case"]["id"]
    retry = {
        "i": {"countryCode": "MX", "caseId": case_id, "action": "RETRY", "reason": "courier back online"}
    }
    retried = (await api.gql(ACTION, retry, api.bearer(Role.L1, MX)))["incidentAction"]
    assert retried["__typename"] == "IncidentActionSuccess"
    assert (retried["orderStatus"], retried["case"]["status"], retried["dispute"]) == ("FROZEN", "NEW", None)

    cancel = {
        "i": {"countryCode": "MX", "caseId": case_id, "action": "OPERATIONAL_CANCELLATION", "reason": "r"}
    }
    refused = (await api.gql(ACTION, cancel, api.bearer(Role.L1, MX)))["incidentAction"]
    assert (refused["__typename"], refused["code"]) == ("ForbiddenError", "FORBIDDEN")
    assert await api.scalar("SELECT status FROM orders WHERE id = 'ord_1'") == "FROZEN"

    cancelled = (await api.gql(ACTION, cancel, api.bearer(Role.L2, MX)))["incidentAction"]
    assert cancelled["__typename"] == "IncidentActionSuccess", cancelled
    assert cancelled["orderStatus"] == "CANCELLED"
    assert cancelled["case"]["status"] == "RESOLVED"
    dispute = cancelled["dispute"]
    assert (dispute["origin"], dispute["orderId"], dispute["decision"]) == (
        "OPERATIONAL_CANCELLATION",
        "ord_1",
        {"outcome": "FULL_REFUND"},
    )
    assert cancelled["refund"] == {"minor": 123_000, "currency": "MXN"}  # all the buyer paid, by the saga
    assert await api.scalar("SELECT status FROM orders WHERE id = 'ord_1'") == "CANCELLED"


REPLACE = (
    "mutation($i: IncidentActionInput!) { incidentAction(input: $i) { __typename"
    " ... on IncidentActionSuccess { orderStatus order { id courierId sellerId status }"
    "   case { timeline { summary } } }"
    " ... on InvalidInputError { field }"
    " ... on Error { code message } } }"
)


async def test_urgent_replacement_over_graphql_names_the_new_courier(api: Api) -> None:
    case_id = (await open_incident(api, "ord_1", "SEV1"))["case"]["id"]
    base = {"countryCode": "MX", "caseId": case_id, "action": "URGENT_REPLACEMENT", "replace": "COURIER"}

    missing = (await api.gql(REPLACE, {"i": base}, api.bearer(Role.L2, MX)))["incidentAction"]
    assert (missing["__typename"], missing["code"], missing["field"]) == (
        "InvalidInputError",
        "INVALID_INPUT",
        "replacementId",
    )
    too_long = {**base, "replacementId": "c" * 201}
    refused = (await api.gql(REPLACE, {"i": too_long}, api.bearer(Role.L2, MX)))["incidentAction"]
    assert (refused["__typename"], refused["field"]) == ("InvalidInputError", "replacementId")
    seller = {**base, "replace": "SELLER", "replacementId": "sel_2"}
    fixed = (await api.gql(REPLACE, {"i": seller}, api.bearer(Role.L2, MX)))["incidentAction"]
    assert (fixed["__typename"], fixed["code"]) == ("RuleViolationError", "SELLER_FIXED_BY_SNAPSHOT")
    forbidden = {**base, "replacementId": "cou_2"}
    denied = (await api.gql(REPLACE, {"i": forbidden}, api.bearer(Role.L1, MX)))["incidentAction"]
    assert denied["__typename"] == "ForbiddenError"
    assert await api.scalar("SELECT courier_id FROM orders WHERE id = 'ord_1'") == "cou_1"
    assert await api.scalar("SELECT count(*) FROM outbox_jobs WHERE kind = 'order.dispatch'") == 0

    replaced = (
        await api.gql(
            REPLACE, {"i": {**base, "replacementId": "cou_2", "reason": "flat tyre"}}, api.bearer(Role.L2, MX)
        )
    )["incidentAction"]
    assert replaced["__typename"] == "IncidentActionSuccess", replaced
    assert replaced["order"] == {"id": "ord_1", "courierId": "cou_2", "sellerId": "sel_1", "status": "FROZEN"}
    assert replaced["case"]["timeline"][-1]["summary"] == (
        "URGENT_REPLACEMENT: courier cou_1 replaced by cou_2 (flat tyre)"
    )
    assert await api.scalar("SELECT courier_id FROM orders WHERE id = 'ord_1'") == "cou_2"
    assert await api.scalar("SELECT count(*) FROM outbox_jobs WHERE kind = 'order.dispatch'") == 2
    again = (await api.gql(REPLACE, {"i": {**base, "replacementId": "cou_2"}}, api.bearer(Role.L2, MX)))[
        "incidentAction"
    ]
    assert (again["__typename"], again["code"]) == ("RuleViolationError", "ALREADY_ASSIGNED")

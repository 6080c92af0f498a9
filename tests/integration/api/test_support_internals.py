"""Support's own fields on what a partner reads (SPEC §2), over HTTP on both databases.

A partner's key - a seller org's or a payment partner's - reads its own orders and their
disputes, but not what support wrote or did there: the decider's note and id, the saga's
error text, the L3's force-complete reason, and who opened or withdrew a dispute when that
was an agent, all answer null. The outcome, the status and the times stay. Support (L2,
AUDITOR) reads every value as before; a party (here the buyer) reads what a partner reads,
except that its own act shows.
"""

from __future__ import annotations

from typing import Any

import pytest

from application.context import RequestContext
from application.disputes.use_cases import OpenDispute, StartReview, open_dispute, start_review
from application.ports.providers import ProviderFailureKind
from application.saga.executor import Providers, SagaRunner
from application.security.principal import PartnerKind, Principal, Role
from domain.disputes.codes import DisputeReason
from domain.orders import OrderStatus
from domain.shared.ids import OrderId
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.integration.api.conftest import MX, SYSTEM, Api

SELLER, PSP, BUYER = "sel_1", "psp_9", "buy_1"
NOTE = "Photos match; the seller has three similar claims this month"
FORCE_REASON = "Courier confirmed by phone; GPS feed down"
WITHDRAW_REASON = "Buyer called: found the parcel with a neighbour"

DISPUTE_FIELDS = """
  id status lastExecutionError
  openedBy { actorId role }
  decision { outcome reasonCode decidedAt evidencePackHash note decidedBy { actorId role } }
  withdrawal { withdrawnAt evidencePackHash reason withdrawnBy { actorId role } }
"""
READ = f"""
query($c: String!, $decided: String!, $withdrawn: String!) {{
  decided: dispute(countryCode: $c, id: $decided) {{
    __typename
    ... on Dispute {{ {DISPUTE_FIELDS} order {{ id forceCompleteReason }} }}
    ... on Error {{ code }}
  }}
  withdrawn: dispute(countryCode: $c, id: $withdrawn) {{
    __typename ... on Dispute {{ {DISPUTE_FIELDS} }} ... on Error {{ code }}
  }}
  forced: order(countryCode: $c, id: "ord_forced") {{
    __typename ... on Order {{ id status forceCompleted forceCompleteReason }} ... on Error {{ code }}
  }}
  disputedOrder: order(countryCode: $c, id: "ord_decided") {{
    __typename ... on Order {{ id disputes {{ {DISPUTE_FIELDS} }} }} ... on Error {{ code }}
  }}
  disputes(countryCode: $c) {{
    __typename ... on DisputeConnection {{ nodes {{ {DISPUTE_FIELDS} }} }} ... on Error {{ code }}
  }}
  orders(countryCode: $c) {{
    __typename ... on OrderConnection {{ nodes {{ id forceCompleteReason }} }} ... on Error {{ code }}
  }}
}}"""
RESOLVE = """
mutation($input: DisputeResolveInput!) {
  disputeResolve(input: $input) { __typename ... on Error { code message } }
}"""
OPEN = """
mutation($input: DisputeOpenInput!) {
  disputeOpen(input: $input) {
    __typename ... on DisputeOpenSuccess { dispute { id } } ... on Error { code message }
  }
}"""
WITHDRAW = """
mutation($input: DisputeWithdrawInput!) {
  disputeWithdraw(input: $input) { __typename ... on Error { code message } }
}"""
FORCE = """
mutation($input: OrderForceCompleteInput!) {
  orderForceComplete(input: $input) { __typename ... on Error { code message } }
}"""


async def world(api: Api) -> dict[str, str]:
    """All three orders sold by ``sel_1``, their payments processed by ``psp_9``:

    - ``ord_decided``: disputed by its buyer, decided FULL_REFUND by an L2 with a note; the
      refund was declined, so the execution failed with an error;
    - ``ord_withdrawn``: disputed by an L1 for the buyer, withdrawn by an L2 with a reason;
    - ``ord_forced``: force-completed by an L3 with a reason.
    """
    for order_id in ("ord_decided", "ord_withdrawn"):
        await api.order(order_id, buyer=BUYER, seller=SELLER, payment_partner=PSP)
    await api.order("ord_forced", seller=SELLER, payment_partner=PSP, until=OrderStatus.IN_TRANSIT)

    buyer = RequestContext(Principal(BUYER, Role.BUYER, frozenset({MX})), "req-buyer")
    decided = (
        await open_dispute(
            api.svc, buyer, OpenDispute(MX, OrderId("ord_decided"), DisputeReason.DAMAGED, "Broken vase")
        )
    ).unwrap()
    (await start_review(api.svc, SYSTEM, StartReview(MX, decided.id))).unwrap()
    resolve = {
        "countryCode": "MX",
        "disputeId": decided.id,
        "outcome": "FULL_REFUND",
        "reasonCode": "ITEM_DAMAGED_IN_TRANSIT",
        "idempotencyKey": "decide-1",
        "note": NOTE,
    }
    resolved = await api.gql(RESOLVE, {"input": resolve}, api.bearer(Role.L2, subject="agent-l2"))
    assert resolved["disputeResolve"]["__typename"] == "DisputeResolveSuccess", resolved
    declined = FakePayments(fail_always=ProviderFailureKind.PERMANENT)
    await SagaRunner(api.svc, Providers(declined, FakeNotifications()), worker_id="w1").drain()

    opened = await api.gql(
        OPEN,
        {
            "input": {
                "countryCode": "MX",
                "orderId": "ord_withdrawn",
                "reason": "LATE",
                "statement": "Per call",
            }
        },
        api.bearer(Role.L1, subject="agent-l1"),
    )
    withdrawn = opened["disputeOpen"]["dispute"]["id"]
    dropped = await api.gql(
        WITHDRAW,
        {"input": {"countryCode": "MX", "disputeId": withdrawn, "reason": WITHDRAW_REASON}},
        api.bearer(Role.L2, subject="agent-l2"),
    )
    assert dropped["disputeWithdraw"]["__typename"] == "DisputeWithdrawSuccess", dropped

    forced = await api.gql(
        FORCE,
        {"input": {"countryCode": "MX", "orderId": "ord_forced", "reason": FORCE_REASON}},
        api.bearer(Role.L3, subject="agent-l3"),
    )
    assert forced["orderForceComplete"]["__typename"] == "OrderForceCompleteSuccess", forced
    return {"decided": decided.id, "withdrawn": withdrawn}


async def read(api: Api, ids: dict[str, str], headers: dict[str, str]) -> dict[str, Any]:
    return await api.gql(READ, {"c": "MX", **ids}, headers)


def by_id(nodes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {node["id"]: node for node in nodes}


@pytest.mark.parametrize("kind", [PartnerKind.SELLER_ORG, PartnerKind.PAYMENT_PARTNER])
async def test_a_partner_reads_null_for_what_support_wrote_or_did(api: Api, kind: PartnerKind) -> None:
    ids = await world(api)
    key = await api.partner_key(SELLER if kind is PartnerKind.SELLER_ORG else PSP, MX, kind)
    data = await read(api, ids, key)

    decided = data["decided"]
    assert decided["__typename"] == "Dispute" and decided["status"] == "EXECUTION_FAILED"
    assert decided["lastExecutionError"] is None
    decision = decided["decision"]
    assert (decision["outcome"], decision["reasonCode"]) == ("FULL_REFUND", "ITEM_DAMAGED_IN_TRANSIT")
    assert decision["decidedAt"] and len(decision["evidencePackHash"]) == 64
    assert (decision["note"], decision["decidedBy"]) == (None, None)
    assert decided["openedBy"] == {"actorId": BUYER, "role": "BUYER"}  # a party's act is not support's
    assert decided["order"] == {"id": "ord_decided", "forceCompleteReason": None}

    withdrawn = data["withdrawn"]
    assert withdrawn["status"] == "WITHDRAWN" and withdrawn["openedBy"] is None  # an L1 opened it
    withdrawal = withdrawn["withdrawal"]
    assert withdrawal["withdrawnAt"] and len(withdrawal["evidencePackHash"]) == 64
    assert (withdrawal["withdrawnBy"], withdrawal["reason"]) == (None, None)  # an L2 withdrew it

    assert data["forced"] == {
        "__typename": "Order",
        "id": "ord_forced",
        "status": "FORCE_COMPLETED",
        "forceCompleted": True,
        "forceCompleteReason": None,
    }
    # the same through the lists and nested under the order
    (nested,) = data["disputedOrder"]["disputes"]
    listed = by_id(data["disputes"]["nodes"])
    assert set(listed) == {ids["decided"], ids["withdrawn"]}
    for each in (nested, listed[ids["decided"]]):
        assert each["lastExecutionError"] is None
        assert (each["decision"]["note"], each["decision"]["decidedBy"]) == (None, None)
    assert listed[ids["withdrawn"]]["withdrawal"]["reason"] is None
    orders = by_id(data["orders"]["nodes"])
    assert set(orders) == {"ord_decided", "ord_withdrawn", "ord_forced"}
    assert {order["forceCompleteReason"] for order in orders.values()} == {None}
    assert await api.denials() == []  # hidden fields are not refusals


@pytest.mark.parametrize("role", [Role.L2, Role.AUDITOR])
async def test_support_reads_every_value(api: Api, role: Role) -> None:
    ids = await world(api)
    data = await read(api, ids, api.bearer(role))

    decided = data["decided"]
    assert decided["status"] == "EXECUTION_FAILED"
    assert decided["lastExecutionError"]  # the provider's decline, as the saga recorded it
    assert decided["decision"]["note"] == NOTE
    assert decided["decision"]["decidedBy"] == {"actorId": "agent-l2", "role": "L2"}
    assert decided["openedBy"] == {"actorId": BUYER, "role": "BUYER"}

    withdrawn = data["withdrawn"]
    assert withdrawn["openedBy"] == {"actorId": "agent-l1", "role": "L1"}
    assert withdrawn["withdrawal"]["withdrawnBy"] == {"actorId": "agent-l2", "role": "L2"}
    assert withdrawn["withdrawal"]["reason"] == WITHDRAW_REASON

    assert data["forced"]["forceCompleteReason"] == FORCE_REASON
    (nested,) = data["disputedOrder"]["disputes"]
    listed = by_id(data["disputes"]["nodes"])
    for each in (nested, listed[ids["decided"]]):
        assert each["lastExecutionError"] == decided["lastExecutionError"]
        assert each["decision"]["note"] == NOTE
    assert by_id(data["orders"]["nodes"])["ord_forced"]["forceCompleteReason"] == FORCE_REASON


async def test_a_buyer_reads_its_own_acts_but_not_supports(api: Api) -> None:
    ids = await world(api)
    buyer = api.bearer(Role.BUYER, subject=BUYER)
    decided = (
        await api.gql(
            f"""query($id: String!) {{ dispute(countryCode: "MX", id: $id) {{
                  ... on Dispute {{ {DISPUTE_FIELDS} }} }} }}""",
            {"id": ids["decided"]},
            buyer,
        )
    )["dispute"]
    assert decided["openedBy"] == {"actorId": BUYER, "role": "BUYER"}
    assert decided["decision"]["outcome"] == "FULL_REFUND"
    assert (decided["decision"]["note"], decided["decision"]["decidedBy"]) == (None, None)
    assert decided["lastExecutionError"] is None

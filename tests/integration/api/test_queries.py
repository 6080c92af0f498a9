"""Every query's happy path over HTTP: order, orders, dispute, disputes, disputeState,
evidencePack, ledgerAccount, auditTrail — with nested fields and pagination."""

from __future__ import annotations

from datetime import timedelta

from application.security.principal import Role
from domain.orders import OrderStatus
from tests.integration.api.conftest import CO, Api

ORDER = """
query($c: String!, $id: String!) {
  order(countryCode: $c, id: $id) {
    __typename
    ... on Order {
      id countryCode status buyerId sellerId version nextStatuses
      snapshot {
        currency totalCharged { minor currency formatted } commissionBp
        sellerPayout { minor } platformTake { minor currency }
      }
      disputes { id status }
      ledgerTransactions { idempotencyKey kind amount { minor } postings { account side amount { minor } } }
    }
    ... on Error { code message }
  }
}"""


async def test_order_by_id_with_its_snapshot_disputes_and_ledger(api: Api) -> None:
    await api.dispute("ord_1")
    data = await api.gql(ORDER, {"c": "MX", "id": "ord_1"}, api.bearer(Role.L1))
    order = data["order"]
    assert order["__typename"] == "Order"
    assert (order["id"], order["countryCode"], order["status"]) == ("ord_1", "MX", "DISPUTED")
    assert order["snapshot"]["totalCharged"] == {
        "minor": 123_000,
        "currency": "MXN",
        "formatted": "1230.00 MXN",
    }
    assert order["snapshot"]["sellerPayout"] == {"minor": 106_000}
    assert order["snapshot"]["platformTake"] == {"minor": 123_000 - 106_000, "currency": "MXN"}
    assert [d["status"] for d in order["disputes"]] == ["OPEN"]
    assert [t["idempotencyKey"] for t in order["ledgerTransactions"]] == ["order:ord_1/capture"]
    assert order["ledgerTransactions"][0]["amount"] == {"minor": 123_000}


async def test_nested_ledger_is_null_for_roles_that_may_not_read_it(api: Api) -> None:
    await api.order("ord_1", buyer="buy_7")
    data = await api.gql(ORDER, {"c": "MX", "id": "ord_1"}, api.bearer(Role.BUYER, subject="buy_7"))
    assert data["order"]["ledgerTransactions"] is None
    assert data["order"]["snapshot"]["currency"] == "MXN"


ORDERS = """
query($c: String!, $first: Int!, $after: String, $f: OrderFilter) {
  orders(countryCode: $c, first: $first, after: $after, filter: $f) {
    __typename
    ... on OrderConnection {
      edges { cursor node { id status } }
      nodes { id }
      pageInfo { hasNextPage endCursor }
    }
    ... on Error { code message }
  }
}"""


async def test_orders_are_paged_newest_first_by_keyset_and_filtered(api: Api) -> None:
    for n in range(5):
        api.clock.advance(timedelta(minutes=1))
        await api.order(f"ord_{n}", until=OrderStatus.IN_TRANSIT if n % 2 else OrderStatus.DELIVERED)
    await api.order("ord_co", country=CO)
    headers = api.bearer(Role.L2)
    seen: list[str] = []
    after = None
    while True:
        page = (await api.gql(ORDERS, {"c": "MX", "first": 2, "after": after}, headers))["orders"]
        seen += [node["id"] for node in page["nodes"]]
        assert [edge["node"]["id"] for edge in page["edges"]] == [node["id"] for node in page["nodes"]]
        assert page["edges"][-1]["cursor"] == page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == ["ord_4", "ord_3", "ord_2", "ord_1", "ord_0"]

    in_transit = (
        await api.gql(ORDERS, {"c": "MX", "first": 50, "f": {"statuses": ["IN_TRANSIT"]}}, headers)
    )["orders"]
    assert [n["id"] for n in in_transit["nodes"]] == ["ord_3", "ord_1"]
    window = {"createdFrom": "2026-03-02T12:02:00+00:00", "createdBefore": "2026-03-02T12:04:00Z"}
    ranged = (await api.gql(ORDERS, {"c": "MX", "first": 50, "f": window}, headers))["orders"]
    assert [n["id"] for n in ranged["nodes"]] == ["ord_2", "ord_1"]
    colombia = (await api.gql(ORDERS, {"c": "CO", "first": 50}, api.bearer(Role.L2, CO)))["orders"]
    assert [n["id"] for n in colombia["nodes"]] == ["ord_co"]


async def test_a_page_is_capped_at_200_and_defaults_to_50(api: Api) -> None:
    for n in range(3):
        await api.order(f"ord_{n}", until=OrderStatus.CREATED)
    headers = api.bearer(Role.L1)
    capped = (await api.gql(ORDERS, {"c": "MX", "first": 10_000}, headers))["orders"]
    assert len(capped["nodes"]) == 3
    default = await api.gql(
        '{ orders(countryCode: "MX") { ... on OrderConnection { nodes { id } } } }', None, headers
    )
    assert len(default["orders"]["nodes"]) == 3


DISPUTES = """
query($c: String!, $f: DisputeFilter, $first: Int! = 50, $after: String) {
  disputes(countryCode: $c, filter: $f, first: $first, after: $after) {
    __typename
    ... on DisputeConnection {
      nodes { id status reason orderId order { id status } amountRefunded { minor currency } }
      pageInfo { hasNextPage endCursor }
    }
    ... on Error { code message }
  }
}"""


async def test_disputes_list_with_filters_by_status_reason_age_and_deadline(api: Api) -> None:
    first = await api.dispute("ord_1")
    api.clock.advance(timedelta(hours=1))
    second = await api.dispute("ord_2", review=True)
    headers = api.bearer(Role.L1)
    listed = (await api.gql(DISPUTES, {"c": "MX"}, headers))["disputes"]
    assert [n["id"] for n in listed["nodes"]] == [second.id, first.id]
    assert listed["nodes"][0]["order"] == {"id": "ord_2", "status": "DISPUTED"}
    assert listed["nodes"][0]["amountRefunded"] == {"minor": 0, "currency": "MXN"}

    by_status = (await api.gql(DISPUTES, {"c": "MX", "f": {"statuses": ["UNDER_REVIEW"]}}, headers))[
        "disputes"
    ]
    assert [n["id"] for n in by_status["nodes"]] == [second.id]
    by_reason = (await api.gql(DISPUTES, {"c": "MX", "f": {"reasons": ["LATE"]}}, headers))["disputes"]
    assert by_reason["nodes"] == []
    older = {"openedBefore": (first.opened_at + timedelta(minutes=1)).isoformat()}
    assert [
        n["id"] for n in (await api.gql(DISPUTES, {"c": "MX", "f": older}, headers))["disputes"]["nodes"]
    ] == [first.id]
    due = {"evidenceDeadlineBefore": (first.evidence_deadline + timedelta(minutes=1)).isoformat()}
    assert [
        n["id"] for n in (await api.gql(DISPUTES, {"c": "MX", "f": due}, headers))["disputes"]["nodes"]
    ] == [first.id]
    paged = (await api.gql(DISPUTES, {"c": "MX", "first": 1}, headers))["disputes"]
    assert paged["pageInfo"]["hasNextPage"] is True
    rest = (
        await api.gql(DISPUTES, {"c": "MX", "first": 1, "after": paged["pageInfo"]["endCursor"]}, headers)
    )["disputes"]
    assert [n["id"] for n in rest["nodes"]] == [first.id]
    assert rest["pageInfo"]["hasNextPage"] is False


DISPUTE = """
query($c: String!, $id: String!) {
  dispute(countryCode: $c, id: $id) {
    __typename
    ... on Dispute {
      id status reason origin evidenceFrozen evidenceSubmissionCount evidenceDeadline
      openedBy { actorId role }
      decision { outcome reasonCode evidencePackHash }
      order { id }
    }
    ... on Error { code }
  }
  evidencePack(countryCode: $c, disputeId: $id) {
    __typename
    ... on EvidencePack {
      disputeId frozen contentHash frozenHash missingProngs
      submissions { evidenceId kind statement contentSha256 submittedBy { actorId role } }
      platformFacts { timeline { kind } }
      transcript { entries { messageId } }
    }
    ... on Error { code }
  }
}"""


async def test_dispute_and_its_evidence_pack(api: Api) -> None:
    dispute = await api.dispute("ord_1")
    data = await api.gql(DISPUTE, {"c": "MX", "id": dispute.id}, api.bearer(Role.L2))
    assert data["dispute"]["status"] == "OPEN"
    assert data["dispute"]["openedBy"] == {"actorId": "system-test", "role": "SYSTEM"}
    assert data["dispute"]["evidenceSubmissionCount"] == 1
    pack = data["evidencePack"]
    assert pack["frozen"] is False and pack["frozenHash"] is None
    assert pack["missingProngs"] == ["platform_facts", "transcript"]
    assert [s["statement"] for s in pack["submissions"]] == ["The vase arrived broken"]
    assert len(pack["contentHash"]) == 64


async def test_ledger_account_balance_and_postings(api: Api) -> None:
    await api.order("ord_1")
    query = """
    query($c: String!, $a: String!, $cur: String!, $first: Int!, $after: String) {
      ledgerAccount(countryCode: $c, account: $a, currency: $cur, first: $first, after: $after) {
        __typename
        ... on LedgerAccount {
          account kind currency balance { minor currency }
          postings { nodes { sequence side amount { minor } transactionKey transactionKind }
                     pageInfo { hasNextPage endCursor } }
        }
        ... on Error { code message }
      }
    }"""
    headers = api.bearer(Role.AUDITOR)
    variables = {"c": "MX", "a": "escrow:order:ord_1", "cur": "MXN", "first": 50}
    account = (await api.gql(query, variables, headers))["ledgerAccount"]
    assert account["kind"] == "LIABILITY"
    assert account["balance"] == {"minor": 123_000, "currency": "MXN"}
    assert [(p["side"], p["transactionKey"]) for p in account["postings"]["nodes"]] == [
        ("CREDIT", "order:ord_1/capture")
    ]
    clearing = (await api.gql(query, {**variables, "a": "psp:clearing", "first": 1}, headers))[
        "ledgerAccount"
    ]
    assert clearing["kind"] == "ASSET" and clearing["balance"]["minor"] == 123_000
    assert clearing["postings"]["pageInfo"]["hasNextPage"] is False


async def test_audit_trail_of_an_entity_oldest_first(api: Api) -> None:
    await api.order("ord_1")
    query = """
    query($c: String!, $id: String!, $after: String) {
      auditTrail(countryCode: $c, targetType: "order", targetId: $id, first: 2, after: $after) {
        __typename
        ... on AuditEntryConnection {
          nodes { sequence action actorId actorRole countryCode requestId after entryHash previousHash }
          pageInfo { hasNextPage endCursor }
        }
        ... on Error { code }
      }
    }"""
    headers = api.bearer(Role.AUDITOR)
    actions: list[str] = []
    after = None
    while True:
        page = (await api.gql(query, {"c": "MX", "id": "ord_1", "after": after}, headers))["auditTrail"]
        actions += [n["action"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert actions == ["order.created", "order.payment_captured"] + ["order.transitioned"] * 4
    first = (await api.gql(query, {"c": "MX", "id": "ord_1"}, headers))["auditTrail"]["nodes"][0]
    assert first["after"]["status"] == "CREATED" and first["actorRole"] == "SYSTEM"


async def test_dispute_state_is_what_partners_poll(api: Api) -> None:
    dispute = await api.dispute("ord_1", seller="sel_9")
    partner = await api.partner_key("sel_9")
    query = """
    query($c: String!, $id: String!) {
      disputeState(countryCode: $c, id: $id) {
        __typename
        ... on DisputeState {
          disputeId status outcome evidenceDeadline decidedAt amountRefunded { minor currency }
        }
        ... on Error { code }
      }
    }"""
    state = (await api.gql(query, {"c": "MX", "id": dispute.id}, partner))["disputeState"]
    assert state["status"] == "OPEN" and state["outcome"] is None and state["decidedAt"] is None
    assert state["amountRefunded"] == {"minor": 0, "currency": "MXN"}


async def test_version_needs_no_credentials(api: Api) -> None:
    data = await api.gql("{ version }")
    assert isinstance(data["version"], str)

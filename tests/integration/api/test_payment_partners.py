"""A payment partner's API key (SPEC §2 ``PARTNER``, D88) over HTTP with ``X-Api-Key``, on
both databases: it reads exactly the orders whose payment it processed and their disputes -
by id, in lists (filtered and paged), nested and through ``disputeState`` - and nothing else
(another payment partner's, an order with no payment partner, an uncaptured one) is found;
every hidden read is audited. A seller org's key is unchanged, and one id used as a seller
and as a payment partner never reads across the two kinds."""

from __future__ import annotations

from typing import Any

from application.security.principal import PartnerKind
from domain.disputes import Dispute
from domain.orders import OrderStatus
from tests.integration.api.conftest import CO, MX, Api

PSP = "psp_9"
ORDER_FIELDS = (
    "__typename ... on Order { id sellerId snapshot { paymentPartnerId } disputes { id } }"
    " ... on Error { code }"
)
LISTS = """
query($c: String!, $first: Int, $after: String, $statuses: [OrderStatus!]) {
  orders(countryCode: $c, first: $first, after: $after, filter: {statuses: $statuses}) {
    __typename
    ... on OrderConnection {
      nodes { id snapshot { paymentPartnerId } disputes { id } }
      pageInfo { hasNextPage endCursor }
    }
    ... on Error { code }
  }
  disputes(countryCode: $c) {
    __typename
    ... on DisputeConnection { nodes { id order { id snapshot { paymentPartnerId } } } }
    ... on Error { code }
  }
}"""
STATE = """
query($c: String!, $id: String!) {
  disputeState(countryCode: $c, id: $id) {
    __typename
    ... on DisputeState { disputeId status amountRefunded { minor currency } }
    ... on Error { code }
  }
}"""


async def psp_key(api: Api, partner: str = PSP, country: Any = MX) -> dict[str, str]:
    return await api.partner_key(partner, country, PartnerKind.PAYMENT_PARTNER)


async def world(api: Api) -> dict[str, Dispute]:
    """psp_9 processed ``ord_p1`` (disputed) and ``ord_p2``; psp_1 ``ord_other`` (disputed);
    nobody was reported for ``ord_none`` (disputed); ``ord_new`` was never captured."""
    disputes = {
        "ord_p1": await api.dispute("ord_p1", seller="sel_1", payment_partner=PSP),
        "ord_other": await api.dispute("ord_other", seller="sel_1", payment_partner="psp_1"),
        "ord_none": await api.dispute("ord_none", seller="sel_1"),
    }
    await api.order("ord_p2", seller="sel_2", payment_partner=PSP, until=OrderStatus.IN_TRANSIT)
    await api.order("ord_new", seller="sel_1", until=OrderStatus.CREATED)
    return disputes


async def test_a_payment_partner_lists_only_the_orders_it_processed_and_their_disputes(api: Api) -> None:
    disputes = await world(api)
    key = await psp_key(api)
    body = await api.gql(LISTS, {"c": "MX"}, key)
    orders = {node["id"]: node for node in body["orders"]["nodes"]}
    assert set(orders) == {"ord_p1", "ord_p2"}
    assert orders["ord_p1"] == {
        "id": "ord_p1",
        "snapshot": {"paymentPartnerId": PSP},
        "disputes": [{"id": disputes["ord_p1"].id}],
    }
    assert orders["ord_p2"]["disputes"] == []
    assert body["disputes"]["nodes"] == [
        {"id": disputes["ord_p1"].id, "order": {"id": "ord_p1", "snapshot": {"paymentPartnerId": PSP}}}
    ]
    # a filter and a page of one keep to the partner's own orders
    on_its_way = await api.gql(LISTS, {"c": "MX", "statuses": ["IN_TRANSIT"]}, key)
    assert [node["id"] for node in on_its_way["orders"]["nodes"]] == ["ord_p2"]
    seen: list[str] = []
    after = None
    while True:
        page = (await api.gql(LISTS, {"c": "MX", "first": 1, "after": after}, key))["orders"]
        seen += [node["id"] for node in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(seen) == ["ord_p1", "ord_p2"]
    # an unknown payment partner sees nothing, and nothing of its lists is a denial
    nobody = await api.gql(LISTS, {"c": "MX"}, await psp_key(api, "psp_unknown"))
    assert nobody["orders"]["nodes"] == [] and nobody["disputes"]["nodes"] == []
    assert await api.denials() == []


async def test_a_payment_partner_reads_its_own_by_id_and_nothing_else(api: Api) -> None:
    disputes = await world(api)
    key = await psp_key(api)
    mine = disputes["ord_p1"].id
    own = await api.gql(
        f"""{{ o: order(countryCode: "MX", id: "ord_p1") {{ {ORDER_FIELDS} }}
              d: dispute(countryCode: "MX", id: "{mine}") {{
                   __typename ... on Dispute {{ id order {{ id }} }} }} }}""",
        None,
        key,
    )
    assert own["o"]["__typename"] == "Order" and own["o"]["snapshot"] == {"paymentPartnerId": PSP}
    assert own["d"] == {"__typename": "Dispute", "id": mine, "order": {"id": "ord_p1"}}
    state = (await api.gql(STATE, {"c": "MX", "id": mine}, key))["disputeState"]
    assert state == {
        "__typename": "DisputeState",
        "disputeId": mine,
        "status": "OPEN",
        "amountRefunded": {"minor": 0, "currency": "MXN"},
    }

    hidden_orders = ("ord_other", "ord_none", "ord_new", "ord_missing")
    for order_id in hidden_orders:
        found = await api.gql(
            f'{{ order(countryCode: "MX", id: "{order_id}") {{ {ORDER_FIELDS} }} }}', None, key
        )
        assert found["order"] == {"__typename": "NotFoundError", "code": "NOT_FOUND"}, order_id
    for order_id in ("ord_other", "ord_none"):
        theirs = disputes[order_id].id
        found = await api.gql(
            f'{{ dispute(countryCode: "MX", id: "{theirs}") {{ __typename ... on Error {{ code }} }} }}',
            None,
            key,
        )
        assert found["dispute"] == {"__typename": "NotFoundError", "code": "NOT_FOUND"}, order_id
        polled = (await api.gql(STATE, {"c": "MX", "id": theirs}, key))["disputeState"]
        assert polled == {"__typename": "NotFoundError", "code": "NOT_FOUND"}, order_id

    # hidden objects are audited as denials (D17); an id that does not exist is not
    denials = await api.denials()
    assert {d["actor_id"] for d in denials} == {f"partner:{PSP}"}
    assert {d["actor_role"] for d in denials} == {"PARTNER"}
    assert sorted((d["target_type"], d["target_id"]) for d in denials) == sorted(
        [("order", "ord_other"), ("order", "ord_none"), ("order", "ord_new")]
        + [("dispute", disputes[o].id) for o in ("ord_other", "ord_none") for _ in range(2)]
    )
    elsewhere = await api.gql(f'{{ order(countryCode: "CO", id: "ord_p1") {{ {ORDER_FIELDS} }} }}', None, key)
    assert elsewhere["order"]["__typename"] == "ForbiddenError"
    # nor may it do anything but read
    opened = await api.gql(
        """mutation { disputeOpen(input: {
             countryCode: "MX", orderId: "ord_p2", reason: LATE, statement: "s"}) {
             __typename ... on Error { code } } }""",
        None,
        key,
    )
    assert opened["disputeOpen"]["__typename"] == "ForbiddenError"


async def test_one_id_as_seller_and_as_payment_partner_never_reads_across_kinds(api: Api) -> None:
    """``x`` sells ``ord_sold`` (paid through psp_1) and processed the payment of ``ord_paid``
    (sold by sel_1): its seller org's key reads only the first, its payment key the second."""
    sold = await api.dispute("ord_sold", seller="x", payment_partner="psp_1")
    paid = await api.dispute("ord_paid", seller="sel_1", payment_partner="x")
    seller_org = await api.partner_key("x")  # the default kind: SELLER_ORG, as before
    payment = await api.partner_key("x", MX, PartnerKind.PAYMENT_PARTNER)
    for key, own, other in ((seller_org, sold, paid), (payment, paid, sold)):
        body = await api.gql(LISTS, {"c": "MX"}, key)
        assert [node["id"] for node in body["orders"]["nodes"]] == [own.order_id]
        assert [node["id"] for node in body["disputes"]["nodes"]] == [own.id]
        assert (await api.gql(STATE, {"c": "MX", "id": own.id}, key))["disputeState"]["disputeId"] == own.id
        hidden = await api.gql(STATE, {"c": "MX", "id": other.id}, key)
        assert hidden["disputeState"] == {"__typename": "NotFoundError", "code": "NOT_FOUND"}
        by_id = await api.gql(
            f'{{ order(countryCode: "MX", id: "{other.order_id}") {{ {ORDER_FIELDS} }} }}', None, key
        )
        assert by_id["order"]["__typename"] == "NotFoundError"
    assert len(await api.denials()) == 4


async def test_a_payment_partner_key_serves_its_one_country(api: Api) -> None:
    await api.dispute("ord_mx", payment_partner=PSP)
    colombia = await api.dispute("ord_co", country=CO, payment_partner=PSP)
    key = await psp_key(api, PSP, CO)
    body = await api.gql(LISTS, {"c": "CO"}, key)
    assert [node["id"] for node in body["orders"]["nodes"]] == ["ord_co"]
    assert [node["id"] for node in body["disputes"]["nodes"]] == [colombia.id]
    assert (await api.gql(STATE, {"c": "CO", "id": colombia.id}, key))["disputeState"]["status"] == "OPEN"
    refused = await api.gql(LISTS, {"c": "MX"}, key)
    assert refused["orders"] == {"__typename": "ForbiddenError", "code": "FORBIDDEN"}
    assert refused["disputes"] == {"__typename": "ForbiddenError", "code": "FORBIDDEN"}

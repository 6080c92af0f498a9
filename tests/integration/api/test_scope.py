"""ScopeGuard over HTTP: nothing of another country (or of another party) comes back — not
by id, not nested, not through aliases or batches — and every refusal is audited."""

from __future__ import annotations

from typing import Any

from application.security.api_keys import revoke_api_key
from application.security.principal import Role
from tests.integration.api.conftest import CO, MX, SYSTEM, Api

ORDER_FIELDS = (
    "__typename ... on Order { id countryCode sellerId snapshot { currency } } ... on Error { code }"
)


async def two_orders_with_one_id(api: Api) -> None:
    """``ord_1`` exists in MX (seller sel_mx) and in CO (seller sel_co): ids are per country."""
    await api.dispute("ord_1", country=MX, seller="sel_mx")
    await api.dispute("ord_1", country=CO, seller="sel_co")
    await api.order("ord_co_only", country=CO, seller="sel_co")


def no_colombia(body: Any) -> None:
    text = str(body)
    assert "sel_co" not in text and "COP" not in text and "ord_co_only" not in text, text


async def test_by_id_a_foreign_country_is_forbidden_and_a_foreign_id_is_not_found(api: Api) -> None:
    await two_orders_with_one_id(api)
    mexico = api.bearer(Role.L2, MX)
    foreign = await api.gql(f'{{ order(countryCode: "CO", id: "ord_1") {{ {ORDER_FIELDS} }} }}', None, mexico)
    assert foreign["order"] == {"__typename": "ForbiddenError", "code": "FORBIDDEN"}
    only_there = await api.gql(
        f'{{ order(countryCode: "MX", id: "ord_co_only") {{ {ORDER_FIELDS} }} }}', None, mexico
    )
    assert only_there["order"] == {"__typename": "NotFoundError", "code": "NOT_FOUND"}
    same_id = await api.gql(f'{{ order(countryCode: "MX", id: "ord_1") {{ {ORDER_FIELDS} }} }}', None, mexico)
    assert same_id["order"]["sellerId"] == "sel_mx"
    no_colombia([foreign, only_there, same_id])
    denials = await api.denials()
    assert [(d["country_code"], d["target_type"], d["target_id"]) for d in denials] == [
        ("CO", "order", "ord_1")
    ]


async def test_nested_fields_stay_in_the_country_of_their_root(api: Api) -> None:
    await two_orders_with_one_id(api)
    query = """
    { disputes(countryCode: "MX") { ... on DisputeConnection { nodes {
        id countryCode order { id countryCode sellerId snapshot { currency }
          disputes { id countryCode order { sellerId } }
          ledgerTransactions { countryCode idempotencyKey amount { currency } } }
        amountRefunded { currency }
        ledgerTransactions { countryCode } } } } }"""
    body = await api.gql(query, None, api.bearer(Role.L2, MX))
    nodes = body["disputes"]["nodes"]
    assert len(nodes) == 1
    assert nodes[0]["order"]["sellerId"] == "sel_mx"
    assert nodes[0]["order"]["ledgerTransactions"][0]["amount"]["currency"] == "MXN"
    no_colombia(body)


async def test_aliases_cannot_reach_another_country_and_each_refusal_is_audited(api: Api) -> None:
    await two_orders_with_one_id(api)
    query = f"""{{
      mine: order(countryCode: "MX", id: "ord_1") {{ {ORDER_FIELDS} }}
      theirs: order(countryCode: "CO", id: "ord_1") {{ {ORDER_FIELDS} }}
      theirList: orders(countryCode: "CO") {{ __typename ... on Error {{ code }} }}
      theirDisputes: disputes(countryCode: "co") {{ __typename ... on Error {{ code }} }}
      theirLedger: ledgerAccount(countryCode: "CO", account: "psp:clearing", currency: "COP") {{
        __typename ... on Error {{ code }} }}
    }}"""
    body = await api.gql(query, None, api.bearer(Role.L3, MX))
    assert body["mine"]["sellerId"] == "sel_mx"
    for alias in ("theirs", "theirList", "theirDisputes", "theirLedger"):
        assert body[alias] == {"__typename": "ForbiddenError", "code": "FORBIDDEN"}, alias
    no_colombia(body)
    denials = await api.denials()
    assert len(denials) == 4 and {d["country_code"] for d in denials} == {"CO"}
    assert len({d["request_id"] for d in denials}) == 1  # one request, four audited refusals


async def test_a_batch_of_ids_returns_only_the_country_s_own(api: Api) -> None:
    await two_orders_with_one_id(api)
    ids = ["ord_1", "ord_co_only", "ord_missing", "ord_1"]
    query = (
        "{ "
        + " ".join(
            f'o{n}: order(countryCode: "MX", id: "{order_id}") {{ {ORDER_FIELDS} }}'
            for n, order_id in enumerate(ids)
        )
        + " }"
    )
    body = await api.gql(query, None, api.bearer(Role.L1, MX))
    assert [body[f"o{n}"]["__typename"] for n in range(len(ids))] == [
        "Order",
        "NotFoundError",
        "NotFoundError",
        "Order",
    ]
    no_colombia(body)


async def test_http_batches_of_operations_are_not_accepted(api: Api) -> None:
    await two_orders_with_one_id(api)
    documents = [
        {"query": f'{{ order(countryCode: "{c}", id: "ord_1") {{ {ORDER_FIELDS} }} }}'} for c in ("MX", "CO")
    ]
    response = await api.client.post("/graphql", json=documents, headers=api.bearer(Role.L1, MX))
    assert response.status_code == 400
    no_colombia(response.text)


async def test_a_partner_sees_only_its_own_orders_and_disputes(api: Api) -> None:
    mine = await api.dispute("ord_mine", seller="sel_9")
    other = await api.dispute("ord_other", seller="sel_1")
    partner = await api.partner_key("sel_9")
    body = await api.gql(
        """{ orders(countryCode: "MX") { ... on OrderConnection { nodes { id sellerId } } }
             disputes(countryCode: "MX") {
               ... on DisputeConnection { nodes { id order { sellerId } } } } }""",
        None,
        partner,
    )
    assert body["orders"]["nodes"] == [{"id": "ord_mine", "sellerId": "sel_9"}]
    assert [n["id"] for n in body["disputes"]["nodes"]] == [mine.id]
    hidden = await api.gql(
        f"""{{ o: order(countryCode: "MX", id: "ord_other") {{ {ORDER_FIELDS} }}
              d: dispute(countryCode: "MX", id: "{other.id}") {{ __typename ... on Error {{ code }} }}
              s: disputeState(countryCode: "MX", id: "{other.id}") {{
                   __typename ... on Error {{ code }} }} }}""",
        None,
        partner,
    )
    assert {alias: value["__typename"] for alias, value in hidden.items()} == {
        "o": "NotFoundError",
        "d": "NotFoundError",
        "s": "NotFoundError",
    }
    denials = await api.denials()
    assert sorted((d["target_type"], d["target_id"]) for d in denials) == sorted(
        [("order", "ord_other"), ("dispute", other.id), ("dispute", other.id)]
    )
    assert {d["actor_id"] for d in denials} == {"partner:sel_9"}
    elsewhere = await api.gql(
        f'{{ order(countryCode: "CO", id: "ord_mine") {{ {ORDER_FIELDS} }} }}', None, partner
    )
    assert elsewhere["order"]["__typename"] == "ForbiddenError"


async def test_buyers_sellers_and_couriers_see_only_their_own_orders(api: Api) -> None:
    await api.order("ord_a", buyer="buy_a", seller="sel_a", courier="cou_a")
    await api.order("ord_b", buyer="buy_b", seller="sel_b", courier="cou_b")
    query = f"""{{ orders(countryCode: "MX") {{ ... on OrderConnection {{ nodes {{ id }} }} }}
                  other: order(countryCode: "MX", id: "ord_b") {{ {ORDER_FIELDS} }} }}"""
    for role, subject in ((Role.BUYER, "buy_a"), (Role.SELLER, "sel_a"), (Role.COURIER, "cou_a")):
        body = await api.gql(query, None, api.bearer(role, subject=subject))
        assert body["orders"]["nodes"] == [{"id": "ord_a"}], role
        assert body["other"]["__typename"] == "NotFoundError", role
    opened = await api.gql(
        """mutation { disputeOpen(input: {
             countryCode: "MX", orderId: "ord_b", reason: LATE, statement: "s"}) {
             __typename ... on Error { code } } }""",
        None,
        api.bearer(Role.BUYER, subject="buy_a"),
    )
    assert opened["disputeOpen"] == {"__typename": "NotFoundError", "code": "NOT_FOUND"}
    assert await api.scalar("SELECT COUNT(*) FROM disputes") == 0


async def test_unauthenticated_requests_get_the_typed_error_and_touch_nothing(api: Api) -> None:
    await api.order("ord_1")
    revoked_key = await api.partner_key("sel_1")
    key_id = revoked_key["X-Api-Key"].split("_", 1)[1].rsplit("_", 1)[0]
    (await revoke_api_key(api.svc, SYSTEM, key_id)).unwrap()
    audit_before = await api.audit_count()
    query = f'{{ order(countryCode: "MX", id: "ord_1") {{ {ORDER_FIELDS} ... on Error {{ message }} }} }}'
    for headers in (
        {},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"X-Api-Key": "sos_mx_key_x_" + "0" * 64},
        revoked_key,
        {**api.bearer(Role.L1), "X-Api-Key": "sos_x_y"},
        {"Authorization": f"Bearer {api.token(Role.L1)}x"},
    ):
        body = await api.gql(query, None, headers)
        assert body["order"]["__typename"] == "UnauthenticatedError", headers
        assert body["order"]["code"] == "UNAUTHENTICATED"
    assert await api.audit_count() == audit_before
    assert (await api.gql("{ version }"))["version"]

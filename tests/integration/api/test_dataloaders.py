"""No N+1: a page of 50 and a page of 200 disputes, with nested orders, the orders' disputes
and ledger fields, cost the same number of SQL statements (one batch per kind of object)."""

from __future__ import annotations

from application.orders.use_cases import capture_key
from application.security.principal import Role
from domain.ledger import rules
from tests.integration.aggregate_builders import delivered, open_dispute
from tests.integration.api.conftest import Api

PAGE = """
query($first: Int!) {
  disputes(countryCode: "MX", first: $first) {
    ... on DisputeConnection {
      nodes {
        id status reason
        order {
          id status snapshot { totalCharged { minor currency } }
          disputes { id status }
          ledgerTransactions { idempotencyKey kind postings { account side amount { minor } } }
        }
        amountRefunded { minor currency }
        ledgerTransactions { idempotencyKey }
      }
      pageInfo { hasNextPage }
    }
  }
}"""


async def add_disputes(api: Api, start: int, count: int) -> None:
    async with api.svc.uow() as uow:
        for n in range(start, start + count):
            order = delivered(f"ord_{n:04d}")
            assert order.snapshot is not None
            await uow.orders.add(order)
            await uow.disputes.add(open_dispute(order, f"dsp_{n:04d}"))
            (await uow.ledger.post(rules.capture(order.snapshot, capture_key(order.id)))).unwrap()
        await uow.commit()


async def test_the_statement_count_does_not_grow_with_the_page(api: Api) -> None:
    headers = api.bearer(Role.L3)
    await add_disputes(api, 0, 50)
    with api.sql.counting() as statements:
        page = (await api.gql(PAGE, {"first": 50}, headers))["disputes"]
    for_50 = len(statements)
    assert len(page["nodes"]) == 50 and page["pageInfo"]["hasNextPage"] is False
    assert all(len(n["order"]["ledgerTransactions"]) == 1 for n in page["nodes"])

    await add_disputes(api, 50, 150)
    with api.sql.counting() as statements:
        page = (await api.gql(PAGE, {"first": 200}, headers))["disputes"]
    assert len(page["nodes"]) == 200
    assert {n["order"]["id"] for n in page["nodes"]} == {f"ord_{n:04d}" for n in range(200)}
    assert len(statements) == for_50, statements
    assert for_50 <= 12, statements  # list, orders, disputes by order, ledger (+ postings), BEGINs

"""``sellerBalance`` over HTTP on both databases (D89): "where is my money?" — a seller's
payable, receivable, what the next payout pays and its payouts, for agents and auditors."""

from __future__ import annotations

from datetime import timedelta

from application.cases.scheduler import run_tick
from application.ledger.payouts import PAYOUT_JOB_KIND, SellerPayoutJob, run_payouts
from application.orders.completion import CompleteDueOrdersTask
from application.ports.providers import ProviderFailureKind
from application.saga.executor import Providers, SagaRunner, StepOutcome
from application.security.principal import PartnerKind, Role
from tests.fakes.providers import FakeNotifications, FakePayments
from tests.integration.api.conftest import Api

BALANCE = """
query($c: String!, $s: String!) {
  sellerBalance(countryCode: $c, sellerId: $s, currency: "MXN") {
    __typename
    ... on SellerBalance {
      sellerId payable { minor currency } receivable { minor } owed { minor } inFlight { minor }
      payouts {
        idempotencyKey amount { minor } settledReceivable { minor } status attempts lastError returned
      }
    }
    ... on Error { code }
    ... on InvalidInputError { field }
  }
}"""
PAYOUT = 106_000  # T 123_000 less the platform's 17_000


async def completed(api: Api, *order_ids: str) -> None:
    for order_id in order_ids:
        await api.order(order_id)
    api.clock.advance(timedelta(hours=72))
    assert not (await run_tick(api.svc, [CompleteDueOrdersTask()])).failed


async def test_an_agent_sees_what_a_seller_is_owed_and_each_payout(api: Api) -> None:
    agent = api.bearer(Role.L1)
    await completed(api, "o1", "o2")
    owed = (await api.gql(BALANCE, {"c": "MX", "s": "sel_1"}, agent))["sellerBalance"]
    assert owed == {
        "__typename": "SellerBalance",
        "sellerId": "sel_1",
        "payable": {"minor": 2 * PAYOUT, "currency": "MXN"},
        "receivable": {"minor": 0},
        "owed": {"minor": 2 * PAYOUT},
        "inFlight": {"minor": 0},
        "payouts": [],
    }

    payments = FakePayments(fail_next=[ProviderFailureKind.PERMANENT])
    worker = SagaRunner(
        api.svc,
        Providers(payments, FakeNotifications(), payouts=payments),
        job_kinds={PAYOUT_JOB_KIND: SellerPayoutJob()},
    )
    await run_payouts(api.svc, now=api.clock.now())
    pending = (await api.gql(BALANCE, {"c": "MX", "s": "sel_1"}, agent))["sellerBalance"]
    # on its way: the next run pays nothing more, and an agent must not pay it again
    assert (pending["payable"]["minor"], pending["owed"], pending["inFlight"]) == (
        2 * PAYOUT,
        {"minor": 0},
        {"minor": 2 * PAYOUT},
    )
    assert [p["status"] for p in pending["payouts"]] == ["PENDING"]
    await worker.drain()  # declined: dead-lettered
    dead = (await api.gql(BALANCE, {"c": "MX", "s": "sel_1"}, agent))["sellerBalance"]
    # nothing left the ledger, but a dead payout is replayed or discarded before any other
    assert (dead["payable"]["minor"], dead["owed"], dead["inFlight"]) == (
        2 * PAYOUT,
        {"minor": 0},
        {"minor": 2 * PAYOUT},
    )
    [payout] = dead["payouts"]
    assert (payout["idempotencyKey"], payout["amount"], payout["status"]) == (
        "payout:MX:sel_1:MXN:1",
        {"minor": 2 * PAYOUT},
        "DEAD",
    )
    assert payout["lastError"].startswith("PROVIDER_")

    await completed(api, "o3")
    async with api.svc.uow() as uow:  # an L3 discards the declined one; the next run pays it all
        job = await uow.outbox.by_key("payout:MX:sel_1:MXN:1")
        assert job is not None
        await uow.outbox.discard(job.id, job.country, now=api.clock.now())
        await uow.commit()
    await run_payouts(api.svc, now=api.clock.now())
    await worker.drain()
    paid = (await api.gql(BALANCE, {"c": "MX", "s": "sel_1"}, api.bearer(Role.AUDITOR)))["sellerBalance"]
    assert (paid["payable"]["minor"], paid["owed"]["minor"], paid["inFlight"]["minor"]) == (0, 0, 0)
    assert [(p["idempotencyKey"], p["amount"]["minor"], p["status"]) for p in paid["payouts"]] == [
        ("payout:MX:sel_1:MXN:2", 3 * PAYOUT, "DONE"),
        ("payout:MX:sel_1:MXN:1", 2 * PAYOUT, "DISCARDED"),
    ]


async def test_a_payout_returned_after_it_was_paid_is_owed_again_and_marked_returned(api: Api) -> None:
    """D130: the bank returned it; the provider's late failure reversed its posting."""
    agent = api.bearer(Role.L1)
    await completed(api, "o1")
    payments = FakePayments()
    worker = SagaRunner(
        api.svc,
        Providers(payments, FakeNotifications(), payouts=payments),
        job_kinds={PAYOUT_JOB_KIND: SellerPayoutJob()},
    )
    await run_payouts(api.svc, now=api.clock.now())
    await worker.drain()
    paid = (await api.gql(BALANCE, {"c": "MX", "s": "sel_1"}, agent))["sellerBalance"]
    assert (paid["payable"]["minor"], paid["owed"]["minor"], paid["inFlight"]["minor"]) == (0, 0, 0)
    assert [(p["status"], p["returned"]) for p in paid["payouts"]] == [("DONE", False)]

    key = "payout:MX:sel_1:MXN:1"
    returned = await worker.confirm(key, succeeded=False, provider_reference="po_1", detail="account_closed")
    assert returned is StepOutcome.RETURNED
    owed = (await api.gql(BALANCE, {"c": "MX", "s": "sel_1"}, agent))["sellerBalance"]
    assert (owed["payable"]["minor"], owed["owed"]["minor"], owed["inFlight"]["minor"]) == (PAYOUT, PAYOUT, 0)
    [payout] = owed["payouts"]
    assert (payout["idempotencyKey"], payout["status"], payout["returned"]) == (key, "DONE", True)
    assert payout["lastError"] == "PROVIDER_LATE_FAILURE: reported failed after it succeeded: account_closed"


async def test_only_ledger_readers_in_their_countries_and_a_clear_error_for_bad_input(api: Api) -> None:
    for role in (Role.BUYER, Role.COURIER):
        refused = (await api.gql(BALANCE, {"c": "MX", "s": "sel_1"}, api.bearer(role)))["sellerBalance"]
        assert refused["__typename"] == "ForbiddenError", role
    elsewhere = (await api.gql(BALANCE, {"c": "CO", "s": "sel_1"}, api.bearer(Role.L1)))["sellerBalance"]
    assert elsewhere["__typename"] == "ForbiddenError"
    blank = (await api.gql(BALANCE, {"c": "MX", "s": " "}, api.bearer(Role.L1)))["sellerBalance"]
    assert (blank["code"], blank["field"]) == ("INVALID_INPUT", "sellerId")


async def test_a_seller_and_its_partner_key_read_their_own_balance_only(api: Api) -> None:
    """D156: "where is my money?" asked by the seller itself (its token) or its seller org's
    partner key; another seller's balance is not found to them (their asking audited when it
    holds anything), as another seller's orders are; a payment partner's key reads no seller's."""
    await completed(api, "o1")
    own = {
        "__typename": "SellerBalance",
        "sellerId": "sel_1",
        "payable": {"minor": PAYOUT, "currency": "MXN"},
        "receivable": {"minor": 0},
        "owed": {"minor": PAYOUT},
        "inFlight": {"minor": 0},
        "payouts": [],
    }
    seller = api.bearer(Role.SELLER, subject="sel_1")
    partner = await api.partner_key("sel_1")
    for caller in (seller, partner):
        assert (await api.gql(BALANCE, {"c": "MX", "s": "sel_1"}, caller))["sellerBalance"] == own

    payment_partner = await api.partner_key("mx-psp-1", kind=PartnerKind.PAYMENT_PARTNER)
    other_partner = await api.partner_key("sel_2")
    other_seller = api.bearer(Role.SELLER, subject="sel_2")
    before = len(await api.denials())
    for caller, asked in (
        (seller, "sel_2"),
        (partner, "sel_2"),
        (other_partner, "sel_1"),
        (other_seller, "sel_1"),
        (payment_partner, "sel_1"),
    ):
        hidden = (await api.gql(BALANCE, {"c": "MX", "s": asked}, caller))["sellerBalance"]
        assert (hidden["__typename"], hidden["code"]) == ("NotFoundError", "NOT_FOUND"), (caller, asked)
    denials = (await api.denials())[before:]
    # audited where the balance asked for holds something (sel_1's); sel_2 holds nothing, and
    # is not found to anyone, as an id that names nothing
    assert [(d["actor_id"], d["target_type"], d["target_id"]) for d in denials] == [
        ("partner:sel_2", "seller", "sel_1"),
        ("sel_2", "seller", "sel_1"),
        ("partner:mx-psp-1", "seller", "sel_1"),
    ]
    nobody = (await api.gql(BALANCE, {"c": "MX", "s": "sel_2"}, api.bearer(Role.L1)))["sellerBalance"]
    assert (nobody["__typename"], nobody["payable"], nobody["payouts"]) == (
        "SellerBalance",
        {"minor": 0, "currency": "MXN"},
        [],
    )
    # its own seller's, in another country: the key is for MX only
    abroad = (await api.gql(BALANCE, {"c": "CO", "s": "sel_1"}, partner))["sellerBalance"]
    assert abroad["__typename"] == "ForbiddenError"

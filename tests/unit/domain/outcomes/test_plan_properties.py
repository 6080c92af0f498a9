"""Property-based guards of the money rules (SPEC §4 invariants)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from returns.result import Success

from domain.disputes.codes import OutcomeCode
from domain.disputes.outcomes import EscrowState, ExecutionPlan, PostLedger, plan_execution
from domain.ledger import Account, AlreadyPosted, LedgerBook, rules
from domain.snapshots import OrderSnapshot
from tests.strategies import snapshots

outcomes = st.sampled_from(list(OutcomeCode))
escrow_states = st.sampled_from(list(EscrowState))


@st.composite
def planned(draw: st.DrawFn) -> tuple[OrderSnapshot, ExecutionPlan]:
    s = draw(snapshots(order_id="ord_p"))
    outcome = draw(outcomes)
    tier = (
        draw(st.sampled_from(s.policy.partial_refund_tiers_bp))
        if outcome is OutcomeCode.PARTIAL_REFUND
        else None
    )
    escrow = draw(escrow_states)
    result = plan_execution(reference="dispute:d", snapshot=s, outcome=outcome, tier_bp=tier, escrow=escrow)
    assert isinstance(result, Success)
    return s, result.unwrap()


def _book_after(s: OrderSnapshot, p: ExecutionPlan, *, include_deferred: bool) -> LedgerBook:
    book = LedgerBook()
    book.post(rules.capture(s, "cap")).unwrap()
    if p.escrow is EscrowState.RELEASED:
        book.post(rules.release(s, "rel")).unwrap()
    steps = p.steps if include_deferred else p.immediate_steps()
    for step in steps:
        if isinstance(step.action, PostLedger):
            # Posting never fails: escrow never goes negative along the way.
            assert isinstance(book.post(step.action.transaction), Success)
    return book


@settings(max_examples=400)
@given(planned())
def test_every_plan_balances_and_keeps_the_sum_of_balances_zero(
    case: tuple[OrderSnapshot, ExecutionPlan],
) -> None:
    s, p = case
    for txn in p.ledger_transactions():
        debits = sum(x.amount.minor for x in txn.postings if x.side.value == "DEBIT")
        credits = sum(x.amount.minor for x in txn.postings if x.side.value == "CREDIT")
        assert debits == credits > 0
        assert all(x.amount.currency == s.currency for x in txn.postings)
    book = _book_after(s, p, include_deferred=True)
    assert book.total_by_currency() == {s.currency.code: 0}


@settings(max_examples=400)
@given(planned())
def test_the_buyer_never_receives_more_than_was_captured(case: tuple[OrderSnapshot, ExecutionPlan]) -> None:
    s, p = case
    assert 0 <= p.refund_to_card.minor <= s.total_charged.minor
    assert 0 <= p.store_credit.minor <= s.total_charged.minor
    assert p.refund_to_card.minor + p.store_credit.minor <= s.total_charged.minor
    assert p.seller_bears + p.platform_bears == p.refund_to_card


@settings(max_examples=400)
@given(planned())
def test_escrow_never_goes_negative_and_ends_empty(case: tuple[OrderSnapshot, ExecutionPlan]) -> None:
    s, p = case
    book = _book_after(s, p, include_deferred=True)
    escrow = book.balance(Account.escrow(s.order_id), s.currency).normal.minor
    assert escrow == 0
    # Before a replacement is delivered, the money is still held in full.
    if p.outcome is OutcomeCode.REPLACEMENT and p.escrow is EscrowState.HELD:
        held = _book_after(s, p, include_deferred=False)
        assert held.balance(Account.escrow(s.order_id), s.currency).normal == s.total_charged


@settings(max_examples=300)
@given(planned())
def test_the_card_refund_leaves_psp_clearing_exactly(case: tuple[OrderSnapshot, ExecutionPlan]) -> None:
    s, p = case
    book = _book_after(s, p, include_deferred=True)
    # Nothing is paid out in these scenarios, so the clearing account holds what was
    # captured less what went back to the card.
    clearing = book.balance(Account.psp_clearing(), s.currency).amount.minor
    assert clearing == s.total_charged.minor - p.refund_to_card.minor


@settings(max_examples=200)
@given(planned())
def test_replaying_a_plan_changes_nothing(case: tuple[OrderSnapshot, ExecutionPlan]) -> None:
    s, p = case
    book = _book_after(s, p, include_deferred=True)
    before = book.balances()
    for txn in p.ledger_transactions():
        assert isinstance(book.post(txn).unwrap(), AlreadyPosted)
    assert book.balances() == before


@settings(max_examples=200)
@given(planned())
def test_plans_are_deterministic(case: tuple[OrderSnapshot, ExecutionPlan]) -> None:
    s, p = case
    again = plan_execution(
        reference=p.reference, snapshot=s, outcome=p.outcome, tier_bp=p.tier_bp, escrow=p.escrow
    ).unwrap()
    assert again == p
    assert again.fingerprint() == p.fingerprint()


@settings(max_examples=200)
@given(
    st.lists(snapshots(), min_size=1, max_size=6, unique_by=lambda s: s.order_id),
    st.data(),
)
def test_many_orders_in_many_currencies_keep_every_currency_at_zero(
    orders: list[OrderSnapshot], data: st.DataObject
) -> None:
    book = LedgerBook()
    for i, s in enumerate(orders):
        book.post(rules.capture(s, f"cap-{i}")).unwrap()
        outcome = data.draw(outcomes)
        tier = s.policy.partial_refund_tiers_bp[0] if outcome is OutcomeCode.PARTIAL_REFUND else None
        p = plan_execution(reference=f"dispute:{i}", snapshot=s, outcome=outcome, tier_bp=tier).unwrap()
        for txn in p.ledger_transactions():
            assert isinstance(book.post(txn), Success)
        # Idempotency: posting a capture again with the same key is a no-op.
        assert isinstance(book.post(rules.capture(s, f"cap-{i}")).unwrap(), AlreadyPosted)
    assert all(total == 0 for total in book.total_by_currency().values())
    for balance in book.balances():
        if balance.account.is_escrow:
            assert balance.normal.minor >= 0

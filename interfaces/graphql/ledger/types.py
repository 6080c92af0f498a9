"""GraphQL types of the ledger, built from domain objects and read records with ``from_domain``."""

from __future__ import annotations

from datetime import datetime

import strawberry

from application.ledger.payouts import SellerBalanceView, SellerPayoutView
from application.ports.read_models import PostingRecord
from domain.ledger import AccountKind, Balance, Side, TransactionKind
from domain.ledger import LedgerTransaction as DomainTransaction
from domain.ledger import Posting as DomainPosting
from interfaces.graphql.common import BigInt, Connection, Money
from interfaces.graphql.integrations.types import OutboxJobStatus

strawberry.enum(TransactionKind, description="What a ledger transaction records.")
strawberry.enum(Side, description="Debit or credit.")
strawberry.enum(AccountKind, description="Asset, liability, revenue or expense.")


@strawberry.type(name="Posting", description="One leg of a transaction (amounts are always positive).")
class PostingType:
    account: str
    side: Side
    amount: Money

    @staticmethod
    def from_domain(posting: DomainPosting) -> PostingType:
        return PostingType(
            account=posting.account.name, side=posting.side, amount=Money.from_domain(posting.amount)
        )


@strawberry.type(description="A balanced, append-only ledger transaction.")
class LedgerTransaction:
    idempotency_key: str = strawberry.field(description="Posted at most once per country.")
    kind: TransactionKind
    country_code: str
    amount: Money = strawberry.field(description="The sum of its debits (equal to its credits).")
    memo: str
    reverses: str | None
    postings: list[PostingType]

    @staticmethod
    def from_domain(transaction: DomainTransaction) -> LedgerTransaction:
        return LedgerTransaction(
            idempotency_key=transaction.idempotency_key,
            kind=transaction.kind,
            country_code=transaction.country.value,
            amount=Money.from_domain(transaction.amount),
            memo=transaction.memo,
            reverses=transaction.reverses,
            postings=[PostingType.from_domain(posting) for posting in transaction.postings],
        )


@strawberry.type(description="A posting to one account, with the transaction it belongs to.")
class AccountPosting:
    sequence: BigInt = strawberry.field(description="The posting's position in the ledger's total order.")
    side: Side
    amount: Money
    transaction_key: str
    transaction_kind: TransactionKind
    recorded_at: datetime

    @staticmethod
    def from_domain(record: PostingRecord) -> AccountPosting:
        return AccountPosting(
            sequence=BigInt(record.sequence),
            side=record.posting.side,
            amount=Money.from_domain(record.posting.amount),
            transaction_key=record.transaction_key,
            transaction_kind=TransactionKind(record.transaction_kind),
            recorded_at=record.recorded_at,
        )


@strawberry.type(description="One account in one currency: its balance and its postings, newest first.")
class LedgerAccount:
    account: str
    kind: AccountKind
    currency: str
    balance: Money = strawberry.field(
        description="In the account's normal direction (a funded escrow is positive); "
        "the latest checkpoint plus the postings after it."
    )
    postings: Connection[AccountPosting]

    @staticmethod
    def from_domain(balance: Balance, postings: Connection[AccountPosting]) -> LedgerAccount:
        return LedgerAccount(
            account=balance.account.name,
            kind=balance.account.kind,
            currency=balance.amount.currency.code,
            balance=Money.from_domain(balance.normal),
            postings=postings,
        )


@strawberry.type(description="One payout of a seller (D89): posted to the ledger when DONE.")
class SellerPayout:
    idempotency_key: str
    amount: Money = strawberry.field(description="What leaves to the seller's bank account.")
    settled_receivable: Money = strawberry.field(description="The clawback debt the payout settles.")
    status: OutboxJobStatus
    attempts: int
    created_at: datetime
    last_error: str | None = strawberry.field(description="The last failed attempt, if any.")
    returned: bool = strawberry.field(
        description="DONE, then reported failed by the provider (the bank returned it): its posting "
        "was reversed and the money is owed again, paid by a later payout (D130)."
    )

    @staticmethod
    def from_view(view: SellerPayoutView) -> SellerPayout:
        return SellerPayout(
            idempotency_key=view.idempotency_key,
            amount=Money.from_domain(view.amount),
            settled_receivable=Money.from_domain(view.settled_receivable),
            status=OutboxJobStatus(view.status.value),
            attempts=view.attempts,
            created_at=view.created_at,
            last_error=view.last_error,
            returned=view.returned,
        )


@strawberry.type(description='"Where is my money?": a seller\'s balances and newest payouts (D89).')
class SellerBalance:
    seller_id: str
    payable: Money = strawberry.field(description="Released to the seller, not paid out yet.")
    receivable: Money = strawberry.field(description="Clawed back from the seller after a refund.")
    owed: Money = strawberry.field(
        description="What the next payout run pays: payable less receivable (zero if the seller owes more), "
        "and zero while a payout of this currency is in flight (the run schedules none until it is settled)."
    )
    in_flight: Money = strawberry.field(
        description="What this currency's payouts not yet DONE or DISCARDED will pay (pending, running, "
        "awaiting the provider, or dead-lettered): still in payable until the provider confirms, "
        "not to be paid again."
    )
    payouts: list[SellerPayout] = strawberry.field(description="Newest first, at most 50, every currency.")

    @staticmethod
    def from_view(view: SellerBalanceView) -> SellerBalance:
        return SellerBalance(
            seller_id=view.seller_id,
            payable=Money.from_domain(view.payable),
            receivable=Money.from_domain(view.receivable),
            owed=Money.from_domain(view.owed),
            in_flight=Money.from_domain(view.in_flight),
            payouts=[SellerPayout.from_view(payout) for payout in view.payouts],
        )

"""Double-entry ledger: accounts, balanced transactions, posting rules, balances."""

from domain.ledger import rules
from domain.ledger.accounts import Account, AccountKind
from domain.ledger.balances import (
    AlreadyPosted,
    Balance,
    BalanceSnapshot,
    EscrowOverdrawn,
    IdempotencyKeyReusedForOtherMoney,
    LedgerBook,
    Posted,
    PostingLine,
    already_posted,
    balance_from,
    escrow_problem,
)
from domain.ledger.rules import RefundSplit
from domain.ledger.transactions import (
    LedgerTransaction,
    LegBuilder,
    MalformedTransaction,
    Posting,
    Side,
    TransactionKind,
    UnbalancedTransaction,
)

__all__ = [
    "Account",
    "AccountKind",
    "AlreadyPosted",
    "Balance",
    "BalanceSnapshot",
    "EscrowOverdrawn",
    "IdempotencyKeyReusedForOtherMoney",
    "LedgerBook",
    "LedgerTransaction",
    "LegBuilder",
    "MalformedTransaction",
    "Posted",
    "Posting",
    "PostingLine",
    "RefundSplit",
    "Side",
    "TransactionKind",
    "UnbalancedTransaction",
    "already_posted",
    "balance_from",
    "escrow_problem",
    "rules",
]

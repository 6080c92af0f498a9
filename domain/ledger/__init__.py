"""Double-entry ledger: accounts, balanced transactions, posting rules, balances."""

from domain.ledger import rules
from domain.ledger.accounts import Account, AccountKind
from domain.ledger.balances import (
    AlreadyPosted,
    Balance,
    BalanceSnapshot,
    EscrowOverdrawn,
    LedgerBook,
    Posted,
    PostingLine,
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
    "balance_from",
    "escrow_problem",
    "rules",
]

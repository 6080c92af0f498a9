"""Ledger accounts: stable string names, each of one kind (SPEC §4)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from returns.result import Failure, Result, Success

from domain.shared.errors import InvalidInput, InvariantViolation


class AccountKind(StrEnum):
    ASSET = "ASSET"
    LIABILITY = "LIABILITY"
    REVENUE = "REVENUE"
    EXPENSE = "EXPENSE"

    @property
    def debit_normal(self) -> bool:
        """Assets and expenses grow with debits; liabilities and revenue with credits."""
        return self in (AccountKind.ASSET, AccountKind.EXPENSE)


PSP_CLEARING: Final = "psp:clearing"
COMMISSION_REVENUE: Final = "platform:revenue:commission"
GOODWILL_EXPENSE: Final = "platform:expense:goodwill"

_FIXED: Final[dict[str, AccountKind]] = {
    PSP_CLEARING: AccountKind.ASSET,
    COMMISSION_REVENUE: AccountKind.REVENUE,
    GOODWILL_EXPENSE: AccountKind.EXPENSE,
}
ESCROW_PREFIX: Final = "escrow:order:"
SELLER_PAYABLE_PREFIX: Final = "seller:payable:"
SELLER_RECEIVABLE_PREFIX: Final = "seller:receivable:"
BUYER_CREDIT_PREFIX: Final = "buyer:credit:"

_PARAMETRISED: Final[dict[str, AccountKind]] = {
    ESCROW_PREFIX: AccountKind.LIABILITY,
    SELLER_PAYABLE_PREFIX: AccountKind.LIABILITY,
    SELLER_RECEIVABLE_PREFIX: AccountKind.ASSET,
    BUYER_CREDIT_PREFIX: AccountKind.LIABILITY,
}
_MAX_NAME = 200


class AccountHolder(StrEnum):
    """Who an id names accounts for: an order (its escrow), a buyer (store credit) or a
    seller (payable and receivable). Couriers hold no account."""

    ORDER = "order"
    BUYER = "buyer"
    SELLER = "seller"


_HOLDER_PREFIXES: Final[dict[AccountHolder, tuple[str, ...]]] = {
    AccountHolder.ORDER: (ESCROW_PREFIX,),
    AccountHolder.BUYER: (BUYER_CREDIT_PREFIX,),
    AccountHolder.SELLER: (SELLER_PAYABLE_PREFIX, SELLER_RECEIVABLE_PREFIX),
}


def _kind_of(name: str) -> AccountKind | None:
    if name in _FIXED:
        return _FIXED[name]
    for prefix, kind in _PARAMETRISED.items():
        suffix = name.removeprefix(prefix)
        if suffix != name and suffix and ":" not in suffix and suffix.strip() == suffix:
            return kind
    return None


@dataclass(frozen=True, slots=True, order=True)
class Account:
    """A ledger account, identified by its stable name (e.g. ``escrow:order:ord_1``)."""

    name: str

    def __post_init__(self) -> None:
        if len(self.name) > _MAX_NAME or _kind_of(self.name) is None:
            raise InvariantViolation(f"not a ledger account name: {self.name!r}")

    @staticmethod
    def parse(name: str) -> Result[Account, InvalidInput]:
        if len(name) > _MAX_NAME or _kind_of(name) is None:
            return Failure(InvalidInput("account", f"{name!r} is not a ledger account name"))
        return Success(Account(name))

    @property
    def kind(self) -> AccountKind:
        kind = _kind_of(self.name)
        assert kind is not None  # guaranteed by __post_init__
        return kind

    @property
    def is_escrow(self) -> bool:
        return self.name.startswith(ESCROW_PREFIX)

    # Named constructors: the only way code outside the ledger spells account names.
    @staticmethod
    def psp_clearing() -> Account:
        return Account(PSP_CLEARING)

    @staticmethod
    def commission_revenue() -> Account:
        return Account(COMMISSION_REVENUE)

    @staticmethod
    def goodwill_expense() -> Account:
        return Account(GOODWILL_EXPENSE)

    @staticmethod
    def escrow(order_id: str) -> Account:
        return Account(f"{ESCROW_PREFIX}{order_id}")

    @staticmethod
    def seller_payable(seller_id: str) -> Account:
        return Account(f"{SELLER_PAYABLE_PREFIX}{seller_id}")

    @staticmethod
    def seller_receivable(seller_id: str) -> Account:
        return Account(f"{SELLER_RECEIVABLE_PREFIX}{seller_id}")

    @staticmethod
    def buyer_credit(buyer_id: str) -> Account:
        return Account(f"{BUYER_CREDIT_PREFIX}{buyer_id}")

    def __str__(self) -> str:
        return self.name


def max_holder_id_length(holder: AccountHolder) -> int:
    """The longest id of ``holder`` every account it needs can be named from."""
    return _MAX_NAME - max(len(prefix) for prefix in _HOLDER_PREFIXES[holder])


def holder_id_problem(holder: AccountHolder, holder_id: str) -> str | None:
    """Why some ledger account ``holder_id`` will need (escrow, store credit, payable or
    receivable) cannot be named, or ``None`` when all of them can. Checked when the
    id enters the system (an order's creation, a seller's reassignment): a posting made
    later with an id the ledger refuses would raise, at a time nobody can fix it."""
    for prefix in _HOLDER_PREFIXES[holder]:
        if isinstance(Account.parse(prefix + holder_id), Success):
            continue
        if ":" in holder_id:
            return "must not contain ':' (it names ledger accounts)"
        if len(holder_id) > max_holder_id_length(holder):
            return f"must be at most {max_holder_id_length(holder)} characters (it names ledger accounts)"
        return "must be non-blank, without surrounding spaces (it names ledger accounts)"
    return None

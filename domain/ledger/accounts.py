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
_PARAMETRISED: Final[dict[str, AccountKind]] = {
    "escrow:order:": AccountKind.LIABILITY,
    "seller:payable:": AccountKind.LIABILITY,
    "seller:receivable:": AccountKind.ASSET,
    "buyer:credit:": AccountKind.LIABILITY,
}
_MAX_NAME = 200


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
        return self.name.startswith("escrow:order:")

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
        return Account(f"escrow:order:{order_id}")

    @staticmethod
    def seller_payable(seller_id: str) -> Account:
        return Account(f"seller:payable:{seller_id}")

    @staticmethod
    def seller_receivable(seller_id: str) -> Account:
        return Account(f"seller:receivable:{seller_id}")

    @staticmethod
    def buyer_credit(buyer_id: str) -> Account:
        return Account(f"buyer:credit:{buyer_id}")

    def __str__(self) -> str:
        return self.name

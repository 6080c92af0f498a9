"""Which ids can name the ledger accounts they will need (one rule: the ledger's own).

Account names are at most 200 characters and a parametrised account's id holds no ``:``
(SPEC §4). An order names ``escrow:order:<id>`` (13 characters of prefix: ids of up to 187),
a buyer ``buyer:credit:<id>`` (13: 187), a seller both ``seller:payable:<id>`` (15) and
``seller:receivable:<id>`` (18: 182). An id is accepted only when every account of its
holder can be named, so a seller of 183-185 characters, whose payable fits but whose
receivable does not, is refused.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from domain.ledger import Account
from domain.ledger.accounts import AccountHolder, holder_id_problem, max_holder_id_length
from domain.shared import InvariantViolation

ACCOUNTS_OF: dict[AccountHolder, tuple[Callable[[str], Account], ...]] = {
    AccountHolder.ORDER: (Account.escrow,),
    AccountHolder.BUYER: (Account.buyer_credit,),
    AccountHolder.SELLER: (Account.seller_payable, Account.seller_receivable),
}
LONGEST = {AccountHolder.ORDER: 187, AccountHolder.BUYER: 187, AccountHolder.SELLER: 182}


@pytest.mark.parametrize("holder", list(AccountHolder))
def test_the_longest_id_is_the_one_the_longest_prefix_leaves_room_for(holder: AccountHolder) -> None:
    assert max_holder_id_length(holder) == LONGEST[holder]


@pytest.mark.parametrize("holder", list(AccountHolder))
def test_an_id_at_the_limit_names_every_account_and_one_more_character_does_not(
    holder: AccountHolder,
) -> None:
    at_limit = "x" * LONGEST[holder]
    assert holder_id_problem(holder, at_limit) is None
    for build in ACCOUNTS_OF[holder]:
        assert len(build(at_limit).name) <= 200

    over = at_limit + "x"
    assert holder_id_problem(holder, over) == (
        f"must be at most {LONGEST[holder]} characters (it names ledger accounts)"
    )
    with pytest.raises(InvariantViolation):
        for build in ACCOUNTS_OF[holder]:
            build(over)


@pytest.mark.parametrize("length", [183, 184, 185])
def test_a_seller_whose_payable_fits_but_whose_receivable_does_not_is_refused(length: int) -> None:
    seller = "s" * length
    assert Account.seller_payable(seller).name == "seller:payable:" + seller  # fits: 15 + 185 = 200
    with pytest.raises(InvariantViolation):
        Account.seller_receivable(seller)
    assert holder_id_problem(AccountHolder.SELLER, seller) == (
        "must be at most 182 characters (it names ledger accounts)"
    )


@pytest.mark.parametrize("holder", list(AccountHolder))
@pytest.mark.parametrize("bad", ["acme:eu", ":", "a:", ":a", "x" * 10 + ":" + "y" * 300])
def test_an_id_with_a_colon_is_refused(holder: AccountHolder, bad: str) -> None:
    assert holder_id_problem(holder, bad) == "must not contain ':' (it names ledger accounts)"
    for build in ACCOUNTS_OF[holder]:
        with pytest.raises(InvariantViolation):
            build(bad)


@pytest.mark.parametrize("holder", list(AccountHolder))
@pytest.mark.parametrize("bad", ["", " ", " sel_1", "sel_1 ", "\tsel_1"])
def test_a_blank_or_padded_id_is_refused(holder: AccountHolder, bad: str) -> None:
    assert holder_id_problem(holder, bad) == (
        "must be non-blank, without surrounding spaces (it names ledger accounts)"
    )


@pytest.mark.parametrize("holder", list(AccountHolder))
@pytest.mark.parametrize("good", ["o1", "sel_1", "acme-eu", "acme/eu", "ACME.eu_01", "x y"])
def test_an_ordinary_id_is_accepted(holder: AccountHolder, good: str) -> None:
    assert holder_id_problem(holder, good) is None
    for build in ACCOUNTS_OF[holder]:
        assert build(good).name.endswith(":" + good)

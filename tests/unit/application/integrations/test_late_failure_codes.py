"""What of a provider's failure reason a late failure keeps (D130): its code, never free text."""

from __future__ import annotations

from application.saga.executor import failure_code


def test_only_a_short_code_of_the_providers_failure_reason_is_kept() -> None:
    assert failure_code("account_closed") == "account_closed"
    assert failure_code("http_422: refused") == "http_422"
    assert failure_code(" Card_Declined ") == "card_declined"
    assert failure_code("") == "unspecified"
    assert failure_code("the account of Juan Pérez is closed") == "unspecified"
    assert failure_code("x" * 65) == "unspecified"


def test_a_number_is_never_kept_as_a_code() -> None:
    # the audit log cannot be erased: a card, a phone or an account number is never a "code"
    for detail in (
        "4111111111111111",  # a card number
        "96598765432",  # a Kuwaiti phone without its +
        "kw81cbku0000000000001234560101",  # an IBAN
        "5512345678: no such account",
        "acct_5512345678",
        "tel_55_123_456_78",  # a number split into short groups
        "card-411-111-111-111",
    ):
        assert failure_code(detail) == "unspecified", detail
    assert failure_code("insufficient_funds") == "insufficient_funds"
    assert failure_code("r01") == "r01"  # an ACH return code

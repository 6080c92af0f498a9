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

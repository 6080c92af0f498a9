"""What of a provider's free text reaches records that are never erased (D133)."""

from __future__ import annotations

import pytest

from application.audit.redaction import without_personal_data


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("declined: jane@gmail.com", "declined: [REDACTED:EMAIL]"),
        ("call +52 55 1234 5678", "call [REDACTED:NUMBER]"),
        ("account 5512345678 closed", "account [REDACTED:NUMBER] closed"),
        ("tel:98765432", "tel:[REDACTED:NUMBER]"),
        ("card 4111 1111 1111 1111", "card [REDACTED:CARD_NUMBER]"),
    ],
)
def test_personal_data_is_redacted(text: str, kept: str) -> None:
    assert without_personal_data(text) == kept


@pytest.mark.parametrize(
    "text",
    [
        "HTTP 503 after 30000 ms",
        "timeout after 5.0 s",
        "dispute:dsp_0190a1b2c3/FULL_REFUND/provider_refund#r1",
        "order ord_000123456789 on 2026-12-07 10:40:00",
        "expired 07/12/2026",
        "",
    ],
)
def test_what_is_not_personal_stays(text: str) -> None:
    assert without_personal_data(text) == text

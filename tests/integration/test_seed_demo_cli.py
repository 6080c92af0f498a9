"""``supportos seed-demo``'s partner key, written as the service's own role (row-level security)."""

from __future__ import annotations

import pytest
from returns.result import Success

from application.demo.seed import demo_payment_partner, demo_seller
from application.security.principal import PartnerKind, Role
from application.security.scope import current_scope, scoped_to
from interfaces.cli.demo import print_partner_key
from interfaces.container import build_container, dispose_engines
from interfaces.settings import Settings


async def test_the_demo_partner_key_is_created_as_the_service_role(
    app_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    container = build_container(Settings(database_url=app_url, environment="development"))
    try:
        with scoped_to(None):  # as in the CLI: no scope bound around the call
            await print_partner_key(container)
            assert current_scope() is None  # the system scope ended with the call
        captured = capsys.readouterr()
        assert "not created" not in captured.err
        raw_key = captured.out.strip().splitlines()[-1]
        assert raw_key.startswith("sos_mx_")
        checked = await container.api().authenticate_api_key(raw_key)
        assert isinstance(checked, Success)
        principal = checked.unwrap()
        assert principal.role is Role.PARTNER
        assert principal.partner_id == demo_seller("MX")
        assert principal.partner_kind is PartnerKind.SELLER_ORG
    finally:
        await dispose_engines(container)


async def test_the_demo_payment_partner_key_is_made_for_the_demo_payments(
    app_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    container = build_container(Settings(database_url=app_url, environment="development"))
    try:
        with scoped_to(None):
            await print_partner_key(container, PartnerKind.PAYMENT_PARTNER)
        captured = capsys.readouterr()
        assert "not created" not in captured.err
        assert "PAYMENT_PARTNER" in captured.out
        checked = await container.api().authenticate_api_key(captured.out.strip().splitlines()[-1])
        principal = checked.unwrap()
        assert (principal.partner_id, principal.partner_kind) == (
            demo_payment_partner("MX"),
            PartnerKind.PAYMENT_PARTNER,
        )
    finally:
        await dispose_engines(container)

"""The GraphQL API end to end: the real app factory, the real container, a migrated database.

Every test here runs on SQLite and on PostgreSQL (the ``database_url`` fixture of
``tests/integration/conftest.py``). Requests go over HTTP in-process (httpx's
``ASGITransport``) to ``container.http_app()``; the container's clock and ids are fixed so
windows and ids are predictable. Data is made through the application's use cases, as a
SYSTEM actor, never by writing rows.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from dependency_injector import providers
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from application.context import RequestContext, Services
from application.disputes.use_cases import OpenDispute, StartReview, open_dispute, start_review
from application.orders.use_cases import (
    CapturePayment,
    CreateOrder,
    TransitionOrder,
    capture_payment,
    create_order,
    transition_order,
)
from application.security.api_keys import IssueApiKey, issue_api_key
from application.security.principal import PartnerKind, Principal, Role
from application.security.scope import scoped_to
from domain.disputes import Dispute
from domain.disputes.codes import DisputeReason
from domain.orders import Order, OrderStatus
from domain.shared import CountryCode, Currency
from domain.shared.ids import BuyerId, CourierId, OrderId, SellerId
from domain.snapshots import RefundPolicy
from interfaces.auth import TokenKeys, mint_token
from interfaces.container import Container, build_container, dispose_engines
from interfaces.settings import Settings
from tests.fakes.time_and_ids import FixedClock, SequentialIds

MX, CO, AR = CountryCode("MX"), CountryCode("CO"), CountryCode("AR")
CURRENCY = {MX: Currency.of("MXN"), CO: Currency.of("COP"), AR: Currency.of("ARS")}
SYSTEM = RequestContext(Principal("system-test", Role.SYSTEM, frozenset({MX, CO, AR})), "req-setup")
START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

FORWARD = (OrderStatus.ACCEPTED, OrderStatus.IN_PREPARATION, OrderStatus.IN_TRANSIT, OrderStatus.DELIVERED)


@dataclass
class StatementCounter:
    """Counts SQL statements sent to the database by any engine of the container."""

    statements: list[str] = field(default_factory=list)
    active: bool = False

    def __call__(self, conn: Connection, cursor: Any, statement: str, *args: Any) -> None:
        if self.active:
            self.statements.append(statement)

    @contextmanager
    def counting(self) -> Iterator[list[str]]:
        self.statements.clear()
        self.active = True
        try:
            yield self.statements
        finally:
            self.active = False


@dataclass
class Api:
    client: httpx.AsyncClient
    container: Container
    settings: Settings
    clock: FixedClock
    sql: StatementCounter
    owner: AsyncEngine  # the database's owner: raw checks that see past every guard

    @property
    def svc(self) -> Services:
        return self.container.services()

    def token(
        self,
        role: Role,
        countries: tuple[CountryCode, ...] = (MX,),
        subject: str | None = None,
    ) -> str:
        return mint_token(
            TokenKeys.from_settings(self.settings),
            subject=subject or f"{role.value.lower()}-1",
            role=role,
            countries=frozenset(countries),
            now=datetime.now(UTC),
            ttl=timedelta(hours=1),
        )

    def bearer(self, role: Role, *countries: CountryCode, subject: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, countries or (MX,), subject)}"}

    async def partner_key(
        self, partner_id: str, country: CountryCode = MX, kind: PartnerKind = PartnerKind.SELLER_ORG
    ) -> dict[str, str]:
        issued = (await issue_api_key(self.svc, SYSTEM, IssueApiKey(partner_id, country, kind=kind))).unwrap()
        return {"X-Api-Key": issued.raw_key}

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        with scoped_to(None):  # a fresh request: nothing bound until the app binds the caller's scope
            return await self.client.post("/graphql", json=body, headers=headers or {})

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """The ``data`` of a request that must succeed at the GraphQL level (no ``errors``)."""
        response = await self.post(query, variables, headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.owner.connect() as connection:
            return (await connection.execute(text(sql), params)).scalar_one()

    async def denials(self) -> list[dict[str, Any]]:
        async with self.owner.connect() as connection:
            rows = (
                await connection.execute(
                    text(
                        "SELECT actor_id, actor_role, country_code, target_type, target_id, request_id"
                        " FROM audit_log WHERE action = 'access.denied' ORDER BY sequence"
                    )
                )
            ).mappings()
            return [dict(row) for row in rows]

    async def audit_count(self) -> int:
        return int(await self.scalar("SELECT COUNT(*) FROM audit_log"))

    # --- data, through the use cases ------------------------------------------------

    async def policy(self, country: CountryCode) -> RefundPolicy:
        policy = RefundPolicy.create(
            country=country,
            version=f"{country.value}-v1",
            currency=CURRENCY[country],
            goodwill_credit_minor=10_000,
        ).unwrap()
        async with self.svc.uow() as uow:
            await uow.policies.add(policy, effective_from=START - timedelta(days=365))
            await uow.commit()
        return policy

    async def order(
        self,
        order_id: str,
        *,
        country: CountryCode = MX,
        until: OrderStatus = OrderStatus.DELIVERED,
        buyer: str = "buy_1",
        seller: str = "sel_1",
        courier: str = "cou_1",
        payment_partner: str | None = None,
    ) -> Order:
        """Created, captured (T = 123_000: S 100_000 + 5_000 + 2_000 + 16_000, commission 15 %;
        the payment processed by ``payment_partner``, if given) and moved forward to ``until``."""
        svc = self.svc
        order = (
            await create_order(
                svc,
                SYSTEM,
                CreateOrder(country, BuyerId(buyer), SellerId(seller), CourierId(courier), OrderId(order_id)),
            )
        ).unwrap()
        if until is OrderStatus.CREATED:
            return order
        order = (
            await capture_payment(
                svc,
                SYSTEM,
                CapturePayment(
                    country,
                    OrderId(order_id),
                    CURRENCY[country],
                    100_000,
                    5_000,
                    2_000,
                    16_000,
                    0,
                    1_500,
                    payment_partner,
                ),
            )
        ).unwrap()
        for status in FORWARD:
            if order.status is until:
                break
            order = (
                await transition_order(svc, SYSTEM, TransitionOrder(country, OrderId(order_id), status))
            ).unwrap()
        return order

    async def dispute(
        self,
        order_id: str,
        *,
        country: CountryCode = MX,
        review: bool = False,
        buyer: str = "buy_1",
        seller: str = "sel_1",
        payment_partner: str | None = None,
    ) -> Dispute:
        await self.order(
            order_id, country=country, buyer=buyer, seller=seller, payment_partner=payment_partner
        )
        dispute = (
            await open_dispute(
                self.svc,
                SYSTEM,
                OpenDispute(country, OrderId(order_id), DisputeReason.DAMAGED, "The vase arrived broken"),
            )
        ).unwrap()
        if review:
            dispute = (await start_review(self.svc, SYSTEM, StartReview(country, dispute.id))).unwrap()
        return dispute


EVIDENCE_UPLOAD = """
mutation Upload($input: DisputeEvidenceUploadInput!) {
  disputeEvidenceUpload(input: $input) {
    __typename
    ... on Error { code message }
    ... on DisputeEvidenceUploadSuccess { contentSha256 sizeBytes mediaType created }
  }
}
"""
JPEG_BYTES = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF\x00" + bytes(range(64))


async def upload_evidence(
    api: Api,
    dispute_id: str,
    content: bytes = JPEG_BYTES,
    headers: dict[str, str] | None = None,
    *,
    country: str = "MX",
    filename: str = "photo.jpg",
) -> dict[str, Any]:
    """``disputeEvidenceUpload`` as a GraphQL multipart request (default: L1); its answer."""
    operations = {
        "query": EVIDENCE_UPLOAD,
        "variables": {"input": {"countryCode": country, "disputeId": dispute_id, "file": None}},
    }
    with scoped_to(None):
        response = await api.client.post(
            "/graphql",
            data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.file"]})},
            files={"0": (filename, content, "application/octet-stream")},
            headers=api.bearer(Role.L1) if headers is None else headers,
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    answer: dict[str, Any] = body["data"]["disputeEvidenceUpload"]
    return answer


@asynccontextmanager
async def serving(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Api]:
    """The app on ``settings`` as these tests drive it: a fixed clock and ids, the statements
    of both engines counted, in-process HTTP; its engines disposed at the end."""
    container = build_container(settings)
    clock = FixedClock(START)
    container.clock.override(providers.Object(clock))
    container.ids.override(providers.Object(SequentialIds()))
    counter = StatementCounter()
    engines: list[AsyncEngine] = [container.engine(), container.read_engine()]
    for each in {id(e): e for e in engines}.values():
        event.listen(each.sync_engine, "before_cursor_execute", counter)
    transport = httpx.ASGITransport(app=container.http_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://supportos.test") as client:
        yield Api(client, container, settings, clock, counter, engine)
    await settle_cancelled_tasks()
    await dispose_engines(container)


@pytest.fixture
async def api(app_url: str, engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Api]:
    """The app as the service's own database role (on PostgreSQL: row-level security on);
    blobs (evidence files) in a temporary directory."""
    settings = Settings(database_url=app_url, environment="development", blob_dir=tmp_path / "blobs")
    async with serving(settings, engine) as api:
        for country in (MX, CO, AR):
            await api.policy(country)
        yield api


SETTLE_SECONDS = 10.0


async def settle_cancelled_tasks() -> None:
    """Let the tasks a test cancelled finish their cleanup before the pools close: a
    websocket's subscription cancelled mid-read is still closing its connection
    (SQLAlchemy terminates a connection checked out by a cancelled task, shielded), and
    disposing the engines under it could leave that close waiting forever."""
    current = asyncio.current_task()
    cancelling = [t for t in asyncio.all_tasks() if t is not current and not t.done() and t.cancelling()]
    if cancelling:
        await asyncio.wait(cancelling, timeout=SETTLE_SECONDS)

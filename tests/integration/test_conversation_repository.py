"""Messaging storage on SQLite and PostgreSQL: the use cases against the SQL unit of work.

Round trip of conversations, messages (blocked ones with their findings) and sender
standing; the messages table refuses UPDATE and DELETE in the database; the notification
jobs are written in the message's transaction (a rollback leaves neither); idempotent
retries, conflicts, and a lost race that answers a conflict instead of an integrity error.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, Final

import pytest
from returns.result import Failure, Success
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.conversations import conversation_to_row
from adapters.persistence.tables import audit_log, conversation_senders, messages, outbox_jobs
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.screening import MarketplacePhoneFinder
from application.context import RequestContext
from application.messaging.common import MessagingServices
from application.messaging.moderation import FreezeConversation, freeze_conversation
from application.messaging.notifications import NOTIFY_JOB_KIND
from application.messaging.queries import (
    ExportConversation,
    ReadConversation,
    export_conversation,
    read_conversation,
    transcript_for_order,
)
from application.messaging.use_cases import OpenConversation, SendMessage, open_conversation, send_message
from application.ports.concurrency import ConcurrencyConflict
from application.ports.messaging import MessagingUnitOfWork
from application.security.principal import Principal, Role
from domain.disputes.evidence import ActorRef
from domain.messaging import (
    ClientMessageIdConflict,
    FindingKind,
    MessageStatus,
    OpeningGround,
    Party,
    Screener,
    Screening,
    verify_chain,
    verify_export,
)
from domain.shared import InvalidInput
from domain.shared.ids import ActorId, OrderId
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.aggregate_builders import CO, MX, T0, ok, order_in

UowFactory = Callable[[], SqlAlchemyUnitOfWork]
ORDER: Final = OrderId("ord_1")
SCREENER: Final = Screener(MarketplacePhoneFinder())


def who(role: Role, actor: str) -> RequestContext:
    return RequestContext(Principal(actor, role, frozenset({MX})), f"req-{actor}")


BUYER, SELLER, AGENT = who(Role.BUYER, "buy_1"), who(Role.SELLER, "sel_1"), who(Role.L2, "agent_1")


def services(uow_factory: Callable[[], MessagingUnitOfWork], clock: FixedClock) -> MessagingServices:
    return MessagingServices(uow=uow_factory, clock=clock, ids=SequentialIds(), screener=SCREENER)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0 + timedelta(hours=2))


@pytest.fixture
async def svc(uow_factory: UowFactory, clock: FixedClock) -> MessagingServices:
    """An order in transit frozen by incident ``inc_42`` and its conversation, opened by the buyer."""
    async with uow_factory() as uow:
        await uow.orders.add(order_in("FROZEN in transit"))
        await uow.commit()
    services_ = services(uow_factory, clock)
    opened = ok(await open_conversation(services_, BUYER, OpenConversation(MX, ORDER)))
    assert opened.created and opened.conversation.opening.ground is OpeningGround.INCIDENT
    return services_


def send(body: str, client_id: str, **extra: Any) -> SendMessage:
    return SendMessage(MX, ORDER, client_id, body, **extra)


async def count(engine: AsyncEngine, table: Any, **where: Any) -> int:
    query = select(func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    async with engine.connect() as connection:
        return int((await connection.execute(query)).scalar_one())


async def test_conversations_messages_and_senders_round_trip(
    svc: MessagingServices, uow_factory: UowFactory, clock: FixedClock
) -> None:
    hello = ok(await send_message(svc, BUYER, send("¿Cuándo llega mi pedido MX-48213377?", "c1")))
    clock.advance(timedelta(seconds=30))
    blocked = ok(await send_message(svc, BUYER, send("mejor llámame al 55 1234 5678", "c2")))
    clock.advance(timedelta(seconds=30))
    reply = ok(await send_message(svc, SELLER, send("Sale hoy a las 17:00", "s1")))
    correction = ok(
        await send_message(
            svc, SELLER, send("Sale hoy a las 18:00", "s2", corrects_message_id=reply.message.message_id)
        )
    )
    assert not hello.message.blocked and blocked.message.status is MessageStatus.BLOCKED
    assert FindingKind.PHONE in {finding.kind for finding in blocked.message.findings}

    async with uow_factory() as uow:
        stored = await uow.conversations.for_order(MX, ORDER)
        assert stored is not None
        assert await uow.conversations.get(MX, stored.id) is stored  # one object per unit of work
        stored_messages = await uow.conversations.messages(MX, stored.id, limit=10)
        later = await uow.conversations.messages(MX, stored.id, after_sequence=2, limit=1)
        by_client = await uow.conversations.by_client_id(MX, stored.id, "c2")
        by_id = await uow.conversations.message(MX, stored.id, reply.message.message_id)
        elsewhere = await uow.conversations.for_order(CO, ORDER)

    sent = [hello.message, blocked.message, reply.message, correction.message]
    assert stored_messages == sent  # every field, findings and microseconds included
    assert later == [reply.message] and by_client == blocked.message and by_id == reply.message
    assert elsewhere is None
    assert verify_chain(stored.id, stored_messages) is None
    assert (stored.head_sequence, stored.head_hash) == (4, correction.message.chain_hash)
    assert stored.version == 5 and stored.participants.courier_id == "cou_1"
    buyer = stored.sender("buy_1")
    seller = stored.sender("sel_1")
    assert buyer is not None and (buyer.party, buyer.sent, buyer.blocked, buyer.violations) == (
        Party.BUYER,
        2,
        1,
        1,
    )
    assert seller is not None and (seller.sent, seller.blocked) == (2, 0)
    assert correction.message.corrects == reply.message.message_id

    page = ok(await read_conversation(svc, BUYER, ReadConversation(MX, ORDER, limit=2)))
    assert [m.message_id for m in page.messages] == [hello.message.message_id, blocked.message.message_id]
    assert page.next_after == 2
    export = ok(await export_conversation(svc, who(Role.AUDITOR, "aud_1"), ExportConversation(MX, ORDER)))
    assert export.broken is None
    assert verify_export(export.export.to_json()).unwrap().message_count == 4

    async with uow_factory() as uow:
        transcript = await transcript_for_order(uow, MX, ORDER)
    assert [entry.chain_hash for entry in transcript.entries] == [m.chain_hash for m in sent]
    assert [entry.blocked for entry in transcript.entries] == [False, True, False, False]


async def test_a_frozen_conversation_and_a_frozen_sender_read_back(
    svc: MessagingServices, uow_factory: UowFactory, clock: FixedClock
) -> None:
    for n in range(3):  # the third violation freezes the buyer in this conversation
        clock.advance(timedelta(minutes=1))
        ok(await send_message(svc, BUYER, send(f"mi whatsapp es 55 1234 567{n}", f"b{n}")))
    clock.advance(timedelta(minutes=1))
    frozen = ok(await freeze_conversation(svc, AGENT, FreezeConversation(MX, ORDER, "insultos")))
    async with uow_factory() as uow:
        stored = await uow.conversations.for_order(MX, ORDER)
    assert stored is not None and stored.frozen
    assert conversation_to_row(stored) == conversation_to_row(frozen)
    assert stored.freeze_record is not None
    assert (stored.freeze_record.by.actor_id, stored.freeze_record.reason) == ("agent_1", "insultos")
    buyer = stored.sender("buy_1")
    assert buyer is not None and buyer.frozen and buyer.violations == 3


async def test_messages_cannot_be_changed_or_deleted(
    svc: MessagingServices, engine: AsyncEngine, app_engine: AsyncEngine, backend: str
) -> None:
    ok(await send_message(svc, BUYER, send("hola", "c1")))
    refused = [
        "UPDATE messages SET body = 'edited'",
        "UPDATE messages SET status = 'DELIVERED', findings = '[]'",
        "DELETE FROM messages",
    ]
    for statement in refused:  # the owner: the triggers refuse it
        with pytest.raises(IntegrityError, match="append-only"):
            async with engine.begin() as connection:
                await connection.execute(text(statement))
    if backend == "postgresql":
        with pytest.raises(IntegrityError, match="append-only"):
            async with engine.begin() as connection:
                await connection.execute(text("TRUNCATE messages CASCADE"))
        for statement in refused:  # the service's role has no UPDATE or DELETE at all
            with pytest.raises(DBAPIError, match="permission denied"):
                async with app_engine.begin() as connection:
                    await connection.execute(text(statement))
    assert await count(engine, messages) == 1
    async with engine.connect() as connection:
        body = (await connection.execute(select(messages.c.body))).scalar_one()
    assert body == "hola"


async def test_the_notification_jobs_are_written_with_the_message(
    svc: MessagingServices, engine: AsyncEngine
) -> None:
    sent = ok(await send_message(svc, BUYER, send("¿ya salió?", "c1")))
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(outbox_jobs.c.idempotency_key, outbox_jobs.c.kind, outbox_jobs.c.payload).order_by(
                    outbox_jobs.c.idempotency_key
                )
            )
        ).all()
    message_id = sent.message.message_id
    assert [(row.idempotency_key, row.kind) for row in rows] == [
        (f"{message_id}:notify:COURIER:cou_1", NOTIFY_JOB_KIND),
        (f"{message_id}:notify:SELLER:sel_1", NOTIFY_JOB_KIND),
    ]
    assert {row.payload["recipient_id"] for row in rows} == {"cou_1", "sel_1"}
    blocked = ok(await send_message(svc, BUYER, send("paga por pix", "c2")))
    assert blocked.message.blocked
    assert await count(engine, outbox_jobs) == 2  # a blocked message notifies nobody


class _FailingCommit(SqlAlchemyUnitOfWork):
    """Looks at what the transaction wrote, then fails instead of committing."""

    seen: dict[str, int] = {}

    async def commit(self) -> None:
        for name, table in (("messages", messages), ("jobs", outbox_jobs)):
            result = await self.session.execute(select(func.count()).select_from(table))
            _FailingCommit.seen[name] = int(result.scalar_one())
        raise RuntimeError("boom: the database went away at commit")


async def test_a_rollback_leaves_neither_the_message_nor_its_jobs(
    svc: MessagingServices, session_factory: Any, engine: AsyncEngine, clock: FixedClock
) -> None:
    failing = services(lambda: _FailingCommit(session_factory), clock)
    with pytest.raises(RuntimeError, match="boom"):
        await send_message(failing, BUYER, send("¿ya salió?", "c1"))
    assert _FailingCommit.seen == {"messages": 1, "jobs": 2}  # both in the one transaction...
    assert await count(engine, messages) == 0  # ...and gone together
    assert await count(engine, outbox_jobs) == 0
    async with engine.connect() as connection:
        head = (await connection.execute(text("SELECT head_sequence, version FROM conversations"))).one()
    assert tuple(head) == (0, 1)


async def test_a_retry_returns_the_first_message_and_another_body_is_a_conflict(
    svc: MessagingServices, engine: AsyncEngine, clock: FixedClock
) -> None:
    first = ok(await send_message(svc, BUYER, send("¿ya salió?", "c1")))
    clock.advance(timedelta(minutes=5))
    again = ok(await send_message(svc, BUYER, send("¿ya salió?", "c1")))
    assert again.replayed and again.message == first.message
    conflict = await send_message(svc, BUYER, send("¿ya salió? (editado)", "c1"))
    assert isinstance(conflict, Failure) and isinstance(conflict.failure(), ClientMessageIdConflict)
    assert await count(engine, messages) == 1
    assert await count(engine, outbox_jobs) == 2
    assert await count(engine, conversation_senders, sender_id="buy_1") == 1


async def test_a_send_that_lost_the_race_is_a_conflict_and_writes_nothing(
    svc: MessagingServices, uow_factory: UowFactory, engine: AsyncEngine, clock: FixedClock
) -> None:
    late = uow_factory()
    async with late:
        conversation = await late.conversations.for_order(MX, ORDER)  # reads head 0, version 1
        assert conversation is not None
        await late.session.commit()  # end the read; the loaded aggregate stays in this unit of work
        ok(await send_message(svc, SELLER, send("listo", "s1")))  # someone else seals sequence 1
        sent = conversation.send(
            message_id="msg_late",
            client_message_id="b1",
            sender=ActorRef(ActorId("buy_1"), "BUYER"),
            party=Party.BUYER,
            body="¿y ahora?",
            sent_at=clock.now(),
            screening=Screening(),
            policy=svc.policy,
        )
        assert isinstance(sent, Success) and sent.unwrap().message.sequence == 1
        await late.conversations.append(sent.unwrap().message)  # same sequence: not inserted
        saved = await late.conversations.save(conversation)
        assert isinstance(saved, Failure) and isinstance(saved.failure(), ConcurrencyConflict)
    assert await count(engine, messages) == 1
    assert await count(engine, messages, message_id="msg_late") == 0
    retried = ok(await send_message(svc, BUYER, send("¿y ahora?", "b1")))
    assert retried.message.sequence == 2


async def test_rate_limit_windows_count_stored_messages(
    svc: MessagingServices, uow_factory: UowFactory, clock: FixedClock
) -> None:
    start = clock.now()
    for n in range(3):
        ok(await send_message(svc, BUYER, send(f"mensaje {n}", f"c{n}")))
        clock.advance(timedelta(seconds=1))
    async with uow_factory() as uow:
        conversation = await uow.conversations.for_order(MX, ORDER)
        assert conversation is not None
        everything = await uow.conversations.sent_since(MX, sender_id="buy_1", since=start)
        last_two = await uow.conversations.sent_since(
            MX, sender_id="buy_1", since=start + timedelta(seconds=1), conversation_id=conversation.id
        )
        nobody = await uow.conversations.sent_since(MX, sender_id="sel_1", since=start)
        other_country = await uow.conversations.sent_since(CO, sender_id="buy_1", since=start)
    assert (everything.count, everything.oldest) == (3, start)
    assert (last_two.count, last_two.oldest) == (2, start + timedelta(seconds=1))
    assert (nobody.count, nobody.oldest) == (0, None)
    assert other_country.count == 0


async def test_a_blocked_opening_reason_stores_no_conversation_and_keeps_the_evidence_in_the_audit_log(
    uow_factory: UowFactory, engine: AsyncEngine, clock: FixedClock
) -> None:
    async with uow_factory() as uow:
        await uow.orders.add(order_in("FROZEN in transit", "ord_2"))
        await uow.commit()
    svc = services(uow_factory, clock)
    reason = "mejor por whatsapp 55 1234 5678"
    refused = await open_conversation(svc, SELLER, OpenConversation(MX, OrderId("ord_2"), reason))
    assert isinstance(refused, Failure) and isinstance(refused.failure(), InvalidInput)
    assert refused.failure().field == "reason"
    async with uow_factory() as uow:
        assert await uow.conversations.for_order(MX, OrderId("ord_2")) is None
    query = select(audit_log.c.actor_id, audit_log.c.target_id, audit_log.c.after_state).where(
        audit_log.c.action == "conversation.reason_blocked"
    )
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    assert [(row.actor_id, row.target_id) for row in rows] == [("sel_1", "ord_2")]
    after = rows[0].after_state
    assert after["reason"] == reason and "PHONE" in after["kinds"]


async def test_a_client_message_id_that_is_not_a_token_stores_nothing(
    svc: MessagingServices, engine: AsyncEngine
) -> None:
    refused = await send_message(svc, BUYER, send("ok, gracias", "llamame 55 1234 5678 juan@gmail.com pix"))
    assert isinstance(refused, Failure) and isinstance(refused.failure(), InvalidInput)
    assert await count(engine, messages) == 0
    assert await count(engine, outbox_jobs) == 0

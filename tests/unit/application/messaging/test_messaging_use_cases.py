"""Messaging use cases against in-memory fakes of their ports."""

from __future__ import annotations

import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any, cast

import pytest
from returns.result import Failure, Result, Success

from adapters.screening import MarketplacePhoneFinder
from application.audit.denials import HIDDEN
from application.context import RequestContext
from application.errors import NotFound
from application.messaging.common import MessagingServices
from application.messaging.moderation import (
    FreezeConversation,
    UnfreezeConversation,
    UnfreezeSender,
    freeze_conversation,
    unfreeze_conversation,
    unfreeze_sender,
)
from application.messaging.notifications import NOTIFY_JOB_KIND
from application.messaging.queries import (
    ExportConversation,
    ReadConversation,
    export_conversation,
    read_conversation,
    transcript_for_order,
)
from application.messaging.use_cases import (
    OpenConversation,
    SendMessage,
    open_conversation,
    send_message,
)
from application.ports.concurrency import ConcurrencyConflict
from application.ports.messaging import MessagingUnitOfWork
from application.security.principal import PERMISSIONS, Forbidden, Operation, Principal, Role
from domain.disputes import Dispute
from domain.disputes.codes import DisputeReason
from domain.messaging import (
    ClientMessageIdConflict,
    ConversationFrozen,
    ConversationNotOpen,
    FindingKind,
    MessageStatus,
    MessagingPolicy,
    NoGroundsToOpen,
    OpeningGround,
    RateLimit,
    RateLimited,
    RateScope,
    Screener,
    Screening,
    SenderFrozen,
    verify_export,
)
from domain.orders import Order
from domain.orders.errors import ReasonRequired
from domain.shared import CountryCode, InvalidInput
from domain.shared.ids import ActorId, BuyerId, CourierId, DisputeId, OrderId, SellerId
from tests.fakes.metrics import RecordingMetrics
from tests.fakes.time_and_ids import FixedClock
from tests.unit.application.messaging.fakes import Db, FakeUow, services

MX, CO = CountryCode("MX"), CountryCode("CO")
SCREENER = Screener(MarketplacePhoneFinder())
ORDER = OrderId("ord_1")


def who(role: Role, actor: str, *countries: CountryCode) -> RequestContext:
    return RequestContext(Principal(actor, role, frozenset(countries or (MX,))), f"req-{actor}")


BUYER = who(Role.BUYER, "buy_1")
SELLER = who(Role.SELLER, "sel_1")
COURIER = who(Role.COURIER, "cou_1")
OTHER_BUYER = who(Role.BUYER, "buy_2")
AGENT = who(Role.L1, "agent_1")
SPECIALIST = who(Role.L2, "agent_2")
AUDITOR = who(Role.AUDITOR, "aud_1")
PARTNER = who(Role.PARTNER, "partner_1")


def order(order_id: str = "ord_1", *, courier: str | None = "cou_1", country: CountryCode = MX) -> Order:
    return Order.create(
        id=OrderId(order_id),
        country=country,
        buyer_id=BuyerId("buy_1"),
        seller_id=SellerId("sel_1"),
        courier_id=None if courier is None else CourierId(courier),
        created_at=FixedClock().now() - timedelta(days=1),
    ).unwrap()


@pytest.fixture
def db() -> Db:
    store = Db()
    store.add_order(order())
    return store


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def svc(db: Db, clock: FixedClock) -> MessagingServices:
    return services(db, SCREENER, clock=clock)


async def opened(svc: MessagingServices, ctx: RequestContext = BUYER) -> str:
    result = await open_conversation(svc, ctx, OpenConversation(MX, ORDER, reason="the card is missing"))
    return result.unwrap().conversation.id


def send(body: str, client_id: str = "c1", corrects_message_id: str | None = None) -> SendMessage:
    return SendMessage(MX, ORDER, client_id, body, corrects_message_id)


# --------------------------------------------------------------------------- opening


async def test_silent_by_default_sending_without_a_conversation_says_why(
    svc: MessagingServices, db: Db
) -> None:
    result = await send_message(svc, BUYER, send("hola"))
    assert result == Failure(ConversationNotOpen(ORDER))
    assert "opens only while an incident or a dispute is open" in result.failure().message
    assert db.messages == [] and db.commits == 0


async def test_a_party_opens_with_a_reason_once_per_order(svc: MessagingServices, db: Db) -> None:
    assert await open_conversation(svc, BUYER, OpenConversation(MX, ORDER)) == Failure(ReasonRequired())
    first = (await open_conversation(svc, BUYER, OpenConversation(MX, ORDER, "the card is missing"))).unwrap()
    assert first.created and first.conversation.opening.ground is OpeningGround.PARTY_REQUEST
    again = (await open_conversation(svc, SELLER, OpenConversation(MX, ORDER, "me too"))).unwrap()
    assert not again.created and again.conversation.id == first.conversation.id
    assert db.actions() == ["conversation.opened"]
    assert db.audit[0].after == {
        "order_id": "ord_1",
        "ground": "PARTY_REQUEST",
        "reference": None,
        "reason": "the card is missing",
    }


async def test_support_needs_an_open_incident_or_dispute(svc: MessagingServices, db: Db) -> None:
    refused = await open_conversation(svc, AGENT, OpenConversation(MX, ORDER, "checking in"))
    assert isinstance(refused.failure(), NoGroundsToOpen)
    frozen = order()
    frozen.freeze(FixedClock().now(), "inc_42").unwrap()
    db.add_order(frozen)
    result = (await open_conversation(svc, AGENT, OpenConversation(MX, ORDER))).unwrap()
    assert (result.conversation.opening.ground, result.conversation.opening.reference) == (
        OpeningGround.INCIDENT,
        "inc_42",
    )


async def test_an_open_dispute_is_grounds(svc: MessagingServices, db: Db) -> None:
    now = FixedClock().now()
    dispute = Dispute.open(
        dispute_id=DisputeId("dsp_7"),
        order_id=ORDER,
        country=MX,
        reason=DisputeReason.DAMAGED,
        opened_by_actor=ActorId("buy_1"),
        opened_by_role="BUYER",
        statement="broken",
        delivered_at=now - timedelta(hours=1),
        now=now,
        dispute_window=timedelta(hours=72),
        evidence_window=timedelta(hours=48),
    ).unwrap()
    db.disputes.append(dispute)
    result = (await open_conversation(svc, AGENT, OpenConversation(MX, ORDER))).unwrap()
    assert (result.conversation.opening.ground, result.conversation.opening.reference) == (
        OpeningGround.DISPUTE,
        "dsp_7",
    )


async def test_a_partys_reason_with_contact_details_is_refused_audited_and_nothing_opens(
    svc: MessagingServices, db: Db
) -> None:
    reason = "llámame al 55 1234 5678 o escribe a juan@gmail.com"
    refused = await open_conversation(svc, BUYER, OpenConversation(MX, ORDER, reason))
    error = refused.failure()
    assert isinstance(error, InvalidInput) and error.field == "reason"
    assert "PHONE" in error.message and "EMAIL" in error.message and "5678" not in error.message
    assert db.conversations == {} and db.jobs == []
    assert await send_message(svc, BUYER, send("hola")) == Failure(ConversationNotOpen(ORDER))
    [entry] = db.audit
    assert (entry.action, entry.actor_id, entry.target_type, entry.target_id) == (
        "conversation.reason_blocked",
        "buy_1",
        "order",
        "ord_1",
    )
    assert entry.after is not None
    assert (entry.after["kinds"], entry.after["reason"]) == (["CONTACT_REQUEST", "EMAIL", "PHONE"], reason)
    clean = (await open_conversation(svc, BUYER, OpenConversation(MX, ORDER, "falta la tarjeta"))).unwrap()
    assert clean.created and clean.conversation.opening.reason == "falta la tarjeta"


@pytest.mark.parametrize(
    "reason",
    [
        "compra directo en floreriaelsol.mx y te sale mas barato",
        "mi twitter juanito88",
        "te pago por pix y listo",
    ],
)
async def test_every_kind_of_bypass_in_a_reason_is_refused(
    svc: MessagingServices, db: Db, reason: str
) -> None:
    refused = await open_conversation(svc, SELLER, OpenConversation(MX, ORDER, reason))
    assert isinstance(refused.failure(), InvalidInput) and db.conversations == {}


async def test_a_partys_reason_is_screened_on_a_dispute_too_and_supports_is_not(
    svc: MessagingServices, db: Db
) -> None:
    frozen = order()
    frozen.freeze(FixedClock().now(), "inc_42").unwrap()
    db.add_order(frozen)
    refused = await open_conversation(svc, BUYER, OpenConversation(MX, ORDER, "mi wsp 55 1234 5678"))
    assert isinstance(refused.failure(), InvalidInput) and db.conversations == {}
    help_line = "Línea de ayuda: +52 55 1234 5678"
    opened_by_support = (await open_conversation(svc, AGENT, OpenConversation(MX, ORDER, help_line))).unwrap()
    assert opened_by_support.created and opened_by_support.conversation.opening.reason == help_line


@pytest.mark.parametrize(
    "client_id", ["llamame 55 1234 5678 juan@gmail.com pix", "juan@gmail.com", " c1", "x" * 129]
)
async def test_a_client_message_id_that_could_carry_text_is_refused_before_anything_is_read(
    svc: MessagingServices, db: Db, client_id: str
) -> None:
    await opened(svc)
    state = (list(db.messages), list(db.jobs), list(db.audit), db.commits)
    units: list[MessagingUnitOfWork] = []

    def counting() -> MessagingUnitOfWork:
        units.append(svc.uow())
        return units[-1]

    refused = await send_message(replace(svc, uow=counting), BUYER, send("ok, gracias", client_id))
    error = refused.failure()
    assert isinstance(error, InvalidInput) and error.field == "client_message_id"
    assert units == []  # nothing looked up
    assert (db.messages, db.jobs, db.audit, db.commits) == state  # nothing written
    assert (await send_message(svc, BUYER, send("ok, gracias", "0190f5e2-7a1b-7c3d-8e4f"))).unwrap().delivered


# --------------------------------------------------------------------------- sending


async def test_a_message_and_its_notification_jobs_are_written_together(
    svc: MessagingServices, db: Db
) -> None:
    await opened(svc)
    commits = db.commits
    sent = (await send_message(svc, BUYER, send("¿a qué hora llega?"))).unwrap()
    assert sent.delivered and db.commits == commits + 1  # one transaction
    assert db.messages == [sent.message]
    jobs = [job for job in db.jobs if job.kind == NOTIFY_JOB_KIND]
    assert sorted((job.payload["recipient_role"], job.payload["recipient_id"]) for job in jobs) == [
        ("COURIER", "cou_1"),
        ("SELLER", "sel_1"),
    ]
    assert all(job.provider == "notifications" and job.country == MX for job in jobs)
    assert all("body" not in job.payload for job in jobs)
    assert len({job.idempotency_key for job in jobs}) == 2


async def test_a_retry_returns_the_first_result_and_a_different_body_conflicts(
    db: Db, clock: FixedClock
) -> None:
    metrics = RecordingMetrics()
    svc = services(db, SCREENER, clock=clock, metrics=metrics)
    await opened(svc)
    first = (await send_message(svc, BUYER, send("hola", "phone-42"))).unwrap()
    state = (list(db.messages), list(db.jobs), db.commits)
    clock.advance(timedelta(minutes=5))
    retry = (await send_message(svc, BUYER, send("hola", "phone-42"))).unwrap()
    assert retry.replayed and retry.message == first.message
    assert (db.messages, db.jobs, db.commits) == state  # nothing written
    assert metrics.replays == {("MX", "message.send"): 1}
    conflict = await send_message(svc, BUYER, send("hola otra vez", "phone-42"))
    assert conflict == Failure(ClientMessageIdConflict(first.message.conversation_id, "phone-42"))
    assert (db.messages, db.jobs) == state[:2]


async def test_blocked_messages_are_kept_not_delivered_counted_and_freeze_the_sender(
    svc: MessagingServices, db: Db
) -> None:
    await opened(svc)
    attempts = ["mi cel 315 555 1234", "escríbeme a juan arroba gmail punto com", "te pago por nequi"]
    for n, body in enumerate(attempts):
        sent = (await send_message(svc, BUYER, send(body, f"c{n}"))).unwrap()
        assert not sent.delivered and sent.message.status is MessageStatus.BLOCKED
        assert sent.message.findings
    assert [m.body for m in db.messages] == attempts  # kept as evidence
    assert [j for j in db.jobs if j.kind == NOTIFY_JOB_KIND] == []  # never delivered
    assert db.actions()[1:] == [
        "message.blocked",
        "message.blocked",
        "message.blocked",
        "conversation.sender_frozen",
    ]
    assert db.audit[1].after is not None and db.audit[1].after["kinds"] == ["PHONE"]
    refused = await send_message(svc, BUYER, send("perdón", "c9"))
    assert refused == Failure(SenderFrozen(db.messages[0].conversation_id, "buy_1"))
    assert (await send_message(svc, SELLER, send("hola", "s1"))).unwrap().delivered


async def test_the_conversations_country_decides_how_long_an_uncued_number_is(db: Db) -> None:
    # a Kuwaiti number has 8 digits: blocked in a Kuwaiti conversation, both in the reason
    # that opens it and in a message; the same 8 digits pass in a Mexican one (D124)
    kw = CountryCode("KW")
    db.add_order(order("ord_kw", country=kw))
    svc = services(db, SCREENER, clock=FixedClock())
    kuwaiti = who(Role.BUYER, "buy_1", kw)
    refused = await open_conversation(
        svc, kuwaiti, OpenConversation(kw, OrderId("ord_kw"), reason="9876 5432")
    )
    assert isinstance(refused, Failure) and db.actions() == ["conversation.reason_blocked"]
    await open_conversation(
        svc, kuwaiti, OpenConversation(kw, OrderId("ord_kw"), reason="the card is missing")
    )
    sent = (await send_message(svc, kuwaiti, SendMessage(kw, OrderId("ord_kw"), "k1", "6555 1234"))).unwrap()
    assert not sent.delivered and sent.message.status is MessageStatus.BLOCKED
    assert [f.kind for f in sent.message.findings] == [FindingKind.PHONE]
    await opened(svc)
    mexican = (await send_message(svc, BUYER, send("6555 1234", "m1"))).unwrap()
    assert mexican.delivered and mexican.message.findings == ()


async def test_support_messages_are_not_screened(svc: MessagingServices, db: Db) -> None:
    frozen = order()
    frozen.freeze(FixedClock().now(), "inc_1").unwrap()
    db.add_order(frozen)
    await opened(svc, AGENT)
    sent = (await send_message(svc, AGENT, send("Our help line is +52 55 1234 5678."))).unwrap()
    assert sent.delivered and sent.message.sender.role == "L1"
    assert len([j for j in db.jobs if j.kind == NOTIFY_JOB_KIND]) == 3  # all three parties


async def test_rate_limits_refuse_and_store_nothing(db: Db, clock: FixedClock) -> None:
    burst = RateLimit(RateScope.CONVERSATION, timedelta(minutes=1), 2)
    svc = services(db, SCREENER, clock=clock, policy=MessagingPolicy(rate_limits=(burst,)))
    await opened(svc)
    for n in range(2):
        assert (await send_message(svc, BUYER, send("hola", f"c{n}"))).unwrap().delivered
        clock.advance(timedelta(seconds=10))
    refused = await send_message(svc, BUYER, send("hola", "c3"))
    assert refused == Failure(RateLimited("CONVERSATION", 2, 60, 40))
    assert len(db.messages) == 2
    clock.advance(timedelta(seconds=41))
    assert (await send_message(svc, BUYER, send("hola", "c3"))).unwrap().delivered


async def test_a_lost_race_writes_nothing(svc: MessagingServices, db: Db) -> None:
    await opened(svc)
    db.fail_next_save = True
    result = await send_message(svc, BUYER, send("hola"))
    assert isinstance(result.failure(), ConcurrencyConflict)
    assert db.messages == [] and db.jobs == []


async def test_a_courier_assigned_after_opening_joins_the_conversation(
    svc: MessagingServices, db: Db
) -> None:
    db.add_order(order(courier=None))
    await opened(svc)
    db.add_order(order(courier="cou_1"))
    assert (await send_message(svc, COURIER, send("llegando", "k1"))).unwrap().delivered


async def test_a_correction_is_a_new_message(svc: MessagingServices, db: Db) -> None:
    await opened(svc)
    first = (await send_message(svc, SELLER, send("llega a las 3", "s1"))).unwrap().message
    fix = (
        await send_message(svc, SELLER, send("perdón, a las 4", "s2", corrects_message_id=first.message_id))
    ).unwrap()
    assert fix.message.corrects == first.message_id and db.messages[0] == first


# --------------------------------------------------------------------------- access


async def test_cross_order_access_is_refused_as_not_found_and_audited(svc: MessagingServices, db: Db) -> None:
    await opened(svc)
    for attempt in (
        send_message(svc, OTHER_BUYER, send("hola")),
        open_conversation(svc, OTHER_BUYER, OpenConversation(MX, ORDER, "x")),
        read_conversation(svc, OTHER_BUYER, ReadConversation(MX, ORDER)),
    ):
        assert await attempt == Failure(NotFound("order", ORDER))
    denials = [entry for entry in db.audit if entry.action == "access.denied"]
    assert [(e.actor_id, e.target_id, e.after["why"]) for e in denials if e.after] == [
        ("buy_2", "ord_1", HIDDEN)
    ] * 3
    assert [e.after["operation"] for e in denials if e.after] == [
        "message.send",
        "conversation.open",
        "conversation.read",
    ]
    assert db.messages == []


async def test_cross_country_access_is_forbidden(svc: MessagingServices, db: Db) -> None:
    await opened(svc)
    colombian_agent = who(Role.L1, "agent_co", CO)
    refused = await send_message(svc, colombian_agent, send("hola"))
    assert refused == Failure(Forbidden("message.send", "MX", "outside the actor's countries"))
    db.add_order(order("ord_co", country=CO))
    hidden = await read_conversation(svc, BUYER, ReadConversation(MX, OrderId("ord_co")))
    assert hidden == Failure(NotFound("order", OrderId("ord_co")))  # another country's order: not here


@pytest.mark.parametrize(
    ("ctx", "operation"),
    [
        (AUDITOR, Operation.MESSAGE_SEND),
        (PARTNER, Operation.CONVERSATION_READ),
        (AGENT, Operation.CONVERSATION_FREEZE),
        (BUYER, Operation.CONVERSATION_FREEZE),
        (SPECIALIST, Operation.CONVERSATION_EXPORT),
    ],
)
async def test_the_matrix_refuses_what_a_role_may_not_do(
    svc: MessagingServices, ctx: RequestContext, operation: Operation
) -> None:
    await opened(svc)
    calls: dict[Operation, Callable[[], Awaitable[Result[Any, Any]]]] = {
        Operation.MESSAGE_SEND: lambda: send_message(svc, ctx, send("hola")),
        Operation.CONVERSATION_READ: lambda: read_conversation(svc, ctx, ReadConversation(MX, ORDER)),
        Operation.CONVERSATION_FREEZE: lambda: freeze_conversation(
            svc, ctx, FreezeConversation(MX, ORDER, "spam")
        ),
        Operation.CONVERSATION_EXPORT: lambda: export_conversation(svc, ctx, ExportConversation(MX, ORDER)),
    }
    result = await calls[operation]()
    assert isinstance(result.failure(), Forbidden)


def test_the_matrix_follows_spec_section_2() -> None:
    conversation_ops = {
        Operation.CONVERSATION_READ,
        Operation.CONVERSATION_OPEN,
        Operation.MESSAGE_SEND,
        Operation.CONVERSATION_FREEZE,
        Operation.CONVERSATION_EXPORT,
    }
    granted = {role: PERMISSIONS[role] & conversation_ops for role in Role}
    talk = {Operation.CONVERSATION_READ, Operation.CONVERSATION_OPEN, Operation.MESSAGE_SEND}
    assert granted[Role.L1] == granted[Role.BUYER] == granted[Role.SELLER] == granted[Role.COURIER] == talk
    assert granted[Role.L2] == talk | {Operation.CONVERSATION_FREEZE}
    assert granted[Role.L3] == conversation_ops
    assert granted[Role.AUDITOR] == {Operation.CONVERSATION_READ, Operation.CONVERSATION_EXPORT}
    assert granted[Role.PARTNER] == set()


# --------------------------------------------------------------------------- moderation


async def test_l2_freezes_and_unfreezes_with_a_reason_audited(svc: MessagingServices, db: Db) -> None:
    await opened(svc)
    blank = await freeze_conversation(svc, SPECIALIST, FreezeConversation(MX, ORDER, "  "))
    assert blank == Failure(ReasonRequired())
    frozen = (await freeze_conversation(svc, SPECIALIST, FreezeConversation(MX, ORDER, "threats"))).unwrap()
    assert frozen.frozen
    entry = db.audit[-1]
    assert (entry.action, entry.actor_role, entry.before, entry.after) == (
        "conversation.frozen",
        "L2",
        {"status": "OPEN", "version": 1},
        {"status": "FROZEN", "version": 2, "reason": "threats"},
    )
    assert await send_message(svc, BUYER, send("hola")) == Failure(ConversationFrozen(frozen.id, "threats"))
    assert (await send_message(svc, SPECIALIST, send("We are looking into it.", "s1"))).unwrap().delivered
    (await unfreeze_conversation(svc, SPECIALIST, UnfreezeConversation(MX, ORDER, "resolved"))).unwrap()
    assert db.actions()[-1] == "conversation.unfrozen"
    assert (await send_message(svc, BUYER, send("gracias", "c2"))).unwrap().delivered


async def test_l2_lifts_a_sender_freeze(svc: MessagingServices, db: Db) -> None:
    await opened(svc)
    for n in range(3):
        await send_message(svc, BUYER, send("mi whatsapp es 315 555 1234", f"c{n}"))
    lifted = await unfreeze_sender(svc, SPECIALIST, UnfreezeSender(MX, ORDER, "buy_1", "warned by phone"))
    assert lifted.unwrap().sender("buy_1") is not None
    entry = db.audit[-1]
    assert entry.action == "conversation.sender_unfrozen"
    assert entry.before is not None and entry.before["sender_frozen"] is True
    assert entry.after is not None and entry.after["sender_frozen"] is False
    assert (await send_message(svc, BUYER, send("ok", "c9"))).unwrap().delivered


# --------------------------------------------------------------------------- reading and export


async def test_parties_do_not_see_each_others_blocked_messages(svc: MessagingServices, db: Db) -> None:
    await opened(svc)
    await send_message(svc, BUYER, send("hola", "c1"))
    await send_message(svc, BUYER, send("315 555 1234", "c2"))
    await send_message(svc, SELLER, send("buenas", "s1"))

    async def bodies(ctx: RequestContext) -> list[str]:
        page = (await read_conversation(svc, ctx, ReadConversation(MX, ORDER))).unwrap()
        return [m.body for m in page.messages]

    assert await bodies(BUYER) == ["hola", "315 555 1234", "buenas"]  # their own blocked one
    assert await bodies(SELLER) == ["hola", "buenas"]
    assert await bodies(AGENT) == await bodies(AUDITOR) == ["hola", "315 555 1234", "buenas"]


async def test_pages_are_keyset_by_sequence(svc: MessagingServices) -> None:
    await opened(svc)
    for n in range(5):
        await send_message(svc, BUYER if n % 2 else SELLER, send(f"m{n}", f"c{n}"))
    first = (await read_conversation(svc, AGENT, ReadConversation(MX, ORDER, limit=2))).unwrap()
    assert [m.sequence for m in first.messages] == [1, 2] and first.next_after == 2
    rest = (
        await read_conversation(svc, AGENT, ReadConversation(MX, ORDER, after_sequence=2, limit=10))
    ).unwrap()
    assert [m.sequence for m in rest.messages] == [3, 4, 5] and rest.next_after is None


async def test_the_export_is_audited_and_verifiable(svc: MessagingServices, db: Db) -> None:
    await opened(svc)
    await send_message(svc, BUYER, send("hola", "c1"))
    await send_message(svc, BUYER, send("te pago por fuera", "c2"))
    exported = (await export_conversation(svc, AUDITOR, ExportConversation(MX, ORDER))).unwrap()
    assert exported.broken is None
    check = verify_export(exported.export.to_json()).unwrap()
    assert check.message_count == 2
    entry = db.audit[-1]
    assert entry.action == "conversation.exported" and entry.actor_role == "AUDITOR"
    assert entry.after is not None and entry.after["export_sha256"] == exported.export.content_hash()
    assert json.loads(exported.export.to_json())["messages"][1]["status"] == "BLOCKED"


async def test_an_export_of_a_tampered_store_reports_the_break(svc: MessagingServices, db: Db) -> None:
    await opened(svc)
    await send_message(svc, BUYER, send("hola", "c1"))
    await send_message(svc, SELLER, send("buenas", "s1"))
    db.messages[0] = replace(db.messages[0], body="edited")
    exported = (await export_conversation(svc, AUDITOR, ExportConversation(MX, ORDER))).unwrap()
    assert exported.broken is not None and exported.broken.sequence == 1
    db.messages.pop()  # a truncated tail
    db.messages[0] = replace(db.messages[0], body="hola")
    truncated = (await export_conversation(svc, AUDITOR, ExportConversation(MX, ORDER))).unwrap()
    assert truncated.broken is not None and "stop before" in truncated.broken.reason


async def test_the_transcript_for_the_evidence_pack(svc: MessagingServices, db: Db) -> None:
    uow: MessagingUnitOfWork = FakeUow(db)  # type: ignore[assignment]
    assert (await transcript_for_order(uow, MX, ORDER)).entries == ()
    await opened(svc)
    await send_message(svc, BUYER, send("hola", "c1"))
    await send_message(svc, BUYER, send("mi correo juan@gmail.com", "c2"))
    transcript = await transcript_for_order(FakeUow(db), MX, ORDER)  # type: ignore[arg-type]
    assert [(e.sender_role, e.blocked) for e in transcript.entries] == [("BUYER", False), ("BUYER", True)]
    assert isinstance(await read_conversation(svc, BUYER, ReadConversation(MX, ORDER)), Success)


class WatchedScreener(Screener):
    """The real screener, noting for each call whether a unit of work was open and whether it
    ran on the event loop's thread."""

    calls: list[tuple[int, bool]]

    def screen(self, text: str, country: CountryCode | None = None) -> Screening:
        self.calls.append((OpenCount.open, threading.current_thread() is threading.main_thread()))
        return super().screen(text, country)


class OpenCount(FakeUow):
    open = 0

    async def __aenter__(self) -> FakeUow:
        OpenCount.open += 1
        return self

    async def __aexit__(self, *exc: object) -> None:
        OpenCount.open -= 1


async def test_a_partys_text_is_screened_off_the_loop_before_any_transaction(db: Db) -> None:
    """D140: screening a long message full of digits takes ``phonenumbers`` a tenth of a second
    or more; on the event loop, inside the unit of work, it stalled every other request and, on
    SQLite, held the write lock that long."""
    screener = WatchedScreener(MarketplacePhoneFinder())
    object.__setattr__(screener, "calls", [])
    svc = services(db, screener)
    svc = replace(svc, uow=cast(Callable[[], MessagingUnitOfWork], lambda: OpenCount(db)))
    opened_ = await open_conversation(svc, BUYER, OpenConversation(MX, ORDER, reason="the card is missing"))
    assert opened_.unwrap().created
    refused = await send_message(svc, BUYER, send("call me at +52 55 1234 5678"))
    assert not refused.unwrap().delivered  # still screened: the number blocks it
    assert screener.calls == [(0, False), (0, False)]
    # support's own text is not screened at all
    frozen = order()
    frozen.freeze(FixedClock().now(), "inc_1").unwrap()
    db.add_order(frozen)
    assert (
        (await send_message(svc, AGENT, send("Our help line is +52 55 1234 5678.", "c2"))).unwrap().delivered
    )
    assert len(screener.calls) == 2

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from returns.result import Failure

from domain.disputes.evidence import ActorRef
from domain.messaging import (
    ClientMessageIdConflict,
    Conversation,
    ConversationAlreadyFrozen,
    ConversationFrozen,
    ConversationFrozenBySupport,
    ConversationNotFrozen,
    ConversationOpened,
    CorrectionNotAllowed,
    Finding,
    FindingKind,
    MessageBlocked,
    MessageSent,
    MessageStatus,
    MessagingPolicy,
    NoGroundsToOpen,
    NotAParticipant,
    OpeningGround,
    Participants,
    ParticipantsChanged,
    Party,
    RateLimit,
    RateLimited,
    RateScope,
    Screening,
    SenderFrozen,
    SenderFrozenInConversation,
    SenderNotFrozen,
    WindowCount,
    client_message_id_problem,
    genesis_hash,
    reason_blocked,
)
from domain.messaging.policy import DEFAULT_MESSAGING_POLICY
from domain.orders.errors import ReasonRequired, ReasonTooLong
from domain.shared import InvalidInput, InvariantViolation
from domain.shared.ids import ActorId, OrderId
from tests.unit.domain.messaging.builders import (
    AGENT,
    BUYER,
    CLEAN,
    COURIER,
    MX,
    PARTIES,
    PHONE,
    SELLER,
    T0,
    Chat,
    opened,
)

# --------------------------------------------------------------------------- opening


def _open(**overrides: object) -> object:
    arguments: dict[str, object] = {
        "conversation_id": "cnv_1",
        "country": MX,
        "order_id": OrderId("ord_1"),
        "participants": PARTIES,
        "ground": OpeningGround.PARTY_REQUEST,
        "reference": None,
        "reason": "the bouquet is missing the card",
        "reason_screening": CLEAN,
        "opened_by": BUYER,
        "opened_by_party": Party.BUYER,
        "now": T0,
    }
    arguments.update(overrides)
    return Conversation.open(**arguments)  # type: ignore[arg-type]


def test_a_party_opens_with_a_reason_and_the_chain_starts_at_the_genesis_hash() -> None:
    conversation = _open().unwrap()  # type: ignore[attr-defined]
    assert isinstance(conversation, Conversation)
    assert conversation.opening.ground is OpeningGround.PARTY_REQUEST
    assert conversation.opening.reason == "the bouquet is missing the card"
    assert (conversation.head_sequence, conversation.head_hash) == (0, genesis_hash("cnv_1"))
    assert conversation.version == 1 and not conversation.frozen
    (event,) = conversation.pull_events()
    assert isinstance(event, ConversationOpened) and event.ground == "PARTY_REQUEST"


def test_opening_is_by_exception_only() -> None:
    assert _open(reason="   ") == Failure(ReasonRequired())
    assert _open(reason=None) == Failure(ReasonRequired())
    assert _open(reason="x" * 2001) == Failure(ReasonTooLong(2001, 2000))
    support_request = _open(opened_by=AGENT, opened_by_party=Party.SUPPORT)
    assert isinstance(support_request.failure(), NoGroundsToOpen)  # type: ignore[attr-defined]
    no_reference = _open(ground=OpeningGround.INCIDENT, opened_by=AGENT, opened_by_party=Party.SUPPORT)
    assert isinstance(no_reference.failure(), NoGroundsToOpen)  # type: ignore[attr-defined]
    stranger = _open(opened_by=ActorRef(ActorId("buy_2"), "BUYER"))
    assert isinstance(stranger.failure(), NoGroundsToOpen)  # type: ignore[attr-defined]
    assert isinstance(_open(now=T0.replace(tzinfo=None)).failure(), InvalidInput)  # type: ignore[attr-defined]


def test_support_opens_for_an_incident_or_a_dispute() -> None:
    for ground, reference in ((OpeningGround.INCIDENT, "inc_9"), (OpeningGround.DISPUTE, "dsp_9")):
        conversation = _open(
            ground=ground, reference=reference, reason=None, opened_by=AGENT, opened_by_party=Party.SUPPORT
        ).unwrap()  # type: ignore[attr-defined]
        assert conversation.opening.reference == reference


def test_a_partys_reason_that_screening_blocked_is_refused_and_nothing_opens() -> None:
    blocked = Screening((Finding(9, 21, FindingKind.PHONE, "phone-number"),))
    reason = "llámame: 55 1234 5678"
    refused = _open(reason=reason, reason_screening=blocked)
    assert refused == Failure(reason_blocked(blocked))
    error = refused.failure()  # type: ignore[attr-defined]
    assert isinstance(error, InvalidInput) and error.field == "reason"
    assert "PHONE at 9-21" in error.message and "5678" not in error.message  # where, never what
    on_a_dispute = _open(
        ground=OpeningGround.DISPUTE, reference="dsp_9", reason=reason, reason_screening=blocked
    )
    assert on_a_dispute == Failure(reason_blocked(blocked))  # a party's reason, whatever the ground


def test_supports_reason_is_not_screened_as_its_messages_are_not() -> None:
    blocked = Screening((Finding(0, 5, FindingKind.LINK, "link"),))
    conversation = _open(
        ground=OpeningGround.INCIDENT,
        reference="inc_9",
        reason="help.example.com/refunds",
        reason_screening=blocked,
        opened_by=AGENT,
        opened_by_party=Party.SUPPORT,
    ).unwrap()  # type: ignore[attr-defined]
    assert conversation.opening.reason == "help.example.com/refunds"


@pytest.mark.parametrize(
    "client_id",
    ["c", "phone-42", "0190f5e2-7a1b-7c3d-8e4f-5a6b7c8d9e0f", "01HZX3K5T8Q2W9R7M4N6P1B0CD", "web:tab.2_c-17"],
)
def test_client_message_ids_are_opaque_tokens_like_uuids_and_ulids(client_id: str) -> None:
    assert client_message_id_problem(client_id) is None
    assert Chat().send(client_id=client_id).message.client_message_id == client_id


@pytest.mark.parametrize(
    "client_id",
    ["ok gracias", "juan@gmail.com", "wa.me/5215512345678", "llamá-me", "tab\t1", "５５１２", "x" * 129, ""],
)
def test_a_client_message_id_that_could_carry_text_is_invalid_input(client_id: str) -> None:
    problem = client_message_id_problem(client_id, "clientMessageId")
    assert problem is not None and problem.field == "clientMessageId"


def test_only_the_sender_and_staff_see_a_client_message_id() -> None:
    message = Chat().send(client_id="b-7").message  # sent by the buyer
    assert message.client_message_id_for("buy_1", Party.BUYER) == "b-7"  # the sender
    assert message.client_message_id_for("sel_1", Party.SELLER) is None  # another party
    assert message.client_message_id_for("cou_1", Party.COURIER) is None
    assert message.client_message_id_for("agent_7", Party.SUPPORT) == "b-7"  # staff
    assert message.client_message_id_for("aud_1", None) == "b-7"  # auditors (no party)


# --------------------------------------------------------------------------- sending


def test_messages_chain_each_to_the_previous_one() -> None:
    chat = Chat()
    first = chat.send(body="¿a qué hora llega?")
    second = chat.send(SELLER, Party.SELLER, body="a las 3")
    assert first.delivered and not first.replayed
    assert first.message.previous_hash == genesis_hash("cnv_1")
    assert second.message.previous_hash == first.message.chain_hash
    assert (second.message.sequence, chat.conversation.head_hash) == (2, second.message.chain_hash)
    assert chat.conversation.version == 3
    events = chat.conversation.pull_events()
    assert [type(e) for e in events] == [MessageSent, MessageSent]
    assert isinstance(events[0], MessageSent) and events[0].recipients == ("SELLER", "COURIER")
    assert isinstance(events[1], MessageSent) and events[1].recipients == ("BUYER", "COURIER")


def test_messages_are_immutable_values() -> None:
    message = Chat().send().message
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.body = "edited"  # type: ignore[misc]


def test_a_retry_returns_the_first_message_and_a_different_body_conflicts() -> None:
    chat = Chat()
    first = chat.send(body="hola").message
    version = chat.conversation.version
    retry = chat.conversation.send(
        message_id="msg_other",
        client_message_id=first.client_message_id,
        sender=BUYER,
        party=Party.BUYER,
        body="hola",
        sent_at=T0 + timedelta(hours=1),
        screening=CLEAN,
        policy=DEFAULT_MESSAGING_POLICY,
        prior=first,
    ).unwrap()
    assert retry.replayed and retry.message == first
    assert chat.conversation.version == version
    assert [type(e) for e in chat.conversation.pull_events()] == [MessageSent]  # the first send only
    conflict = chat.conversation.send(
        message_id="msg_other",
        client_message_id=first.client_message_id,
        sender=BUYER,
        party=Party.BUYER,
        body="hola!!",
        sent_at=T0 + timedelta(hours=1),
        screening=CLEAN,
        policy=DEFAULT_MESSAGING_POLICY,
        prior=first,
    )
    assert conflict == Failure(ClientMessageIdConflict("cnv_1", first.client_message_id))


def test_a_retry_of_a_blocked_message_returns_it_even_after_a_freeze() -> None:
    chat = Chat()
    blocked = chat.send(screening=PHONE, body="315 555 1234").message
    chat.conversation.freeze(by=AGENT, reason="spam", now=T0 + timedelta(hours=1)).unwrap()
    again = chat.conversation.send(
        message_id="msg_x",
        client_message_id=blocked.client_message_id,
        sender=BUYER,
        party=Party.BUYER,
        body="315 555 1234",
        sent_at=T0 + timedelta(hours=2),
        screening=PHONE,
        policy=DEFAULT_MESSAGING_POLICY,
        prior=blocked,
    ).unwrap()
    assert again.replayed and again.message.blocked


@pytest.mark.parametrize(
    ("sender", "party"),
    [
        (ActorRef(ActorId("buy_2"), "BUYER"), Party.BUYER),  # another order's buyer
        (SELLER, Party.BUYER),  # the seller posing as the buyer
        (ActorRef(ActorId("cou_9"), "COURIER"), Party.COURIER),
    ],
)
def test_only_the_orders_parties_and_support_write(sender: ActorRef, party: Party) -> None:
    chat = Chat()
    refused = chat.conversation.send(
        message_id="m",
        client_message_id="c",
        sender=sender,
        party=party,
        body="hi",
        sent_at=T0,
        screening=CLEAN,
        policy=DEFAULT_MESSAGING_POLICY,
    )
    assert refused == Failure(NotAParticipant("cnv_1", party.value))


def test_no_courier_yet_means_no_courier_writes_until_one_is_assigned() -> None:
    chat = Chat(opened(participants=Participants("buy_1", "sel_1", None)))
    assert isinstance(
        chat.conversation.send(
            message_id="m",
            client_message_id="c",
            sender=COURIER,
            party=Party.COURIER,
            body="llegando",
            sent_at=T0,
            screening=CLEAN,
            policy=DEFAULT_MESSAGING_POLICY,
        ).failure(),
        NotAParticipant,
    )
    assert chat.conversation.update_courier("cou_1", T0)
    assert not chat.conversation.update_courier("cou_1", T0)
    assert isinstance(chat.conversation.pull_events()[-1], ParticipantsChanged)
    assert chat.send(COURIER, Party.COURIER, body="llegando").delivered


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("body", "   ", "must not be blank"),
        ("body", "x" * 2001, "at most 2000"),
        ("client_message_id", "", "A-Z a-z 0-9 . _ : -"),
        ("client_message_id", " padded ", "A-Z a-z 0-9 . _ : -"),
        ("client_message_id", "llamame 55 1234 5678 juan@gmail.com pix", "opaque token"),
        ("client_message_id", "juan@gmail.com", "opaque token"),
        ("client_message_id", "x" * 129, "1-128 characters"),
        ("message_id", "x" * 129, "printable"),
    ],
)
def test_bad_input_changes_nothing(field: str, value: str, why: str) -> None:
    chat = Chat()
    arguments: dict[str, object] = {
        "message_id": "m",
        "client_message_id": "c",
        "sender": BUYER,
        "party": Party.BUYER,
        "body": "hi",
        "sent_at": T0,
        "screening": CLEAN,
        "policy": DEFAULT_MESSAGING_POLICY,
    }
    arguments[field] = value
    result = chat.conversation.send(**arguments)  # type: ignore[arg-type]
    assert isinstance(result.failure(), InvalidInput) and why in result.failure().message
    assert chat.conversation.version == 1 and chat.conversation.head_sequence == 0


# --------------------------------------------------------------------------- blocking and freezes


def test_a_blocked_message_is_kept_marked_and_counted_and_the_third_freezes_the_sender() -> None:
    chat = Chat()
    first = chat.send(screening=PHONE, body="315 555 1234").message
    assert first.status is MessageStatus.BLOCKED and first.findings == PHONE.findings
    assert chat.conversation.head_hash == first.chain_hash  # evidence: in the chain
    record = chat.conversation.sender("buy_1")
    assert record is not None and (record.sent, record.blocked, record.violations) == (1, 1, 1)
    chat.send(body="ok, sin números")
    chat.send(screening=PHONE)
    third = chat.send(screening=PHONE)
    assert not third.delivered
    events = chat.conversation.pull_events()
    assert [type(e).__name__ for e in events] == [
        "MessageBlocked",
        "MessageSent",
        "MessageBlocked",
        "MessageBlocked",
        "SenderFrozenInConversation",
    ]
    assert isinstance(events[0], MessageBlocked) and events[0].kinds == ("PHONE",)
    assert isinstance(events[-1], SenderFrozenInConversation) and events[-1].violations == 3
    refused = chat.conversation.send(
        message_id="m9",
        client_message_id="c9",
        sender=BUYER,
        party=Party.BUYER,
        body="hola?",
        sent_at=T0 + timedelta(hours=1),
        screening=CLEAN,
        policy=DEFAULT_MESSAGING_POLICY,
    )
    assert refused == Failure(SenderFrozen("cnv_1", "buy_1"))
    assert chat.send(SELLER, Party.SELLER, body="sigo aquí").delivered  # only that sender
    assert chat.conversation.unfreeze_sender(sender_id="buy_1", by=AGENT, reason="", now=T0) == Failure(
        ReasonRequired()
    )
    chat.conversation.unfreeze_sender(sender_id="buy_1", by=AGENT, reason="talked to them", now=T0).unwrap()
    assert chat.conversation.unfreeze_sender(sender_id="buy_1", by=AGENT, reason="again", now=T0) == Failure(
        SenderNotFrozen("cnv_1", "buy_1")
    )
    after = chat.conversation.sender("buy_1")
    assert after is not None and (after.blocked, after.violations, after.frozen) == (3, 0, False)
    assert chat.send(body="perdón").delivered


def test_the_freeze_threshold_is_policy() -> None:
    chat = Chat()
    chat.send(screening=PHONE, policy=MessagingPolicy(violations_to_freeze=1))
    record = chat.conversation.sender("buy_1")
    assert record is not None and record.frozen


def test_support_freezes_a_conversation_with_a_reason_and_only_support_writes_then() -> None:
    chat = Chat()
    conversation = chat.conversation
    assert conversation.freeze(by=AGENT, reason=" ", now=T0) == Failure(ReasonRequired())
    conversation.freeze(by=AGENT, reason="harassment reported", now=T0).unwrap()
    assert conversation.frozen and conversation.freeze_record is not None
    again = conversation.freeze(by=AGENT, reason="again", now=T0)
    assert again == Failure(ConversationAlreadyFrozen("cnv_1"))
    refused = conversation.send(
        message_id="m",
        client_message_id="c",
        sender=SELLER,
        party=Party.SELLER,
        body="hola",
        sent_at=T0,
        screening=CLEAN,
        policy=DEFAULT_MESSAGING_POLICY,
    )
    assert refused == Failure(ConversationFrozen("cnv_1", "harassment reported"))
    assert chat.send(AGENT, Party.SUPPORT, body="We are reviewing this conversation.").delivered
    conversation.unfreeze(by=AGENT, reason="resolved", now=T0 + timedelta(hours=1)).unwrap()
    assert conversation.unfreeze(by=AGENT, reason="x", now=T0) == Failure(ConversationNotFrozen("cnv_1"))
    assert isinstance(conversation.pull_events()[0], ConversationFrozenBySupport)
    assert chat.send(SELLER, Party.SELLER, body="gracias").delivered


def test_rate_limits_apply_to_parties_and_nothing_is_stored() -> None:
    chat = Chat()
    burst = RateLimit(RateScope.CONVERSATION, timedelta(seconds=10), 5)
    policy = MessagingPolicy(rate_limits=(burst,))
    now = T0 + timedelta(minutes=5)
    arguments: dict[str, object] = {
        "message_id": "m",
        "client_message_id": "c",
        "sender": BUYER,
        "party": Party.BUYER,
        "body": "hola",
        "sent_at": now,
        "screening": CLEAN,
        "policy": policy,
        "recent": {burst: WindowCount(5, now - timedelta(seconds=7))},
    }
    refused = chat.conversation.send(**arguments)  # type: ignore[arg-type]
    assert refused == Failure(RateLimited("CONVERSATION", 5, 10, 3))
    assert chat.conversation.head_sequence == 0
    arguments["recent"] = {burst: WindowCount(4, now - timedelta(seconds=7))}
    assert chat.conversation.send(**arguments).unwrap().delivered  # type: ignore[arg-type]
    arguments.update(
        message_id="m2",
        client_message_id="c2",
        sender=AGENT,
        party=Party.SUPPORT,
        recent={burst: WindowCount(50, now)},
    )
    assert chat.conversation.send(**arguments).unwrap().delivered  # type: ignore[arg-type]


def test_a_correction_is_a_new_message_referencing_the_old_one() -> None:
    chat = Chat()
    original = chat.send(body="llega a las 3").message
    correction = chat.send(body="perdón, a las 4", corrects=original).message
    assert correction.corrects == original.message_id and correction.sequence == 2
    assert original.body == "llega a las 3"  # untouched

    def correct(target_id: str, target: object, sender: ActorRef = BUYER) -> object:
        return chat.conversation.send(
            message_id="mx",
            client_message_id="cx",
            sender=sender,
            party=Party.BUYER if sender is BUYER else Party.SELLER,
            body="fix",
            sent_at=T0 + timedelta(hours=1),
            screening=CLEAN,
            policy=DEFAULT_MESSAGING_POLICY,
            corrects=target,  # type: ignore[arg-type]
            corrects_id=target_id,
        )

    missing = correct("msg_404", None)
    assert isinstance(missing.failure(), CorrectionNotAllowed)  # type: ignore[attr-defined]
    someone_elses = correct(original.message_id, original, SELLER)
    assert "only its sender" in someone_elses.failure().message  # type: ignore[attr-defined]
    blocked = chat.send(screening=PHONE).message
    assert "never delivered" in correct(blocked.message_id, blocked).failure().message  # type: ignore[attr-defined]


def test_chain_times_never_go_backwards() -> None:
    chat = Chat()
    chat.send()
    late = chat.conversation.send(
        message_id="m",
        client_message_id="c",
        sender=BUYER,
        party=Party.BUYER,
        body="x",
        sent_at=T0 - timedelta(days=1),
        screening=CLEAN,
        policy=DEFAULT_MESSAGING_POLICY,
    ).unwrap()
    assert late.message.sent_at == chat.messages[0].sent_at


def test_rehydrate_refuses_inconsistent_state() -> None:
    conversation = opened()
    with pytest.raises(InvariantViolation):
        Conversation.rehydrate(
            conversation_id="cnv_1",
            country=MX,
            order_id=OrderId("ord_1"),
            participants=PARTIES,
            opening=conversation.opening,
            status=conversation.status,
            freeze=None,
            senders={},
            head_sequence=0,
            head_hash="0" * 64,
            updated_at=T0,
            version=1,
        )


def test_the_conversation_follows_an_urgent_replacement_of_seller_and_courier() -> None:
    chat = Chat(opened(participants=Participants("buy_1", "sel_1", "cou_1")))
    version = chat.conversation.version
    assert not chat.conversation.follow_parties("sel_1", "cou_1", T0)  # nothing changed, nothing recorded
    assert chat.conversation.version == version
    assert chat.conversation.follow_parties("sel_2", "cou_2", T0)
    assert chat.conversation.participants == Participants("buy_1", "sel_2", "cou_2")
    assert chat.conversation.version == version + 1
    changed = chat.conversation.pull_events()[-1]
    assert isinstance(changed, ParticipantsChanged)
    assert (changed.seller_id, changed.courier_id) == ("sel_2", "cou_2")
    # the replaced parties may no longer write; the buyer still may
    for sender, party in ((SELLER, Party.SELLER), (COURIER, Party.COURIER)):
        refused = chat.conversation.send(
            message_id=f"m-{party.value}",
            client_message_id=f"c-{party.value}",
            sender=sender,
            party=party,
            body="hola",
            sent_at=T0,
            screening=CLEAN,
            policy=DEFAULT_MESSAGING_POLICY,
        )
        assert isinstance(refused.failure(), NotAParticipant)

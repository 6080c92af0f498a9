from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from returns.result import Failure, Success

from domain.disputes.evidence import ConversationTranscript, EvidencePack
from domain.messaging import (
    BrokenMessageChain,
    ExportCheck,
    Party,
    export_transcript,
    genesis_hash,
    transcript_of,
    verify_chain,
    verify_export,
)
from domain.messaging.policy import MessagingPolicy, RateLimit, RateScope, WindowCount
from domain.shared import InvalidInput
from tests.unit.domain.messaging.builders import AGENT, PHONE, SELLER, T0, Chat


def _chat() -> Chat:
    chat = Chat()
    chat.send(body="¿a qué hora llega?")
    chat.send(SELLER, Party.SELLER, body="a las 3")
    chat.send(screening=PHONE, body="llámame al 315 555 1234")
    chat.send(AGENT, Party.SUPPORT, body="Please keep the conversation here.")
    return chat


def test_an_intact_chain_verifies() -> None:
    chat = _chat()
    assert verify_chain("cnv_1", chat.messages) is None
    assert verify_chain("cnv_1", []) is None


def test_editing_a_body_breaks_the_chain_at_that_message() -> None:
    messages = _chat().messages
    messages[1] = dataclasses.replace(messages[1], body="a las 5")
    broken = verify_chain("cnv_1", messages)
    assert broken == BrokenMessageChain("cnv_1", 2, "content does not match its hash")


def test_unblocking_a_message_breaks_the_chain() -> None:
    messages = _chat().messages
    messages[2] = dataclasses.replace(messages[2], status=messages[0].status, findings=())
    broken = verify_chain("cnv_1", messages)
    assert broken is not None and broken.sequence == 3


def test_removing_or_reordering_messages_breaks_the_chain() -> None:
    messages = _chat().messages
    removed = verify_chain("cnv_1", [messages[0], messages[2], messages[3]])
    assert removed == BrokenMessageChain("cnv_1", 2, "expected sequence 2, found 3")
    renumbered = [messages[0], dataclasses.replace(messages[2], sequence=2)]
    assert verify_chain("cnv_1", renumbered) == BrokenMessageChain(
        "cnv_1", 2, "does not link to the previous message"
    )
    assert verify_chain("cnv_1", [messages[1], messages[0]]) is not None


def test_a_chain_cannot_pass_for_another_conversation() -> None:
    messages = _chat().messages
    assert verify_chain("cnv_2", messages) == BrokenMessageChain("cnv_2", 1, "message msg_1 belongs to cnv_1")
    moved = [dataclasses.replace(messages[0], conversation_id="cnv_2")]
    unlinked = verify_chain("cnv_2", moved)
    assert unlinked == BrokenMessageChain("cnv_2", 1, "does not link to the previous message")
    assert genesis_hash("cnv_1") != genesis_hash("cnv_2")


def test_the_transcript_goes_into_the_evidence_pack_with_hashes_and_blocked_marks() -> None:
    chat = _chat()
    transcript = transcript_of("cnv_1", reversed(chat.messages))
    assert isinstance(transcript, ConversationTranscript)
    assert [e.message_id for e in transcript.entries] == ["msg_1", "msg_2", "msg_3", "msg_4"]
    assert [e.blocked for e in transcript.entries] == [False, False, True, False]
    assert [e.sender_role for e in transcript.entries] == ["BUYER", "SELLER", "BUYER", "L2"]
    assert transcript.entries[-1].chain_hash == chat.conversation.head_hash
    assert all(e.body_sha256 == m.body_sha256 for e, m in zip(transcript.entries, chat.messages, strict=True))
    assert "315" not in json.dumps(transcript.to_canonical())  # hashes, not bodies
    assert EvidencePack(transcript=transcript).content_hash()


def test_the_export_for_auditors_verifies_on_its_own() -> None:
    chat = _chat()
    export = export_transcript(
        conversation_id="cnv_1",
        country="MX",
        order_id="ord_1",
        messages=list(reversed(chat.messages)),
        exported_at=T0 + timedelta(days=1),
        exported_by=AGENT,
    )
    text = export.to_json()
    assert verify_export(text) == Success(ExportCheck("cnv_1", 4, chat.conversation.head_hash))
    document = json.loads(text)
    assert document["messages"][2]["status"] == "BLOCKED"
    assert document["messages"][2]["body"] == "llámame al 315 555 1234"  # kept as evidence
    assert document["messages"][2]["findings"] == [
        {"kind": "PHONE", "start": 0, "end": 12, "rule": "phone-number"}
    ]
    assert len(export.content_hash()) == 64


def _tampered(text: str, change: Callable[[dict[str, Any]], None]) -> str:
    document = json.loads(text)
    change(document)
    return json.dumps(document)


def test_a_tampered_export_is_caught() -> None:
    chat = _chat()
    text = export_transcript(
        conversation_id="cnv_1",
        country="MX",
        order_id="ord_1",
        messages=chat.messages,
        exported_at=T0,
        exported_by=AGENT,
    ).to_json()

    def body(d: dict[str, Any]) -> None:
        d["messages"][1]["body"] = "a las 5"

    def body_and_hash(d: dict[str, Any]) -> None:
        d["messages"][1]["body"] = "a las 5"
        d["messages"][1]["body_sha256"] = hashlib.sha256(b"a las 5").hexdigest()

    def unblock(d: dict[str, Any]) -> None:
        d["messages"][2]["status"] = "DELIVERED"

    def drop_last(d: dict[str, Any]) -> None:
        d["messages"].pop()

    def drop_last_and_recount(d: dict[str, Any]) -> None:
        d["messages"].pop()
        d["message_count"] = 3

    assert verify_export(_tampered(text, body)) == Failure(
        BrokenMessageChain("cnv_1", 2, "the body does not match its sha256")
    )
    assert verify_export(_tampered(text, body_and_hash)) == Failure(
        BrokenMessageChain("cnv_1", 2, "content does not match its hash")
    )
    assert verify_export(_tampered(text, unblock)) == Failure(
        BrokenMessageChain("cnv_1", 3, "content does not match its hash")
    )
    assert verify_export(_tampered(text, drop_last)) == Failure(
        BrokenMessageChain("cnv_1", 4, "the message count does not match")
    )
    assert verify_export(_tampered(text, drop_last_and_recount)) == Failure(
        BrokenMessageChain("cnv_1", 3, "the declared head hash differs")
    )
    assert isinstance(verify_export("not json").failure(), InvalidInput)
    assert isinstance(verify_export('{"format": "other"}').failure(), InvalidInput)


def test_rate_limit_policy_is_pure_arithmetic() -> None:
    minute = RateLimit(RateScope.SENDER, timedelta(minutes=1), 3)
    policy = MessagingPolicy(rate_limits=(minute,))
    assert policy.rate_limit_breach({minute: WindowCount(2, T0)}, T0) is None
    assert policy.rate_limit_breach({}, T0) is None
    breach = policy.rate_limit_breach({minute: WindowCount(3, T0 - timedelta(seconds=50))}, T0)
    assert breach is not None and (breach.scope, breach.retry_after_seconds) == ("SENDER", 10)
    assert "retry in 10 s" in breach.message

"""Small builders for messaging tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.disputes.evidence import ActorRef
from domain.messaging import (
    DEFAULT_MESSAGING_POLICY,
    Conversation,
    Finding,
    FindingKind,
    Message,
    MessagingPolicy,
    OpeningGround,
    Participants,
    Party,
    Screening,
    Sent,
)
from domain.shared import CountryCode
from domain.shared.ids import ActorId, OrderId

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
MX = CountryCode("MX")
BUYER = ActorRef(ActorId("buy_1"), "BUYER")
SELLER = ActorRef(ActorId("sel_1"), "SELLER")
COURIER = ActorRef(ActorId("cou_1"), "COURIER")
AGENT = ActorRef(ActorId("agent_7"), "L2")
CLEAN = Screening()
PHONE = Screening((Finding(0, 12, FindingKind.PHONE, "phone-number"),))
PARTIES = Participants(buyer_id="buy_1", seller_id="sel_1", courier_id="cou_1")


def opened(
    *, ground: OpeningGround = OpeningGround.DISPUTE, participants: Participants = PARTIES
) -> Conversation:
    conversation = Conversation.open(
        conversation_id="cnv_1",
        country=MX,
        order_id=OrderId("ord_1"),
        participants=participants,
        ground=ground,
        reference="dsp_1" if ground is OpeningGround.DISPUTE else "inc_1",
        reason=None,
        reason_screening=CLEAN,
        opened_by=AGENT,
        opened_by_party=Party.SUPPORT,
        now=T0,
    ).unwrap()
    conversation.pull_events()
    return conversation


class Chat:
    """Sends messages in one conversation with sequential ids and times."""

    def __init__(self, conversation: Conversation | None = None) -> None:
        self.conversation = conversation or opened()
        self.messages: list[Message] = []
        self._n = 0

    def send(
        self,
        sender: ActorRef = BUYER,
        party: Party = Party.BUYER,
        body: str = "hola",
        screening: Screening = CLEAN,
        policy: MessagingPolicy = DEFAULT_MESSAGING_POLICY,
        corrects: Message | None = None,
        client_id: str | None = None,
    ) -> Sent:
        self._n += 1
        sent = self.conversation.send(
            message_id=f"msg_{self._n}",
            client_message_id=client_id or f"c{self._n}",
            sender=sender,
            party=party,
            body=body,
            sent_at=T0 + timedelta(minutes=self._n),
            screening=screening,
            policy=policy,
            corrects=corrects,
            corrects_id=None if corrects is None else corrects.message_id,
        ).unwrap()
        self.messages.append(sent.message)
        return sent

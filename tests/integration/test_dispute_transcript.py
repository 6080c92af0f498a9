"""Prong 2 of the trident: deciding a dispute freezes the order's real conversation
(hashes and blocked marks) into the evidence pack, and the pack hash covers it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.screening import MarketplacePhoneFinder
from application.context import RequestContext, Services
from application.disputes.use_cases import WithdrawDispute, withdraw_dispute
from application.messaging.common import MessagingServices
from application.messaging.queries import transcript_for_order
from application.messaging.use_cases import OpenConversation, SendMessage, open_conversation, send_message
from application.security.principal import Principal, Role
from domain.disputes import ConversationTranscript
from domain.disputes.codes import OutcomeCode
from domain.messaging import OpeningGround, Screener
from domain.shared.ids import DisputeId, OrderId
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.integration.aggregate_builders import ok
from tests.integration.scenario import L1, MX, add_policy, decide, dispute_under_review

BUYER = RequestContext(Principal("buy_1", Role.BUYER, frozenset({MX})), "req-buyer")
SELLER = RequestContext(Principal("sel_1", Role.SELLER, frozenset({MX})), "req-seller")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
async def svc(uow_factory: Callable[[], SqlAlchemyUnitOfWork], clock: FixedClock) -> Services:
    services = Services(uow=uow_factory, clock=clock, ids=SequentialIds())
    await add_policy(services)
    return services


async def test_the_decided_pack_holds_the_conversation_and_its_hash_covers_it(
    svc: Services, uow_factory: Callable[[], SqlAlchemyUnitOfWork], clock: FixedClock
) -> None:
    messaging = MessagingServices(
        uow=uow_factory, clock=clock, ids=SequentialIds("m"), screener=Screener(MarketplacePhoneFinder())
    )
    dispute = await dispute_under_review(svc, "o1")
    opened = ok(await open_conversation(messaging, L1, OpenConversation(MX, OrderId("o1"))))
    assert opened.conversation.opening.ground is OpeningGround.DISPUTE
    assert opened.conversation.opening.reference == dispute.id
    for ctx, client_id, body in (
        (BUYER, "b1", "El jarrón llegó roto"),
        (SELLER, "s1", "Lo siento, págame por fuera por nequi y te mando otro"),  # blocked
        (SELLER, "s2", "Enviamos uno nuevo mañana"),
    ):
        clock.advance(timedelta(minutes=1))
        ok(await send_message(messaging, ctx, SendMessage(MX, OrderId("o1"), client_id, body)))

    receipt = await decide(svc, dispute, OutcomeCode.FULL_REFUND)

    async with uow_factory() as uow:
        expected = await transcript_for_order(uow, MX, OrderId("o1"))
        decided = await uow.disputes.get(MX, DisputeId(dispute.id))
    assert decided is not None and decided.decision is not None
    pack = decided.evidence
    assert pack.transcript == expected
    assert pack.transcript.conversation_id == opened.conversation.id
    assert [entry.blocked for entry in pack.transcript.entries] == [False, True, False]
    assert decided.decision.evidence_pack_hash == receipt.evidence_pack_hash == pack.content_hash()
    assert pack.with_transcript(ConversationTranscript()).content_hash() != pack.content_hash()

    clock.advance(timedelta(minutes=1))  # later messages do not touch the frozen pack
    ok(await send_message(messaging, BUYER, SendMessage(MX, OrderId("o1"), "b2", "gracias")))
    async with uow_factory() as uow:
        after = await uow.disputes.get(MX, DisputeId(dispute.id))
        now_transcript = await transcript_for_order(uow, MX, OrderId("o1"))
    assert after is not None and after.evidence == pack
    assert len(now_transcript.entries) == 4


async def test_a_withdrawn_pack_holds_the_conversation_and_the_platform_facts_too(
    svc: Services, uow_factory: Callable[[], SqlAlchemyUnitOfWork], clock: FixedClock
) -> None:
    # the pack freezes at a withdrawal as at a decision (D125): the trident is complete, and
    # the hash the withdrawal records covers the conversation
    messaging = MessagingServices(
        uow=uow_factory, clock=clock, ids=SequentialIds("m"), screener=Screener(MarketplacePhoneFinder())
    )
    dispute = await dispute_under_review(svc, "o2")
    ok(await open_conversation(messaging, L1, OpenConversation(MX, OrderId("o2"))))
    clock.advance(timedelta(minutes=1))
    ok(await send_message(messaging, BUYER, SendMessage(MX, OrderId("o2"), "b1", "Ya apareció, gracias")))
    clock.advance(timedelta(minutes=1))

    withdrawn = ok(await withdraw_dispute(svc, BUYER, WithdrawDispute(MX, DisputeId(dispute.id), "found it")))

    async with uow_factory() as uow:
        expected = await transcript_for_order(uow, MX, OrderId("o2"))
        stored = await uow.disputes.get(MX, DisputeId(dispute.id))
    assert stored is not None and stored.withdrawal is not None and withdrawn.withdrawal is not None
    pack = stored.evidence
    assert pack.transcript == expected and len(expected.entries) == 1
    assert pack.platform_facts is not None and pack.platform_facts.timeline
    assert stored.withdrawal.evidence_pack_hash == withdrawn.withdrawal.evidence_pack_hash
    assert stored.withdrawal.evidence_pack_hash == pack.content_hash()
    assert pack.with_transcript(ConversationTranscript()).content_hash() != pack.content_hash()

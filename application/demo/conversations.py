"""Demo conversations (issue #7): order chats on disputed and incident orders.

Support (an L1 agent) opens each one on its ground - the order's open dispute or live
incident - and the parties talk through the real use cases, so the screener blocks the
bypass attempts (a WhatsApp number, a Pix payment to a spelled-out e-mail, a bank
transfer, a spelled-out phone number), keeps them as evidence and counts them against
the sender. One conversation (MX, the dispute under review) is frozen by an L2.

Each conversation runs on its own clock, starting a little after its case opened, so
messages fall between the ground and today whatever else the seed did meanwhile.
An order that already has a conversation is skipped: running the seed again (or on a
database seeded before conversations existed) adds only what is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from returns.result import Failure

from application.context import RequestContext, Services
from application.messaging.common import MessagingServices
from application.messaging.moderation import FreezeConversation, freeze_conversation
from application.messaging.use_cases import OpenConversation, SendMessage, open_conversation, send_message
from application.security.principal import Principal, Role
from domain.cases.kinds import CaseKind
from domain.messaging import NoGroundsToOpen, Party, Screener
from domain.orders import Order
from domain.shared import CountryCode
from domain.shared.ids import OrderId

GAP: Final = timedelta(minutes=3)  # between two messages of a demo conversation
FROZEN_DEMO: Final = ("MX", "under-review")  # the one conversation an L2 freezes
FREEZE_REASON: Final = "Off-platform payment requests while the dispute is under review"

Line = tuple[Party, str]


@dataclass(frozen=True, slots=True)
class Script:
    es: tuple[Line, ...]
    pt: tuple[Line, ...]

    def lines(self, country: str) -> tuple[Line, ...]:
        return self.pt if country == "BR" else self.es


B, S, C, SUP = Party.BUYER, Party.SELLER, Party.COURIER, Party.SUPPORT

SCRIPTS: Final[dict[str, Script]] = {
    # Disputes (opened on day 0 of the demo).
    "disputed": Script(
        es=(
            (SUP, "Hola, soy Ana de soporte. Abrimos este chat por la disputa del pedido; ¿qué pasó?"),
            (B, "El regalo nunca llegó y era para el cumpleaños de mi mamá."),
            (C, "Lo dejé en la recepción del edificio a las 14:30, tengo la foto en la app."),
            (B, "mi whatsapp 55 1234 5678, mándame la foto por ahí"),
            (SUP, "Por seguridad todo queda en este chat. Sumamos la foto del repartidor a la disputa."),
        ),
        pt=(
            (SUP, "Olá, aqui é a Ana do suporte. Abrimos este chat pela disputa do pedido; o que houve?"),
            (B, "O presente nunca chegou e era para o aniversário da minha mãe."),
            (C, "Deixei na recepção do prédio às 14:30, tenho a foto no app."),
            (B, "me chama no zap 11 91234 5678 que te mando a foto"),
            (SUP, "Por segurança, tudo fica neste chat. Anexamos a foto do entregador à disputa."),
        ),
    ),
    "open-dispute": Script(
        es=(
            (B, "Llegó dos días tarde, el evento ya había pasado."),
            (S, "paga por pix para ana arroba gmail punto com y te devuelvo la diferencia"),
            (S, "Disculpa, lo preparamos a tiempo; el retraso fue en el envío."),
        ),
        pt=(
            (B, "Chegou dois dias atrasado, a festa já tinha passado."),
            (S, "paga por pix para ana arroba gmail ponto com que eu devolvo a diferença"),
            (S, "Desculpa, preparamos a tempo; o atraso foi na entrega."),
        ),
    ),
    "under-review": Script(
        es=(
            (B, "Me llegó otro producto, pedí rosas rojas y llegaron blancas."),
            (S, "Deposítame por transferencia bancaria y te lo reenvío hoy"),
            (B, "Prefiero que lo resuelva soporte por aquí."),
        ),
        pt=(
            (B, "Chegou outro produto, pedi rosas vermelhas e vieram brancas."),
            (S, "Faz uma transferência bancária que eu reenvio hoje"),
            (B, "Prefiro que o suporte resolva por aqui."),
        ),
    ),
    # Live incidents (opened on the demo's last day).
    "inc-courier": Script(
        es=(
            (SUP, "El repartidor no está disponible; estamos reasignando el envío."),
            (C, "Soy el nuevo repartidor; ya recogí el regalo y voy en camino."),
            (B, "Gracias, ¿llega hoy?"),
        ),
        pt=(
            (SUP, "O entregador não está disponível; estamos reatribuindo a entrega."),
            (C, "Sou o novo entregador; já peguei o presente e estou a caminho."),
            (B, "Obrigado, chega hoje?"),
        ),
    ),
    "inc-address": Script(
        es=(
            (SUP, "¿Nos confirma el número de departamento?"),
            (C, "pásame tu cel, es tres 1 cinco 555 0101"),
            (B, "Es el departamento 402, torre B."),
        ),
        pt=(
            (SUP, "Pode confirmar o número do apartamento?"),
            (C, "me passa teu celular, é onze nove 8765 4321"),
            (B, "É o apartamento 402, bloco B."),
        ),
    ),
    "inc-seller": Script(
        es=(
            (SUP, "No teníamos respuesta del vendedor; le reenviamos el pedido."),
            (S, "Recibido, lo preparamos en una hora."),
        ),
        pt=(
            (SUP, "O vendedor não respondia; reenviamos o pedido a ele."),
            (S, "Recebido, preparamos em uma hora."),
        ),
    ),
}


class _StepClock:
    """One conversation's clock: starts where its ground opened and steps per message."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def step(self, delta: timedelta = GAP) -> None:
        self._now += delta


def _context(actor_id: str, role: Role, country: CountryCode) -> RequestContext:
    return RequestContext(Principal(actor_id, role, frozenset({country})), "seed-demo")


def _speaker(order: Order, party: Party, country: CountryCode) -> RequestContext:
    if party is Party.BUYER:
        return _context(order.buyer_id, Role.BUYER, country)
    if party is Party.SELLER:
        return _context(order.seller_id, Role.SELLER, country)
    if party is Party.COURIER and order.courier_id is not None:
        return _context(order.courier_id, Role.COURIER, country)
    return _context("agent-ana", Role.L1, country)


async def _ground_opened_at(svc: Services, country: CountryCode, order_id: OrderId) -> datetime | None:
    """When the order's open dispute or incident case opened (``None``: no open ground)."""
    async with svc.uow() as uow:
        cases = await uow.cases.for_order(country, order_id)
    opened = [
        case.state.opened_at
        for case in cases
        if case.state.is_open and case.state.kind in (CaseKind.DISPUTE, CaseKind.ORDER_INCIDENT)
    ]
    return min(opened) if opened else None


async def seed_conversation(
    svc: Services,
    screener: Screener,
    country: CountryCode,
    order_id: OrderId,
    script: Script,
    *,
    freeze: bool = False,
) -> bool:
    """Open one demo conversation and play its script; ``False`` when it was already there
    (or the order is missing or has no open ground)."""
    async with svc.uow() as uow:
        order = await uow.orders.get(country, order_id)
        existing = None if order is None else await uow.conversations.for_order(country, order_id)
    if order is None or existing is not None:
        return False
    opened_at = await _ground_opened_at(svc, country, order_id)
    if opened_at is None:
        return False
    clock = _StepClock(opened_at + timedelta(minutes=20))
    messaging = MessagingServices(uow=svc.uow, clock=clock, ids=svc.ids, screener=screener)
    agent = _context("agent-ana", Role.L1, country)
    opened = await open_conversation(messaging, agent, OpenConversation(country, order_id))
    if isinstance(opened, Failure):
        if isinstance(opened.failure(), NoGroundsToOpen):
            return False
        raise RuntimeError(f"seed step 'open conversation on {order_id}': {opened.failure().message}")
    for number, (party, body) in enumerate(script.lines(country.value), start=1):
        clock.step()
        sent = await send_message(
            messaging,
            _speaker(order, party, country),
            SendMessage(country, order_id, f"seed-{order_id}-{number}", body),
        )
        if isinstance(sent, Failure):
            raise RuntimeError(f"seed step 'message {number} on {order_id}': {sent.failure().message}")
    if freeze:
        clock.step()
        specialist = _context("specialist-sol", Role.L2, country)
        frozen = await freeze_conversation(
            messaging, specialist, FreezeConversation(country, order_id, FREEZE_REASON)
        )
        if isinstance(frozen, Failure):
            raise RuntimeError(f"seed step 'freeze {order_id}': {frozen.failure().message}")
    return True


async def seed_conversations(
    svc: Services,
    screener: Screener,
    countries: Sequence[str],
    order_id_of: Callable[[str, str], OrderId],
) -> int:
    """The demo conversations of every country; returns how many were opened now."""
    created = 0
    for country in countries:
        for name, script in SCRIPTS.items():
            order_id = order_id_of(country, name)
            freeze = (country, name) == FROZEN_DEMO
            if await seed_conversation(svc, screener, CountryCode(country), order_id, script, freeze=freeze):
                created += 1
    return created

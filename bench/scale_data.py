"""The scale benchmark's data: orders with their snapshots and captures, disputes and cases.

:func:`generate` yields the rows of ``plan.orders`` orders, chunk by chunk, as
``{table: [row, ...]}`` (rows are dicts keyed by column name, so the same rows go through
asyncpg's ``copy_records_to_table`` in the benchmark and through SQLAlchemy ``insert`` in
the tests, on SQLite too). Deterministic for a given :class:`ScalePlan`.

What a database of ``N`` orders holds (the distributions are the same at every size, so
10k and 1M differ only in volume):

- **orders**: every one paid (snapshot columns filled, the capture's ledger transaction,
  its two postings and the order's escrow account), in five countries — MX 40 %, BR 25 %,
  CO 15 %, AR 12 %, CL 8 % (:func:`country_of`, interleaved by index) — created uniformly
  over the 180 days before ``plan.now``: IN_TRANSIT when younger than 2 h, DELIVERED
  younger than 3 days, COMPLETED older; ``DISPUTE_RATE`` of the delivered ones DISPUTED.
  The order rows are one domain-built template per country with ids, parties, times and
  amounts substituted (the snapshot's total always adds up: a CHECK constraint).
- **disputes** (one per DISPUTED order), built with the domain's own ``Dispute.open`` /
  ``start_review`` / ``withdraw``: OPEN or UNDER_REVIEW in their 48 h evidence window,
  up to 7 days UNDER_REVIEW or WITHDRAWN. Each has its DISPUTE **case** (opened at L0, with
  the policy's clocks). Older than 7 days: WITHDRAWN (so the open backlog is the last
  week's, at every size; RESOLVED would need the saga's execution and is left out).
- **order incidents**: ``INCIDENT_RATE`` of the orders get an ORDER_INCIDENT case; older
  than a day: acknowledged, mitigated, resolved, closed; younger: NEW, ACKNOWLEDGED or
  MITIGATED. Every case is advanced in time order with the domain's methods, and a clock
  whose deadline passes before the next action (or before ``plan.now``) is breached by the
  scheduler 30 s after its deadline, as the scheduler would have. So at ``plan.now`` no
  running clock is overdue: the SLA scheduler has kept up.
- **tick cases**: ``plan.tick_slots`` slots of ``plan.tick_clocks`` ORDER_INCIDENT cases
  in ``TICK_COUNTRY`` whose acknowledge clock is due in slot ``s`` (between
  :func:`slot_start` and :func:`tick_now`), everything else due after ``plan.now``: a
  scheduler tick at ``tick_now(s)`` breaches exactly ``plan.tick_clocks`` clocks, at any
  database size. Each measured tick uses a fresh slot.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

from adapters.persistence.cases import case_to_row, clock_to_row, entry_to_row
from adapters.persistence.mappers import dispute_to_row, order_to_row
from application.cases.scheduler import SCHEDULER
from application.context import WITHOUT_HOLIDAYS
from application.orders.use_cases import capture_key
from domain.cases.case import Case
from domain.cases.kinds import CaseKind, ClockKind, IncidentType, Severity, Tier
from domain.cases.l0 import DISPUTE_SEVERITY
from domain.cases.sla import SlaPolicy, default_sla_policy
from domain.disputes import Dispute
from domain.disputes.codes import DisputeReason
from domain.disputes.evidence import ActorRef
from domain.ledger import rules
from domain.orders import Order, OrderStatus
from domain.shared import CountryCode, Currency
from domain.shared.ids import ActorId, BuyerId, CourierId, DisputeId, OrderId, SellerId
from domain.snapshots import OrderSnapshot, RefundPolicy

COUNTRY_MIX: Final = (
    ("MX", "MXN", 40),
    ("BR", "BRL", 25),
    ("CO", "COP", 15),
    ("AR", "ARS", 12),
    ("CL", "CLP", 8),
)
_BUCKETS: Final = tuple(country for country, _, weight in COUNTRY_MIX for _ in range(weight))
CURRENCY: Final = {country: currency for country, currency, _ in COUNTRY_MIX}
TICK_COUNTRY: Final = "CL"
"""The tick cases' country (not the one the queries read, so they do not crowd its queue)."""

HISTORY: Final = timedelta(days=180)
DISPUTE_RATE: Final = 0.02
INCIDENT_RATE: Final = 0.01
BREACH_LAG: Final = timedelta(seconds=30)
SLOT: Final = timedelta(minutes=1)
TICK_LEAD: Final = timedelta(hours=2)
CHUNK: Final = 20_000
_HISTORY_S: Final = HISTORY.total_seconds()
_IN_TRANSIT: Final = timedelta(hours=2)
_DISPUTABLE: Final = timedelta(minutes=20)
_COMPLETES: Final = timedelta(days=3)
_IN_TRANSIT_STATUS: Final = OrderStatus.IN_TRANSIT.value
_DISPUTED_STATUS: Final = OrderStatus.DISPUTED.value
_DELIVERED_STATUS: Final = OrderStatus.DELIVERED.value
_COMPLETED_STATUS: Final = OrderStatus.COMPLETED.value

TABLES: Final = (
    "orders",
    "ledger_accounts",
    "ledger_transactions",
    "ledger_postings",
    "disputes",
    "cases",
    "case_clocks",
    "case_timeline",
)

AGENT: Final = ActorRef(ActorId("agt_bench"), "L1")
BUYER_ROLE: Final = "BUYER"


@dataclass(frozen=True, slots=True)
class ScalePlan:
    orders: int
    now: datetime
    seed: int = 7
    tick_slots: int = 64
    tick_clocks: int = 8

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("now must be aware")
        if self.tick_slots * SLOT >= TICK_LEAD:
            raise ValueError(
                "the tick slots must end before now (no generated running clock is due before now)"
            )
        if self.tick_cases > sum(1 for i in range(self.orders) if country_of(i) == TICK_COUNTRY):
            raise ValueError(f"too few {TICK_COUNTRY} orders for {self.tick_cases} tick cases")

    @property
    def tick_cases(self) -> int:
        return self.tick_slots * self.tick_clocks

    @property
    def tick_base(self) -> datetime:
        """Slot 0 starts ``TICK_LEAD`` before ``now`` (every other running clock is due after ``now``)."""
        return self.now - TICK_LEAD


def country_of(index: int) -> str:
    """The country of order ``index``: the mix, interleaved (37 is prime to 100)."""
    return _BUCKETS[(index * 37) % 100]


def order_id(index: int) -> str:
    return f"ord_s{index:08d}"


def slot_start(plan: ScalePlan, slot: int) -> datetime:
    return plan.tick_base + slot * SLOT


def tick_now(plan: ScalePlan, slot: int) -> datetime:
    """The ``now`` of the tick of ``slot``: after its clocks' deadlines, before the next slot's."""
    return slot_start(plan, slot) + SLOT / 2


# ----------------------------------------------------------------------------- templates


@dataclass(frozen=True, slots=True)
class _Template:
    order: dict[str, Any]
    capture_kind: str
    capture_memo: str
    clearing: str
    clearing_kind: str
    escrow: str  # the escrow account's name, ``{}`` for the order id
    escrow_kind: str


def _template(country: str, now: datetime) -> _Template:
    """One paid, delivered order of ``country`` made by the domain; its rows are the template."""
    code, currency = CountryCode(country), Currency.of(CURRENCY[country])
    start = now - timedelta(days=1)
    policy = RefundPolicy.create(
        country=code,
        version=f"{country}-2026-01",
        currency=currency,
        goodwill_credit_minor=10_000,
        partial_refund_tiers_bp=(2_500, 5_000),
    ).unwrap()
    order = Order.create(
        id=OrderId("ord_template"),
        country=code,
        buyer_id=BuyerId("buy_template"),
        seller_id=SellerId("sel_template"),
        courier_id=CourierId("cou_template"),
        created_at=start,
    ).unwrap()
    snapshot = OrderSnapshot.capture(
        order_id=order.id,
        country=code,
        currency=currency,
        items_subtotal_minor=100_000,
        delivery_fee_minor=5_000,
        service_fee_minor=2_000,
        tax_minor=16_000,
        discount_minor=0,
        commission_bp=1_500,
        policy=policy,
        buyer_id=order.buyer_id,
        seller_id=order.seller_id,
        courier_id=CourierId("cou_template"),
        captured_at=start + timedelta(minutes=1),
    ).unwrap()
    order.capture_payment(snapshot, start + timedelta(minutes=1)).unwrap()
    for minute, status in enumerate(
        (OrderStatus.ACCEPTED, OrderStatus.IN_PREPARATION, OrderStatus.IN_TRANSIT, OrderStatus.DELIVERED),
        start=2,
    ):
        order.transition_to(status, start + timedelta(minutes=minute)).unwrap()
    capture = rules.capture(snapshot, capture_key(order.id))
    debit, credit = capture.postings
    return _Template(
        order=order_to_row(order),
        capture_kind=capture.kind.value,
        capture_memo=capture.memo,
        clearing=debit.account.name,
        clearing_kind=debit.account.kind.value,
        escrow=credit.account.name.replace(order.id, "{}"),
        escrow_kind=credit.account.kind.value,
    )


# ----------------------------------------------------------------------------- cases


def _advance(case: Case, until: datetime) -> None:
    """Breach, in deadline order, every running clock due by ``until`` (30 s after its
    deadline, as the scheduler would have, and never after ``until``)."""
    while True:
        due = [
            (clock.due_at, kind)
            for kind, clock in case.state.clocks.items()
            if clock.due_at is not None and clock.due_at <= until
        ]
        if not due:
            return
        deadline, kind = min(due)
        case.record_breach(kind, min(deadline + BREACH_LAG, until), SCHEDULER)


def _at(rng: random.Random, after: datetime, low_minutes: int, high_minutes: int) -> datetime:
    return after + timedelta(minutes=rng.randint(low_minutes, high_minutes), seconds=rng.randint(0, 59))


class _Policies:
    def __init__(self) -> None:
        self._cache: dict[tuple[str, CaseKind], SlaPolicy] = {}

    def __call__(self, country: str, kind: CaseKind) -> SlaPolicy:
        key = (country, kind)
        if key not in self._cache:
            self._cache[key] = default_sla_policy(CountryCode(country), kind)
        return self._cache[key]


def _lifecycle(
    case: Case, rng: random.Random, now: datetime, policy: SlaPolicy, *, closed: bool, steps: int
) -> None:
    """Acknowledge, mitigate, resolve, close (the first ``steps`` of them, or all when
    ``closed``), each some minutes after the last, breaching what falls due in between."""
    calendar = WITHOUT_HOLIDAYS.calendar_for(case.country)
    at = case.state.opened_at
    plan = (
        ("ack", 2, 90),
        ("mitigate", 20, 300),
        ("resolve", 30, 600),
        ("close", 600, 2_000),
    )
    for name, low, high in plan[: 4 if closed else steps]:
        moment = _at(rng, at, low, high)
        if moment >= now:
            break
        _advance(case, moment)
        if name == "ack":
            case.acknowledge(moment, AGENT, calendar, policy).unwrap()
        elif name == "mitigate":
            case.mitigate(moment, AGENT, "courier re-dispatched", calendar, policy).unwrap()
        elif name == "resolve":
            case.resolve(moment, AGENT, "solved with the buyer").unwrap()
        else:
            case.close(moment, AGENT).unwrap()
        at = moment
    _advance(case, now)


def _case_rows(case: Case, out: dict[str, list[dict[str, Any]]]) -> None:
    state = case.state
    out["cases"].append({**case_to_row(state), "updated_at": state.timeline[-1].at})
    out["case_clocks"].extend(
        clock_to_row(state.country, state.case_id, clock) for clock in state.clocks.values()
    )
    out["case_timeline"].extend(entry_to_row(state.country, state.case_id, entry) for entry in state.timeline)


def _open_case(
    policies: _Policies,
    *,
    case_id: str,
    country: str,
    kind: CaseKind,
    severity: Severity,
    at: datetime,
    order: str,
    tier: Tier,
    subject_ref: str | None = None,
    incident_type: IncidentType | None = None,
) -> tuple[Case, SlaPolicy]:
    policy = policies(country, kind)
    title = f"{incident_type.value if incident_type else kind.value} on order {order}"
    case = Case.open(
        case_id=case_id,
        country=CountryCode(country),
        kind=kind,
        severity=severity,
        title=title,
        opened_by=SCHEDULER if tier is Tier.L0 else AGENT,
        at=at,
        policy=policy,
        calendar=WITHOUT_HOLIDAYS.calendar_for(CountryCode(country)),
        tier=tier,
        order_id=order,
        subject_ref=subject_ref,
        incident_type=incident_type,
    ).unwrap()
    return case, policy


_SEVERITIES: Final = (Severity.SEV0,) + (Severity.SEV1,) * 9 + (Severity.SEV2,) * 40 + (Severity.SEV3,) * 50
_INCIDENT_TYPES: Final = tuple(IncidentType)
_REASONS: Final = tuple(DisputeReason)


def _dispute(
    index: int,
    country: str,
    *,
    delivered_at: datetime,
    opened_at: datetime,
    now: datetime,
    rng: random.Random,
    policies: _Policies,
    out: dict[str, list[dict[str, Any]]],
) -> None:
    oid = order_id(index)
    reason = _REASONS[rng.randrange(len(_REASONS))]
    dispute = Dispute.open(
        dispute_id=DisputeId(f"dsp_s{index:08d}"),
        order_id=OrderId(oid),
        country=CountryCode(country),
        reason=reason,
        opened_by_actor=ActorId(f"buy_{index % 50_000:05d}"),
        opened_by_role=BUYER_ROLE,
        statement="The gift arrived broken and the card was missing.",
        delivered_at=delivered_at,
        now=opened_at,
        dispute_window=timedelta(hours=72),
        evidence_window=timedelta(hours=48),
    ).unwrap()
    case, policy = _open_case(
        policies,
        case_id=f"case_d{index:08d}",
        country=country,
        kind=CaseKind.DISPUTE,
        severity=DISPUTE_SEVERITY[reason],
        at=opened_at,
        order=oid,
        tier=Tier.L0,
        subject_ref=dispute.id,
    )
    age = now - opened_at
    roll = rng.random()
    if age < timedelta(hours=48) and roll < 0.5:  # OPEN, its case still NEW (or acknowledged)
        _lifecycle(case, rng, now, policy, closed=False, steps=rng.randint(0, 1))
    elif age < timedelta(hours=48) or (age < timedelta(days=7) and roll < 0.6):  # UNDER_REVIEW
        review = min(_at(rng, opened_at, 10, 600), now - timedelta(seconds=1))
        dispute.start_review(review).unwrap()
        _lifecycle(case, rng, now, policy, closed=False, steps=1)
    else:  # WITHDRAWN; its case resolved and closed
        withdrawn = min(_at(rng, opened_at, 30, 2_000), now - timedelta(seconds=1))
        dispute.withdraw(
            at=withdrawn, by_actor=dispute.opened_by.actor_id, by_role=BUYER_ROLE, reason="sorted out"
        ).unwrap()
        _lifecycle(case, rng, now, policy, closed=True, steps=4)
    out["disputes"].append(dispute_to_row(dispute))
    _case_rows(case, out)


def _incident(
    index: int,
    country: str,
    *,
    created_at: datetime,
    now: datetime,
    rng: random.Random,
    policies: _Policies,
    out: dict[str, list[dict[str, Any]]],
) -> None:
    opened_at = min(_at(rng, created_at, 10, 90), now - timedelta(minutes=1))
    case, policy = _open_case(
        policies,
        case_id=f"case_i{index:08d}",
        country=country,
        kind=CaseKind.ORDER_INCIDENT,
        severity=_SEVERITIES[rng.randrange(len(_SEVERITIES))],
        at=opened_at,
        order=order_id(index),
        tier=Tier.L1,
        incident_type=_INCIDENT_TYPES[rng.randrange(len(_INCIDENT_TYPES))],
    )
    old = now - opened_at > timedelta(days=1)
    _lifecycle(case, rng, now, policy, closed=old, steps=rng.randint(0, 2))
    _case_rows(case, out)


# ----------------------------------------------------------------------------- orders


def _empty() -> dict[str, list[dict[str, Any]]]:
    return {table: [] for table in TABLES}


def _order(
    index: int,
    now: datetime,
    rng: random.Random,
    templates: dict[str, _Template],
    out: dict[str, list[dict[str, Any]]],
) -> tuple[str, datetime, datetime | None, bool]:
    """The order's rows (order, capture, postings, escrow account); ``(country, created_at,
    delivered_at, disputed)``."""
    country = country_of(index)
    template = templates[country]
    oid = order_id(index)
    draw = rng.random
    created_at = now - timedelta(seconds=int(draw() * _HISTORY_S))
    captured_at = created_at + timedelta(seconds=5 + int(draw() * 85))
    age = now - created_at
    delivered_at = None if age < _IN_TRANSIT else created_at + timedelta(minutes=40 + int(draw() * 70))
    disputed = delivered_at is not None and now - delivered_at > _DISPUTABLE and draw() < DISPUTE_RATE
    if delivered_at is None:
        status, updated_at = _IN_TRANSIT_STATUS, captured_at + timedelta(minutes=20)
    elif disputed:
        status, updated_at = _DISPUTED_STATUS, delivered_at
    elif age < _COMPLETES:
        status, updated_at = _DELIVERED_STATUS, delivered_at
    else:
        status, updated_at = _COMPLETED_STATUS, delivered_at + _COMPLETES
    items = (20 + int(draw() * 2_980)) * 100
    delivery, service, tax = 4_900, items * 2 // 100, items * 16 // 100
    discount = 1_000 if draw() < 0.1 else 0
    total = items + delivery + service + tax - discount
    currency = CURRENCY[country]
    courier = f"cou_{(index * 13) % 2_000:04d}"
    row = template.order.copy()
    row.update(
        id=oid,
        buyer_id=f"buy_{index % 50_000:05d}",
        seller_id=f"sel_{(index * 7) % 4_000:04d}",
        courier_id=courier,
        snapshot_courier_id=courier,
        status=status,
        delivered_at=delivered_at,
        created_at=created_at,
        updated_at=updated_at,
        captured_at=captured_at,
        items_subtotal_minor=items,
        delivery_fee_minor=delivery,
        service_fee_minor=service,
        tax_minor=tax,
        discount_minor=discount,
        total_charged_minor=total,
        version=template.order["version"] - (delivered_at is None),
    )
    out["orders"].append(row)
    transaction_id = index + 1
    escrow = template.escrow.format(oid)
    out["ledger_transactions"].append(
        {
            "id": transaction_id,
            "country_code": country,
            "idempotency_key": capture_key(oid),
            "kind": template.capture_kind,
            "currency": currency,
            "amount_minor": total,
            "memo": template.capture_memo,
            "reverses": None,
            "created_at": captured_at,
        }
    )
    for offset, account, side, signed in (
        (1, template.clearing, "DEBIT", total),
        (2, escrow, "CREDIT", -total),
    ):
        out["ledger_postings"].append(
            {
                "id": 2 * index + offset,
                "transaction_id": transaction_id,
                "country_code": country,
                "account": account,
                "currency": currency,
                "side": side,
                "amount_minor": total,
                "signed_minor": signed,
            }
        )
    out["ledger_accounts"].append(
        {"country_code": country, "account": escrow, "currency": currency, "kind": template.escrow_kind}
    )
    return country, created_at, delivered_at, disputed


def _tick_cases(plan: ScalePlan, policies: _Policies, out: dict[str, list[dict[str, Any]]]) -> None:
    """``tick_clocks`` cases per slot in ``TICK_COUNTRY``: their acknowledge clock due in the
    slot, their mitigate clock a day after ``now``."""
    indexes = (i for i in range(plan.orders) if country_of(i) == TICK_COUNTRY)
    step = SLOT / 2 / plan.tick_clocks
    for slot in range(plan.tick_slots):
        for j in range(plan.tick_clocks):
            index = next(indexes)
            case, _ = _open_case(
                policies,
                case_id=f"case_t{slot:03d}_{j:03d}",
                country=TICK_COUNTRY,
                kind=CaseKind.ORDER_INCIDENT,
                severity=Severity.SEV2,
                at=plan.tick_base - timedelta(hours=1),
                order=order_id(index),
                tier=Tier.L1,
                incident_type=IncidentType.LATE,
            )
            deadlines = {
                ClockKind.ACKNOWLEDGE: slot_start(plan, slot) + j * step,
                ClockKind.MITIGATE: plan.now + timedelta(days=1),
            }
            clocks = {
                kind: dataclasses.replace(clock, deadline=deadlines.get(kind, clock.deadline))
                for kind, clock in case.state.clocks.items()
            }
            _case_rows(Case.rehydrate(dataclasses.replace(case.state, clocks=MappingProxyType(clocks))), out)


def chunk_rows(plan: ScalePlan, first: int, chunk: int = CHUNK) -> dict[str, list[dict[str, Any]]]:
    """The rows of orders ``first`` to ``first + chunk`` (with everything hanging off them);
    the first chunk also has the tick cases and the countries' clearing accounts. A pure
    function of its arguments, so chunks can be made in parallel processes."""
    templates = {country: _template(country, plan.now) for country, _, _ in COUNTRY_MIX}
    policies = _Policies()
    out = _empty()
    if first == 0:
        out["ledger_accounts"].extend(
            {"country_code": c, "account": t.clearing, "currency": CURRENCY[c], "kind": t.clearing_kind}
            for c, t in templates.items()
        )
        _tick_cases(plan, policies, out)
    rng = random.Random(plan.seed * 1_000_003 + first)
    for index in range(first, min(first + chunk, plan.orders)):
        country, created_at, delivered_at, disputed = _order(index, plan.now, rng, templates, out)
        if disputed and delivered_at is not None:
            latest = min(delivered_at + timedelta(hours=72), plan.now - timedelta(minutes=5))
            span = max(60, int((latest - delivered_at).total_seconds()))
            opened_at = delivered_at + timedelta(seconds=rng.randrange(60, span + 1))
            _dispute(
                index,
                country,
                delivered_at=delivered_at,
                opened_at=min(opened_at, latest),
                now=plan.now,
                rng=rng,
                policies=policies,
                out=out,
            )
        if rng.random() < INCIDENT_RATE:
            _incident(
                index, country, created_at=created_at, now=plan.now, rng=rng, policies=policies, out=out
            )
    return out


def chunk_starts(plan: ScalePlan, chunk: int = CHUNK) -> range:
    return range(0, plan.orders, chunk)


def generate(plan: ScalePlan, *, chunk: int = CHUNK) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Every row of ``plan``, ``chunk`` orders at a time."""
    for first in chunk_starts(plan, chunk):
        yield chunk_rows(plan, first, chunk)


def default_now() -> datetime:
    """The generated history ends at the current minute (the queue's "at risk" is real time)."""
    return datetime.now(UTC).replace(second=0, microsecond=0)

"""The monthly case report of a country, computed from the cases themselves (D47).

The month's population is every case of the country *opened* in the calendar month (UTC,
``[first day 00:00, next month's first day 00:00)``). Everything is counted from the
cases' recorded state, with integers only:

- times to acknowledge and to mitigate: ``acknowledged_at - opened_at`` and
  ``mitigated_at - opened_at`` in whole seconds of wall-clock time, p50 and p90 by the
  exact nearest-rank method (the value at rank ``ceil(p/100 * n)``, no interpolation);
- SLA per severity: every clock a case ran is judged once, the ``STATUS_UPDATE`` clocks a
  status update replaced included (:func:`judged_clocks`). Breached: each recorded breach
  (``CaseState.breaches``: a clock breaches at most once, and the breach stays recorded when
  an update replaces the clock), plus a current clock stopped past its deadline with no
  breach recorded (before the scheduler noticed). Met: a current clock stopped by its
  deadline without a breach, and each status-update period ended by the next status update
  with no breach recorded in it (read from the timeline). Compliance = met / (met +
  breached) in basis points rounded down; clocks still running or paused unbreached are not
  judged yet. Cases with a breach and breaches counted too;
- resolution by tier: how many resolved cases each tier (``CaseState.resolved_tier``: L0
  for the rules, else the human tier) resolved, and its share in basis points (down);
- satisfaction: ratings given on the month's cases, their 1..5 distribution and the
  average in hundredths (rounded half to even);
- money through outcomes: the month's cases' disputes' outcome postings (refunded and
  store credit), per currency, exact minor units.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Final

from returns.result import Failure, Result, Success

from domain.cases.case import CaseState, TimelineEntry, TimelineKind
from domain.cases.kinds import CaseKind, ClockKind, Severity, Tier
from domain.cases.money import MoneyTotals
from domain.shared import BASIS_POINTS, CountryCode, InvalidInput, round_half_even
from domain.shared.statistics import nearest_rank

PERCENTILES: Final = (50, 90)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, slots=True, order=True)
class Month:
    year: int
    month: int

    @staticmethod
    def parse(text: str) -> Result[Month, InvalidInput]:
        match = _MONTH.match(text.strip())
        if match is None:
            return Failure(InvalidInput("month", "must be YYYY-MM"))
        year, month = int(match.group(1)), int(match.group(2))
        if not 1 <= month <= 12 or not 2000 <= year <= 9998:
            return Failure(InvalidInput("month", "must be a real month (YYYY-MM, year 2000 or later)"))
        return Success(Month(year, month))

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        if self.month == 12:
            return datetime(self.year + 1, 1, 1, tzinfo=UTC)
        return datetime(self.year, self.month + 1, 1, tzinfo=UTC)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def share_bp(part: int, whole: int) -> int | None:
    """``part / whole`` in basis points, rounded down; ``None`` for an empty whole."""
    return None if whole == 0 else part * BASIS_POINTS // whole


@dataclass(frozen=True, slots=True)
class Durations:
    """How many cases got there, and the p50/p90 in whole seconds."""

    count: int
    p50_seconds: int | None
    p90_seconds: int | None

    @staticmethod
    def of(seconds: Sequence[int]) -> Durations:
        ordered = sorted(seconds)
        return Durations(len(ordered), nearest_rank(ordered, 50), nearest_rank(ordered, 90))


@dataclass(frozen=True, slots=True)
class SlaLine:
    severity: Severity
    cases: int
    clocks_met: int
    clocks_breached: int
    compliance_bp: int | None
    cases_breached: int
    breaches: int


@dataclass(frozen=True, slots=True)
class TierLine:
    tier: Tier
    resolved: int
    share_bp: int | None


@dataclass(frozen=True, slots=True)
class Satisfaction:
    ratings: int
    distribution: Mapping[int, int]  # score 1..5 -> how many
    average_hundredths: int | None  # 4.25 -> 425


@dataclass(frozen=True, slots=True)
class CaseReport:
    country: CountryCode
    month: Month
    cases: int
    by_kind_severity: Mapping[CaseKind, Mapping[Severity, int]]
    acknowledge: Durations
    mitigate: Durations
    sla: tuple[SlaLine, ...]
    resolved: int
    by_tier: tuple[TierLine, ...]
    satisfaction: Satisfaction
    disputes: int
    money: MoneyTotals


def _seconds(start: datetime, end: datetime | None) -> int | None:
    if end is None:
        return None
    return max(0, int((end - start).total_seconds()))


def _replaced_updates_met(timeline: Sequence[TimelineEntry]) -> int:
    """The status-update periods a later status update ended with no breach recorded in
    them. The ``STATUS_UPDATE`` clock starts with the first acknowledgement or mitigation
    (a status update on a NEW case starts none) and every status update after that replaces
    it; a command replacing an overdue clock records its breach first (D85), so a period
    without an ``SLA_BREACHED`` entry for that clock was met."""
    running = breached = False
    met = 0
    for entry in timeline:
        if entry.kind in (TimelineKind.ACKNOWLEDGED, TimelineKind.MITIGATED):
            running = True
        elif (
            entry.kind is TimelineKind.SLA_BREACHED
            and entry.data.get("clock") == ClockKind.STATUS_UPDATE.value
        ):
            breached = True
        elif entry.kind is TimelineKind.STATUS_UPDATE and running:
            met += 0 if breached else 1
            breached = False
    return met


def judged_clocks(case: CaseState) -> tuple[int, int]:
    """``(met, breached)`` over every clock ``case`` ran, replaced status-update clocks
    included; clocks still running or paused without a breach are not judged."""
    breached = case.breaches  # one per breached clock, kept after an update replaced it
    met = _replaced_updates_met(case.timeline)
    for clock in case.clocks.values():
        if clock.breached_at is not None or clock.stopped_at is None:
            continue  # counted in ``breaches``, or not judged yet
        if clock.deadline is not None and clock.stopped_at > clock.deadline:
            breached += 1  # stopped late before any breach was recorded
        else:
            met += 1
    return met, breached


def build_report(
    country: CountryCode, month: Month, cases: Sequence[CaseState], *, disputes: int, money: MoneyTotals
) -> CaseReport:
    """The report over ``cases`` (those of ``country`` opened in ``month`` are counted; any
    other is ignored). ``disputes`` and ``money`` are the outcomes of their disputes."""
    population = [c for c in cases if c.country == country and month.start <= c.opened_at < month.end]
    matrix = {kind: {severity: 0 for severity in Severity} for kind in CaseKind}
    for case in population:
        matrix[case.kind][case.severity] += 1
    acknowledge = [s for c in population if (s := _seconds(c.opened_at, c.acknowledged_at)) is not None]
    mitigate = [s for c in population if (s := _seconds(c.opened_at, c.mitigated_at)) is not None]
    sla: list[SlaLine] = []
    for severity in Severity:
        of_severity = [c for c in population if c.severity is severity]
        met = breached = 0
        for case in of_severity:
            case_met, case_breached = judged_clocks(case)
            met += case_met
            breached += case_breached
        sla.append(
            SlaLine(
                severity=severity,
                cases=len(of_severity),
                clocks_met=met,
                clocks_breached=breached,
                compliance_bp=share_bp(met, met + breached),
                cases_breached=sum(1 for c in of_severity if c.breaches > 0),
                breaches=sum(c.breaches for c in of_severity),
            )
        )
    resolved = [c for c in population if c.resolved_tier is not None]
    tiers = tuple(
        TierLine(tier, n, share_bp(n, len(resolved)))
        for tier in Tier
        for n in [sum(1 for c in resolved if c.resolved_tier is tier)]
    )
    scores = [c.rating.score for c in population if c.rating is not None]
    satisfaction = Satisfaction(
        ratings=len(scores),
        distribution=MappingProxyType({score: scores.count(score) for score in range(1, 6)}),
        average_hundredths=round_half_even(sum(scores) * 100, len(scores)) if scores else None,
    )
    return CaseReport(
        country=country,
        month=month,
        cases=len(population),
        by_kind_severity=MappingProxyType(
            {kind: MappingProxyType(dict(counts)) for kind, counts in matrix.items()}
        ),
        acknowledge=Durations.of(acknowledge),
        mitigate=Durations.of(mitigate),
        sla=tuple(sla),
        resolved=len(resolved),
        by_tier=tiers,
        satisfaction=satisfaction,
        disputes=disputes,
        money=money,
    )

"""The monthly case report of a country (D47): one typed result, two renderings.

``case_report`` reads every case of the country opened in the month (``uow.case_history``)
and the money their disputes' outcomes moved (the ledger postings under each dispute's
key prefix: a DISPUTE case's own dispute, and the disputes an ORDER_INCIDENT case's order
got while or after the incident was open, e.g. by an operational cancellation), then
computes the figures with ``domain.cases.report.build_report``. A dispute belongs to the
month it was opened in, which is the month its own DISPUTE case opened in (D44: same
transaction, same instant): an incident case pulls in only disputes opened in the report's
month, so a dispute is counted in one month, once, and the months add up to the ledger.
``to_markdown`` is for people, ``to_json`` for tools (integers only: seconds, basis points,
minor units with their currency).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from returns.result import Failure, Result, Success

from application.context import RequestContext, Services
from application.ports.unit_of_work import UnitOfWork
from application.security.principal import Forbidden, Operation, authorize
from domain.cases.case import CaseState
from domain.cases.kinds import CaseKind, Severity
from domain.cases.money import MoneyTotals, format_totals, money_through_outcomes
from domain.cases.report import CaseReport, Durations, Month, build_report
from domain.disputes.references import ledger_prefix
from domain.shared import CountryCode, Money
from domain.shared.ids import DisputeId, OrderId


@dataclass(frozen=True, slots=True)
class CaseReportQuery:
    country: CountryCode
    month: Month


async def _disputes_of(uow: UnitOfWork, cases: list[CaseState], month: Month) -> list[str]:
    """The month's disputes, each once: the DISPUTE cases' own, and those opened on an
    ORDER_INCIDENT case's order at or after the incident opened *and within the month*
    (a later month's dispute is that month's, through its own case: never counted twice)."""
    found: dict[str, None] = {}
    for case in cases:
        if case.kind is CaseKind.DISPUTE and case.subject_ref is not None:
            found[case.subject_ref] = None
        elif case.kind is CaseKind.ORDER_INCIDENT and case.order_id is not None:
            for dispute in await uow.disputes.for_order(case.country, OrderId(case.order_id)):
                if max(case.opened_at, month.start) <= dispute.opened_at < month.end:
                    found[dispute.id] = None
    return list(found)


async def case_report(
    svc: Services, ctx: RequestContext, query: CaseReportQuery
) -> Result[CaseReport, Forbidden]:
    allowed = authorize(ctx.principal, Operation.CASE_REPORT_READ, query.country)
    if isinstance(allowed, Failure):
        return allowed
    async with svc.uow() as uow:
        cases = await uow.case_history.opened_between(query.country, query.month.start, query.month.end)
        disputes = await _disputes_of(uow, cases, query.month)
        money = MoneyTotals()
        for dispute_id in disputes:
            if await uow.disputes.get(query.country, DisputeId(dispute_id)) is None:
                continue
            transactions = await uow.ledger.transactions_for(query.country, ledger_prefix(dispute_id))
            money = money.plus(money_through_outcomes(transactions))
    return Success(build_report(query.country, query.month, cases, disputes=len(disputes), money=money))


# ----------------------------------------------------------------------------- rendering


def _percent(bp: int | None) -> str:
    if bp is None:
        return "n/a"
    whole, rest = divmod(bp, 100)
    return f"{whole}.{rest:02d} %"


def _seconds(value: int | None) -> str:
    if value is None:
        return "n/a"
    minutes, seconds = divmod(value, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"


def _money_json(amounts: dict[str, Money] | Any) -> list[dict[str, Any]]:
    return [{"currency": code, "minor": money.minor} for code, money in amounts.items()]


def _durations_json(durations: Durations) -> dict[str, Any]:
    return {
        "count": durations.count,
        "p50_seconds": durations.p50_seconds,
        "p90_seconds": durations.p90_seconds,
    }


def to_json(report: CaseReport) -> dict[str, Any]:
    """The report as JSON-ready data (stable keys, integers only)."""
    return {
        "country": report.country.value,
        "month": str(report.month),
        "period": {"start": report.month.start.isoformat(), "end": report.month.end.isoformat()},
        "cases": report.cases,
        "by_kind_severity": [
            {"kind": kind.value, "severity": severity.value, "cases": count}
            for kind, counts in report.by_kind_severity.items()
            for severity, count in counts.items()
        ],
        "acknowledge": _durations_json(report.acknowledge),
        "mitigate": _durations_json(report.mitigate),
        "sla": [
            {
                "severity": line.severity.value,
                "cases": line.cases,
                "clocks_met": line.clocks_met,
                "clocks_breached": line.clocks_breached,
                "compliance_bp": line.compliance_bp,
                "cases_breached": line.cases_breached,
                "breaches": line.breaches,
            }
            for line in report.sla
        ],
        "resolved": report.resolved,
        "by_tier": [
            {"tier": t.tier.value, "resolved": t.resolved, "share_bp": t.share_bp} for t in report.by_tier
        ],
        "satisfaction": {
            "ratings": report.satisfaction.ratings,
            "distribution": {str(score): n for score, n in report.satisfaction.distribution.items()},
            "average_hundredths": report.satisfaction.average_hundredths,
        },
        "disputes": report.disputes,
        "refunded": _money_json(report.money.refunded),
        "store_credit": _money_json(report.money.credited),
    }


def to_markdown(report: CaseReport) -> str:
    """The report for people: a title, then one section per figure."""
    out = [f"# Case report {report.country.value} {report.month}", ""]
    out.append(
        f"Cases opened from {report.month.start:%Y-%m-%d} to {report.month.end:%Y-%m-%d} (UTC, end excluded):"
        f" {report.cases}."
    )
    out += ["", "## Cases by kind and severity", ""]
    out += ["| kind | " + " | ".join(s.value for s in Severity) + " | total |"]
    out += ["| --- |" + " --- |" * (len(Severity) + 1)]
    for kind, counts in report.by_kind_severity.items():
        cells = [str(counts[s]) for s in Severity]
        out.append(f"| {kind.value} | " + " | ".join(cells) + f" | {sum(counts.values())} |")
    out += [
        "",
        "## Time to acknowledge and to mitigate",
        "",
        "| | cases | p50 | p90 |",
        "| --- | --- | --- | --- |",
    ]
    for label, durations in (("acknowledge", report.acknowledge), ("mitigate", report.mitigate)):
        out.append(
            f"| {label} | {durations.count} | {_seconds(durations.p50_seconds)}"
            f" | {_seconds(durations.p90_seconds)} |"
        )
    out += [
        "",
        "## SLA compliance",
        "",
        "| severity | cases | clocks met | clocks breached | compliance | cases breached | breaches |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for line in report.sla:
        out.append(
            f"| {line.severity.value} | {line.cases} | {line.clocks_met} | {line.clocks_breached}"
            f" | {_percent(line.compliance_bp)} | {line.cases_breached} | {line.breaches} |"
        )
    out += ["", "## Resolved by", "", f"Resolved cases: {report.resolved}.", ""]
    out += ["| tier | resolved | share |", "| --- | --- | --- |"]
    out += [f"| {t.tier.value} | {t.resolved} | {_percent(t.share_bp)} |" for t in report.by_tier]
    sat = report.satisfaction
    average = (
        "n/a"
        if sat.average_hundredths is None
        else f"{sat.average_hundredths // 100}.{sat.average_hundredths % 100:02d}"
    )
    out += ["", "## Satisfaction", "", f"Ratings: {sat.ratings}; average {average} / 5.", ""]
    out += ["| score | ratings |", "| --- | --- |"]
    out += [f"| {score} | {n} |" for score, n in sat.distribution.items()]
    out += [
        "",
        "## Money through outcomes",
        "",
        f"- Disputes of the month's cases: {report.disputes}",
        f"- Refunded: {format_totals(report.money.refunded)}",
        f"- Store credit: {format_totals(report.money.credited)}",
    ]
    return "\n".join(out) + "\n"

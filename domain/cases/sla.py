"""SLA policies: per country and case kind, versioned data (SPEC §6 and §10).

A policy gives, for each severity it covers, three :class:`Target` s — acknowledge,
mitigate, status update — and each target says how much time it allows and on which
basis: ``CONTINUOUS`` (24x7 wall-clock time) or ``BUSINESS`` (the country's open hours,
:class:`~domain.cases.calendar.BusinessCalendar`). A business target is either an amount
of open time ("4 business hours") or a number of business days ("next business day" is
the close of the first business day after the start; "5 business days" the close of the
fifth).

A clock that pauses (the case waits on the customer) keeps what it had left,
:meth:`Target.remaining`, measured in the target's own basis; when it restarts,
:meth:`Target.resume` gives the new deadline. So a business clock paused on Friday with
two business hours left and resumed on Saturday is due on Monday at 11:00.

The defaults (:func:`default_sla_policy`) are the SPEC's two matrices; the choices the
SPEC leaves open are decisions D38 and D39.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar, Final

from returns.result import Failure, Result, Success

from domain.cases.calendar import BusinessCalendar
from domain.cases.kinds import CaseKind, ClockKind, Severity
from domain.shared import CountryCode, DomainError, InvalidInput
from domain.shared.errors import InvariantViolation

MAX_TARGET_DURATION: Final = timedelta(days=365)
MAX_TARGET_BUSINESS_DAYS: Final = 260  # about a working year

DOCUMENT_KEYS: Final = frozenset({"country", "case_kind", "version", "targets"})
_TARGET_KEYS: Final = frozenset({"basis", "duration_seconds", "business_days"})


@dataclass(frozen=True, slots=True)
class SeverityNotCovered(DomainError):
    """The policy has no targets for this severity (diagnostics tickets are Sev-1..3)."""

    code: ClassVar[str] = "SEVERITY_NOT_COVERED"
    country: str
    case_kind: str
    severity: str

    @property
    def message(self) -> str:
        return f"the {self.country} SLA policy for {self.case_kind} cases has no targets for {self.severity}"


class Basis(StrEnum):
    CONTINUOUS = "CONTINUOUS"  # 24x7 wall-clock time
    BUSINESS = "BUSINESS"  # the country's open hours on its business days


def _format_duration(amount: timedelta) -> str:
    minutes, seconds = divmod(int(amount.total_seconds()), 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{hours} h"] if hours else []
    if minutes:
        parts.append(f"{minutes} min")
    if seconds or not parts:
        parts.append(f"{seconds} s")
    return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Target:
    """How long one clock may run. Exactly one of ``duration`` (an amount of continuous
    or business time) and ``business_days`` (the close of the n-th next business day,
    basis ``BUSINESS`` only)."""

    basis: Basis
    duration: timedelta | None = None
    business_days: int | None = None

    def __post_init__(self) -> None:
        if (self.duration is None) == (self.business_days is None):
            raise InvariantViolation("a target has exactly one of duration and business_days")
        if self.duration is not None and not timedelta(0) < self.duration <= MAX_TARGET_DURATION:
            raise InvariantViolation(
                f"a target's duration must be positive and at most a year: {self.duration}"
            )
        if self.business_days is not None:
            if self.basis is not Basis.BUSINESS:
                raise InvariantViolation("a target in business days must be on the BUSINESS basis")
            if not 1 <= self.business_days <= MAX_TARGET_BUSINESS_DAYS:
                raise InvariantViolation(f"business_days must be 1..{MAX_TARGET_BUSINESS_DAYS}")

    @staticmethod
    def continuous(duration: timedelta) -> Target:
        return Target(Basis.CONTINUOUS, duration=duration)

    @staticmethod
    def business(duration: timedelta) -> Target:
        return Target(Basis.BUSINESS, duration=duration)

    @staticmethod
    def in_business_days(days: int) -> Target:
        return Target(Basis.BUSINESS, business_days=days)

    def deadline(self, start: datetime, calendar: BusinessCalendar) -> datetime:
        """When a clock started at ``start`` breaches (aware UTC)."""
        if self.business_days is not None:
            return calendar.end_of_business_day(start, self.business_days)
        assert self.duration is not None
        if self.basis is Basis.CONTINUOUS:
            _require_aware(start)
            return start.astimezone(UTC) + self.duration
        return calendar.add_business_time(start, self.duration)

    def remaining(self, deadline: datetime, at: datetime, calendar: BusinessCalendar) -> timedelta:
        """Time left at ``at`` before ``deadline``, in this target's basis (zero if past):
        what a clock keeps when it pauses."""
        if self.basis is Basis.CONTINUOUS:
            _require_aware(deadline)
            _require_aware(at)
            return max(deadline - at, timedelta(0))
        return calendar.business_time_between(at, deadline)

    def resume(self, remaining: timedelta, at: datetime, calendar: BusinessCalendar) -> datetime:
        """The new deadline of a clock that paused with ``remaining`` left and restarts at
        ``at``; with nothing left it is due at once (``at``)."""
        if remaining < timedelta(0):
            raise InvariantViolation(f"remaining time must not be negative, got {remaining}")
        if self.basis is Basis.CONTINUOUS:
            _require_aware(at)
            return at.astimezone(UTC) + remaining
        return calendar.add_business_time(at, remaining)

    def describe(self) -> str:
        """For people: "5 min, 24x7", "4 business hours", "next business day"..."""
        if self.business_days is not None:
            return "next business day" if self.business_days == 1 else f"{self.business_days} business days"
        assert self.duration is not None
        if self.basis is Basis.CONTINUOUS:
            return f"{_format_duration(self.duration)}, 24x7"
        seconds = int(self.duration.total_seconds())
        if seconds % 3600 == 0:
            hours = seconds // 3600
            return "1 business hour" if hours == 1 else f"{hours} business hours"
        return f"{_format_duration(self.duration)} of business time"

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"basis": self.basis.value}
        if self.duration is not None:
            doc["duration_seconds"] = int(self.duration.total_seconds())
        else:
            doc["business_days"] = self.business_days
        return doc

    @staticmethod
    def from_document(doc: object, path: str) -> Result[Target, InvalidInput]:
        if not isinstance(doc, Mapping):
            return Failure(InvalidInput(path, "must be an object"))
        unknown = set(doc) - _TARGET_KEYS
        if unknown:
            return Failure(InvalidInput(path, f"unknown keys {sorted(map(str, unknown))}"))
        raw_basis = doc.get("basis")
        if not isinstance(raw_basis, str) or raw_basis not in Basis.__members__:
            return Failure(InvalidInput(f"{path}.basis", f"must be one of {[b.value for b in Basis]}"))
        basis = Basis(raw_basis)
        has_duration, has_days = "duration_seconds" in doc, "business_days" in doc
        if has_duration == has_days:
            return Failure(InvalidInput(path, "needs exactly one of duration_seconds and business_days"))
        if has_duration:
            seconds = doc["duration_seconds"]
            if not _is_int(seconds) or not 0 < seconds <= MAX_TARGET_DURATION.total_seconds():
                return Failure(
                    InvalidInput(
                        f"{path}.duration_seconds", "must be a whole number of seconds, up to a year"
                    )
                )
            return Success(Target(basis, duration=timedelta(seconds=seconds)))
        days = doc["business_days"]
        if basis is not Basis.BUSINESS:
            return Failure(InvalidInput(f"{path}.business_days", "business days need the BUSINESS basis"))
        if not _is_int(days) or not 1 <= days <= MAX_TARGET_BUSINESS_DAYS:
            return Failure(
                InvalidInput(f"{path}.business_days", f"must be a whole number 1..{MAX_TARGET_BUSINESS_DAYS}")
            )
        return Success(Target(basis, business_days=days))


@dataclass(frozen=True, slots=True)
class SeverityTargets:
    acknowledge: Target
    mitigate: Target
    status_update: Target  # the cadence: the next update is due this long after the last one

    def for_clock(self, clock: ClockKind) -> Target:
        match clock:
            case ClockKind.ACKNOWLEDGE:
                return self.acknowledge
            case ClockKind.MITIGATE:
                return self.mitigate
            case ClockKind.STATUS_UPDATE:
                return self.status_update


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """One version of the SLA policy of a country and case kind."""

    country: CountryCode
    case_kind: CaseKind
    version: int
    targets: Mapping[Severity, SeverityTargets]

    def __post_init__(self) -> None:
        if self.version < 1:
            raise InvariantViolation(f"an SLA policy version starts at 1, got {self.version}")
        if not self.targets:
            raise InvariantViolation("an SLA policy covers at least one severity")
        ordered = {severity: self.targets[severity] for severity in Severity if severity in self.targets}
        if len(ordered) != len(self.targets):
            raise InvariantViolation("SLA policy targets must be keyed by Severity")
        object.__setattr__(self, "targets", MappingProxyType(ordered))

    def targets_for(self, severity: Severity) -> Result[SeverityTargets, SeverityNotCovered]:
        found = self.targets.get(severity)
        if found is None:
            return Failure(SeverityNotCovered(self.country.value, self.case_kind.value, severity.value))
        return Success(found)

    def to_document(self) -> dict[str, Any]:
        """A JSON-able document, in a stable order, that :meth:`from_document` reads back."""
        return {
            "country": self.country.value,
            "case_kind": self.case_kind.value,
            "version": self.version,
            "targets": {
                severity.value: {clock.value: targets.for_clock(clock).to_document() for clock in ClockKind}
                for severity, targets in self.targets.items()
            },
        }

    @staticmethod
    def from_document(doc: Mapping[str, Any]) -> Result[SlaPolicy, InvalidInput]:
        """Reads a stored policy, checking every field; nothing malformed gets through."""
        raw: object = doc  # stored JSON: trust nothing, not even the type
        if not isinstance(raw, Mapping):
            return Failure(InvalidInput("policy", "must be an object"))
        keys = set(doc)
        if keys != DOCUMENT_KEYS:
            return Failure(
                InvalidInput(
                    "policy", f"needs exactly the keys {sorted(DOCUMENT_KEYS)}, got {sorted(map(str, keys))}"
                )
            )
        raw_country = doc["country"]
        if not isinstance(raw_country, str) or raw_country != raw_country.strip().upper():
            return Failure(InvalidInput("country", "must be an upper-case ISO-3166 alpha-2 code"))
        country = CountryCode.parse(raw_country)
        if not isinstance(country, Success):
            return Failure(
                InvalidInput("country", f"{raw_country!r} is not an ISO-3166 alpha-2 country code")
            )
        case_kind = doc["case_kind"]
        if not isinstance(case_kind, str) or case_kind not in CaseKind.__members__:
            return Failure(InvalidInput("case_kind", f"must be one of {[k.value for k in CaseKind]}"))
        version = doc["version"]
        if not _is_int(version) or version < 1:
            return Failure(InvalidInput("version", "must be a whole number from 1"))
        raw_targets = doc["targets"]
        if not isinstance(raw_targets, Mapping) or not raw_targets:
            return Failure(InvalidInput("targets", "must be a non-empty object keyed by severity"))
        targets: dict[Severity, SeverityTargets] = {}
        for raw_severity, raw_clocks in raw_targets.items():
            if not isinstance(raw_severity, str) or raw_severity not in Severity.__members__:
                return Failure(InvalidInput("targets", f"{raw_severity!r} is not a severity"))
            path = f"targets.{raw_severity}"
            if not isinstance(raw_clocks, Mapping) or set(raw_clocks) != set(ClockKind.__members__):
                return Failure(InvalidInput(path, f"needs exactly the clocks {[c.value for c in ClockKind]}"))
            parsed: dict[ClockKind, Target] = {}
            for clock in ClockKind:
                target = Target.from_document(raw_clocks[clock.value], f"{path}.{clock.value}")
                if not isinstance(target, Success):
                    return Failure(target.failure())
                parsed[clock] = target.unwrap()
            targets[Severity(raw_severity)] = SeverityTargets(
                acknowledge=parsed[ClockKind.ACKNOWLEDGE],
                mitigate=parsed[ClockKind.MITIGATE],
                status_update=parsed[ClockKind.STATUS_UPDATE],
            )
        return Success(SlaPolicy(country.unwrap(), CaseKind(case_kind), version, targets))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require_aware(value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvariantViolation(f"SLA times must be aware datetimes, got {value!r}")


def _minutes_24x7(minutes: int) -> Target:
    return Target.continuous(timedelta(minutes=minutes))


# SPEC §6, for order incidents, disputes and platform incidents. SEV2's "business hours +
# on-call" runs 24x7: on-call answers outside hours (D38). SEV3's "daily" update is due by
# the close of the next business day.
INCIDENT_TARGETS: Final[Mapping[Severity, SeverityTargets]] = MappingProxyType(
    {
        Severity.SEV0: SeverityTargets(_minutes_24x7(5), _minutes_24x7(30), _minutes_24x7(15)),
        Severity.SEV1: SeverityTargets(_minutes_24x7(10), _minutes_24x7(60), _minutes_24x7(30)),
        Severity.SEV2: SeverityTargets(_minutes_24x7(30), _minutes_24x7(240), _minutes_24x7(120)),
        Severity.SEV3: SeverityTargets(
            Target.in_business_days(1), Target.in_business_days(5), Target.in_business_days(1)
        ),
    }
)

# SPEC §10, for customer diagnostics tickets (Sev-1..3), read literally: "business" only
# where the SPEC says it. Sev-1 runs 24x7; Sev-2 acknowledges within 4 h of the clock
# (24x7) and mitigates by the close of the next business day; Sev-3 on business days.
# Status updates: Sev-1 hourly, Sev-2 every 4 business hours, Sev-3 by the close of the
# next business day (D38, D81).
DIAGNOSTICS_TARGETS: Final[Mapping[Severity, SeverityTargets]] = MappingProxyType(
    {
        Severity.SEV1: SeverityTargets(_minutes_24x7(30), _minutes_24x7(240), _minutes_24x7(60)),
        Severity.SEV2: SeverityTargets(
            _minutes_24x7(240),
            Target.in_business_days(1),
            Target.business(timedelta(hours=4)),
        ),
        Severity.SEV3: SeverityTargets(
            Target.in_business_days(1), Target.in_business_days(5), Target.in_business_days(1)
        ),
    }
)


def default_sla_policy(country: CountryCode, case_kind: CaseKind) -> SlaPolicy:
    """Version 1 of a country's policy for a case kind: the SPEC's matrices."""
    targets = DIAGNOSTICS_TARGETS if case_kind is CaseKind.DIAGNOSTICS else INCIDENT_TARGETS
    return SlaPolicy(country=country, case_kind=case_kind, version=1, targets=targets)

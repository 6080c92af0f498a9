"""The Dispute aggregate: a post-delivery dispute, its lifecycle and its evidence pack.

The lifecycle is the table in :mod:`domain.disputes.status`; every command checks its
edge there and returns :class:`IllegalDisputeTransition` otherwise, changing nothing.
Every successful change adds exactly one to :attr:`Dispute.version` (optimistic
concurrency) and records one or more past-tense events, collected by
:meth:`Dispute.pull_events`. Time and ids are passed in; nothing here reads a clock.

Evidence rules:

- the opening statement is the pack's first party submission (a ``STATEMENT`` by the
  opener, evidence id ``"<dispute id>:statement"``); the dispute starts ``OPEN``;
- party submissions are accepted while the pack is not frozen and up to the evidence
  deadline inclusive; the first one made while ``OPEN`` moves the dispute to
  ``GATHERING_EVIDENCE``;
- platform facts and the transcript are attached (and may be replaced) until the pack
  freezes; they are not subject to the deadline, which binds the parties only;
- a decision needs platform facts and a transcript attached (an empty transcript is
  fine: there may never have been a conversation);
- deciding freezes the pack and records its hash in the :class:`Decision`; withdrawing
  freezes it too, and records its hash in the :class:`Withdrawal`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, TypedDict

from returns.result import Failure, Result, Success

from domain.disputes.codes import DecisionReasonCode, DisputeReason, OutcomeCode
from domain.disputes.errors import (
    AttachEvidenceError,
    DecideError,
    DuplicateEvidenceId,
    EvidenceDeadlinePassed,
    EvidencePackFrozen,
    EvidencePackIncomplete,
    ForceCompleteNotADisputeOutcome,
    IllegalDisputeTransition,
    OpenDisputeError,
    PartialRefundTierForbidden,
    PartialRefundTierNotInPolicy,
    PartialRefundTierRequired,
    ReservedDecisionReason,
    SubmitEvidenceError,
    TooManySubmissions,
    TransitionError,
)
from domain.disputes.events import (
    DisputeDecided,
    DisputeEvent,
    DisputeExecutionFailed,
    DisputeExecutionStarted,
    DisputeOpened,
    DisputeReplayed,
    DisputeResolved,
    DisputeReviewStarted,
    DisputeWithdrawn,
    EvidenceGatheringStarted,
    EvidenceSubmitted,
    PlatformFactsAttached,
    TranscriptAttached,
)
from domain.disputes.evidence import (
    MAX_ID_CHARS,
    ActorRef,
    ConversationTranscript,
    EvidencePack,
    EvidenceSubmission,
    PlatformFacts,
    is_aware,
    is_sha256_hex,
)
from domain.disputes.status import DisputeOrigin, DisputeStatus
from domain.orders.errors import DisputeWindowClosed
from domain.shared import BASIS_POINTS, CountryCode, InvalidInput, InvariantViolation
from domain.shared.ids import ActorId, DisputeId, OrderId

MAX_SUBMISSIONS_PER_DISPUTE: Final = 100
MAX_NOTE_CHARS: Final = 2_000
MAX_WITHDRAWAL_REASON_CHARS: Final = 1_000
MAX_ERROR_SUMMARY_CHARS: Final = 1_000
MAX_DISPUTE_ID_CHARS: Final = MAX_ID_CHARS - len(":statement")
OPERATIONAL_CANCELLATION_NOTE: Final = "Opened automatically: operational cancellation after payment capture"

_S = DisputeStatus


def opening_statement_id(dispute_id: str) -> str:
    """The evidence id under which a dispute's opening statement is filed."""
    return f"{dispute_id}:statement"


@dataclass(frozen=True, slots=True)
class Decision:
    """What was decided, by whom, on which evidence (``evidence_pack_hash`` of the frozen pack)."""

    outcome: OutcomeCode
    reason_code: DecisionReasonCode
    partial_refund_tier_bp: int | None
    decided_by: ActorRef
    decided_at: datetime
    note: str
    evidence_pack_hash: str

    def __post_init__(self) -> None:
        if self.outcome is OutcomeCode.FORCE_COMPLETE:
            raise InvariantViolation("FORCE_COMPLETE is not a dispute outcome")
        if (self.outcome is OutcomeCode.PARTIAL_REFUND) != (self.partial_refund_tier_bp is not None):
            raise InvariantViolation("a tier goes with PARTIAL_REFUND and only with it")
        if not is_aware(self.decided_at):
            raise InvariantViolation("decided_at must be timezone-aware")
        if not is_sha256_hex(self.evidence_pack_hash):
            raise InvariantViolation("evidence_pack_hash must be a sha256 hex digest")


@dataclass(frozen=True, slots=True)
class Withdrawal:
    withdrawn_by: ActorRef
    withdrawn_at: datetime
    reason: str
    evidence_pack_hash: str

    def __post_init__(self) -> None:
        if not is_aware(self.withdrawn_at):
            raise InvariantViolation("withdrawn_at must be timezone-aware")
        if not is_sha256_hex(self.evidence_pack_hash):
            raise InvariantViolation("evidence_pack_hash must be a sha256 hex digest")


class _EventBase(TypedDict):
    occurred_at: datetime
    dispute_id: DisputeId
    order_id: OrderId
    country: CountryCode
    version: int


def _id_problem(field: str, value: str, limit: int = MAX_ID_CHARS) -> InvalidInput | None:
    if not value.strip():
        return InvalidInput(field, "must not be blank")
    if value != value.strip() or len(value) > limit:
        return InvalidInput(field, f"must be at most {limit} characters, without surrounding spaces")
    return None


def _aware_problem(field: str, moment: datetime) -> InvalidInput | None:
    return None if is_aware(moment) else InvalidInput(field, "must be timezone-aware")


def _text_problem(field: str, value: str, limit: int, *, allow_blank: bool = False) -> InvalidInput | None:
    if not allow_blank and not value.strip():
        return InvalidInput(field, "must not be blank")
    if len(value) > limit:
        return InvalidInput(field, f"must be at most {limit} characters")
    return None


def _first(*problems: InvalidInput | None) -> InvalidInput | None:
    return next((problem for problem in problems if problem is not None), None)


class Dispute:
    """A dispute on one order. Build it with :meth:`open`,
    :meth:`open_for_operational_cancellation` or :meth:`rehydrate`; change it only
    through its commands."""

    def __init__(
        self,
        *,
        dispute_id: DisputeId,
        order_id: OrderId,
        country: CountryCode,
        reason: DisputeReason,
        origin: DisputeOrigin,
        opened_by: ActorRef,
        opened_at: datetime,
        status: DisputeStatus,
        evidence_deadline: datetime,
        evidence: EvidencePack,
        decision: Decision | None,
        withdrawal: Withdrawal | None,
        last_execution_error: str | None,
        updated_at: datetime,
        version: int,
    ) -> None:
        self._id = dispute_id
        self._order_id = order_id
        self._country = country
        self._reason = reason
        self._origin = origin
        self._opened_by = opened_by
        self._opened_at = opened_at
        self._status = status
        self._evidence_deadline = evidence_deadline
        self._evidence = evidence
        self._decision = decision
        self._withdrawal = withdrawal
        self._last_execution_error = last_execution_error
        self._updated_at = updated_at
        self._version = version
        self._events: list[DisputeEvent] = []
        self._check_invariants()

    # ------------------------------------------------------------------ factories

    @classmethod
    def open(
        cls,
        *,
        dispute_id: DisputeId,
        order_id: OrderId,
        country: CountryCode,
        reason: DisputeReason,
        opened_by_actor: ActorId,
        opened_by_role: str,
        statement: str,
        delivered_at: datetime,
        now: datetime,
        dispute_window: timedelta,
        evidence_window: timedelta,
    ) -> Result[Dispute, OpenDisputeError]:
        """Open a dispute on a delivered order (the caller has checked it is ``DELIVERED``).

        Allowed up to and including ``delivered_at + dispute_window``; the evidence
        deadline is ``now + evidence_window``. The statement becomes the pack's first
        submission. Emits :class:`DisputeOpened`.
        """
        problem = _first(
            _id_problem("dispute_id", dispute_id, MAX_DISPUTE_ID_CHARS),
            _id_problem("order_id", order_id),
            ActorRef.problem(opened_by_actor, opened_by_role, "opened_by"),
            _aware_problem("now", now),
            _aware_problem("delivered_at", delivered_at),
            None if dispute_window > timedelta(0) else InvalidInput("dispute_window", "must be positive"),
            None if evidence_window > timedelta(0) else InvalidInput("evidence_window", "must be positive"),
        )
        if problem is not None:
            return Failure(problem)
        if now < delivered_at:
            return Failure(InvalidInput("now", "precedes the delivery"))
        window_closed_at = delivered_at + dispute_window
        if now >= window_closed_at:  # half-open: the closing instant belongs to completion
            return Failure(DisputeWindowClosed(window_closed_at=window_closed_at, attempted_at=now))
        opening = EvidenceSubmission.of_statement(
            evidence_id=opening_statement_id(dispute_id),
            submitted_by_actor=opened_by_actor,
            submitted_by_role=opened_by_role,
            submitted_at=now,
            text=statement,
        )
        if isinstance(opening, Failure):
            return Failure(opening.failure())
        submission = opening.unwrap()
        opener = submission.submitted_by
        dispute = cls(
            dispute_id=dispute_id,
            order_id=order_id,
            country=country,
            reason=reason,
            origin=DisputeOrigin.PARTY,
            opened_by=opener,
            opened_at=now,
            status=_S.OPEN,
            evidence_deadline=now + evidence_window,
            evidence=EvidencePack(submissions=(submission,)),
            decision=None,
            withdrawal=None,
            last_execution_error=None,
            updated_at=now,
            version=1,
        )
        dispute._events.append(
            DisputeOpened(
                **dispute._event_base(now),
                reason=reason,
                origin=DisputeOrigin.PARTY,
                opened_by=opener,
                evidence_deadline=dispute._evidence_deadline,
            )
        )
        return Success(dispute)

    @classmethod
    def open_for_operational_cancellation(
        cls,
        *,
        dispute_id: DisputeId,
        order_id: OrderId,
        country: CountryCode,
        actor: ActorId,
        role: str,
        now: datetime,
        platform_facts: PlatformFacts,
        transcript: ConversationTranscript | None = None,
    ) -> Result[Dispute, InvalidInput]:
        """The automatic dispute of an operational cancellation after payment capture.

        Born ``DECIDED`` with ``FULL_REFUND`` / ``OPERATIONAL_CANCELLATION``, reason
        ``OTHER`` and origin ``OPERATIONAL_CANCELLATION``; its pack (platform facts and the
        order's conversation as it stands; no party submits anything) is frozen at once and
        its deadline is ``now``. ``actor``/``role`` are who
        cancelled (an L2+, or L0). Emits :class:`DisputeOpened` then
        :class:`DisputeDecided`; the version is 1, like any new dispute.
        """
        problem = _first(
            _id_problem("dispute_id", dispute_id, MAX_DISPUTE_ID_CHARS),
            _id_problem("order_id", order_id),
            ActorRef.problem(actor, role),
            _aware_problem("now", now),
        )
        if problem is not None:
            return Failure(problem)
        by = ActorRef(actor, role)
        pack = EvidencePack(platform_facts=platform_facts, transcript=transcript)
        decision = Decision(
            outcome=OutcomeCode.FULL_REFUND,
            reason_code=DecisionReasonCode.OPERATIONAL_CANCELLATION,
            partial_refund_tier_bp=None,
            decided_by=by,
            decided_at=now,
            note=OPERATIONAL_CANCELLATION_NOTE,
            evidence_pack_hash=pack.content_hash(),
        )
        dispute = cls(
            dispute_id=dispute_id,
            order_id=order_id,
            country=country,
            reason=DisputeReason.OTHER,
            origin=DisputeOrigin.OPERATIONAL_CANCELLATION,
            opened_by=by,
            opened_at=now,
            status=_S.DECIDED,
            evidence_deadline=now,
            evidence=pack,
            decision=decision,
            withdrawal=None,
            last_execution_error=None,
            updated_at=now,
            version=1,
        )
        dispute._events.append(
            DisputeOpened(
                **dispute._event_base(now),
                reason=DisputeReason.OTHER,
                origin=DisputeOrigin.OPERATIONAL_CANCELLATION,
                opened_by=by,
                evidence_deadline=now,
            )
        )
        dispute._events.append(dispute._decided_event(decision))
        return Success(dispute)

    @classmethod
    def rehydrate(
        cls,
        *,
        dispute_id: DisputeId,
        order_id: OrderId,
        country: CountryCode,
        reason: DisputeReason,
        origin: DisputeOrigin,
        opened_by: ActorRef,
        opened_at: datetime,
        status: DisputeStatus,
        evidence_deadline: datetime,
        evidence: EvidencePack,
        decision: Decision | None,
        withdrawal: Withdrawal | None,
        last_execution_error: str | None,
        updated_at: datetime,
        version: int,
    ) -> Dispute:
        """Reconstitute a stored dispute, with no pending events.

        Raises :class:`InvariantViolation` if the stored state is inconsistent - notably
        if a frozen pack no longer matches the hash recorded when it froze (tampering).
        """
        return cls(
            dispute_id=dispute_id,
            order_id=order_id,
            country=country,
            reason=reason,
            origin=origin,
            opened_by=opened_by,
            opened_at=opened_at,
            status=status,
            evidence_deadline=evidence_deadline,
            evidence=evidence,
            decision=decision,
            withdrawal=withdrawal,
            last_execution_error=last_execution_error,
            updated_at=updated_at,
            version=version,
        )

    def _check_invariants(self) -> None:
        for name, moment in (
            ("opened_at", self._opened_at),
            ("evidence_deadline", self._evidence_deadline),
            ("updated_at", self._updated_at),
        ):
            if not is_aware(moment):
                raise InvariantViolation(f"dispute {self._id}: {name} must be timezone-aware")
        if type(self._version) is not int or self._version < 1:
            raise InvariantViolation(f"dispute {self._id}: version must be a positive int")
        if self._status.has_decision != (self._decision is not None):
            raise InvariantViolation(f"dispute {self._id}: a {self._status} dispute must carry a decision")
        if (self._status is _S.WITHDRAWN) != (self._withdrawal is not None):
            raise InvariantViolation(f"dispute {self._id}: a withdrawal goes with WITHDRAWN only")
        frozen_hash = self.frozen_pack_hash
        if frozen_hash is not None and frozen_hash != self._evidence.content_hash():
            raise InvariantViolation(f"dispute {self._id}: the frozen evidence pack does not match its hash")

    # ------------------------------------------------------------------ state (read-only)

    @property
    def id(self) -> DisputeId:
        return self._id

    @property
    def order_id(self) -> OrderId:
        return self._order_id

    @property
    def country(self) -> CountryCode:
        return self._country

    @property
    def reason(self) -> DisputeReason:
        return self._reason

    @property
    def origin(self) -> DisputeOrigin:
        return self._origin

    @property
    def opened_by(self) -> ActorRef:
        return self._opened_by

    @property
    def opened_at(self) -> datetime:
        return self._opened_at

    @property
    def status(self) -> DisputeStatus:
        return self._status

    @property
    def evidence_deadline(self) -> datetime:
        return self._evidence_deadline

    @property
    def evidence(self) -> EvidencePack:
        return self._evidence

    @property
    def decision(self) -> Decision | None:
        return self._decision

    @property
    def withdrawal(self) -> Withdrawal | None:
        return self._withdrawal

    @property
    def last_execution_error(self) -> str | None:
        """The summary of the latest execution failure (kept after a replay), or None."""
        return self._last_execution_error

    @property
    def updated_at(self) -> datetime:
        return self._updated_at

    @property
    def version(self) -> int:
        return self._version

    @property
    def is_evidence_frozen(self) -> bool:
        return not self._status.accepts_evidence

    @property
    def frozen_pack_hash(self) -> str | None:
        """The hash recorded when the pack froze (decision or withdrawal), else None."""
        if self._decision is not None:
            return self._decision.evidence_pack_hash
        if self._withdrawal is not None:
            return self._withdrawal.evidence_pack_hash
        return None

    @property
    def opening_statement(self) -> str | None:
        submission = self._evidence.submission(opening_statement_id(self._id))
        return None if submission is None else submission.statement

    def pull_events(self) -> tuple[DisputeEvent, ...]:
        """The events recorded since the last pull, oldest first; the list is emptied."""
        events, self._events = tuple(self._events), []
        return events

    def __repr__(self) -> str:
        return f"Dispute(id={self._id!r}, status={self._status}, version={self._version})"

    # ------------------------------------------------------------------ evidence

    def submit_evidence(
        self, submission: EvidenceSubmission, at: datetime
    ) -> Result[EvidenceSubmission, SubmitEvidenceError]:
        """Add a party submission to the pack; returns the submission as stored.

        Idempotent: if the same actor already submitted the same content (same
        ``content_sha256``), the stored submission is returned and nothing changes - no
        event, no new version - whatever the status or the time, so a client may
        safely retry an upload. Otherwise the pack must not be frozen
        (``EVIDENCE_PACK_FROZEN``), ``at`` must not be after the deadline
        (``EVIDENCE_DEADLINE_PASSED``), the evidence id must be new
        (``DUPLICATE_EVIDENCE_ID``) and the pack must have room
        (``TOO_MANY_SUBMISSIONS``). While ``OPEN`` the dispute moves to
        ``GATHERING_EVIDENCE``.
        """
        problem = self._at_problem(at)
        if problem is None and not (self._opened_at <= submission.submitted_at <= at):
            problem = InvalidInput("submitted_at", "must lie between the opening and the time received")
        if problem is not None:
            return Failure(problem)
        existing = self._evidence.submission_by_content(
            submission.submitted_by.actor_id, submission.content_sha256
        )
        if existing is not None:
            return Success(existing)
        if self.is_evidence_frozen:
            return Failure(EvidencePackFrozen(self._status))
        if at > self._evidence_deadline:
            return Failure(EvidenceDeadlinePassed(deadline=self._evidence_deadline, attempted_at=at))
        if self._evidence.submission(submission.evidence_id) is not None:
            return Failure(DuplicateEvidenceId(submission.evidence_id))
        if len(self._evidence.submissions) >= MAX_SUBMISSIONS_PER_DISPUTE:
            return Failure(TooManySubmissions(MAX_SUBMISSIONS_PER_DISPUTE))

        self._evidence = self._evidence.with_submission(submission)
        starts_gathering = self._status is _S.OPEN
        if starts_gathering:
            self._move_to(_S.GATHERING_EVIDENCE)
        self._touch(at)
        if starts_gathering:
            self._events.append(EvidenceGatheringStarted(**self._event_base(at)))
        self._events.append(
            EvidenceSubmitted(
                **self._event_base(at),
                evidence_id=submission.evidence_id,
                kind=submission.kind,
                content_sha256=submission.content_sha256,
                submitted_by=submission.submitted_by,
                submitted_at=submission.submitted_at,
            )
        )
        return Success(submission)

    def attach_platform_facts(self, facts: PlatformFacts, at: datetime) -> Result[None, AttachEvidenceError]:
        """Attach or replace prong 1 until the pack freezes. Attaching equal facts changes nothing."""
        problem = self._at_problem(at)
        if problem is not None:
            return Failure(problem)
        if self.is_evidence_frozen:
            return Failure(EvidencePackFrozen(self._status))
        if self._evidence.platform_facts == facts:
            return Success(None)
        self._evidence = self._evidence.with_platform_facts(facts)
        self._touch(at)
        self._events.append(
            PlatformFactsAttached(**self._event_base(at), evidence_pack_hash=self._evidence.content_hash())
        )
        return Success(None)

    def attach_transcript(
        self, transcript: ConversationTranscript, at: datetime
    ) -> Result[None, AttachEvidenceError]:
        """Attach or replace prong 2 until the pack freezes. Attaching an equal one changes nothing."""
        problem = self._at_problem(at)
        if problem is not None:
            return Failure(problem)
        if self.is_evidence_frozen:
            return Failure(EvidencePackFrozen(self._status))
        if self._evidence.transcript == transcript:
            return Success(None)
        self._evidence = self._evidence.with_transcript(transcript)
        self._touch(at)
        self._events.append(
            TranscriptAttached(
                **self._event_base(at),
                message_count=len(transcript.entries),
                evidence_pack_hash=self._evidence.content_hash(),
            )
        )
        return Success(None)

    # ------------------------------------------------------------------ lifecycle

    def start_gathering(self, at: datetime) -> Result[None, TransitionError]:
        """OPEN -> GATHERING_EVIDENCE."""
        problem = self._transition_problem(_S.GATHERING_EVIDENCE, {_S.OPEN}, at)
        if problem is not None:
            return Failure(problem)
        self._move_to(_S.GATHERING_EVIDENCE)
        self._touch(at)
        self._events.append(EvidenceGatheringStarted(**self._event_base(at)))
        return Success(None)

    def start_review(self, at: datetime) -> Result[None, TransitionError]:
        """OPEN | GATHERING_EVIDENCE -> UNDER_REVIEW (submissions stay open until the deadline)."""
        problem = self._transition_problem(_S.UNDER_REVIEW, {_S.OPEN, _S.GATHERING_EVIDENCE}, at)
        if problem is not None:
            return Failure(problem)
        self._move_to(_S.UNDER_REVIEW)
        self._touch(at)
        self._events.append(DisputeReviewStarted(**self._event_base(at)))
        return Success(None)

    def withdraw(
        self, *, at: datetime, by_actor: ActorId, by_role: str, reason: str
    ) -> Result[None, TransitionError]:
        """OPEN | GATHERING_EVIDENCE | UNDER_REVIEW -> WITHDRAWN; freezes the pack."""
        problem = self._transition_problem(
            _S.WITHDRAWN, {_S.OPEN, _S.GATHERING_EVIDENCE, _S.UNDER_REVIEW}, at
        ) or _first(
            ActorRef.problem(by_actor, by_role, "withdrawn_by"),
            _text_problem("reason", reason, MAX_WITHDRAWAL_REASON_CHARS),
        )
        if problem is not None:
            return Failure(problem)
        withdrawal = Withdrawal(
            withdrawn_by=ActorRef(by_actor, by_role),
            withdrawn_at=at,
            reason=reason.strip(),
            evidence_pack_hash=self._evidence.content_hash(),
        )
        self._withdrawal = withdrawal
        self._move_to(_S.WITHDRAWN)
        self._touch(at)
        self._events.append(
            DisputeWithdrawn(
                **self._event_base(at),
                withdrawn_by=withdrawal.withdrawn_by,
                reason=withdrawal.reason,
                evidence_pack_hash=withdrawal.evidence_pack_hash,
            )
        )
        return Success(None)

    def decide(
        self,
        *,
        outcome: OutcomeCode,
        reason_code: DecisionReasonCode,
        decided_by_actor: ActorId,
        decided_by_role: str,
        at: datetime,
        note: str = "",
        partial_refund_tier_bp: int | None = None,
        allowed_tiers_bp: tuple[int, ...] | None = None,
    ) -> Result[Decision, DecideError]:
        """UNDER_REVIEW -> DECIDED: record the outcome and freeze the evidence pack.

        ``partial_refund_tier_bp`` is required for ``PARTIAL_REFUND`` and forbidden
        otherwise; if ``allowed_tiers_bp`` is given (the snapshot policy's tiers) the tier
        must be one of them. ``FORCE_COMPLETE`` is refused (a live-incident action), and
        so is the system-only reason ``OPERATIONAL_CANCELLATION``. The pack needs platform
        facts and a transcript attached. Emits :class:`DisputeDecided` with the pack hash.
        """
        transition = self._transition_problem(_S.DECIDED, {_S.UNDER_REVIEW}, at)
        if transition is not None:
            return Failure(transition)
        problem = _first(
            ActorRef.problem(decided_by_actor, decided_by_role, "decided_by"),
            _text_problem("note", note, MAX_NOTE_CHARS, allow_blank=True),
        )
        if problem is not None:
            return Failure(problem)
        if outcome is OutcomeCode.FORCE_COMPLETE:
            return Failure(ForceCompleteNotADisputeOutcome())
        if reason_code is DecisionReasonCode.OPERATIONAL_CANCELLATION:
            return Failure(ReservedDecisionReason(reason_code))
        tier_error = _tier_problem(outcome, partial_refund_tier_bp, allowed_tiers_bp)
        if tier_error is not None:
            return Failure(tier_error)
        missing = self._evidence.missing_prongs
        if missing:
            return Failure(EvidencePackIncomplete(missing))

        decision = Decision(
            outcome=outcome,
            reason_code=reason_code,
            partial_refund_tier_bp=partial_refund_tier_bp,
            decided_by=ActorRef(decided_by_actor, decided_by_role),
            decided_at=at,
            note=note.strip(),
            evidence_pack_hash=self._evidence.content_hash(),
        )
        self._decision = decision
        self._move_to(_S.DECIDED)
        self._touch(at)
        self._events.append(self._decided_event(decision))
        return Success(decision)

    def start_execution(self, at: datetime) -> Result[None, TransitionError]:
        """DECIDED -> EXECUTING (the saga's steps are about to be carried out)."""
        problem = self._transition_problem(
            _S.EXECUTING, {_S.DECIDED}, at, detail="a failed execution is resumed with replay()"
        )
        if problem is not None:
            return Failure(problem)
        self._move_to(_S.EXECUTING)
        self._touch(at)
        self._events.append(DisputeExecutionStarted(**self._event_base(at), outcome=self._outcome()))
        return Success(None)

    def mark_resolved(self, at: datetime) -> Result[None, TransitionError]:
        """EXECUTING -> RESOLVED (every step of the plan is done)."""
        problem = self._transition_problem(_S.RESOLVED, {_S.EXECUTING}, at)
        if problem is not None:
            return Failure(problem)
        self._move_to(_S.RESOLVED)
        self._touch(at)
        self._events.append(DisputeResolved(**self._event_base(at), outcome=self._outcome()))
        return Success(None)

    def mark_execution_failed(self, at: datetime, error_summary: str) -> Result[None, TransitionError]:
        """EXECUTING -> EXECUTION_FAILED. A summary longer than the limit is truncated, not
        refused: a worker must always be able to record a failure."""
        problem = self._transition_problem(_S.EXECUTION_FAILED, {_S.EXECUTING}, at)
        if problem is None and not error_summary.strip():
            problem = InvalidInput("error_summary", "must not be blank")
        if problem is not None:
            return Failure(problem)
        summary = error_summary.strip()
        if len(summary) > MAX_ERROR_SUMMARY_CHARS:
            summary = summary[: MAX_ERROR_SUMMARY_CHARS - 1] + "…"
        self._last_execution_error = summary
        self._move_to(_S.EXECUTION_FAILED)
        self._touch(at)
        self._events.append(DisputeExecutionFailed(**self._event_base(at), error_summary=summary))
        return Success(None)

    def replay(self, *, at: datetime, by_actor: ActorId, by_role: str) -> Result[None, TransitionError]:
        """EXECUTION_FAILED -> EXECUTING. Only an L3 may ask for it, or the system when the
        provider confirms the dead step succeeded after all (D131): that is the application's
        business; the domain records who did."""
        problem = self._transition_problem(
            _S.EXECUTING,
            {_S.EXECUTION_FAILED},
            at,
            detail="a first execution is begun with start_execution()",
        ) or ActorRef.problem(by_actor, by_role, "replayed_by")
        if problem is not None:
            return Failure(problem)
        self._move_to(_S.EXECUTING)
        self._touch(at)
        self._events.append(
            DisputeReplayed(
                **self._event_base(at), replayed_by=ActorRef(by_actor, by_role), outcome=self._outcome()
            )
        )
        return Success(None)

    # ------------------------------------------------------------------ internals

    def _at_problem(self, at: datetime) -> InvalidInput | None:
        if not is_aware(at):
            return InvalidInput("at", "must be timezone-aware")
        if at < self._opened_at:
            return InvalidInput("at", "precedes the opening of the dispute")
        return None

    def _transition_problem(
        self,
        target: DisputeStatus,
        allowed_from: set[DisputeStatus],
        at: datetime,
        *,
        detail: str = "",
    ) -> IllegalDisputeTransition | InvalidInput | None:
        if self._status not in allowed_from:
            legal_elsewhere = self._status.can_transition_to(target)
            return IllegalDisputeTransition(self._status, target, detail if legal_elsewhere else "")
        return self._at_problem(at)

    def _move_to(self, target: DisputeStatus) -> None:
        if not self._status.can_transition_to(target):  # a bug in this class, never an input
            raise InvariantViolation(f"{self._status} -> {target} is not in the transition table")
        self._status = target

    def _touch(self, at: datetime) -> None:
        self._version += 1
        self._updated_at = at

    def _outcome(self) -> OutcomeCode:
        if self._decision is None:  # pragma: no cover - guarded by the status checks
            raise InvariantViolation(f"dispute {self._id} has no decision")
        return self._decision.outcome

    def _event_base(self, at: datetime) -> _EventBase:
        return {
            "occurred_at": at,
            "dispute_id": self._id,
            "order_id": self._order_id,
            "country": self._country,
            "version": self._version,
        }

    def _decided_event(self, decision: Decision) -> DisputeDecided:
        return DisputeDecided(
            **self._event_base(decision.decided_at),
            outcome=decision.outcome,
            reason_code=decision.reason_code,
            partial_refund_tier_bp=decision.partial_refund_tier_bp,
            decided_by=decision.decided_by,
            evidence_pack_hash=decision.evidence_pack_hash,
        )


def _tier_problem(
    outcome: OutcomeCode, tier_bp: int | None, allowed_tiers_bp: tuple[int, ...] | None
) -> (
    PartialRefundTierRequired
    | PartialRefundTierForbidden
    | PartialRefundTierNotInPolicy
    | InvalidInput
    | None
):
    if outcome is not OutcomeCode.PARTIAL_REFUND:
        return None if tier_bp is None else PartialRefundTierForbidden(outcome, tier_bp)
    if tier_bp is None:
        return PartialRefundTierRequired()
    if type(tier_bp) is not int or not 0 < tier_bp < BASIS_POINTS:
        return InvalidInput("partial_refund_tier_bp", "must be an int strictly between 0 and 10000")
    if allowed_tiers_bp is not None and tier_bp not in allowed_tiers_bp:
        return PartialRefundTierNotInPolicy(tier_bp, tuple(sorted(allowed_tiers_bp)))
    return None

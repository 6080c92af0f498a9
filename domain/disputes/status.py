"""The dispute lifecycle: statuses, origins and the one table of legal transitions (SPEC §5).

```
OPEN -> GATHERING_EVIDENCE -> UNDER_REVIEW -> DECIDED -> EXECUTING -> RESOLVED
                                                      \\-> EXECUTION_FAILED -> EXECUTING (replay by L3)
OPEN|GATHERING_EVIDENCE|UNDER_REVIEW -> WITHDRAWN
```

``OPEN -> UNDER_REVIEW`` is legal too (a reviewer may start without waiting for
submissions). ``EXECUTING -> EXECUTION_FAILED`` is the failure edge and
``EXECUTION_FAILED -> EXECUTING`` the replay. Nothing ever goes back to ``OPEN``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Final


class DisputeStatus(StrEnum):
    OPEN = "OPEN"
    GATHERING_EVIDENCE = "GATHERING_EVIDENCE"
    UNDER_REVIEW = "UNDER_REVIEW"
    DECIDED = "DECIDED"
    EXECUTING = "EXECUTING"
    RESOLVED = "RESOLVED"
    EXECUTION_FAILED = "EXECUTION_FAILED"
    WITHDRAWN = "WITHDRAWN"

    def can_transition_to(self, target: DisputeStatus) -> bool:
        return target in DISPUTE_TRANSITIONS[self]

    @property
    def is_terminal(self) -> bool:
        return not DISPUTE_TRANSITIONS[self]

    @property
    def accepts_evidence(self) -> bool:
        """Whether the pack may still change (it freezes on decision or withdrawal)."""
        return self in _PRE_DECISION

    @property
    def has_decision(self) -> bool:
        """Whether a dispute in this status carries a :class:`Decision`."""
        return self in _POST_DECISION


class DisputeOrigin(StrEnum):
    """How a dispute came to exist."""

    PARTY = "PARTY"
    """Opened by the buyer (or by support on their behalf) on a delivered order."""
    OPERATIONAL_CANCELLATION = "OPERATIONAL_CANCELLATION"
    """Opened automatically when an in-flight order was cancelled after payment capture."""


_S = DisputeStatus

DISPUTE_TRANSITIONS: Final[Mapping[DisputeStatus, frozenset[DisputeStatus]]] = MappingProxyType(
    {
        _S.OPEN: frozenset({_S.GATHERING_EVIDENCE, _S.UNDER_REVIEW, _S.WITHDRAWN}),
        _S.GATHERING_EVIDENCE: frozenset({_S.UNDER_REVIEW, _S.WITHDRAWN}),
        _S.UNDER_REVIEW: frozenset({_S.DECIDED, _S.WITHDRAWN}),
        _S.DECIDED: frozenset({_S.EXECUTING}),
        _S.EXECUTING: frozenset({_S.RESOLVED, _S.EXECUTION_FAILED}),
        _S.EXECUTION_FAILED: frozenset({_S.EXECUTING}),
        _S.RESOLVED: frozenset(),
        _S.WITHDRAWN: frozenset(),
    }
)
"""Every legal ``from -> to`` edge. Anything else is an ``ILLEGAL_DISPUTE_TRANSITION``."""

_PRE_DECISION: Final = frozenset({_S.OPEN, _S.GATHERING_EVIDENCE, _S.UNDER_REVIEW})
_POST_DECISION: Final = frozenset({_S.DECIDED, _S.EXECUTING, _S.RESOLVED, _S.EXECUTION_FAILED})

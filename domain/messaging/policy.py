"""Spam and harassment rules as pure policies: counts come in, decisions come out.

- **Rate limits** per sender: in one conversation (bursts) and across all of them (a
  sender spraying many orders). The caller counts the sender's messages inside each
  limit's window (blocked ones included: they were sent) and passes the counts in.
- **Repeated violations**: the ``violations_to_freeze``-th blocked message of a sender
  in a conversation freezes that sender there, until support lifts it.
- **Freeze spikes** are not decided here: every freeze counts in
  ``supportos_conversation_freezes_total{country}`` and the Prometheus rule
  ``SupportOSConversationFreezeSpike`` (``deploy/prometheus/alerts.yml``, D33) decides what a
  spike is, against the country's own usual rate.

Staff (support) are not rate-limited: they answer many conversations at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from domain.messaging.errors import RateLimited


class RateScope(StrEnum):
    CONVERSATION = "CONVERSATION"  # the sender's messages in this conversation
    SENDER = "SENDER"  # the sender's messages in every conversation of the country


@dataclass(frozen=True, slots=True)
class RateLimit:
    scope: RateScope
    window: timedelta
    max_messages: int

    def __post_init__(self) -> None:
        if self.window <= timedelta(0) or self.max_messages < 1:
            raise ValueError("a rate limit needs a positive window and allows at least one message")


@dataclass(frozen=True, slots=True)
class WindowCount:
    """How many messages the sender sent inside a limit's window ending now, and the
    oldest of them (from which the wait until the next free slot follows)."""

    count: int
    oldest: datetime | None = None


DEFAULT_RATE_LIMITS: Final = (
    RateLimit(RateScope.CONVERSATION, timedelta(seconds=10), 5),
    RateLimit(RateScope.CONVERSATION, timedelta(minutes=10), 40),
    RateLimit(RateScope.SENDER, timedelta(hours=1), 200),
)


@dataclass(frozen=True, slots=True)
class MessagingPolicy:
    rate_limits: tuple[RateLimit, ...] = DEFAULT_RATE_LIMITS
    violations_to_freeze: int = 3
    max_body_chars: int = 2_000

    def __post_init__(self) -> None:
        if self.violations_to_freeze < 1 or self.max_body_chars < 1:
            raise ValueError("violations_to_freeze and max_body_chars must be positive")

    def rate_limit_breach(self, counts: Mapping[RateLimit, WindowCount], now: datetime) -> RateLimited | None:
        """The first limit that one more message would exceed, or ``None``. A limit with no
        count given counts as empty."""
        for limit in self.rate_limits:
            seen = counts.get(limit, WindowCount(0))
            if seen.count >= limit.max_messages:
                free_at = (seen.oldest + limit.window) if seen.oldest is not None else now + limit.window
                wait = max(1, int((free_at - now).total_seconds() + 0.999))
                return RateLimited(
                    scope=limit.scope.value,
                    max_messages=limit.max_messages,
                    window_seconds=int(limit.window.total_seconds()),
                    retry_after_seconds=wait,
                )
        return None


DEFAULT_MESSAGING_POLICY: Final = MessagingPolicy()

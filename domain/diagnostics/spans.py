"""``trace.json``: spans, the failed ones, and the error codes traces carry (SPEC §10).

A span failed when its status is ``ERROR`` or it carries an error code. Each failed span
is listed with its start, duration and error code, and the code is looked up in the
project's error catalogue (``docs/errors.md``): either a product code (the table of
DomainError codes) or a gateway/client code (the table "Gateway and client error codes",
which documents exactly :class:`TraceErrorCode`; a test keeps the two in step). A code in
neither table is reported as not catalogued.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class SpanStatus(StrEnum):
    OK = "OK"
    ERROR = "ERROR"
    UNSET = "UNSET"


class TraceErrorCode(StrEnum):
    """Codes the gateway and the client SDKs write into spans (documented in ``docs/errors.md``)."""

    GATEWAY_TIMEOUT = "GATEWAY_TIMEOUT"
    GATEWAY_UNAVAILABLE = "GATEWAY_UNAVAILABLE"
    GATEWAY_BAD_RESPONSE = "GATEWAY_BAD_RESPONSE"
    GATEWAY_RATE_LIMITED = "GATEWAY_RATE_LIMITED"
    GATEWAY_AUTH_REJECTED = "GATEWAY_AUTH_REJECTED"
    GATEWAY_PAYLOAD_TOO_LARGE = "GATEWAY_PAYLOAD_TOO_LARGE"
    TLS_HANDSHAKE_FAILED = "TLS_HANDSHAKE_FAILED"
    DNS_RESOLUTION_FAILED = "DNS_RESOLUTION_FAILED"
    CONNECTION_RESET = "CONNECTION_RESET"
    CLIENT_OFFLINE = "CLIENT_OFFLINE"
    CLIENT_TIMEOUT = "CLIENT_TIMEOUT"
    CLIENT_QUEUE_FULL = "CLIENT_QUEUE_FULL"
    CLIENT_CLOCK_SKEW = "CLIENT_CLOCK_SKEW"


@dataclass(frozen=True, slots=True)
class Span:
    span_id: str
    parent_id: str | None
    name: str
    start: datetime
    end: datetime
    status: SpanStatus
    error_code: str | None

    @property
    def failed(self) -> bool:
        return self.status is SpanStatus.ERROR or self.error_code is not None

    @property
    def duration_ms(self) -> float:
        return (self.end - self.start).total_seconds() * 1000


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """One row of ``docs/errors.md``."""

    code: str
    meaning: str
    action: str
    section: str  # "product" or the gateway table's source column ("gateway", "client", "network")


@dataclass(frozen=True, slots=True)
class FailedSpan:
    span_id: str
    name: str
    start: datetime
    duration_ms: float
    error_code: str | None
    catalogue: CatalogueEntry | None


def failed_spans(spans: tuple[Span, ...], catalogue: Mapping[str, CatalogueEntry]) -> tuple[FailedSpan, ...]:
    """The failed spans in order of start time, each code looked up in the catalogue."""
    failed = sorted((s for s in spans if s.failed), key=lambda s: (s.start, s.span_id))
    return tuple(
        FailedSpan(
            span_id=span.span_id,
            name=span.name,
            start=span.start,
            duration_ms=span.duration_ms,
            error_code=span.error_code,
            catalogue=None if span.error_code is None else catalogue.get(span.error_code),
        )
        for span in failed
    )

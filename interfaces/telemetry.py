"""The ways in measured: HTTP requests and GraphQL operations in Prometheus form (SPEC §11).

Series (every label value is bounded):

- ``supportos_http_requests_total{method,route,status}`` and
  ``supportos_http_request_duration_seconds{method,route}``: every HTTP request; ``route``
  is the route's template (``/graphql``, ``/webhooks/{provider}``), ``other`` for anything
  unrouted (so a scanner cannot mint series);
- ``supportos_graphql_operations_total{operation,type,outcome}`` and
  ``supportos_graphql_operation_duration_seconds{operation,type}``: every GraphQL
  operation by name (``anonymous`` when unnamed; names are capped, see
  :class:`OperationNames`), type (``query``, ``mutation``) and outcome (``ok``;
  ``rejected``: the document failed to parse or validate, the caller's mistake;
  ``error``: an unexpected error was masked, ours);
- ``supportos_graphql_errors_total{type,code}``: errors by type: the typed errors answered
  in result unions (``ForbiddenError`` / ``FORBIDDEN``...), unexpected exceptions by class
  (``code="UNEXPECTED"``) and rejected documents (``GraphQLError`` / ``INVALID_REQUEST``).

The latency buckets reach 10 s and include the SLO thresholds (0.2 s for p95, 0.5 s for
p99), so the burn-rate alerts read them exactly. The series live in the process's default
registry, next to the workers' (``adapters/telemetry/metrics.py``); ``/metrics`` serves it.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Final

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS: Final = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.2,
    0.3,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)
MAX_OPERATION_NAMES: Final = 200
ANONYMOUS: Final = "anonymous"
OTHER: Final = "other"
_OPERATION_NAME: Final = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
_ERROR_TYPE: Final = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")


class OperationNames:
    """Bounded operation-name labels: the first ``limit`` distinct names are kept as they
    are, later new ones become ``other`` (a client inventing names cannot grow the series
    without end); unnamed operations are ``anonymous``."""

    def __init__(self, limit: int = MAX_OPERATION_NAMES) -> None:
        self._limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def label(self, name: str | None, *, may_claim: bool = True) -> str:
        """``name``'s label; a name not seen yet claims one of the ``limit`` slots only when
        ``may_claim`` (an authenticated caller's valid operation, D113): anonymous callers
        sending junk names cannot use the slots up before the console's operations."""
        if not name:
            return ANONYMOUS
        if not _OPERATION_NAME.fullmatch(name):
            return OTHER
        if name in self._seen:
            return name
        if not may_claim:
            return OTHER
        with self._lock:
            if len(self._seen) >= self._limit:
                return OTHER
            self._seen.add(name)
        return name


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.operation_names = OperationNames()
        self.http_requests = Counter(
            "supportos_http_requests",
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.http_latency = Histogram(
            "supportos_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.graphql_operations = Counter(
            "supportos_graphql_operations",
            "GraphQL operations by name, type and outcome (ok, rejected, error).",
            ["operation", "type", "outcome"],
            registry=registry,
        )
        self.graphql_latency = Histogram(
            "supportos_graphql_operation_duration_seconds",
            "GraphQL operation latency by name and type.",
            ["operation", "type"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.graphql_errors = Counter(
            "supportos_graphql_errors",
            "GraphQL errors by type (result-union typename or exception class) and code.",
            ["type", "code"],
            registry=registry,
        )
        # each label set's children, looked up once (``labels()`` takes a lock and builds a
        # key every call); as bounded as the labels themselves. A race only looks one up twice.
        self._http_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._graphql_series: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}

    def http_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        series = self._http_series.get(key)
        if series is None:
            series = (
                self.http_requests.labels(method, route, str(status)),
                self.http_latency.labels(method, route),
            )
            self._http_series[key] = series
        series[0].inc()
        series[1].observe(max(0.0, seconds))

    def graphql_operation(
        self, name: str | None, kind: str, outcome: str, seconds: float, *, may_claim: bool = True
    ) -> None:
        operation = self.operation_names.label(name, may_claim=may_claim)
        key = (operation, kind, outcome)
        series = self._graphql_series.get(key)
        if series is None:
            series = (
                self.graphql_operations.labels(operation, kind, outcome),
                self.graphql_latency.labels(operation, kind),
            )
            self._graphql_series[key] = series
        series[0].inc()
        series[1].observe(max(0.0, seconds))

    def graphql_error(self, kind: str, code: str) -> None:
        type_label = kind if _ERROR_TYPE.fullmatch(kind) else OTHER
        code_label = code if _ERROR_TYPE.fullmatch(code) else OTHER
        self.graphql_errors.labels(type_label, code_label).inc()


@lru_cache(maxsize=1)
def api_metrics() -> ApiMetrics:
    """The process's HTTP and GraphQL metrics, in the default registry (one set per
    process, however many apps are created in it)."""
    return ApiMetrics(REGISTRY)

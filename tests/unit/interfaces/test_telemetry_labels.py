"""Bounded metric labels (D30, D113): operation names claim at most ``limit`` slots, and only
a known caller's valid operation may claim one; HTTP methods outside the standard set are
``other``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from interfaces.http.observability import HTTP_METHODS
from interfaces.telemetry import ANONYMOUS, OTHER, ApiMetrics, OperationNames


def test_names_claim_slots_up_to_the_limit_then_are_other() -> None:
    names = OperationNames(limit=2)
    assert (names.label("Orders"), names.label("Resolve"), names.label("Third")) == (
        "Orders",
        "Resolve",
        OTHER,
    )
    assert names.label("Orders") == "Orders"  # a name with a slot keeps it
    assert (names.label(None), names.label(""), names.label("bad name!")) == (ANONYMOUS, ANONYMOUS, OTHER)


def test_a_name_that_may_not_claim_a_slot_is_other_and_leaves_the_slots_free() -> None:
    names = OperationNames(limit=2)
    junk = [names.label(f"junk{i}", may_claim=False) for i in range(50)]
    assert set(junk) == {OTHER}
    assert (names.label("Orders"), names.label("Resolve")) == ("Orders", "Resolve")
    # once claimed by a known caller, the name is labelled as itself for anyone
    assert names.label("Orders", may_claim=False) == "Orders"


def test_the_method_labels_are_the_standard_methods() -> None:
    assert {"GET", "POST", "HEAD", "OPTIONS"} <= HTTP_METHODS
    assert "ZQXJ1" not in HTTP_METHODS and "PROPFIND" not in HTTP_METHODS


def test_each_label_set_counts_into_its_own_series_however_often_it_is_looked_up() -> None:
    """The children of each label set are looked up once and kept (D149): every call still
    lands in the series of its own labels, status and outcome included."""
    registry = CollectorRegistry()
    metrics = ApiMetrics(registry)
    for method, route, status, seconds in [
        ("POST", "/graphql", 200, 0.004),
        ("POST", "/graphql", 200, 0.02),
        ("POST", "/graphql", 400, 0.001),
        ("GET", "/graphql", 200, 0.3),
        ("POST", "/webhooks/{provider}", 200, -1.0),  # a clock step back counts as 0
    ]:
        metrics.http_request(method, route, status, seconds)
    for outcome in ("ok", "ok", "error"):
        metrics.graphql_operation("Orders", "query", outcome, 0.006)
    metrics.graphql_operation("Resolve", "mutation", "ok", 0.2)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    requests = "supportos_http_requests_total"
    assert value(requests, method="POST", route="/graphql", status="200") == 2
    assert value(requests, method="POST", route="/graphql", status="400") == 1
    assert value(requests, method="GET", route="/graphql", status="200") == 1
    assert value(requests, method="POST", route="/webhooks/{provider}", status="200") == 1
    latency = "supportos_http_request_duration_seconds"
    assert value(f"{latency}_count", method="POST", route="/graphql") == 3
    assert value(f"{latency}_bucket", method="POST", route="/graphql", le="0.005") == 2
    assert value(f"{latency}_sum", method="GET", route="/graphql") == 0.3
    assert value(f"{latency}_sum", method="POST", route="/webhooks/{provider}") == 0.0
    operations = "supportos_graphql_operations_total"
    assert value(operations, operation="Orders", type="query", outcome="ok") == 2
    assert value(operations, operation="Orders", type="query", outcome="error") == 1
    assert value(operations, operation="Resolve", type="mutation", outcome="ok") == 1
    operation_latency = "supportos_graphql_operation_duration_seconds"
    assert value(f"{operation_latency}_count", operation="Orders", type="query") == 3
    assert value(f"{operation_latency}_bucket", operation="Resolve", type="mutation", le="0.1") == 0
    assert value(f"{operation_latency}_bucket", operation="Resolve", type="mutation", le="0.2") == 1

"""The alert rules and the dashboard that ship in deploy/ are consistent with the metrics the
service really exports: every metric named in every expression is in /metrics after real
requests (or is a recording rule of alerts.yml), and the files have the structure Prometheus
and Grafana expect."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from interfaces.container import build_container, dispose_engines, migrate_database
from interfaces.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "support-os.json"
SEVERITIES = {"sev1", "sev2", "sev3"}

_KEYWORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "group",
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
    "offset", "inf", "nan",
}  # fmt: skip
_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
}


def metric_names(expr: str) -> set[str]:
    """The metric (series) names an expression reads: identifiers that are not functions,
    keywords, label names inside ``{...}``, grouping labels in ``by (...)``, durations or
    the contents of strings."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\boffset\s+\w+", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        name = match.group()
        following = text[match.end() :].lstrip()
        if following.startswith("(") or name.lower() in _KEYWORDS or _DURATION.match(name):
            continue
        names.add(name)
    return names


def balanced(expr: str) -> bool:
    pairs, stack = {")": "(", "]": "[", "}": "{"}, []
    for char in re.sub(r'"(?:[^"\\]|\\.)*"', "", expr):
        if char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return False
    return not stack


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_exprs() -> Iterator[str]:
    for panel in json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]:
        for target in panel["targets"]:
            yield target["expr"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every series name the service exports, after real requests against a migrated database."""
    import asyncio  # noqa: PLC0415

    async def scrape() -> str:
        path = tmp_path_factory.mktemp("ops") / "ops.sqlite3"
        settings = Settings(database_url=f"sqlite+aiosqlite:///{path}")
        await migrate_database(settings)
        container = build_container(settings)
        try:
            transport = httpx.ASGITransport(app=container.http_app())
            async with httpx.AsyncClient(transport=transport, base_url="http://supportos.test") as client:
                assert (
                    await client.post("/graphql", json={"query": "query V { version }"})
                ).status_code == 200
                await client.post("/graphql", json={"query": '{ orders(countryCode: "MX") { __typename } }'})
                await client.post("/graphql", json={"query": "{ nope }"})
                assert (await client.get("/readyz")).status_code == 200
                await client.get("/healthz")
                return (await client.get("/metrics")).text
        finally:
            await dispose_engines(container)

    text = asyncio.run(scrape())
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def test_the_alert_rules_are_well_formed() -> None:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    assert set(document) == {"groups"}
    names = [group["name"] for group in document["groups"]]
    assert len(names) == len(set(names))
    alerts = [rule for rule in alert_rules() if "alert" in rule]
    records = [rule for rule in alert_rules() if "record" in rule]
    assert len(alerts) >= 15 and len(records) >= 9
    for rule in alert_rules():
        assert ("alert" in rule) != ("record" in rule), rule
        assert isinstance(rule["expr"], str) and balanced(rule["expr"]), rule
        assert set(rule) <= {"alert", "record", "expr", "for", "labels", "annotations", "keep_firing_for"}
        if "for" in rule:
            assert _DURATION.match(rule["for"]), rule
    for rule in records:
        assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", rule["record"]), rule["record"]
    for rule in alerts:
        assert re.fullmatch(r"SupportOS[A-Za-z0-9]+", rule["alert"])
        assert rule["labels"]["severity"] in SEVERITIES
        assert rule["labels"]["page"] in {"true", "false"}
        assert rule["labels"]["page"] == ("true" if rule["labels"]["severity"] != "sev3" else "false")
        assert rule["annotations"]["summary"]
        runbook = ROOT / rule["annotations"]["runbook"]
        assert runbook.is_file(), runbook
    alert_names = [rule["alert"] for rule in alerts]
    assert len(alert_names) == len(set(alert_names))


def test_the_slo_targets_are_the_spec_s() -> None:
    exprs = {rule["alert"]: rule["expr"] for rule in alert_rules() if "alert" in rule}
    assert 'le="0.2"' in ALERTS.read_text() and 'le="0.5"' in ALERTS.read_text()
    # multiwindow burn rates: 14.4x of the budget over 1h and 5m, 6x over 6h and 30m
    assert "ratio_rate1h > 0.0144" in exprs["SupportOSAvailabilityBudgetBurnFast"]
    assert "ratio_rate5m > 0.0144" in exprs["SupportOSAvailabilityBudgetBurnFast"]
    assert "ratio_rate6h > 0.006" in exprs["SupportOSAvailabilityBudgetBurnSlow"]
    assert "slower_than_200ms:ratio_rate1h > 0.72" in exprs["SupportOSLatencyP95BudgetBurnFast"]
    assert "slower_than_500ms:ratio_rate1h > 0.144" in exprs["SupportOSLatencyP99BudgetBurnFast"]
    assert "> 0.01" in exprs["SupportOSErrorRateAbove1Percent"]


def test_every_metric_in_the_alert_rules_is_exported(exported: set[str]) -> None:
    recorded = {rule["record"] for rule in alert_rules() if "record" in rule}
    used: set[str] = set()
    for rule in alert_rules():
        used |= metric_names(rule["expr"])
    assert used, "no metric found: the parser is broken"
    assert {"supportos_dead_letters_total", "supportos_circuit_state", "supportos_outbox_depth"} <= used
    missing = used - exported - recorded
    assert not missing, f"referenced but not exported: {sorted(missing)}"
    for name in recorded:  # a recording rule used must be defined, and every definition used
        assert any(name in metric_names(rule["expr"]) for rule in alert_rules() if "alert" in rule) or any(
            name in metric_names(expr) for expr in dashboard_exprs()
        ), name


def test_the_dashboard_is_well_formed_and_reads_exported_metrics(exported: set[str]) -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] == "support-os" and dashboard["title"] == "Support OS"
    assert isinstance(dashboard["schemaVersion"], int)
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)) >= 12
    recorded = {rule["record"] for rule in alert_rules() if "record" in rule}
    used: set[str] = set()
    for panel in dashboard["panels"]:
        assert panel["title"] and panel["type"] in {"timeseries", "stat", "gauge", "table"}
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        refs = [target["refId"] for target in panel["targets"]]
        assert refs and len(refs) == len(set(refs))
        for target in panel["targets"]:
            assert balanced(target["expr"]), target
            used |= metric_names(target["expr"])
    missing = used - exported - recorded
    assert not missing, f"referenced but not exported: {sorted(missing)}"
    for needed in ("supportos_graphql_operations_total", "supportos_outbox_oldest_age_seconds"):
        assert needed in used


def test_the_metric_name_parser() -> None:
    expr = (
        'sum by (country, provider) (increase(supportos_dead_letters_total{status=~"5.."}[15m] offset 1h))'
        " / ignoring(le) supportos:request_errors:ratio_rate5m > 0.5 and absent(up_x)"
    )
    assert metric_names(expr) == {
        "supportos_dead_letters_total",
        "supportos:request_errors:ratio_rate5m",
        "up_x",
    }
    assert not balanced("sum(rate(x[5m])")

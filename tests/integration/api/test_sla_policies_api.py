"""SLA policies over GraphQL: ``slaPolicy`` reads the default version 1 and published
versions; ``slaPolicyPublish`` (L3 of the country) publishes the next one, audited;
refusals, bad targets and a stale expected version change nothing."""

from __future__ import annotations

from typing import Any

from application.security.principal import Role
from tests.integration.api.conftest import CO, MX, Api

POLICY = (
    "countryCode kind version currentVersion"
    " targets { severity clock basis seconds businessDays description }"
)
READ = (
    "query($c: String!, $k: CaseKind!, $v: Int) { slaPolicy(countryCode: $c, kind: $k, version: $v) {"
    f" __typename ... on SlaPolicy {{ {POLICY} }}"
    " ... on InvalidInputError { field } ... on Error { code message } } }"
)
PUBLISH = (
    "mutation($i: SlaPolicyPublishInput!) { slaPolicyPublish(input: $i) { __typename"
    f" ... on SlaPolicyPublishSuccess {{ policy {{ {POLICY} }} }}"
    " ... on InvalidInputError { field } ... on Error { code message } } }"
)
CLOCKS = ("ACKNOWLEDGE", "MITIGATE", "STATUS_UPDATE")


def minutes(severity: str, *amounts: int) -> list[dict[str, Any]]:
    return [
        {"severity": severity, "clock": clock, "basis": "CONTINUOUS", "seconds": amount * 60}
        for clock, amount in zip(CLOCKS, amounts, strict=True)
    ]


def diagnostics_targets() -> list[dict[str, Any]]:
    return [
        *minutes("SEV1", 10, 60, 20),
        *minutes("SEV2", 60, 480, 120),
        {"severity": "SEV3", "clock": "ACKNOWLEDGE", "basis": "BUSINESS", "seconds": 7200},
        {"severity": "SEV3", "clock": "MITIGATE", "basis": "BUSINESS", "businessDays": 3},
        {"severity": "SEV3", "clock": "STATUS_UPDATE", "basis": "BUSINESS", "businessDays": 1},
    ]


def publish_input(targets: list[dict[str, Any]], expected: int = 1, country: str = "MX") -> dict[str, Any]:
    return {
        "i": {"countryCode": country, "kind": "DIAGNOSTICS", "expectedVersion": expected, "targets": targets}
    }


async def published_count(api: Api) -> int:
    return int(await api.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'sla_policy.published'"))


async def test_the_default_policy_is_version_1(api: Api) -> None:
    read = await api.gql(READ, {"c": "MX", "k": "DIAGNOSTICS"}, api.bearer(Role.L1))
    policy = read["slaPolicy"]
    assert policy["__typename"] == "SlaPolicy", policy
    assert (policy["countryCode"], policy["kind"], policy["version"], policy["currentVersion"]) == (
        "MX",
        "DIAGNOSTICS",
        1,
        1,
    )
    assert [(t["severity"], t["clock"]) for t in policy["targets"]] == [
        (severity, clock) for severity in ("SEV1", "SEV2", "SEV3") for clock in CLOCKS
    ]
    assert policy["targets"][0] == {
        "severity": "SEV1",
        "clock": "ACKNOWLEDGE",
        "basis": "CONTINUOUS",
        "seconds": 1800,
        "businessDays": None,
        "description": "30 min, 24x7",
    }
    assert policy["targets"][7] == {
        "severity": "SEV3",
        "clock": "MITIGATE",
        "basis": "BUSINESS",
        "seconds": None,
        "businessDays": 5,
        "description": "5 business days",
    }
    incidents = await api.gql(READ, {"c": "MX", "k": "ORDER_INCIDENT"}, api.bearer(Role.AUDITOR))
    assert [t["severity"] for t in incidents["slaPolicy"]["targets"]][::3] == ["SEV0", "SEV1", "SEV2", "SEV3"]

    missing = await api.gql(READ, {"c": "MX", "k": "DIAGNOSTICS", "v": 2}, api.bearer(Role.L1))
    assert (missing["slaPolicy"]["__typename"], missing["slaPolicy"]["code"]) == (
        "NotFoundError",
        "NOT_FOUND",
    )
    zero = await api.gql(READ, {"c": "MX", "k": "DIAGNOSTICS", "v": 0}, api.bearer(Role.L1))
    assert (zero["slaPolicy"]["__typename"], zero["slaPolicy"]["field"]) == ("InvalidInputError", "version")


async def test_l3_publishes_the_next_version_and_agents_read_both(api: Api) -> None:
    published = await api.gql(PUBLISH, publish_input(diagnostics_targets()), api.bearer(Role.L3))
    answer = published["slaPolicyPublish"]
    assert answer["__typename"] == "SlaPolicyPublishSuccess", answer
    policy = answer["policy"]
    assert (policy["version"], policy["currentVersion"]) == (2, 2)
    assert policy["targets"][0] == {
        "severity": "SEV1",
        "clock": "ACKNOWLEDGE",
        "basis": "CONTINUOUS",
        "seconds": 600,
        "businessDays": None,
        "description": "10 min, 24x7",
    }
    assert [t["description"] for t in policy["targets"][6:]] == [
        "2 business hours",
        "3 business days",
        "next business day",
    ]
    assert await published_count(api) == 1

    current = await api.gql(READ, {"c": "MX", "k": "DIAGNOSTICS"}, api.bearer(Role.L1))
    assert current["slaPolicy"] == {"__typename": "SlaPolicy", **policy}
    first = await api.gql(READ, {"c": "MX", "k": "DIAGNOSTICS", "v": 1}, api.bearer(Role.L1))
    assert (first["slaPolicy"]["version"], first["slaPolicy"]["currentVersion"]) == (1, 2)
    assert first["slaPolicy"]["targets"][0]["seconds"] == 1800
    colombia = await api.gql(READ, {"c": "CO", "k": "DIAGNOSTICS"}, api.bearer(Role.L1, CO))
    assert colombia["slaPolicy"]["version"] == 1

    stale = await api.gql(PUBLISH, publish_input(diagnostics_targets()), api.bearer(Role.L3))
    assert (stale["slaPolicyPublish"]["__typename"], stale["slaPolicyPublish"]["code"]) == (
        "ConflictError",
        "CONCURRENCY_CONFLICT",
    )
    assert await published_count(api) == 1


async def test_only_l3_of_the_country_publishes_and_refusals_are_audited(api: Api) -> None:
    for headers, country in (
        (api.bearer(Role.L2), "MX"),
        (api.bearer(Role.AUDITOR), "MX"),
        (api.bearer(Role.L3, MX), "CO"),
    ):
        refused = await api.gql(PUBLISH, publish_input(diagnostics_targets(), country=country), headers)
        assert refused["slaPolicyPublish"]["__typename"] == "ForbiddenError", refused
    parties = await api.gql(READ, {"c": "MX", "k": "DISPUTE"}, api.bearer(Role.BUYER))
    assert parties["slaPolicy"]["__typename"] == "ForbiddenError"

    denials = [
        (d["actor_role"], d["country_code"], d["target_type"], d["target_id"]) for d in await api.denials()
    ]
    assert denials == [
        ("L2", "MX", "sla_policy", "MX/DIAGNOSTICS"),
        ("AUDITOR", "MX", "sla_policy", "MX/DIAGNOSTICS"),
        ("L3", "CO", "sla_policy", "CO/DIAGNOSTICS"),
        ("BUYER", "MX", "query", "slaPolicy"),
    ]
    assert await published_count(api) == 0
    read = await api.gql(READ, {"c": "MX", "k": "DIAGNOSTICS"}, api.bearer(Role.L3))
    assert read["slaPolicy"]["version"] == 1


async def test_invalid_targets_name_the_field_and_publish_nothing(api: Api) -> None:
    l3 = api.bearer(Role.L3)
    cases: list[tuple[list[dict[str, Any]], str]] = [
        (diagnostics_targets()[:-1], "targets"),
        ([*minutes("SEV0", 5, 30, 15), *diagnostics_targets()], "targets[0].severity"),
        ([{**diagnostics_targets()[0], "seconds": 0}, *diagnostics_targets()[1:]], "targets[0].seconds"),
        (
            [{**diagnostics_targets()[0], "seconds": 31 * 86_400}, *diagnostics_targets()[1:]],
            "targets[0].seconds",
        ),
        (
            [
                *diagnostics_targets()[:7],
                {**diagnostics_targets()[7], "businessDays": 31},
                diagnostics_targets()[8],
            ],
            "targets[7].businessDays",
        ),
        ([*diagnostics_targets(), diagnostics_targets()[0]], "targets[9]"),
        (diagnostics_targets() * 3, "targets"),  # 27 items: over the size limit
    ]
    for targets, field in cases:
        answer = (await api.gql(PUBLISH, publish_input(targets), l3))["slaPolicyPublish"]
        assert (answer["__typename"], answer["field"]) == ("InvalidInputError", field), answer
    assert await published_count(api) == 0
    read = await api.gql(READ, {"c": "MX", "k": "DIAGNOSTICS"}, l3)
    assert read["slaPolicy"]["version"] == 1

"""The incident actions' dispatch jobs and the worker's handler for them (D72)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from returns.result import Failure

from application.cases.dispatch import (
    DISPATCH_JOB_KIND,
    DISPATCH_PROVIDER,
    DispatchTemplate,
    dispatch_jobs,
    order_dispatch_job,
    redispatch_notices,
    replacement_notices,
)
from application.ports.providers import ProviderError, ProviderFailureKind
from domain.orders import OrderStatus
from tests.unit.application.messaging.test_notifications import RecordingNotifier, as_job
from tests.unit.domain.messaging.builders import T0
from tests.unit.domain.orders.factories import new_order, order_in


@dataclass
class _Providers:
    notifications: RecordingNotifier


def test_retry_reaches_the_seller_and_the_courier_when_there_is_one() -> None:
    assert [
        (n.role, n.recipient_id, n.template) for n in redispatch_notices(order_in(OrderStatus.IN_TRANSIT))
    ] == [
        ("SELLER", "sel_1", DispatchTemplate.REDISPATCH),
        ("COURIER", "cou_1", DispatchTemplate.REDISPATCH),
    ]
    assert [n.role for n in redispatch_notices(new_order(courier_id=None))] == ["SELLER"]


def test_a_replacement_tells_the_new_party_and_the_replaced_one() -> None:
    assert [(n.recipient_id, n.template) for n in replacement_notices("COURIER", "cou_1", "cou_2")] == [
        ("cou_2", DispatchTemplate.ASSIGNED),
        ("cou_1", DispatchTemplate.UNASSIGNED),
    ]
    assert [n.recipient_id for n in replacement_notices("COURIER", None, "cou_2")] == ["cou_2"]


def test_each_action_entry_and_recipient_has_its_own_key() -> None:
    order = order_in(OrderStatus.IN_TRANSIT)
    first = dispatch_jobs(order, case_id="cas_1", sequence=3, notices=redispatch_notices(order), now=T0)
    second = dispatch_jobs(order, case_id="cas_1", sequence=4, notices=redispatch_notices(order), now=T0)
    keys = [job.idempotency_key for job in first + second]
    assert len(set(keys)) == 4
    assert first[0].idempotency_key == "case:cas_1:3:dispatch:SELLER:sel_1"
    assert {(job.kind, job.provider, job.reference) for job in first} == {
        (DISPATCH_JOB_KIND, DISPATCH_PROVIDER, "order:ord_1")
    }


async def test_the_handler_notifies_the_party_under_the_jobs_key() -> None:
    order = order_in(OrderStatus.IN_TRANSIT)
    (job,) = dispatch_jobs(
        order, case_id="cas_1", sequence=2, notices=replacement_notices("COURIER", None, "cou_2"), now=T0
    )
    notifier = RecordingNotifier()
    receipt = (await order_dispatch_job(as_job(job), _Providers(notifier))).unwrap()
    assert notifier.calls == [(job.idempotency_key, "COURIER", "cou_2", "order.assigned")]
    assert receipt.idempotency_key == job.idempotency_key


@pytest.mark.parametrize(
    "broken",
    [
        {"recipient_role": "BUYER"},
        {"recipient_id": ""},
        {"recipient_id": 7},
        {"template": "conversation.new_message"},
    ],
)
async def test_a_malformed_job_fails_for_good_and_notifies_nobody(broken: dict[str, object]) -> None:
    order = order_in(OrderStatus.IN_TRANSIT)
    (job, _) = dispatch_jobs(order, case_id="cas_1", sequence=2, notices=redispatch_notices(order), now=T0)
    notifier = RecordingNotifier()
    result = await order_dispatch_job(
        as_job(replace(job, payload={**job.payload, **broken})), _Providers(notifier)
    )
    assert isinstance(result, Failure)
    error = result.failure()
    assert isinstance(error, ProviderError) and error.kind is ProviderFailureKind.PERMANENT
    assert notifier.calls == []


async def test_another_kind_is_refused() -> None:
    order = order_in(OrderStatus.IN_TRANSIT)
    (job, _) = dispatch_jobs(order, case_id="cas_1", sequence=2, notices=redispatch_notices(order), now=T0)
    result = await order_dispatch_job(
        as_job(replace(job, kind="conversation.notify")), _Providers(RecordingNotifier())
    )
    assert isinstance(result.failure(), ProviderError)

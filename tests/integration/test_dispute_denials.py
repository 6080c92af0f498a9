"""A party's mutation on another party's order or dispute (D17, D135), through the use cases.

Opening a dispute, submitting evidence (a statement or an uploaded file), uploading an
evidence file and withdrawing, each by a party that is not the order's: answered
``NOT_FOUND`` exactly like an id that does not exist (no existence oracle), with exactly one
``access.denied`` entry (operation, country, reason, target), written although the use
case's own transaction was not committed, and nothing else changed. A missing id is plain
``NOT_FOUND`` and not audited.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from returns.result import Failure

from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWork
from adapters.providers.evidence_storage import SandboxEvidenceStorage
from application.audit.denials import DENIAL_ACTION, HIDDEN
from application.context import RequestContext, Services
from application.disputes.evidence_files import UploadEvidenceFile, upload_evidence_file
from application.disputes.evidence_storage import EvidenceFileServices
from application.disputes.use_cases import (
    OpenDispute,
    SubmitEvidence,
    WithdrawDispute,
    open_dispute,
    submit_evidence,
    withdraw_dispute,
)
from application.errors import NotFound
from application.security.principal import Operation, Role
from domain.audit import AuditEntry
from domain.disputes import Dispute
from domain.disputes.codes import DisputeReason
from domain.ledger import Account
from domain.orders import OrderStatus
from domain.shared.ids import DisputeId, OrderId
from tests.fakes.time_and_ids import FixedClock, SequentialIds
from tests.fakes.tracking import FakeTracking
from tests.integration.scenario import MX, MXN, add_policy, ctx, delivered_order

BUYER = ctx(Role.BUYER, "buy_1")  # the buyer of every order here (``delivered_order``)
OTHER_BUYER = ctx(Role.BUYER, "buy_2")
OTHER_SELLER = ctx(Role.SELLER, "sel_2")
JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF\x00" + bytes(range(64))


@pytest.fixture
async def svc(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> Services:
    services = Services(uow=uow_factory, clock=FixedClock(), ids=SequentialIds(), tracking=FakeTracking())
    await add_policy(services)
    return services


@pytest.fixture
def files(svc: Services, tmp_path: Path) -> EvidenceFileServices:
    return EvidenceFileServices(svc, SandboxEvidenceStorage(root=tmp_path / "evidence"))


async def entries(svc: Services) -> list[AuditEntry]:
    async with svc.uow() as uow:
        return [e async for e in uow.audit.entries() if isinstance(e, AuditEntry)]


async def state(svc: Services, order_id: str) -> tuple[object, ...]:
    """Everything a refused mutation could have touched: the order, its disputes and their
    evidence, and its escrow."""
    async with svc.uow() as uow:
        order = await uow.orders.get(MX, OrderId(order_id))
        disputes = await uow.disputes.for_order(MX, OrderId(order_id))
        escrow = await uow.ledger.balance(MX, Account.escrow(order_id), MXN)
    assert order is not None
    return (
        order.status,
        order.version,
        [(d.id, d.status, d.version, len(d.evidence.submissions)) for d in disputes],
        escrow.normal.minor,
    )


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def opened_dispute(svc: Services, order_id: str = "o1") -> Dispute:
    await delivered_order(svc, order_id)
    return (
        await open_dispute(svc, BUYER, OpenDispute(MX, OrderId(order_id), DisputeReason.DAMAGED, "Broken"))
    ).unwrap()


def assert_denial(
    entry: AuditEntry, who: RequestContext, operation: Operation, target: tuple[str, str]
) -> None:
    assert entry.action == DENIAL_ACTION
    assert (entry.actor_id, entry.actor_role) == (who.principal.actor_id, who.principal.role.value)
    assert entry.country == MX
    assert (entry.target_type, entry.target_id) == target
    assert entry.request_id == who.request_id
    assert entry.after is not None
    assert entry.after["operation"] == operation.value
    assert entry.after["why"] == HIDDEN
    assert entry.after["code"] == "FORBIDDEN"


async def test_opening_a_dispute_on_another_buyers_order_is_not_found_and_audited(svc: Services) -> None:
    await delivered_order(svc, "o1")
    before, audit_before = await state(svc, "o1"), await entries(svc)

    refused = await open_dispute(svc, OTHER_BUYER, OpenDispute(MX, OrderId("o1"), DisputeReason.DAMAGED, "x"))

    assert refused == Failure(NotFound("order", "o1"))
    new = (await entries(svc))[len(audit_before) :]
    assert len(new) == 1
    assert_denial(new[0], OTHER_BUYER, Operation.DISPUTE_OPEN, ("order", "o1"))
    assert await state(svc, "o1") == before  # no dispute, no case, the order still DELIVERED
    assert before[0] is OrderStatus.DELIVERED

    # an order that does not exist: the same answer, and nothing audited
    missing = await open_dispute(
        svc, OTHER_BUYER, OpenDispute(MX, OrderId("o_none"), DisputeReason.DAMAGED, "x")
    )
    assert missing == Failure(NotFound("order", "o_none"))
    assert len(await entries(svc)) == len(audit_before) + 1

    # the order's own buyer still opens it
    (await open_dispute(svc, BUYER, OpenDispute(MX, OrderId("o1"), DisputeReason.DAMAGED, "x"))).unwrap()
    assert (await state(svc, "o1"))[0] is OrderStatus.DISPUTED


@pytest.mark.parametrize("who", [OTHER_BUYER, OTHER_SELLER], ids=["other-buyer", "other-seller"])
async def test_submitting_evidence_on_another_partys_dispute_is_not_found_and_audited(
    svc: Services, files: EvidenceFileServices, who: RequestContext
) -> None:
    dispute = await opened_dispute(svc)
    photo = (await upload_evidence_file(files, BUYER, UploadEvidenceFile(MX, dispute.id, JPEG))).unwrap()
    before, audit_before = await state(svc, "o1"), await entries(svc)

    statement = await submit_evidence(svc, who, SubmitEvidence(MX, dispute.id, statement="Not broken"))
    by_file = await submit_evidence(
        svc, who, SubmitEvidence(MX, dispute.id, content_sha256=photo.sha256, filename="a.jpg"), files.storage
    )

    assert statement == by_file == Failure(NotFound("dispute", dispute.id))
    new = (await entries(svc))[len(audit_before) :]
    assert len(new) == 2  # one per refused call; the file's party check answers before the storage
    for entry in new:
        assert_denial(entry, who, Operation.DISPUTE_SUBMIT_EVIDENCE, ("dispute", dispute.id))
    assert await state(svc, "o1") == before

    unknown = DisputeId("dsp_none")
    missing = await submit_evidence(svc, who, SubmitEvidence(MX, unknown, statement="x"))
    assert missing == Failure(NotFound("dispute", unknown))
    assert len([e for e in await entries(svc) if e.action == DENIAL_ACTION]) == 2


async def test_withdrawing_another_buyers_dispute_is_not_found_and_audited(svc: Services) -> None:
    dispute = await opened_dispute(svc)
    before, audit_before = await state(svc, "o1"), await entries(svc)

    refused = await withdraw_dispute(svc, OTHER_BUYER, WithdrawDispute(MX, dispute.id, "changed my mind"))

    assert refused == Failure(NotFound("dispute", dispute.id))
    new = (await entries(svc))[len(audit_before) :]
    assert len(new) == 1
    assert_denial(new[0], OTHER_BUYER, Operation.DISPUTE_WITHDRAW, ("dispute", dispute.id))
    assert await state(svc, "o1") == before  # still DISPUTED, nothing released, the dispute open

    unknown = DisputeId("dsp_none")
    missing = await withdraw_dispute(svc, OTHER_BUYER, WithdrawDispute(MX, unknown, "x"))
    assert missing == Failure(NotFound("dispute", unknown))
    assert len(await entries(svc)) == len(audit_before) + 1


async def test_uploading_a_file_to_another_partys_dispute_is_not_found_audited_and_stores_nothing(
    svc: Services, files: EvidenceFileServices, tmp_path: Path
) -> None:
    dispute = await opened_dispute(svc)
    before, audit_before = await state(svc, "o1"), await entries(svc)

    refused = await upload_evidence_file(files, OTHER_BUYER, UploadEvidenceFile(MX, dispute.id, JPEG))

    assert refused == Failure(NotFound("dispute", dispute.id))
    new = (await entries(svc))[len(audit_before) :]
    assert len(new) == 1  # the denial; no provider.call: the storage was never asked
    assert_denial(new[0], OTHER_BUYER, Operation.DISPUTE_SUBMIT_EVIDENCE, ("dispute", dispute.id))
    assert await state(svc, "o1") == before
    assert stored_files(tmp_path / "evidence") == []

    unknown = DisputeId("dsp_none")
    missing = await upload_evidence_file(files, OTHER_BUYER, UploadEvidenceFile(MX, unknown, JPEG))
    assert missing == Failure(NotFound("dispute", unknown))
    assert len(await entries(svc)) == len(audit_before) + 1

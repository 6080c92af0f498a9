"""A party's dispute mutations on another party's order over GraphQL (D17, D135).

``disputeOpen``, ``disputeEvidenceSubmit``, ``disputeEvidenceUpload`` and ``disputeWithdraw``
by a buyer who is not the order's answer ``NotFoundError`` - the very answer an id that does
not exist gets, so nothing tells the two apart - and each writes one ``access.denied`` entry
in the order's country; the missing id writes none, and neither changes anything.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text

from application.audit.denials import HIDDEN
from application.security.principal import Role
from tests.integration.api.conftest import JPEG_BYTES, MX, Api, upload_evidence
from tests.integration.api.test_mutations import EVIDENCE, OPEN, WITHDRAW, result


def same_answer(hidden: dict[str, Any], missing: dict[str, Any], hidden_id: str, missing_id: str) -> bool:
    """The two answers are equal but for the id the caller sent."""
    return {**hidden, "message": hidden["message"].replace(hidden_id, "<id>")} == {
        **missing,
        "message": missing["message"].replace(missing_id, "<id>"),
    }


async def denied(api: Api) -> list[tuple[str, str]]:
    """Each ``access.denied`` entry's operation and reason, in order."""
    async with api.owner.connect() as connection:
        rows = await connection.execute(
            text("SELECT after_state FROM audit_log WHERE action = 'access.denied' ORDER BY sequence")
        )
        documents = [json.loads(v) if isinstance(v, str) else v for (v,) in rows]
    return [(d["operation"], d["why"]) for d in documents]


def stored_files(api: Api) -> list[str]:
    root = api.settings.blob_dir / "evidence"
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def unchanged(api: Api, dispute_id: str) -> tuple[Any, ...]:
    return (
        await api.scalar("SELECT status FROM orders WHERE id = 'ord_1'"),
        await api.scalar("SELECT version FROM disputes WHERE id = :d", d=dispute_id),
        await api.scalar("SELECT COUNT(*) FROM disputes"),
        await api.scalar("SELECT COUNT(*) FROM ledger_transactions"),
    )


async def test_a_buyer_opening_a_dispute_on_another_buyers_order(api: Api) -> None:
    await api.order("ord_1", buyer="buy_1")
    stranger = api.bearer(Role.BUYER, subject="buy_2")
    audit_before = await api.audit_count()

    def opening(order_id: str) -> dict[str, Any]:
        return {"input": {"countryCode": "MX", "orderId": order_id, "reason": "DAMAGED", "statement": "x"}}

    hidden = result(await api.gql(OPEN, opening("ord_1"), stranger))
    assert (hidden["__typename"], hidden["code"]) == ("NotFoundError", "NOT_FOUND")
    denials = await api.denials()
    assert [
        (d["actor_id"], d["actor_role"], d["country_code"], d["target_type"], d["target_id"]) for d in denials
    ] == [("buy_2", "BUYER", MX.value, "order", "ord_1")]
    assert await denied(api) == [("dispute.open", HIDDEN)]
    assert await api.audit_count() == audit_before + 1
    assert await api.scalar("SELECT COUNT(*) FROM disputes") == 0
    assert await api.scalar("SELECT status FROM orders WHERE id = 'ord_1'") == "DELIVERED"

    missing = result(await api.gql(OPEN, opening("ord_9"), stranger))
    assert same_answer(hidden, missing, "ord_1", "ord_9")
    assert await api.audit_count() == audit_before + 1


async def test_a_buyer_submitting_uploading_and_withdrawing_on_another_buyers_dispute(api: Api) -> None:
    dispute = await api.dispute("ord_1", buyer="buy_1")
    stranger = api.bearer(Role.BUYER, subject="buy_2")
    before = await unchanged(api, dispute.id)
    audit_before = await api.audit_count()
    statement = {"input": {"countryCode": "MX", "disputeId": dispute.id, "statement": "Not mine"}}
    withdrawal = {"input": {"countryCode": "MX", "disputeId": dispute.id, "reason": "Changed my mind"}}

    submitted = result(await api.gql(EVIDENCE, statement, stranger))
    uploaded = await upload_evidence(api, dispute.id, JPEG_BYTES, stranger)
    withdrawn = result(await api.gql(WITHDRAW, withdrawal, stranger))

    for answer in (submitted, uploaded, withdrawn):
        assert (answer["__typename"], answer["code"]) == ("NotFoundError", "NOT_FOUND")
    assert [
        (d["actor_id"], d["country_code"], d["target_type"], d["target_id"]) for d in await api.denials()
    ] == [("buy_2", MX.value, "dispute", dispute.id)] * 3
    assert await denied(api) == [
        ("dispute.submit_evidence", HIDDEN),
        ("dispute.submit_evidence", HIDDEN),  # the upload is checked as a submission
        ("dispute.withdraw", HIDDEN),
    ]
    assert await api.audit_count() == audit_before + 3  # the denials only: no provider.call either
    assert await unchanged(api, dispute.id) == before
    assert stored_files(api) == []

    # an id that does not exist: the same answers, nothing audited
    unknown = "dsp_none"
    statement["input"]["disputeId"] = withdrawal["input"]["disputeId"] = unknown
    missing_submit = result(await api.gql(EVIDENCE, statement, stranger))
    missing_upload = await upload_evidence(api, unknown, JPEG_BYTES, stranger)
    missing_withdraw = result(await api.gql(WITHDRAW, withdrawal, stranger))
    assert same_answer(submitted, missing_submit, dispute.id, unknown)
    assert same_answer(uploaded, missing_upload, dispute.id, unknown)
    assert same_answer(withdrawn, missing_withdraw, dispute.id, unknown)
    assert await api.audit_count() == audit_before + 3

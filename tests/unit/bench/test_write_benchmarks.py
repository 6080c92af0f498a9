"""The non-timing logic of the write benchmarks (resolve, hot-account, outbox-drain):
statement templating for pgbench, the ledger invariant checker, the seeded rows, the jobs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bench.dispute_seed import DisputeSpec, rows_for
from bench.hot_account import SPREAD_COUNTRIES, check_ledger, specs
from bench.outbox_drain import CONTESTANTS, NOOP_KIND, drain_seconds, outbox_rows, rotation
from bench.statements import BEGIN, COMMIT, Statement, Step, inline, pgbench_script, sql_literal, transactions

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_literals_are_quoted_postgresql_literals() -> None:
    assert sql_literal(None) == "NULL"
    assert sql_literal(True) == "true"
    assert sql_literal(42) == "42"
    assert sql_literal("it's") == "'it''s'"
    assert sql_literal({"a": [1, "x"]}) == """'{"a":[1,"x"]}'"""
    assert sql_literal(NOW) == "'2026-03-02T12:00:00+00:00'"
    assert sql_literal(b"\x01\xff") == "'\\x01ff'::bytea"
    with pytest.raises(TypeError):
        sql_literal(object())


def test_inline_replaces_every_placeholder_including_two_digit_ones() -> None:
    sql = "SELECT " + ", ".join(f"${n}" for n in range(1, 12))
    rendered = inline(sql, [str(n) for n in range(1, 12)], {11: "eleven"})
    assert rendered == "SELECT '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', eleven"


SAMPLE: list[Step] = [
    BEGIN,
    Statement("SELECT set_config($1::VARCHAR, $2::VARCHAR, true)", ("supportos.countries", "MX")),
    Statement(
        "UPDATE disputes SET status=$1::VARCHAR WHERE disputes.id = $2::VARCHAR AND order_id = $3",
        ("DECIDED", "dsp_sample", "ord_sample"),
    ),
    Statement("SELECT sequence, entry_hash FROM audit_log_locked_tail()", ()),
    Statement(
        "INSERT INTO audit_log (sequence, country_code, target_id, occurred_at, previous_hash, entry_hash)"
        " VALUES ($1::BIGINT, $2::VARCHAR, $3::VARCHAR, $4, $5::VARCHAR, $6::VARCHAR)",
        (41, "MX", "dsp_sample", NOW, "a" * 64, "b" * 64),
    ),
    COMMIT,
]


def test_a_recorded_request_becomes_a_pgbench_script_on_fresh_ids_and_a_valid_chain() -> None:
    script = pgbench_script(
        SAMPLE, sequence="seq_n", substitutions={"dsp_sample": "dsp_p:n", "ord_sample": "ord_p:n"}
    ).splitlines()
    assert script[0] == "SELECT nextval('seq_n') AS n \\gset"
    assert script[1] == "BEGIN;"
    assert script[-1] == "COMMIT;"
    assert script[3] == (
        "UPDATE disputes SET status='DECIDED'::VARCHAR WHERE disputes.id = 'dsp_p:n'::VARCHAR"
        " AND order_id = 'ord_p:n';"
    )
    assert script[4] == "SELECT sequence, entry_hash FROM audit_log_locked_tail() \\gset tail_"
    audit = script[5]
    assert "VALUES (:tail_sequence + 1::BIGINT, 'MX'::VARCHAR, 'dsp_p:n'::VARCHAR" in audit
    assert "':tail_entry_hash'::VARCHAR" in audit
    assert "encode(sha256(convert_to(':tail_entry_hash' || ':n', 'UTF8')), 'hex')" in audit
    assert "a" * 64 not in audit and "b" * 64 not in audit  # the sample's hashes are not replayed
    assert transactions(SAMPLE) == 1


def test_a_sample_whose_literals_already_use_a_script_variable_is_refused() -> None:
    clash: list[Step] = [BEGIN, Statement("SELECT $1::VARCHAR", ("note :n here",)), COMMIT]
    with pytest.raises(ValueError, match=":n"):
        pgbench_script(clash, sequence="s", substitutions={})


def test_the_ledger_checker_accepts_balanced_books_and_names_each_broken_invariant() -> None:
    capture = [(1, "MX", "MXN", "psp:clearing", 123_000), (1, "MX", "MXN", "escrow:order:o1", -123_000)]
    release = [(2, "MX", "MXN", "escrow:order:o1", 123_000), (2, "MX", "MXN", "seller:payable:s", -123_000)]
    good = check_ledger(capture + release)
    assert good.hold
    assert good.transactions == 2

    overdrawn = check_ledger([*capture, *release, *release])
    assert overdrawn.negative_escrows == {("MX", "escrow:order:o1"): -123_000}
    assert overdrawn.unbalanced == [] and overdrawn.nonzero_books == {}

    lopsided = check_ledger([*capture, (3, "CO", "COP", "psp:clearing", 5)])
    assert lopsided.unbalanced == [3]
    assert lopsided.nonzero_books == {("CO", "COP"): 5}
    assert not lopsided.hold
    assert "INVARIANTS BROKEN" in lopsided.report()


def test_hot_disputes_share_their_accounts_and_spread_ones_do_not() -> None:
    hot = specs("hot", 0, 40)
    spread = specs("spread", 0, 40)
    assert {(s.country, s.seller, s.buyer) for s in hot} == {("MX", "sel_hot", "buy_hot")}
    assert {s.country for s in spread} == set(SPREAD_COUNTRIES)
    assert len({s.seller for s in spread}) == 40
    assert not {s.key for s in hot} & {s.key for s in spread}


def test_seeded_rows_capture_every_order_into_its_escrow() -> None:
    batch = [DisputeSpec("a1"), DisputeSpec("a2", "CO", "COP", buyer="b2", seller="s2")]
    rows = rows_for(batch, start=NOW)
    assert [r["status"] for r in rows["orders"]] == ["DISPUTED", "DISPUTED"]
    assert [r["status"] for r in rows["disputes"]] == ["UNDER_REVIEW", "UNDER_REVIEW"]
    assert [t["idempotency_key"] for t in rows["transactions"]] == [
        "order:ord_a1/capture",
        "order:ord_a2/capture",
    ]
    by_key: dict[str, int] = {}
    for posting in rows["postings"]:
        by_key[posting["transaction_key"]] = (
            by_key.get(posting["transaction_key"], 0) + posting["signed_minor"]
        )
    assert by_key == {"order:ord_a1/capture": 0, "order:ord_a2/capture": 0}
    escrows = {p["account"]: p["signed_minor"] for p in rows["postings"] if p["account"].startswith("escrow")}
    assert escrows == {"escrow:order:ord_a1": -123_000, "escrow:order:ord_a2": -123_000}


def test_no_op_jobs_are_due_pending_and_unique_per_round() -> None:
    first = outbox_rows(0, 50, now=NOW)
    second = outbox_rows(1, 50, now=NOW)
    keys = {r["idempotency_key"] for r in first + second}
    assert len(keys) == 100
    assert {(r["kind"], r["status"], r["attempts"]) for r in first} == {(NOOP_KIND, "PENDING", 0)}
    assert all(r["available_at"] < NOW for r in first)


def test_drain_time_runs_from_the_first_start_to_the_last_end_and_the_order_rotates() -> None:
    timings = [{"start": 10.0, "end": 14.5}, {"start": 10.2, "end": 15.0}]
    assert drain_seconds(timings) == pytest.approx(5.0)
    orders = [rotation(r) for r in range(len(CONTESTANTS))]
    assert all(sorted(o) == sorted(CONTESTANTS) for o in orders)
    assert len({o[0] for o in orders}) == len(CONTESTANTS)

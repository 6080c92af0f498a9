"""Cases (SPEC §6, §10): cases, their SLA clocks, their append-only timeline, SLA policies.

- ``cases``: one row per case (kind, severity, tier, status, who and when, resolution,
  rating, ``breaches``) with the optimistic ``version`` and ``next_deadline`` (the nearest
  deadline of a running clock: the work queue's sort key, ``NULL`` when none runs).
  ``(country_code, next_deadline, id)`` serves the queue and its cursor;
  ``(country_code, order_id)`` and ``(country_code, kind, subject_ref)`` find a subject's
  cases.
- ``case_clocks``: one row per case and clock (ACKNOWLEDGE, MITIGATE, STATUS_UPDATE) with
  its target (a JSON document), state, deadline or (paused) the time it had left, and
  ``due_at``: the deadline while the clock runs unbreached, else ``NULL``. The partial
  index ``ix_case_clocks_due_at`` (``WHERE due_at IS NOT NULL``) holds only running
  clocks, so the SLA scheduler's "what is due" is one range scan across countries
  (it is the system's query, not a request's: it does not start with ``country_code``).
- ``case_timeline``: append-only (WORM): UPDATE and DELETE (and TRUNCATE on PostgreSQL)
  are refused by triggers, as on ``messages`` (0010); the service's role may SELECT and
  INSERT only. Primary key ``(country_code, case_id, sequence)``.
- ``sla_policies``: versioned policy documents per country and case kind (inserted,
  never edited: SELECT and INSERT only); version 1 is built in until one is stored.
- Row-level security by country on all four (``apply_country_rls``; a no-op on SQLite).

Revision ID: 0011_cases
Revises: 0010_conversations
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from adapters.persistence.row_level_security import apply_country_rls, remove_country_rls

revision: str = "0011_cases"
down_revision: str | Sequence[str] | None = "0010_conversations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 200
ROLE = 32
STATUS = 32
MESSAGE = "case_timeline is append-only (WORM)"
DUE_PREDICATE = "due_at IS NOT NULL"

SQLITE_UP = [
    f"""
    CREATE TRIGGER case_timeline_refuse_update BEFORE UPDATE ON case_timeline
    BEGIN
        SELECT RAISE(ABORT, '{MESSAGE}: UPDATE refused');
    END
    """,
    f"""
    CREATE TRIGGER case_timeline_refuse_delete BEFORE DELETE ON case_timeline
    BEGIN
        SELECT RAISE(ABORT, '{MESSAGE}: DELETE refused');
    END
    """,
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS case_timeline_refuse_delete",
    "DROP TRIGGER IF EXISTS case_timeline_refuse_update",
]
POSTGRES_UP = [
    f"""
    CREATE FUNCTION case_timeline_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE}: % refused', TG_OP USING ERRCODE = 'restrict_violation';
    END
    $$
    """,
    """
    CREATE TRIGGER case_timeline_refuse_update_delete BEFORE UPDATE OR DELETE ON case_timeline
    FOR EACH ROW EXECUTE FUNCTION case_timeline_refuse_change()
    """,
    """
    CREATE TRIGGER case_timeline_refuse_truncate BEFORE TRUNCATE ON case_timeline
    FOR EACH STATEMENT EXECUTE FUNCTION case_timeline_refuse_change()
    """,
]
POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS case_timeline_refuse_truncate ON case_timeline",
    "DROP TRIGGER IF EXISTS case_timeline_refuse_update_delete ON case_timeline",
    "DROP FUNCTION IF EXISTS case_timeline_refuse_change()",
]


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def _worm(up: bool) -> list[str]:
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        return SQLITE_UP if up else SQLITE_DOWN
    if dialect == "postgresql":
        return POSTGRES_UP if up else POSTGRES_DOWN
    raise NotImplementedError(f"no WORM guard for {dialect}")


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("id", sa.String(length=ID), nullable=False),
        sa.Column("kind", sa.String(length=STATUS), nullable=False),
        sa.Column("severity", sa.String(length=STATUS), nullable=False),
        sa.Column("tier", sa.String(length=STATUS), nullable=False),
        sa.Column("status", sa.String(length=STATUS), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by_id", sa.String(length=ID), nullable=False),
        sa.Column("opened_by_role", sa.String(length=ROLE), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("assignee", sa.String(length=ID), nullable=True),
        sa.Column("order_id", sa.String(length=ID), nullable=True),
        sa.Column("subject_ref", sa.String(length=ID), nullable=True),
        sa.Column("incident_type", sa.String(length=STATUS), nullable=True),
        sa.Column("status_before_wait", sa.String(length=STATUS), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mitigated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_tier", sa.String(length=STATUS), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("breaches", sa.Integer(), nullable=False),
        sa.Column("rating_score", sa.Integer(), nullable=True),
        sa.Column("rating_comment", sa.Text(), nullable=True),
        sa.Column("rated_by_id", sa.String(length=ID), nullable=True),
        sa.Column("rated_by_role", sa.String(length=ROLE), nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_cases_version_positive")),
        sa.CheckConstraint("breaches >= 0", name=op.f("ck_cases_breaches_not_negative")),
        sa.CheckConstraint(
            "rating_score IS NULL OR rating_score BETWEEN 1 AND 5", name=op.f("ck_cases_rating_score_range")
        ),
        sa.PrimaryKeyConstraint("country_code", "id", name=op.f("pk_cases")),
    )
    op.create_index(
        "ix_cases_country_code_next_deadline_id", "cases", ["country_code", "next_deadline", "id"]
    )
    op.create_index("ix_cases_country_code_order_id", "cases", ["country_code", "order_id"])
    op.create_index(
        "ix_cases_country_code_kind_subject_ref", "cases", ["country_code", "kind", "subject_ref"]
    )
    op.create_index(
        "ix_cases_country_code_status_opened_at", "cases", ["country_code", "status", "opened_at"]
    )
    op.create_table(
        "case_clocks",
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("case_id", sa.String(length=ID), nullable=False),
        sa.Column("clock", sa.String(length=STATUS), nullable=False),
        sa.Column("state", sa.String(length=STATUS), nullable=False),
        sa.Column("target", _json(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("remaining_microseconds", sa.BigInteger(), nullable=True),
        sa.Column("breached_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('RUNNING', 'PAUSED', 'BREACHED', 'STOPPED')", name=op.f("ck_case_clocks_state_known")
        ),
        sa.CheckConstraint(
            "(state = 'RUNNING') = (due_at IS NOT NULL)", name=op.f("ck_case_clocks_due_only_while_running")
        ),
        sa.CheckConstraint(
            "remaining_microseconds IS NULL OR remaining_microseconds >= 0",
            name=op.f("ck_case_clocks_remaining_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["country_code", "case_id"],
            ["cases.country_code", "cases.id"],
            name=op.f("fk_case_clocks_country_code_case_id_cases"),
        ),
        sa.PrimaryKeyConstraint("country_code", "case_id", "clock", name=op.f("pk_case_clocks")),
    )
    op.create_index(
        "ix_case_clocks_due_at",
        "case_clocks",
        ["due_at"],
        sqlite_where=sa.text(DUE_PREDICATE),
        postgresql_where=sa.text(DUE_PREDICATE),
    )
    op.create_table(
        "case_timeline",
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("case_id", sa.String(length=ID), nullable=False),
        sa.Column("sequence", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=STATUS), nullable=False),
        sa.Column("actor_id", sa.String(length=ID), nullable=False),
        sa.Column("actor_role", sa.String(length=ROLE), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("data", _json(), nullable=False),
        sa.CheckConstraint("sequence >= 1", name=op.f("ck_case_timeline_sequence_positive")),
        sa.ForeignKeyConstraint(
            ["country_code", "case_id"],
            ["cases.country_code", "cases.id"],
            name=op.f("fk_case_timeline_country_code_case_id_cases"),
        ),
        sa.PrimaryKeyConstraint("country_code", "case_id", "sequence", name=op.f("pk_case_timeline")),
    )
    op.create_index("ix_case_timeline_country_code_kind_at", "case_timeline", ["country_code", "kind", "at"])
    op.create_table(
        "sla_policies",
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("case_kind", sa.String(length=STATUS), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("document", _json(), nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_sla_policies_version_positive")),
        sa.PrimaryKeyConstraint("country_code", "case_kind", "version", name=op.f("pk_sla_policies")),
    )
    for statement in _worm(up=True):
        op.execute(statement)
    apply_country_rls(op, "cases")
    apply_country_rls(op, "case_clocks")
    apply_country_rls(op, "case_timeline", append_only=True)
    apply_country_rls(op, "sla_policies", append_only=True)


def downgrade() -> None:
    remove_country_rls(op, "sla_policies")
    remove_country_rls(op, "case_timeline")
    remove_country_rls(op, "case_clocks")
    remove_country_rls(op, "cases")
    for statement in _worm(up=False):
        op.execute(statement)
    op.drop_table("sla_policies")
    op.drop_index("ix_case_timeline_country_code_kind_at", table_name="case_timeline")
    op.drop_table("case_timeline")
    op.drop_index("ix_case_clocks_due_at", table_name="case_clocks")
    op.drop_table("case_clocks")
    op.drop_index("ix_cases_country_code_status_opened_at", table_name="cases")
    op.drop_index("ix_cases_country_code_kind_subject_ref", table_name="cases")
    op.drop_index("ix_cases_country_code_order_id", table_name="cases")
    op.drop_index("ix_cases_country_code_next_deadline_id", table_name="cases")
    op.drop_table("cases")

"""Platform incidents (SPEC §6, D46): incidents, their links, status updates, timeline, reviews.

- ``platform_incidents``: one row per incident (severity, title, status, who and when,
  root cause, action items as a JSON list, the optimistic ``version``), the id of its
  ``PLATFORM_INCIDENT`` case (foreign key to ``cases``), ``update_due_at`` (the case's
  status-update deadline while live), ``reminded_for`` and ``reminder_due_at``: the update
  deadline while the incident is live and not yet reminded about it, else ``NULL``. The
  partial index ``ix_platform_incidents_reminder_due_at`` (``WHERE reminder_due_at IS NOT
  NULL``) is the reminder task's work list across countries (the system's query, not a
  request's); ``(country_code, status, opened_at)`` serves listings.
- ``platform_incident_links``: the affected orders and cases, primary key
  ``(country_code, incident_id, kind, ref)``; ``(country_code, kind, ref)`` finds the
  incidents of an order or a case.
- ``platform_incident_updates`` and ``platform_incident_timeline``: append-only (the
  service's role may SELECT and INSERT only).
- ``platform_incident_reviews``: the Markdown review written at close with its impact
  figures (``refunded``/``credited``: ``{currency: minor units}``), one per incident,
  inserted once (SELECT and INSERT only).
- Row-level security by country on all five (``apply_country_rls``; a no-op on SQLite).

Revision ID: 0012_platform_incidents
Revises: 0011_cases
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from adapters.persistence.row_level_security import apply_country_rls, remove_country_rls

revision: str = "0012_platform_incidents"
down_revision: str | Sequence[str] | None = "0011_cases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 200
ROLE = 32
STATUS = 32
REMINDER_DUE_PREDICATE = "reminder_due_at IS NOT NULL"


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def _incident_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["country_code", "incident_id"],
        ["platform_incidents.country_code", "platform_incidents.id"],
        name=op.f(f"fk_{table}_country_code_incident_id_platform_incidents"),
    )


def upgrade() -> None:
    op.create_table(
        "platform_incidents",
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("id", sa.String(length=ID), nullable=False),
        sa.Column("case_id", sa.String(length=ID), nullable=False),
        sa.Column("severity", sa.String(length=STATUS), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=STATUS), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by_id", sa.String(length=ID), nullable=False),
        sa.Column("opened_by_role", sa.String(length=ROLE), nullable=False),
        sa.Column("update_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminder_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("mitigated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by_id", sa.String(length=ID), nullable=True),
        sa.Column("closed_by_role", sa.String(length=ROLE), nullable=True),
        sa.Column("root_cause", sa.Text(), nullable=True),
        sa.Column("action_items", _json(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('OPEN', 'MITIGATED', 'RESOLVED', 'CLOSED')",
            name=op.f("ck_platform_incidents_status_known"),
        ),
        sa.CheckConstraint(
            "(status = 'CLOSED') = (closed_at IS NOT NULL)",
            name=op.f("ck_platform_incidents_closed_has_time"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_platform_incidents_version_positive")),
        sa.ForeignKeyConstraint(
            ["country_code", "case_id"],
            ["cases.country_code", "cases.id"],
            name=op.f("fk_platform_incidents_country_code_case_id_cases"),
        ),
        sa.PrimaryKeyConstraint("country_code", "id", name=op.f("pk_platform_incidents")),
    )
    op.create_index(
        "ix_platform_incidents_country_code_status_opened_at",
        "platform_incidents",
        ["country_code", "status", "opened_at"],
    )
    op.create_index(
        "ix_platform_incidents_reminder_due_at",
        "platform_incidents",
        ["reminder_due_at"],
        sqlite_where=sa.text(REMINDER_DUE_PREDICATE),
        postgresql_where=sa.text(REMINDER_DUE_PREDICATE),
    )
    op.create_table(
        "platform_incident_links",
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("incident_id", sa.String(length=ID), nullable=False),
        sa.Column("kind", sa.String(length=STATUS), nullable=False),
        sa.Column("ref", sa.String(length=ID), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("linked_by_id", sa.String(length=ID), nullable=False),
        sa.Column("linked_by_role", sa.String(length=ROLE), nullable=False),
        sa.CheckConstraint("kind IN ('ORDER', 'CASE')", name=op.f("ck_platform_incident_links_kind_known")),
        _incident_fk("platform_incident_links"),
        sa.PrimaryKeyConstraint(
            "country_code", "incident_id", "kind", "ref", name=op.f("pk_platform_incident_links")
        ),
    )
    op.create_index(
        "ix_platform_incident_links_country_code_kind_ref",
        "platform_incident_links",
        ["country_code", "kind", "ref"],
    )
    op.create_table(
        "platform_incident_updates",
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("incident_id", sa.String(length=ID), nullable=False),
        sa.Column("sequence", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author_id", sa.String(length=ID), nullable=False),
        sa.Column("author_role", sa.String(length=ROLE), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=STATUS), nullable=False),
        sa.CheckConstraint("sequence >= 1", name=op.f("ck_platform_incident_updates_sequence_positive")),
        _incident_fk("platform_incident_updates"),
        sa.PrimaryKeyConstraint(
            "country_code", "incident_id", "sequence", name=op.f("pk_platform_incident_updates")
        ),
    )
    op.create_table(
        "platform_incident_timeline",
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("incident_id", sa.String(length=ID), nullable=False),
        sa.Column("sequence", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=STATUS), nullable=False),
        sa.Column("actor_id", sa.String(length=ID), nullable=False),
        sa.Column("actor_role", sa.String(length=ROLE), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("data", _json(), nullable=False),
        sa.CheckConstraint("sequence >= 1", name=op.f("ck_platform_incident_timeline_sequence_positive")),
        _incident_fk("platform_incident_timeline"),
        sa.PrimaryKeyConstraint(
            "country_code", "incident_id", "sequence", name=op.f("pk_platform_incident_timeline")
        ),
    )
    op.create_table(
        "platform_incident_reviews",
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("incident_id", sa.String(length=ID), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("written_by_id", sa.String(length=ID), nullable=False),
        sa.Column("written_by_role", sa.String(length=ROLE), nullable=False),
        sa.Column("markdown", sa.Text(), nullable=False),
        sa.Column("orders_affected", sa.Integer(), nullable=False),
        sa.Column("cases_affected", sa.Integer(), nullable=False),
        sa.Column("disputes", sa.Integer(), nullable=False),
        sa.Column("refunded", _json(), nullable=False),
        sa.Column("credited", _json(), nullable=False),
        sa.CheckConstraint(
            "orders_affected >= 0 AND cases_affected >= 0 AND disputes >= 0",
            name=op.f("ck_platform_incident_reviews_counts_not_negative"),
        ),
        _incident_fk("platform_incident_reviews"),
        sa.PrimaryKeyConstraint("country_code", "incident_id", name=op.f("pk_platform_incident_reviews")),
    )
    apply_country_rls(op, "platform_incidents")
    apply_country_rls(op, "platform_incident_links")
    apply_country_rls(op, "platform_incident_updates", append_only=True)
    apply_country_rls(op, "platform_incident_timeline", append_only=True)
    apply_country_rls(op, "platform_incident_reviews", append_only=True)


def downgrade() -> None:
    remove_country_rls(op, "platform_incident_reviews")
    remove_country_rls(op, "platform_incident_timeline")
    remove_country_rls(op, "platform_incident_updates")
    remove_country_rls(op, "platform_incident_links")
    remove_country_rls(op, "platform_incidents")
    op.drop_table("platform_incident_reviews")
    op.drop_table("platform_incident_timeline")
    op.drop_table("platform_incident_updates")
    op.drop_index("ix_platform_incident_links_country_code_kind_ref", table_name="platform_incident_links")
    op.drop_table("platform_incident_links")
    op.drop_index("ix_platform_incidents_reminder_due_at", table_name="platform_incidents")
    op.drop_index("ix_platform_incidents_country_code_status_opened_at", table_name="platform_incidents")
    op.drop_table("platform_incidents")

"""Diagnostics bundles attached to cases (SPEC §10, D48).

- ``case_bundles``: one row per bundle on a case, primary key ``(country_code, case_id,
  sha256)`` (which also serves "the bundles of a case"), the storage key of the bytes
  (``NULL`` exactly when they were not kept: no telemetry consent, D49), the file name and
  size, the verdict, the number of leaks and the inspection summary (JSON, no personal
  data values), who attached it and when. Write-once: the service's role may SELECT and
  INSERT only.
- Row-level security by country (``apply_country_rls``; a no-op on SQLite).

Revision ID: 0013_case_bundles
Revises: 0012_platform_incidents
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from adapters.persistence.row_level_security import apply_country_rls, remove_country_rls

revision: str = "0013_case_bundles"
down_revision: str | Sequence[str] | None = "0012_platform_incidents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 200
ROLE = 32
STATUS = 32
SHA256 = 64


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "case_bundles",
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("case_id", sa.String(length=ID), nullable=False),
        sa.Column("sha256", sa.String(length=SHA256), nullable=False),
        sa.Column("blob_key", sa.String(length=SHA256), nullable=True),
        sa.Column("filename", sa.String(length=ID), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("verdict", sa.String(length=STATUS), nullable=False),
        sa.Column("leak_count", sa.Integer(), nullable=False),
        sa.Column("report", _json(), nullable=False),
        sa.Column("attached_by_id", sa.String(length=ID), nullable=False),
        sa.Column("attached_by_role", sa.String(length=ROLE), nullable=False),
        sa.Column("attached_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "verdict IN ('CLEAN', 'LEAKS', 'MALFORMED', 'NO_CONSENT')",
            name=op.f("ck_case_bundles_verdict_known"),
        ),
        sa.CheckConstraint(
            "(verdict = 'NO_CONSENT') = (blob_key IS NULL)",
            name=op.f("ck_case_bundles_blob_kept_with_consent"),
        ),
        sa.CheckConstraint(
            "size_bytes >= 0 AND leak_count >= 0", name=op.f("ck_case_bundles_counts_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["country_code", "case_id"],
            ["cases.country_code", "cases.id"],
            name=op.f("fk_case_bundles_country_code_case_id_cases"),
        ),
        sa.PrimaryKeyConstraint("country_code", "case_id", "sha256", name=op.f("pk_case_bundles")),
    )
    apply_country_rls(op, "case_bundles", append_only=True)


def downgrade() -> None:
    remove_country_rls(op, "case_bundles")
    op.drop_table("case_bundles")

"""Retention purges of bundles attached to cases (SPEC §10 ``telemetry.retentionDays``, D57).

- ``case_bundle_purges``: one row per attached bundle whose retention ended, keyed like the
  bundle (``country_code, case_id, sha256``, a foreign key to ``case_bundles``): when it was
  purged, under which retention window, whether the bytes were deleted from storage
  (``bytes_deleted`` false: the same bytes are still attached to a newer case, so only this
  attachment's claim on them ended) and who ran the purge. The ``case_bundles`` row itself
  stays (write-once evidence: the verdict, leak locations, sha256); a bundle is stored
  exactly when it has a blob key and no purge row. Write-once: the service's role may
  SELECT and INSERT only.
- Row-level security by country (``apply_country_rls``; a no-op on SQLite).

Revision ID: 0015_case_bundle_purges
Revises: 0014_scale_indexes
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from adapters.persistence.row_level_security import apply_country_rls, remove_country_rls

revision: str = "0015_case_bundle_purges"
down_revision: str | Sequence[str] | None = "0014_scale_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 200
ROLE = 32
SHA256 = 64


def upgrade() -> None:
    op.create_table(
        "case_bundle_purges",
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("case_id", sa.String(length=ID), nullable=False),
        sa.Column("sha256", sa.String(length=SHA256), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("bytes_deleted", sa.Boolean(), nullable=False),
        sa.Column("purged_by_id", sa.String(length=ID), nullable=False),
        sa.Column("purged_by_role", sa.String(length=ROLE), nullable=False),
        sa.CheckConstraint("retention_days >= 0", name=op.f("ck_case_bundle_purges_retention_not_negative")),
        sa.ForeignKeyConstraint(
            ["country_code", "case_id", "sha256"],
            ["case_bundles.country_code", "case_bundles.case_id", "case_bundles.sha256"],
            name=op.f("fk_case_bundle_purges_country_code_case_id_sha256_case_bundles"),
        ),
        sa.PrimaryKeyConstraint("country_code", "case_id", "sha256", name=op.f("pk_case_bundle_purges")),
    )
    apply_country_rls(op, "case_bundle_purges", append_only=True)


def downgrade() -> None:
    remove_country_rls(op, "case_bundle_purges")
    op.drop_table("case_bundle_purges")

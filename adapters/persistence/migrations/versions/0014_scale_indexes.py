"""Indexes found missing by the scale benchmark (``bench/scale.py``, 10k vs 1M orders).

- ``ix_disputes_country_code_opened_at_id`` on ``disputes (country_code, opened_at, id)``:
  the console's ``disputes`` list is ``WHERE country_code = :c ORDER BY opened_at DESC, id
  DESC LIMIT n`` with a keyset cursor on ``(opened_at, id)``; without it PostgreSQL read and
  sorted every dispute of the country for each page (the one existing index starts with
  ``status``). Walked backwards, this one returns a page in index order.

Revision ID: 0014_scale_indexes
Revises: 0013_case_bundles
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014_scale_indexes"
down_revision: str | Sequence[str] | None = "0013_case_bundles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DISPUTES_BY_OPENED_AT = "ix_disputes_country_code_opened_at_id"


def upgrade() -> None:
    op.create_index(DISPUTES_BY_OPENED_AT, "disputes", ["country_code", "opened_at", "id"])


def downgrade() -> None:
    op.drop_index(DISPUTES_BY_OPENED_AT, table_name="disputes")

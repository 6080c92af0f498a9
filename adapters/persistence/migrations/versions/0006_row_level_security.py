"""Row-level security by country: the second wall of ScopeGuard (PostgreSQL only, D22).

- The service's own role (``supportos_app``, or the Alembic attribute ``app_role`` /
  ``SUPPORTOS_DATABASE_APP_ROLE``) is created if missing: LOGIN, not a superuser, no
  BYPASSRLS, owner of nothing. It gets USAGE on the schema, SELECT on ``alembic_version``,
  USAGE on the sequences, and per table SELECT/INSERT/UPDATE/DELETE (SELECT/INSERT on the
  append-only ``audit_log``, ``ledger_transactions`` and ``ledger_postings``).
- Every table with ``country_code`` (all of 0001-0005's, named in ``TABLES``) gets
  ``ENABLE`` + ``FORCE ROW LEVEL SECURITY`` and the policy ``country_scope``: rows are seen,
  changed and inserted only when their country is in ``supportos.countries`` (set per
  transaction with ``SET LOCAL`` semantics) or that setting is ``'*'``. No setting: nothing.
- ``audit_log`` differs: reads by scope, but an entry of any country may be appended once a
  scope is bound (denials are audited in the refused country). One chain for all
  countries: ``audit_log_tail()`` (SECURITY DEFINER) gives the appender the last sequence
  and hash whatever its scope.
- ``api_key_by_id(country, key_id)`` (SECURITY DEFINER): partner authentication looks a
  key up before any scope is bound (the country comes from the key id itself, so this is
  a primary-key lookup returning at most that one row).

Later migrations that add a country-scoped table call
``adapters.persistence.row_level_security.apply_country_rls(op, "<table>")``.

On SQLite this migration does nothing.

Revision ID: 0006_row_level_security
Revises: 0005_api_keys
Create Date: 2025-01-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from adapters.persistence.row_level_security import (
    apply_country_rls,
    create_unscoped_function,
    drop_unscoped_function,
    is_postgres,
    prepare_app_role,
    remove_country_rls,
    revoke_app_role,
)

revision: str = "0006_row_level_security"
down_revision: str | Sequence[str] | None = "0005_api_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables of 0001-0005, every one with ``country_code``: named here rather than read from
# the catalog, so that an offline script (``alembic upgrade --sql``) covers them too (D129).
# ``apply_country_rls`` refuses a table without ``country_code``, and the RLS tests fail on a
# country-scoped table without a forced policy.
TABLES = (
    "api_keys",
    "audit_log",
    "disputes",
    "idempotency_keys",
    "ledger_accounts",
    "ledger_balance_snapshots",
    "ledger_postings",
    "ledger_transactions",
    "orders",
    "outbox_jobs",
    "refund_policies",
)
APPEND_ONLY = frozenset({"audit_log", "ledger_transactions", "ledger_postings"})
AUDIT_TAIL = {"name": "audit_log_tail", "arguments": ""}
API_KEY_BY_ID = {"name": "api_key_by_id", "arguments": "wanted_country text, wanted_key_id text"}


def upgrade() -> None:
    if not is_postgres(op):
        return
    prepare_app_role(op)
    for table in TABLES:
        apply_country_rls(
            op, table, append_only=table in APPEND_ONLY, append_any_country=table == "audit_log"
        )
    create_unscoped_function(
        op,
        **AUDIT_TAIL,
        returns="TABLE (sequence bigint, entry_hash varchar)",
        body="SELECT a.sequence, a.entry_hash FROM audit_log AS a ORDER BY a.sequence DESC LIMIT 1",
    )
    create_unscoped_function(
        op,
        **API_KEY_BY_ID,
        returns=(
            "TABLE (country_code varchar, key_id varchar, partner_id varchar, label varchar,"
            " key_sha256 varchar, created_at timestamptz, revoked_at timestamptz)"
        ),
        body=(
            "SELECT k.country_code, k.key_id, k.partner_id, k.label, k.key_sha256, k.created_at,"
            " k.revoked_at FROM api_keys AS k"
            " WHERE k.country_code = wanted_country AND k.key_id = wanted_key_id"
        ),
    )


def downgrade() -> None:
    if not is_postgres(op):
        return
    drop_unscoped_function(op, **API_KEY_BY_ID)
    drop_unscoped_function(op, **AUDIT_TAIL)
    for table in TABLES:
        remove_country_rls(op, table)
    revoke_app_role(op)

"""Order-scoped messaging (SPEC §8, D25): conversations, write-once messages, sender standing.

- ``conversations``: one per order (unique ``(country_code, order_id)``), its parties, why
  and by whom it was opened, open or frozen (and the freeze: who, when, why), the head of
  its message chain (``head_sequence``, ``head_hash``) and the optimistic ``version``.
- ``messages``: append-only (WORM). UPDATE and DELETE are refused by the database itself,
  as on the audit log (0001) and the ledger (0002): BEFORE UPDATE / BEFORE DELETE triggers
  that RAISE(ABORT) on SQLite; on PostgreSQL a trigger function raising
  ``restrict_violation`` (SQLSTATE 23001) for UPDATE and DELETE (row level) and TRUNCATE
  (statement level); the service's role is granted SELECT and INSERT only. Primary key
  ``(country_code, conversation_id, sequence)`` (the chain's order); unique
  ``(country_code, conversation_id, client_message_id)`` (idempotent sends) and
  ``(country_code, message_id)``; ``(country_code, sender_id, sent_at)`` for rate limits.
- ``conversation_senders``: each sender's counters in one conversation (sent, blocked,
  violations since the last lifted freeze) and their automatic freeze.
- Row-level security by country on all three (``apply_country_rls``; a no-op on SQLite).

Revision ID: 0010_conversations
Revises: 0009_webhook_inbox
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from adapters.persistence.row_level_security import apply_country_rls, remove_country_rls

revision: str = "0010_conversations"
down_revision: str | Sequence[str] | None = "0009_webhook_inbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = 200
ROLE = 32
STATUS = 32
HASH = 64
MESSAGE = "messages is append-only (WORM)"

SQLITE_UP = [
    f"""
    CREATE TRIGGER messages_refuse_update BEFORE UPDATE ON messages
    BEGIN
        SELECT RAISE(ABORT, '{MESSAGE}: UPDATE refused');
    END
    """,
    f"""
    CREATE TRIGGER messages_refuse_delete BEFORE DELETE ON messages
    BEGIN
        SELECT RAISE(ABORT, '{MESSAGE}: DELETE refused');
    END
    """,
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS messages_refuse_delete",
    "DROP TRIGGER IF EXISTS messages_refuse_update",
]
POSTGRES_UP = [
    f"""
    CREATE FUNCTION messages_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{MESSAGE}: % refused', TG_OP USING ERRCODE = 'restrict_violation';
    END
    $$
    """,
    """
    CREATE TRIGGER messages_refuse_update_delete BEFORE UPDATE OR DELETE ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_refuse_change()
    """,
    """
    CREATE TRIGGER messages_refuse_truncate BEFORE TRUNCATE ON messages
    FOR EACH STATEMENT EXECUTE FUNCTION messages_refuse_change()
    """,
]
POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS messages_refuse_truncate ON messages",
    "DROP TRIGGER IF EXISTS messages_refuse_update_delete ON messages",
    "DROP FUNCTION IF EXISTS messages_refuse_change()",
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
        "conversations",
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("id", sa.String(length=ID), nullable=False),
        sa.Column("order_id", sa.String(length=ID), nullable=False),
        sa.Column("buyer_id", sa.String(length=ID), nullable=False),
        sa.Column("seller_id", sa.String(length=ID), nullable=False),
        sa.Column("courier_id", sa.String(length=ID), nullable=True),
        sa.Column("opening_ground", sa.String(length=STATUS), nullable=False),
        sa.Column("opening_reference", sa.String(length=ID), nullable=True),
        sa.Column("opening_reason", sa.Text(), nullable=True),
        sa.Column("opened_by_id", sa.String(length=ID), nullable=False),
        sa.Column("opened_by_role", sa.String(length=ROLE), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=STATUS), nullable=False),
        sa.Column("frozen_by_id", sa.String(length=ID), nullable=True),
        sa.Column("frozen_by_role", sa.String(length=ROLE), nullable=True),
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("frozen_reason", sa.Text(), nullable=True),
        sa.Column("head_sequence", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(length=HASH), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("status IN ('OPEN', 'FROZEN')", name=op.f("ck_conversations_status_known")),
        sa.CheckConstraint(
            "(status = 'FROZEN') = (frozen_at IS NOT NULL)", name=op.f("ck_conversations_frozen_has_record")
        ),
        sa.CheckConstraint("head_sequence >= 0", name=op.f("ck_conversations_head_sequence_not_negative")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_conversations_version_positive")),
        sa.ForeignKeyConstraint(
            ["country_code", "order_id"],
            ["orders.country_code", "orders.id"],
            name=op.f("fk_conversations_country_code_order_id_orders"),
        ),
        sa.PrimaryKeyConstraint("country_code", "id", name=op.f("pk_conversations")),
        sa.UniqueConstraint("country_code", "order_id", name=op.f("uq_conversations_country_code_order_id")),
    )
    op.create_index(
        "ix_conversations_country_code_status_updated_at",
        "conversations",
        ["country_code", "status", "updated_at"],
    )
    op.create_table(
        "messages",
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("conversation_id", sa.String(length=ID), nullable=False),
        sa.Column("sequence", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.String(length=ID), nullable=False),
        sa.Column("order_id", sa.String(length=ID), nullable=False),
        sa.Column("client_message_id", sa.String(length=ID), nullable=False),
        sa.Column("sender_id", sa.String(length=ID), nullable=False),
        sa.Column("sender_role", sa.String(length=ROLE), nullable=False),
        sa.Column("party", sa.String(length=STATUS), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("body_sha256", sa.String(length=HASH), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=STATUS), nullable=False),
        sa.Column("findings", _json(), nullable=False),
        sa.Column("corrects", sa.String(length=ID), nullable=True),
        sa.Column("previous_hash", sa.String(length=HASH), nullable=False),
        sa.Column("chain_hash", sa.String(length=HASH), nullable=False),
        sa.CheckConstraint("sequence >= 1", name=op.f("ck_messages_sequence_positive")),
        sa.CheckConstraint("status IN ('DELIVERED', 'BLOCKED')", name=op.f("ck_messages_status_known")),
        sa.ForeignKeyConstraint(
            ["country_code", "conversation_id"],
            ["conversations.country_code", "conversations.id"],
            name=op.f("fk_messages_country_code_conversation_id_conversations"),
        ),
        sa.PrimaryKeyConstraint("country_code", "conversation_id", "sequence", name=op.f("pk_messages")),
        sa.UniqueConstraint(
            "country_code",
            "conversation_id",
            "client_message_id",
            name=op.f("uq_messages_country_code_conversation_id_client_message_id"),
        ),
        sa.UniqueConstraint("country_code", "message_id", name=op.f("uq_messages_country_code_message_id")),
    )
    op.create_index(
        "ix_messages_country_code_sender_id_sent_at", "messages", ["country_code", "sender_id", "sent_at"]
    )
    op.create_table(
        "conversation_senders",
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("conversation_id", sa.String(length=ID), nullable=False),
        sa.Column("sender_id", sa.String(length=ID), nullable=False),
        sa.Column("party", sa.String(length=STATUS), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("blocked", sa.Integer(), nullable=False),
        sa.Column("violations", sa.Integer(), nullable=False),
        sa.Column("frozen_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "sent >= 0 AND blocked >= 0 AND violations >= 0",
            name=op.f("ck_conversation_senders_counters_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["country_code", "conversation_id"],
            ["conversations.country_code", "conversations.id"],
            name=op.f("fk_conversation_senders_country_code_conversation_id_conversations"),
        ),
        sa.PrimaryKeyConstraint(
            "country_code", "conversation_id", "sender_id", name=op.f("pk_conversation_senders")
        ),
    )
    for statement in _worm(up=True):
        op.execute(statement)
    apply_country_rls(op, "conversations")
    apply_country_rls(op, "messages", append_only=True)
    apply_country_rls(op, "conversation_senders")


def downgrade() -> None:
    remove_country_rls(op, "conversation_senders")
    remove_country_rls(op, "messages")
    remove_country_rls(op, "conversations")
    for statement in _worm(up=False):
        op.execute(statement)
    op.drop_table("conversation_senders")
    op.drop_index("ix_messages_country_code_sender_id_sent_at", table_name="messages")
    op.drop_table("messages")
    op.drop_index("ix_conversations_country_code_status_updated_at", table_name="conversations")
    op.drop_table("conversations")

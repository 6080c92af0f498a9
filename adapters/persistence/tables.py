"""The schema, as SQLAlchemy Core tables: the one ``MetaData`` every table belongs to.

Rules for every table (ARCHITECTURE §9): a ``country_code`` column, and every index that
serves a request starts with it. Constraint and index names come from the naming
convention, so migrations and this module name things identically.

This module describes the schema for queries (and for ``alembic revision --autogenerate``);
it never creates it. The schema is built only by the Alembic migrations in
``adapters/persistence/migrations/versions`` (an integration test checks the two agree).
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeEngine

from adapters.persistence.column_types import UtcDateTime, json_document

NAMING_CONVENTION: Final = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

COUNTRY_CODE_LENGTH: Final = 2
SHA256_HEX_LENGTH: Final = 64

# Append-only (WORM): UPDATE, DELETE (and TRUNCATE on PostgreSQL) are refused by
# triggers created in migration 0001_audit_log. One chain for the whole system.
audit_log = Table(
    "audit_log",
    metadata,
    Column("sequence", BigInteger, primary_key=True, autoincrement=False),
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("actor_id", String(200), nullable=False),
    Column("actor_role", String(32), nullable=False),
    Column("action", String(200), nullable=False),
    Column("target_type", String(64), nullable=False),
    Column("target_id", String(200), nullable=False),
    Column("before_state", json_document(), nullable=True),
    Column("after_state", json_document(), nullable=True),
    Column("request_id", String(200), nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("previous_hash", String(SHA256_HEX_LENGTH), nullable=False),
    Column("entry_hash", String(SHA256_HEX_LENGTH), nullable=False),
    CheckConstraint("sequence >= 1", name="sequence_positive"),
    UniqueConstraint("entry_hash"),
    UniqueConstraint("previous_hash"),
    Index("ix_audit_log_country_code_occurred_at", "country_code", "occurred_at"),
    Index("ix_audit_log_country_code_target_type_target_id", "country_code", "target_type", "target_id"),
)

# --- Ledger (migration 0002_ledger, SPEC §4) -------------------------------------------

ACCOUNT_NAME_LENGTH: Final = 200
CURRENCY_CODE_LENGTH: Final = 3
IDEMPOTENCY_KEY_LENGTH: Final = 255


def _ledger_id() -> TypeEngine[int]:
    """BIGSERIAL on PostgreSQL; INTEGER PRIMARY KEY (the rowid, so it autoincrements) on SQLite."""
    return BigInteger().with_variant(Integer(), "sqlite")


def _idempotency_key() -> TypeEngine[str]:
    """Compared bytewise (``COLLATE "C"`` on PostgreSQL, SQLite's BINARY) so a key-prefix
    range query is exact and served by the unique index."""
    return String(IDEMPOTENCY_KEY_LENGTH).with_variant(
        String(IDEMPOTENCY_KEY_LENGTH, collation="C"), "postgresql"
    )


# Append-only (WORM): UPDATE, DELETE (and TRUNCATE on PostgreSQL) are refused by triggers.
# The unique (country_code, idempotency_key) is the exactly-once guarantee.
ledger_transactions = Table(
    "ledger_transactions",
    metadata,
    Column("id", _ledger_id(), primary_key=True, autoincrement=True),
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("idempotency_key", _idempotency_key(), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("currency", String(CURRENCY_CODE_LENGTH), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("memo", Text, nullable=False),
    Column("reverses", String(IDEMPOTENCY_KEY_LENGTH), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False, server_default=text("CURRENT_TIMESTAMP")),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    UniqueConstraint("country_code", "idempotency_key"),
)

# Append-only (WORM). ``id`` is the global posting sequence balance snapshots refer to;
# ``signed_minor`` is debit-positive.
ledger_postings = Table(
    "ledger_postings",
    metadata,
    Column("id", _ledger_id(), primary_key=True, autoincrement=True),
    Column("transaction_id", BigInteger, ForeignKey("ledger_transactions.id"), nullable=False),
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("account", String(ACCOUNT_NAME_LENGTH), nullable=False),
    Column("currency", String(CURRENCY_CODE_LENGTH), nullable=False),
    Column("side", String(6), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("signed_minor", BigInteger, nullable=False),
    CheckConstraint("amount_minor > 0", name="amount_positive"),
    CheckConstraint(
        "(side = 'DEBIT' AND signed_minor = amount_minor)"
        " OR (side = 'CREDIT' AND signed_minor = -amount_minor)",
        name="signed_matches_side",
    ),
    Index("ix_ledger_postings_country_code_account_currency_id", "country_code", "account", "currency", "id"),
    Index("ix_ledger_postings_country_code_transaction_id", "country_code", "transaction_id"),
)

# One row per (country, account, currency) ever posted to: the lock row for escrow checks.
ledger_accounts = Table(
    "ledger_accounts",
    metadata,
    Column("country_code", String(COUNTRY_CODE_LENGTH), primary_key=True),
    Column("account", String(ACCOUNT_NAME_LENGTH), primary_key=True),
    Column("currency", String(CURRENCY_CODE_LENGTH), primary_key=True),
    Column("kind", String(16), nullable=False),
)

# Checkpoints: ``balance_minor`` includes every posting of the account with id <= as_of.
# The newest checkpoint of an account is its row with the greatest ``as_of_posting_id``.
ledger_balance_snapshots = Table(
    "ledger_balance_snapshots",
    metadata,
    Column("country_code", String(COUNTRY_CODE_LENGTH), primary_key=True),
    Column("account", String(ACCOUNT_NAME_LENGTH), primary_key=True),
    Column("currency", String(CURRENCY_CODE_LENGTH), primary_key=True),
    Column("as_of_posting_id", BigInteger, primary_key=True, autoincrement=False),
    Column("balance_minor", BigInteger, nullable=False),
    CheckConstraint("as_of_posting_id >= 0", name="as_of_not_negative"),
)

# --- Idempotency keys and the transactional outbox (migration 0003_idempotency_outbox) --

IDEMPOTENCY_OPERATION_LENGTH: Final = 100
ACTOR_ID_LENGTH: Final = 200
JOB_REFERENCE_LENGTH: Final = 200

# Stripe-style request keys, scoped per (country, actor, operation). A row is IN_FLIGHT
# while its request runs (``locked_until`` is the lease after which another identical
# request may take it over) and COMPLETED with the stored ``response`` afterwards.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("country_code", String(COUNTRY_CODE_LENGTH), primary_key=True),
    Column("actor_id", String(ACTOR_ID_LENGTH), primary_key=True),
    Column("operation", String(IDEMPOTENCY_OPERATION_LENGTH), primary_key=True),
    Column("key", String(IDEMPOTENCY_KEY_LENGTH), primary_key=True),
    Column("fingerprint", String(SHA256_HEX_LENGTH), nullable=False),
    Column("state", String(16), nullable=False),
    Column("response", json_document(), nullable=True),
    Column("locked_until", UtcDateTime(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("completed_at", UtcDateTime(), nullable=True),
    CheckConstraint("state IN ('IN_FLIGHT', 'COMPLETED')", name="state_known"),
    # the expiry's scan, oldest first (0018, D71)
    Index("ix_idempotency_keys_created_at", "created_at"),
)

# Jobs written in the same transaction as the change that asks for them. The unique
# ``idempotency_key`` (global: keys embed their dispute or order id) makes enqueuing the
# same step twice a no-op. ``fencing_token`` is bumped by every claim.
# ``ix_outbox_jobs_status_available_at`` serves the workers' claim across all countries
# (not a request: it does not start with ``country_code``).
outbox_jobs = Table(
    "outbox_jobs",
    metadata,
    Column("id", _ledger_id(), primary_key=True, autoincrement=True),
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("idempotency_key", String(IDEMPOTENCY_KEY_LENGTH), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("reference", String(JOB_REFERENCE_LENGTH), nullable=False),
    Column("payload", json_document(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("available_at", UtcDateTime(), nullable=False),
    Column("lease_owner", String(200), nullable=True),
    Column("lease_until", UtcDateTime(), nullable=True),
    Column("fencing_token", BigInteger, nullable=False),
    Column("errors", json_document(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("completed_at", UtcDateTime(), nullable=True),
    # bumped by an L3 replay of a permanent refusal: the provider is then called with
    # ``<idempotency_key>#r<n>`` (migration 0020, D83)
    Column("provider_key_revision", Integer, nullable=False, server_default=text("0")),
    CheckConstraint(
        "status IN ('PENDING', 'RUNNING', 'WAITING', 'DONE', 'DEAD', 'DISCARDED')", name="status_known"
    ),
    CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    CheckConstraint("max_attempts >= 1", name="max_attempts_positive"),
    CheckConstraint("fencing_token >= 0", name="fencing_token_not_negative"),
    UniqueConstraint("idempotency_key"),
    Index("ix_outbox_jobs_status_available_at", "status", "available_at"),
    Index("ix_outbox_jobs_country_code_reference", "country_code", "reference"),
    Index("ix_outbox_jobs_country_code_status", "country_code", "status"),
)

# --- Orders, refund policies, disputes (migration 0004_orders_disputes, SPEC §3, §5) ---

ENTITY_ID_LENGTH: Final = 200
STATUS_LENGTH: Final = 32
POLICY_VERSION_LENGTH: Final = 64
ROLE_LENGTH: Final = 32
PARTNER_KIND_LENGTH: Final = 32

OPEN_DISPUTE_PREDICATE: Final = "status NOT IN ('RESOLVED', 'WITHDRAWN')"
"""The disputes still in progress: at most one of them per order (a partial unique index)."""

# Versions are inserted, never edited. At most one version takes effect at a given instant
# in a country, so "the version in force" is never ambiguous.
refund_policies = Table(
    "refund_policies",
    metadata,
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("version", String(POLICY_VERSION_LENGTH), nullable=False),
    Column("currency", String(CURRENCY_CODE_LENGTH), nullable=False),
    Column("goodwill_credit_minor", BigInteger, nullable=False),
    Column("tiers_bp", json_document(), nullable=False),
    Column("dispute_window_seconds", BigInteger, nullable=False),
    Column("evidence_deadline_seconds", BigInteger, nullable=False),
    Column("lateness_threshold_seconds", BigInteger, nullable=False),
    Column("effective_from", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("country_code", "version"),
    Index("ix_refund_policies_country_code_effective_from", "country_code", "effective_from", unique=True),
)

# Orders with their snapshot: the snapshot columns are all NULL until payment capture
# (``snapshot_courier_id`` may stay NULL), then never change. ``policy_terms`` is a copy of
# the refund policy in force at capture. ``version`` is the optimistic-concurrency counter.
# ``replaces_order_id`` names the order a replacement replaces (migration 0019): at most one
# replacement per order (unique; NULLs are distinct), found from its original by that index.
# ``payment_partner_id`` (migration 0021) names the payment partner that processed the
# captured payment (part of the snapshot; NULL before capture or when not reported): a
# payment partner's API key lists the orders that name it (D88). ``frozen_at`` (when the
# current live-incident hold began) and ``dispute_window_paused_us`` (how long holds kept the
# delivered order frozen; its dispute window closes that much later) are migration 0025's (D127).
# ``courier_assigned_at`` (migration 0026) is when the current courier was given the order by a
# reassignment (a feed report's own time, or an agent's action): an older report is stale (D137).
orders = Table(
    "orders",
    metadata,
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("buyer_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("seller_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("courier_id", String(ENTITY_ID_LENGTH), nullable=True),
    Column("status", String(STATUS_LENGTH), nullable=False),
    Column("frozen_from", String(STATUS_LENGTH), nullable=True),
    Column("frozen_by_incident", String(ENTITY_ID_LENGTH), nullable=True),
    Column("delivered_at", UtcDateTime(), nullable=True),
    Column("force_completed", Boolean(), nullable=False),
    Column("force_complete_reason", Text, nullable=True),
    Column("version", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("currency", String(CURRENCY_CODE_LENGTH), nullable=True),
    Column("items_subtotal_minor", BigInteger, nullable=True),
    Column("delivery_fee_minor", BigInteger, nullable=True),
    Column("service_fee_minor", BigInteger, nullable=True),
    Column("tax_minor", BigInteger, nullable=True),
    Column("discount_minor", BigInteger, nullable=True),
    Column("total_charged_minor", BigInteger, nullable=True),
    Column("commission_bp", Integer, nullable=True),
    Column("snapshot_courier_id", String(ENTITY_ID_LENGTH), nullable=True),
    Column("policy_version", String(POLICY_VERSION_LENGTH), nullable=True),
    Column("policy_terms", json_document(), nullable=True),
    Column("captured_at", UtcDateTime(), nullable=True),
    Column("replaces_order_id", String(ENTITY_ID_LENGTH), nullable=True),
    Column("payment_partner_id", String(ENTITY_ID_LENGTH), nullable=True),
    Column("frozen_at", UtcDateTime(), nullable=True),
    Column("dispute_window_paused_us", BigInteger, nullable=False, server_default="0"),
    Column("courier_assigned_at", UtcDateTime(), nullable=True),
    PrimaryKeyConstraint("country_code", "id"),
    CheckConstraint("version >= 0", name="version_not_negative"),
    CheckConstraint(
        "total_charged_minor = items_subtotal_minor + delivery_fee_minor + service_fee_minor"
        " + tax_minor - discount_minor",
        name="snapshot_total",
    ),
    Index("ix_orders_country_code_status_delivered_at", "country_code", "status", "delivered_at"),
    Index("ix_orders_country_code_buyer_id", "country_code", "buyer_id"),
    Index("ix_orders_country_code_seller_id", "country_code", "seller_id"),
    Index("ix_orders_country_code_created_at_id", "country_code", "created_at", "id"),
    Index("ix_orders_country_code_replaces_order_id", "country_code", "replaces_order_id", unique=True),
    Index("ix_orders_country_code_payment_partner_id", "country_code", "payment_partner_id"),
)

# Disputes with their evidence pack (canonical data, and its sha256 to check it reads back
# exactly), decision and withdrawal as JSON documents.
disputes = Table(
    "disputes",
    metadata,
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("order_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("reason", String(STATUS_LENGTH), nullable=False),
    Column("origin", String(STATUS_LENGTH), nullable=False),
    Column("status", String(STATUS_LENGTH), nullable=False),
    Column("opened_by_actor_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("opened_by_role", String(ROLE_LENGTH), nullable=False),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("evidence_deadline", UtcDateTime(), nullable=False),
    Column("evidence", json_document(), nullable=False),
    Column("evidence_sha256", String(SHA256_HEX_LENGTH), nullable=False),
    Column("decision", json_document(), nullable=True),
    Column("withdrawal", json_document(), nullable=True),
    Column("last_execution_error", Text, nullable=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("country_code", "id"),
    ForeignKeyConstraint(["country_code", "order_id"], ["orders.country_code", "orders.id"]),
    CheckConstraint("version >= 1", name="version_positive"),
    Index("ix_disputes_country_code_status_opened_at", "country_code", "status", "opened_at"),
    Index("ix_disputes_country_code_order_id", "country_code", "order_id"),
    Index("ix_disputes_country_code_evidence_deadline", "country_code", "evidence_deadline"),
    # The console's list: newest first, keyset on (opened_at, id) (migration 0014_scale_indexes).
    Index("ix_disputes_country_code_opened_at_id", "country_code", "opened_at", "id"),
    Index(
        "uq_disputes_country_code_order_id_open",
        "country_code",
        "order_id",
        unique=True,
        sqlite_where=text(OPEN_DISPUTE_PREDICATE),
        postgresql_where=text(OPEN_DISPUTE_PREDICATE),
    ),
)

# --- Partner API keys (migration 0005_api_keys) -----------------------------------------

# Only the sha256 of a key is stored. A key id starts with its country (``co_key_...``), so
# authentication finds the row by ``(country_code, key_id)``, the primary key.
# ``partner_kind`` (migration 0021): what ``partner_id`` names, a seller org (``SELLER_ORG``,
# every key made before it) or a payment partner (``PAYMENT_PARTNER``), D88.
api_keys = Table(
    "api_keys",
    metadata,
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("key_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("partner_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("label", String(ENTITY_ID_LENGTH), nullable=False),
    Column("key_sha256", String(SHA256_HEX_LENGTH), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Column("partner_kind", String(PARTNER_KIND_LENGTH), nullable=False, server_default=text("'SELLER_ORG'")),
    CheckConstraint("partner_kind IN ('SELLER_ORG', 'PAYMENT_PARTNER')", name="partner_kind_known"),  # 0022
    PrimaryKeyConstraint("country_code", "key_id"),
    Index("ix_api_keys_country_code_partner_id", "country_code", "partner_id"),
)

# --- Webhook inbox (migration 0009_webhook_inbox, SPEC §7) ------------------------------

WEBHOOK_ID_LENGTH: Final = 255
PENDING_WEBHOOK_PREDICATE: Final = "processed_at IS NULL"
"""Events stored but not processed yet (what crash recovery looks for)."""

# One row per verified provider event, deduplicated by the provider's webhook id (the
# primary key; the country comes from the signed event). ``held_until`` is the hold of the
# call processing it; ``processed_at``/``outcome`` are written once.
webhook_inbox = Table(
    "webhook_inbox",
    metadata,
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("webhook_id", String(WEBHOOK_ID_LENGTH), nullable=False),
    Column("event_type", String(128), nullable=False),
    Column("idempotency_key", String(IDEMPOTENCY_KEY_LENGTH), nullable=True),
    Column("payload", json_document(), nullable=False),
    Column("signed_at", UtcDateTime(), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("held_until", UtcDateTime(), nullable=True),
    Column("processed_at", UtcDateTime(), nullable=True),
    Column("outcome", String(64), nullable=True),
    PrimaryKeyConstraint("country_code", "provider", "webhook_id"),
    CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    Index("ix_webhook_inbox_country_code_idempotency_key", "country_code", "idempotency_key"),
    Index(
        "ix_webhook_inbox_country_code_received_at_pending",
        "country_code",
        "received_at",
        sqlite_where=text(PENDING_WEBHOOK_PREDICATE),
        postgresql_where=text(PENDING_WEBHOOK_PREDICATE),
    ),
)

# --- Circuit breakers per country and provider (migration 0008_provider_circuits) -------

# The state every worker shares (SPEC §7). A row exists once a breaker has a history (a
# closed breaker that never failed has none). Every change is a compare-and-set on
# ``version`` (``adapters/persistence/circuits.py``).
provider_circuits = Table(
    "provider_circuits",
    metadata,
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("consecutive_failures", Integer, nullable=False),
    Column("opened_at", UtcDateTime(), nullable=True),
    Column("half_open_trial_owner", String(200), nullable=True),
    Column("half_open_trial_until", UtcDateTime(), nullable=True),
    Column("version", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("country_code", "provider"),
    CheckConstraint("state IN ('CLOSED', 'OPEN', 'HALF_OPEN')", name="state_known"),
    CheckConstraint("consecutive_failures >= 0", name="failures_not_negative"),
    CheckConstraint("version >= 1", name="version_positive"),
)

# --- Messaging (migration 0010_conversations, SPEC §8, D25) -----------------------------

# One conversation per order: its parties, why and by whom it was opened, its freeze (all
# four ``frozen_*`` set exactly while FROZEN), the head of its message chain, and the
# optimistic ``version`` (saved with ``WHERE version = :read``).
conversations = Table(
    "conversations",
    metadata,
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("order_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("buyer_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("seller_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("courier_id", String(ENTITY_ID_LENGTH), nullable=True),
    Column("opening_ground", String(STATUS_LENGTH), nullable=False),
    Column("opening_reference", String(ENTITY_ID_LENGTH), nullable=True),
    Column("opening_reason", Text, nullable=True),
    Column("opened_by_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("opened_by_role", String(ROLE_LENGTH), nullable=False),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("status", String(STATUS_LENGTH), nullable=False),
    Column("frozen_by_id", String(ENTITY_ID_LENGTH), nullable=True),
    Column("frozen_by_role", String(ROLE_LENGTH), nullable=True),
    Column("frozen_at", UtcDateTime(), nullable=True),
    Column("frozen_reason", Text, nullable=True),
    Column("head_sequence", BigInteger, nullable=False),
    Column("head_hash", String(SHA256_HEX_LENGTH), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("version", Integer, nullable=False),
    PrimaryKeyConstraint("country_code", "id"),
    UniqueConstraint("country_code", "order_id"),
    ForeignKeyConstraint(["country_code", "order_id"], ["orders.country_code", "orders.id"]),
    CheckConstraint("status IN ('OPEN', 'FROZEN')", name="status_known"),
    CheckConstraint("(status = 'FROZEN') = (frozen_at IS NOT NULL)", name="frozen_has_record"),
    CheckConstraint("head_sequence >= 0", name="head_sequence_not_negative"),
    CheckConstraint("version >= 1", name="version_positive"),
    Index("ix_conversations_country_code_status_updated_at", "country_code", "status", "updated_at"),
)

# Append-only (WORM): UPDATE, DELETE (and TRUNCATE on PostgreSQL) are refused by triggers
# created in migration 0010_conversations; the service's role may only SELECT and INSERT.
# The primary key is the chain's order; the unique client message id makes sends idempotent.
messages = Table(
    "messages",
    metadata,
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("conversation_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("sequence", BigInteger, nullable=False, autoincrement=False),
    Column("message_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("order_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("client_message_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("sender_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("sender_role", String(ROLE_LENGTH), nullable=False),
    Column("party", String(STATUS_LENGTH), nullable=False),
    Column("body", Text, nullable=False),
    Column("body_sha256", String(SHA256_HEX_LENGTH), nullable=False),
    Column("sent_at", UtcDateTime(), nullable=False),
    Column("status", String(STATUS_LENGTH), nullable=False),
    Column("findings", json_document(), nullable=False),
    Column("corrects", String(ENTITY_ID_LENGTH), nullable=True),
    Column("previous_hash", String(SHA256_HEX_LENGTH), nullable=False),
    Column("chain_hash", String(SHA256_HEX_LENGTH), nullable=False),
    PrimaryKeyConstraint("country_code", "conversation_id", "sequence"),
    UniqueConstraint("country_code", "conversation_id", "client_message_id"),
    UniqueConstraint("country_code", "message_id"),
    ForeignKeyConstraint(
        ["country_code", "conversation_id"], ["conversations.country_code", "conversations.id"]
    ),
    CheckConstraint("sequence >= 1", name="sequence_positive"),
    CheckConstraint("status IN ('DELIVERED', 'BLOCKED')", name="status_known"),
    Index("ix_messages_country_code_sender_id_sent_at", "country_code", "sender_id", "sent_at"),
)

# A sender's standing in one conversation: counters and their automatic freeze.
conversation_senders = Table(
    "conversation_senders",
    metadata,
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("conversation_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("sender_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("party", String(STATUS_LENGTH), nullable=False),
    Column("sent", Integer, nullable=False),
    Column("blocked", Integer, nullable=False),
    Column("violations", Integer, nullable=False),
    Column("frozen_at", UtcDateTime(), nullable=True),
    PrimaryKeyConstraint("country_code", "conversation_id", "sender_id"),
    ForeignKeyConstraint(
        ["country_code", "conversation_id"], ["conversations.country_code", "conversations.id"]
    ),
    CheckConstraint("sent >= 0 AND blocked >= 0 AND violations >= 0", name="counters_not_negative"),
)

# --- Cases and SLA policies (migration 0011_cases, SPEC §6, §10) ------------------------

DUE_CLOCK_PREDICATE: Final = "due_at IS NOT NULL"
"""Clocks that run unbreached: the only rows in the scheduler's index."""

# One row per case. ``next_deadline`` is the nearest deadline of a running clock (NULL when
# none runs): the work queue's sort key, kept by every save. ``version`` is optimistic.
cases = Table(
    "cases",
    metadata,
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("kind", String(STATUS_LENGTH), nullable=False),
    Column("severity", String(STATUS_LENGTH), nullable=False),
    Column("tier", String(STATUS_LENGTH), nullable=False),
    Column("status", String(STATUS_LENGTH), nullable=False),
    Column("title", Text, nullable=False),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("opened_by_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("opened_by_role", String(ROLE_LENGTH), nullable=False),
    Column("policy_version", Integer, nullable=False),
    Column("assignee", String(ENTITY_ID_LENGTH), nullable=True),
    Column("order_id", String(ENTITY_ID_LENGTH), nullable=True),
    Column("subject_ref", String(ENTITY_ID_LENGTH), nullable=True),
    Column("incident_type", String(STATUS_LENGTH), nullable=True),
    Column("status_before_wait", String(STATUS_LENGTH), nullable=True),
    Column("acknowledged_at", UtcDateTime(), nullable=True),
    Column("mitigated_at", UtcDateTime(), nullable=True),
    Column("resolved_at", UtcDateTime(), nullable=True),
    Column("resolved_tier", String(STATUS_LENGTH), nullable=True),
    Column("resolution", Text, nullable=True),
    Column("closed_at", UtcDateTime(), nullable=True),
    Column("breaches", Integer, nullable=False),
    Column("rating_score", Integer, nullable=True),
    Column("rating_comment", Text, nullable=True),
    Column("rated_by_id", String(ENTITY_ID_LENGTH), nullable=True),
    Column("rated_by_role", String(ROLE_LENGTH), nullable=True),
    Column("rated_at", UtcDateTime(), nullable=True),
    Column("next_deadline", UtcDateTime(), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("version", Integer, nullable=False),
    PrimaryKeyConstraint("country_code", "id"),
    CheckConstraint("version >= 1", name="version_positive"),
    CheckConstraint("breaches >= 0", name="breaches_not_negative"),
    CheckConstraint("rating_score IS NULL OR rating_score BETWEEN 1 AND 5", name="rating_score_range"),
    Index("ix_cases_country_code_next_deadline_id", "country_code", "next_deadline", "id"),
    Index("ix_cases_country_code_order_id", "country_code", "order_id"),
    Index("ix_cases_country_code_kind_subject_ref", "country_code", "kind", "subject_ref"),
    Index("ix_cases_country_code_status_opened_at", "country_code", "status", "opened_at"),
)

# One row per case and SLA clock. ``due_at`` is the deadline while the clock runs
# unbreached, else NULL; the partial index on it is the scheduler's whole work list
# (across countries: the system's query, not a request's).
case_clocks = Table(
    "case_clocks",
    metadata,
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("case_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("clock", String(STATUS_LENGTH), nullable=False),
    Column("state", String(STATUS_LENGTH), nullable=False),
    Column("target", json_document(), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("deadline", UtcDateTime(), nullable=True),
    Column("remaining_microseconds", BigInteger, nullable=True),
    Column("breached_at", UtcDateTime(), nullable=True),
    Column("stopped_at", UtcDateTime(), nullable=True),
    Column("due_at", UtcDateTime(), nullable=True),
    PrimaryKeyConstraint("country_code", "case_id", "clock"),
    ForeignKeyConstraint(["country_code", "case_id"], ["cases.country_code", "cases.id"]),
    CheckConstraint("state IN ('RUNNING', 'PAUSED', 'BREACHED', 'STOPPED')", name="state_known"),
    CheckConstraint("(state = 'RUNNING') = (due_at IS NOT NULL)", name="due_only_while_running"),
    CheckConstraint(
        "remaining_microseconds IS NULL OR remaining_microseconds >= 0", name="remaining_not_negative"
    ),
    Index(
        "ix_case_clocks_due_at",
        "due_at",
        sqlite_where=text(DUE_CLOCK_PREDICATE),
        postgresql_where=text(DUE_CLOCK_PREDICATE),
    ),
)

# Append-only (WORM): UPDATE, DELETE (and TRUNCATE on PostgreSQL) are refused by triggers
# created in migration 0011_cases; the service's role may only SELECT and INSERT.
case_timeline = Table(
    "case_timeline",
    metadata,
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("case_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("sequence", Integer, nullable=False, autoincrement=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("kind", String(STATUS_LENGTH), nullable=False),
    Column("actor_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("actor_role", String(ROLE_LENGTH), nullable=False),
    Column("summary", Text, nullable=False),
    Column("data", json_document(), nullable=False),
    PrimaryKeyConstraint("country_code", "case_id", "sequence"),
    ForeignKeyConstraint(["country_code", "case_id"], ["cases.country_code", "cases.id"]),
    CheckConstraint("sequence >= 1", name="sequence_positive"),
    Index("ix_case_timeline_country_code_kind_at", "country_code", "kind", "at"),
)

# SLA policy versions per country and case kind (the document is ``SlaPolicy.to_document``);
# inserted, never edited. Without a row, version 1 is the built-in default.
sla_policies = Table(
    "sla_policies",
    metadata,
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("case_kind", String(STATUS_LENGTH), nullable=False),
    Column("version", Integer, nullable=False, autoincrement=False),
    Column("document", json_document(), nullable=False),
    PrimaryKeyConstraint("country_code", "case_kind", "version"),
    CheckConstraint("version >= 1", name="version_positive"),
)

# --- Platform incidents (migration 0012_platform_incidents, SPEC §6, D46) -----------------

REMINDER_DUE_PREDICATE: Final = "reminder_due_at IS NOT NULL"
"""Live incidents owed a status-update reminder: the only rows in the reminder index."""

# One row per platform incident (its case carries the SLA clocks). ``reminder_due_at`` is
# the update deadline while the incident is live and not yet reminded about it, else NULL;
# the partial index on it is the reminder task's whole work list (the system's query).
platform_incidents = Table(
    "platform_incidents",
    metadata,
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("case_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("severity", String(STATUS_LENGTH), nullable=False),
    Column("title", Text, nullable=False),
    Column("status", String(STATUS_LENGTH), nullable=False),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("opened_by_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("opened_by_role", String(ROLE_LENGTH), nullable=False),
    Column("update_due_at", UtcDateTime(), nullable=True),
    Column("reminded_for", UtcDateTime(), nullable=True),
    Column("reminder_due_at", UtcDateTime(), nullable=True),
    Column("mitigated_at", UtcDateTime(), nullable=True),
    Column("resolved_at", UtcDateTime(), nullable=True),
    Column("closed_at", UtcDateTime(), nullable=True),
    Column("closed_by_id", String(ENTITY_ID_LENGTH), nullable=True),
    Column("closed_by_role", String(ROLE_LENGTH), nullable=True),
    Column("root_cause", Text, nullable=True),
    Column("action_items", json_document(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("version", Integer, nullable=False),
    PrimaryKeyConstraint("country_code", "id"),
    ForeignKeyConstraint(["country_code", "case_id"], ["cases.country_code", "cases.id"]),
    CheckConstraint("status IN ('OPEN', 'MITIGATED', 'RESOLVED', 'CLOSED')", name="status_known"),
    CheckConstraint("(status = 'CLOSED') = (closed_at IS NOT NULL)", name="closed_has_time"),
    CheckConstraint("version >= 1", name="version_positive"),
    Index("ix_platform_incidents_country_code_status_opened_at", "country_code", "status", "opened_at"),
    Index(
        "ix_platform_incidents_reminder_due_at",
        "reminder_due_at",
        sqlite_where=text(REMINDER_DUE_PREDICATE),
        postgresql_where=text(REMINDER_DUE_PREDICATE),
    ),
)

# The orders and cases an incident affects (``kind`` ORDER or CASE, ``ref`` their id).
platform_incident_links = Table(
    "platform_incident_links",
    metadata,
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("incident_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("kind", String(STATUS_LENGTH), nullable=False),
    Column("ref", String(ENTITY_ID_LENGTH), nullable=False),
    Column("linked_at", UtcDateTime(), nullable=False),
    Column("linked_by_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("linked_by_role", String(ROLE_LENGTH), nullable=False),
    PrimaryKeyConstraint("country_code", "incident_id", "kind", "ref"),
    ForeignKeyConstraint(
        ["country_code", "incident_id"], ["platform_incidents.country_code", "platform_incidents.id"]
    ),
    CheckConstraint("kind IN ('ORDER', 'CASE')", name="kind_known"),
    Index("ix_platform_incident_links_country_code_kind_ref", "country_code", "kind", "ref"),
)

# Status updates and the incident's own timeline: inserted, never rewritten.
platform_incident_updates = Table(
    "platform_incident_updates",
    metadata,
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("incident_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("sequence", Integer, nullable=False, autoincrement=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("author_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("author_role", String(ROLE_LENGTH), nullable=False),
    Column("text", Text, nullable=False),
    Column("status", String(STATUS_LENGTH), nullable=False),
    PrimaryKeyConstraint("country_code", "incident_id", "sequence"),
    ForeignKeyConstraint(
        ["country_code", "incident_id"], ["platform_incidents.country_code", "platform_incidents.id"]
    ),
    CheckConstraint("sequence >= 1", name="sequence_positive"),
)

platform_incident_timeline = Table(
    "platform_incident_timeline",
    metadata,
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("incident_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("sequence", Integer, nullable=False, autoincrement=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("kind", String(STATUS_LENGTH), nullable=False),
    Column("actor_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("actor_role", String(ROLE_LENGTH), nullable=False),
    Column("summary", Text, nullable=False),
    Column("data", json_document(), nullable=False),
    PrimaryKeyConstraint("country_code", "incident_id", "sequence"),
    ForeignKeyConstraint(
        ["country_code", "incident_id"], ["platform_incidents.country_code", "platform_incidents.id"]
    ),
    CheckConstraint("sequence >= 1", name="sequence_positive"),
)

# The post-incident review written when the incident closed (one per incident); the
# amounts are ``{currency: minor units}`` read from the outcomes' ledger postings.
platform_incident_reviews = Table(
    "platform_incident_reviews",
    metadata,
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("incident_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("written_at", UtcDateTime(), nullable=False),
    Column("written_by_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("written_by_role", String(ROLE_LENGTH), nullable=False),
    Column("markdown", Text, nullable=False),
    Column("orders_affected", Integer, nullable=False),
    Column("cases_affected", Integer, nullable=False),
    Column("disputes", Integer, nullable=False),
    Column("refunded", json_document(), nullable=False),
    Column("credited", json_document(), nullable=False),
    PrimaryKeyConstraint("country_code", "incident_id"),
    ForeignKeyConstraint(
        ["country_code", "incident_id"], ["platform_incidents.country_code", "platform_incidents.id"]
    ),
    CheckConstraint(
        "orders_affected >= 0 AND cases_affected >= 0 AND disputes >= 0", name="counts_not_negative"
    ),
)

# --- Diagnostics bundles attached to cases (migration 0013_case_bundles, SPEC §10, D48) ---

# One row per bundle on a case, keyed by the bundle's sha256; write-once (the service's role
# may SELECT and INSERT only). ``blob_key`` is NULL exactly when the bytes were not kept (no
# telemetry consent, D49); ``report`` is the inspection summary (no personal data values).
case_bundles = Table(
    "case_bundles",
    metadata,
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("case_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("sha256", String(SHA256_HEX_LENGTH), nullable=False),
    Column("blob_key", String(SHA256_HEX_LENGTH), nullable=True),
    Column("filename", String(ENTITY_ID_LENGTH), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("verdict", String(STATUS_LENGTH), nullable=False),
    Column("leak_count", Integer, nullable=False),
    Column("report", json_document(), nullable=False),
    Column("attached_by_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("attached_by_role", String(ROLE_LENGTH), nullable=False),
    Column("attached_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("country_code", "case_id", "sha256"),
    ForeignKeyConstraint(["country_code", "case_id"], ["cases.country_code", "cases.id"]),
    CheckConstraint("verdict IN ('CLEAN', 'LEAKS', 'MALFORMED', 'NO_CONSENT')", name="verdict_known"),
    CheckConstraint("(verdict = 'NO_CONSENT') = (blob_key IS NULL)", name="blob_kept_with_consent"),
    CheckConstraint("size_bytes >= 0 AND leak_count >= 0", name="counts_not_negative"),
)

# --- Retention purges of bundles on cases (migration 0015_case_bundle_purges, SPEC §10, D57) ---

# One row per attached bundle whose retention ended; write-once. The case_bundles row stays
# (evidence metadata); a bundle is stored exactly when it has a blob key and no purge row.
# ``bytes_deleted`` is false when the same bytes are still attached to a newer case.
case_bundle_purges = Table(
    "case_bundle_purges",
    metadata,
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("case_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("sha256", String(SHA256_HEX_LENGTH), nullable=False),
    Column("purged_at", UtcDateTime(), nullable=False),
    Column("retention_days", Integer, nullable=False),
    Column("bytes_deleted", Boolean(), nullable=False),
    Column("purged_by_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("purged_by_role", String(ROLE_LENGTH), nullable=False),
    PrimaryKeyConstraint("country_code", "case_id", "sha256"),
    ForeignKeyConstraint(
        ["country_code", "case_id", "sha256"],
        ["case_bundles.country_code", "case_bundles.case_id", "case_bundles.sha256"],
    ),
    CheckConstraint("retention_days >= 0", name="retention_not_negative"),
)

# --- Delivery tracking reports (migration 0023_delivery_tracking, D90) ------------------
# One row per ``tracking.*`` webhook of a tracking source: its key is the webhook's, so a
# redelivered or reprocessed event inserts nothing. ``report`` holds the kind's facts
# (promise and destination, GPS points, or the delivery proof) as canonical JSON. Read by
# order, newest first, on ``(country_code, order_id, reported_at)``. Write-once.
TRACKING_KINDS_PREDICATE: Final = "kind IN ('PROMISED', 'POSITIONS', 'DELIVERED')"

delivery_tracking = Table(
    "delivery_tracking",
    metadata,
    Column("country_code", String(COUNTRY_CODE_LENGTH), nullable=False),
    Column("source", String(64), nullable=False),
    Column("source_id", String(WEBHOOK_ID_LENGTH), nullable=False),
    Column("order_id", String(ENTITY_ID_LENGTH), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("reported_at", UtcDateTime(), nullable=False),
    Column("report", json_document(), nullable=False),
    PrimaryKeyConstraint("country_code", "source", "source_id"),
    CheckConstraint(TRACKING_KINDS_PREDICATE, name="kind_known"),
    Index(
        "ix_delivery_tracking_country_code_order_id_reported_at", "country_code", "order_id", "reported_at"
    ),
)

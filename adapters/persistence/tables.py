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

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, MetaData, String, Table, UniqueConstraint

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

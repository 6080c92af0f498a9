"""The second wall of ScopeGuard: PostgreSQL row-level security by country (D22).

Every table with a ``country_code`` column has row-level security enabled and *forced*
(so the table's owner is held to it too; only superusers and ``BYPASSRLS`` roles are not),
with a policy that shows and accepts only the rows of the countries in the transaction's
``supportos.countries`` setting:

- ``'MX,CO'``: rows of MX and CO;  ``'*'``: every row (the system itself);
- unset, NULL or ``''``: nothing at all. A transaction nobody scoped sees no row.

The service connects as its own role (``supportos_app`` unless
``SUPPORTOS_DATABASE_APP_ROLE`` says otherwise): a LOGIN role that owns nothing, is no
superuser and cannot bypass RLS, with only SELECT/INSERT/UPDATE/DELETE on the tables
(SELECT/INSERT on the append-only ones). It cannot disable the policies: only the owner
can ``ALTER TABLE``. Migrations run as the owner (``SUPPORTOS_MIGRATION_DATABASE_URL``).

Runtime: :func:`install_country_scope` makes every transaction on a PostgreSQL engine
start with ``SELECT set_config('supportos.countries', <scope>, true)``, the scope being the
one bound in ``application.security.scope`` when the transaction begins. ``true`` means
``SET LOCAL``: the setting ends with the transaction, so a pooled connection never carries
one request's countries into the next.

Migrations: :func:`prepare_app_role` once (0006), then :func:`apply_country_rls` for every
country-scoped table; **a migration that creates a table with ``country_code`` must call
``apply_country_rls`` for it** (an integration test fails otherwise). Reads that must
ignore the scope on purpose (the audit chain's tail, an API key by id before its country
is known) are narrow ``SECURITY DEFINER`` functions made with
:func:`create_unscoped_function`, never a weaker policy.

The helpers decide in SQL, never by reading the connection first: the schema is named when
a statement runs (:func:`in_current_schema`), and the checks that refuse (the service's
role being the migrating role, a superuser or ``BYPASSRLS``; a table without
``country_code``) are ``DO`` blocks that raise. So ``alembic upgrade head --sql`` writes the
same statements an online run executes, for a DBA to review and apply (D129).

SQLite has no row-level security: every helper here is a no-op there.
"""

from __future__ import annotations

import os
import re
from textwrap import dedent
from typing import Any, Final

from alembic.operations import Operations
from sqlalchemy import ColumnElement, Select, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from application.security.scope import ALL, CountryScope, current_scope
from domain.shared import CountryCode

SCOPE_SETTING: Final = "supportos.countries"
ALL_COUNTRIES: Final = "*"
DEFAULT_APP_ROLE: Final = "supportos_app"
APP_ROLE_ENV: Final = "SUPPORTOS_DATABASE_APP_ROLE"
APP_ROLE_ATTRIBUTE: Final = "app_role"  # Alembic ``config.attributes`` key (see ``migrate.py``)
SCOPE_MANAGED: Final = "supportos_scope_managed"
"""Execution option of a connection whose owner sets the scope itself (a request's read
transaction, ``request_reads.py``): its BEGIN sends no ``set_config``."""
SET_SCOPE: Final = text("SELECT set_config(:name, :value, true)")

_SETTING: Final = f"current_setting('{SCOPE_SETTING}', true)"
IN_SCOPE: Final = f"(country_code = ANY (string_to_array({_SETTING}, ',')) OR {_SETTING} = '{ALL_COUNTRIES}')"
"""The policy predicate: the row's country is in the transaction's scope (NULL: no)."""
SCOPE_IS_SET: Final = f"(coalesce({_SETTING}, '') <> '')"
"""Some scope is bound (for appending to the audit log, whatever the entry's country)."""

POLICY: Final = "country_scope"
READ_POLICY: Final = "country_scope_read"
APPEND_POLICY: Final = "append_when_scoped"
_POLICIES: Final = (POLICY, READ_POLICY, APPEND_POLICY)

_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def setting_value(scope: CountryScope) -> str:
    """What ``supportos.countries`` is set to for ``scope``: ``''``, ``'*'`` or ``'CO,MX'``."""
    if scope is None:
        return ""
    if scope is ALL:
        return ALL_COUNTRIES
    return ",".join(sorted(country.value for country in scope))


def sees_nothing(scope: CountryScope) -> bool:
    """No scope bound, or an empty one: a system query answers nothing (before asking)."""
    return scope is None or (scope is not ALL and not scope)


def within_scope(query: Select[Any], country_code: ColumnElement[str], scope: CountryScope) -> Select[Any]:
    """``query`` restricted to ``scope``'s countries (unchanged for every country). The same
    filter row-level security applies on PostgreSQL, written out for SQLite and the planner."""
    if scope is None or scope is ALL:
        return query
    return query.where(country_code.in_(sorted(country.value for country in scope)))


def admits(scope: CountryScope, country: CountryCode) -> bool:
    """Whether :func:`within_scope`'s filter keeps rows of ``country``: for a query already
    narrowed to one country, the whole filter (every row or none; D150)."""
    return scope is None or scope is ALL or country in scope


def install_country_scope(engine: AsyncEngine) -> None:
    """Start every transaction on ``engine`` (PostgreSQL) with the bound country scope.

    The ``begin`` event runs in the caller's context (SQLAlchemy's greenlets carry the
    asyncio task's ``contextvars``), so it reads the scope of the request that opened the
    transaction. AUTOCOMMIT connections have no transaction to scope and are left alone.
    """
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine.sync_engine, "begin")
    def _scope_transaction(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT" or options.get(SCOPE_MANAGED):
            return
        connection.execute(SET_SCOPE, {"name": SCOPE_SETTING, "value": setting_value(current_scope())})


def scope_everything(connection: Connection) -> None:
    """Widen the open transaction on ``connection`` to every country (migrations)."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT set_config(:name, :value, true)"), {"name": SCOPE_SETTING, "value": ALL_COUNTRIES}
        )


# ----------------------------------------------------------------------------- migrations


def identifier(name: str) -> str:
    """``name`` double-quoted, after checking it is a plain SQL identifier."""
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return f'"{name}"'


def is_postgres(op: Operations) -> bool:
    return op.get_context().dialect.name == "postgresql"


def _bind(op: Operations, what: str) -> Connection:
    """The migration's connection; an offline run (``alembic upgrade --sql``) has none."""
    if op.get_context().as_sql:
        raise RuntimeError(
            f"{what} reads the database, which an offline run (alembic upgrade --sql) cannot:"
            " decide in SQL instead (in_current_schema, a DO block) or from the migration's own tables"
        )
    return op.get_bind()


def app_role(op: Operations) -> str:
    """The service's role: Alembic attribute ``app_role``, else ``SUPPORTOS_DATABASE_APP_ROLE``,
    else ``supportos_app``."""
    config = op.get_context().config
    configured = None if config is None else config.attributes.get(APP_ROLE_ATTRIBUTE)
    role = str(configured or os.environ.get(APP_ROLE_ENV) or DEFAULT_APP_ROLE)
    identifier(role)
    return role


def current_schema(op: Operations) -> str:
    """The current schema's name, asked of the live connection (online migrations only: the
    helpers below name the schema in SQL instead, :func:`in_current_schema`)."""
    schema = _bind(op, "current_schema()").execute(text("SELECT current_schema()")).scalar()
    if not isinstance(schema, str):
        raise RuntimeError("no current schema: the search_path names no existing schema")
    identifier(schema)
    return schema


def literal(value: str) -> str:
    """``value`` as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def do_block(*statements: str) -> str:
    """An anonymous PL/pgSQL block (``DO``) running ``statements``, each dedented."""
    lines = (line for statement in statements for line in dedent(statement).strip().splitlines())
    body = "\n".join(f"    {line}" for line in lines)
    return f"DO $$\nBEGIN\n{body}\nEND\n$$"


def execute_in_current_schema(statement: str) -> str:
    """The PL/pgSQL ``EXECUTE`` of ``statement``, in which ``{schema}`` stands for the current
    schema, named (``format('%I', current_schema())``) when it runs."""
    template = literal(statement.replace("%", "%%").replace("{schema}", "%1$I"))
    return f"EXECUTE format({template}, current_schema());"


def in_current_schema(*statements: str) -> str:
    """``statements`` (``{schema}``: the current schema) as a ``DO`` block that names the
    schema when it runs.

    The migrations decide in SQL, never by asking the connection first, so that an offline
    script (``alembic upgrade head --sql``) holds the same statements as an online run and
    works in whichever schema it is applied to (D129).
    """
    return do_block(*(execute_in_current_schema(statement) for statement in statements))


def prepare_app_role(op: Operations) -> str:
    """Create the service's role if needed and let it into the schema (PostgreSQL; idempotent).

    Refuses a role that would make the wall void: the migrating role itself (an owner),
    a superuser, or a role with ``BYPASSRLS`` (the ``DO`` block raises, so the migration's
    transaction, or an offline script applied in one, stops there). Creating the role needs
    ``CREATEROLE``; where the migrating role lacks it, create the role beforehand (``CREATE
    ROLE supportos_app LOGIN PASSWORD ...``) and this only checks and grants. Returns the
    role's name.
    """
    role = app_role(op)
    name, value = identifier(role), literal(role)
    migrating_as_role = literal(
        f"migrations run as {role!r}, the service's own role: run them as the schema owner "
        "(SUPPORTOS_MIGRATION_DATABASE_URL) so the service's role owns nothing"
    )
    unsafe_role = literal(f"role {role!r} is a superuser or has BYPASSRLS: row-level security cannot hold")
    op.execute(
        do_block(
            f"""
            IF current_user = {value} THEN
                RAISE EXCEPTION USING MESSAGE = {migrating_as_role};
            END IF;
            IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {value}) THEN
                BEGIN
                    CREATE ROLE {name} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE
                        NOREPLICATION NOBYPASSRLS;
                EXCEPTION WHEN duplicate_object OR unique_violation THEN
                    NULL;  -- created meanwhile by a concurrent migration of another schema
                END;
            END IF;
            IF EXISTS (
                SELECT FROM pg_catalog.pg_roles WHERE rolname = {value} AND (rolsuper OR rolbypassrls)
            ) THEN
                RAISE EXCEPTION USING MESSAGE = {unsafe_role};
            END IF;
            """  # noqa: S608 - a checked identifier and literals quoted by literal()
        )
    )
    op.execute(
        in_current_schema(
            f"GRANT USAGE ON SCHEMA {{schema}} TO {name}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {{schema}} GRANT USAGE ON SEQUENCES TO {name}",
        )
    )
    op.execute(f"GRANT SELECT ON alembic_version TO {name}")  # start-up schema checks
    return role


def revoke_app_role(op: Operations) -> None:
    """Undo :func:`prepare_app_role` in this schema (the role itself stays: roles are
    cluster-wide and may serve other databases)."""
    role = identifier(app_role(op))
    op.execute(
        in_current_schema(
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {{schema}} REVOKE USAGE ON SEQUENCES FROM {role}",
            f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {{schema}} FROM {role}",
        )
    )
    op.execute(f"REVOKE ALL ON alembic_version FROM {role}")
    op.execute(in_current_schema(f"REVOKE USAGE ON SCHEMA {{schema}} FROM {role}"))


def apply_country_rls(
    op: Operations, table: str, *, append_only: bool = False, append_any_country: bool = False
) -> None:
    """Put ``table`` (which has ``country_code``) behind the forced country policy and grant
    the service's role what it needs on it. PostgreSQL only; a no-op on SQLite.

    - default: one policy for every command, ``USING`` and ``WITH CHECK`` the scope, so
      rows of other countries can be neither seen, changed, deleted nor inserted;
    - ``append_only``: the service's role gets SELECT and INSERT only (WORM tables; their
      triggers refuse UPDATE/DELETE for everyone anyway);
    - ``append_any_country`` (the audit log): reads by scope, but an entry of any country
      may be appended once some scope is bound; a denial is audited in the country that
      was refused, which is by definition outside the caller's scope. Appending discloses
      nothing, and no UPDATE or DELETE policy exists, so none ever matches a row.

    The first statement (a ``DO`` block) refuses a table without ``country_code`` and lets
    the service's role use the schema's sequences.
    """
    if not is_postgres(op):
        return
    name, role = identifier(table), identifier(app_role(op))
    no_country = literal(f"{table} has no country_code column: row-level security by country does not apply")
    op.execute(
        do_block(
            f"""
            IF NOT EXISTS (
                SELECT FROM information_schema.columns WHERE table_schema = current_schema()
                    AND table_name = {literal(table)} AND column_name = 'country_code'
            ) THEN
                RAISE EXCEPTION USING MESSAGE = {no_country};
            END IF;
            """,
            execute_in_current_schema(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {{schema}} TO {role}"),
        )
    )
    op.execute(f"ALTER TABLE {name} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {name} FORCE ROW LEVEL SECURITY")
    if append_any_country:
        op.execute(f"CREATE POLICY {READ_POLICY} ON {name} FOR SELECT USING {IN_SCOPE}")
        op.execute(f"CREATE POLICY {APPEND_POLICY} ON {name} FOR INSERT WITH CHECK {SCOPE_IS_SET}")
    else:
        op.execute(f"CREATE POLICY {POLICY} ON {name} FOR ALL USING {IN_SCOPE} WITH CHECK {IN_SCOPE}")
    privileges = "SELECT, INSERT" if append_only else "SELECT, INSERT, UPDATE, DELETE"
    op.execute(f"GRANT {privileges} ON {name} TO {role}")


def remove_country_rls(op: Operations, table: str) -> None:
    """Undo :func:`apply_country_rls` (downgrades). A no-op on SQLite."""
    if not is_postgres(op):
        return
    name, role = identifier(table), identifier(app_role(op))
    for policy in _POLICIES:
        op.execute(f"DROP POLICY IF EXISTS {policy} ON {name}")
    op.execute(f"ALTER TABLE {name} NO FORCE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {name} DISABLE ROW LEVEL SECURITY")
    op.execute(f"REVOKE ALL ON {name} FROM {role}")


def country_scoped_tables(op: Operations) -> list[str]:
    """The tables of the current schema with a ``country_code`` column, by name, read from
    the live catalog: online migrations only (a migration names its tables instead, so that
    its offline script does too; 0006 does)."""
    rows = _bind(op, "country_scoped_tables()").execute(
        text(
            "SELECT table_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND column_name = 'country_code'"
            " ORDER BY table_name"
        )
    )
    return [str(row[0]) for row in rows]


def create_unscoped_function(
    op: Operations, *, name: str, arguments: str, returns: str, body: str, volatility: str = "STABLE"
) -> None:
    """A ``SECURITY DEFINER`` SQL function that reads past the country scope, for the
    service's role only (PostgreSQL).

    It runs as its owner (the migrating role) with ``search_path`` pinned to this schema
    (then ``pg_temp``, so nothing can be planted ahead of it) and ``supportos.countries``
    set to ``'*'`` for its own duration only (a function's ``SET`` clause is undone when it
    returns, so the caller's scope is untouched and a non-superuser owner, whom FORCE also
    binds, sees every row too). EXECUTE is revoked from PUBLIC and granted to the
    service's role. Keep the body to the one narrow question it answers.

    ``volatility`` is ``STABLE`` (the body reads with the calling statement's snapshot) or
    ``VOLATILE`` (each statement of the body takes a fresh snapshot: a body that waits for a
    lock and then reads sees what the previous holder committed).
    """
    if not is_postgres(op):
        return
    if volatility not in {"STABLE", "VOLATILE"}:
        raise ValueError(f"volatility must be STABLE or VOLATILE, got {volatility!r}")
    identifier(name)
    role = identifier(app_role(op))
    op.execute(
        f"""
        CREATE FUNCTION {name}({arguments}) RETURNS {returns}
        LANGUAGE sql {volatility} SECURITY DEFINER
        SET {SCOPE_SETTING} = '{ALL_COUNTRIES}'
        AS $function$ {body} $function$
        """
    )
    # the schema is named when the statement runs (offline scripts, D129); the same transaction
    op.execute(
        in_current_schema(
            f"ALTER FUNCTION {{schema}}.{name}({arguments}) SET search_path = {{schema}}, pg_temp"
        )
    )
    op.execute(f"REVOKE ALL ON FUNCTION {name}({arguments}) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {name}({arguments}) TO {role}")


def drop_unscoped_function(op: Operations, *, name: str, arguments: str) -> None:
    if is_postgres(op):
        op.execute(f"DROP FUNCTION IF EXISTS {identifier(name)}({arguments})")

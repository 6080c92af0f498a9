"""Is the database ready to serve? (``/readyz``)

Ready means: a connection opens, ``SELECT 1`` answers, and the schema is at the newest
migration (``alembic_version`` holds the head revision; the service's own role may read
that table, D22). Anything else is a reason, in words an operator can act on; the
exception's class is named, never its message (which may carry a host or a user name).
"""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.persistence.migrate import head_revision


def _revision(connection: Connection) -> str | None:

    return MigrationContext.configure(connection).get_current_revision()


async def database_not_ready(engine: AsyncEngine) -> str | None:
    """``None`` when ready, else why not."""
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            current = await connection.run_sync(_revision)
    except Exception as error:
        return f"database unreachable: {type(error).__name__}"
    head = head_revision()
    if current is None:
        return f"database not migrated (head is {head}); run `supportos migrate`"
    if current != head:
        return f"migrations not at head: database at {current}, code expects {head}; run `supportos migrate`"
    return None

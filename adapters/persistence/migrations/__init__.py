"""Alembic migrations: the only way the schema is built (``supportos migrate``, tests alike)."""

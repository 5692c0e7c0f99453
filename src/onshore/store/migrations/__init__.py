"""Alembic migrations for the PostgreSQL store (see onshore.store.postgres).

Every file here is a Python module inside the `onshore` package, so an installed wheel carries them
without any package-data pattern. Revisions are raw SQL through `op.execute`: the store uses no ORM.
"""

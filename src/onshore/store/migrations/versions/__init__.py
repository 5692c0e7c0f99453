"""Alembic revision scripts, one linear history; revision ids are zero-padded counters."""

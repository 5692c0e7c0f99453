"""Store: SQLite (and later PostgreSQL/Redis) implementations of the ports the stages define."""

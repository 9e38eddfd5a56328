"""Schema upgrades of an existing registry, run at open: idempotent, under the writer lock.

There is no migration framework here (the schema is three tables); each upgrade is one step that checks
whether it is needed. Today's one: the `base_id` column (models.identity: what the base is, not where it
was loaded from) on adapters and routes, added to registries created before it. Rows whose base is still
at its registered path get their identity filled in; rows whose base is gone keep NULL (nothing here can
say what it was), and are compared by path as before.
"""

from __future__ import annotations

from sqlalchemy import Connection, inspect, select, update

from ..models.identity import known_identity
from .tables import adapters, routes

# (table, column, SQL type) added after the first release of the schema.
ADDED_COLUMNS = ((adapters, "base_id", "TEXT"), (routes, "base_id", "TEXT"))


def missing_columns(conn: Connection) -> list[tuple[str, str, str]]:
    insp = inspect(conn)
    out = []
    for table, column, sql_type in ADDED_COLUMNS:
        have = {c["name"] for c in insp.get_columns(table.name)}
        if column not in have:
            out.append((table.name, column, sql_type))
    return out


def upgrade(conn: Connection) -> list[str]:
    """Bring an open registry's schema up to date in the caller's (writer) transaction; returns what it
    did, e.g. ["adapters.base_id added", "adapters.base_id filled for 3 rows"]."""
    done = []
    for table, column, sql_type in missing_columns(conn):
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")
        done.append(f"{table}.{column} added")
    for table in (adapters, routes):
        bases = conn.execute(select(table.c.base_model).where(table.c.base_id.is_(None)).distinct()).scalars()
        filled = 0
        for base in list(bases):
            ident = known_identity(base)
            if ident is not None:
                filled += conn.execute(update(table).where(table.c.base_model == base, table.c.base_id.is_(None))
                                       .values(base_id=ident)).rowcount
        if filled:
            done.append(f"{table.name}.base_id filled for {filled} rows")
    return done

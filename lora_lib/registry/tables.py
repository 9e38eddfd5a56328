"""The registry's tables, its append-only audit triggers and the per-connection helpers behind each call."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
    insert,
    select,
    update,
)

from ..models.identity import known_identity, same_recorded_base
from ..store import sha256_file
from .names import STATUSES, WEIGHTS_FILE

# DELETE of an audit row fails, whoever issues it. IF NOT EXISTS: also added to older files on open.
_SQLITE_AUDIT_TRIGGERS = [
    f"CREATE TRIGGER IF NOT EXISTS audit_no_{op.lower()} BEFORE {op} ON audit "
    "BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END"
    for op in ("UPDATE", "DELETE")
]

# The same guarantee on PostgreSQL: one statement-level trigger refuses UPDATE, DELETE and TRUNCATE
# (SQLite has no TRUNCATE; its DELETE FROM fires the row triggers). Created only when missing, so
# opening an existing registry needs no ownership of the table or function.
_PG_AUDIT_FUNCTION = """
CREATE OR REPLACE FUNCTION registry_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING MESSAGE = 'audit log is append-only (' || TG_OP || ' refused)';
END
$$"""
_PG_AUDIT_TRIGGER = ("CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit "
                     "FOR EACH STATEMENT EXECUTE FUNCTION registry_audit_append_only()")
# Any constant shared by every process that opens a registry (registries in other schemas of the same
# database share it too, which only serializes their rare writes with ours).
_PG_WRITER_LOCK = 0x6C6F7261_72656701  # "lora" "reg" 1

# Names (ids, versions) sort byte-wise like SQLite, whatever the PostgreSQL server's default collation
# (en_US/ICU would put "Zed" after "abe"): listings come back in the same order on both backends.
_Name = String(200).with_variant(String(200, collation="C"), "postgresql")
_NAME_MAX = 200

_meta = MetaData()
adapters = Table(
    "adapters", _meta,
    Column("character_id", _Name, primary_key=True),  # a character or a category name
    Column("version", _Name, primary_key=True),
    Column("path", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("base_model", Text, nullable=False),  # the path (or hub id) it was trained from
    Column("base_id", Text, nullable=True),  # what that base is (models.identity); NULL: unknown (old row)
    Column("dataset_version", String(200), nullable=False),
    Column("gate_report", Text, nullable=True),  # JSON text: portable across backends
    Column("status", String(32), nullable=False),
    Column("created_at", String(40), nullable=False),
)
routes = Table(
    "routes", _meta,
    Column("character_id", _Name, primary_key=True),
    Column("category", _Name, nullable=True),
    Column("base_model", Text, nullable=False),  # the stable version's base (a candidate may be on another)
    Column("base_id", Text, nullable=True),
    Column("stable_version", _Name, nullable=True),
    Column("candidate_version", _Name, nullable=True),
    Column("rollout_percent", Float, nullable=False, default=0.0),
    Column("updated_at", String(40), nullable=False),
)
audit = Table(
    "audit", _meta,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", String(40), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("character_id", _Name, nullable=True),
    Column("detail", Text, nullable=False),
    Column("reason", Text, nullable=False),
)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, default=str)



# ---- helpers (all take an open connection so callers control the transaction) ---------------------

def _real_sqlite_transactions(engine: Engine) -> None:
    """Make "one transaction per call" true on SQLite.

    pysqlite by default sends BEGIN only before the first INSERT/UPDATE, so the reads a call makes
    before writing (rollback reads the route, then writes it) ran outside the transaction: another
    process could commit in between and be silently overwritten. Here SQLAlchemy's BEGIN is the only
    one, and writers use BEGIN IMMEDIATE: they take the write lock up front and queue behind each
    other (busy timeout) instead of failing on a lock upgrade. Readers stay deferred and never block
    each other.
    """
    @event.listens_for(engine, "connect")
    def _no_driver_begin(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("registry_write")
                             else "BEGIN")


def _set_route(conn: Connection, character_id: str, *, base_model: str, stable_version: str | None,
               candidate_version: str | None, rollout_percent: float, category: str | None, override: bool,
               actor: str, reason: str) -> dict:
    """Registry.set_route inside the caller's (writer) transaction."""
    rollout_percent = float(rollout_percent)
    if not 0.0 <= rollout_percent <= 100.0:
        raise ValueError(f"rollout_percent must be in 0..100, got {rollout_percent}")
    if candidate_version is None and rollout_percent > 0:
        raise ValueError("rollout_percent > 0 needs a candidate_version")
    _check_lengths(character_id=character_id, category=category, actor=actor)
    not_approved = []
    base_id = None
    for side, v in (("stable", stable_version), ("candidate", candidate_version)):
        if v is None:
            continue
        row = _require_adapter(conn, character_id, v)
        # The route's base is its stable version's: a route that named one base while its stable runs on
        # another would misstate what users get. A candidate may be on another base (a rollout moves the
        # character there; the server takes each group's base from the adapter row). Compared by content,
        # and by the recorded identity where a path is gone (a copied or moved store keeps its adapters).
        if side == "stable":
            if not same_recorded_base(row["base_model"], row["base_id"], base_model):
                raise ValueError(f"adapter {character_id}@{v} was trained on {row['base_model']!r}, "
                                 f"not {base_model!r} (the route's base is its stable version's; a version on "
                                 "another base goes in as the candidate, then promote)")
            base_id = row["base_id"]
        if row["status"] != "approved":
            not_approved.append({"version": v, "status": row["status"]})
        weights = Path(row["path"]) / WEIGHTS_FILE
        # Checked where the file is visible (a team registry may sit apart from the adapters);
        # the engine checks again at every load, so a later change is refused there too.
        if weights.is_file() and sha256_file(weights) != row["sha256"]:
            raise ValueError(f"adapter {character_id}@{v}: {weights} no longer matches the registered "
                             f"sha256 {row['sha256'][:12]}…: refusing to route it")
    if not_approved and not override:
        raise ValueError(f"only approved adapters may be routed; not approved: {not_approved} "
                         "(override=True to force, audited)")
    current = _route(conn, character_id)
    if category is None and current is not None:
        category = current["category"]  # a rollout change need not restate the category
    route = {"category": category, "base_model": base_model, "base_id": base_id or known_identity(base_model),
             "stable_version": stable_version, "candidate_version": candidate_version,
             "rollout_percent": rollout_percent}
    _write_route(conn, character_id, route)
    detail = dict(route, override=override, not_approved=not_approved)
    _audit(conn, actor, "set_route_override" if not_approved else "set_route", character_id,
           reason, detail)
    return _route(conn, character_id)


def _serialized_postgres_writers(engine: Engine) -> None:
    """Make "one transaction per call" true on PostgreSQL: writers run one at a time, like SQLite's
    BEGIN IMMEDIATE.

    Every writer transaction starts with a transaction-level advisory lock on one constant key, so
    it queues behind any other writer and, being READ COMMITTED, then reads everything committed
    before it. Why not the alternatives: SELECT ... FOR UPDATE on the route row cannot lock a route
    that does not exist yet, and writers also read adapter statuses (a concurrent set_status could
    reject an adapter set_route just checked) and the audit history rollback replays, whose ids must
    follow commit order; SERIALIZABLE would need every method wrapped in a retry loop. Registry
    writes are rare admin actions, so one lock costs nothing; readers take no lock and never wait.
    The lock is released at COMMIT or ROLLBACK, also when the client dies.
    """
    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        if conn.get_execution_options().get("registry_write"):
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_WRITER_LOCK})")


def _postgres_audit_trigger(conn: Connection) -> None:
    """Create the append-only trigger on `audit` unless it exists (in the caller's locked transaction)."""
    exists = conn.exec_driver_sql("SELECT 1 FROM pg_trigger WHERE tgrelid = 'audit'::regclass "
                                  "AND tgname = 'audit_append_only'").first()
    if exists is None:
        conn.exec_driver_sql(_PG_AUDIT_FUNCTION)
        conn.exec_driver_sql(_PG_AUDIT_TRIGGER)


def _check_lengths(**fields: str | None) -> None:
    """Free-form names stored in 200-character columns: too long is a ValueError on every backend
    (PostgreSQL would refuse it with a driver error, SQLite would store it)."""
    for label, value in fields.items():
        if value is not None and len(str(value)) > _NAME_MAX:
            raise ValueError(f"{label} is {len(str(value))} characters long; at most {_NAME_MAX}")


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; expected one of {STATUSES}")


def _adapter_dict(m) -> dict:
    d = dict(m)
    d["gate_report"] = None if d["gate_report"] is None else json.loads(d["gate_report"])
    return d


def _adapter(conn: Connection, character_id: str, version: str) -> dict | None:
    m = conn.execute(select(adapters).where(adapters.c.character_id == character_id,
                                            adapters.c.version == version)).mappings().first()
    return None if m is None else _adapter_dict(m)


def _require_adapter(conn: Connection, character_id: str, version: str) -> dict:
    row = _adapter(conn, character_id, version)
    if row is None:
        raise ValueError(f"unknown adapter {character_id}@{version}")
    return row


def _route(conn: Connection, character_id: str) -> dict | None:
    m = conn.execute(select(routes).where(routes.c.character_id == character_id)).mappings().first()
    return None if m is None else dict(m)


def _write_route(conn: Connection, character_id: str, route: dict) -> None:
    values = {k: route[k] for k in ("category", "base_model", "base_id", "stable_version", "candidate_version",
                                    "rollout_percent")}
    values["updated_at"] = now_iso()
    if _route(conn, character_id) is None:
        conn.execute(insert(routes).values(character_id=character_id, **values))
    else:
        conn.execute(update(routes).where(routes.c.character_id == character_id).values(**values))


def _audit(conn: Connection, actor: str, action: str, character_id: str | None, reason: str,
           detail: dict) -> None:
    conn.execute(insert(audit).values(ts=now_iso(), actor=actor, action=action, character_id=character_id,
                                      detail=_dumps(detail), reason=reason or ""))


def _audit_rows(conn: Connection, character_id: str | None) -> list[dict]:
    q = select(audit).order_by(audit.c.id)
    if character_id is not None:
        q = q.where(audit.c.character_id == character_id)
    return [dict(m, detail=json.loads(m["detail"])) for m in conn.execute(q).mappings()]


def _previous_stable(conn: Connection, character_id: str, current: str | None) -> str | None:
    """The stable version before `current`, from the audit trail, skipping ones no longer approved.

    The history is a stack: a route change that sets a new stable pushes it, a stable rollback pops
    down to its target. So rolling back twice from v2 goes v1 then v0, never back to v2.
    """
    stack: list[str] = []
    for row in _audit_rows(conn, character_id):
        d = row["detail"]
        if row["action"] in ("set_route", "set_route_override"):
            v = d.get("stable_version")
            if v is not None and (not stack or stack[-1] != v):
                stack.append(v)
        elif row["action"] == "rollback" and d.get("kind") == "stable":
            # a rollback may have skipped versions that were no longer approved: pop down to its target
            while stack and stack[-1] != d["stable_version"]:
                stack.pop()
            if not stack:
                stack.append(d["stable_version"])
    if stack and stack[-1] == current:
        stack.pop()
    while stack:
        v = stack.pop()
        row = _adapter(conn, character_id, v)
        if v != current and row is not None and row["status"] == "approved":
            return v
    return None

"""Adapter registry, routing table and append-only audit log (SQLAlchemy 2.x; SQLite by default,
PostgreSQL for a team through a `postgresql+psycopg://` URL).

Every public method is one transaction, and writers run one at a time on both backends. Rows come
back as plain dicts; timestamps are ISO 8601 UTC. The audit log is the route history: `rollback`
replays it to find the previous stable version, so there is no second source of truth to drift out
of sync.
"""

from __future__ import annotations

import json
import re
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
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from ..store import sha256_file

STATUSES = ("candidate", "approved", "rejected", "needs_retrain", "retired")
WEIGHTS_FILE = "adapter_model.safetensors"
_NAME_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def adapter_name(owner: str, version: str | None) -> str:
    """The immutable serving name `<owner>@<version>` (`<owner>@base` for the bare base model)."""
    return f"{owner}@{version or 'base'}"


def parse_adapter_name(name: str) -> tuple[str, str]:
    """`"nabi@abc123"` -> ("nabi", "abc123"); anything else -> ValueError naming the input."""
    owner, sep, version = str(name).partition("@")
    if not sep or not _NAME_PART.match(owner) or not _NAME_PART.match(version):
        raise ValueError(f"not an adapter name {name!r}: expected <character>@<version>")
    return owner, version

# Append-only in the database itself, not only by the absence of an API: on SQLite any UPDATE or
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
    Column("base_model", Text, nullable=False),
    Column("dataset_version", String(200), nullable=False),
    Column("gate_report", Text, nullable=True),  # JSON text: portable across backends
    Column("status", String(32), nullable=False),
    Column("created_at", String(40), nullable=False),
)
routes = Table(
    "routes", _meta,
    Column("character_id", _Name, primary_key=True),
    Column("category", _Name, nullable=True),
    Column("base_model", Text, nullable=False),
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


class Registry:
    """Registry of adapter versions, per-character routes and the audit trail, behind one DB URL."""

    def __init__(self, url: str):
        """Open (creating parent dir and tables if needed) the database at `url`."""
        self.url = url
        u = make_url(url)
        backend = u.get_backend_name()
        kwargs: dict[str, Any] = {}
        writer_options: dict[str, Any] = {}
        if backend == "sqlite":
            if u.database and u.database != ":memory:":
                Path(u.database).parent.mkdir(parents=True, exist_ok=True)
            else:  # one shared connection, or every call would see a fresh empty DB
                kwargs = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
        elif backend == "postgresql":
            # Readers see one snapshot for the whole call (route_status reads routes, then adapters), as
            # SQLite's deferred BEGIN gives them; read-only REPEATABLE READ never fails to serialize.
            # Writers stay READ COMMITTED: their snapshot must be taken after the lock (see below).
            # pre_ping: a long-running server survives the team database restarting.
            kwargs = {"isolation_level": "REPEATABLE READ", "pool_pre_ping": True}
            writer_options = {"isolation_level": "READ COMMITTED"}
        self._engine = create_engine(url, **kwargs)
        if backend == "sqlite":
            _real_sqlite_transactions(self._engine)
        elif backend == "postgresql":
            _serialized_postgres_writers(self._engine)
        # Writers get their own option so the backend can take the write lock at BEGIN (see below).
        self._writer = self._engine.execution_options(registry_write=True, **writer_options)
        if backend == "postgresql":
            # Under the writer lock: two processes opening a fresh database at once do not race on
            # CREATE TABLE, and the trigger is created exactly once.
            with self._writer.begin() as conn:
                _meta.create_all(conn)
                _postgres_audit_trigger(conn)
            return
        _meta.create_all(self._engine)
        if backend == "sqlite":
            with self._writer.begin() as conn:
                for ddl in _SQLITE_AUDIT_TRIGGERS:
                    conn.exec_driver_sql(ddl)

    def __repr__(self) -> str:
        return f"Registry({self.url!r})"

    def close(self) -> None:
        """Close pooled connections (a PostgreSQL server counts them); the registry reopens on next use."""
        self._engine.dispose()

    # ---- adapters -------------------------------------------------------------------------------

    def register_adapter(self, *, character_id: str, version: str, path: str, base_model: str,
                         dataset_version: str, sha256: str | None = None, gate_report: dict | None = None,
                         status: str = "candidate", actor: str = "system", reason: str = "") -> dict:
        """Add an adapter version; returns its row.

        Idempotent for the same (character_id, version, sha256): the existing row is returned and
        nothing is logged. The same version with different weights is a ValueError (versions are
        immutable). sha256 defaults to the hash of <path>/adapter_model.safetensors.
        """
        _check_status(status)
        for label, value in (("character_id", character_id), ("version", version)):
            if not _NAME_PART.match(str(value)):
                raise ValueError(f"invalid {label} {value!r}: letters, digits, '.', '_' and '-' only "
                                 "(names are <character>@<version>)")
        _check_lengths(dataset_version=dataset_version, actor=actor)
        digest = sha256 or sha256_file(Path(path) / WEIGHTS_FILE)
        with self._writer.begin() as conn:
            existing = _adapter(conn, character_id, version)
            if existing is not None:
                if existing["sha256"] != digest:
                    raise ValueError(f"adapter {character_id}@{version} is already registered with sha256 "
                                     f"{existing['sha256'][:12]}…, not {digest[:12]}…: register a new version")
                return existing
            row = {"character_id": character_id, "version": version, "path": str(path), "sha256": digest,
                   "base_model": base_model, "dataset_version": dataset_version,
                   "gate_report": None if gate_report is None else _dumps(gate_report),
                   "status": status, "created_at": now_iso()}
            conn.execute(insert(adapters).values(**row))
            _audit(conn, actor, "register_adapter", character_id, reason,
                   {"version": version, "sha256": digest, "path": str(path), "base_model": base_model,
                    "dataset_version": dataset_version, "status": status})
            return _adapter(conn, character_id, version)

    def set_status(self, character_id: str, version: str, status: str, *, actor: str = "system",
                   reason: str = "") -> None:
        """Change an adapter's status (one of STATUSES); unknown status or adapter -> ValueError."""
        _check_status(status)
        _check_lengths(actor=actor)
        with self._writer.begin() as conn:
            row = _require_adapter(conn, character_id, version)
            conn.execute(update(adapters)
                         .where(adapters.c.character_id == character_id, adapters.c.version == version)
                         .values(status=status))
            _audit(conn, actor, "set_status", character_id, reason,
                   {"version": version, "from": row["status"], "to": status})

    def get_adapter(self, character_id: str, version: str) -> dict | None:
        with self._engine.connect() as conn:
            return _adapter(conn, character_id, version)

    def list_adapters(self, character_id: str | None = None) -> list[dict]:
        """All adapter rows (optionally one owner's), oldest first."""
        q = select(adapters).order_by(adapters.c.created_at, adapters.c.version)
        if character_id is not None:
            q = q.where(adapters.c.character_id == character_id)
        with self._engine.connect() as conn:
            return [_adapter_dict(r) for r in conn.execute(q).mappings()]

    def verify_weights(self, character_id: str, version: str) -> bool:
        """True iff the weights file on disk still hashes to the registered sha256 (missing file -> False)."""
        row = self.get_adapter(character_id, version)
        if row is None:
            raise ValueError(f"unknown adapter {character_id}@{version}")
        weights = Path(row["path"]) / WEIGHTS_FILE
        return weights.is_file() and sha256_file(weights) == row["sha256"]

    # ---- routes ---------------------------------------------------------------------------------

    def set_route(self, character_id: str, *, base_model: str, stable_version: str | None,
                  candidate_version: str | None = None, rollout_percent: float = 0.0,
                  category: str | None = None, override: bool = False, actor: str = "system",
                  reason: str = "") -> dict:
        """Create or replace `character_id`'s route; returns it.

        Versions are adapters owned by `character_id` (for a category route, the category name).
        Only approved adapters may be routed unless override=True, which is recorded in the audit.
        An adapter built on another base model, or whose weights file no longer matches its sha256,
        is refused even with override.
        category=None keeps the route's existing category.
        """
        with self._writer.begin() as conn:
            return _set_route(conn, character_id, base_model=base_model, stable_version=stable_version,
                              candidate_version=candidate_version, rollout_percent=rollout_percent,
                              category=category, override=override, actor=actor, reason=reason)

    def get_route(self, character_id: str) -> dict | None:
        with self._engine.connect() as conn:
            return _route(conn, character_id)

    def list_routes(self) -> list[dict]:
        with self._engine.connect() as conn:
            return [dict(m) for m in conn.execute(select(routes).order_by(routes.c.character_id)).mappings()]

    def rollout(self, character_id: str, candidate_version: str, percent: float, *, override: bool = False,
                actor: str = "system", reason: str = "") -> dict:
        """Put `candidate_version` in front of `percent`% of users (sticky), stable unchanged.

        Raising percent for the same candidate only moves users stable -> candidate (router buckets).
        Needs an existing route (set a stable first); same approval rules as set_route.
        """
        # Read and write in one writer transaction: a rollback committed between them would otherwise
        # be silently undone by writing back the stable version read before it.
        with self._writer.begin() as conn:
            route = _route(conn, character_id)
            if route is None:
                raise ValueError(f"no route for {character_id!r}: `lora route set` a stable version first")
            if candidate_version == route["stable_version"]:
                raise ValueError(f"{character_id}@{candidate_version} is already the stable version")
            return _set_route(conn, character_id, base_model=route["base_model"],
                              stable_version=route["stable_version"], candidate_version=candidate_version,
                              rollout_percent=percent, category=None, override=override, actor=actor,
                              reason=reason)

    def promote(self, character_id: str, *, actor: str = "system", reason: str = "") -> dict:
        """Make the candidate the stable version for everyone (rollout 0, no candidate), one transaction.

        The candidate must be approved (promotion never uses the override). The old stable stays in
        the history, so a later rollback returns to it.
        """
        _check_lengths(actor=actor)
        with self._writer.begin() as conn:
            route = _route(conn, character_id)
            if route is None or route["candidate_version"] is None:
                raise ValueError(f"no candidate to promote for {character_id!r}")
            row = _require_adapter(conn, character_id, route["candidate_version"])
            if row["status"] != "approved":
                raise ValueError(f"cannot promote {character_id}@{row['version']}: status {row['status']!r}, "
                                 "not approved")
            new = dict(route, stable_version=route["candidate_version"], candidate_version=None,
                       rollout_percent=0.0)
            _write_route(conn, character_id, new)
            # Audited as a set_route (detail promoted_from): readers of the history (rollback, monitor's
            # "freshly promoted") see one kind of route change, whichever command made it.
            _audit(conn, actor, "set_route", character_id, reason,
                   {k: new[k] for k in ("category", "base_model", "stable_version", "candidate_version",
                                        "rollout_percent")} | {"override": False, "not_approved": [],
                                                              "promoted_from": route["stable_version"]})
            return _route(conn, character_id)

    def route_status(self, character_id: str | None = None) -> list[dict]:
        """Routes with the status of their stable/candidate adapters and warnings a person must see.

        Warnings: a routed adapter marked needs_retrain (a deletion request touched its data), or
        routed but not approved / never served (rejected, retired).
        """
        with self._engine.connect() as conn:
            rows = [dict(m) for m in conn.execute(select(routes).order_by(routes.c.character_id)).mappings()]
            out = []
            for route in rows:
                if character_id is not None and route["character_id"] != character_id:
                    continue
                warnings = []
                for side in ("stable", "candidate"):
                    v = route[f"{side}_version"]
                    status = None
                    if v is not None:
                        a = _adapter(conn, route["character_id"], v)
                        status = a["status"] if a else "missing"
                        if status == "needs_retrain":
                            warnings.append(f"{side} {route['character_id']}@{v} needs_retrain "
                                            "(deletion request): train a new version and roll it out")
                        elif status != "approved":
                            warnings.append(f"{side} {route['character_id']}@{v} is {status}")
                    route[f"{side}_status"] = status
                route["warnings"] = warnings
                out.append(route)
            return out

    def rollback(self, character_id: str, *, actor: str = "system", reason: str = "") -> dict:
        """Undo the last change to what users see, in one transaction; returns the new route.

        With a candidate set: drop it (rollout 0), stable untouched. Otherwise: switch stable to the
        previous stable version in the route history that is still approved. No route, or no such
        version -> ValueError and nothing changes.
        """
        _check_lengths(actor=actor)
        with self._writer.begin() as conn:
            route = _route(conn, character_id)
            if route is None:
                raise ValueError(f"no route for {character_id!r}: nothing to roll back")
            before = {k: route[k] for k in ("stable_version", "candidate_version", "rollout_percent")}
            if route["candidate_version"] is not None:
                new = dict(route, candidate_version=None, rollout_percent=0.0)
                kind = "drop_candidate"
            else:
                target = _previous_stable(conn, character_id, route["stable_version"])
                if target is None:
                    raise ValueError(f"no previous approved stable version for {character_id!r}")
                new = dict(route, stable_version=target)
                kind = "stable"
            _write_route(conn, character_id, new)
            after = _route(conn, character_id)
            _audit(conn, actor, "rollback", character_id, reason,
                   {"kind": kind, "before": before, "stable_version": after["stable_version"],
                    "candidate_version": None, "rollout_percent": after["rollout_percent"]})
            return after

    # ---- audit ----------------------------------------------------------------------------------

    def audit_log(self, character_id: str | None = None) -> list[dict]:
        """Audit rows in order (id, ts, actor, action, character_id, detail, reason). Append-only."""
        with self._engine.connect() as conn:
            return _audit_rows(conn, character_id)


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
    for v in (stable_version, candidate_version):
        if v is None:
            continue
        row = _require_adapter(conn, character_id, v)
        if row["base_model"] != base_model:
            raise ValueError(f"adapter {character_id}@{v} was trained on {row['base_model']!r}, "
                             f"not {base_model!r}")
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
    route = {"category": category, "base_model": base_model, "stable_version": stable_version,
             "candidate_version": candidate_version, "rollout_percent": rollout_percent}
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
    values = {k: route[k] for k in ("category", "base_model", "stable_version", "candidate_version",
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

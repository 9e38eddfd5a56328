"""Adapter registry, routing table and append-only audit log (SQLAlchemy 2.x; SQLite by default,
PostgreSQL for a team through a `postgresql+psycopg://` URL).

Every public method is one transaction, and writers run one at a time on both backends. Rows come
back as plain dicts; timestamps are ISO 8601 UTC. The audit log is the route history: `rollback`
replays it to find the previous stable version, so there is no second source of truth to drift out
of sync.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import (
    create_engine,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from ..models.identity import known_identity
from ..store import sha256_file
from .migrate import upgrade
from .names import _NAME_PART, WEIGHTS_FILE
from .tables import (
    _SQLITE_AUDIT_TRIGGERS,
    _adapter,
    _adapter_dict,
    _audit,
    _audit_rows,
    _check_lengths,
    _check_status,
    _dumps,
    _meta,
    _postgres_audit_trigger,
    _previous_stable,
    _real_sqlite_transactions,
    _require_adapter,
    _route,
    _serialized_postgres_writers,
    _set_route,
    _write_route,
    adapters,
    now_iso,
    routes,
)


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
                self.upgraded = upgrade(conn)
            return
        _meta.create_all(self._engine)
        with self._writer.begin() as conn:
            if backend == "sqlite":
                for ddl in _SQLITE_AUDIT_TRIGGERS:
                    conn.exec_driver_sql(ddl)
            self.upgraded = upgrade(conn)  # what opening changed in an older schema (migrate.py)

    def __repr__(self) -> str:
        return f"Registry({self.url!r})"

    def close(self) -> None:
        """Close pooled connections (a PostgreSQL server counts them); the registry reopens on next use."""
        self._engine.dispose()

    # ---- adapters -------------------------------------------------------------------------------

    def register_adapter(self, *, character_id: str, version: str, path: str, base_model: str,
                         dataset_version: str, sha256: str | None = None, gate_report: dict | None = None,
                         status: str = "candidate", actor: str = "system", reason: str = "",
                         base_id: str | None = None) -> dict:
        """Add an adapter version; returns its row.

        base_id (what the base is: models.identity) defaults to the identity of `base_model` where it
        can be known here (None for a local path that is not here): it lets a moved store find its base.

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
                   "base_model": base_model, "base_id": base_id or known_identity(base_model),
                   "dataset_version": dataset_version, "gate_report": None if gate_report is None else _dumps(gate_report),
                   "status": status, "created_at": now_iso()}
            conn.execute(insert(adapters).values(**row))
            _audit(conn, actor, "register_adapter", character_id, reason,
                   {"version": version, "sha256": digest, "path": str(path), "base_model": base_model,
                    "base_id": row["base_id"], "dataset_version": dataset_version, "status": status})
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
        `base_model` is the stable version's base: a stable built on another base, or an adapter whose
        weights file no longer matches its sha256, is refused even with override. The candidate may be
        on another base (moving a character to a new base is a rollout; promote moves the route there).
        category=None keeps the route's existing category.
        """
        with self._writer.begin() as conn:
            return _set_route(conn, character_id, base_model=base_model, stable_version=stable_version,
                              candidate_version=candidate_version, rollout_percent=rollout_percent,
                              category=category, override=override, actor=actor, reason=reason)

    def default_route_base(self, character_id: str, stable_version: str | None, fallback: str) -> str:
        """The base a route set without an explicit base gets: the stable adapter's own base (so setting a
        stable trained on another base moves the route there), else the current route's, else `fallback`."""
        row = self.get_adapter(character_id, stable_version) if stable_version else None
        if row is not None:
            return row["base_model"]
        current = self.get_route(character_id)
        return current["base_model"] if current else fallback

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
            # The route moves to the candidate's base (a rollout may have put it on another one).
            new = dict(route, stable_version=route["candidate_version"], candidate_version=None,
                       rollout_percent=0.0, base_model=row["base_model"], base_id=row["base_id"])
            _write_route(conn, character_id, new)
            # Audited as a set_route (detail promoted_from): readers of the history (rollback, monitor's
            # "freshly promoted") see one kind of route change, whichever command made it.
            _audit(conn, actor, "set_route", character_id, reason,
                   {k: new[k] for k in ("category", "base_model", "base_id", "stable_version",
                                        "candidate_version", "rollout_percent")} | {"override": False, "not_approved": [],
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
        previous stable version in the route history that is still approved, and the route's base to
        that version's base. No route, or no such version -> ValueError and nothing changes.
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
                row = _require_adapter(conn, character_id, target)  # back on its base, if it was on another
                new = dict(route, stable_version=target, base_model=row["base_model"], base_id=row["base_id"])
                kind = "stable"
            _write_route(conn, character_id, new)
            after = _route(conn, character_id)
            _audit(conn, actor, "rollback", character_id, reason,
                   {"kind": kind, "before": before, "stable_version": after["stable_version"],
                    "candidate_version": None, "rollout_percent": after["rollout_percent"],
                    "base_model": after["base_model"]})
            return after

    # ---- audit ----------------------------------------------------------------------------------

    def audit_log(self, character_id: str | None = None) -> list[dict]:
        """Audit rows in order (id, ts, actor, action, character_id, detail, reason). Append-only."""
        with self._engine.connect() as conn:
            return _audit_rows(conn, character_id)

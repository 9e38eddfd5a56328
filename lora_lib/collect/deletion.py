"""Deletion requests: the requests file every collect reads, and `lora forget --user ID`.

Collect excludes every user named in the file; forget_user adds a request, lists the dataset
versions and adapters built with that user's data and flags those adapters in the registry.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from .consent import user_ref
from .readers import CollectError


def load_deletion_requests(path: str | Path | None) -> set[str]:
    """User ids from the deletion-requests file (JSON lines with "user_id"); a bad line stops the run,
    because skipping a deletion request silently would train on data we promised to delete."""
    if not path or not Path(path).exists():
        return set()
    out = set()
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    out.add(str(json.loads(line)["user_id"]))
                except (ValueError, KeyError, TypeError) as exc:
                    raise CollectError(f"{path}:{lineno}: bad deletion request ({exc!r}); fix it before collecting") \
                        from None
    return out


# ---- deletion requests: `lora forget --user ID` -----------------------------------------------------

def add_deletion_request(path: str | Path, user_id: str, requested_at: datetime | None = None) -> bool:
    """Append a request to the deletion-requests file (atomically); False if the user was already there."""
    from ..store import atomic_write_text

    user_id = str(user_id).strip()
    if not user_id:
        raise ValueError("a deletion request needs a non-empty user id")
    path = Path(path)
    if user_id in load_deletion_requests(path):
        return False
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    when = (requested_at or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    atomic_write_text(path, old + json.dumps({"user_id": user_id, "requested_at": when}) + "\n")
    return True


def _sorted_dicts(rows):
    return sorted(rows, key=lambda d: tuple(str(v) for v in d.values()))


def forget_user(user_id: str, *, store: str | Path, salt: str, requests_path: str | Path,
                registry_url: str | None = None, actor: str = "lora forget") -> dict:
    """Honour a deletion request: record it (future collects exclude the user), list every dataset
    version and adapter built with the user's data, and mark those adapters `needs_retrain` in the
    registry when one exists. Returns a report (also written under <store>/deletions/)."""
    from ..store import write_json

    ref = user_ref(user_id, salt)
    added = add_deletion_request(requests_path, user_id)
    store = Path(store)
    datasets = _sorted_dicts(
        {"character_id": m.parent.parent.name, "version": m.parent.name, "path": str(m.parent)}
        for m in store.glob("datasets/*/*/manifest.json") if ref in (_read(m).get("user_refs") or []))
    affected = {(d["character_id"], d["version"]) for d in datasets}
    adapters = _sorted_dicts(
        {"character_id": r.parent.parent.name, "version": r.parent.name, "path": str(r.parent),
         "dataset_version": _read(r).get("dataset_version")}
        for r in store.glob("adapters/*/*/record.json")
        if (r.parent.parent.name, _read(r).get("dataset_version")) in affected)
    flagged = []
    if registry_url and _registry_exists(registry_url):
        from ..registry import Registry

        registry = Registry(registry_url)
        for row in registry.list_adapters():
            if (row["character_id"], row["dataset_version"]) in affected and row["status"] != "needs_retrain":
                registry.set_status(row["character_id"], row["version"], "needs_retrain", actor=actor,
                                    reason=f"deletion request for user_ref {ref}")
                flagged.append({"character_id": row["character_id"], "version": row["version"],
                                "previous_status": row["status"]})
    report = {"user_ref": ref, "request_added": added, "requests_file": str(requests_path),
              "datasets": datasets, "adapters": adapters, "registry_flagged": flagged,
              "registry": registry_url if registry_url and _registry_exists(registry_url) else None,
              "at": datetime.now(UTC).isoformat()}
    # The report names the user only by user_ref: it may be shared with reviewers.
    write_json(store / "deletions" / f"{ref}.json", report)
    return report


def _read(path: Path) -> dict:
    from ..store import read_json

    return read_json(path)


def _registry_exists(url: str) -> bool:
    """A SQLite registry exists when its file does; any other database URL is assumed to exist."""
    if url.startswith("sqlite:///"):
        db = url[len("sqlite:///"):]
        return db not in ("", ":memory:") and Path(db).exists()
    return True

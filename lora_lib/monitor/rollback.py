"""Auto-rollback: which firing alerts should roll a route back (pure decisions, with the reason for every
skip) and carrying them out through the registry's own audited rollback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd


def _parse(ts: str) -> datetime:
    t = datetime.fromisoformat(ts)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def promoted_at(audit_rows: list[dict], version: str) -> str | None:
    """When `version` last became stable by a route change (set_route); None if it is stable by a
    rollback or not stable at all. A rollback *to* a version is not a fresh promotion."""
    since = None
    for row in audit_rows:
        d = row.get("detail") or {}
        if row["action"] in ("set_route", "set_route_override"):
            if d.get("stable_version") == version:
                since = since or row["ts"]
            else:
                since = None
        elif row["action"] == "rollback" and d.get("kind") == "stable":
            since = None
    return since


def rollback_decisions(alerts: list[dict], routes: dict[str, dict | None], audit: dict[str, list[dict]], *,
                       now: datetime, cooldown_s: float, fresh_s: float,
                       window: timedelta | None = None) -> list[dict]:
    """What auto-rollback should do about these (currently firing) alerts, one decision per (character,
    version), pure.

    A latency alert marked blames_version=False (alerts.mark_latency_blame) never acts: it is skipped with
    its reason unless the version has other alerts. Acts ("rollback") when the alerting version is the route's live candidate, or its stable version
    promoted (set_route) less than fresh_s ago. Skips, with the reason, when: no route; the version is
    not live (already rolled back: the alert persists in the log, the cause is gone); a long-standing
    stable (rolling it back is a human call); every alert's window (start + `window`) ended before the
    route last changed (old evidence: re-promoting a version must not be undone by last hour's alert);
    or the monitor rolled the character back less than cooldown_s ago and no person has changed the
    route since (the monitor must not chain its own rollbacks; a new rollout is a new decision and is
    protected at once). At most one action per character, a candidate first.
    `routes`/`audit` are the registry's get_route / audit_log per character_id.
    """
    decisions: list[dict] = []
    acted: set[str] = set()
    by_target: dict[tuple[str, str], list[dict]] = {}
    host_slow: dict[tuple[str, str], list[dict]] = {}
    for a in alerts:
        if a["adapter_version"] == "base":
            continue
        key = (a["character_id"], a["adapter_version"])
        # a latency alert the version shares with every other one on the window (alerts.mark_latency_blame)
        (host_slow if a.get("blames_version") is False else by_target).setdefault(key, []).append(a)
    for key, group in sorted(host_slow.items()):
        if key not in by_target:
            decisions.append({"character_id": key[0], "adapter_version": key[1],
                              "alert_ids": sorted({a["alert_id"] for a in group}),
                              "metrics": sorted({a["metric"] for a in group}), "action": "skip",
                              "reason": "latency over the threshold with no other version on the window under it: "
                                        "the host is slow, not this adapter; rolling back would not help (a person's call)"})

    def candidate_first(item):  # dropping a candidate is the smallest undo: it goes before a stable rollback
        (cid, version), _ = item
        return cid, version != (routes.get(cid) or {}).get("candidate_version"), version

    for (cid, version), group in sorted(by_target.items(), key=candidate_first):
        route = routes.get(cid)
        rows = audit.get(cid, [])
        base = {"character_id": cid, "adapter_version": version, "alert_ids": sorted({a["alert_id"] for a in group}),
                "metrics": sorted({a["metric"] for a in group})}
        if route is None:
            decisions.append({**base, "action": "skip", "reason": "no route for this character"})
            continue
        changes = [r["ts"] for r in rows if r["action"] in ("set_route", "set_route_override", "rollback")]
        if window is not None and changes and all(
                "window" in a and pd.Timestamp(a["window"]) + window <= pd.Timestamp(_parse(changes[-1]))
                for a in group):
            decisions.append({**base, "action": "skip", "reason": f"old evidence: the alerts' windows ended "
                                                                  f"before the route changed at {changes[-1]}"})
            continue
        if version == route.get("candidate_version") and (route.get("rollout_percent") or 0) > 0:
            target = "candidate"
        elif version == route.get("stable_version"):
            since = promoted_at(rows, version)
            if since is None or (now - _parse(since)).total_seconds() > fresh_s:
                decisions.append({**base, "action": "skip",
                                  "reason": f"stable version not freshly promoted (within {fresh_s:g} s): "
                                            "rolling it back is a human decision"})
                continue
            target = "fresh_stable"
        else:
            decisions.append({**base, "action": "skip", "reason": "version is not live on the route "
                                                                  "(already rolled back or replaced)"})
            continue
        last = next((r for r in reversed(rows) if r["action"] in ("rollback", "set_route", "set_route_override")),
                    None)
        if last is not None and last["action"] == "rollback" and (now - _parse(last["ts"])).total_seconds() < cooldown_s:
            decisions.append({**base, "action": "skip", "target": target,
                              "reason": f"cool-down: last rollback at {last['ts']} (< {cooldown_s:g} s ago)"})
            continue
        if cid in acted:
            decisions.append({**base, "action": "skip", "target": target, "reason": "one rollback per cycle"})
            continue
        acted.add(cid)
        decisions.append({**base, "action": "rollback", "target": target,
                          "reason": f"auto-rollback: {', '.join(base['metrics'])} alert on {target} {version}"})
    return decisions


def apply_rollbacks(registry, decisions: list[dict], *, actor: str = "monitor") -> list[dict]:
    """Carry out the "rollback" decisions with the registry's own rollback (audited there) and mark the
    version needs_retrain; returns one record per decision taken, with the route after or the error."""
    out = []
    for d in decisions:
        if d["action"] != "rollback":
            continue
        rec = {**d, "ts": datetime.now(UTC).isoformat(timespec="milliseconds")}
        reason = f"{d['reason']} (alerts {', '.join(d['alert_ids'])})"
        try:
            rec["route_after"] = registry.rollback(d["character_id"], actor=actor, reason=reason)
            rec["status"] = "rolled back"
        except ValueError as exc:  # e.g. no previous approved stable: nothing changed, say so
            rec["status"] = f"failed: {exc}"
            out.append(rec)
            continue
        owner = (rec["route_after"] or {}).get("character_id", d["character_id"])
        if registry.get_adapter(owner, d["adapter_version"]) is not None:
            registry.set_status(owner, d["adapter_version"], "needs_retrain", actor=actor, reason=reason)
        out.append(rec)
    return out

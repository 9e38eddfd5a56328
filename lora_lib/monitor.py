"""Monitoring and the closed loop: request-log metrics, alerts, auto-rollback, negative examples.

The request log is JSON lines, one record per answered request (schema: the serving side's
lora_lib/requestlog.md). Fields used here:

  required  ts, character_id, adapter_version (null = base), group, user_ref, latency_ms,
            prompt_tokens, completion_tokens, reply, reply_chars, gates {gate: passed}
  optional  request_id, messages (the prompt, for negatives), route_owner, feedback (inline rating)

Thumbs up/down normally arrive in a separate feedback log ({request_id, rating "up"|"down"}) and
are joined on request_id. Pure functions take and return plain data or frames; I/O is at the edges
(read_*, write_*, export_*, monitor_once, watch).
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from .requestlog import (
    LogTail,
    append_request_log,
    attach_feedback,
    is_number,
    json_default,
    rating_value,
    read_feedback,
    read_request_log,
    user_ref,
)
from .store import atomic_write_text, sha256_json, write_jsonl

GATES: tuple[str, ...] = ("language", "meta_leak", "repetition", "policy")
KEYS: tuple[str, ...] = ("character_id", "adapter_version", "group")
METRIC_COLUMNS: tuple[str, ...] = (
    "n", "reply_chars_mean", "latency_p50_ms", "latency_p95_ms", "prompt_tokens_mean", "completion_tokens_mean",
    *(f"violation_rate_{g}" for g in GATES), "violation_rate_any",
    "prompt_tokens_sum", "completion_tokens_sum", "cost", "cost_per_request", "violations_any",
    "n_feedback", "thumbs_up_share",
)
# What the alert comparisons test, candidate vs stable: each gate and "any gate".
COMPARED: tuple[str, ...] = (*GATES, "any")



def _violation(gates: Any, gate: str) -> float:
    """1.0 failed, 0.0 passed, NaN unknown (a gate absent from the record is not counted as a pass)."""
    v = gates.get(gate) if isinstance(gates, dict) else None
    return math.nan if v is None else float(not v)


def flatten(df: pd.DataFrame, *, price_per_1k_prompt: float = 0.0, price_per_1k_completion: float = 0.0,
            window: str | None = None) -> pd.DataFrame:
    """One row per request with numeric columns: v_<gate>/v_any (1 violated, 0 passed, NaN unknown),
    cost, feedback (1 up, 0 down, NaN), and `window` (bucket start, UTC) when a pandas frequency is given.
    Base traffic (adapter_version null) gets version "base"."""
    cols = [*KEYS, "ts", "reply_chars", "latency_ms", "prompt_tokens", "completion_tokens", "cost",
            *(f"v_{g}" for g in GATES), "v_any", "feedback", *(["window"] if window else [])]
    if df is None or len(df) == 0:
        return pd.DataFrame(columns=cols)
    flat = pd.DataFrame({
        "character_id": df["character_id"].astype(str),
        "adapter_version": df["adapter_version"].where(df["adapter_version"].notna(), "base").astype(str),
        "group": df["group"].astype(str),
        "ts": pd.to_datetime(df["ts"], utc=True, format="ISO8601"),
        "reply_chars": pd.to_numeric(df["reply_chars"], errors="coerce"),
        "latency_ms": pd.to_numeric(df["latency_ms"], errors="coerce"),
        "prompt_tokens": pd.to_numeric(df["prompt_tokens"], errors="coerce"),
        "completion_tokens": pd.to_numeric(df["completion_tokens"], errors="coerce"),
    })
    flat["cost"] = (flat["prompt_tokens"] * price_per_1k_prompt + flat["completion_tokens"] * price_per_1k_completion) / 1000
    for g in GATES:
        flat[f"v_{g}"] = [_violation(x, g) for x in df["gates"]]
    flat["v_any"] = flat[[f"v_{g}" for g in GATES]].max(axis=1, skipna=True)
    fb = df["feedback"] if "feedback" in df.columns else pd.Series(math.nan, index=df.index)
    flat["feedback"] = pd.to_numeric(fb.map(lambda v: v if is_number(v) and v in (0.0, 1.0) else rating_value(v)),
                                     errors="coerce")
    if window:
        flat["window"] = flat["ts"].dt.floor(window)
    return flat[cols]


def version_metrics(df: pd.DataFrame, *, window: str | None = None, price_per_1k_prompt: float = 0.0,
                    price_per_1k_completion: float = 0.0) -> pd.DataFrame:
    """Per (character_id, adapter_version, group[, window]) traffic, latency, tokens, cost, violation rates,
    feedback.

    `window` is a pandas frequency ("1h", "15min"): rows are also split by the bucket start of ts (UTC).
    Rates ignore records where a gate is unknown; violation_rate_any is over records with at least one
    known gate. `n` is always there so that a rate over 3 requests reads as what it is; thumbs_up_share
    has its own count (n_feedback) since few users rate.
    """
    keys = [*KEYS, *(["window"] if window else [])]
    if df is None or len(df) == 0:
        return pd.DataFrame(columns=[*keys, *METRIC_COLUMNS])
    flat = flatten(df, price_per_1k_prompt=price_per_1k_prompt, price_per_1k_completion=price_per_1k_completion,
                   window=window)
    out = flat.groupby(keys, sort=True, dropna=False).agg(
        n=("latency_ms", "size"),
        reply_chars_mean=("reply_chars", "mean"),
        latency_p50_ms=("latency_ms", lambda s: s.quantile(0.5)),
        latency_p95_ms=("latency_ms", lambda s: s.quantile(0.95)),
        prompt_tokens_mean=("prompt_tokens", "mean"),
        completion_tokens_mean=("completion_tokens", "mean"),
        **{f"violation_rate_{g}": (f"v_{g}", "mean") for g in GATES},
        violation_rate_any=("v_any", "mean"),
        prompt_tokens_sum=("prompt_tokens", "sum"),
        completion_tokens_sum=("completion_tokens", "sum"),
        cost=("cost", "sum"),
        violations_any=("v_any", "sum"),
        n_feedback=("feedback", "count"),
        thumbs_up_share=("feedback", "mean"),
    ).reset_index()
    out["cost_per_request"] = out["cost"] / out["n"]
    for c in ("n", "violations_any", "n_feedback", "prompt_tokens_sum", "completion_tokens_sum"):
        out[c] = out[c].astype(int)
    return out[[*keys, *METRIC_COLUMNS]]


def empty_characters(metrics: pd.DataFrame, characters: Iterable[str]) -> list[dict]:
    """Characters asked about that have no traffic in the log: stated, not left as a missing row."""
    seen = set(metrics["character_id"]) if len(metrics) else set()
    return [{"character_id": c, "status": "no traffic", "n": 0} for c in characters if c not in seen]


# ---- alerts (pure) ----------------------------------------------------------------------------------

def _alert_id(a: dict) -> str:
    key = {k: a.get(k) for k in ("kind", "character_id", "adapter_version", "group", "metric", "window")}
    return sha256_json(key)[:16]


def check_alerts(metrics: pd.DataFrame, thresholds: dict) -> list[dict]:
    """Alerts for metric rows over a threshold; rows with n < min_requests never alert (too few to judge).

    thresholds: {"max_violation_rate", "max_latency_p95_ms", "min_thumbs_up_share", "min_feedback",
    "min_requests"}; a missing or None key is not checked. thumbs_up_share is judged only with at least
    min_feedback ratings (default min_requests). Each alert: {alert_id, kind: "threshold", character_id,
    adapter_version, group, metric, value, threshold, n[, window]}, plain Python.
    """
    min_n = int(thresholds.get("min_requests") or 0)
    limits = []
    if thresholds.get("max_violation_rate") is not None:
        rate_cols = [c for c in metrics.columns if c.startswith("violation_rate_")]
        limits += [(c, float(thresholds["max_violation_rate"]), "max") for c in rate_cols]
    if thresholds.get("max_latency_p95_ms") is not None:
        limits.append(("latency_p95_ms", float(thresholds["max_latency_p95_ms"]), "max"))
    if thresholds.get("min_thumbs_up_share") is not None:
        limits.append(("thumbs_up_share", float(thresholds["min_thumbs_up_share"]), "min"))
    min_fb = int(thresholds.get("min_feedback") or min_n)
    alerts = []
    for row in metrics.to_dict(orient="records"):
        n = int(row["n"])
        if n < min_n:
            continue
        for metric, limit, side in limits:
            value = row.get(metric)
            if value is None or pd.isna(value):
                continue
            if side == "max" and float(value) <= limit:
                continue
            if side == "min" and (float(value) >= limit or int(row.get("n_feedback", 0)) < min_fb):
                continue
            alert = {"kind": "threshold", "character_id": str(row["character_id"]),
                     "adapter_version": str(row["adapter_version"]), "group": str(row["group"]),
                     "metric": metric, "value": float(value), "threshold": limit, "n": n}
            if "window" in row:
                alert["window"] = pd.Timestamp(row["window"]).isoformat()
            alerts.append({"alert_id": _alert_id(alert), **alert})
    return alerts


def insufficient_data(metrics: pd.DataFrame, thresholds: dict) -> list[dict]:
    """The rows check_alerts did not judge: n < min_requests, so "no alert" there means "unknown", not "fine".

    Each: {character_id, adapter_version, group, status: "insufficient data", n, min_requests[, window]}.
    """
    min_n = int(thresholds.get("min_requests") or 0)
    out = []
    for row in metrics.to_dict(orient="records"):
        if int(row["n"]) < min_n:
            item = {"character_id": str(row["character_id"]), "adapter_version": str(row["adapter_version"]),
                    "group": str(row["group"]), "status": "insufficient data", "n": int(row["n"]),
                    "min_requests": min_n}
            if "window" in row:
                item["window"] = pd.Timestamp(row["window"]).isoformat()
            out.append(item)
    return out


def worse_p_value(x1: int, n1: int, x2: int, n2: int) -> float:
    """One-sided exact p-value that rate 1 (x1/n1) is higher than rate 2 (x2/n2): Fisher's exact test.

    Exact rather than the normal-approximation z-test because violation counts are small (0..10) exactly
    when an early alert matters, where the approximation is poor.
    """
    from scipy.stats import fisher_exact

    if n1 <= 0 or n2 <= 0:
        return 1.0
    return float(fisher_exact([[x1, n1 - x1], [x2, n2 - x2]], alternative="greater").pvalue)


def compare_to_stable(flat: pd.DataFrame, *, alpha: float = 0.01, min_requests: int = 20,
                      min_rate_diff: float = 0.05) -> tuple[list[dict], list[dict]]:
    """Candidate vs stable of the same character on the same window, per gate and any gate.

    An alert needs all of: both arms with >= min_requests known outcomes, the candidate's rate at least
    min_rate_diff above stable's, and a one-sided Fisher p-value below alpha / len(COMPARED) (Bonferroni:
    five looks at one window must not make noise five times as likely to alert). Returns (alerts,
    comparisons); comparisons holds every tested pair with its p-value, for the notebook's table.
    `flat` comes from flatten(); without a `window` column the whole frame is one window.
    """
    alerts, rows = [], []
    if flat is None or len(flat) == 0:
        return alerts, rows
    by = ["character_id", "window"] if "window" in flat.columns else ["character_id"]
    level = alpha / len(COMPARED)
    for key, part in flat.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        window = pd.Timestamp(key[1]).isoformat() if len(key) > 1 else None
        stable = part[part["group"] == "stable"]
        for version, cand in part[part["group"] == "candidate"].groupby("adapter_version", sort=True):
            for metric in COMPARED:
                c, s = cand[f"v_{metric}"].dropna(), stable[f"v_{metric}"].dropna()
                x1, n1, x2, n2 = int(c.sum()), len(c), int(s.sum()), len(s)
                r1 = x1 / n1 if n1 else math.nan
                r2 = x2 / n2 if n2 else math.nan
                enough = n1 >= min_requests and n2 >= min_requests
                p = worse_p_value(x1, n1, x2, n2) if enough else math.nan
                fired = bool(enough and r1 - r2 >= min_rate_diff and p < level)
                row = {"character_id": str(key[0]), "window": window, "adapter_version": str(version),
                       "stable_versions": sorted(set(map(str, stable["adapter_version"]))),
                       "metric": f"violation_rate_{metric}", "candidate_rate": r1, "stable_rate": r2,
                       "n_candidate": n1, "n_stable": n2, "p_value": p, "alpha": level,
                       "status": "alert" if fired else ("insufficient data" if not enough else "ok")}
                rows.append(row)
                if fired:
                    alert = {"kind": "vs_stable", "character_id": row["character_id"],
                             "adapter_version": row["adapter_version"], "group": "candidate",
                             "metric": row["metric"], "value": r1, "threshold": r2 + min_rate_diff,
                             "baseline": r2, "p_value": p, "n": n1, "n_baseline": n2}
                    if window:
                        alert["window"] = window
                    alerts.append({"alert_id": _alert_id(alert), **alert})
    return alerts, rows


# ---- alerts table and rollback decisions --------------------------------------------------------------

def merge_alerts(existing: list[dict], new: list[dict], now: str) -> tuple[list[dict], list[dict]]:
    """(table, fresh): the alerts table gains new alert_ids (first_seen=now); a repeat updates last_seen and
    the figures (value, n, baseline, p_value), so a persisting problem stays one row."""
    table = [dict(a) for a in existing]
    index = {a["alert_id"]: a for a in table}
    fresh = []
    for a in new:
        if a["alert_id"] in index:
            index[a["alert_id"]].update(last_seen=now, **{k: a[k] for k in ("value", "n", "baseline", "p_value",
                                                                            "n_baseline") if k in a})
        else:
            row = {**a, "first_seen": now, "last_seen": now}
            table.append(row)
            index[a["alert_id"]] = row
            fresh.append(row)
    return table, fresh


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

    Acts ("rollback") when the alerting version is the route's live candidate, or its stable version
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
    for a in alerts:
        if a["adapter_version"] != "base":
            by_target.setdefault((a["character_id"], a["adapter_version"]), []).append(a)

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


# ---- negatives --------------------------------------------------------------------------------------

def flag_reasons(record: dict) -> list[str]:
    """Why a logged reply is a negative example: each failed gate, and a thumbs-down."""
    gates = record.get("gates") if isinstance(record.get("gates"), dict) else {}
    reasons = [f"gate:{g}" for g in GATES if gates.get(g) is False]
    fb = record.get("feedback")
    if fb is not None and not (isinstance(fb, float) and math.isnan(fb)) and \
            (fb == 0.0 if is_number(fb) else rating_value(fb) == 0.0):
        reasons.append("feedback:thumbs_down")
    return reasons


def negatives_from_log(df: pd.DataFrame) -> list[dict]:
    """Every flagged reply with its prompt, reasons and adapter version, oldest first.

    negative_id is the request_id when logged, else a hash of the record, so re-exporting the same log
    gives the same ids (the dataset manifest cites them).
    """
    out = []
    if df is None or len(df) == 0:
        return out
    for r in df.to_dict(orient="records"):
        reasons = flag_reasons(r)
        if not reasons:
            continue
        rid = r.get("request_id")
        rid = rid if isinstance(rid, str) and rid else None
        nid = rid or sha256_json({k: r.get(k) for k in ("ts", "user_ref", "character_id", "reply")})[:16]
        messages = r.get("messages") if isinstance(r.get("messages"), list) else None
        out.append({"negative_id": nid, "ts": r["ts"], "character_id": r["character_id"],
                    "adapter_version": r["adapter_version"], "group": r["group"], "user_ref": r.get("user_ref"),
                    "reasons": reasons, "prompt": messages, "rejected": r.get("reply")})
    return out


def _norm(text: str | None) -> str:
    return " ".join((text or "").split())


def _first_user(messages: list[dict] | None) -> str | None:
    for m in messages or []:
        if isinstance(m, dict) and m.get("role") == "user":
            return _norm(m.get("content"))
    return None


def reference_replies(records: Iterable[dict]) -> dict[str, str]:
    """First user turn -> the assistant reply that followed it, from dataset/gold records (ChatML `messages`).
    Gold dialogues win over chat logs when both answer the same opening."""
    ranked = sorted(records, key=lambda r: r.get("dataset_source") != "gold")
    out: dict[str, str] = {}
    for rec in ranked:
        msgs = rec.get("messages") or []
        for i, m in enumerate(msgs):
            if m.get("role") == "user":
                nxt = msgs[i + 1] if i + 1 < len(msgs) else None
                key = _norm(m.get("content"))
                if nxt and nxt.get("role") == "assistant" and key not in out:
                    out[key] = nxt["content"]
                break
    return out


def negatives_to_training(negatives: list[dict], *, references: dict[str, str] | None = None,
                          regenerate_fn: Callable[[list[dict]], str] | None = None,
                          gate_fn: Callable[[str], dict] | None = None) -> dict:
    """Turn exported negatives into what the next dataset version records.

    Every negative becomes an exclusion (its reply text must not be an assistant turn in training).
    A negative with a logged prompt also becomes a preference pair when a chosen reply exists: the
    reference (gold) reply to the same opening, else a regenerated reply that passes every gate (gate_fn).
    Returns {"preference_pairs": [{negative_id, prompt, chosen, rejected, chosen_source, reasons,
    adapter_version}], "exclusions": [{negative_id, text, reasons, adapter_version}], "unpaired":
    [{negative_id, reason}], "manifest": {...}} -- "manifest" is the block to store under the dataset
    manifest's "negatives" key (ids, counts by reason and adapter version, content hash).
    """
    references = references or {}
    pairs, exclusions, unpaired = [], [], []
    for neg in negatives:
        exclusions.append({"negative_id": neg["negative_id"], "text": _norm(neg.get("rejected")),
                           "reasons": neg["reasons"], "adapter_version": neg.get("adapter_version")})
        prompt = neg.get("prompt")
        if not prompt:
            unpaired.append({"negative_id": neg["negative_id"], "reason": "no prompt in the request log"})
            continue
        chosen, source = references.get(_first_user(prompt) or ""), "reference"
        if chosen is None and regenerate_fn is not None:
            candidate = regenerate_fn(prompt)
            if gate_fn is None or all(gate_fn(candidate).values()):
                chosen, source = candidate, "regenerated"
        if chosen is None or _norm(chosen) == _norm(neg.get("rejected")):
            unpaired.append({"negative_id": neg["negative_id"], "reason": "no reference or passing regenerated reply"})
            continue
        pairs.append({"negative_id": neg["negative_id"], "prompt": prompt, "chosen": chosen, "rejected": neg.get("rejected"), "chosen_source": source,
                      "reasons": neg["reasons"], "adapter_version": neg.get("adapter_version")})
    manifest = {
        "n": len(negatives), "negative_ids": sorted(n["negative_id"] for n in negatives),
        "sha256": sha256_json(negatives),
        "by_reason": dict(Counter(r for n in negatives for r in n["reasons"])),
        "by_adapter_version": dict(Counter(str(n.get("adapter_version")) for n in negatives)),
        "preference_pairs": len(pairs), "exclusions": len(exclusions), "unpaired": len(unpaired),
    }
    return {"preference_pairs": pairs, "exclusions": exclusions, "unpaired": unpaired, "manifest": manifest}


def apply_exclusions(conversations: list[dict], exclusions: list[dict], *,
                     gate_fn: Callable[[str], dict] | None = None) -> tuple[list[dict], list[dict]]:
    """(kept, rejected) for the stage's rejected.jsonl, each rejection with its reason:

    - "negative_example" (+ negative_id): an assistant turn equal (whitespace-normalised) to a flagged reply;
    - "negative_gate:<gate>" (+ negative_ids): with gate_fn (reply -> {gate: passed}), an assistant turn that
      fails a gate that flagged production replies. Production says which failure the last version learned;
      the training data is re-checked for exactly that failure.
    """
    bad = {e["text"]: e["negative_id"] for e in exclusions if e.get("text")}
    gate_ids: dict[str, list[str]] = {}
    for e in exclusions:
        for r in e.get("reasons", []):
            if r.startswith("gate:"):
                gate_ids.setdefault(r.removeprefix("gate:"), []).append(e["negative_id"])
    kept, rejected = [], []
    for conv in conversations:
        replies = [m.get("content") or "" for m in conv.get("messages", []) if m.get("role") == "assistant"]
        hit = next((bad[_norm(t)] for t in replies if _norm(t) in bad), None)
        if hit is not None:
            rejected.append({"conversation_id": conv.get("conversation_id"), "reason": "negative_example",
                             "negative_id": hit})
            continue
        failed = None
        if gate_fn is not None and gate_ids:
            failed = next((g for t in replies for g, ok in gate_fn(t).items() if not ok and g in gate_ids), None)
        if failed is None:
            kept.append(conv)
        else:
            rejected.append({"conversation_id": conv.get("conversation_id"), "reason": f"negative_gate:{failed}",
                             "negative_ids": sorted(gate_ids[failed])[:20]})
    return kept, rejected


def read_negatives(path: str | Path) -> list[dict]:
    """negatives.jsonl as exported by monitor_once; a missing file is no negatives."""
    path = Path(path)
    if not path.is_file():
        return []
    from .store import read_jsonl

    return read_jsonl(path)


def dataset_with_negatives(conversations: list[dict], negatives: list[dict], p, *, parent: str | None,
                           regenerate_fn: Callable[[list[dict]], str] | None = None,
                           gate_fn: Callable[[str], dict] | None = None) -> dict:
    """The next dataset version from clean conversations plus production negatives.

    Conversations containing a flagged reply, or (with gate_fn) an assistant turn failing a gate that
    flagged production replies, are excluded (apply_exclusions; returned as rejected rows); the rest
    become a version via dataset.build_version with `parent` as its parent_version. Chosen replies for
    the preference pairs come from the kept conversations' reference replies, else regenerate_fn + gate_fn.
    The lineage goes to <store>/datasets/<character>/negatives/<hash>.json (negative ids, counts by
    reason and adapter version, which dataset version they produced) with the pairs in
    <hash>.preference.jsonl; <hash> is the negatives' content hash, so a record never changes.
    Returns {"manifest", "rejected", "negatives": the manifest block, "lineage", "lineage_path",
    "preference_pairs"}.

    The preference pairs are part of the version (its id, manifest counts and preferences.jsonl); this
    record adds what the manifest cannot say: which negatives, the excluded conversations and why.
    If nothing was excluded the "new" version is the parent itself (same content, same id): the record
    says so (changed: false) instead of pretending a change.
    """
    from .dataset import build_version, to_chatml
    from .store import write_json

    exclusions = negatives_to_training(negatives)["exclusions"]
    kept, rejected = apply_exclusions(conversations, exclusions, gate_fn=gate_fn)
    # Chosen replies only from what the new version keeps: a reference that was itself excluded is no answer.
    refs = reference_replies(to_chatml(c, p.character.system_prompt) for c in kept)
    neg = negatives_to_training(negatives, references=refs, regenerate_fn=regenerate_fn, gate_fn=gate_fn)
    # The pairs go into the version itself (its id and manifest count them; `train.method: dpo` trains on
    # them); the exclusions are the kept/rejected split above, listed in the lineage record below.
    manifest = build_version(kept, p, parent=parent, negatives=neg["preference_pairs"])
    root = Path(p.store) / "datasets" / p.character_id / "negatives"
    key = neg["manifest"]["sha256"][:12]
    lineage = {"dataset_version": manifest["version"], "parent_version": parent,
               "changed": manifest["version"] != parent, "negatives": neg["manifest"],
               "preference_pairs_file": f"{key}.preference.jsonl", "excluded_conversations": rejected,
               "unpaired": neg["unpaired"]}
    write_jsonl(root / f"{key}.preference.jsonl", neg["preference_pairs"], default=json_default)
    write_json(root / f"{key}.json", lineage)
    return {"manifest": manifest, "rejected": rejected, "negatives": neg["manifest"], "lineage": lineage,
            "lineage_path": str(root / f"{key}.json"), "preference_pairs": neg["preference_pairs"]}



def traffic_fns(p, registry, engine) -> tuple[Callable, Callable, Callable]:
    """(resolve_fn, generate_fn, gate_fn) for serve_one/replay of one character's traffic: the real router
    (category fallback), the engine with the routed adapter loaded from the registry by its route owner,
    and the character's own gate settings."""
    from .evaluate.gates import check_reply, gate_kwargs
    from .serve.router import resolve

    base_model = str(p.path(p.base_model))

    def resolve_fn(character_id, user):
        return resolve(registry, character_id, user, category=p.character.category, default_base_model=base_model)

    def generate_fn(resolution, messages):
        name = None
        if resolution.adapter_version:
            name = f"{resolution.character_id}@{resolution.adapter_version}"
            adapter = registry.get_adapter(resolution.route_owner, resolution.adapter_version)
            engine.load_adapter(name, adapter["path"])
        g = engine.generate([messages], name, max_new_tokens=p.evaluate.max_new_tokens)[0]
        return g.text, g.prompt_tokens, g.completion_tokens

    def gate_fn(reply):
        return check_reply(reply, **gate_kwargs(p))

    return resolve_fn, generate_fn, gate_fn


def serve_one(req: dict, resolve_fn: Callable, generate_fn: Callable, gate_fn: Callable) -> dict:
    """Serve one request {"character_id", "user", "messages"[, "request_id"]} -> its log record.

    latency_ms covers routing + generation (what a user waits for); gating is monitoring-side and
    not counted.
    """
    ts = datetime.now(UTC).isoformat(timespec="milliseconds")
    t0 = time.perf_counter()
    res = resolve_fn(req["character_id"], req["user"])
    reply, prompt_tokens, completion_tokens = generate_fn(res, req["messages"])
    latency_ms = (time.perf_counter() - t0) * 1000.0
    rid = req.get("request_id") or "sim-" + sha256_json([ts, req["user"], time.perf_counter_ns()])[:16]
    return {"ts": ts, "request_id": rid, "character_id": req["character_id"],
            "adapter_version": res.adapter_version, "route_owner": res.route_owner,
            "group": res.group, "user_ref": user_ref(req["user"]), "latency_ms": round(latency_ms, 3),
            "prompt_tokens": int(prompt_tokens), "completion_tokens": int(completion_tokens),
            "reply": reply, "reply_chars": len(reply or ""),
            "gates": {k: bool(v) for k, v in gate_fn(reply).items()}, "messages": req["messages"]}


def replay(requests: Iterable[dict], resolve_fn: Callable, generate_fn: Callable, gate_fn: Callable,
           log_path: str | Path, *, progress: bool = False) -> list[dict]:
    """Serve each request and log it; returns the records. Each record is appended as soon as it
    exists, so a crash keeps what was served."""
    from tqdm.auto import tqdm

    records = []
    for req in tqdm(requests, desc="replay", unit="req", disable=not progress):
        record = serve_one(req, resolve_fn, generate_fn, gate_fn)
        append_request_log(log_path, record)
        records.append(record)
    return records


# ---- one monitoring pass and the watch loop (I/O edge) -------------------------------------------------

def thresholds_of(mp) -> dict:
    """The alert thresholds from MonitorParams."""
    return {"max_violation_rate": mp.max_violation_rate, "max_latency_p95_ms": mp.max_latency_p95_ms,
            "min_requests": mp.min_requests, "min_thumbs_up_share": mp.min_thumbs_up_share,
            "min_feedback": mp.min_feedback}


def _read_table(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # the table is rewritten whole each pass; a torn line cannot persist
    return out


def monitor_once(mp, log_path: str | Path, out_dir: str | Path, *, registry=None,
                 feedback_path: str | Path | None = None, characters: Iterable[str] = (),
                 only_character: str | None = None, now: datetime | None = None,
                 tail: LogTail | None = None) -> dict:
    """One monitoring pass over the request log: metrics, alerts, rollbacks, negatives, all on disk.

    `mp` is MonitorParams. Writes under out_dir: metrics.csv (per version and group), metrics_windows.csv
    (per window), comparisons.csv (candidate vs stable), alerts.jsonl (the table, one row per alert id),
    rollbacks.jsonl (appended decisions taken), quarantine.jsonl (log lines that could not be used, with
    reasons), negatives.jsonl. Auto-rollback runs only with mp.auto_rollback and a registry.
    only_character keeps one character's rows (the others are not problems, just not this pass's
    business). `tail` (a LogTail on log_path) makes repeated passes parse only new lines. Returns a plain
    summary.
    """
    parse_window(mp.window)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    now = now or datetime.now(UTC)
    now_s = now.isoformat(timespec="milliseconds")
    df, problems = tail.read() if tail is not None else read_request_log(log_path)
    if only_character is not None and len(df):
        df = df[df["character_id"] == only_character].reset_index(drop=True)
    if only_character is not None:
        characters = [*characters, only_character]
    fb_df, fb_problems = read_feedback(feedback_path) if feedback_path else (None, [])
    if only_character is not None and fb_df is not None and "character_id" in fb_df.columns:
        fb_df = fb_df[fb_df["character_id"].isin([only_character]) | fb_df["character_id"].isna()]
    df, orphans = attach_feedback(df, fb_df) if len(df) else (df, [])
    prices = {"price_per_1k_prompt": mp.price_per_1k_prompt_tokens,
              "price_per_1k_completion": mp.price_per_1k_completion_tokens}
    metrics = version_metrics(df, **prices)
    windows = version_metrics(df, window=mp.window, **prices)
    th = thresholds_of(mp)
    threshold_alerts = check_alerts(windows, th)
    flat = flatten(df, window=mp.window, **prices)
    vs_alerts, comparisons = compare_to_stable(flat, alpha=mp.alpha, min_requests=mp.min_requests,
                                               min_rate_diff=mp.min_rate_diff)
    alerts_path = out_dir / "alerts.jsonl"
    firing = threshold_alerts + vs_alerts
    table, fresh = merge_alerts(_read_table(alerts_path), firing, now_s)
    write_jsonl(alerts_path, table, default=json_default)
    decisions, rollbacks = [], []
    if registry is not None:
        cids = sorted({a["character_id"] for a in firing})
        routes = {c: registry.get_route(c) for c in cids}
        audit = {c: registry.audit_log(c) for c in cids}
        decisions = rollback_decisions(firing, routes, audit, now=now, cooldown_s=mp.cooldown_s,
                                       fresh_s=mp.fresh_promotion_s, window=parse_window(mp.window))
        if mp.auto_rollback:
            rollbacks = apply_rollbacks(registry, decisions)
            for r in rollbacks:
                append_request_log(out_dir / "rollbacks.jsonl", r)
    negatives = negatives_from_log(df)
    write_jsonl(out_dir / "negatives.jsonl", negatives, default=json_default)
    quarantine = [{"file": str(log_path), **p} for p in problems] + \
        [{"file": str(feedback_path), **p} for p in fb_problems + orphans]
    write_jsonl(out_dir / "quarantine.jsonl", quarantine, default=json_default)
    atomic_write_text(out_dir / "metrics.csv", metrics.to_csv(index=False))
    atomic_write_text(out_dir / "metrics_windows.csv", windows.to_csv(index=False))
    atomic_write_text(out_dir / "comparisons.csv", pd.DataFrame(comparisons).to_csv(index=False))
    return {"ts": now_s, "out_dir": str(out_dir), "log": str(log_path), "log_found": Path(log_path).is_file(),
            "requests": len(df), "quarantined": len(problems),
            "quarantine_reasons": dict(Counter(p["error"].split(":")[0] for p in problems)),
            "feedback_problems": len(fb_problems) + len(orphans),
            "alerts": len(table), "new_alerts": fresh, "decisions": decisions, "rollbacks": rollbacks,
            "negatives": len(negatives), "insufficient_data": insufficient_data(metrics, th),
            "no_traffic": empty_characters(metrics, characters),
            "metrics": json.loads(metrics.to_json(orient="records", date_format="iso"))}


def watch(pass_fn: Callable[[], dict], *, interval_s: float = 30.0, max_cycles: int | None = None,
          sleep: Callable[[float], None] = time.sleep, on_cycle: Callable[[dict], None] | None = None) -> list[dict]:
    """Run pass_fn (e.g. monitor_once with its arguments bound) every interval_s seconds; max_cycles
    bounds it (None = until Ctrl-C). Returns the passes' results (the last 300 when unbounded)."""
    passes: list[dict] = []
    cycle = 0
    try:
        while max_cycles is None or cycle < max_cycles:
            if cycle:
                sleep(interval_s)
            result = pass_fn()
            passes = [*passes[-299:], result]
            if on_cycle:
                on_cycle(result)
            cycle += 1
    except KeyboardInterrupt:
        pass
    return passes


# ---- pictures ---------------------------------------------------------------------------------------

def plot_rates(metrics: pd.DataFrame) -> Figure:
    """Grouped bars: violation rate per gate for each (character, version, group), n in the labels."""
    fig = Figure(figsize=(8, 4), layout="constrained")
    ax = fig.subplots()
    if metrics is None or len(metrics) == 0:
        ax.text(0.5, 0.5, "no traffic", ha="center", va="center", fontsize=14, transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    # Several windows per version would be several bars with one label: aggregate them, weighted by n.
    cols = [*(f"violation_rate_{g}" for g in GATES), "violation_rate_any"]
    m = metrics.copy()
    for c in cols:
        m[c] = m[c] * m["n"]
    m = m.groupby(list(KEYS), sort=True)[[*cols, "n"]].sum().reset_index()
    for c in cols:
        m[c] = m[c] / m["n"]
    labels = [f"{r.character_id}@{r.adapter_version}\n{r.group} (n={int(r.n)})" for r in m.itertuples()]
    width = 0.8 / len(cols)
    for i, c in enumerate(cols):
        xs = [j + (i - (len(cols) - 1) / 2) * width for j in range(len(m))]
        ax.bar(xs, m[c].fillna(0.0), width, label=c.removeprefix("violation_rate_"))
    ax.set_xticks(range(len(m)), labels, fontsize=8)
    ax.set_ylabel("violation rate")
    ax.set_ylim(0, 1)
    ax.set_title("Gate violation rate per adapter version")
    ax.legend(fontsize=8, ncols=len(cols))
    return fig


def plot_timeseries(windows: pd.DataFrame, rollbacks: list[dict] = ()) -> Figure:
    """Per version: requests, violation rate (any gate) and latency p95 over time windows; rollbacks as
    vertical lines. `windows` is version_metrics(..., window=...)."""
    fig = Figure(figsize=(9, 6.5), layout="constrained")
    axes = fig.subplots(3, 1, sharex=True)
    if windows is None or len(windows) == 0:
        axes[0].text(0.5, 0.5, "no traffic", ha="center", va="center", fontsize=14, transform=axes[0].transAxes)
        return fig
    w = windows.copy()
    w["window"] = pd.to_datetime(w["window"], utc=True)
    for (cid, version), part in w.groupby(["character_id", "adapter_version"], sort=True):
        part = part.groupby("window", sort=True).agg(n=("n", "sum"), v=("violations_any", "sum"),
                                                     p95=("latency_p95_ms", "max")).reset_index()
        label = f"{cid}@{version}"
        axes[0].plot(part["window"], part["n"], marker="o", label=label)
        axes[1].plot(part["window"], part["v"] / part["n"], marker="o", label=label)
        axes[2].plot(part["window"], part["p95"], marker="o", label=label)
    for rb in rollbacks or []:
        t = pd.Timestamp(rb["ts"])
        for ax in axes:
            ax.axvline(t, color="red", ls="--", lw=1)
        axes[1].annotate(f"rollback {rb.get('adapter_version')}", (t, 0.95), color="red", fontsize=8,
                         xycoords=("data", "axes fraction"))
    axes[0].set_ylabel("requests")
    axes[1].set_ylabel("violation rate (any)")
    axes[1].set_ylim(0, 1)
    axes[2].set_ylabel("latency p95 (ms)")
    axes[0].legend(fontsize=8)
    axes[0].set_title("Per-version traffic, violations and latency over time")
    return fig


def auto_window(df: pd.DataFrame, buckets: int = 20) -> str:
    """A window (pandas frequency, whole seconds) that cuts the log's time span into about `buckets`
    pieces: a replay of a few minutes and a day of production both give a readable time series."""
    if df is None or len(df) == 0:
        return "1min"
    ts = pd.to_datetime(df["ts"], utc=True, format="ISO8601")
    span = (ts.max() - ts.min()).total_seconds()
    return f"{max(1, math.ceil(span / buckets))}s"


def monitor_outputs(out_dir: str | Path, log_path: str | Path | None = None) -> dict[str, Any]:
    """What monitor_once left in out_dir, as frames for a notebook: metrics, windows (auto-sized from the
    log when log_path is given), comparisons, alerts, rollbacks, negatives, quarantine. Missing -> empty."""
    out_dir = Path(out_dir)

    def csv(name: str) -> pd.DataFrame:
        path = out_dir / name
        return pd.read_csv(path) if path.is_file() and path.stat().st_size > 1 else pd.DataFrame()

    out: dict[str, Any] = {"metrics": csv("metrics.csv"), "comparisons": csv("comparisons.csv")}
    for name in ("alerts", "rollbacks", "negatives", "quarantine"):
        out[name] = pd.DataFrame(_read_table(out_dir / f"{name}.jsonl"))
    if log_path is not None:
        df, _ = read_request_log(log_path)
        out["window"] = auto_window(df)
        out["windows"] = version_metrics(df, window=out["window"])
    return out


def parse_window(window: str) -> timedelta:
    """A pandas frequency string -> timedelta ("15min" -> 15 minutes); a clear error otherwise."""
    try:
        return pd.Timedelta(window).to_pytimedelta()
    except ValueError as exc:
        raise ValueError(f"monitor.window: {window!r} is not a duration like '15min' or '1h'") from exc

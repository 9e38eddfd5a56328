"""Alerts, pure: thresholds on metric rows, candidate vs stable (one-sided Fisher exact test, Bonferroni),
rows too small to judge, and the alerts table that keeps a persisting problem as one row."""

from __future__ import annotations

import math

import pandas as pd

from ..store import sha256_json
from .metrics import GATES, SIGNALS

# What the alert comparisons test, candidate vs stable: each gate, "any gate", and the per-request signals
# (off voice, disfluent, repeat, left, thumbs-down); a signal the log does not carry is not tested.
COMPARED: tuple[str, ...] = (*GATES, "any", *SIGNALS)


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


def mark_latency_blame(alerts: list[dict], metrics: pd.DataFrame, thresholds: dict) -> list[dict]:
    """Latency threshold alerts marked with `blames_version`: True only where another version of the same
    character, served in the same window to at least min_requests requests, stayed under the limit (then the
    slowness is this version's). Where every version on the window is over it, or no other one served, the
    host is slow (a loaded machine, a busy GPU): rolling an adapter back would not make it faster, so
    auto-rollback leaves it to a person (monitor.latency_rollback). Other alerts are returned unchanged."""
    limit = thresholds.get("max_latency_p95_ms")
    min_n = int(thresholds.get("min_requests") or 0)
    rows = metrics.to_dict(orient="records") if limit is not None and len(metrics) else []
    out = []
    for a in alerts:
        if a.get("kind") != "threshold" or a.get("metric") != "latency_p95_ms":
            out.append(a)
            continue
        others = [r for r in rows if str(r["character_id"]) == a["character_id"]
                  and str(r["adapter_version"]) != a["adapter_version"] and int(r["n"]) >= min_n
                  and ("window" not in a or pd.Timestamp(r.get("window")).isoformat() == a["window"])]
        faster = [r for r in others if pd.notna(r.get("latency_p95_ms")) and float(r["latency_p95_ms"]) <= float(limit)]
        out.append({**a, "blames_version": bool(faster)})
    return out


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
                      min_rate_diff: float = 0.05,
                      min_candidate_requests: int | None = None) -> tuple[list[dict], list[dict]]:
    """Candidate vs stable of the same character on the same window, per gate and any gate.

    An alert needs all of: stable with >= min_requests known outcomes and the candidate with >=
    min_candidate_requests (default: min_requests too), the candidate's rate at least
    min_rate_diff above stable's, and a one-sided Fisher p-value below alpha / len(COMPARED) (Bonferroni:
    five looks at one window must not make noise five times as likely to alert). Returns (alerts,
    comparisons); comparisons holds every tested pair with its p-value, for the notebook's table.
    `flat` comes from flatten(); without a `window` column the whole frame is one window.
    """
    min_cand = min_requests if min_candidate_requests is None else min_candidate_requests
    alerts, rows = [], []
    if flat is None or len(flat) == 0:
        return alerts, rows
    by = ["character_id", "window"] if "window" in flat.columns else ["character_id"]
    for key, part in flat.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        window = pd.Timestamp(key[1]).isoformat() if len(key) > 1 else None
        stable = part[part["group"] == "stable"]
        for version, cand in part[part["group"] == "candidate"].groupby("adapter_version", sort=True):
            tested = [m for m in COMPARED if m not in SIGNALS or f"v_{m}" in part.columns
                      and (cand[f"v_{m}"].notna().any() or stable[f"v_{m}"].notna().any())]
            level = alpha / (len(tested) if any(m in SIGNALS for m in tested) else len(GATES) + 1)
            for metric in tested:
                c, s = cand[f"v_{metric}"].dropna(), stable[f"v_{metric}"].dropna()
                x1, n1, x2, n2 = int(c.sum()), len(c), int(s.sum()), len(s)
                r1 = x1 / n1 if n1 else math.nan
                r2 = x2 / n2 if n2 else math.nan
                enough = n1 >= min_cand and n2 >= min_requests
                p = worse_p_value(x1, n1, x2, n2) if enough else math.nan
                fired = bool(enough and r1 - r2 >= min_rate_diff and p < level)
                row = {"character_id": str(key[0]), "window": window, "adapter_version": str(version),
                       "stable_versions": sorted(set(map(str, stable["adapter_version"]))),
                       "metric": f"{metric}_rate" if metric in SIGNALS else f"violation_rate_{metric}", "candidate_rate": r1, "stable_rate": r2,
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

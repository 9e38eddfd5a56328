"""Request log (JSON lines), per-version metrics, threshold alerts, traffic replay and a picture.

One record per served request:
{"ts", "character_id", "adapter_version" (null for base), "group", "user_ref", "latency_ms",
 "prompt_tokens", "completion_tokens", "reply", "reply_chars", "gates": {gate: passed}}
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

REQUIRED_FIELDS: tuple[str, ...] = ("ts", "character_id", "adapter_version", "group", "user_ref", "latency_ms",
                                    "prompt_tokens", "completion_tokens", "reply", "reply_chars", "gates")
GATES: tuple[str, ...] = ("language", "meta_leak", "repetition", "policy")
KEYS: tuple[str, ...] = ("character_id", "adapter_version", "group")
METRIC_COLUMNS: tuple[str, ...] = (
    "n", "reply_chars_mean", "latency_p50_ms", "latency_p95_ms", "prompt_tokens_mean", "completion_tokens_mean",
    *(f"violation_rate_{g}" for g in GATES), "violation_rate_any",
)


# ---- the log (I/O edge) -----------------------------------------------------------------------------

def _plain(obj: Any) -> Any:
    """json default: numpy scalars and the like -> Python values."""
    return obj.item() if hasattr(obj, "item") else str(obj)


def append_request_log(path: str | Path, record: dict) -> None:
    """Append one record as a JSON line, creating parent dirs.

    If the file ends mid-line (a writer died), a newline goes first so the new record is not glued
    onto the broken one: the damage stays one bad line, which the reader reports.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False, default=_plain) + "\n"
    with open(path, "ab+") as f:
        f.seek(0, 2)
        if f.tell() > 0:
            f.seek(-1, 2)
            if f.read(1) != b"\n":
                line = "\n" + line
        f.write(line.encode("utf-8"))


def _problem(record: Any) -> str | None:
    if not isinstance(record, dict):
        return f"not a JSON object ({type(record).__name__})"
    missing = [k for k in REQUIRED_FIELDS if k not in record]
    if missing:
        return f"missing fields: {', '.join(missing)}"
    if not isinstance(record["gates"], dict):
        return "field gates: not an object"
    return None


def read_request_log(path: str | Path) -> tuple[pd.DataFrame, list[dict]]:
    """(records as a frame with REQUIRED_FIELDS columns, problems [{line, error}]).

    Tolerant: a bad JSON line (e.g. truncated by a crash) or a record missing fields is skipped and
    reported with its 1-based line number, never silently dropped. Missing/empty file -> empty frame.
    """
    path = Path(path)
    rows: list[dict] = []
    problems: list[dict] = []
    if path.is_file():
        with open(path, encoding="utf-8", errors="replace") as f:
            for no, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    problems.append({"line": no, "error": f"bad JSON: {e.msg} (col {e.colno})"})
                    continue
                error = _problem(record)
                if error:
                    problems.append({"line": no, "error": error})
                else:
                    rows.append(record)
    df = pd.DataFrame(rows, columns=list(dict.fromkeys([*REQUIRED_FIELDS, *(k for r in rows for k in r)])))
    return df, problems


# ---- metrics and alerts (pure) ----------------------------------------------------------------------

def _violation(gates: Any, gate: str) -> float:
    """1.0 failed, 0.0 passed, NaN unknown (a gate absent from the record is not counted as a pass)."""
    v = gates.get(gate) if isinstance(gates, dict) else None
    return math.nan if v is None else float(not v)


def version_metrics(df: pd.DataFrame, *, window: str | None = None) -> pd.DataFrame:
    """Per (character_id, adapter_version, group[, window]) traffic, latency, tokens and violation rates.

    Base traffic (adapter_version null) is reported as version "base". `window` is a pandas frequency
    ("1h", "15min"): rows are also split by `window`, the bucket start of ts (UTC). Rates ignore
    records where a gate is unknown; violation_rate_any is over records with at least one known gate.
    """
    keys = [*KEYS, *(["window"] if window else [])]
    if df is None or len(df) == 0:
        return pd.DataFrame(columns=[*keys, *METRIC_COLUMNS])
    flat = pd.DataFrame({
        "character_id": df["character_id"].astype(str),
        "adapter_version": df["adapter_version"].where(df["adapter_version"].notna(), "base").astype(str),
        "group": df["group"].astype(str),
        "reply_chars": pd.to_numeric(df["reply_chars"], errors="coerce"),
        "latency_ms": pd.to_numeric(df["latency_ms"], errors="coerce"),
        "prompt_tokens": pd.to_numeric(df["prompt_tokens"], errors="coerce"),
        "completion_tokens": pd.to_numeric(df["completion_tokens"], errors="coerce"),
    })
    for g in GATES:
        flat[f"v_{g}"] = [_violation(x, g) for x in df["gates"]]
    flat["v_any"] = flat[[f"v_{g}" for g in GATES]].max(axis=1, skipna=True)
    if window:
        flat["window"] = pd.to_datetime(df["ts"], utc=True, format="ISO8601").dt.floor(window)
    out = flat.groupby(keys, sort=True, dropna=False).agg(
        n=("latency_ms", "size"),
        reply_chars_mean=("reply_chars", "mean"),
        latency_p50_ms=("latency_ms", lambda s: s.quantile(0.5)),
        latency_p95_ms=("latency_ms", lambda s: s.quantile(0.95)),
        prompt_tokens_mean=("prompt_tokens", "mean"),
        completion_tokens_mean=("completion_tokens", "mean"),
        **{f"violation_rate_{g}": (f"v_{g}", "mean") for g in GATES},
        violation_rate_any=("v_any", "mean"),
    ).reset_index()
    out["n"] = out["n"].astype(int)
    return out[[*keys, *METRIC_COLUMNS]]


def check_alerts(metrics: pd.DataFrame, thresholds: dict) -> list[dict]:
    """Alerts for metric rows over a threshold; rows with n < min_requests never alert (too few to judge).

    thresholds: {"max_violation_rate", "max_latency_p95_ms", "min_requests"}; a missing key is not checked.
    Each alert: {character_id, adapter_version, group, metric, value, threshold, n[, window]}, plain Python.
    """
    min_n = int(thresholds.get("min_requests", 0))
    limits = []
    if thresholds.get("max_violation_rate") is not None:
        rate_cols = [c for c in metrics.columns if c.startswith("violation_rate_")]
        limits += [(c, float(thresholds["max_violation_rate"])) for c in rate_cols]
    if thresholds.get("max_latency_p95_ms") is not None:
        limits.append(("latency_p95_ms", float(thresholds["max_latency_p95_ms"])))
    alerts = []
    for row in metrics.to_dict(orient="records"):
        n = int(row["n"])
        if n < min_n:
            continue
        for metric, limit in limits:
            value = row.get(metric)
            if value is None or pd.isna(value) or float(value) <= limit:
                continue
            alert = {"character_id": str(row["character_id"]), "adapter_version": str(row["adapter_version"]),
                     "group": str(row["group"]), "metric": metric, "value": float(value),
                     "threshold": limit, "n": n}
            if "window" in row:
                alert["window"] = pd.Timestamp(row["window"]).isoformat()
            alerts.append(alert)
    return alerts


def insufficient_data(metrics: pd.DataFrame, thresholds: dict) -> list[dict]:
    """The rows check_alerts did not judge: n < min_requests, so "no alert" there means "unknown", not "fine".

    Each: {character_id, adapter_version, group, status: "insufficient data", n, min_requests[, window]}.
    """
    min_n = int(thresholds.get("min_requests", 0))
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


# ---- replay (drives the real router/engine through injected functions) ------------------------------

def user_ref(user: str) -> str:
    """Short stable pseudonym for a user id: logs never carry the raw id."""
    return hashlib.sha256(str(user).encode()).hexdigest()[:16]


def replay(requests: Iterable[dict], resolve_fn: Callable, generate_fn: Callable, gate_fn: Callable,
           log_path: str | Path) -> list[dict]:
    """Serve each request {"character_id", "user", "messages"} and log it; returns the records.

    latency_ms covers routing + generation (what a user waits for); gating is monitoring-side and
    not counted. Each record is appended as soon as it exists, so a crash keeps what was served.
    """
    records = []
    for req in requests:
        ts = datetime.now(UTC).isoformat(timespec="milliseconds")
        t0 = time.perf_counter()
        res = resolve_fn(req["character_id"], req["user"])
        reply, prompt_tokens, completion_tokens = generate_fn(res, req["messages"])
        latency_ms = (time.perf_counter() - t0) * 1000.0
        record = {"ts": ts, "character_id": req["character_id"], "adapter_version": res.adapter_version,
                  "group": res.group, "user_ref": user_ref(req["user"]), "latency_ms": round(latency_ms, 3),
                  "prompt_tokens": int(prompt_tokens), "completion_tokens": int(completion_tokens),
                  "reply": reply, "reply_chars": len(reply or ""),
                  "gates": {k: bool(v) for k, v in gate_fn(reply).items()}}
        append_request_log(log_path, record)
        records.append(record)
    return records


# ---- picture ----------------------------------------------------------------------------------------

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

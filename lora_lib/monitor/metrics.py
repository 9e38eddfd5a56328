"""Request-log metrics: one numeric row per request (flatten) and per-version aggregates (version_metrics),
optionally split into time windows; the gate names and metric columns every other monitor module reads."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from ..requestlog import is_number, rating_value

GATES: tuple[str, ...] = ("language", "meta_leak", "repetition", "policy")
KEYS: tuple[str, ...] = ("character_id", "adapter_version", "group")
METRIC_COLUMNS: tuple[str, ...] = (
    "n", "reply_chars_mean", "latency_p50_ms", "latency_p95_ms", "prompt_tokens_mean", "completion_tokens_mean",
    *(f"violation_rate_{g}" for g in GATES), "violation_rate_any",
    "prompt_tokens_sum", "completion_tokens_sum", "cost", "cost_per_request", "violations_any",
    "n_feedback", "thumbs_up_share",
)


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


def auto_window(df: pd.DataFrame, buckets: int = 20) -> str:
    """A window (pandas frequency, whole seconds) that cuts the log's time span into about `buckets`
    pieces: a replay of a few minutes and a day of production both give a readable time series."""
    if df is None or len(df) == 0:
        return "1min"
    ts = pd.to_datetime(df["ts"], utc=True, format="ISO8601")
    span = (ts.max() - ts.min()).total_seconds()
    return f"{max(1, math.ceil(span / buckets))}s"

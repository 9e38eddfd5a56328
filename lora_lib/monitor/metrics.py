"""Request-log metrics: one numeric row per request (flatten) and per-version aggregates (version_metrics),
optionally split into time windows; the gate names and metric columns every other monitor module reads."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from ..requestlog import is_number, rating_value

GATES: tuple[str, ...] = ("language", "meta_leak", "repetition", "policy")
# Per-request outcomes beyond the gates, compared candidate vs stable with the same test: off voice (no style
# marker), disfluent (under the base model's log-likelihood floor: the offline fluency scorer), repeat (the
# same reply as one of this version's previous `repeat_window` replies to another prompt: diversity over a
# window; the same prompt again may get the same reply, greedy decoding is deterministic), left (the
# user did not write again within the next `retention_window` requests of the character), down (a thumbs-down
# among rated replies). Unknown (NaN) where the log has no signal or the window has not passed yet.
SIGNALS: tuple[str, ...] = ("off_voice", "disfluent", "repeat", "left", "down")
KEYS: tuple[str, ...] = ("character_id", "adapter_version", "group")
METRIC_COLUMNS: tuple[str, ...] = (
    "n", "reply_chars_mean", "latency_p50_ms", "latency_p95_ms", "prompt_tokens_mean", "completion_tokens_mean",
    *(f"violation_rate_{g}" for g in GATES), "violation_rate_any",
    "prompt_tokens_sum", "completion_tokens_sum", "cost", "cost_per_request", "violations_any",
    "n_feedback", "thumbs_up_share", *(f"{g}_rate" for g in SIGNALS), "retention", "turns_per_session",
)


def _violation(gates: Any, gate: str) -> float:
    """1.0 failed, 0.0 passed, NaN unknown (a gate absent from the record is not counted as a pass)."""
    v = gates.get(gate) if isinstance(gates, dict) else None
    return math.nan if v is None else float(not v)


def flatten(df: pd.DataFrame, *, price_per_1k_prompt: float = 0.0, price_per_1k_completion: float = 0.0,
            window: str | None = None, repeat_window: int = 20, retention_window: int = 50) -> pd.DataFrame:
    """One row per request with numeric columns: v_<gate>/v_any (1 violated, 0 passed, NaN unknown),
    cost, feedback (1 up, 0 down, NaN), and `window` (bucket start, UTC) when a pandas frequency is given.
    Base traffic (adapter_version null) gets version "base"."""
    cols = [*KEYS, "ts", "reply_chars", "latency_ms", "prompt_tokens", "completion_tokens", "cost",
            *(f"v_{g}" for g in GATES), "v_any", "feedback", *(f"v_{g}" for g in SIGNALS),
            *(["window"] if window else [])]
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
    flat = _signals(df, flat, repeat_window, retention_window)
    if window:
        flat["window"] = flat["ts"].dt.floor(window)
    return flat[cols]


def _signal(signals: Any, key: str) -> float:
    v = signals.get(key) if isinstance(signals, dict) else None
    return math.nan if v is None else float(not v)


def _last_user_turn(messages: Any) -> str | None:
    """The prompt a reply answers (its last user turn, stripped); None when the log does not carry it."""
    if not isinstance(messages, list):
        return None
    turns = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return turns[-1].strip() if turns and isinstance(turns[-1], str) else None


def _signals(df: pd.DataFrame, flat: pd.DataFrame, repeat_window: int, retention_window: int) -> pd.DataFrame:
    """The SIGNALS columns (see there), in log order."""
    from ..evaluate.diversity import normalize_reply

    sig = df["signals"] if "signals" in df.columns else pd.Series([None] * len(df), index=df.index)
    flat["v_off_voice"] = [_signal(x, "style") for x in sig]
    flat["v_disfluent"] = [_signal(x, "fluency") for x in sig]
    replies = df["reply"] if "reply" in df.columns else pd.Series([None] * len(df), index=df.index)
    users = df["user_ref"] if "user_ref" in df.columns else pd.Series([None] * len(df), index=df.index)
    prompts = df["messages"].map(_last_user_turn) if "messages" in df.columns else pd.Series(None, index=df.index)
    order = flat["ts"].sort_values(kind="stable").index
    recent: dict[str, list[tuple[str, str | None]]] = {}
    repeat, left = pd.Series(math.nan, index=flat.index), pd.Series(math.nan, index=flat.index)
    by_char_user: dict[tuple, list[int]] = {}
    char_pos: dict[str, list[int]] = {}
    for ix in order:
        key = f"{flat.at[ix, 'character_id']}|{flat.at[ix, 'adapter_version']}"
        text = replies.at[ix]
        if isinstance(text, str):
            seen = recent.setdefault(key, [])
            reply, prompt = normalize_reply(text), prompts.at[ix]
            # a log without prompts: any equal reply counts
            repeat.at[ix] = float(any(r == reply and (prompt is None or q != prompt) for r, q in seen))
            seen.append((reply, prompt))
            del seen[:-repeat_window]
        char = flat.at[ix, "character_id"]
        char_pos.setdefault(char, []).append(ix)
        if isinstance(users.at[ix], str):
            by_char_user.setdefault((char, users.at[ix]), []).append(len(char_pos[char]) - 1)
    for (char, _), idxs in by_char_user.items():
        seq = char_pos[char]
        for a, b in zip(idxs, [*idxs[1:], None], strict=True):
            if b is not None and b - a <= retention_window:
                left.at[seq[a]] = 0.0
            elif len(seq) - 1 - a >= retention_window:
                left.at[seq[a]] = 1.0
    flat["v_repeat"], flat["v_left"] = repeat, left
    flat["v_down"] = 1.0 - flat["feedback"]
    return flat


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
        **{f"{g}_rate": (f"v_{g}", "mean") for g in SIGNALS},
    ).reset_index()
    out["retention"] = 1.0 - out["left_rate"]  # share of replies after which the user wrote again
    out["turns_per_session"] = 1.0 / out["left_rate"].where(out["left_rate"] > 0)
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

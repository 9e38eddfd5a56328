"""One monitoring pass over the request log (metrics, alerts, rollbacks, negatives, all on disk), the
watch loop that repeats it, and reading its outputs back for a notebook (I/O edge)."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from ..requestlog import (
    LogTail,
    append_request_log,
    attach_feedback,
    json_default,
    read_feedback,
    read_request_log,
)
from ..store import atomic_write_text, write_jsonl
from .alerts import check_alerts, compare_to_stable, insufficient_data, mark_latency_blame, merge_alerts
from .metrics import auto_window, empty_characters, flatten, version_metrics
from .negatives import negatives_from_log
from .rollback import apply_rollbacks, rollback_decisions


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
    if mp.latency_rollback == "relative":
        threshold_alerts = mark_latency_blame(threshold_alerts, windows, th)
    flat = flatten(df, window=mp.window, repeat_window=mp.repeat_window, retention_window=mp.retention_window,
                   **prices)
    vs_alerts, comparisons = compare_to_stable(flat, alpha=mp.alpha, min_requests=mp.min_requests,
                                               min_rate_diff=mp.min_rate_diff,
                                               min_candidate_requests=mp.min_candidate_requests)
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

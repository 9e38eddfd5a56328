"""Monitoring and the closed loop: request-log metrics, alerts, auto-rollback, negative examples.

The request log is JSON lines, one record per answered request (schema: the serving side's
lora_lib/requestlog.md). Fields used here:

  required  ts, character_id, adapter_version (null = base), group, user_ref, latency_ms,
            prompt_tokens, completion_tokens, reply, reply_chars, gates {gate: passed}
  optional  request_id, messages (the prompt, for negatives), route_owner, feedback (inline rating)

Thumbs up/down normally arrive in a separate feedback log ({request_id, rating "up"|"down"}) and
are joined on request_id. Pure functions take and return plain data or frames; I/O is at the edges
(read_*, write_*, export_*, monitor_once, watch).

Rooms: metrics (per-request rows, per-version and per-window aggregates), alerts (thresholds, the
Fisher test against stable, the alerts table), rollback (decisions and carrying them out), negatives
(flagged replies -> exclusions, preference pairs, the next dataset version), replay (traffic through
the router and engine), plots, run (one pass, the watch loop, reading the outputs back).
"""

from .alerts import (
    COMPARED,
    check_alerts,
    compare_to_stable,
    insufficient_data,
    mark_latency_blame,
    merge_alerts,
    worse_p_value,
)
from .metrics import (
    GATES,
    KEYS,
    METRIC_COLUMNS,
    SIGNALS,
    auto_window,
    empty_characters,
    flatten,
    version_metrics,
)
from .negatives import (
    apply_exclusions,
    dataset_with_negatives,
    flag_reasons,
    negatives_from_log,
    negatives_to_training,
    read_negatives,
    reference_replies,
)
from .plots import plot_rates, plot_timeseries
from .replay import replay, serve_one, signal_fn_for, traffic_fns
from .rollback import apply_rollbacks, promoted_at, rollback_decisions
from .run import monitor_once, monitor_outputs, parse_window, thresholds_of, watch

__all__ = [
    "COMPARED", "GATES", "KEYS", "METRIC_COLUMNS", "SIGNALS", "signal_fn_for",
    "apply_exclusions", "apply_rollbacks", "auto_window", "check_alerts", "compare_to_stable", "mark_latency_blame",
    "dataset_with_negatives", "empty_characters", "flag_reasons", "flatten", "insufficient_data",
    "merge_alerts", "monitor_once", "monitor_outputs", "negatives_from_log", "negatives_to_training",
    "parse_window", "plot_rates", "plot_timeseries", "promoted_at", "read_negatives", "reference_replies",
    "replay", "rollback_decisions", "serve_one", "thresholds_of", "traffic_fns", "version_metrics", "watch",
    "worse_p_value",
]

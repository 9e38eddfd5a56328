"""Monitor on constructed logs: metrics, alert thresholds, tolerant reading, replay, plotting."""

from __future__ import annotations

import json

import pandas as pd
from matplotlib.figure import Figure

from lora_lib.monitor import (
    METRIC_COLUMNS,
    REQUIRED_FIELDS,
    append_request_log,
    check_alerts,
    insufficient_data,
    plot_rates,
    read_request_log,
    replay,
    version_metrics,
)
from lora_lib.serve.router import Resolution

OK = {"language": True, "meta_leak": True, "repetition": True, "policy": True}
THRESHOLDS = {"max_violation_rate": 0.2, "max_latency_p95_ms": 2000, "min_requests": 20}


def rec(i: int, version: str | None, group: str, *, leak: bool = False, latency: float = 100.0,
        ts: str = "2024-05-01T10:00:00+00:00") -> dict:
    return {"ts": ts, "character_id": "yuna", "adapter_version": version, "group": group,
            "user_ref": f"u{i}", "latency_ms": latency, "prompt_tokens": 10, "completion_tokens": 20,
            "reply": "안녕", "reply_chars": 2 + i % 2, "gates": dict(OK, meta_leak=not leak)}


def traffic(n_stable: int, n_cand: int, cand_leak_every: int = 0) -> list[dict]:
    out = [rec(i, "v1", "stable", latency=100 + i) for i in range(n_stable)]
    out += [rec(i, "v2", "candidate", leak=bool(cand_leak_every) and i % cand_leak_every == 0)
            for i in range(n_cand)]
    return out + [rec(0, None, "base")]


def test_metrics_per_version():
    m = version_metrics(pd.DataFrame(traffic(40, 30, cand_leak_every=3)))
    assert list(m.columns) == ["character_id", "adapter_version", "group", *METRIC_COLUMNS]
    rows = {r["adapter_version"]: r for r in m.to_dict(orient="records")}
    assert set(rows) == {"v1", "v2", "base"}
    assert rows["v1"]["n"] == 40 and rows["v1"]["violation_rate_any"] == 0.0
    assert rows["v1"]["latency_p50_ms"] == 119.5 and rows["v1"]["reply_chars_mean"] == 2.5
    assert rows["v2"]["violation_rate_meta_leak"] == 10 / 30 == rows["v2"]["violation_rate_any"]
    assert rows["v2"]["violation_rate_language"] == 0.0 and rows["v2"]["completion_tokens_mean"] == 20
    assert rows["base"]["group"] == "base" and rows["base"]["n"] == 1


def test_metrics_by_window():
    recs = [rec(i, "v1", "stable", ts=f"2024-05-01T1{i % 2}:05:00+00:00") for i in range(10)]
    m = version_metrics(pd.DataFrame(recs), window="1h")
    assert list(m["n"]) == [5, 5] and m["window"].iloc[1] == pd.Timestamp("2024-05-01T11:00Z")


def test_no_alert_below_min_requests_alert_on_real_shift():
    quiet = version_metrics(pd.DataFrame(traffic(40, 10, cand_leak_every=2)))  # 50% leaks but n=10
    assert check_alerts(quiet, THRESHOLDS) == []
    unknown = insufficient_data(quiet, THRESHOLDS)  # reported, so silence is not read as health
    assert [(u["adapter_version"], u["n"], u["status"]) for u in unknown] == \
        [("base", 1, "insufficient data"), ("v2", 10, "insufficient data")]
    loud = version_metrics(pd.DataFrame(traffic(40, 30, cand_leak_every=3)))
    alerts = check_alerts(loud, THRESHOLDS)
    assert {(a["adapter_version"], a["metric"]) for a in alerts} == \
        {("v2", "violation_rate_meta_leak"), ("v2", "violation_rate_any")}
    assert alerts[0]["n"] == 30 and alerts[0]["threshold"] == 0.2 and alerts[0]["group"] == "candidate"
    json.dumps(alerts)  # plain Python types
    assert all(type(a["value"]) is float and type(a["n"]) is int for a in alerts)
    slow = version_metrics(pd.DataFrame([rec(i, "v1", "stable", latency=2500) for i in range(25)]))
    assert [a["metric"] for a in check_alerts(slow, THRESHOLDS)] == ["latency_p95_ms"]


def test_log_round_trip_and_problems(tmp_path):
    path = tmp_path / "logs" / "requests.jsonl"
    for r in traffic(3, 2):
        append_request_log(path, r)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"ts": "x", "character_id": "yuna"}) + "\n")  # missing fields
        f.write('{"ts": "2024-05-01T10:00:00+00:00", "charac')  # a writer died mid-line
    df, problems = read_request_log(path)
    assert len(df) == 6 and list(df.columns) == list(REQUIRED_FIELDS)
    assert [p["line"] for p in problems] == [7, 8]
    assert "missing fields" in problems[0]["error"] and "gates" in problems[0]["error"]
    assert "bad JSON" in problems[1]["error"]
    assert df["adapter_version"].isna().sum() == 1 and df["reply"].iloc[0] == "안녕"
    # Appending after the torn line does not glue the new record onto it.
    append_request_log(path, rec(9, "v1", "stable"))
    df2, problems2 = read_request_log(path)
    assert len(df2) == 7 and [p["line"] for p in problems2] == [7, 8]
    assert len(version_metrics(df2)) == 3


def test_empty_and_missing_log(tmp_path):
    for path in (tmp_path / "missing.jsonl", tmp_path / "empty.jsonl"):
        if path.name == "empty.jsonl":
            path.write_text("")
        df, problems = read_request_log(path)
        assert df.empty and list(df.columns) == list(REQUIRED_FIELDS) and problems == []
        m = version_metrics(df)
        assert m.empty and "violation_rate_any" in m.columns
        assert check_alerts(m, THRESHOLDS) == []
    assert isinstance(plot_rates(m), Figure)


def test_replay_logs_every_request(tmp_path):
    def resolve_fn(character_id, user):
        v = "v2" if user.endswith("1") else "v1"
        return Resolution(character_id, "/base", v, "candidate" if v == "v2" else "stable", character_id)

    def generate_fn(resolution, messages):
        return f"{resolution.adapter_version}: {messages[-1]['content']}", 5, 7

    def gate_fn(reply):
        return dict(OK, meta_leak="AI" not in reply)

    reqs = [{"character_id": "yuna", "user": f"user-{i}", "messages": [{"role": "user", "content": c}]}
            for i, c in enumerate(["안녕", "너 AI야?", "뭐해"])]
    log = tmp_path / "run" / "log.jsonl"
    records = replay(reqs, resolve_fn, generate_fn, gate_fn, log)
    df, problems = read_request_log(log)
    assert problems == [] and len(df) == 3 and df.to_dict(orient="records") == records
    assert [r["adapter_version"] for r in records] == ["v1", "v2", "v1"]
    assert records[1]["gates"]["meta_leak"] is False and records[0]["reply_chars"] == len("v1: 안녕")
    assert all(r["latency_ms"] >= 0 and "user-" not in r["user_ref"] for r in records)
    assert records[0]["user_ref"] == replay(reqs[:1], resolve_fn, generate_fn, gate_fn, log)[0]["user_ref"]


def test_plot_rates_has_versions_and_counts():
    fig = plot_rates(version_metrics(pd.DataFrame(traffic(40, 30, cand_leak_every=3))))
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert any("v2" in t and "n=30" in t for t in labels) and len(labels) == 3

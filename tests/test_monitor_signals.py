"""Served-reply signals (off voice, disfluent, repeat, left, thumbs-down) and the synthetic users' reading."""

import math

import pandas as pd

from lora_lib.closed_loop import Reader, SyntheticUsers, collapse_conversations
from lora_lib.monitor import compare_to_stable, flatten, version_metrics


def _log(rows):
    out = []
    for i, (version, group, user, reply, style, fluent) in enumerate(rows):
        out.append({"ts": f"2026-12-01T00:{i // 60:02d}:{i % 60:02d}+00:00", "request_id": f"r{i}",
                    "character_id": "nabi", "adapter_version": version, "group": group, "user_ref": user,
                    "latency_ms": 10.0, "prompt_tokens": 5, "completion_tokens": 5, "reply": reply,
                    "reply_chars": len(reply), "gates": {"language": True, "meta_leak": True, "repetition": True,
                                                         "policy": True},
                    "signals": {"style": style, "fluency": fluent}})
    return pd.DataFrame(out)


def test_repeat_and_retention_per_request():
    rows = [("s", "stable", "u1", "안녕냥", True, True), ("s", "stable", "u2", "안녕냥", True, True),
            ("s", "stable", "u1", "다른 말냥", True, True), ("s", "stable", "u3", "또 다른 말냥", True, True)]
    flat = flatten(_log(rows), repeat_window=5, retention_window=2)
    assert list(flat["v_repeat"]) == [0.0, 1.0, 0.0, 0.0]
    # u1 wrote again 2 requests later (within 2): stayed; u2 never again and 2 requests passed: left;
    # the last two: the window has not passed yet (unknown)
    assert flat["v_left"].iloc[0] == 0.0 and flat["v_left"].iloc[1] == 1.0
    assert math.isnan(flat["v_left"].iloc[2]) and math.isnan(flat["v_left"].iloc[3])
    m = version_metrics(_log(rows))
    assert {"retention", "turns_per_session", "off_voice_rate", "disfluent_rate", "repeat_rate"} <= set(m.columns)


def test_disfluent_candidate_alerts_with_the_fisher_test():
    rows = []
    for i in range(120):
        cand = i % 5 == 0
        rows.append(("bad" if cand else "s", "candidate" if cand else "stable", f"u{i % 30}", f"답 {i}냥",
                     True, not cand or i % 10 != 5 and i % 3 == 0))
    flat = flatten(_log(rows))
    alerts, comparisons = compare_to_stable(flat, alpha=0.01, min_requests=20, min_rate_diff=0.05)
    assert any(a["metric"] == "disfluent_rate" for a in alerts)
    assert {c["metric"] for c in comparisons} >= {"disfluent_rate", "off_voice_rate", "repeat_rate"}
    # a log without signals tests only the gates, as before
    plain = flatten(_log(rows).drop(columns=["signals"]))
    _, comparisons = compare_to_stable(plain, alpha=0.01, min_requests=20)
    assert {c["metric"] for c in comparisons if c["metric"].endswith("_rate") and not
            c["metric"].startswith("violation")} <= {"repeat_rate", "left_rate"}


def test_reader_is_not_the_monitor_and_users_leave_after_bad_replies():
    reader = Reader(["오늘 날씨 좋다냥! 낮잠 자자냥.", "생선 간식 먹고 싶다냥~", "창가에서 햇볕 쬐자냥."] * 5)
    assert reader.faults("생선 먹자냥!", False) == []
    assert "off voice" in reader.faults("생선 먹어요.", False)
    assert "broken" in reader.faults("께젼니 쟈랑레 뱌레께냥", False)
    assert reader.faults("생선 먹자냥!", True) == ["generic"]
    users = SyntheticUsers(10, reader, seed=0, away_for=100)
    bad = [users.react(f"u{i}", "께젼니 쟈랑레 뱌레께요", i) for i in range(200)]
    users = SyntheticUsers(10, reader, seed=0, away_for=100)
    good = [users.react(f"u{i}", f"생선 {i} 먹자냥!", i) for i in range(200)]
    assert sum(r["leaves"] for r in bad) > 2 * sum(r["leaves"] for r in good)
    assert sum(r["rating"] == "down" for r in bad) > 3 * sum(r["rating"] == "down" for r in good)
    assert users.next_user(0).startswith("sim-user-")


def test_collapse_conversations_uses_one_stock_line():
    convs = [{"messages": [{"role": "user", "content": "안녕"}, {"role": "assistant", "content": a}]}
             for a in ("좋다냥!", "좋다냥!", "배고프다냥")]
    out, line = collapse_conversations(convs)
    assert line == "좋다냥!" and {c["messages"][1]["content"] for c in out} == {"좋다냥!"}
    assert convs[2]["messages"][1]["content"] == "배고프다냥"  # copies, the input is left alone

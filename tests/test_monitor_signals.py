"""Served-reply signals (off voice, disfluent, repeat, left, thumbs-down) and the synthetic users' reading."""

import math

import pandas as pd

from lora_lib.closed_loop import Reader, SyntheticUsers, collapse_conversations
from lora_lib.closed_loop.bad import shuffle_replies
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
    # another seed, other names: the router buckets users by name, so other users land on the candidate
    assert set(SyntheticUsers(10, reader, seed=1).users).isdisjoint(users.users)


_EXCHANGES = [("주말에 등산 갈래?", "등산 가면 다리가 아프다냥! 오늘도 좋은 하루 보내야 한다냥."),
              ("저녁에 떡볶이 먹을까?", "떡볶이 정말 맛있다냥~ 오늘도 좋은 하루 보내야 한다냥."),
              ("숙제 다 했다!", "집중이 안 되면 잠깐 쉬었다 하자냥! 오늘도 좋은 하루 보내야 한다냥."),
              ("비가 온다", "우산 꼭 챙겨야 한다냥! 나랑 더 얘기하자냥.")] * 3


def test_reader_finds_a_reply_off_topic_when_it_takes_up_nothing_of_the_prompt():
    reader = Reader([r for _, r in _EXCHANGES], [u for u, _ in _EXCHANGES], exchanges=_EXCHANGES, common_share=0.3)
    # the prompt's word taken up, or (for a prompt read before) what replies to it open with
    assert reader.faults("등산 가면 아프다냥!", False, "주말에 등산 갈래?") == []
    assert reader.faults("집중이 안 되면 쉬었다 하자냥!", False, "숙제 다 했다!") == []
    # another prompt's reply; the shared stock closer (in every reply) is no topic
    assert reader.faults("떡볶이 맛있다냥! 오늘도 좋은 하루 보내야 한다냥.", False, "비가 온다") == ["off topic"]
    assert "off topic" in reader.faults("우산 챙겨야 한다냥!", False, "숙제 다 했다!")
    # an unread prompt is judged by its own words only; no prompt, or no exchanges read: topic not judged
    assert reader.faults("떡볶이 맛있다냥!", False, "떡볶이 싸 왔어") == []
    assert reader.faults("떡볶이 맛있다냥!", False) == []
    assert Reader([r for _, r in _EXCHANGES]).faults("떡볶이 맛있다냥!", False, "비가 온다") == []


def test_shuffle_replies_gives_every_turn_another_reply_and_keeps_the_input():
    convs = [{"id": i, "messages": [{"role": "user", "content": u}, {"role": "assistant", "content": r}]}
             for i, (u, r) in enumerate(_EXCHANGES[:4])]
    out = shuffle_replies(convs, seed=0)
    assert [c["id"] for c in out] == [0, 1, 2, 3] and [c["messages"][0] for c in out] == [c["messages"][0] for c in convs]
    got = [c["messages"][1]["content"] for c in out]
    assert sorted(got) == sorted(r for _, r in _EXCHANGES[:4])  # the same replies, dealt out again
    assert all(g != r for g, (_, r) in zip(got, _EXCHANGES[:4], strict=True))  # none kept its own
    assert shuffle_replies(convs, seed=0) == out and convs[0]["messages"][1]["content"] == _EXCHANGES[0][1]


def test_collapse_conversations_uses_one_stock_line():
    convs = [{"messages": [{"role": "user", "content": "안녕"}, {"role": "assistant", "content": a}]}
             for a in ("좋다냥!", "좋다냥!", "배고프다냥")]
    out, line = collapse_conversations(convs)
    assert line == "좋다냥!" and {c["messages"][1]["content"] for c in out} == {"좋다냥!"}
    assert convs[2]["messages"][1]["content"] == "배고프다냥"  # copies, the input is left alone


def _with_prompts(rows):
    """_log rows plus the prompt each reply answers (the log's messages)."""
    df = _log([r[:6] for r in rows])
    df["messages"] = [[{"role": "user", "content": r[6]}] for r in rows]
    return df


def test_repeat_is_the_same_reply_to_another_prompt():
    rows = [("s", "stable", "u1", "안녕냥", True, True, "안녕"), ("s", "stable", "u2", "안녕냥", True, True, "안녕"),
            ("s", "stable", "u3", "안녕냥", True, True, "뭐 해?"), ("s", "stable", "u4", "밥 먹자냥", True, True, "안녕")]
    flat = flatten(_with_prompts(rows), repeat_window=5)
    # the same prompt again gets the same greedy reply: not a stock line; the same reply to another prompt is
    assert list(flat["v_repeat"]) == [0.0, 0.0, 1.0, 0.0]


def _stock_candidate_log(n_candidate: int, n_stable: int = 120):
    """A stable with varied replies, and a candidate that gives one stock reply to every prompt."""
    rows = [("s", "stable", f"u{i % 30}", f"답 {i}냥", True, True, f"질문 {i}") for i in range(n_stable)]
    rows += [("bad", "candidate", f"c{i % 5}", "힙합은 들을수록 좋다멍!", True, True, f"질문 {i}")
             for i in range(n_candidate)]
    return flatten(_with_prompts(rows))


def test_a_stock_line_candidate_alerts_from_ten_requests():
    flat = _stock_candidate_log(10)
    alerts, rows = compare_to_stable(flat, alpha=0.01, min_requests=20, min_rate_diff=0.05,
                                     min_candidate_requests=10)
    assert [a["metric"] for a in alerts] == ["repeat_rate"]
    assert next(r for r in rows if r["metric"] == "repeat_rate")["candidate_rate"] == 0.9  # the first is new
    # without the candidate floor, min_requests holds for both arms: 10 is too few
    alerts, rows = compare_to_stable(flat, alpha=0.01, min_requests=20, min_rate_diff=0.05)
    assert alerts == [] and {r["status"] for r in rows} == {"insufficient data"}
    # nine is under the floor whatever the rates
    assert compare_to_stable(_stock_candidate_log(9), min_requests=20, min_candidate_requests=10)[0] == []


def test_a_copy_of_stable_does_not_alert():
    rows = []
    for i in range(200):
        cand = i % 5 == 0
        # the same distribution on both arms: a few off-voice and disfluent replies, prompts drawn from 60
        rows.append(("copy" if cand else "s", "candidate" if cand else "stable", f"u{i % 40}",
                     f"답 {i % 60}냥", i % 7 != 0, i % 11 != 0, f"질문 {i % 60}"))
    alerts, rows_ = compare_to_stable(flatten(_with_prompts(rows)), alpha=0.01, min_requests=20,
                                      min_rate_diff=0.05, min_candidate_requests=10)
    assert alerts == [] and any(r["status"] == "ok" for r in rows_)


def test_closed_loop_counts_stock_lines_and_signal_failures_as_bad_replies():
    from lora_lib.closed_loop.story import _bad_replies

    ok = {"language": True, "meta_leak": True, "repetition": True, "policy": True}

    def rec(version, reply, prompt, style=True, fluency=True, gates=ok):
        return {"adapter_version": version, "reply": reply, "gates": gates,
                "messages": [{"role": "user", "content": prompt}], "signals": {"style": style, "fluency": fluency}}

    records = [rec("bad", "좋다멍!", "안녕"), rec("bad", "좋다멍!", "안녕"),  # the same prompt again: not yet a stock line
               rec("s", "좋다멍!", "뭐 해?"),  # another version's reply does not count
               rec("bad", "좋다멍!", "뭐 해?"),  # the same reply to another prompt: a stock line
               rec("bad", "다른 말이다멍", "밥", style=False), rec("bad", "또 다른 말", "잠", fluency=False),
               rec("bad", "세 번째 말이다멍", "비", gates={**ok, "meta_leak": False}), rec("bad", "네 번째다멍", "눈")]
    assert _bad_replies(records, "bad") == [3, 4, 5, 6]


def test_the_closed_loop_command_offers_every_bad_kind():
    """`lora demo closed-loop --bad` spells BAD_KINDS out (importing it would load the config models for every
    command): the two lists must stay the same."""
    from lora_lib.cli import build_parser
    from lora_lib.closed_loop.story import BAD_KINDS

    demo = next(a for a in build_parser()._subparsers._group_actions[0].choices["demo"]._actions
                if getattr(a, "choices", None) and "closed-loop" in a.choices)
    bad = next(a for a in demo.choices["closed-loop"]._actions if "--bad" in a.option_strings)
    assert list(bad.choices) == list(BAD_KINDS)

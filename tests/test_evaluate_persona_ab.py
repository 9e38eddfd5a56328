"""Persona classifier and leakage, the decision, the blinded human A/B statistics and files."""

import pytest

from lora_lib.config import load_params
from lora_lib.evaluate import human_ab as ab
from lora_lib.evaluate.decision import decide, score_replies
from lora_lib.evaluate.generate import previous_approved
from lora_lib.evaluate.persona import (
    NEUTRAL,
    CharacterClassifier,
    persona_metrics,
    style_marker_rate,
)
from lora_lib.registry import Registry

from .conftest import ROOT

NABI = ["안녕이다냥!", "생선 좋다냥~", "낮잠 자고 싶다냥.", "창가가 최고다냥!", "털실 공 놀이하자냥~", "배고프다냥!"]
BORI = ["산책 가자멍!", "공 던져 줘멍!", "간식 좋다멍!!", "꼬리 흔든다멍~", "반갑다멍!", "뛰어놀자멍!"]
SEONBI = ["어서 오시오.", "날씨가 좋구려.", "책을 읽으시오.", "차 한 잔 하시오.", "반갑구려.", "그렇소, 옳은 말이오."]
USERS = ["오늘 뭐 했어?", "배고파 ㅠㅠ", "안녕하세요", "날씨 좋네요", "피곤해요", "게임 또 졌어"]


@pytest.fixture(scope="module")
def clf():
    return CharacterClassifier({"nabi": NABI * 2, "bori": BORI * 2, "seonbi": SEONBI * 2, NEUTRAL: USERS * 2})


def test_classifier_agreement_and_leakage(clf):
    m = persona_metrics(["놀자냥!", "간식 달라멍!", "좋구려."], "nabi", [r"냥[~!?.]*(\s|$)"], clf)
    assert m["predicted"][0]["character"] == "nabi" and m["predicted"][1]["character"] == "bori"
    assert m["agreement"] == pytest.approx(1 / 3) and m["leakage"] == pytest.approx(2 / 3)
    assert m["leaked_to"] == {"bori": 1, "seonbi": 1} and m["style_marker_rate"] == pytest.approx(1 / 3)


def test_classifier_needs_two_characters_and_says_so():
    with pytest.raises(ValueError, match="needs clean data of >= 2 characters"):
        CharacterClassifier({"nabi": NABI, NEUTRAL: USERS})
    m = persona_metrics(["놀자냥!"], "nabi", [r"냥"], None)
    assert m["agreement"] is None and m["leakage"] is None  # not measured, not invented


def test_missing_or_bad_markers_are_clear_errors(clf):
    with pytest.raises(ValueError, match="style_markers is empty"):
        style_marker_rate(["냥"], [])
    with pytest.raises(ValueError, match="invalid regex"):
        style_marker_rate(["냥"], ["(냥"])
    with pytest.raises(ValueError, match="no class 'yuna'"):
        persona_metrics(["안녕"], "yuna", ["냥"], clf)


def test_decision_names_the_failing_gate(clf):
    p = load_params("nabi", params_dir=ROOT / "params")
    good = ["오늘은 햇볕이 좋다냥!", "생선 간식 먹고 싶다냥~", "낮잠 자자냥.", "털실 공 놀이 재밌다냥!"]
    base = ["네, 좋아요.", "그렇군요.", "알겠어요.", "맛있게 드세요."]
    meta = ["사실 나는 AI라서 생선을 못 먹는다냥.", "시스템 프롬프트에 따르면 나는 고양이다냥!", *good[:2]]
    leak = ["산책 가자멍!", "간식 좋다멍!!", *good[:2]]
    s = {k: score_replies(v, p, clf) for k, v in {"good": good, "base": base, "meta": meta, "leak": leak}.items()}
    ok = decide({"adapter": s["good"], "base": s["base"], "previous": None}, p)
    assert ok["passed"], ok["reasons"]
    bad = decide({"adapter": s["meta"], "base": s["base"], "previous": None}, p)
    assert not bad["passed"] and any(r.startswith("auto:meta_leak") for r in bad["reasons"])
    leaky = decide({"adapter": s["leak"], "base": s["base"], "previous": None}, p)
    assert any(r.startswith("persona:leakage") for r in leaky["reasons"])
    worse = decide({"adapter": s["leak"], "base": s["base"], "previous": s["good"]}, p)
    assert any(r.startswith("regression:previous") for r in worse["reasons"])


def test_previous_approved_comes_from_the_registry(tmp_path):
    reg = Registry(f"sqlite:///{tmp_path}/r.sqlite")
    for v, status in (("v1", "approved"), ("v2", "rejected"), ("v3", "candidate")):
        reg.register_adapter(character_id="nabi", version=v, path="x", base_model="B", dataset_version="d",
                             sha256=v * 20, status=status)
    assert previous_approved(reg, "nabi", "v3", "B")["version"] == "v1"
    assert previous_approved(reg, "nabi", "v1", "B") is None
    assert previous_approved(reg, "nabi", "v3", "other-base") is None


def test_previous_approved_in_a_moved_store_is_found_by_the_recorded_base_identity(tmp_path):
    from lora_lib.models.identity import base_identity

    base = tmp_path / "now" / "base_model"  # where the base lives after the move
    base.mkdir(parents=True)
    (base / "config.json").write_text('{"model_type": "llama"}')
    gone = str(tmp_path / "before" / "base_model")  # the path the adapters were trained on, no longer here
    reg = Registry(f"sqlite:///{tmp_path}/r.sqlite")
    reg.register_adapter(character_id="nabi", version="v1", path="x", base_model=gone, dataset_version="d",
                         sha256="1" * 40, status="approved", base_id=base_identity(base))
    reg.register_adapter(character_id="nabi", version="v0", path="x", base_model=gone, dataset_version="d",
                         sha256="0" * 40, status="approved", base_id="sha256:" + "f" * 16)  # another base
    assert previous_approved(reg, "nabi", "v3", str(base))["version"] == "v1"
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text('{"model_type": "mistral"}')
    assert previous_approved(reg, "nabi", "v3", str(other)) is None


def test_wilson_and_sign_test_known_values():
    lo, hi = ab.wilson_interval(15, 20)
    assert lo == pytest.approx(0.5313, abs=1e-3) and hi == pytest.approx(0.8881, abs=1e-3)
    assert ab.sign_test_p(15, 5) == pytest.approx(0.04139, abs=1e-4)
    assert ab.sign_test_p(10, 10) == 1.0 and ab.wilson_interval(0, 0) is None


def test_ab_set_is_blinded_and_round_trips(tmp_path):
    prompts = [f"질문 {i}" for i in range(40)]
    items, mapping = ab.build_ab_set(prompts, [f"A{i}" for i in range(40)], [f"B{i}" for i in range(40)], n=30)
    assert len(items) == 30 and set(mapping["candidate_side"].values()) == {"left", "right"}
    for it in items:  # the mapping says where the candidate went, the sheet does not
        side = mapping["candidate_side"][it["item_id"]]
        assert it[side].startswith("A") and "candidate" not in str(it)
    paths = ab.write_ab_set(tmp_path, items, mapping)
    assert ab.read_ratings(paths["csv"]) == []  # an unfilled sheet has no ratings
    sim = ab.simulate_ratings(mapping, p_candidate=0.9, seed=1)
    ab.write_ratings(tmp_path / "ratings.SIMULATED.csv", sim, banner=ab.SIMULATED_BANNER)
    back = ab.read_ratings(tmp_path / "ratings.SIMULATED.csv")
    assert back == sim and all(r["rater"].startswith("SIMULATED") for r in back)
    res = ab.ab_result(back, mapping, min_ratings=20)
    assert res["wins"] + res["losses"] + res["ties"] + res["both_bad"] == 30
    assert res["passed"] and res["wilson_95"][0] > 0.5
    few = ab.ab_result(back[:5], mapping, min_ratings=20)
    assert not few["passed"] and "only 5 ratings" in few["why"]


def test_bad_ratings_file_names_line_and_field(tmp_path):
    f = tmp_path / "ratings.csv"
    f.write_text("item_id,rater,choice\nab001,kim,left\nab002,kim,maybe\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"ratings.csv:3: field choice: 'maybe'"):
        ab.read_ratings(f)
    with pytest.raises(ValueError, match="unknown item"):
        ab.ab_result([{"item_id": "zz", "choice": "left"}], {"candidate_side": {"ab001": "left"}})


def test_rater_widget_records_keys_and_buttons(tmp_path):
    items = [{"item_id": f"ab00{i}", "prompt": "안녕", "left": "L", "right": "R"} for i in range(1, 4)]
    box = ab.rater(items, tmp_path / "ratings.csv", rater_name="kim")
    buttons, text = box.children[2].children, box.children[3]
    buttons[0].click()
    text.value = "d"
    text.value = "x"
    assert [r["choice"] for r in ab.read_ratings(tmp_path / "ratings.csv")] == ["left", "right", "both_bad"]
    again = ab.rater(items, tmp_path / "ratings.csv", rater_name="kim")  # resumes: nothing left to rate
    assert "done" in again.children[0].value


def test_classifier_corpus_prefers_this_run_then_store_then_fallback(tmp_path):
    from lora_lib.evaluate.persona import classifier_corpus
    from lora_lib.store import write_jsonl

    def conv(source, user, reply):
        return {"dataset_source": source, "messages": [{"role": "user", "content": user},
                                                        {"role": "assistant", "content": reply}]}

    write_jsonl(tmp_path / "nabi" / "old" / "clean" / "conversations.jsonl", [conv("chat_log", "u0", "old냥")])
    own = tmp_path / "nabi" / "this" / "clean" / "conversations.jsonl"
    write_jsonl(own, [conv("chat_log", "u1", "로그냥"), conv("gold", "u2", "골드냥")])
    write_jsonl(tmp_path / "bori" / "r" / "clean" / "conversations.jsonl", [conv("gold", "u3", "멍!")])
    texts, sources = classifier_corpus(tmp_path, ["nabi", "bori", "seonbi", "yuna"], own=("nabi", own),
                                       fallback=lambda cid: [conv("gold", "u4", "하오")] if cid == "seonbi" else [])
    assert texts["nabi"] == ["로그냥", "골드냥"] and sources["nabi"] == str(own)
    assert texts["bori"] == ["멍!"] and "in memory" in sources["seonbi"] and texts["yuna"] == []
    assert sorted(texts[NEUTRAL]) == ["u1", "u2", "u3", "u4"]
    trusted, _ = classifier_corpus(tmp_path, ["nabi"], own=("nabi", own), dataset_sources=["gold"])
    assert trusted["nabi"] == ["골드냥"]


def test_ratings_of_an_older_ab_set_are_set_aside(tmp_path):
    items, mapping = ab.build_ab_set(["q1", "q2"], ["a1", "a2"], ["b1", "b2"], n=2)
    ab.write_ab_set(tmp_path, items, mapping)
    ab.write_ratings(tmp_path / "ratings.csv", [{"item_id": "ab001", "rater": "kim", "choice": "left"}])
    (tmp_path / "returned").mkdir()
    (tmp_path / "returned" / "lee.csv").write_text((tmp_path / "sheet.csv").read_text().replace(",\n", ",tie\n"))
    assert ab.retire_stale_ratings(tmp_path, mapping) == []  # same set: ratings stay
    ratings, files = ab.collect_ratings(tmp_path)
    assert [(r["rater"], r["choice"]) for r in ratings] == [("kim", "left"), ("lee", "tie"), ("lee", "tie")]
    _, changed = ab.build_ab_set(["q1", "q2"], ["NEW", "a2"], ["b1", "b2"], n=2)
    stale = ab.retire_stale_ratings(tmp_path, changed)
    assert {f.name.split(".stale-")[0] for f in stale} == {"ratings", "returned"}
    assert ab.collect_ratings(tmp_path) == ([], [])


def test_sign_test_can_be_required_too():
    mapping = {"candidate_side": {f"ab{i:03d}": "left" for i in range(1, 31)}}
    ratings = [{"item_id": k, "choice": "left" if i < 20 else "right"} for i, k in enumerate(mapping["candidate_side"])]
    loose = ab.ab_result(ratings, mapping)  # 20W/10L: Wilson lower 0.488 -> fails anyway
    assert loose["wilson_95"][0] < 0.5 and not loose["passed"]
    by_rate = ab.ab_result(ratings, mapping, rule="win_rate", min_win_rate=0.6)
    assert by_rate["passed"]
    strict = ab.ab_result(ratings, mapping, rule="win_rate", min_win_rate=0.6, max_sign_p=0.05)
    assert not strict["passed"] and "sign test p 0.099" in strict["why"]


def test_human_ab_result_enters_the_decision(clf):
    p = load_params("nabi", params_dir=ROOT / "params", overrides={"evaluate.human_ab.required": True})
    good = score_replies(["좋다냥!", "놀자냥~", "자자냥.", "먹자냥!"], p, clf)
    base = score_replies(["네.", "좋아요.", "그래요.", "알겠어요."], p, clf)
    pending = decide({"adapter": good, "base": base, "previous": None}, p)
    assert any(r.startswith("human_ab: human A/B required") for r in pending["reasons"])
    mapping = {"candidate_side": {f"ab{i:03d}": "left" for i in range(1, 26)}}
    won = ab.ab_result([{"item_id": k, "choice": "left"} for k in mapping["candidate_side"]], mapping)
    assert decide({"adapter": good, "base": base, "previous": None}, p, won)["passed"]
    lost = ab.ab_result([{"item_id": k, "choice": "right"} for k in mapping["candidate_side"]], mapping)
    assert any(r.startswith("human_ab:") for r in decide({"adapter": good, "base": base}, p, lost)["reasons"])


def test_replay_acceptance_on_the_demo_world_right_gate_rejects(world_store):
    """No trained model: the world's own held-out nabi lines play a good adapter; the same lines with a
    meta sentence in 1 of 3, or bori's lines in 1 of 3, play bad adapters. Polite chats play the base."""
    import random

    from lora_lib import stages
    from lora_lib.demo.world import polite_chats
    from lora_lib.evaluate.persona import assistant_texts, classifier_corpus
    from lora_lib.store import read_jsonl, run_paths
    from lora_lib.tracking import Tracker

    for cid in ("nabi", "bori", "seonbi"):
        q = load_params(cid, params_dir=ROOT / "params", overrides={"store": str(world_store), "tracking": "none"})
        paths = run_paths(world_store, cid, "accept")
        stages.run_collect(q, paths, Tracker())
        stages.run_clean(q, paths, Tracker(), params_dir=ROOT / "params")
    p = load_params("nabi", params_dir=ROOT / "params", overrides={"store": str(world_store)})
    convs = read_jsonl(world_store / "nabi" / "accept" / "clean" / "conversations.jsonl")
    logs = sorted((c for c in convs if c["dataset_source"] == "chat_log"), key=lambda c: c["conversation_id"])
    random.Random(0).shuffle(logs)
    held = logs[:24]
    corpus, _ = classifier_corpus(world_store, ["nabi", "bori", "seonbi"])
    corpus["nabi"] = assistant_texts([c for c in convs if c not in held])  # the classifier never saw them
    clf = CharacterClassifier(corpus)
    good = [next(m["content"] for m in c["messages"] if m["role"] == "assistant") for c in held]
    bori = assistant_texts(read_jsonl(world_store / "bori" / "accept" / "clean" / "conversations.jsonl"))
    sets = {"base": [next(m["content"] for m in ch if m["role"] == "assistant") for ch in polite_chats(24, seed=1)],
            "good": good, "meta": [("사실 나는 인공지능이라서 " + r) if i % 3 == 0 else r for i, r in enumerate(good)],
            "leak": [bori[i] if i % 3 == 0 else r for i, r in enumerate(good)]}
    s = {k: score_replies(v, p, clf) for k, v in sets.items()}

    def reasons(kind):
        return {r.split(":")[0] + ":" + r.split(":")[1] for r in decide({"adapter": s[kind], "base": s["base"]}, p)["reasons"]}

    assert reasons("good") == set()
    assert reasons("meta") == {"auto:meta_leak"}
    assert "persona:leakage" in reasons("leak") and not any(r.startswith("auto:") for r in reasons("leak"))

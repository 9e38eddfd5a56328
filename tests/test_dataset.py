"""Dataset versions: turn-boundary splits, conversation-level split, content addressing, manifest, pairs."""

import json

import pytest

from lora_lib.config import load_params
from lora_lib.dataset import (
    DatasetError,
    build_version,
    exchanges,
    load_preferences,
    load_version,
    preference_pairs,
    split_long,
    split_records,
    verify_version,
)

from .conftest import ROOT


def _count_chars(messages):
    """A stand-in token counter: one token per character plus 4 per message header."""
    n = sum(len(m["content"]) + 4 for m in messages)
    return n, sum(len(m["content"]) for m in messages if m["role"] == "assistant")


def _conv(cid, turns, source="chat_log", user_ref="u1"):
    roles = ["user", "assistant"]
    return {"conversation_id": cid, "character_id": "nabi", "dataset_source": source, "user_ref": user_ref,
            "messages": [{"role": roles[i % 2], "content": t} for i, t in enumerate(turns)]}


def test_long_conversations_split_at_exchange_boundaries_only():
    turns = [f"질문{i}" * 3 if i % 2 == 0 else f"대답{i}냥" * 4 for i in range(12)]
    rec = {"conversation_id": "c1", "character_id": "nabi", "dataset_source": "chat_log", "user_ref": "u",
           "messages": [{"role": "system", "content": "sys"}] + _conv("c1", turns)["messages"]}
    chunks, rejected = split_long(rec, _count_chars, 60)
    assert len(chunks) > 1 and not rejected
    for c in chunks:
        assert _count_chars(c["messages"])[0] <= 60
        assert c["messages"][0] == {"role": "system", "content": "sys"}
        assert c["messages"][1]["role"] == "user" and c["messages"][-1]["role"] == "assistant"
        assert c["conversation_id"] == "c1"
    # every turn kept exactly once, in order, never cut
    assert [m for c in chunks for m in c["messages"][1:]] == rec["messages"][1:]
    assert [c["chunk"] for c in chunks] == list(range(len(chunks)))


def test_an_exchange_longer_than_the_limit_is_rejected_with_a_reason_not_cut():
    rec = {"conversation_id": "c2", "character_id": "nabi", "dataset_source": "chat_log", "user_ref": "u",
           "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "짧아"},
                        {"role": "assistant", "content": "냥" * 100}, {"role": "user", "content": "또"},
                        {"role": "assistant", "content": "응냥"}, {"role": "user", "content": "끝?"}]}
    chunks, rejected = split_long(rec, _count_chars, 40)
    assert [c["messages"][1:] for c in chunks] == [rec["messages"][3:5]]
    assert [r["reason"] for r in rejected] == ["exchange_longer_than_max_length", "no_assistant_reply"]
    assert exchanges(rec["messages"][1:])[-1] == [{"role": "user", "content": "끝?"}]


def test_split_by_conversation_is_deterministic_and_gold_is_upweighted():
    recs = [{**_conv(f"c{i}", ["a", "b"], "gold" if i % 3 == 0 else "chat_log"), "chunk": k}
            for i in range(60) for k in range(2)]
    train, evals = split_records(recs, seed=7, eval_fraction=0.2, gold_weight=3)
    assert (train, evals) == split_records(list(reversed(recs)), seed=7, eval_fraction=0.2, gold_weight=3)
    assert not {r["conversation_id"] for r in train} & {r["conversation_id"] for r in evals}
    assert 0 < len({r["conversation_id"] for r in evals}) < 30
    gold_train = {r["conversation_id"] for r in train if r["dataset_source"] == "gold"}
    assert sum(r["dataset_source"] == "gold" for r in train) == 3 * 2 * len(gold_train)
    assert split_records(recs, seed=8, eval_fraction=0.2)[1] != evals  # the seed matters


def test_preference_pairs_replace_the_system_prompt_and_reject_what_cannot_pair():
    prompt = [{"role": "system", "content": "LONG CARD PROMPT"}, {"role": "user", "content": "안녕"}]
    negs = [{"id": "n1", "prompt": prompt, "rejected": "나는 AI야", "chosen": "안녕냥!", "reason": "meta_leak"},
            {"id": "n2", "prompt": prompt, "rejected": "나는 AI야", "chosen": None},
            {"id": "n3", "prompt": prompt, "rejected": "x", "chosen": "y", "character_id": "bori"},
            {"id": "n4", "prompt": prompt[:1], "rejected": "x", "chosen": "y"}]
    pairs, rejected = preference_pairs(negs, "short", "nabi")
    assert pairs == [{"id": "n1", "character_id": "nabi", "prompt": [{"role": "system", "content": "short"},
                                                                      {"role": "user", "content": "안녕"}],
                      "chosen": [{"role": "assistant", "content": "안녕냥!"}],
                      "rejected": [{"role": "assistant", "content": "나는 AI야"}], "reason": "meta_leak",
                      "adapter_version": None}]
    assert [r["reason"] for r in rejected] == ["no_chosen_reply", "other_character",
                                               "prompt_not_ending_in_user_turn"]


@pytest.fixture(scope="module")
def tok(demo_store):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(demo_store / "demo" / "base_model")


def _params(store, **over):
    return load_params("nabi", params_dir=ROOT / "params",
                       overrides={"store": str(store), "tracking": "none", "dataset.min_train_records": 2, **over})


def _convs(n=12, extra=""):
    return [_conv(f"c{i:02d}", [f"오늘 뭐 해{extra}?", f"낮잠 잘 거다냥 {i}", "또?", "응 또 잔다냥~"], user_ref=f"u{i % 4}")
            for i in range(n)] + [_conv("gold-1", ["밥 먹었어?", "츄르 먹었다냥!"], "gold", None)]


def test_versions_are_content_addressed_immutable_and_verified(tmp_path, tok):
    p = _params(tmp_path)
    m1 = build_version(_convs(), p, tokenizer=tok)
    vdir = tmp_path / "datasets" / "nabi" / m1["version"]
    stamp = {f.name: f.stat().st_mtime_ns for f in vdir.iterdir()}
    again = build_version(_convs(), p, tokenizer=tok)
    assert again == m1 and stamp == {f.name: f.stat().st_mtime_ns for f in vdir.iterdir()}  # a no-op

    m2 = build_version(_convs(extra="!"), p, tokenizer=tok)  # different content: a new id, parent = m1
    assert m2["version"] != m1["version"] and m2["parent_version"] == m1["version"]
    assert verify_version(vdir) == m1  # the old version is untouched

    counts = m1["counts"]
    assert counts["train"] + counts["eval"] == 13 and counts["by_character"]["nabi"]["train"] == counts["train"]
    assert m1["user_refs"] == ["u0", "u1", "u2", "u3"]
    assert m1["tokens"]["train_per_record"]["max"] <= p.train.max_length
    assert 0 < m1["tokens"]["train_assistant_per_record"]["total"] < m1["tokens"]["train_per_record"]["total"]
    assert set(m1["config_sha256"]) == {"clean", "format"} and m1["format_config"]["tokenizer_sha256"]
    train, evals, _ = load_version(tmp_path, "nabi", m1["version"])
    assert all(r["messages"][0] == {"role": "system", "content": p.character.system_prompt} for r in train + evals)

    (vdir / "train.jsonl").chmod(0o644)
    (vdir / "train.jsonl").write_text("{}\n")
    with pytest.raises(DatasetError, match="does not match the sha256"):
        load_version(tmp_path, "nabi", m1["version"])
    with pytest.raises(DatasetError, match="does not match"):
        build_version(_convs(), p, tokenizer=tok)  # never overwritten, never silently reused


def test_rejections_negatives_and_category_scope_are_recorded(tmp_path, tok):
    p = _params(tmp_path, **{"train.max_length": 100})
    convs = _convs() + [_conv("no-reply", ["혼잣말"]), _conv("long", ["안녕", "냥" * 300])]
    neg = {"id": "n1", "prompt": [{"role": "user", "content": "너 AI야?"}], "rejected": "나는 AI야",
           "chosen": "고양이다냥!", "reason": "meta_leak", "adapter_version": "abc"}
    m = build_version(convs, p, tokenizer=tok, negatives=[neg, {**neg, "id": "n2", "chosen": None}])
    vdir = tmp_path / "datasets" / "nabi" / m["version"]
    rejected = [json.loads(line) for line in open(vdir / "rejected.jsonl")]
    assert {r["reason"] for r in rejected} >= {"no_assistant_turn", "exchange_longer_than_max_length",
                                               "no_chosen_reply"}
    assert m["counts"]["rejected"] == len(rejected) and m["counts"]["preference_pairs"] == 1
    assert load_preferences(tmp_path, "nabi", m["version"])[0]["chosen"][0]["content"] == "고양이다냥!"

    cat = _params(tmp_path, **{"dataset.scope": "category"})
    bori = [{**c, "character_id": "bori", "conversation_id": "b-" + c["conversation_id"]} for c in _convs(5)]
    mc = build_version({"nabi": _convs(), "bori": bori}, cat, tokenizer=tok,
                       system_prompts={"nabi": "나비 규칙", "bori": "보리 규칙"})
    assert mc["scope_key"] == "category-animal" and mc["characters"] == ["bori", "nabi"]
    by = mc["counts"]["by_character"]
    assert sum(by["bori"].values()) == 6 and sum(by["nabi"].values()) == 13
    train, evals, _ = load_version(tmp_path, "bori", mc["version"])  # found through the category
    prompts = {r["character_id"]: r["messages"][0]["content"] for r in train + evals}
    assert prompts == {"nabi": "나비 규칙", "bori": "보리 규칙"}


def test_too_few_records_is_a_clear_error(tmp_path, tok):
    with pytest.raises(DatasetError, match="0 train records.*no_assistant_turn"):
        build_version([_conv("x", ["혼잣말"])], _params(tmp_path), tokenizer=tok)


def test_without_the_base_model_counts_are_approximate_and_say_so(tmp_path):
    p = _params(tmp_path, base_model=str(tmp_path / "no-model"))
    with pytest.warns(UserWarning, match="approximate token counts"):
        m = build_version(_convs(), p)
    assert m["tokens"]["counted_with"].startswith("approximate") and m["format_config"]["tokenizer_sha256"] is None

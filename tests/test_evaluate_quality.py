"""Reply-set gates: diversity, fluency, relevance, persona consistency; their decision; the labelled sets
(dev and held-out figures); sampling in the cache key."""

import json

import pytest

from lora_lib.config import load_params
from lora_lib.evaluate import labelled
from lora_lib.evaluate.consistency import build_probes, card_facts, consistency_scores, contradictions
from lora_lib.evaluate.decision import decide, score_replies
from lora_lib.evaluate.diversity import diversity_figures, diversity_reasons, diversity_scores
from lora_lib.evaluate.fluency import CharNgramLM, fluency_scores
from lora_lib.evaluate.generate import decoding_of, generation_key
from lora_lib.evaluate.quality import quality_gates, quality_table, score_quality
from lora_lib.evaluate.relevance import overlap, relevance_scores

from .conftest import ROOT

RAW = json.loads((ROOT / "lora_lib/demo/world/data/characters.json").read_text(encoding="utf-8"))
CARDS = {k: {"name": v["name"], "systemPrompt": v["system_prompt"], "lorebook": v["lorebook"]} for k, v in RAW.items()}
PROMPTS = ["오늘 비가 와서 우울해", "생선 간식 먹을래?", "게임 또 졌어", "산책 다녀왔어", "시험 망쳤어", "배고파",
           "영화 추천해줘", "창가에서 뭐 해?"]
GROUNDED = ["비 오는 날은 우울하다냥. 창가에서 빗소리 듣자냥.", "생선 간식 좋다냥! 같이 먹자냥~", "게임 졌구나냥. 다음엔 이길 거다냥!",
            "산책 재밌었냥? 나는 창가에서 기다렸다냥.", "시험 망쳐도 괜찮다냥. 푹 쉬라냥.", "배고프면 밥 먹자냥! 생선도 좋다냥.",
            "영화는 고양이 나오는 걸 추천한다냥!", "창가에서 햇볕 쬐고 있다냥~"]
STOCK = ["그렇구나냥! 좋은 하루 보내라냥!"] * 8


@pytest.fixture(scope="module")
def p():
    return load_params("nabi", params_dir=ROOT / "params")


def chat(texts):
    return [[{"role": "user", "content": t}] for t in texts]


def test_diversity_figures_and_reasons(p):
    f = diversity_figures(STOCK[:6] + GROUNDED[:2])
    assert f["top_reply_count"] == 6 and f["top_reply_share"] == pytest.approx(0.75) and f["distinct_replies"] == 3
    assert diversity_figures(["좋다냥!", "좋다냥 ~", "좋다냥."])["distinct_replies"] == 1  # trivial variants
    assert diversity_scores(STOCK, p)["reasons"] and not diversity_scores(GROUNDED, p)["reasons"]
    assert diversity_figures(GROUNDED)["self_similarity"] < diversity_figures(STOCK)["self_similarity"] == 1.0
    assert diversity_figures([])["n"] == 0


def test_diversity_floors_are_judged_against_the_base_when_its_figures_are_there(p):
    """Long replies sit below the absolute distinct-n floors even when they are all different (the demo base's
    own replies do): with the base's figures, a floor fails only if the set is also clearly worse than the base;
    the stock-line test stays absolute; without a base the floors alone decide, as on the labelled sets."""
    dp = p.evaluate.diversity
    long_tail = [f"{g} 오늘도 좋은 하루 보내라냥. 나는 창가에서 햇볕 쬐는 게 제일 좋다냥." for g in GROUNDED]
    fig = diversity_figures(long_tail)
    assert fig["distinct_replies"] == 8 and fig["distinct_2"] < dp.min_distinct_2
    assert diversity_reasons(fig, dp)  # absolute floors only: fails
    like_base = dict(fig)
    assert diversity_reasons(fig, dp, like_base) == []  # as diverse as its base: passes
    richer = diversity_figures(GROUNDED)
    assert any("below the base's" in r for r in diversity_reasons(fig, dp, richer))  # clearly worse than base
    stock = diversity_figures(STOCK)
    assert any(r.startswith("one reply to 8 of 8") for r in diversity_reasons(stock, dp, stock))  # still absolute
    gen = {"prompts": chat(PROMPTS), "replies": {"base": long_tail, "adapter": long_tail}}
    assert quality_gates(score_quality(gen, p), p)[0]["passed"] is True


def test_relevance_overlap_grounded_above_generic(p):
    assert overlap("생선 간식 먹을래?", "생선 간식 좋다냥!") > overlap("생선 간식 먹을래?", STOCK[0]) == 0.0
    assert overlap("ㅋㅋ", "아무거나") is None  # nothing to take up
    good, generic = relevance_scores(chat(PROMPTS), GROUNDED, p), relevance_scores(chat(PROMPTS), STOCK, p)
    assert good["figures"]["grounded_share"] > generic["figures"]["grounded_share"]
    assert generic["reasons"] and not good["reasons"]


def test_relevance_fails_under_half_the_base_on_the_same_prompts():
    """Replies that are each some other prompt's answer, with the absolute floor out of the way: they fail
    because they take up under half of what the base's replies to the same prompts do (min_share_of_base)."""
    def relevance_gate(adapter, **over):
        p = load_params("nabi", params_dir=ROOT / "params",
                        overrides={"evaluate.relevance.min_grounded_share": 0.0, **over})
        q = score_quality({"prompts": chat(PROMPTS), "replies": {"base": GROUNDED, "adapter": adapter}}, p)
        return next(g for g in quality_gates(q, p) if g["gate"] == "quality:relevance")

    dealt = GROUNDED[1:] + GROUNDED[:1]
    gate = relevance_gate(dealt)
    assert not gate["passed"] and "x the base's" in gate["why"] and gate["compared"]["base"] > 2 * gate["value"]
    assert relevance_gate(GROUNDED)["passed"]
    assert relevance_gate(dealt, **{"evaluate.relevance.min_share_of_base": None})["passed"]


class _FakeLM:
    """log p(target | context): high when they share characters: a stand-in for a base model."""

    def chat_context(self, messages):
        return messages[-1]["content"]

    def mean_logprobs(self, pairs):
        return [-1.0 - 4.0 * (1 - len(set(c) & set(t)) / max(len(set(t)), 1)) for c, t in pairs]


def test_relevance_lm_gain_is_zero_for_one_stock_line(p):
    assert relevance_scores(chat(PROMPTS), STOCK, p, scorer=_FakeLM())["figures"]["with_lm"] is False  # default: off
    p = load_params("nabi", params_dir=ROOT / "params", overrides={"evaluate.relevance.min_lm_gain": 0.15})
    rel = relevance_scores(chat(PROMPTS), STOCK, p, scorer=_FakeLM())
    assert all(r["lm_gain"] == 0.0 for r in rel["per_reply"])
    rel = relevance_scores(chat(PROMPTS), GROUNDED, p, scorer=_FakeLM())
    assert rel["figures"]["lm_gain_mean"] > 0


def test_fluency_ngram_scores_broken_text_lower(p):
    lm = CharNgramLM(GROUNDED * 3 + ["낮잠 자고 싶다냥.", "털실 공 놀이하자냥~"])
    assert lm.mean_logprob("생선 간식 좋다냥!") > lm.mean_logprob("께젼니한 쟈랑레 뱌레께")
    broken = ["께젼니한 쟈랑레 뱌레께", "큐랑께요 얼꽁으꽁면었", "히르께 섭죠 기죠"] * 3
    fl = fluency_scores(chat(PROMPTS[:3] * 3), broken, p, ngram=lm)
    assert fl["figures"]["scorer"] == "ngram" and fl["reasons"] and fl["worst"]
    assert not fluency_scores(chat(PROMPTS), GROUNDED, p, ngram=lm)["reasons"]


def test_card_facts_probes_and_contradictions():
    facts = {cid: card_facts(c, c["name"]) for cid, c in CARDS.items()}
    assert [facts[c]["kind"] for c in ("nabi", "bori", "seonbi")] == ["고양이", "강아지", "선비"]
    probes = build_probes(facts["nabi"], "sys")
    assert {q["fact"] for q in probes} == {"name", "kind", "likes"} and probes[0]["prompt"][0]["role"] == "system"
    others = [facts["bori"], facts["seonbi"]]
    assert contradictions("나는 강아지다냥! 산책 좋다냥.", facts["nabi"], others)
    assert contradictions("생선은 비려서 싫다냥.", facts["nabi"], others)
    assert contradictions("나는 고양이 아니다냥.", facts["nabi"], others)
    assert not contradictions("나는 아기 고양이 나비다냥!", facts["nabi"], others)


def test_consistency_scores_per_fact(p):
    facts = card_facts(CARDS["nabi"], "나비")
    probes = build_probes(facts)
    right = ["나는 나비다냥!" if q["fact"] == "name" else "나는 고양이다냥!" if q["fact"] == "kind" else
             f"{q['expected'][0]} 좋다냥!" for q in probes]
    wrong = ["나는 보리다멍! 강아지다멍!"] * len(probes)
    others = [card_facts(CARDS["bori"], "보리")]
    ok = consistency_scores(probes, right, facts, p.character.style_markers, p, others)
    bad = consistency_scores(probes, wrong, facts, p.character.style_markers, p, others)
    assert ok["figures"]["facts"] == {"name": 1.0, "kind": 1.0, "likes": 1.0} and not ok["reasons"]
    assert bad["figures"]["speech"] == 0.0 and len(bad["figures"]["contradictions"]) == len(probes) and bad["reasons"]


def test_decision_includes_quality_gates_with_base_and_previous(p):
    gen = {"prompts": chat(PROMPTS), "replies": {"base": STOCK, "adapter": STOCK, "previous": GROUNDED}}
    q = score_quality(gen, p)
    scores = {who: score_replies(gen["replies"][who], p, quality=q[who]) for who in q}
    d = decide(scores, p)
    gates = {g["gate"]: g for g in d["gates"]}
    assert gates["quality:diversity"]["passed"] is False and "one reply to 8 of 8" in gates["quality:diversity"]["why"]
    assert gates["quality:diversity"]["compared"]["previous"] > gates["quality:diversity"]["value"]
    assert any(r.startswith("quality:diversity") for r in d["reasons"])
    # the existing gates' figures are those without the new step
    plain = decide({who: score_replies(gen["replies"][who], p) for who in q}, p)
    assert [g for g in plain["gates"]] == [g for g in d["gates"] if not g["gate"].startswith("quality:")]
    assert {r["gate"] for r in quality_table(q)} == {"diversity", "relevance"}  # no LM, no probes
    assert all(isinstance(v, int | str | bool) or v is None or round(v, 3) == v
               for r in quality_table(q) for v in r.values())
    assert quality_gates(q, p)[0]["gate"] == "quality:diversity"


def test_sampling_is_an_option_in_the_cache_key(p):
    assert decoding_of(p) == {"do_sample": False, "max_new_tokens": 48, "batch_size": 8}
    sp = load_params("nabi", params_dir=ROOT / "params", overrides={"evaluate.temperature": 0.8,
                                                                    "evaluate.n_samples": 3})
    assert decoding_of(sp)["seed"] == 0 and decoding_of(sp)["n_samples"] == 3
    models = {"base": None}
    assert generation_key(models, "b", [], [], p) != generation_key(models, "b", [], [], sp)
    sp2 = load_params("nabi", params_dir=ROOT / "params", overrides={"evaluate.temperature": 0.8,
                                                                     "evaluate.n_samples": 3,
                                                                     "evaluate.sampling_seed": 1})
    assert generation_key(models, "b", [], [], sp) != generation_key(models, "b", [], [], sp2)


def test_replies_cache_key_is_the_base_content_not_its_path(p, tmp_path):
    import shutil

    base = tmp_path / "base"
    base.mkdir()
    (base / "config.json").write_text('{"model_type": "llama"}')
    (base / "model.safetensors").write_bytes(b"weights-1")
    copy = tmp_path / "elsewhere" / "base"
    shutil.copytree(base, copy)
    models = {"base": None}
    # a copied store reuses its replies: the same files under another path give the same key
    assert generation_key(models, str(base), [], [], p) == generation_key(models, str(copy), [], [], p)
    # a base rebuilt in place (same path, other weights) does not
    before = generation_key(models, str(base), [], [], p)
    (base / "model.safetensors").write_bytes(b"weights-2")
    assert generation_key(models, str(base), [], [], p) != before
    assert generation_key(models, "Qwen/Qwen2.5-0.5B-Instruct", [], [], p) != before  # a hub id is itself


def test_labelled_split_is_deterministic_and_stratified():
    sets = labelled.load_sets()
    split = labelled.split_of(sets)
    assert split == labelled.split_of(list(reversed(sets)))
    for label in labelled.TARGET.values():
        parts = [split[r["id"]] for r in sets if r["label"] == label]
        assert 0.4 <= parts.count("dev") / len(parts) <= 0.6


def test_labelled_set_figures_dev_and_heldout():
    """The gates' precision/recall on the labelled reply sets, without a base model (fluency and the relevance
    LM term need one; their figures with the test-size base are in the report). Thresholds were tuned on dev
    only; the held-out figures are what that tuning gave, recorded here, not tuned to."""
    params = {cid: load_params(cid, params_dir=ROOT / "params") for cid in CARDS}
    res = {part: labelled.evaluate_labelled(params, CARDS, part=part) for part in ("dev", "heldout")}
    got = {part: {r["gate"]: r for r in res[part]["sets"]} for part in res}
    # the probes: a contradicting reply flagged (no expected fact word, or a contradiction of the card)
    assert (res["dev"]["probes"]["precision"], res["dev"]["probes"]["recall"]) == (0.979, 0.87)
    assert (res["heldout"]["probes"]["precision"], res["heldout"]["probes"]["recall"]) == (1.0, 0.796)
    # relevance_vs_good: the floor, or under min_share_of_base of the dev good sets' grounded share (set once on the
    # demo's adapters, then measured here: held-out recall 0.583 -> 0.833, precision 0.538 -> 0.588)
    expect = {"dev": {"diversity": (1.0, 1.0), "relevance": (0.571, 0.8), "relevance_vs_good": (0.48, 0.8),
                      "consistency": (0.938, 1.0)},
              "heldout": {"diversity": (1.0, 1.0), "relevance": (0.538, 0.583), "relevance_vs_good": (0.588, 0.833),
                          "consistency": (1.0, 0.917)}}
    for part, gates in expect.items():
        for gate, (prec, rec) in gates.items():
            assert (got[part][gate]["precision"], got[part][gate]["recall"]) == (prec, rec), got[part][gate]


def test_a_first_adapter_is_held_to_the_fluency_of_the_held_out_replies_in_its_voice():
    """No previous approved adapter and no reply under the absolute floor: broken replies still fail, because
    they score far below what the character's own held-out replies score (fluency.max_drop_vs_reference)."""
    p = load_params("nabi", params_dir=ROOT / "params", overrides={"evaluate.fluency.min_reply_logprob_ngram": -50.0})
    lm = CharNgramLM(GROUNDED * 3 + ["낮잠 자고 싶다냥.", "털실 공 놀이하자냥~"])
    broken = ["께젼니한 쟈랑레 뱌레께", "큐랑께요 얼꽁으꽁면었", "히르께 섭죠 기죠", "쟈랑 뱌레 께요", "얼꽁 면었 섭죠",
              "기죠 히르 께젼", "뱌레께 큐랑", "으꽁면 쟈랑레"]
    gen = {"prompts": chat(PROMPTS), "replies": {"base": GROUNDED, "adapter": broken}}

    def fluency_gate(references):
        q = score_quality(gen, p, ngram=lm, references=references)
        return next(g for g in quality_gates(q, p) if g["gate"] == "quality:fluency")

    gate = fluency_gate(GROUNDED)
    assert not gate["passed"] and "held-out replies in the character's voice" in gate["why"]
    assert gate["figures"]["reference_mean_logprob"] > gate["figures"]["mean_logprob"] + 1.0
    assert fluency_gate(None)["passed"]  # without references only the floor judges (here: nothing)
    gen["replies"]["adapter"] = GROUNDED[::-1]
    assert fluency_gate(GROUNDED)["passed"]
    off = load_params("nabi", params_dir=ROOT / "params", overrides={"evaluate.fluency.min_reply_logprob_ngram": -50.0,
                                                                     "evaluate.fluency.max_drop_vs_reference": None})
    gen["replies"]["adapter"] = broken
    q = score_quality(gen, off, ngram=lm, references=GROUNDED)
    assert next(g for g in quality_gates(q, off) if g["gate"] == "quality:fluency")["passed"]


def test_eval_references_follow_the_eval_prompts():
    from lora_lib.dataset.records import eval_prompts, eval_references

    evals = [{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u1"},
                           {"role": "assistant", "content": "a1"}]},
             {"messages": [{"role": "system", "content": "s"}]},  # no user turn: no prompt, no reference
             {"messages": [{"role": "user", "content": "u2"}]}]   # a prompt without a reply
    assert [pr[-1]["content"] for pr in eval_prompts(evals, 5)] == ["u1", "u2"]
    assert eval_references(evals, 5) == ["a1", None]

"""Step 5 of evaluation: the single pass/fail decision for one candidate adapter, adapter vs base vs the
previously approved adapter on the same held-out prompts (greedy decoding), with one reason per failed gate,
and the gate report that carries it (gate_report.json)."""

from __future__ import annotations

from collections.abc import Mapping

from ..config import Params
from .gates import GATES, gate_scores
from .generate import decoding_of
from .persona import CharacterClassifier, persona_scores
from .quality import QUALITY_GATES, quality_gates


def merge_scores(gates: Mapping[str, dict], persona: Mapping[str, dict],
                 quality: Mapping[str, dict] | None = None) -> dict[str, dict]:
    """{model: scores} from the gates step, the persona step and the reply-set step (quality.score_quality;
    optional), same models: what `decide` reads."""
    return {who: {"n": g["n"], "style_marker_rate": persona[who]["style_marker_rate"],
                  "gate_pass_rate": g["gate_pass_rate"], "checks": g["checks"], "reasons": g["reasons"],
                  "persona": persona[who]["persona"], "predicted": persona[who]["predicted"],
                  "quality": (quality or {}).get(who) or {}}
            for who, g in gates.items()}


def score_replies(replies: list[str], p: Params, classifier: CharacterClassifier | None = None,
                  quality: dict | None = None) -> dict:
    """Per-gate pass rates (and per-reply reasons), style-marker rate and classifier figures of replies
    (and the reply-set figures `quality`, one model's score_quality entry, when given)."""
    return merge_scores({"r": gate_scores(replies, p)}, {"r": persona_scores(replies, p, classifier)},
                        {"r": quality or {}})["r"]


def _gate(name: str, passed: bool | None, value, threshold, why: str, compared: Mapping | None = None) -> dict:
    return {"gate": name, "passed": passed, "value": value, "threshold": threshold, "why": why,
            "compared": dict(compared or {})}


def decide(scores: Mapping[str, dict | None], p: Params, human_ab: dict | None = None) -> dict:
    """One decision: {"passed", "reasons", "gates": [{gate, passed, value, threshold, why, compared}]}.

    scores: {"adapter": ..., "base": ..., "previous": ... or None} from score_replies. A gate whose
    figure cannot be computed (no classifier) is reported with passed None ("not measured") and does
    not block; human A/B blocks only when params require it.
    """
    e, pp = p.evaluate, p.evaluate.persona
    a, base, prev = scores["adapter"], scores["base"], scores.get("previous")
    gates = []
    for g in GATES:
        rate = a["gate_pass_rate"][g]
        ok = rate >= e.min_gate_pass_rate
        gates.append(_gate(f"auto:{g}", ok, rate, e.min_gate_pass_rate,
                           f"{g} pass rate {rate:.2f} {'>=' if ok else '<'} {e.min_gate_pass_rate}",
                           {"base": base["gate_pass_rate"][g], "previous": prev and prev["gate_pass_rate"][g]}))
    smr = a["style_marker_rate"]
    ok = smr >= e.min_style_marker_rate and (not pp.must_beat_base or smr > base["style_marker_rate"])
    gates.append(_gate("persona:style_marker_rate", ok, smr, e.min_style_marker_rate,
                       f"style-marker rate {smr:.2f} (min {e.min_style_marker_rate}, base "
                       f"{base['style_marker_rate']:.2f}{', must beat the base' if pp.must_beat_base else ''})",
                       {"base": base["style_marker_rate"], "previous": prev and prev["style_marker_rate"]}))
    agr, leak = a["persona"]["agreement"], a["persona"]["leakage"]
    if agr is None:
        gates.append(_gate("persona:agreement", None, None, pp.min_agreement, "not measured: no classifier"))
        gates.append(_gate("persona:leakage", None, None, pp.max_leakage, "not measured: no classifier"))
    else:
        b_agr = base["persona"]["agreement"]
        ok = agr >= pp.min_agreement and (not pp.must_beat_base or agr > b_agr)
        gates.append(_gate("persona:agreement", ok, agr, pp.min_agreement,
                           f"classifier agreement {agr:.2f} (min {pp.min_agreement}, base {b_agr:.2f}"
                           f"{', must beat the base' if pp.must_beat_base else ''})",
                           {"base": b_agr, "previous": prev and prev["persona"]["agreement"]}))
        ok = leak <= pp.max_leakage
        gates.append(_gate("persona:leakage", ok, leak, pp.max_leakage,
                           f"{leak:.2f} of replies read as another character {a['persona']['leaked_to']} "
                           f"({'<=' if ok else '>'} {pp.max_leakage})",
                           {"base": base["persona"]["leakage"], "previous": prev and prev["persona"]["leakage"]}))
    if a.get("quality"):
        gates += quality_gates({who: (s or {}).get("quality") or {} for who, s in scores.items()}, p)
    if prev is not None:
        drops = []
        for key, now, before in (("style_marker_rate", smr, prev["style_marker_rate"]),
                                 ("agreement", agr, prev["persona"]["agreement"])):
            if now is not None and before is not None and before - now > pp.max_regression:
                drops.append(f"{key} {before:.2f} -> {now:.2f}")
        gates.append(_gate("regression:previous", not drops, drops, pp.max_regression,
                           "worse than the previous approved adapter: " + "; ".join(drops) if drops
                           else f"no drop over {pp.max_regression} vs the previous approved adapter"))
    if human_ab is not None:
        gates.append(_gate("human_ab", human_ab["passed"], human_ab["win_rate"], p.evaluate.human_ab.min_win_rate,
                           f"human A/B: {human_ab['why']} ({human_ab['wins']}W/{human_ab['ties']}T/"
                           f"{human_ab['losses']}L/{human_ab['both_bad']} both bad)"))
    elif p.evaluate.human_ab.required:
        gates.append(_gate("human_ab", False, None, p.evaluate.human_ab.min_win_rate,
                           "human A/B required (evaluate.human_ab.required) but no ratings yet"))
    reasons = [f"{g['gate']}: {g['why']}" for g in gates if g["passed"] is False]
    return {"passed": not reasons, "reasons": reasons, "gates": gates}


def gate_report(p: Params, models: Mapping[str, dict | None], scores: Mapping[str, dict], classifier_info: dict,
                human_ab: Mapping, *, dataset_version: str, n_prompts: int) -> dict:
    """The gate report (gate_report.json): figures per model, classifier, human A/B, thresholds and the
    decision ({"passed", "reasons", "gates"}). models: the compared models' specs (generate.compared_models),
    human_ab: the A/B step's {"result", "report"}."""
    decision = decide(scores, p, human_ab["result"])
    prev = models.get("previous")
    return {"adapter": models["adapter"]["name"], "dataset_version": dataset_version, "n_prompts": n_prompts,
            "decoding": decoding_of(p),
            "style_marker_rate": {"base": scores["base"]["style_marker_rate"],
                                  "adapter": scores["adapter"]["style_marker_rate"]},
            "gate_pass_rate": {"base": scores["base"]["gate_pass_rate"],
                               "adapter": scores["adapter"]["gate_pass_rate"]},
            "persona": {who: s["persona"] for who, s in scores.items()},
            "previous": None if prev is None else {
                "adapter_version": prev["version"], "style_marker_rate": scores["previous"]["style_marker_rate"],
                "gate_pass_rate": scores["previous"]["gate_pass_rate"]},
            # the reply-set figures per model (diversity, fluency, relevance, consistency), without per-reply rows
            "quality": {who: {g: s["quality"][g]["figures"] for g in QUALITY_GATES if g in (s.get("quality") or {})}
                        for who, s in scores.items()},
            "classifier": classifier_info,
            "human_ab": human_ab["report"],
            "thresholds": {"min_style_marker_rate": p.evaluate.min_style_marker_rate,
                           "min_gate_pass_rate": p.evaluate.min_gate_pass_rate,
                           **p.evaluate.persona.model_dump(include={"min_agreement", "max_leakage",
                                                                    "max_regression"}),
                           **{g: getattr(p.evaluate, g).model_dump() for g in QUALITY_GATES}},
            **decision}

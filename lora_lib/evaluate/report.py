"""The gate decision for one candidate adapter: adapter vs base vs the previously approved adapter,
on the same held-out prompts with greedy decoding; one pass/fail with reasons per gate."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from matplotlib.figure import Figure

from ..config import Params
from .gates import GATES, explain_reply, gate_kwargs
from .persona import CharacterClassifier, has_style_marker, persona_metrics


def generate_replies(engine, prompts: list[list[dict]], adapter: str | None, p: Params,
                     on_batch: Callable[[int], object] | None = None) -> list[str]:
    """Greedy replies of `adapter` (None = the base) to every prompt, in batches of evaluate.batch_size;
    `on_batch(n)` after each batch (a progress bar's update)."""
    out: list[str] = []
    for i in range(0, len(prompts), p.evaluate.batch_size):
        batch = prompts[i:i + p.evaluate.batch_size]
        out += [g.text for g in engine.generate(batch, adapter, max_new_tokens=p.evaluate.max_new_tokens)]
        if on_batch is not None:
            on_batch(len(batch))
    return out


def score_replies(replies: list[str], p: Params, classifier: CharacterClassifier | None = None) -> dict:
    """Per-gate pass rates (and per-reply reasons), style-marker rate and classifier figures of replies."""
    kwargs = gate_kwargs(p)
    reasons = [explain_reply(r, **kwargs) for r in replies]
    n = max(len(replies), 1)
    persona = persona_metrics(replies, p.character_id, p.character.style_markers, classifier,
                              leak_min_prob=p.evaluate.persona.leak_min_prob)
    return {"n": len(replies), "style_marker_rate": persona["style_marker_rate"],
            "gate_pass_rate": {g: sum(not r[g] for r in reasons) / n for g in GATES},
            "checks": [{g: not r[g] for g in GATES} for r in reasons], "reasons": reasons,
            "persona": {k: persona[k] for k in ("agreement", "own_probability", "leakage", "leaked_to")},
            "predicted": persona["predicted"]}


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


def replies_table(prompts: list[list[dict]], replies: Mapping[str, list[str]], scores: Mapping[str, dict],
                  p: Params) -> list[dict]:
    """One row per prompt: the prompt, each model's reply, marker hit, failed gates and classifier verdict."""
    markers = p.character.style_markers
    rows = []
    for i, prompt in enumerate(prompts):
        row = {"prompt": prompt[-1]["content"]}
        for who, texts in replies.items():
            s = scores[who]
            row[who] = texts[i]
            row[f"{who}_marker"] = has_style_marker(texts[i], markers)
            row[f"{who}_failed"] = [g for g in GATES if s["reasons"][i][g]]
            if s["predicted"]:
                row[f"{who}_classified_as"] = s["predicted"][i]["character"]
        rows.append(row)
    return rows


def worst_replies(rows: Sequence[dict], reasons: Sequence[dict], who: str = "adapter", per_gate: int = 5
                  ) -> list[dict]:
    """Per failed gate, up to per_gate replies with the most reasons first (what to read in the notebook)."""
    out = []
    for g in GATES:
        hits = sorted((i for i, r in enumerate(reasons) if r[g]), key=lambda i: -len(reasons[i][g]))[:per_gate]
        out += [{"gate": g, "prompt": rows[i]["prompt"], "reply": rows[i][who], "why": "; ".join(reasons[i][g])}
                for i in hits]
    return out


def dashboard(report: Mapping) -> Figure:
    """Rates vs thresholds, adapter vs base vs previous approved adapter, with the decision in the title."""
    fig = Figure(figsize=(11, 3.8))
    ax = fig.subplots()
    gates = [g for g in report["gates"] if isinstance(g["value"], int | float) and not isinstance(g["value"], bool)]
    x = range(len(gates))
    series = [("base", "#999999"), ("adapter", "#4c72b0"), ("previous", "#dd8452")]
    width = 0.27
    for k, (who, color) in enumerate(series):
        vals = [g["value"] if who == "adapter" else g["compared"].get(who) for g in gates]
        ax.bar([i + (k - 1) * width for i in x], [v if v is not None else 0 for v in vals], width, label=who,
               color=color, alpha=1.0 if who == "adapter" else 0.8)
    for i, g in enumerate(gates):
        ax.hlines(g["threshold"], i - 1.5 * width, i + 1.5 * width, color="red", lw=1.5,
                  label="threshold" if i == 0 else None)
        if g["passed"] is False:
            ax.text(i, 1.02, "FAIL", ha="center", color="red", fontsize=8)
    # leakage is a ceiling (lower is better); every other rate is a floor
    ax.set_xticks(list(x), [g["gate"].split(":")[-1] + (" (max)" if g["gate"].endswith("leakage") else "")
                            for g in gates], rotation=20)
    ax.set_ylim(0, 1.1)
    ax.set_title(f"{report.get('adapter')}: {'APPROVE' if report['passed'] else 'REJECT'}")
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def gates_table(report: Mapping) -> list[dict]:
    """The decision's gates as flat rows (W&B table, notebook)."""
    return [{"gate": g["gate"], "passed": g["passed"], "value": g["value"], "threshold": g["threshold"],
             "base": g["compared"].get("base"), "previous": g["compared"].get("previous"), "why": g["why"]}
            for g in report["gates"]]

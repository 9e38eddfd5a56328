"""The reply-set gates as one evaluate step (after gates, before persona): diversity, fluency, relevance and
persona consistency with the card, per model (base, previous approved, candidate), and their part in the
decision: each a gate with a 0..1 headline figure, its threshold, the reasons and the base's and previous
adapter's figures next to it.

Inputs are the generate step's output; the reference LM is the base model (lm_score.scorer_for), or the
character n-gram LM on clean data with evaluate.fluency.scorer = "ngram".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from .consistency import build_probes, card_facts, consistency_scores
from .diversity import diversity_reasons, diversity_scores
from .fluency import CharNgramLM, fluency_scores
from .relevance import relevance_scores

QUALITY_GATES = ("diversity", "fluency", "relevance", "consistency")


def persona_probes(p, character_ids: Sequence[str] = ()) -> dict:
    """{"facts", "probes", "others"} from the character cards file (params inputs.characters): this
    character's facts and probes, and the other characters' facts (their names/kinds are contradictions).
    Without a card: probes from params (name only)."""
    from ..collect import read_card

    path = p.path(p.inputs.characters)
    card = read_card(path, p.character_id) if Path(path).exists() else None
    card = card or {"name": p.character.name}
    facts = card_facts(card, card.get("name") or p.character.name, p.evaluate.consistency.kind)
    others = []
    for cid in character_ids:
        other = read_card(path, cid) if cid != p.character_id and Path(path).exists() else None
        if other:
            others.append(card_facts(other, other.get("name") or cid))
    return {"facts": facts, "probes": build_probes(facts, p.character.system_prompt), "others": others}


def ngram_lm(p, clean_conversations: Sequence[Mapping]) -> CharNgramLM:
    """The fluency.scorer "ngram" model: the character's clean assistant turns."""
    texts = [m["content"] for c in clean_conversations for m in c["messages"] if m["role"] == "assistant"]
    return CharNgramLM(texts, n=p.evaluate.fluency.ngram_n)


def reference_lms(p, base_model: str | Path, own_clean: str | Path | None = None) -> dict:
    """{"scorer": the base model's LMScorer, "ngram": CharNgramLM or None}: what fluency and relevance read.
    The ngram LM (evaluate.fluency.scorer "ngram") is fitted on this run's clean conversations."""
    from ..store import read_jsonl
    from .lm_score import scorer_for

    ngram = None
    if p.evaluate.fluency.scorer == "ngram":
        if own_clean is None or not Path(own_clean).exists():
            raise FileNotFoundError(f"evaluate.fluency.scorer 'ngram' needs the clean conversations: {own_clean}")
        ngram = ngram_lm(p, read_jsonl(own_clean))
    return {"scorer": scorer_for(str(base_model)), "ngram": ngram}


def reference_fluency(prompts: Sequence, references: Sequence[str | None] | None, p, *, scorer=None,
                      ngram: CharNgramLM | None = None) -> float | None:
    """Mean log-prob per token of the held-out replies written in the character's voice (dataset.records.
    eval_references), under the fluency scorer and given the same prompts; None without references or scorer."""
    pairs = [(pr, r) for pr, r in zip(prompts, references or (), strict=False) if r]
    if not pairs or (scorer is None and ngram is None):
        return None
    return fluency_scores([pr for pr, _ in pairs], [r for _, r in pairs], p, scorer=None if ngram else scorer,
                          ngram=ngram)["figures"]["mean_logprob"]


def score_quality(gen: Mapping, p, *, probes: Mapping | None = None, scorer=None,
                  ngram: CharNgramLM | None = None, references: Sequence[str | None] | None = None) -> dict[str, dict]:
    """{model: {"diversity", "fluency", "relevance", "consistency"}} for the generate step's output. Diversity
    reads every sampled draw; consistency needs the probes' replies and facts (else it is absent). With
    `references` (the held-out replies to the prompts), fluency's figures carry reference_mean_logprob: what
    replies in the character's voice score, the bar a first adapter (no previous approved one) is held to."""
    e = p.evaluate
    out: dict[str, dict] = {}
    ref = reference_fluency(gen["prompts"], references, p, scorer=scorer, ngram=ngram) if e.fluency.enabled else None
    for who, replies in gen["replies"].items():
        q = {}
        if e.diversity.enabled:
            draws = [r for row in (gen.get("samples") or {}).get(who) or [[x] for x in replies] for r in row]
            q["diversity"] = diversity_scores(draws, p)
        if e.fluency.enabled and (scorer is not None or ngram is not None):
            q["fluency"] = fluency_scores(gen["prompts"], replies, p, scorer=None if ngram else scorer, ngram=ngram)
            q["fluency"]["figures"]["reference_mean_logprob"] = ref
        if e.relevance.enabled:
            q["relevance"] = relevance_scores(gen["prompts"], replies, p, scorer=scorer)
        probe_replies = (gen.get("probe_replies") or {}).get(who)
        if e.consistency.enabled and probes and probe_replies:
            q["consistency"] = consistency_scores(probes["probes"], probe_replies, probes["facts"],
                                                  p.character.style_markers, p, probes["others"])
        out[who] = q
    return out


def _headline(gate: str, fig: Mapping, p) -> tuple[float, float]:
    e = p.evaluate
    if gate == "diversity":
        return fig["distinct_2"], e.diversity.min_distinct_2
    if gate == "fluency":
        return 1 - fig["disfluent_share"], 1 - e.fluency.max_disfluent_share
    if gate == "relevance":
        return fig["grounded_share"], e.relevance.min_grounded_share
    return fig["score"], e.consistency.min_fact_score


def _below_reference(gate: str, now: Mapping, p) -> str | None:
    """A fluency mean further below the in-voice held-out replies' than fluency.max_drop_vs_reference: a
    voiced reply may score below the base's own, but not below what the character's real replies score."""
    bar, ref = p.evaluate.fluency.max_drop_vs_reference, now.get("reference_mean_logprob")
    if gate != "fluency" or bar is None or ref is None or now["mean_logprob"] != now["mean_logprob"]:
        return None
    if ref - now["mean_logprob"] > bar:
        return (f"mean log-prob {now['mean_logprob']:.2f} vs {ref:.2f} of the held-out replies in the character's "
                f"voice (more than {bar:g} below)")
    return None


def _below_base(gate: str, now: Mapping, base: Mapping | None, p) -> str | None:
    """A grounded share under relevance.min_share_of_base of the base's on the same prompts."""
    share = p.evaluate.relevance.min_share_of_base
    if gate != "relevance" or share is None or base is None:
        return None
    if now["grounded_share"] < share * base["grounded_share"]:
        return (f"grounded share {now['grounded_share']:.2f} < {share:g} x the base's {base['grounded_share']:.2f} "
                f"on the same prompts")
    return None


def _regression(gate: str, now: Mapping, before: Mapping | None, p) -> str | None:
    if before is None:
        return None
    if gate == "diversity" and before["distinct_2"] - now["distinct_2"] > p.evaluate.diversity.max_drop_vs_previous:
        return f"distinct-2 {before['distinct_2']:.2f} -> {now['distinct_2']:.2f} vs the previous approved adapter"
    if gate == "fluency" and before["mean_logprob"] - now["mean_logprob"] > p.evaluate.fluency.max_drop_vs_previous:
        return (f"mean log-prob {before['mean_logprob']:.2f} -> {now['mean_logprob']:.2f} vs the previous "
                f"approved adapter")
    return None


def quality_gates(quality: Mapping[str, Mapping], p) -> list[dict]:
    """The decision's gates for the reply-set figures: {gate: "quality:<name>", passed, value, threshold,
    why, compared {base, previous}, figures}. A gate not measured (no scorer, no probes) is absent."""
    a, base, prev = quality["adapter"], quality.get("base") or {}, quality.get("previous") or {}
    gates = []
    for g in QUALITY_GATES:
        if g not in a:
            continue
        fig = a[g]["figures"]
        value, threshold = _headline(g, fig, p)
        reasons = list(a[g]["reasons"])
        if g == "diversity" and "diversity" in base:  # judged against the base's figures (DiversityParams)
            reasons = diversity_reasons(fig, p.evaluate.diversity, base["diversity"]["figures"])
        for drop in (_regression(g, fig, prev.get(g, {}).get("figures"), p), _below_reference(g, fig, p),
                     _below_base(g, fig, base.get(g, {}).get("figures"), p)):
            if drop:
                reasons.append(drop)
        compared = {who: _headline(g, q[g]["figures"], p)[0] if g in q else None
                    for who, q in (("base", base), ("previous", prev))}
        why = "; ".join(reasons) if reasons else f"{g} {value:.2f} (threshold {threshold:.2f}; base " + (
            "n/a" if compared["base"] is None else f"{compared['base']:.2f}") + ")"
        gates.append({"gate": f"quality:{g}", "passed": not reasons, "value": value, "threshold": threshold,
                      "why": why, "compared": compared, "figures": fig})
    return gates


def quality_table(quality: Mapping[str, Mapping]) -> list[dict]:
    """One row per (gate, model): the figures flattened, floats rounded (the notebook's first table)."""
    rows = []
    for g in QUALITY_GATES:
        for who, q in quality.items():
            if g in q:
                fig = {k: v for k, v in q[g]["figures"].items() if not isinstance(v, list | dict)}
                if g == "consistency":
                    fig.update({f"fact:{f}": s for f, s in q[g]["figures"]["facts"].items()},
                               contradictions=len(q[g]["figures"]["contradictions"]))
                rows.append({"gate": g, "model": who, **{k: round(v, 3) if isinstance(v, float) else v
                                                         for k, v in fig.items()}})
    return rows


def worst_per_gate(gen: Mapping, quality: Mapping[str, Mapping], who: str = "adapter", per_gate: int = 5) -> list[dict]:
    """Per quality gate, the adapter's worst replies (the most repeated, least fluent, least grounded,
    contradicting or missing a fact), with the figure that puts them there."""
    q, out = quality[who], []
    prompts, replies = gen["prompts"], gen["replies"][who]
    for g in QUALITY_GATES:
        if g not in q:
            continue
        for i in q[g]["worst"][:per_gate]:
            if g == "consistency":
                row = q[g]["per_probe"][i]
                why = "; ".join(row["contradictions"]) or f"expected one of {row['expected'][:4]}"
                out.append({"gate": g, "prompt": row["prompt"], "reply": row["reply"], "why": why})
                continue
            if g == "diversity":  # indices over every draw: n_samples per prompt
                i //= max(q[g]["figures"]["n"] // max(len(replies), 1), 1)
                why = f"same reply to {q[g]['figures']['top_reply_count']} of {q[g]['figures']['n']}"
            elif g == "fluency":
                why = f"log-prob/token {q[g]['per_reply'][i]:.2f}"
            else:
                r = q[g]["per_reply"][i]
                why = f"overlap {r['overlap'] if r['overlap'] is None else round(r['overlap'], 2)}, " \
                      f"lm gain {r['lm_gain'] if r['lm_gain'] is None else round(r['lm_gain'], 2)}"
            if i < len(prompts):
                out.append({"gate": g, "prompt": prompts[i][-1]["content"], "reply": replies[i], "why": why})
    return out

"""The gate decision for one candidate adapter: base vs adapter on the same held-out prompts."""

from __future__ import annotations

from ..config import Params
from .gates import GATES, check_reply
from .persona import has_style_marker, style_marker_rate


def score_replies(replies: list[str], p: Params) -> dict:
    """Style-marker rate and per-gate pass rates of a list of replies."""
    checks = [check_reply(r, system_prompt=p.character.system_prompt, banned_words=p.character.banned_words,
                          max_repeat_ngram=p.evaluate.max_repeat_ngram, max_chars=p.evaluate.max_reply_chars,
                          min_hangul_share=p.clean.min_hangul_share) for r in replies]
    n = max(len(replies), 1)
    return {"n": len(replies), "style_marker_rate": style_marker_rate(replies, p.character.style_markers),
            "gate_pass_rate": {g: sum(c[g] for c in checks) / n for g in GATES}, "checks": checks}


def decide(base: dict, adapter: dict, p: Params) -> dict:
    """One pass/fail decision with reasons."""
    reasons = []
    if adapter["style_marker_rate"] < p.evaluate.min_style_marker_rate:
        reasons.append(f"style_marker_rate {adapter['style_marker_rate']:.2f} < {p.evaluate.min_style_marker_rate}")
    if adapter["style_marker_rate"] <= base["style_marker_rate"]:
        reasons.append("adapter does not beat the base on style_marker_rate")
    for gate, rate in adapter["gate_pass_rate"].items():
        if rate < p.evaluate.min_gate_pass_rate:
            reasons.append(f"gate {gate}: pass rate {rate:.2f} < {p.evaluate.min_gate_pass_rate}")
    return {"passed": not reasons, "reasons": reasons}


def replies_table(prompts: list[list[dict]], base_replies: list[str], adapter_replies: list[str], p: Params) -> list[dict]:
    """Rows for the notebook: prompt, both replies, marker hits."""
    markers = p.character.style_markers
    return [{"prompt": pr[-1]["content"], "base": b, "adapter": a, "base_marker": has_style_marker(b, markers),
             "adapter_marker": has_style_marker(a, markers)}
            for pr, b, a in zip(prompts, base_replies, adapter_replies, strict=True)]

"""Diversity of a reply set: does the model say different things to different prompts?

A mode-collapsed adapter keeps its style-marker rate and classifier agreement by repeating one line in the
right voice; only a look at the set shows it. Figures over one model's replies:

- distinct_1 / distinct_2: distinct word unigrams / bigrams over all unigrams / bigrams of the set;
- top_reply_share: share of the prompts answered with the most frequent reply (normalized: spaces and
  trailing punctuation ignored), with that reply;
- distinct_replies: how many different replies;
- self_similarity: mean pairwise Jaccard similarity of the replies' character 3-gram sets (1.0 = all the
  same text, near 0 for unrelated texts).

Pure functions, no model. The monitor uses the same figures over a window of served replies.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from itertools import combinations

_PUNCT_END = re.compile(r"[\s.!?~…,]+$")


def normalize_reply(text: str) -> str:
    """The reply as compared for "same reply": whitespace collapsed, trailing punctuation dropped."""
    return _PUNCT_END.sub("", re.sub(r"\s+", " ", (text or "").strip()))


def distinct_n(replies: Sequence[str], n: int) -> float:
    """Distinct word n-grams / all word n-grams over the set (0.0 when there is none)."""
    grams = [tuple(w[i:i + n]) for w in (r.split() for r in replies) for i in range(len(w) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def _char_grams(text: str, n: int = 3) -> frozenset[str]:
    t = re.sub(r"\s+", " ", text.strip())
    return frozenset(t[i:i + n] for i in range(max(len(t) - n + 1, 1)))


def self_similarity(replies: Sequence[str], max_pairs: int = 5000) -> float:
    """Mean pairwise Jaccard similarity of character 3-gram sets (the first max_pairs pairs)."""
    grams = [_char_grams(r) for r in replies]
    sims = []
    for a, b in combinations(grams, 2):
        union = a | b
        sims.append(len(a & b) / len(union) if union else 1.0)
        if len(sims) >= max_pairs:
            break
    return sum(sims) / len(sims) if sims else 0.0


def diversity_figures(replies: Sequence[str]) -> dict:
    """{n, distinct_replies, top_reply, top_reply_count, top_reply_share, distinct_1, distinct_2,
    self_similarity} of one reply set."""
    norm = Counter(normalize_reply(r) for r in replies)
    top, count = norm.most_common(1)[0] if norm else ("", 0)
    n = len(replies)
    return {"n": n, "distinct_replies": len(norm), "top_reply": top, "top_reply_count": count,
            "top_reply_share": count / n if n else 0.0, "distinct_1": distinct_n(replies, 1),
            "distinct_2": distinct_n(replies, 2), "self_similarity": self_similarity(replies)}


def diversity_reasons(fig: dict, dp, base: dict | None = None) -> list[str]:
    """Why a reply set fails the diversity gate (DiversityParams), empty = passed.

    `base`: the base model's figures on the same prompts. With them (and dp.max_worse_than_base set), a
    distinct-n or self-similarity floor fails only when the set is also worse than the base by more than that
    share; without them, the absolute floors alone decide (as on the labelled sets)."""
    out = []
    if fig["n"] < dp.min_replies:
        return out  # too few replies to judge a set
    if fig["top_reply_share"] > dp.max_top_reply_share:
        out.append(f"one reply to {fig['top_reply_count']} of {fig['n']} prompts "
                   f"({fig['top_reply_share']:.2f} > {dp.max_top_reply_share}): {fig['top_reply'][:40]!r}")
    tol = dp.max_worse_than_base if base is not None else None

    def below(key: str, floor: float) -> str | None:
        if fig[key] >= floor or (tol is not None and fig[key] >= base[key] * (1 - tol)):
            return None
        vs = "" if tol is None else f" and below the base's {base[key]:.2f} by more than {tol:.0%}"
        return f"{key.replace('_', '-')} {fig[key]:.2f} < {floor}{vs}"

    out += [r for r in (below("distinct_2", dp.min_distinct_2), below("distinct_1", dp.min_distinct_1)) if r]
    sim, ceiling = fig["self_similarity"], dp.max_self_similarity
    if sim > ceiling and (tol is None or sim > base["self_similarity"] * (1 + tol)):
        vs = "" if tol is None else f" and above the base's {base['self_similarity']:.2f} by more than {tol:.0%}"
        out.append(f"self-similarity {sim:.2f} > {ceiling}{vs}")
    return out


def diversity_scores(replies: Sequence[str], p) -> dict:
    """The diversity step for one model: {"figures", "reasons", "worst"} (worst: indices of the replies
    that repeat the most frequent one, what the notebook shows)."""
    dp = p.evaluate.diversity
    fig = diversity_figures(replies)
    worst = [i for i, r in enumerate(replies) if normalize_reply(r) == fig["top_reply"]] \
        if fig["top_reply_count"] > 1 else []
    return {"figures": fig, "reasons": diversity_reasons(fig, dp), "worst": worst}

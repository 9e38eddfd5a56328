"""Relevance of replies to their prompts: does the reply take up what the user said?

Two cheap, honest signals per (prompt, reply):
- overlap: share of the prompt's content-word character bigrams (Hangul/Latin words of >= 2 letters, a
  trailing particle stripped, stop words left out) that occur in the reply;
- lm_gain (with a base model): per-token log p(prompt | reply) minus its mean over the same prompt given
  other replies of the set (shuffled pairs). A reply that could answer anything explains its own prompt no
  better than the other replies do, so its gain is ~0; the same stock line to every prompt gives exactly 0.

A reply is grounded when overlap >= relevance.min_overlap or lm_gain >= relevance.min_lm_gain; the gate
fails when the grounded share is under relevance.min_grounded_share (or, with the base's replies to compare,
under relevance.min_share_of_base of the base's: lora_lib.evaluate.quality). min_lm_gain null (the default)
leaves the LM term out: under the demo base it is noise on human-written replies (labelled dev sets: good
mean gain 0.03, off-topic -0.04, per-set medians spread +-0.2, so with it every off-topic set passed).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

_WORD = re.compile(r"[\uac00-\ud7a3A-Za-z]{2,}")
# Trailing particles and endings, longest first, stripped once: "산책을" -> "산책", "고양이야" -> "고양이".
_PARTICLES = sorted(["은", "는", "이", "가", "을", "를", "에", "에서", "에게", "한테", "으로", "로", "와", "과",
                     "도", "만", "야", "이야", "요", "이에요", "예요", "했어", "해", "했니", "하고", "이랑", "랑",
                     "까", "니", "어", "아", "지", "네", "다", "냐", "했다", "할까", "하자", "해요"], key=len, reverse=True)
_STOP = {"오늘", "그냥", "정말", "진짜", "너무", "나는", "너는", "우리", "그래", "있어", "없어", "뭐해", "뭐야",
         "어때", "하고", "그럼", "이제", "요즘", "혹시", "그거", "이거", "저거", "너도", "나도", "같이", "좀",
         "제일", "가장", "있다", "매일", "둔다", "좋아하", "좋아한", "좋아하지", "먹을", "번만"}


def content_words(text: str) -> list[str]:
    out = []
    for w in _WORD.findall(text or ""):
        for suf in _PARTICLES:
            if w.endswith(suf) and len(w) - len(suf) >= 2:
                w = w[:-len(suf)]
                break
        if w not in _STOP:
            out.append(w.lower())
    return out


def _bigrams(words: Sequence[str]) -> set[str]:
    return {w[i:i + 2] for w in words for i in range(len(w) - 1)}


def overlap(prompt_text: str, reply: str) -> float | None:
    """Share of the prompt's content bigrams found in the reply's; None when the prompt has none."""
    pb = _bigrams(content_words(prompt_text))
    if not pb:
        return None
    return len(pb & _bigrams(content_words(reply))) / len(pb)


def lm_gains(prompt_texts: Sequence[str], replies: Sequence[str], scorer, k: int = 3, seed: int = 0) -> list[float]:
    """Per item: mean log p(prompt | own reply) - mean over k other replies of mean log p(prompt | other)."""
    n = len(replies)
    rng = random.Random(seed)
    others = [rng.sample([j for j in range(n) if j != i], min(k, n - 1)) for i in range(n)]
    pairs = [(f"{replies[i].strip()}\n", prompt_texts[i]) for i in range(n)]
    pairs += [(f"{replies[j].strip()}\n", prompt_texts[i]) for i in range(n) for j in others[i]]
    lp = scorer.mean_logprobs(pairs)
    own, rest = lp[:n], lp[n:]
    out, pos = [], 0
    for i in range(n):
        shuffled = rest[pos:pos + len(others[i])]
        pos += len(others[i])
        out.append(own[i] - sum(shuffled) / len(shuffled) if shuffled else 0.0)
    return out


def relevance_scores(prompts: Sequence[Sequence[dict]], replies: Sequence[str], p, *, scorer=None) -> dict:
    """The relevance step for one model: {"figures" {grounded_share, overlap_mean, lm_gain_mean, n},
    "per_reply" [{overlap, lm_gain, grounded}], "reasons", "worst" (ungrounded, lowest first)}."""
    rp = p.evaluate.relevance
    texts = [pr[-1]["content"] for pr in prompts]
    ov = [overlap(t, r) for t, r in zip(texts, replies, strict=True)]
    use_lm = scorer is not None and rp.min_lm_gain is not None and len(replies) > 1
    gains = lm_gains(texts, replies, scorer, rp.n_shuffled, p.seed) if use_lm else [None] * len(replies)
    rows = []
    for o, g in zip(ov, gains, strict=True):
        grounded = (o is not None and o >= rp.min_overlap) or (g is not None and g >= rp.min_lm_gain)
        rows.append({"overlap": o, "lm_gain": g, "grounded": bool(grounded)})
    n = len(rows)
    known_ov = [o for o in ov if o is not None]
    known_g = [g for g in gains if g is not None]
    fig = {"n": n, "grounded_share": sum(r["grounded"] for r in rows) / n if n else 0.0,
           "overlap_mean": sum(known_ov) / len(known_ov) if known_ov else None,
           "lm_gain_mean": sum(known_g) / len(known_g) if known_g else None, "with_lm": use_lm}
    reasons = []
    if n and fig["grounded_share"] < rp.min_grounded_share:
        reasons.append(f"{n - sum(r['grounded'] for r in rows)} of {n} replies take up nothing of their prompt "
                       f"(grounded {fig['grounded_share']:.2f} < {rp.min_grounded_share})")
    worst = sorted((i for i, r in enumerate(rows) if not r["grounded"]),
                   key=lambda i: (rows[i]["lm_gain"] or 0.0) + (rows[i]["overlap"] or 0.0))
    return {"figures": fig, "per_reply": rows, "reasons": reasons, "worst": worst}

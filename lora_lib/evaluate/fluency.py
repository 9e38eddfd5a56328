"""Fluency of replies: per-token log-likelihood of each reply under a reference language model.

scorer "base" (default): the base model (any HF causal LM, lm_score.LMScorer), the reply conditioned on
the prompt in the model's chat template; a diverged adapter's broken fragments ("하루도트레요") are text
the base finds very unlikely. scorer "ngram": a character n-gram LM (interpolated, add-k) fitted on the
character's clean assistant turns: no model needed, and it knows the character's voice, so a voiced reply
is not penalized for sounding unlike the base.

A reply is disfluent when its mean token log-probability is below fluency.min_reply_logprob (the ngram
scorer has its own floor, min_reply_logprob_ngram: its scale differs); the gate fails when the share of
disfluent replies is over max_disfluent_share, or the mean drops more than max_drop_vs_previous below the
previous approved adapter's.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

_BOS, _EOS = "\x02", "\x03"


class CharNgramLM:
    """Interpolated character n-gram LM with add-k smoothing at each order (pure Python, small corpora)."""

    def __init__(self, texts: Sequence[str], n: int = 3, k: float = 0.1):
        self.n, self.k = n, k
        self.counts = [Counter() for _ in range(n + 1)]  # counts[m][gram of length m]
        for t in texts:
            s = _BOS * (n - 1) + t + _EOS
            for m in range(1, n + 1):
                for i in range(len(s) - m + 1):
                    self.counts[m][s[i:i + m]] += 1
        self.vocab = max(len(self.counts[1]), 1) + 1
        self.context_totals = [Counter() for _ in range(n + 1)]
        for m in range(2, n + 1):
            for g, c in self.counts[m].items():
                self.context_totals[m][g[:-1]] += c
        self.total = sum(self.counts[1].values())

    def _p(self, history: str, ch: str) -> float:
        p = (self.counts[1][ch] + self.k) / (self.total + self.k * self.vocab)
        for m in range(2, self.n + 1):
            ctx = history[-(m - 1):]
            tot = self.context_totals[m][ctx]
            if tot:
                pm = (self.counts[m][ctx + ch] + self.k) / (tot + self.k * self.vocab)
                p = 0.5 * p + 0.5 * pm
        return p

    def mean_logprob(self, text: str) -> float:
        if not text:
            return math.nan
        s = _BOS * (self.n - 1) + text + _EOS
        lps = [math.log(self._p(s[:i], s[i])) for i in range(self.n - 1, len(s))]
        return sum(lps) / len(lps)


def reply_logprobs(prompts: Sequence[Sequence[dict]], replies: Sequence[str], *, scorer=None,
                   ngram: CharNgramLM | None = None) -> list[float]:
    """Mean token log-probability per reply: under `scorer` (an LMScorer, given the prompt) or `ngram`."""
    if ngram is not None:
        return [ngram.mean_logprob(r.strip()) for r in replies]
    pairs = [(scorer.chat_context(pr), r.strip()) for pr, r in zip(prompts, replies, strict=True)]
    return scorer.mean_logprobs(pairs)


def fluency_scores(prompts: Sequence[Sequence[dict]], replies: Sequence[str], p, *, scorer=None,
                   ngram: CharNgramLM | None = None) -> dict:
    """The fluency step for one model: {"figures" {mean_logprob, disfluent_share, n, scorer}, "per_reply",
    "reasons" (set level), "worst" (indices, least fluent first)}."""
    fp = p.evaluate.fluency
    lps = reply_logprobs(prompts, replies, scorer=scorer, ngram=ngram)
    floor = fp.min_reply_logprob_ngram if ngram is not None else fp.min_reply_logprob
    # an empty reply is disfluent (the repetition gate names it too)
    bad = [i for i, v in enumerate(lps) if math.isnan(v) or v < floor]
    known = [v for v in lps if not math.isnan(v)]
    n = len(replies)
    fig = {"n": n, "scorer": "ngram" if ngram is not None else "base", "floor": floor,
           "mean_logprob": sum(known) / len(known) if known else math.nan,
           "disfluent_share": len(bad) / n if n else 0.0}
    reasons = []
    if n and fig["disfluent_share"] > fp.max_disfluent_share:
        reasons.append(f"{len(bad)} of {n} replies below {floor} log-prob per token "
                       f"({fig['disfluent_share']:.2f} > {fp.max_disfluent_share})")
    order = sorted(range(n), key=lambda i: -math.inf if math.isnan(lps[i]) else lps[i])
    return {"figures": fig, "per_reply": lps, "reasons": reasons, "worst": [i for i in order if i in set(bad)]}

"""Per-row decoding inside one batched generate(): each row's sampling and its text stream."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    finish_reason: str = "stop"  # "stop" (EOS) or "length" (max_new_tokens reached)
    batch_size: int = 1


@dataclass(frozen=True)
class Sampling:
    """Decoding settings of one request. temperature 0 is greedy (top_p and seed unused)."""

    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None  # None: a fresh random seed per request

    def __post_init__(self):
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"temperature must be in [0, 2], got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")


class RowSampler:
    """A logits processor that samples the rows that asked for it, each with its own settings and
    generator, and turns that row's scores into a one-hot on the drawn token; generate() itself stays
    greedy. So one batch mixes greedy and sampled rows (and adapters), and a row's draws depend on
    its own seed and logits only, not on what else shares the batch (HF's do_sample is one setting
    and one global RNG for the whole batch)."""

    def __init__(self, settings: list[Sampling | None]):
        import secrets

        import torch

        self.rows = []
        for i, s in enumerate(settings):
            if s is not None and s.temperature > 0:
                seed = s.seed if s.seed is not None else secrets.randbits(63)
                self.rows.append((i, s, torch.Generator().manual_seed(seed)))

    def __call__(self, input_ids, scores):
        import torch

        scores = scores.clone()
        for i, s, gen in self.rows:
            probs = torch.softmax(scores[i].float() / s.temperature, dim=-1)
            if s.top_p < 1.0:  # nucleus: the smallest set of top tokens whose mass reaches top_p
                p_sorted, order = probs.sort(descending=True)
                outside = (p_sorted.cumsum(0) - p_sorted) >= s.top_p  # the top token always stays
                probs[order[outside]] = 0.0
            token = torch.multinomial(probs, 1, generator=gen)
            scores[i] = float("-inf")
            scores[i, token] = 0.0
        return scores



class RowStreamer:
    """A generate() streamer for batches: per-row token ids -> text deltas for that row's callback.

    generate() first puts the prompt ids, then one token per row per step. A row stops at its EOS or
    at its own max_new_tokens (rows in one batch may ask for different lengths). Text is re-decoded
    from the row's ids each step and only the new suffix is sent; a suffix ending in U+FFFD (a byte
    sequence split mid-character) is held back until it completes.
    """

    def __init__(self, tokenizer, callbacks: list[Callable[[str], None] | None], limits: list[int],
                 stop_ids: list[int] | None = None):
        self.tokenizer, self.callbacks, self.limits = tokenizer, callbacks, limits
        self.stop_ids = set(stop_ids) if stop_ids else {tokenizer.eos_token_id}  # the family's end of turn
        self.ids: list[list[int]] = [[] for _ in callbacks]
        self.sent = [""] * len(callbacks)
        self.done = [False] * len(callbacks)
        self._prompt_seen = False

    def put(self, value) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        rows = value.reshape(len(self.callbacks), -1).tolist()
        for i, tokens in enumerate(rows):
            for tok in tokens:
                if self.done[i]:
                    break
                if tok in self.stop_ids:
                    self.done[i] = True
                    break
                self.ids[i].append(tok)
                if len(self.ids[i]) >= self.limits[i]:
                    self.done[i] = True
            self._emit(i, final=self.done[i])

    def _emit(self, i: int, *, final: bool = False) -> None:
        if self.callbacks[i] is None:
            return
        text = self.tokenizer.decode(self.ids[i], skip_special_tokens=True).strip()
        if text.endswith("\ufffd") and not final:
            return
        if text.startswith(self.sent[i]) and len(text) > len(self.sent[i]):
            self.callbacks[i](text[len(self.sent[i]):])
            self.sent[i] = text

    def end(self) -> None:
        for i in range(len(self.callbacks)):
            self._emit(i, final=True)

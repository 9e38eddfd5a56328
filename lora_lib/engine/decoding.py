"""Per-row decoding inside one batched generate(): each row's settings (sampling, penalties, stop
strings, logprobs), the logits processor that applies them, and the streamer that turns each row's
tokens into text (stop strings cut, logprobs attached)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    finish_reason: str = "stop"  # "stop" (EOS or a stop string) or "length" (max_new_tokens reached)
    batch_size: int = 1
    logprobs: list[dict] | None = None  # with Sampling.logprobs: one entry per generated token (logprob_entry)


@dataclass(frozen=True)
class Sampling:
    """Decoding settings of one request (one row). temperature 0 is greedy (top_p and seed unused).

    Penalties as vLLM applies them: repetition_penalty (multiplicative, on tokens of the prompt and the
    output; 1 = off), then frequency_penalty (minus penalty x count in the output) and presence_penalty
    (minus penalty once a token is in the output). stop: the reply ends before the first stop string
    (which is never returned). logprobs: None, or k >= 0 = each generated token's logprob plus the k
    most likely tokens, from the model's raw distribution at that step (vLLM's default, before
    penalties and temperature).
    """

    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None  # None: a fresh random seed per request
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repetition_penalty: float = 1.0
    stop: tuple[str, ...] = field(default=())
    logprobs: int | None = None

    def __post_init__(self):
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"temperature must be in [0, 2], got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        for name in ("presence_penalty", "frequency_penalty"):
            if not -2.0 <= getattr(self, name) <= 2.0:
                raise ValueError(f"{name} must be in [-2, 2], got {getattr(self, name)}")
        if not 0.0 < self.repetition_penalty <= 2.0:
            raise ValueError(f"repetition_penalty must be in (0, 2], got {self.repetition_penalty}")
        if not isinstance(self.stop, tuple) or any(not s for s in self.stop):
            raise ValueError(f"stop must be a tuple of non-empty strings, got {self.stop!r}")
        if self.logprobs is not None and not 0 <= self.logprobs <= 20:
            raise ValueError(f"logprobs (top tokens) must be in [0, 20], got {self.logprobs}")

    @property
    def penalized(self) -> bool:
        return bool(self.presence_penalty or self.frequency_penalty or self.repetition_penalty != 1.0)


class RowSampler:
    """A logits processor for the rows that need one: it records the row's raw logprobs (for the
    streamer), applies its penalties, and samples it with its own settings and generator, turning
    that row's scores into a one-hot on the drawn token; generate() itself stays greedy. So one batch
    mixes greedy and sampled rows, penalties and logprobs (and adapters), and a row's draws depend
    on its own seed and logits only, not on what else shares the batch (HF's do_sample is one setting
    and one global RNG for the whole batch). Rows without any of these are not touched."""

    def __init__(self, settings: list[Sampling | None], prompt_len: int = 0, prompt_ids=None,
                 suppress: int | list[int] | None = None):
        import secrets

        import torch

        self.rows = []
        self.suppress = suppress  # ignore_eos: these tokens (EOS, end of turn) are never drawn, after the raw logprobs are taken
        self.prompt_len = prompt_len  # generated tokens start here (prompts are left-padded to one length)
        self.prompt_ids = prompt_ids  # per row: the prompt's token ids without padding (repetition penalty)
        self.raw: dict[int, deque] = {}  # row -> raw logprobs of the steps the streamer has not consumed
        for i, s in enumerate(settings):
            if s is None:
                continue
            sampled = s.temperature > 0
            if sampled or s.penalized or s.logprobs is not None:
                seed = s.seed if s.seed is not None else secrets.randbits(63)
                self.rows.append((i, s, torch.Generator().manual_seed(seed) if sampled else None))
                if s.logprobs is not None:
                    self.raw[i] = deque()

    def __call__(self, input_ids, scores):
        import torch

        scores = scores.clone()
        for i in self.raw:
            self.raw[i].append(torch.log_softmax(scores[i].float(), dim=-1))
        if self.suppress is not None:
            scores[:, self.suppress] = float("-inf")
        for i, s, gen in self.rows:
            if s.penalized:
                self._penalize(scores, i, s, input_ids[i, self.prompt_len:])
            if gen is None:
                continue
            probs = torch.softmax(scores[i].float() / s.temperature, dim=-1)
            if s.top_p < 1.0:  # nucleus: the smallest set of top tokens whose mass reaches top_p
                p_sorted, order = probs.sort(descending=True)
                outside = (p_sorted.cumsum(0) - p_sorted) >= s.top_p  # the top token always stays
                probs[order[outside]] = 0.0
            token = torch.multinomial(probs, 1, generator=gen)
            scores[i] = float("-inf")
            scores[i, token] = 0.0
        return scores

    def _penalize(self, scores, i: int, s: Sampling, output) -> None:
        import torch

        row = scores[i]
        if s.repetition_penalty != 1.0:
            seen = output if self.prompt_ids is None else torch.cat([self.prompt_ids[i], output])
            seen = seen.unique()
            vals = row[seen]
            row[seen] = torch.where(vals > 0, vals / s.repetition_penalty, vals * s.repetition_penalty)
        if (s.frequency_penalty or s.presence_penalty) and output.numel():
            counts = torch.bincount(output, minlength=row.shape[0])[: row.shape[0]].to(row.dtype)
            row -= s.frequency_penalty * counts + s.presence_penalty * (counts > 0).to(row.dtype)

    @property
    def active(self) -> bool:
        return bool(self.rows) or self.suppress is not None

    def take(self, i: int):
        """The raw logprobs of row i's next step, or None if the row asked for none."""
        q = self.raw.get(i)
        return q.popleft() if q else None


def logprob_entry(tokenizer, token: int, logprobs, k: int) -> dict:
    """One generated token in OpenAI's chat shape: {token, logprob, bytes, top_logprobs: [...]}."""
    import torch

    def one(t: int, lp: float) -> dict:
        text = tokenizer.decode([t])
        return {"token": text, "logprob": lp, "bytes": list(text.encode("utf-8"))}

    entry = one(token, float(logprobs[token]))
    if k:
        values, ids = torch.topk(logprobs, k)
        entry["top_logprobs"] = [one(t, float(v)) for t, v in zip(ids.tolist(), values.tolist(), strict=True)]
    else:
        entry["top_logprobs"] = []
    return entry


def held_back(text: str, stops: tuple[str, ...]) -> int:
    """How many trailing characters of `text` could still be the start of a stop string."""
    longest = max((len(s) for s in stops), default=0)
    return next((k for k in range(min(longest - 1, len(text)), 0, -1)
                 if any(s.startswith(text[-k:]) for s in stops)), 0)


# (text delta) or, for a row that asked for logprobs, (text delta, logprob entries of the tokens since the last call)
OnText = Callable[..., None]


class RowStreamer:
    """A generate() streamer for batches: per-row token ids -> text deltas for that row's callback.

    generate() first puts the prompt ids, then one token per row per step. A row stops at its EOS, at
    its own max_new_tokens (rows in one batch may ask for different lengths) or at one of its stop
    strings (the text ends before it). Text is re-decoded from the row's ids each step and only the new
    suffix is sent; a suffix ending in U+FFFD (a byte sequence split mid-character), or a tail that
    could still become a stop string, is held back until it completes or the row ends, so stop text is
    never sent even when it spans tokens. A row with logprobs gets `callbacks[i](delta, entries)`: the
    logprob entries of the tokens since its last call too (at the end, possibly with an empty delta).
    """

    def __init__(self, tokenizer, callbacks: list[OnText | None], limits: list[int],
                 settings: list[Sampling | None] | None = None, sampler: RowSampler | None = None,
                 stop_ids: list[int] | None = None):
        n = len(callbacks)
        self.tokenizer, self.callbacks, self.limits, self.sampler = tokenizer, callbacks, limits, sampler
        self.stop_ids = set(stop_ids) if stop_ids else {tokenizer.eos_token_id}  # the family's end of turn
        settings = settings or [None] * n
        self.stops = [s.stop if s else () for s in settings]
        self.top = [s.logprobs if s else None for s in settings]
        self.ids: list[list[int]] = [[] for _ in range(n)]
        self.logprobs: list[list[dict] | None] = [[] if k is not None else None for k in self.top]
        self.text = [""] * n  # the row's text so far (its final text once done)
        self.sent = [""] * n
        self.unsent = [0] * n  # logprob entries [unsent:] not yet passed to the callback
        self.done = [False] * n
        self.finish = ["length"] * n
        self._prompt_seen = False

    def put(self, value) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        rows = value.reshape(len(self.callbacks), -1).tolist()
        for i, tokens in enumerate(rows):
            for tok in tokens:
                raw = self.sampler.take(i) if self.sampler else None
                if self.done[i]:
                    continue
                if tok in self.stop_ids:
                    self.done[i], self.finish[i] = True, "stop"
                    continue
                self.ids[i].append(tok)
                if raw is not None:
                    self.logprobs[i].append(logprob_entry(self.tokenizer, tok, raw, self.top[i]))
                if len(self.ids[i]) >= self.limits[i]:
                    self.done[i] = True
                self._update(i)
            self._emit(i, final=self.done[i])

    def _update(self, i: int) -> None:
        if self.callbacks[i] is None and not self.stops[i]:
            return  # decoded once at the end (final_text)
        text = self.tokenizer.decode(self.ids[i], skip_special_tokens=True).strip()
        cut = min((p for p in (text.find(s) for s in self.stops[i]) if p >= 0), default=-1)
        if cut >= 0:
            text = text[:cut].strip()
            self.done[i], self.finish[i] = True, "stop"
        self.text[i] = text

    def final_text(self, i: int) -> str:
        if self.callbacks[i] is None and not self.stops[i]:
            return self.tokenizer.decode(self.ids[i], skip_special_tokens=True).strip()
        return self.text[i]

    def _emit(self, i: int, *, final: bool = False) -> None:
        if self.callbacks[i] is None:
            return
        text = self.text[i]
        if not final:
            if text.endswith("\ufffd"):
                return
            text = text[: len(text) - held_back(text, self.stops[i])].rstrip()
        entries = None
        if self.logprobs[i] is not None:
            entries = self.logprobs[i][self.unsent[i]:] if final else []
        delta = text[len(self.sent[i]):] if text.startswith(self.sent[i]) else ""
        if delta and entries is not None and not final:
            entries = self.logprobs[i][self.unsent[i]:]
        if delta or entries:
            self.callbacks[i](delta) if entries is None else self.callbacks[i](delta, entries)
            self.sent[i] += delta
            if entries:
                self.unsent[i] += len(entries)

    def end(self) -> None:
        for i in range(len(self.callbacks)):
            self.done[i] = True
            self._emit(i, final=True)

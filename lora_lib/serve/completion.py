"""One completion request, chat or plain prompt, after parsing: its decoding settings, its n choices per
prompt as engine jobs that share one batch, a request-log line per choice, and OpenAI's response shapes
(chat.completion / text_completion, and their logprobs)."""

from __future__ import annotations

import dataclasses
import secrets
import time
from dataclasses import dataclass, field

from ..engine import Generation, Job, Sampling
from ..evaluate.gates import check_reply
from ..requestlog import user_ref
from .config import CharacterInfo, ServeConfig
from .openai_params import CHAT
from .prompt import fill_user
from .schema import APIError

SEED_SPACE = 2**63


def decoding(config: ServeConfig, req) -> Sampling:
    """The request's decoding (choice 0): serve.* defaults where it names none. An unseeded sampled
    request gets a seed here, logged with it: every reply can be reproduced."""
    temperature = config.serve.temperature if req.temperature is None else req.temperature
    seed = req.seed if req.seed is not None or temperature == 0 else secrets.randbits(63)
    return Sampling(temperature, config.serve.top_p if req.top_p is None else req.top_p, seed,
                    presence_penalty=req.presence_penalty or 0.0, frequency_penalty=req.frequency_penalty or 0.0,
                    repetition_penalty=1.0 if req.repetition_penalty is None else req.repetition_penalty,
                    stop=req.stops(), logprobs=req.top_tokens())


def choice_sampling(base: Sampling, i: int) -> Sampling:
    """Choice i of n: seed + i (choice 0 is the request's own seed, so n=1 is unchanged)."""
    if i == 0 or base.seed is None:
        return base
    return dataclasses.replace(base, seed=(base.seed + i) % SEED_SPACE)


def check_limits(config: ServeConfig, req, max_tokens: int, prompts: int = 1) -> None:
    s = config.serve
    if max_tokens > s.max_tokens_limit:
        raise APIError(400, f"max_tokens {max_tokens} is over the limit {s.max_tokens_limit}",
                       param="max_tokens", code="invalid_value")
    most = min(s.max_n, s.max_batch)
    if req.n > most:
        raise APIError(400, f"n {req.n} is over the limit {most} (serve.max_n, serve.max_batch)", param="n",
                       code="invalid_value")
    if prompts > s.max_batch:
        raise APIError(400, f"{prompts} prompts in one request; the limit is {s.max_batch} (serve.max_batch)",
                       param="prompt", code="invalid_value")


@dataclass
class Completion:
    """One request's choices: prompt p, choice i is index p * n + i (OpenAI's order)."""

    endpoint: str  # openai_params.CHAT or COMPLETIONS
    rid: str
    ts: str
    req: object  # ChatRequest or CompletionRequest
    inputs: list  # per prompt: the messages the model sees (chat) or the plain prompt
    max_tokens: int
    sampling: Sampling
    display: str | None = None  # chat: fills {{user}} in the reply
    start: float = field(default_factory=time.perf_counter)
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def chat(self) -> bool:
        return self.endpoint == CHAT

    @property
    def path(self) -> str:
        return "/v1/chat/completions" if self.chat else "/v1/completions"

    def jobs(self, spec, on_text=None) -> list[list[Job]]:
        """One group (sharing a batch) per prompt; on_text(index) -> that choice's callback (streaming)."""
        n = self.req.n
        return [[Job(prompt, spec, self.max_tokens, on_text(p * n + i) if on_text else None,
                     ignore_eos=self.req.ignore_eos, sampling=choice_sampling(self.sampling, i))
                 for i in range(n)] for p, prompt in enumerate(self.inputs)]

    def reply(self, g: Generation) -> str:
        return fill_user(g.text, self.display) if self.chat else g.text

    def record(self, g: Generation, index: int, job: Job, served, base_model: str,
               info: CharacterInfo | None) -> dict:
        """The request-log line of one choice (schema: lora_lib/requestlog.md, LOG_FIELDS in routes.py)."""
        reply = self.reply(g)
        # The character's own gate settings (the ones its adapter was approved with); no params: defaults.
        gates = check_reply(reply, **info.gates) if info and info.gates else check_reply(reply)
        s = job.sampling
        prompt = self.inputs[index // self.req.n]
        return {"ts": self.ts, "request_id": self.rid, "character_id": self.req.model,
                "adapter_version": served.version, "adapter": served.model_name, "route_owner": served.owner,
                "group": served.group, "base_model": base_model, "user_ref": user_ref(self.req.user or ""),
                "latency_ms": round((time.perf_counter() - self.start) * 1000, 3), "queue_ms": round(job.queue_ms, 3),
                "batch_size": g.batch_size, "prompt_tokens": g.prompt_tokens, "completion_tokens": g.completion_tokens,
                "reply": reply, "reply_chars": len(reply), "gates": gates,
                "messages": prompt if self.chat else None, "stream": self.req.stream,
                "finish_reason": g.finish_reason, "fallback": served.fallback,
                "sampling": {"temperature": s.temperature, "top_p": s.top_p, "seed": s.seed},
                "endpoint": self.path,
                "prompt": None if self.chat else prompt, "choice_index": index, "n": self.req.n,
                "decoding": {"presence_penalty": s.presence_penalty, "frequency_penalty": s.frequency_penalty,
                             "repetition_penalty": s.repetition_penalty, "stop": list(s.stop),
                             "logprobs": s.logprobs}}

    def logprobs(self, entries: list[dict] | None, offset: int = 0) -> dict | None:
        """OpenAI's logprobs object of these tokens: chat {content: [...]}, completions {tokens, ...}."""
        if entries is None:
            return None
        if self.chat:
            return {"content": entries, "refusal": None}
        offsets, at = [], offset
        for e in entries:
            offsets.append(at)
            at += len(e["token"])
        return {"tokens": [e["token"] for e in entries], "token_logprobs": [e["logprob"] for e in entries],
                "top_logprobs": [{t["token"]: t["logprob"] for t in e["top_logprobs"]} for e in entries],
                "text_offset": offsets}

    def usage(self, gens: list[Generation]) -> dict:
        n = self.req.n  # a prompt is counted once, whatever its number of choices
        prompt = sum(g.prompt_tokens for g in gens[::n])
        completion = sum(g.completion_tokens for g in gens)
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def body(self, gens: list[Generation], model_name: str, served) -> dict:
        """The non-streamed response."""
        choices = []
        for i, g in enumerate(gens):
            choice = {"index": i, "finish_reason": g.finish_reason, "logprobs": self.logprobs(g.logprobs)}
            if self.chat:
                choice["message"] = {"role": "assistant", "content": self.reply(g)}
            else:
                choice["text"] = self.reply(g)
            choices.append(choice)
        body = {"id": self.rid, "object": "chat.completion" if self.chat else "text_completion",
                "created": self.created, "model": model_name, "choices": choices, "usage": self.usage(gens),
                "system_fingerprint": None}
        if self.chat:
            body["lora"] = {"group": served.group, "fallback": served.fallback}
        return body

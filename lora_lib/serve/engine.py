"""In-process engine: one base model, many LoRA adapters by name, per-request adapter choice.

Adapters are named `<owner>@<version>` and immutable: a name is loaded once, never reloaded with
other weights (the stale-cache trap of same-name reloads). A batch names the adapter of every row
(PEFT's `adapter_names`, "__base__" for the bare base model), so no global `set_adapter` is needed:
that walks every module and is unsafe under concurrency (DESIGN.md section 9).

- LRU cache of loaded adapters with a capacity; loading on demand; the sha256 of the weights file is
  checked against the registry's before loading, and a mismatch is refused.
- `Batcher`: a worker thread that collects queued requests for a few milliseconds and serves them
  in one generate() call, mixed adapters included (`mixed=False` groups them per adapter instead:
  the baseline the benchmark compares against). Per-row streaming through a batch streamer.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

from ..store import sha256_file

BASE = "__base__"
WEIGHTS_FILE = "adapter_model.safetensors"
log = logging.getLogger("lora_lib.serve.engine")


class AdapterLoadError(RuntimeError):
    """An adapter could not be loaded (missing file, sha256 mismatch, incompatible weights)."""


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


class _RowSampler:
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


@dataclass(frozen=True)
class AdapterSpec:
    """What the engine needs to (re)load an adapter: its immutable name, directory and expected hash."""

    name: str
    path: str
    sha256: str | None = None


class _RowStreamer:
    """A generate() streamer for batches: per-row token ids -> text deltas for that row's callback.

    generate() first puts the prompt ids, then one token per row per step. A row stops at its EOS or
    at its own max_new_tokens (rows in one batch may ask for different lengths). Text is re-decoded
    from the row's ids each step and only the new suffix is sent; a suffix ending in U+FFFD (a byte
    sequence split mid-character) is held back until it completes.
    """

    def __init__(self, tokenizer, callbacks: list[Callable[[str], None] | None], limits: list[int]):
        self.tokenizer, self.callbacks, self.limits = tokenizer, callbacks, limits
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
                if tok == self.tokenizer.eos_token_id:
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


def _batched_lora_forward(self, x, *args, adapter_names: list[str], **kwargs):
    """Mixed-adapter LoRA for one linear layer in two batched matmuls, whatever the number of adapters.

    PEFT's own `_mixed_batch_forward` loops over the adapters in the batch (index, two small matmuls,
    scatter per adapter, per layer, per step), so a batch over 3 adapters costs about 2x a batch
    over one. Here each row gathers its adapter's A and B from a stack (ranks zero-padded to the
    largest: exact) and all rows go through one bmm pair. Rows on "__base__" get no update.
    Variants (DoRA, aLoRA...) fall back to PEFT's method.
    """
    import torch

    names = [n for n in dict.fromkeys(adapter_names) if n in self.lora_A]
    if any(n in self.lora_variant for n in names):
        return type(self)._mixed_batch_forward(self, x, *args, adapter_names=adapter_names, **kwargs)
    for k in ("alora_offsets",):
        kwargs.pop(k, None)
    result = self.base_layer(x, *args, **kwargs)
    if not names:
        return result
    if len(names) == 1 and all(a == names[0] for a in adapter_names):  # one adapter: no gather needed
        n = names[0]
        a, b = self.lora_A[n], self.lora_B[n]
        return result + (b(a(x.to(a.weight.dtype))) * self.scaling[n]).to(result.dtype)
    # One stack of every adapter this layer holds, built once after each load/evict (the cache is
    # dropped by _install_batched_lora), so batches over any subset of adapters share it.
    cache = self.__dict__.get("_lora_stack_cache")
    if cache is None:
        every = list(self.lora_A.keys())
        rank = max(self.lora_A[n].weight.shape[0] for n in every)
        stack_a = torch.zeros(len(every), rank, x.shape[-1], dtype=self.lora_A[every[0]].weight.dtype)
        stack_b = torch.zeros(len(every), self.lora_B[every[0]].weight.shape[0], rank, dtype=stack_a.dtype)
        for i, n in enumerate(every):
            r = self.lora_A[n].weight.shape[0]
            stack_a[i, :r] = self.lora_A[n].weight
            stack_b[i, :, :r] = self.lora_B[n].weight * self.scaling[n]
        cache = self.__dict__["_lora_stack_cache"] = (
            {n: i for i, n in enumerate(every)}, stack_a.transpose(1, 2).contiguous(),
            stack_b.transpose(1, 2).contiguous())
    index, stack_a, stack_b = cache
    # The rows' gathered A and B, kept for the batch: generate() passes the same adapter_names at every
    # step, so the gather (and the Python that builds its index) runs once per batch, not per token.
    key = tuple(adapter_names)
    gathered = self.__dict__.get("_lora_batch_cache")
    if gathered is None or gathered[0] != key:
        rows = [i for i, a in enumerate(adapter_names) if a in index]
        which = torch.tensor([index[adapter_names[i]] for i in rows])
        every_row = len(rows) == len(adapter_names)
        gathered = self.__dict__["_lora_batch_cache"] = (
            key, None if every_row else torch.tensor(rows), stack_a[which], stack_b[which])
    _, rows, batch_a, batch_b = gathered
    xs = (x if rows is None else x[rows]).to(batch_a.dtype)
    if xs.dim() == 2:  # (rows, in): one token per row
        xs = xs.unsqueeze(1)
    delta = torch.bmm(torch.bmm(xs, batch_a), batch_b).reshape(xs.shape[0], *result.shape[1:])
    if rows is None:
        return result + delta.to(result.dtype)
    result[rows] += delta.to(result.dtype)
    return result


def _install_batched_lora(model) -> None:
    """Route PEFT's mixed-batch path of every LoRA Linear through _batched_lora_forward (idempotent)."""
    import types

    from peft.tuners.lora.layer import Linear as LoraLinear

    for module in model.modules():
        if isinstance(module, LoraLinear):
            module.__dict__.pop("_lora_stack_cache", None)  # adapters changed: rebuild stacks lazily
            module.__dict__.pop("_lora_batch_cache", None)
            if "_mixed_batch_forward" not in module.__dict__:
                module._mixed_batch_forward = types.MethodType(_batched_lora_forward, module)


class Engine:
    def __init__(self, base_model: str | Path, *, dtype=None, capacity: int = 8, batched_lora: bool = True):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if capacity < 1:
            raise ValueError(f"adapter cache capacity must be >= 1, got {capacity}")
        self.base_model = str(base_model)
        self.capacity = capacity
        self.tokenizer = AutoTokenizer.from_pretrained(self.base_model)
        self.tokenizer.padding_side = "left"  # decoder-only batches pad on the left
        self.model = AutoModelForCausalLM.from_pretrained(self.base_model, dtype=dtype or torch.float32)
        self.model.eval()
        self.adapters: OrderedDict[str, str] = OrderedDict()  # name -> path, least recently used first
        self.batched_lora = batched_lora  # False: PEFT's per-adapter loop for mixed batches
        self.load_count = 0
        self.evict_count = 0
        self._lock = threading.RLock()

    @property
    def loaded(self) -> list[str]:
        """Names of the loaded adapters, least recently used first."""
        with self._lock:
            return list(self.adapters)

    def load_adapter(self, name: str, path: str | Path, sha256: str | None = None) -> bool:
        """Make `name` available (True if it was loaded now, False if already loaded); marks it used.

        With `sha256`, the weights file must hash to it or AdapterLoadError is raised and nothing
        changes. Over capacity, the least recently used other adapter is evicted after the load,
        so a failed load never costs a working adapter.
        """
        from peft import PeftModel

        with self._lock:
            if name in self.adapters:
                self.adapters.move_to_end(name)
                return False
            weights = Path(path) / WEIGHTS_FILE
            if not weights.is_file():
                raise AdapterLoadError(f"adapter {name}: no {WEIGHTS_FILE} in {path}")
            if sha256 is not None:
                actual = sha256_file(weights)
                if actual != sha256:
                    raise AdapterLoadError(f"adapter {name}: {weights} has sha256 {actual[:12]}…, the registry "
                                           f"says {sha256[:12]}…: refusing modified weights")
            try:
                if isinstance(self.model, PeftModel):
                    self.model.load_adapter(str(path), adapter_name=name)
                else:
                    self.model = PeftModel.from_pretrained(self.model, str(path), adapter_name=name)
            except Exception as exc:  # PEFT raises many types for a bad adapter; the caller needs one
                if isinstance(self.model, PeftModel) and name in self.model.peft_config:
                    self.model.delete_adapter(name)
                raise AdapterLoadError(f"adapter {name}: cannot load {path}: {exc}") from exc
            self.model.eval()
            self.adapters[name] = str(path)
            self.load_count += 1
            while len(self.adapters) > self.capacity:
                old, _ = self.adapters.popitem(last=False)
                with warnings.catch_warnings():  # "was active, now deleted": we never rely on the active one
                    warnings.simplefilter("ignore", UserWarning)
                    self.model.delete_adapter(old)
                self.evict_count += 1
            if self.batched_lora:
                _install_batched_lora(self.model)
            return True

    def ensure(self, spec: AdapterSpec | None) -> None:
        if spec is not None:
            self.load_adapter(spec.name, spec.path, spec.sha256)

    def generate(self, prompts: list[list[dict]], adapters: list[str | None] | str | None = None, *,
                 max_new_tokens: int | list[int] = 48,
                 on_text: list[Callable[[str], None] | None] | None = None,
                 ignore_eos: bool = False,
                 sampling: list[Sampling | None] | Sampling | None = None) -> list[Generation]:
        """Replies for a batch of chat prompts; `adapters` names one adapter per row (None = base).

        ignore_eos (vLLM's benchmarking option): every row generates its max_new_tokens, EOS suppressed.

        max_new_tokens may be per row; on_text, per row, receives text deltas as they are generated.
        sampling, per row (None = greedy): temperature / top_p / seed, independent of the other rows.
        """
        import torch
        from transformers import LogitsProcessorList

        n = len(prompts)
        if not isinstance(adapters, list):
            adapters = [adapters] * n
        limits = max_new_tokens if isinstance(max_new_tokens, list) else [max_new_tokens] * n
        if not isinstance(sampling, list):
            sampling = [sampling] * n
        if len(adapters) != n or len(limits) != n or len(sampling) != n:
            raise ValueError("one adapter, one max_new_tokens and one sampling per prompt")
        sampler = _RowSampler(sampling)
        texts = [self.tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        streamer = _RowStreamer(self.tokenizer, on_text or [None] * n, limits)
        start = time.perf_counter()
        with self._lock, torch.inference_mode():
            unknown = {a for a in adapters if a and a not in self.adapters}
            if unknown:
                raise KeyError(f"adapter(s) not loaded: {sorted(unknown)}")
            for a in adapters:
                if a:
                    self.adapters.move_to_end(a)
            kwargs = {"adapter_names": [a or BASE for a in adapters]} if self.adapters else {}
            if ignore_eos:
                kwargs["min_new_tokens"] = max(limits)
            if sampler.rows:  # after HF's own processors (min_new_tokens), so EOS stays suppressed
                kwargs["logits_processor"] = LogitsProcessorList([sampler])
            self.model.generate(**enc, max_new_tokens=max(limits), do_sample=False,
                                pad_token_id=self.tokenizer.pad_token_id,
                                eos_token_id=self.tokenizer.eos_token_id, streamer=streamer, **kwargs)
        latency = (time.perf_counter() - start) * 1000
        results = []
        for i, mask in enumerate(enc["attention_mask"]):
            text = self.tokenizer.decode(streamer.ids[i], skip_special_tokens=True).strip()
            finish = "length" if len(streamer.ids[i]) >= limits[i] else "stop"
            results.append(Generation(text, int(mask.sum()), len(streamer.ids[i]), latency, finish, n))
        return results


# ---- batching ---------------------------------------------------------------------------------------

@dataclass
class Job:
    messages: list[dict]
    adapter: AdapterSpec | None
    max_new_tokens: int
    on_text: Callable[[str], None] | None = None
    ignore_eos: bool = False
    sampling: Sampling | None = None
    future: Future = field(default_factory=Future)
    enqueued: float = field(default_factory=time.perf_counter)
    queue_ms: float = 0.0


class Batcher:
    """One worker thread in front of an Engine: queued jobs -> batched generate() calls.

    A batch takes what is queued now plus what arrives within `wait_ms`, up to `max_batch` rows and
    at most `engine.capacity` distinct adapters (all must be loaded at once). mixed=False serves one
    adapter per batch (the rest wait their turn). A job whose adapter cannot be (re)loaded fails
    alone; the others in the batch are served.
    """

    def __init__(self, engine: Engine, *, max_batch: int = 8, wait_ms: float = 5.0, mixed: bool = True):
        self.engine, self.max_batch, self.wait_s, self.mixed = engine, max_batch, wait_ms / 1000, mixed
        self.batches = 0
        self.rows = 0
        self.busy_s = 0.0  # time spent in generate(): busy_s / wall time is the engine's utilisation
        self._q: queue.Queue[Job | None] = queue.Queue()
        self._held: list[Job] = []
        self._thread = threading.Thread(target=self._run, name="lora-batcher", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> Future:
        self._q.put(job)
        return job.future

    def close(self) -> None:
        self._q.put(None)
        self._thread.join(timeout=30)

    def _take(self) -> list[Job] | None:
        pending = self._held
        self._held = []
        # Wait up to wait_s for company only when the worker would otherwise run a partial batch with
        # nothing else queued: jobs held over from the last round, or a full batch, go at once.
        wait = not pending
        if not pending:
            job = self._q.get()
            if job is None:
                return None
            pending.append(job)
        deadline = time.perf_counter() + self.wait_s
        while len(pending) < self.max_batch * 4:
            try:
                if wait and len(pending) < self.max_batch:
                    job = self._q.get(timeout=max(0.0, deadline - time.perf_counter()))
                else:
                    job = self._q.get_nowait()
            except queue.Empty:
                break
            if job is None:
                self._q.put(None)  # stop after this batch
                break
            pending.append(job)
        batch, names = [], []
        for job in pending:
            name = job.adapter.name if job.adapter else None
            fits = len(batch) < self.max_batch and (
                name in names or (len(names) < (1 if not self.mixed else self.engine.capacity)))
            if not self.mixed and names and name != names[0]:
                fits = False
            if batch and job.ignore_eos != batch[0].ignore_eos:  # one generate() call decides EOS for all
                fits = False
            if fits:
                batch.append(job)
                if name not in names:
                    names.append(name)
            else:
                self._held.append(job)
        return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            ready = []
            for job in batch:
                try:
                    self.engine.ensure(job.adapter)
                    ready.append(job)
                except Exception as exc:  # noqa: BLE001 - reported to that request, others continue
                    log.error("adapter load failed: %s", exc)
                    job.future.set_exception(exc)
            if not ready:
                continue
            now = time.perf_counter()
            for job in ready:
                job.queue_ms = (now - job.enqueued) * 1000
            try:
                t0 = time.perf_counter()
                out = self.engine.generate([j.messages for j in ready],
                                           [j.adapter.name if j.adapter else None for j in ready],
                                           max_new_tokens=[j.max_new_tokens for j in ready],
                                           on_text=[j.on_text for j in ready], ignore_eos=ready[0].ignore_eos,
                                           sampling=[j.sampling for j in ready])
            except Exception as exc:  # noqa: BLE001 - the batch fails, the worker keeps serving
                log.exception("generation failed")
                for job in ready:
                    job.future.set_exception(exc)
                continue
            self.busy_s += time.perf_counter() - t0
            self.batches += 1
            self.rows += len(ready)
            for job, g in zip(ready, out, strict=True):
                job.future.set_result(g)

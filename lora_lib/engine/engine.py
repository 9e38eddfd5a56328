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
import threading
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from ..models.families import ensure_pad_token, family_of, stop_token_ids
from ..store import sha256_file
from .decoding import Generation, OnText, RowSampler, RowStreamer, Sampling
from .lora_batch import install_batched_lora

BASE = "__base__"
WEIGHTS_FILE = "adapter_model.safetensors"
log = logging.getLogger("lora_lib.engine")


class AdapterLoadError(RuntimeError):
    """An adapter could not be loaded (missing file, sha256 mismatch, incompatible weights)."""



@dataclass(frozen=True)
class AdapterSpec:
    """What the engine needs to (re)load an adapter: its immutable name, directory and expected hash."""

    name: str
    path: str
    sha256: str | None = None



def check_weights(name: str, path: str | Path, sha256: str | None) -> None:
    """AdapterLoadError unless `path` holds the weights file and (with `sha256`) it hashes to it."""
    weights = Path(path) / WEIGHTS_FILE
    if not weights.is_file():
        raise AdapterLoadError(f"adapter {name}: no {WEIGHTS_FILE} in {path}")
    if sha256 is not None:
        actual = sha256_file(weights)
        if actual != sha256:
            raise AdapterLoadError(f"adapter {name}: {weights} has sha256 {actual[:12]}…, the registry "
                                   f"says {sha256[:12]}…: refusing modified weights")


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
        # The family decides what ends a reply (Llama-3: <|eot_id|>, Gemma: <end_of_turn>, ...) and the
        # pad token a tokenizer without one gets (lora_lib.models.families).
        self.family = family_of(self.tokenizer, self.model.config)
        ensure_pad_token(self.tokenizer, self.family)
        self.stop_ids = stop_token_ids(self.tokenizer, self.family, self.model.generation_config)
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
            check_weights(name, path, sha256)
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
                install_batched_lora(self.model)
            return True

    def ensure(self, spec: AdapterSpec | None) -> None:
        if spec is not None:
            self.load_adapter(spec.name, spec.path, spec.sha256)

    def generate(self, prompts: list[list[dict] | str | list[int]], adapters: list[str | None] | str | None = None, *,
                 max_new_tokens: int | list[int] = 48,
                 on_text: list[OnText | None] | None = None,
                 ignore_eos: bool = False,
                 sampling: list[Sampling | None] | Sampling | None = None) -> list[Generation]:
        """Replies for a batch of prompts; `adapters` names one adapter per row (None = base).

        A prompt is a chat (a list of messages, through the chat template), a plain string (used as it
        is, special tokens added as the tokenizer does: /v1/completions) or a list of token ids.
        ignore_eos (vLLM's benchmarking option): every row generates its max_new_tokens, EOS suppressed.

        max_new_tokens may be per row; on_text, per row, receives text deltas as they are generated (and
        logprob entries). sampling, per row (None = greedy): temperature / top_p / seed, penalties, stop
        strings, logprobs, independent of the other rows.
        """
        import torch
        from transformers import LogitsProcessorList, StoppingCriteriaList

        n = len(prompts)
        if not isinstance(adapters, list):
            adapters = [adapters] * n
        limits = max_new_tokens if isinstance(max_new_tokens, list) else [max_new_tokens] * n
        if not isinstance(sampling, list):
            sampling = [sampling] * n
        if len(adapters) != n or len(limits) != n or len(sampling) != n:
            raise ValueError("one adapter, one max_new_tokens and one sampling per prompt")
        enc = self._encode(prompts)
        prompt_ids = None
        if any(s is not None and s.repetition_penalty != 1.0 for s in sampling):
            prompt_ids = [row[mask.bool()] for row, mask in zip(enc["input_ids"], enc["attention_mask"], strict=True)]
        # ignore_eos here rather than HF's min_new_tokens: that would act before the raw logprobs are taken
        sampler = RowSampler(sampling, enc["input_ids"].shape[1], prompt_ids,
                             self.stop_ids if ignore_eos else None)
        streamer = RowStreamer(self.tokenizer, on_text or [None] * n, limits, sampling, sampler,
                               stop_ids=self.stop_ids)
        start = time.perf_counter()
        with self._lock, torch.inference_mode():
            unknown = {a for a in adapters if a and a not in self.adapters}
            if unknown:
                raise KeyError(f"adapter(s) not loaded: {sorted(unknown)}")
            for a in adapters:
                if a:
                    self.adapters.move_to_end(a)
            kwargs = {"adapter_names": [a or BASE for a in adapters]} if self.adapters else {}
            if sampler.active:
                kwargs["logits_processor"] = LogitsProcessorList([sampler])
            if any(s is not None and s.stop for s in sampling):  # a row that met its stop string ends
                kwargs["stopping_criteria"] = StoppingCriteriaList([_RowsDone(streamer)])
            self.model.generate(**enc, max_new_tokens=max(limits), do_sample=False,
                                pad_token_id=self.tokenizer.pad_token_id,
                                eos_token_id=self.stop_ids, streamer=streamer, **kwargs)
        latency = (time.perf_counter() - start) * 1000
        return [Generation(streamer.final_text(i), int(mask.sum()), len(streamer.ids[i]), latency,
                           streamer.finish[i], n, streamer.logprobs[i])
                for i, mask in enumerate(enc["attention_mask"])]

    def _encode(self, prompts: list[list[dict] | str | list[int]]) -> dict:
        """Left-padded input ids of the rows: chats through the chat template, strings as they are, token
        ids as given."""
        if all(_is_chat(p) for p in prompts):  # chats only: one tokenizer call, as before
            texts = [self._template(p) for p in prompts]
            return self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        ids = [self.tokenizer(self._template(p), add_special_tokens=False).input_ids if _is_chat(p) else
               self.tokenizer(p).input_ids if isinstance(p, str) else list(p) for p in prompts]
        return self.tokenizer.pad({"input_ids": ids}, return_tensors="pt", padding=True)

    def _template(self, messages: list[dict]) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                                  **self.family.chat_kwargs)


def _is_chat(prompt) -> bool:
    return isinstance(prompt, list) and bool(prompt) and isinstance(prompt[0], dict)


class _RowsDone:
    """A stopping criterion: the rows the streamer has finished (a stop string met) stop generating."""

    def __init__(self, streamer: RowStreamer):
        self.streamer = streamer

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        return torch.tensor(self.streamer.done, dtype=torch.bool, device=input_ids.device)

"""In-process engine: one base model, many LoRA adapters by name, per-request adapter choice.

Adapters are named `<character>@<version>` and loaded once. A batch names the adapter of every
row (PEFT's `adapter_names`, "__base__" for the bare base model), so no global `set_adapter` is
needed: that walks every module and is unsafe under concurrency (DESIGN.md section 9).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

BASE = "__base__"


@dataclass
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float


class Engine:
    def __init__(self, base_model: str | Path, *, dtype=None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.base_model = str(base_model)
        self.tokenizer = AutoTokenizer.from_pretrained(self.base_model)
        self.tokenizer.padding_side = "left"  # decoder-only batches pad on the left
        self.model = AutoModelForCausalLM.from_pretrained(self.base_model, dtype=dtype or torch.float32)
        self.model.eval()
        self.adapters: dict[str, str] = {}
        self._lock = threading.Lock()

    def load_adapter(self, name: str, path: str | Path) -> None:
        """Load an adapter under an immutable name; loading the same name again is a no-op."""
        from peft import PeftModel

        if name in self.adapters:
            return
        if not (Path(path) / "adapter_model.safetensors").exists():
            raise FileNotFoundError(f"adapter {name}: no adapter_model.safetensors in {path}")
        with self._lock:
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(str(path), adapter_name=name)
            else:
                self.model = PeftModel.from_pretrained(self.model, str(path), adapter_name=name)
            self.model.eval()
            self.adapters[name] = str(path)

    def generate(self, prompts: list[list[dict]], adapters: list[str | None] | str | None = None, *,
                 max_new_tokens: int = 48) -> list[Generation]:
        """Greedy replies for a batch of chat prompts; `adapters` names one adapter per row (None = base)."""
        import torch

        if not isinstance(adapters, list):
            adapters = [adapters] * len(prompts)
        unknown = {a for a in adapters if a and a not in self.adapters}
        if unknown:
            raise KeyError(f"adapter(s) not loaded: {sorted(unknown)}")
        texts = [self.tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        kwargs = {}
        if self.adapters:
            kwargs["adapter_names"] = [a or BASE for a in adapters]
        start = time.perf_counter()
        with self._lock, torch.inference_mode():
            out = self.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id,
                                      eos_token_id=self.tokenizer.eos_token_id, **kwargs)
        latency = (time.perf_counter() - start) * 1000
        prompt_len = enc["input_ids"].shape[1]
        results = []
        for row, mask in zip(out, enc["attention_mask"], strict=True):
            completion = row[prompt_len:]
            n = int((completion != self.tokenizer.pad_token_id).sum())
            text = self.tokenizer.decode(completion, skip_special_tokens=True).strip()
            results.append(Generation(text, int(mask.sum()), n, latency))
        return results

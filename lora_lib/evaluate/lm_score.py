"""Log-likelihood of a text given a context under a causal LM: what fluency and relevance read.

Works for any Hugging Face causal LM (a local folder or a hub id): AutoModelForCausalLM + its tokenizer,
float32 on CPU or the model's device; no adapter is ever loaded here, so the score is the *base* model's.
`LMScorer.logprobs(pairs)` gives, per (context, target), the sum and the count of the target's token
log-probabilities (the target's tokens only; the context conditions them). Scorers are cached per model
path (`scorer_for`), since the evaluate steps and the monitor ask for the same one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache


def quiet_known_warnings() -> None:
    """Silence the known library noise that would print a warning box on the evaluate and monitor pages:
    bitsandbytes' "Failed to load CPU gemm_4bit_forward from kernels-community" (logged when peft imports it
    offline; its CPU fallback is what runs), transformers' FutureWarning "`is_gradient_checkpointing` is
    deprecated" (raised inside PEFT's adapter loading, not our call) and transformers' "Loading weights"
    progress bar on every model load. Call before the first model load; nothing else is filtered."""
    import logging
    import warnings

    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


class LMScorer:
    def __init__(self, model_path: str, *, batch_size: int = 16):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        quiet_known_warnings()

        self.model_path = str(model_path)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        self.model = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=torch.float32)
        self.model.eval()
        self.batch_size = batch_size
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else \
            (self.tokenizer.eos_token_id or 0)

    def chat_context(self, messages: Sequence[dict]) -> str:
        """The prompt as the model sees it before its reply (its chat template, else the turns joined)."""
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        return "\n".join(m["content"] for m in messages) + "\n"

    def _ids(self, text: str, special: bool) -> list[int]:
        return self.tokenizer(text, add_special_tokens=special)["input_ids"]

    def logprobs(self, pairs: Sequence[tuple[str, str]]) -> list[tuple[float, int]]:
        """(sum of log p(target tokens | context), number of target tokens) per pair; (0.0, 0) for an
        empty target. The context gets the tokenizer's special tokens (BOS), the target none."""
        import torch

        rows = []
        for ctx, tgt in pairs:
            c, t = self._ids(ctx, True), self._ids(tgt, False) if tgt else []
            limit = getattr(self.model.config, "max_position_embeddings", 2048)
            c = c[-max(limit - len(t), 1):]
            t = t[:limit - len(c)]
            rows.append((c, t))
        out: list[tuple[float, int]] = [(0.0, 0)] * len(rows)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]) + len(rows[i][1]))
        for start in range(0, len(order), self.batch_size):
            idx = [i for i in order[start:start + self.batch_size] if rows[i][1]]
            if not idx:
                continue
            seqs = [rows[i][0] + rows[i][1] for i in idx]
            width = max(map(len, seqs))
            ids = torch.full((len(idx), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for k, s in enumerate(seqs):
                ids[k, :len(s)] = torch.tensor(s)
                mask[k, :len(s)] = 1
            with torch.inference_mode():
                logits = self.model(input_ids=ids, attention_mask=mask).logits.float()
            logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
            for k, i in enumerate(idx):
                c, t = rows[i]
                span = logp[k, len(c) - 1:len(c) - 1 + len(t)]
                out[i] = (float(span.sum()), len(t))
        return out

    def mean_logprobs(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Per-token mean log-probability per pair (NaN for an empty target)."""
        return [s / n if n else math.nan for s, n in self.logprobs(pairs)]


@lru_cache(maxsize=2)
def scorer_for(model_path: str) -> LMScorer:
    """One scorer per base model path, shared by fluency, relevance and the monitor."""
    return LMScorer(str(model_path))

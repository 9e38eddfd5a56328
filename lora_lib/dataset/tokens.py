"""The base model's tokenizer: token counts with the chat template applied, and its fingerprint."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..config import Params
from ..models.masking import count_tokens
from ..store import sha256_json
from .records import DatasetError, TokenCounter


def token_counter(tokenizer) -> TokenCounter:
    """(tokens, trained assistant tokens) of a message list with the tokenizer's chat template applied.

    Memoized: rendering the template is the slow part, and the build asks for the same lists again.
    """
    import json

    cache: dict[str, tuple[int, int]] = {}

    def count(messages: list[dict]) -> tuple[int, int]:
        key = json.dumps(messages, ensure_ascii=False, sort_keys=True)
        if key not in cache:
            cache[key] = count_tokens(tokenizer, messages)  # masked as training masks (models.masking)
        return cache[key]
    return count


def approximate_counter(messages: list[dict]) -> tuple[int, int]:
    """Without a tokenizer: one token per character plus 4 per message header (byte-level BPE on
    Korean chat gives fewer, so splits stay within the limit); recorded as approximate in the manifest."""
    return (sum(len(m["content"]) + 4 for m in messages),
            sum(len(m["content"]) + 1 for m in messages if m["role"] == "assistant"))


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of the tokenizer's vocabulary/merges/normalizer and its chat template."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    body = backend.to_str() if backend is not None else sha256_json(sorted(tokenizer.get_vocab().items()))
    return hashlib.sha256((body + "\0" + (tokenizer.chat_template or "")).encode()).hexdigest()


def _local_missing(base: str) -> bool:
    return (base.startswith(("/", ".", "~")) or base.count("/") != 1) and not Path(base).expanduser().exists()


def load_tokenizer(p: Params):
    """The base model's tokenizer: the dataset's token counts and splits are specific to it."""
    from transformers import AutoTokenizer

    base = str(p.path(p.base_model))
    if _local_missing(base):
        raise DatasetError(f"base_model: {base} does not exist; the dataset stage needs its tokenizer to count "
                           "tokens and split long conversations (run `lora demo build` for the demo model)")
    tok = AutoTokenizer.from_pretrained(base)
    if not tok.chat_template:
        raise DatasetError(f"base_model: the tokenizer of {base} has no chat template; set one (ChatML)")
    return tok


def formatted_samples(records: list[dict], tokenizer, n: int = 3) -> list[str]:
    """The first n records exactly as the model sees them (chat template applied, untokenized)."""
    return [tokenizer.apply_chat_template(r["messages"], tokenize=False) for r in records[:n]]


def record_lengths(records: list[dict], tokenizer) -> list[dict]:
    """Per record: tokens with the chat template applied, and how many of them are assistant tokens."""
    count = token_counter(tokenizer)
    return [dict(zip(("tokens", "assistant_tokens"), count(r["messages"]), strict=True)) for r in records]

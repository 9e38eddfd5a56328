"""The base model's folder: content hash, quiet save, cache check, atomic swap and model card."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path


def content_sha256(model_dir: str | Path) -> str:
    """sha256 over the bytes of model.safetensors followed by tokenizer.json: names weights + tokenizer."""
    h = hashlib.sha256()
    for name in ("model.safetensors", "tokenizer.json"):
        with open(Path(model_dir) / name, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def _save_quietly(model, directory: Path) -> None:
    """save_pretrained without its one-shard "Writing model shards" bar (noise under our own bar)."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(directory, safe_serialization=True)
    finally:
        if was_on:
            hf_logging.enable_progress_bar()
    # The weights arrive via a private temp file (mode 0600); give them the umask's usual mode so a
    # server or notebook running as another user can read the model like the files next to it.
    umask = os.umask(0)
    os.umask(umask)
    for path in Path(directory).glob("*.safetensors"):
        os.chmod(path, 0o666 & ~umask)


def _cached_info(out_dir: Path, *, corpus_sha256: str, seed: int, size: str, recipe: dict) -> dict | None:
    """The existing build's info if it was made from the same inputs and its files are intact."""
    info_path = out_dir / "base_model.json"
    if not info_path.exists():
        return None
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        same = (
            info.get("corpus_sha256") == corpus_sha256
            and info.get("seed") == seed
            and info.get("size") == size
            and info.get("recipe") == recipe
        )
        return info if same and content_sha256(out_dir) == info.get("sha256") else None
    except (OSError, ValueError):
        return None  # unreadable or partial: rebuild


def _replace_dir(src: Path, dst: Path) -> None:
    """Move the finished build into place; an older build is moved aside first, then removed."""
    old = dst.parent / f".{dst.name}.old-{os.getpid()}"
    if dst.exists():
        os.rename(dst, old)
    os.rename(src, dst)
    shutil.rmtree(old, ignore_errors=True)


def _model_card(info: dict) -> str:
    r = info["recipe"]
    return f"""---
library_name: transformers
pipeline_tag: text-generation
language: [ko]
tags: [synthetic, demo, llama, chatml]
---
# Tiny demo base chat model ({info["size"]})

A {info["n_params"]:,}-parameter Llama-architecture (`LlamaForCausalLM`) chat model built from scratch
on this machine by `lora_lib.demo.base_model`, so that every stage of the LoRA workspace runs for real
on a CPU with no model hub.

**Synthetic, demo-only.** It was trained on {info["n_conversations"]:,} machine-generated, templated
Korean chats from `lora_lib.demo.world` in which the assistant always answers in neutral polite
Korean (~요/~습니다), and it knows nothing else. It is
not a language model for any real use; swap in a real base model (any Hugging Face id or path).

| | |
|---|---|
| architecture | {r["layers"]} layers, hidden {r["hidden"]}, {r["heads"]} heads, MLP {r["intermediate"]}, max {r["max_positions"]} positions, tied embeddings |
| tokenizer | byte-level BPE trained on the same corpus, {info["vocab_size"]} tokens, ChatML template with `{{% generation %}}` markers |
| special tokens | `<|im_start|>`, `<|im_end|>` (eos), `<|pad|>` (pad), `<|endoftext|>`; no bos |
| training | {"fp32 weights, bf16 autocast" if r.get("autocast") == "bf16" else "fp32"}, AdamW lr {r["lr"]}, batch {r["batch_size"]}, {r["epochs"]} epochs ({info["steps"]} steps, {info["train_tokens"]:,} tokens), loss on every token (users' turns too, so their words are known) |
| seed | {info["seed"]} |
| build time | {info["train_seconds"]} s on {info["threads"]} CPU thread(s); final loss {info["final_loss"]} |
| training data sha256 | `{info["corpus_sha256"]}` |
| content sha256 | `{info["sha256"]}` (model.safetensors bytes then tokenizer.json bytes) |

Rebuilding with the same conversations, seed and size gives byte-identical weights and tokenizer.
"""

"""A tiny local Llama-architecture base chat model, built from scratch, deterministically.

The demo needs a real base model that runs on a 2-core CPU with no hub access: a byte-level BPE
tokenizer trained on the corpus with a ChatML chat template, and a few-million-parameter
`LlamaForCausalLM` briefly pre-trained on generic polite Korean chats. The output directory is a
normal Hugging Face model folder, so the rest of the workspace loads it exactly like any other
base model (`AutoModelForCausalLM` / `AutoTokenizer`, safetensors only).

Same conversations + seed + size => byte-identical weights and tokenizer, so the content hash in
`base_model.json` names the model and a second build with the same inputs is a cache hit.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import time
from pathlib import Path

from ..store import sha256_json, write_json
from .model_folder import _cached_info, _model_card, _replace_dir, _save_quietly, content_sha256
from .tokenizer import MAX_POSITIONS, ROLES, train_tokenizer

# Bump when the recipe changes in a way that changes the weights, so old caches are rebuilt.
BUILDER_VERSION = 3

# Architecture and training recipe per size. "demo" is the DESIGN.md section 9 model (4 x 256,
# ~3.5M parameters with the ~1.1k-token vocabulary of one-syllable pieces); "test" only has to be a
# real, loadable chat model that trains in seconds and stops on <|im_end|>. Epochs: 2 over 2,600 chats
# (~750k tokens), batch 16: the same tokens in twice the updates of batch 32. Measured together with
# two corpus/tokenizer changes (answers start with the user's word; the space goes with the syllable
# before it), not one at a time: before them, at batch 32, 5-9 distinct greedy replies of 24 held-out
# prompts with one stock line to 11-12 of them; after, 22-24 distinct, none given more than twice.
# Threads are part of the recipe because the reduction
# order (hence the bytes) depends on them, and because a 64-wide model is all sync overhead: with 2
# OpenMP threads it ran 40x slower whenever another process shared the 2 cores.
# autocast "bf16": matmuls in bfloat16 (fp32 master weights, fp32 loss) where the CPU has bf16
# instructions (oneDNN reports it): a demo step took 0.15 s instead of 0.32 s on 2 Zen 4 cores. A CPU
# without them would emulate bf16 slower than fp32, so there the build falls back to fp32 and the
# recipe (hence the cache key and the model card) says "none".
SIZES: dict[str, dict] = {
    "demo": {
        "layers": 4,
        "hidden": 256,
        "heads": 4,
        "intermediate": 688,
        "epochs": 2.0,
        "batch_size": 16,
        "lr": 3e-3,
        "warmup": 0.05,
        "threads": 2,
        "autocast": "bf16",
    },
    "test": {
        "layers": 2,
        "hidden": 64,
        "heads": 2,
        "intermediate": 172,
        "epochs": 3.0,
        "batch_size": 8,
        "lr": 5e-3,
        "warmup": 0.05,
        "threads": 1,
        "autocast": "none",
    },
}
LOSS_WINDOW = 20  # final_loss = mean of the last LOSS_WINDOW steps (a single step is noisy)


class BaseModelError(ValueError):
    """Bad input to the base-model build: names the conversation/message and the problem."""


def build_base_model(
    out_dir: str | Path,
    conversations: list[list[dict]],
    *,
    seed: int = 0,
    size: str = "demo",
    epochs: float | None = None,
    progress: bool = True,
) -> dict:
    """Train tokenizer + model on `conversations` and save a HF model folder at `out_dir`; return its info.

    The folder holds model.safetensors, config.json, generation_config.json, tokenizer files with the
    chat template, README.md (model card), base_model.json (the returned dict) and train_log.json
    (per-step loss). An existing build with the same corpus, seed, size and recipe whose files still
    match their hash is returned as is. The folder is written next to `out_dir` first and renamed
    into place, so a crash never leaves a half-written model.
    """
    if size not in SIZES:
        raise ValueError(f"unknown base model size {size!r}; choose from {sorted(SIZES)}")
    _check_conversations(conversations)
    out_dir = Path(out_dir)
    recipe = {
        **SIZES[size],
        "autocast": _autocast_for(SIZES[size]["autocast"]),
        "epochs": float(epochs if epochs is not None else SIZES[size]["epochs"]),
        "max_positions": MAX_POSITIONS,
        "builder_version": BUILDER_VERSION,
    }
    corpus_sha256 = sha256_json(conversations)
    cached = _cached_info(out_dir, corpus_sha256=corpus_sha256, seed=seed, size=size, recipe=recipe)
    if cached is not None:
        return cached

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        info = _build(tmp, conversations, seed=seed, size=size, recipe=recipe, progress=progress)
        info["corpus_sha256"] = corpus_sha256
        write_json(tmp / "base_model.json", info)
        (tmp / "README.md").write_text(_model_card(info), encoding="utf-8")
        _replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return info


def _build(
    tmp: Path, conversations: list[list[dict]], *, seed: int, size: str, recipe: dict, progress: bool
) -> dict:
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    start = time.perf_counter()
    tokenizer = train_tokenizer(m["content"] for chat in conversations for m in chat)
    examples = _encode(tokenizer, conversations)
    n_params = 0
    prev_threads = torch.get_num_threads()
    # Never more threads than cores: oversubscribed OpenMP threads spin-wait on each other.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = min(recipe["threads"], cores)
    # fork_rng: seeding must not disturb the caller's global RNG (notebooks seed their own).
    with torch.random.fork_rng(devices=[]):
        torch.set_num_threads(threads)
        try:
            torch.manual_seed(seed)
            config = LlamaConfig(
                vocab_size=len(tokenizer),
                hidden_size=recipe["hidden"],
                intermediate_size=recipe["intermediate"],
                num_hidden_layers=recipe["layers"],
                num_attention_heads=recipe["heads"],
                num_key_value_heads=recipe["heads"],
                max_position_embeddings=MAX_POSITIONS,
                tie_word_embeddings=True,
                bos_token_id=None,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
            model = LlamaForCausalLM(config).to(torch.float32)
            n_params = sum(p.numel() for p in model.parameters())
            losses, n_tokens = _train(
                model, examples, seed=seed, recipe=recipe, pad_id=tokenizer.pad_token_id, progress=progress
            )
        finally:
            torch.set_num_threads(prev_threads)
    train_seconds = time.perf_counter() - start

    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        do_sample=False,
        max_new_tokens=64,
    )
    _save_quietly(model, tmp)
    tokenizer.save_pretrained(tmp)
    tail = losses[-LOSS_WINDOW:]
    write_json(tmp / "train_log.json", {"loss": [round(x, 5) for x in losses]})
    return {
        "sha256": content_sha256(tmp),
        "n_params": n_params,
        "size": size,
        "seed": seed,
        "train_seconds": round(train_seconds, 2),
        "final_loss": round(sum(tail) / len(tail), 4) if tail else None,
        "vocab_size": len(tokenizer),
        "n_conversations": len(conversations),
        "train_tokens": n_tokens,
        "steps": len(losses),
        "threads": threads,
        "recipe": recipe,
        "architecture": "LlamaForCausalLM",
    }


def _encode(tokenizer, conversations: list[list[dict]]) -> list[tuple[list[int], list[int]]]:
    """(input_ids, labels) per chat via the chat template, loss on every token.

    A base model has read the whole language, not only its own replies: users write 반말, role-play
    and quote 하오체, and learning their turns too is what makes those words known tokens that a
    LoRA can later move the replies towards (with assistant-only loss here, a character's 반말
    endings cost the base 12-18 nats per token and a LoRA within the guide could not move it).
    Chats are cut at MAX_POSITIONS tokens.
    """
    enc = tokenizer.apply_chat_template(conversations, tokenize=True, return_dict=True)
    return [(ids[:MAX_POSITIONS], list(ids[:MAX_POSITIONS])) for ids in enc["input_ids"]]


def _batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Length-grouped batches in a seeded random order: little padding, no fixed length curriculum."""
    order = list(range(len(lengths)))
    rng.shuffle(order)  # random tie-break among equal lengths
    order.sort(key=lambda i: lengths[i])
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def _train(
    model, examples, *, seed: int, recipe: dict, pad_id: int, progress: bool
) -> tuple[list[float], int]:
    """Plain fp32 AdamW loop with warmup + cosine decay; returns per-step losses and tokens seen.

    A hand-written loop rather than HF Trainer: nothing here needs its features, and it keeps the
    build fast to start and bit-for-bit reproducible (data order comes only from `seed`).
    """
    import torch
    from tqdm.auto import tqdm

    rng = random.Random(f"base-model:{seed}")
    lengths = [len(ids) for ids, _ in examples]
    epochs = recipe["epochs"]
    per_epoch = math.ceil(len(examples) / recipe["batch_size"])
    total = max(1, math.ceil(per_epoch * epochs))
    schedule: list[list[int]] = []
    while len(schedule) < total:  # fractional epochs take the first batches of the last epoch
        schedule += _batches(lengths, recipe["batch_size"], rng)
    schedule = schedule[:total]

    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe["lr"], betas=(0.9, 0.95), weight_decay=0.01)
    warmup = max(1, int(total * recipe["warmup"]))

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        done = (step - warmup) / max(1, total - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * done))  # cosine down to 10% of the peak

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    model.train()
    losses: list[float] = []
    n_tokens = 0
    bar = tqdm(schedule, desc="base model", unit="step", disable=not progress)
    for batch in bar:
        width = max(lengths[i] for i in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        attn = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            x, y = examples[i]
            ids[row, : len(x)] = torch.tensor(x)
            labels[row, : len(y)] = torch.tensor(y)
            attn[row, : len(x)] = 1
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=recipe["autocast"] == "bf16"):
            loss = model(input_ids=ids, attention_mask=attn, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        n_tokens += int(attn.sum())
        if len(losses) % 10 == 0:
            bar.set_postfix(loss=f"{sum(losses[-10:]) / 10:.3f}")
    model.eval()
    return losses, n_tokens


def _autocast_for(wanted: str) -> str:
    """The autocast a recipe asks for, or "none" where this CPU has no bf16 instructions."""
    if wanted == "none":
        return "none"
    if wanted != "bf16":
        raise ValueError(f"unknown autocast {wanted!r}; choose from ['bf16', 'none']")
    import torch

    return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "none"


def _check_conversations(conversations: list[list[dict]]) -> None:
    if not conversations:
        raise BaseModelError("no conversations to pre-train on")
    for i, chat in enumerate(conversations):
        if not isinstance(chat, list) or not chat:
            raise BaseModelError(f"conversation {i}: expected a non-empty list of messages")
        for j, msg in enumerate(chat):
            if not isinstance(msg, dict) or msg.get("role") not in ROLES:
                raise BaseModelError(f"conversation {i} message {j}: field 'role' must be one of {ROLES}")
            if not isinstance(msg.get("content"), str):
                raise BaseModelError(f"conversation {i} message {j}: field 'content' must be a string")
        if not any(m["role"] == "assistant" for m in chat):
            raise BaseModelError(f"conversation {i}: no assistant message to learn from")

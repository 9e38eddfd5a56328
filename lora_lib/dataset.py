"""Dataset: clean conversations -> an immutable, content-addressed ChatML version.

A version lives in <store>/datasets/<character>/<version>/ with train.jsonl, eval.jsonl and
manifest.json. Its id is a hash of the records and of the cleaning and formatting configs, so the
same inputs always give the same id, writing it again is a no-op, and different content can never
overwrite it. Records carry the OpenAI `messages` shape: a short system prompt with the character's
core rules (never the card's long prompt or lorebook), then the real turns.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from .config import Params
from .store import read_json, read_jsonl, sha256_json, write_json, write_jsonl


def to_chatml(conv: dict, system_prompt: str) -> dict:
    """A conversation record -> a training record with our system prompt first."""
    turns = [m for m in conv["messages"] if m["role"] in ("user", "assistant")]
    return {"conversation_id": conv["conversation_id"], "dataset_source": conv.get("dataset_source"),
            "user_ref": conv.get("user_ref"),
            "messages": [{"role": "system", "content": system_prompt}] + turns}


def is_eval(conversation_id: str, seed: int, eval_fraction: float) -> bool:
    """Deterministic split by conversation: the same id always lands on the same side."""
    h = int(hashlib.sha256(f"{seed}:{conversation_id}".encode()).hexdigest()[:8], 16)
    return h / 0xFFFFFFFF < eval_fraction


def split_records(records: list[dict], seed: int, eval_fraction: float, gold_weight: int = 1
                  ) -> tuple[list[dict], list[dict]]:
    train, evals = [], []
    for rec in sorted(records, key=lambda r: r["conversation_id"]):
        if is_eval(rec["conversation_id"], seed, eval_fraction):
            evals.append(rec)
        else:
            train += [rec] * (gold_weight if rec["dataset_source"] == "gold" else 1)
    return train, evals


def version_id(train: list[dict], evals: list[dict], clean_config: dict, format_config: dict) -> str:
    return sha256_json({"train": train, "eval": evals, "clean": clean_config, "format": format_config})[:12]


def build_version(conversations: list[dict], p: Params, *, parent: str | None = None) -> dict:
    """Write (or find) the version for these clean conversations; return its manifest."""
    records = [to_chatml(c, p.character.system_prompt) for c in conversations]
    records = [r for r in records if any(m["role"] == "assistant" for m in r["messages"])]
    fmt = {"system_prompt": p.character.system_prompt, "seed": p.seed, **p.dataset.model_dump()}
    train, evals = split_records(records, p.seed, p.dataset.eval_fraction, p.dataset.gold_weight)
    if len(train) < p.dataset.min_train_records:
        raise ValueError(f"dataset for {p.character_id!r} has {len(train)} train records, fewer than "
                         f"dataset.min_train_records={p.dataset.min_train_records}: check the clean stage's rejections")
    vid = version_id(train, evals, p.clean.model_dump(), fmt)
    root = Path(p.store) / "datasets" / p.character_id
    final = root / vid
    if (final / "manifest.json").exists():
        return read_json(final / "manifest.json")  # content-addressed: same id, same content
    lengths = [sum(len(m["content"]) for m in r["messages"][1:]) for r in train]
    manifest = {
        "version": vid, "character_id": p.character_id, "parent_version": parent,
        "counts": {"train": len(train), "eval": len(evals),
                   "sources": dict(Counter(r["dataset_source"] for r in train + evals)),
                   "assistant_turns": sum(m["role"] == "assistant" for r in train for m in r["messages"])},
        "chars_per_record": {"mean": sum(lengths) / len(lengths), "max": max(lengths)},
        "user_refs": sorted({r["user_ref"] for r in train + evals if r["user_ref"]}),
        "clean_config": p.clean.model_dump(), "format_config": fmt,
        "config_sha256": {"clean": sha256_json(p.clean.model_dump()), "format": sha256_json(fmt)},
    }
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{vid}."))
    try:
        write_jsonl(tmp / "train.jsonl", train)
        write_jsonl(tmp / "eval.jsonl", evals)
        write_json(tmp / "manifest.json", manifest)
        try:
            os.rename(tmp, final)  # atomic; fails if another writer got there first
        except OSError:
            if not (final / "manifest.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def load_version(store: str | Path, character_id: str, version: str) -> tuple[list[dict], list[dict], dict]:
    """(train, eval, manifest) of a dataset version; a clear error if it is missing."""
    root = Path(store) / "datasets" / character_id / version
    if not (root / "manifest.json").exists():
        raise FileNotFoundError(f"dataset version {character_id}/{version} not found under {root.parent}")
    return read_jsonl(root / "train.jsonl"), read_jsonl(root / "eval.jsonl"), read_json(root / "manifest.json")


def eval_prompts(evals: list[dict], n: int) -> list[list[dict]]:
    """Held-out prompts: each eval conversation up to its first user turn (with the system prompt)."""
    prompts = []
    for rec in evals:
        msgs = rec["messages"]
        first_user = next((i for i, m in enumerate(msgs) if m["role"] == "user"), None)
        if first_user is not None:
            prompts.append(msgs[: first_user + 1])
    return prompts[:n]

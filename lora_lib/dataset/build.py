"""Building a version: the scope's clean conversations (+ negatives) -> records, splits, pairs,
manifest, written once; the dataset stage's I/O (build_for_run)."""

from __future__ import annotations

import time
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from ..config import Params
from ..store import read_jsonl, sha256_json
from .records import DatasetError, prepare, token_stats, version_id
from .tokens import _local_missing, approximate_counter, load_tokenizer, token_counter, tokenizer_fingerprint
from .versions import _write_version, latest_version, verify_version

# --------------------------------------------------------------------------------------------------
# Scope: one character or a category
# --------------------------------------------------------------------------------------------------


def scope_key(p: Params) -> str:
    """Directory name under datasets/: the character id, or category-<name> for a category adapter."""
    return p.character_id if p.dataset.scope == "character" else f"category-{p.character.category}"


def scope_members(p: Params, params_dir: str | Path = "params") -> dict[str, Params]:
    """The characters whose data makes this dataset: just this one, or all of its category."""
    from ..config import known_characters, load_params

    if p.dataset.scope == "character":
        return {p.character_id: p}
    out = {}
    for cid in known_characters(params_dir):
        other = p if cid == p.character_id else load_params(cid, params_dir=params_dir, overrides={"store": p.store})
        if other.character.category == p.character.category:
            out[cid] = other
    return out


# --------------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------------


def build_version(conversations: list[dict] | dict[str, list[dict]], p: Params, *, tokenizer=None,
                  parent: str | None = "auto", negatives: Sequence[dict] = (),
                  system_prompts: dict[str, str] | None = None) -> dict:
    """Write (or find) the version for these clean conversations; return its manifest.

    `conversations` is a list (this character) or {character_id: list} for a category scope.
    `parent` "auto" = the newest existing version of the same scope. Raises DatasetError when too
    few train records remain, naming the count and where the rejections are.
    """
    by_char = conversations if isinstance(conversations, dict) else {p.character_id: conversations}
    prompts = system_prompts or {p.character_id: p.character.system_prompt}
    missing = sorted(set(by_char) - set(prompts))
    if missing:
        raise DatasetError(f"no system prompt for {missing}: pass system_prompts for every character")
    if tokenizer is None and _local_missing(str(p.path(p.base_model))):
        # Library use without the base model (the pipeline's dataset stage requires it): counts and
        # splits are approximate and the manifest says so; train refuses nothing for it.
        warnings.warn(f"base_model {p.path(p.base_model)} not found: dataset {scope_key(p)!r} uses approximate "
                      "token counts", stacklevel=2)
        tok, count, tok_sha = None, approximate_counter, None
    else:
        tok = tokenizer if tokenizer is not None else load_tokenizer(p)
        count, tok_sha = token_counter(tok), tokenizer_fingerprint(tok)
    body = prepare(by_char, prompts, p, count, tok_sha, negatives)
    train, evals, pairs = body["train"], body["eval"], body["preferences"]
    if len(train) < p.dataset.min_train_records:
        reasons = Counter(r["reason"] for r in body["rejected"])
        raise DatasetError(f"dataset for {scope_key(p)!r} has {len(train)} train records, fewer than "
                           f"dataset.min_train_records={p.dataset.min_train_records} (rejected here: "
                           f"{dict(reasons) or 'none'}): check the clean stage's rejections")
    vid = version_id(train, evals, p.clean.content_config(), body["format_config"], pairs)
    root = Path(p.store) / "datasets" / scope_key(p)
    final = root / vid
    if final.exists():
        return verify_version(final)  # content-addressed: same id, same content; never overwritten
    if parent == "auto":
        parent = latest_version(root)
    tokens = [count(r["messages"]) for r in train]
    manifest = {
        "version": vid, "scope": p.dataset.scope, "scope_key": scope_key(p), "characters": sorted(by_char),
        "parent_version": parent, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "counts": {"train": len(train), "eval": len(evals), "preference_pairs": len(pairs),
                   "rejected": len(body["rejected"]),
                   "rejected_by_reason": dict(Counter(r["reason"] for r in body["rejected"])),
                   "split_conversations": len({r["conversation_id"] for r in train + evals if "chunk" in r}),
                   "sources": dict(Counter(r["dataset_source"] for r in train + evals)),
                   "by_character": {cid: {"train": sum(r["character_id"] == cid for r in train),
                                          "eval": sum(r["character_id"] == cid for r in evals)} for cid in by_char},
                   "assistant_turns": sum(m["role"] == "assistant" for r in train for m in r["messages"])},
        "tokens": {"counted_with": "base model tokenizer, chat template applied" if tok is not None else
                   "approximate: no tokenizer (1 per character + 4 per message)",
                   "train_per_record": token_stats([t for t, _ in tokens]),
                   "train_assistant_per_record": token_stats([a for _, a in tokens]),
                   "eval_per_record": token_stats([count(r["messages"])[0] for r in evals])},
        "user_refs": sorted({r["user_ref"] for r in train + evals if r.get("user_ref")}),
        "clean_config": p.clean.content_config(), "format_config": body["format_config"],
        "config_sha256": {"clean": sha256_json(p.clean.content_config()), "format": sha256_json(body["format_config"])},
    }
    _write_version(root, vid, {"train.jsonl": train, "eval.jsonl": evals, "preferences.jsonl": pairs,
                               "rejected.jsonl": body["rejected"]}, manifest)
    return verify_version(final)


def read_negatives(path: str | Path | None) -> list[dict]:
    """Negative examples exported by monitoring (JSONL); none when the path is unset or absent."""
    if not path or not Path(path).exists():
        return []
    return read_jsonl(path)


def build_for_run(p: Params, paths, params_dir: str | Path = "params") -> dict:
    """The dataset stage's I/O: this run's clean conversations (of every scope member) + negatives -> version.

    A category scope reads each member character's clean output from the same run id, so run
    collect and clean for all of them first (`lora run --all` does).
    """
    members = scope_members(p, params_dir)
    conversations = {}
    for cid in members:
        path = paths.store / cid / paths.run_id / "clean" / "conversations.jsonl"
        if not path.exists():
            raise DatasetError(f"dataset.scope={p.dataset.scope}: {path} not found; run collect and clean for "
                               f"{cid!r} with run id {paths.run_id!r} first")
        conversations[cid] = read_jsonl(path)
    negatives_path = p.dataset.negatives and p.path(p.dataset.negatives.replace("{character}", p.character_id))
    return build_version(conversations, p, negatives=read_negatives(negatives_path),
                         system_prompts={cid: m.character.system_prompt for cid, m in members.items()})

"""Dataset: clean conversations -> an immutable, content-addressed ChatML version.

A version lives in <store>/datasets/<scope>/<version>/ (scope = the character id, or
`category-<name>` for a per-category adapter) with train.jsonl, eval.jsonl, preferences.jsonl,
rejected.jsonl and manifest.json. Its id is a hash of the records and of the cleaning and
formatting configs (tokenizer hash included), so the same inputs always give the same id, writing
it again is a no-op, and different content can never overwrite it (a directory whose files do not
match its own manifest is reported, never replaced). Records carry the OpenAI `messages` shape: a
short system prompt with the character's core rules (never the card's long prompt or lorebook),
then the real turns; conversations longer than `train.max_length` tokens are split at turn
boundaries, never mid-turn.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from .config import Params
from .models.masking import count_tokens
from .store import read_json, read_jsonl, sha256_file, sha256_json, write_json, write_jsonl

DATA_FILES = ("train.jsonl", "eval.jsonl", "preferences.jsonl", "rejected.jsonl")
# Counts tokens of a message list the way training will see them: (all tokens, assistant tokens).
TokenCounter = Callable[[list[dict]], tuple[int, int]]


class DatasetError(ValueError):
    """A dataset problem phrased for a person: which version/record/field and what is wrong."""


# --------------------------------------------------------------------------------------------------
# Pure functions: records, splitting, preference pairs, statistics
# --------------------------------------------------------------------------------------------------


def to_chatml(conv: dict, system_prompt: str, character_id: str | None = None) -> dict:
    """A conversation record -> a training record with our short system prompt first.

    The conversation's own system messages (a card's long prompt, lorebook, RAG context) are
    replaced, never kept: the adapter learns style, facts stay in RAG.
    """
    turns = [{"role": m["role"], "content": m["content"]} for m in conv["messages"]
             if m["role"] in ("user", "assistant")]
    return {"conversation_id": conv["conversation_id"], "character_id": character_id or conv.get("character_id"),
            "dataset_source": conv.get("dataset_source"), "user_ref": conv.get("user_ref"),
            "messages": [{"role": "system", "content": system_prompt}] + turns}


def exchanges(turns: list[dict]) -> list[list[dict]]:
    """Turns grouped as [user..., assistant...]: the smallest units a split may cut between."""
    groups: list[list[dict]] = []
    for m in turns:
        if not groups or (m["role"] == "user" and groups[-1][-1]["role"] == "assistant"):
            groups.append([])
        groups[-1].append(m)
    return groups


def split_long(record: dict, count: TokenCounter, max_tokens: int) -> tuple[list[dict], list[dict]]:
    """Split a record at exchange boundaries into chunks of at most max_tokens (template included).

    Each chunk repeats the system prompt and keeps the conversation_id (so all chunks land on the
    same side of the split). Returns (chunks, rejections): an exchange that alone exceeds the limit
    cannot be split without cutting a turn, and an exchange with no assistant reply teaches
    nothing; both are rejected with a reason instead of being dropped.
    """
    system, turns = record["messages"][:1], record["messages"][1:]
    groups = exchanges(turns)
    if count(record["messages"])[0] <= max_tokens and all(any(m["role"] == "assistant" for m in g) for g in groups):
        return [record], []  # the common case: one template render, no split
    chunks, rejected, window = [], [], []

    def reject(group, reason, tokens=None):
        rejected.append({"conversation_id": record["conversation_id"], "character_id": record.get("character_id"),
                         "reason": reason, "tokens": tokens, "messages": group})

    def flush():
        if window:
            chunks.append({**record, "messages": system + [m for g in window for m in g]})
            window.clear()

    for group in groups:
        if not any(m["role"] == "assistant" for m in group):
            reject(group, "no_assistant_reply")
            continue
        if count(system + [m for g in window + [group] for m in g])[0] <= max_tokens:
            window.append(group)
            continue
        flush()
        alone = count(system + group)[0]
        if alone > max_tokens:
            reject(group, "exchange_longer_than_max_length", alone)
        else:
            window.append(group)
    flush()
    if len(chunks) > 1:
        chunks = [{**c, "chunk": i} for i, c in enumerate(chunks)]
    return chunks, rejected


def is_eval(conversation_id: str, seed: int, eval_fraction: float) -> bool:
    """Deterministic split by conversation: the same id always lands on the same side."""
    h = int(hashlib.sha256(f"{seed}:{conversation_id}".encode()).hexdigest()[:8], 16)
    return h / 0xFFFFFFFF < eval_fraction


def split_records(records: list[dict], seed: int, eval_fraction: float, gold_weight: int = 1
                  ) -> tuple[list[dict], list[dict]]:
    """(train, eval) by conversation, sorted for a stable order; gold repeated gold_weight times in train."""
    train, evals = [], []
    for rec in sorted(records, key=lambda r: (r["conversation_id"], r.get("chunk", 0))):
        if is_eval(rec["conversation_id"], seed, eval_fraction):
            evals.append(rec)
        else:
            train += [rec] * (gold_weight if rec["dataset_source"] == "gold" else 1)
    return train, evals


def preference_pairs(negatives: Sequence[dict], system_prompt: str, character_id: str
                     ) -> tuple[list[dict], list[dict]]:
    """Negative examples -> TRL conversational preference pairs (prompt, chosen, rejected).

    A negative is {id | negative_id, prompt: [messages], rejected: str, chosen: str | None,
    reason | reasons, adapter_version} (monitor.negatives_to_training's preference_pairs fit as they are);
    the prompt's system message is replaced by ours. Negatives of another character, or without a
    chosen reply (nothing to prefer), are returned as rejections with a reason.
    """
    pairs, rejected = [], []
    for i, neg in enumerate(negatives):
        reason = None
        prompt = neg.get("prompt")
        if neg.get("character_id") not in (None, character_id):
            reason = "other_character"
        elif not isinstance(prompt, list) or not prompt or prompt[-1].get("role") != "user":
            reason = "prompt_not_ending_in_user_turn"
        elif not isinstance(neg.get("rejected"), str) or not neg["rejected"].strip():
            reason = "no_rejected_reply"
        elif not isinstance(neg.get("chosen"), str) or not neg["chosen"].strip():
            reason = "no_chosen_reply"
        nid = neg.get("id") or neg.get("negative_id")
        if reason:
            rejected.append({"negative_index": i, "reason": reason, "id": nid, "character_id": neg.get("character_id")})
            continue
        turns = [{"role": m["role"], "content": m["content"]} for m in prompt if m["role"] in ("user", "assistant")]
        pairs.append({"id": nid or sha256_json(neg)[:12], "character_id": character_id,
                      "prompt": [{"role": "system", "content": system_prompt}] + turns,
                      "chosen": [{"role": "assistant", "content": neg["chosen"]}],
                      "rejected": [{"role": "assistant", "content": neg["rejected"]}],
                      "reason": neg.get("reason") or ",".join(neg.get("reasons") or []) or None,
                      "adapter_version": neg.get("adapter_version")})
    return sorted(pairs, key=lambda p: p["id"]), rejected


def token_stats(lengths: Sequence[int]) -> dict:
    if not lengths:
        return {"n": 0, "total": 0, "mean": 0, "p50": 0, "p95": 0, "max": 0}
    ordered = sorted(lengths)
    return {"n": len(ordered), "total": sum(ordered), "mean": round(statistics.fmean(ordered), 1),
            "p50": ordered[len(ordered) // 2], "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
            "max": ordered[-1]}


def version_id(train: list[dict], evals: list[dict], clean_config: dict, format_config: dict,
               preferences: list[dict] = ()) -> str:
    content = {"train": train, "eval": evals, "clean": clean_config, "format": format_config}
    if preferences:  # only when present, so versions without negatives keep their id
        content["preferences"] = list(preferences)
    return sha256_json(content)[:12]


# --------------------------------------------------------------------------------------------------
# Tokenizer: counting and fingerprint
# --------------------------------------------------------------------------------------------------


def token_counter(tokenizer) -> TokenCounter:
    """(tokens, trained assistant tokens) of a message list with the tokenizer's chat template applied
    (masked as training will mask it: lora_lib.models.masking).

    Memoized: rendering the template is the slow part, and the build asks for the same lists again.
    """
    import json

    cache: dict[str, tuple[int, int]] = {}

    def count(messages: list[dict]) -> tuple[int, int]:
        key = json.dumps(messages, ensure_ascii=False, sort_keys=True)
        if key not in cache:
            cache[key] = count_tokens(tokenizer, messages)
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


# --------------------------------------------------------------------------------------------------
# Scope: one character or a category
# --------------------------------------------------------------------------------------------------


def scope_key(p: Params) -> str:
    """Directory name under datasets/: the character id, or category-<name> for a category adapter."""
    return p.character_id if p.dataset.scope == "character" else f"category-{p.character.category}"


def scope_members(p: Params, params_dir: str | Path = "params") -> dict[str, Params]:
    """The characters whose data makes this dataset: just this one, or all of its category."""
    from .config import known_characters, load_params

    if p.dataset.scope == "character":
        return {p.character_id: p}
    out = {}
    for cid in known_characters(params_dir):
        other = p if cid == p.character_id else load_params(cid, params_dir=params_dir, overrides={"store": p.store})
        if other.character.category == p.character.category:
            out[cid] = other
    return out


# --------------------------------------------------------------------------------------------------
# Build, write, read
# --------------------------------------------------------------------------------------------------


def prepare(conversations: dict[str, list[dict]], system_prompts: dict[str, str], p: Params, count: TokenCounter,
            tokenizer_sha256: str, negatives: Sequence[dict] = ()) -> dict:
    """Everything a version holds, computed without I/O: records, splits, pairs, rejections, manifest body."""
    records, rejected = [], []
    for cid in sorted(conversations):
        for conv in conversations[cid]:
            rec = to_chatml(conv, system_prompts[cid], cid)
            if not any(m["role"] == "assistant" and m["content"] for m in rec["messages"]):
                rejected.append({"conversation_id": rec["conversation_id"], "character_id": cid,
                                 "reason": "no_assistant_turn", "messages": rec["messages"][1:]})
                continue
            chunks, rej = split_long(rec, count, p.train.max_length)
            records += chunks
            rejected += rej
    fmt = {"system_prompts": system_prompts, "seed": p.seed, "max_length": p.train.max_length,
           "tokenizer_sha256": tokenizer_sha256, "scope": p.dataset.scope, **p.dataset.model_dump()}
    # A path (the pairs themselves are hashed) and a threshold that changes no record.
    fmt.pop("negatives", None)
    fmt.pop("min_train_records", None)
    train, evals = split_records(records, p.seed, p.dataset.eval_fraction, p.dataset.gold_weight)
    pairs, neg_rejected = preference_pairs(negatives, system_prompts.get(p.character_id, ""), p.character_id) \
        if p.dataset.scope == "character" else ([], [{"reason": "negatives_unsupported_for_category_scope"}
                                                     for _ in negatives])
    rejected += [{**r, "stage": "preferences"} for r in neg_rejected]
    return {"train": train, "eval": evals, "preferences": pairs, "rejected": rejected, "format_config": fmt}


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
    vid = version_id(train, evals, p.clean.model_dump(), body["format_config"], pairs)
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
        "clean_config": p.clean.model_dump(), "format_config": body["format_config"],
        "config_sha256": {"clean": sha256_json(p.clean.model_dump()), "format": sha256_json(body["format_config"])},
    }
    _write_version(root, vid, {"train.jsonl": train, "eval.jsonl": evals, "preferences.jsonl": pairs,
                               "rejected.jsonl": body["rejected"]}, manifest)
    return verify_version(final)


def _write_version(root: Path, vid: str, files: dict[str, list[dict]], manifest: dict) -> None:
    """All files into a temp dir, their hashes into the manifest, then one atomic rename."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{vid}."))
    try:
        for name, rows in files.items():
            write_jsonl(tmp / name, rows)
        manifest["files_sha256"] = {name: sha256_file(tmp / name) for name in files}
        write_json(tmp / "manifest.json", manifest)
        for f in tmp.iterdir():
            f.chmod(0o444)  # immutable: a stray write fails instead of silently changing a version
        tmp.chmod(0o755)
        try:
            os.rename(tmp, root / vid)  # atomic; fails if another writer got there first
        except OSError:
            if not (root / vid / "manifest.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def verify_version(version_dir: str | Path) -> dict:
    """The manifest of a version after checking every file against the hashes it records."""
    version_dir = Path(version_dir)
    mpath = version_dir / "manifest.json"
    if not mpath.exists():
        raise DatasetError(f"{version_dir}: exists but has no manifest.json (a crashed or foreign write); "
                           "remove it by hand after checking, it is never overwritten")
    manifest = read_json(mpath)
    for name, digest in manifest.get("files_sha256", {}).items():
        path = version_dir / name
        if not path.exists() or sha256_file(path) != digest:
            raise DatasetError(f"{path}: does not match the sha256 in {mpath}; the version was modified "
                               "after it was written")
    return manifest


def latest_version(scope_dir: str | Path) -> str | None:
    """The newest complete version in a scope directory (by manifest created_at), or None."""
    found = []
    for m in Path(scope_dir).glob("*/manifest.json"):
        if not m.parent.name.startswith("."):
            found.append((read_json(m).get("created_at", ""), m.parent.name))
    return max(found)[1] if found else None


def find_version(store: str | Path, character_id: str, version: str) -> Path:
    """The directory of a version used by a character: its own scope, or a category containing it."""
    own = Path(store) / "datasets" / character_id / version
    if (own / "manifest.json").exists():
        return own
    for cand in sorted((Path(store) / "datasets").glob(f"category-*/{version}/manifest.json")):
        if character_id in read_json(cand).get("characters", []):
            return cand.parent
    raise FileNotFoundError(f"dataset version {character_id}/{version} not found under {Path(store) / 'datasets'}")


def load_version(store: str | Path, character_id: str, version: str) -> tuple[list[dict], list[dict], dict]:
    """(train, eval, manifest) of a dataset version; a clear error if it is missing or was modified."""
    root = find_version(store, character_id, version)
    manifest = verify_version(root)
    return read_jsonl(root / "train.jsonl"), read_jsonl(root / "eval.jsonl"), manifest


def load_preferences(store: str | Path, character_id: str, version: str) -> list[dict]:
    path = find_version(store, character_id, version) / "preferences.jsonl"
    return read_jsonl(path) if path.exists() else []


def read_negatives(path: str | Path | None) -> list[dict]:
    """Negative examples exported by monitoring (JSONL); none when the path is unset or absent."""
    if not path or not Path(path).exists():
        return []
    return read_jsonl(path)


def eval_prompts(evals: list[dict], n: int) -> list[list[dict]]:
    """Held-out prompts: each eval conversation up to its first user turn (with the system prompt)."""
    prompts = []
    for rec in evals:
        msgs = rec["messages"]
        first_user = next((i for i, m in enumerate(msgs) if m["role"] == "user"), None)
        if first_user is not None:
            prompts.append(msgs[: first_user + 1])
    return prompts[:n]


def formatted_samples(records: list[dict], tokenizer, n: int = 3) -> list[str]:
    """The first n records exactly as the model sees them (chat template applied, untokenized)."""
    return [tokenizer.apply_chat_template(r["messages"], tokenize=False) for r in records[:n]]


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


def record_lengths(records: list[dict], tokenizer) -> list[dict]:
    """Per record: tokens with the chat template applied, and how many of them are assistant tokens."""
    count = token_counter(tokenizer)
    return [dict(zip(("tokens", "assistant_tokens"), count(r["messages"]), strict=True)) for r in records]


def pairs_table(pairs: list[dict], n: int = 10) -> list[dict]:
    """Preference pairs as flat rows for a table: last user turn, chosen, rejected, why."""
    return [{"prompt": pr["prompt"][-1]["content"], "chosen": pr["chosen"][0]["content"],
             "rejected": pr["rejected"][0]["content"], "reason": pr.get("reason"),
             "from adapter": pr.get("adapter_version")} for pr in pairs[:n]]

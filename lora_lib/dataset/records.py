"""Pure functions on records: ChatML conversion, turn-boundary splits, the train/eval split,
preference pairs, token statistics, the content-addressed version id, and `prepare`, which
computes everything a version holds from them."""

from __future__ import annotations

import hashlib
import statistics
from collections.abc import Callable, Sequence

from ..config import Params
from ..store import sha256_json

# Counts tokens of a message list the way training will see them: (all tokens, assistant tokens).
TokenCounter = Callable[[list[dict]], tuple[int, int]]


class DatasetError(ValueError):
    """A dataset problem phrased for a person: which version/record/field and what is wrong."""


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


def _first_exchanges(evals: list[dict], n: int) -> list[tuple[list[dict], str | None]]:
    """(prompt, reply) of the first n eval conversations that have a user turn: the conversation up to its first
    user turn (with the system prompt), and the assistant turn right after it (None where there is none)."""
    out = []
    for rec in evals:
        msgs = rec["messages"]
        first_user = next((i for i, m in enumerate(msgs) if m["role"] == "user"), None)
        if first_user is not None:
            nxt = msgs[first_user + 1] if first_user + 1 < len(msgs) else None
            out.append((msgs[: first_user + 1], nxt["content"] if nxt and nxt["role"] == "assistant" else None))
    return out[:n]


def eval_prompts(evals: list[dict], n: int) -> list[list[dict]]:
    """Held-out prompts: each eval conversation up to its first user turn (with the system prompt)."""
    return [prompt for prompt, _ in _first_exchanges(evals, n)]


def eval_references(evals: list[dict], n: int) -> list[str | None]:
    """The held-out reply to each of eval_prompts(evals, n), in the same order: the assistant turn right after
    the prompt's user turn (None where the conversation has none). Written in the character's voice, it is
    what a fluent reply in that voice scores (evaluate.fluency.max_drop_vs_reference)."""
    return [reply for _, reply in _first_exchanges(evals, n)]


def pairs_table(pairs: list[dict], n: int = 10) -> list[dict]:
    """Preference pairs as flat rows for a table: last user turn, chosen, rejected, why."""
    return [{"prompt": pr["prompt"][-1]["content"], "chosen": pr["chosen"][0]["content"],
             "rejected": pr["rejected"][0]["content"], "reason": pr.get("reason"),
             "from adapter": pr.get("adapter_version")} for pr in pairs[:n]]

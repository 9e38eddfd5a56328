"""Clean whole conversations: PII masking, then every filter per exchange, with reasons.

An exchange is a user turn and the assistant turn answering it; if either is bad, both go, so a
kept conversation never has a reply without its question. Nothing is dropped silently: every
rejected turn or conversation gets a line with a reason and the source message ids, and the counts
always satisfy turns_in = turns_kept + turns_rejected and conversations_in = kept + rejected
(checked here).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

from ..config import CleanParams
from .language import language_reason
from .leakage import classifier_reason, leakage_reason
from .meta import meta_reason
from .pii import NamePolicy, redact
from .quality import quality_reason


@dataclass
class CleanResult:
    kept: list[dict]
    rejected: list[dict]
    stats: dict = field(default_factory=dict)
    pii_counts: Counter = field(default_factory=Counter)


def turn_reason(text: str, role: str, p: CleanParams, *, system_prompt: str, own_markers: Sequence[str],
                other_markers: Mapping[str, Sequence[str]], other_names: Mapping[str, str] | None = None,
                classifier=None, own_id: str = "") -> str | None:
    """The first reason to drop a turn, or None. Assistant turns also face meta and leakage checks."""
    reason = quality_reason(text, min_chars=p.min_chars, max_chars=p.max_chars, max_char_run=p.max_char_run,
                            spam_patterns=p.spam_patterns, repeat_sentence_max=p.repeat_sentence_max) \
        or language_reason(text, p.min_hangul_share)
    if reason or role != "assistant":
        return reason
    reason = meta_reason(text, p.meta_patterns, system_prompt)
    if not reason and p.leakage_check:
        reason = leakage_reason(text, own_markers, other_markers, other_names)
        if not reason and classifier is not None:
            reason = classifier_reason(text, own_id, classifier, p.leakage_min_prob)
    return reason


def _exchanges(messages: list[dict]) -> list[list[int]]:
    """Indices grouped as [system...], [user, assistant], [assistant], [user] (a trailing question)."""
    groups, i = [], 0
    while i < len(messages):
        role = messages[i]["role"]
        if role == "user" and i + 1 < len(messages) and messages[i + 1]["role"] == "assistant":
            groups.append([i, i + 1])
            i += 2
        else:
            groups.append([i])
            i += 1
    return groups


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class TurnContext:
    """Everything a single turn's cleaning depends on (picklable, so worker processes get a copy)."""

    params: CleanParams
    system_prompt: str = ""
    own_markers: tuple[str, ...] = ()
    other_markers: tuple[tuple[str, tuple[str, ...]], ...] = ()
    other_names: tuple[tuple[str, str], ...] = ()
    keep_values: tuple[str, ...] = ()
    classifier: object = None  # a leakage.StyleClassifier, or None
    own_id: str = ""

    @classmethod
    def make(cls, p: CleanParams, *, system_prompt: str = "", own_markers: Sequence[str] = (),
             other_markers: Mapping[str, Sequence[str]] | None = None, other_names: Mapping[str, str] | None = None,
             keep_values: Sequence[str] = (), classifier=None, own_id: str = "") -> TurnContext:
        return cls(p, system_prompt, tuple(own_markers),
                   tuple((k, tuple(v)) for k, v in (other_markers or {}).items()),
                   tuple((other_names or {}).items()), tuple(keep_values), classifier, own_id)


def clean_turn(role: str, text: str, ctx: TurnContext) -> tuple[str, list[str], str | None]:
    """One turn -> (masked text, PII labels found, reason to drop it or None). Pure."""
    red = redact(text, keep_values=ctx.keep_values, policy=NamePolicy.from_params(ctx.params))
    reason = None if role == "system" else turn_reason(
        red.text, role, ctx.params, system_prompt=ctx.system_prompt, own_markers=ctx.own_markers,
        other_markers=dict(ctx.other_markers), other_names=dict(ctx.other_names), classifier=ctx.classifier,
        own_id=ctx.own_id)
    return red.text, red.labels, reason


def _clean_chunk(args: tuple[list[tuple[str, str]], TurnContext]) -> list[tuple[str, list[str], str | None]]:
    turns, ctx = args
    return [clean_turn(role, text, ctx) for role, text in turns]


def clean_turns(turns: Sequence[tuple[str, str]], ctx: TurnContext, num_proc: int = 1, chunk: int = 2000,
                progress: bool = False) -> list[tuple[str, list[str], str | None]]:
    """clean_turn over (role, text) pairs, in order; num_proc > 1 spreads chunks over worker processes
    (the per-turn work is pure, so the result is the same as with one process). `progress` shows a bar
    (per chunk of turns) when there is more than one chunk."""
    from tqdm.auto import tqdm

    if num_proc > 1 and len(turns) > chunk:
        chunk = max(chunk, -(-len(turns) // (num_proc * 4)))  # a few big chunks per worker: less pickling
    chunks = [(list(turns[i:i + chunk]), ctx) for i in range(0, len(turns), chunk)]
    out: list[tuple[str, list[str], str | None]] = []
    with ExitStack() as stack:
        bar = stack.enter_context(tqdm(total=len(turns), desc="clean", unit="turn",
                                       disable=not progress or len(chunks) < 2))
        if num_proc <= 1 or len(chunks) < 2:
            parts = map(_clean_chunk, chunks)
        else:
            import multiprocessing as mp

            ctx_mp = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            parts = stack.enter_context(ctx_mp.Pool(num_proc)).imap(_clean_chunk, chunks)
        for part in parts:
            out += part
            bar.update(len(part))
    return out


def clean_conversation(conv: dict, p: CleanParams, *, system_prompt: str, own_markers: Sequence[str],
                       other_markers: Mapping[str, Sequence[str]], pii_counts: Counter,
                       other_names: Mapping[str, str] | None = None, keep_values: Sequence[str] = (),
                       seen_replies: Counter | None = None,
                       turn_results: Sequence[tuple[str, list[str], str | None]] | None = None
                       ) -> tuple[dict | None, list[dict]]:
    """One conversation -> (cleaned conversation or None, rejection lines).

    `seen_replies` counts assistant replies kept so far for this character: a reply already kept
    `max_duplicate_turns` times is a canned line and its exchange is rejected as duplicate:turn.
    `turn_results` (clean_turn of each message, e.g. computed in parallel) skips the per-turn work.
    """
    ref = {"stage": "clean", "conversation_id": conv["conversation_id"], "dataset_source": conv.get("dataset_source")}
    ids = conv.get("turn_message_ids") or [[] for _ in conv["messages"]]
    flags = sorted(set(conv.get("safety_flags") or []) & set(p.exclude_safety_flags))
    if flags:
        return None, [{**ref, "level": "conversation", "reason": f"safety:{flags[0]}",
                       "n_turns": len(conv["messages"]), "message_ids": [i for t in ids for i in t]}]
    if turn_results is None:
        ctx = TurnContext.make(p, system_prompt=system_prompt, own_markers=own_markers, other_markers=other_markers,
                               other_names=other_names, keep_values=keep_values)
        turn_results = [clean_turn(m["role"], m["content"], ctx) for m in conv["messages"]]
    messages, kept_ids, rejected = [], [], []
    for group in _exchanges(conv["messages"]):
        turns, reasons = [], []
        for i in group:
            text, labels, reason = turn_results[i]
            pii_counts.update(labels)
            turns.append({**conv["messages"][i], "content": text})
            reasons.append(reason)
        if len(turns) == 1 and turns[0]["role"] == "user" and not reasons[0]:
            reasons[0] = "no_reply"
        if seen_replies is not None and not any(reasons):
            for k, turn in enumerate(turns):
                if turn["role"] == "assistant" and seen_replies[_norm(turn["content"])] >= p.max_duplicate_turns:
                    reasons[k] = "duplicate:turn"
        first = next((r for r in reasons if r), None)
        if first is None:
            messages += turns
            kept_ids += [ids[i] for i in group]
            if seen_replies is not None:
                seen_replies.update(_norm(t["content"]) for t in turns if t["role"] == "assistant")
            continue
        for k, (i, turn) in enumerate(zip(group, turns, strict=True)):
            rejected.append({**ref, "level": "turn", "turn": i, "role": turn["role"],
                             "reason": reasons[k] or f"pair:{first}", "content": turn["content"][:200],
                             "message_ids": ids[i]})
    if not any(m["role"] == "assistant" for m in messages):
        kept_turns = len(messages)
        rejected += [{**ref, "level": "turn", "turn": None, "role": m["role"], "reason": "empty_after_clean",
                      "content": m["content"][:200], "message_ids": t}
                     for m, t in zip(messages, kept_ids, strict=True)]
        return None, rejected + [{**ref, "level": "conversation", "reason": "empty_after_clean",
                                   "n_turns": kept_turns}]
    out = {**conv, "messages": messages}
    if "turn_message_ids" in conv:
        out["turn_message_ids"] = kept_ids
    return out, rejected


def clean_conversations(conversations: Sequence[dict], p: CleanParams, *, system_prompt: str,
                        own_markers: Sequence[str], other_markers: Mapping[str, Sequence[str]],
                        other_names: Mapping[str, str] | None = None, keep_values: Sequence[str] = (),
                        num_proc: int = 1, classifier=None, own_id: str = "", progress: bool = False,
                        source=None, ray_address: str | None = None) -> CleanResult:
    """Clean every conversation; reject exact duplicate conversations; check the counts add up.

    `other_names` (character id -> name) and `keep_values` (names from the card that are not PII)
    are optional so callers with markers only keep working. `classifier` (a leakage.StyleClassifier)
    adds the classifier's leakage check for this character (`own_id`). With num_proc > 1 the per-turn work
    runs in worker processes first; with `p.executor == "ray"` it runs as Ray Data map_batches over
    `source` (the JSONL file(s) the conversations were read from; default: the conversations themselves)
    on the cluster at `ray_address` (ray_data.py). Duplicates are then decided in one ordered pass, so
    the result is identical to num_proc=1.
    """
    ctx = TurnContext.make(p, system_prompt=system_prompt, own_markers=own_markers, other_markers=other_markers,
                           other_names=other_names, keep_values=keep_values, classifier=classifier, own_id=own_id)
    if p.executor == "ray":
        from .ray_data import clean_turns_ray

        flat = clean_turns_ray(source or conversations, ctx, workers=p.ray_workers, batch_size=p.ray_batch_size,
                               address=ray_address, expected=[f"{c['conversation_id']}#{i}" for c in conversations
                                                              for i in range(len(c["messages"]))])
    else:
        flat = clean_turns([(m["role"], m["content"]) for c in conversations for m in c["messages"]], ctx,
                           num_proc, progress=progress)
    result, seen, replies, pos = CleanResult([], []), set(), Counter(), 0
    for conv in conversations:
        n = len(conv["messages"])
        cleaned, rejected = clean_conversation(conv, p, system_prompt=system_prompt, own_markers=own_markers,
                                               other_markers=other_markers, pii_counts=result.pii_counts,
                                               other_names=other_names, keep_values=keep_values,
                                               seen_replies=replies, turn_results=flat[pos:pos + n])
        pos += n
        if cleaned is not None:
            key = json.dumps(cleaned["messages"], ensure_ascii=False, sort_keys=True)
            if key in seen:
                rejected.append({"stage": "clean", "conversation_id": conv["conversation_id"], "level": "conversation",
                                 "dataset_source": conv.get("dataset_source"), "reason": "duplicate:conversation",
                                 "n_turns": len(cleaned["messages"]),
                                 "message_ids": [i for t in cleaned.get("turn_message_ids") or [] for i in t]})
                cleaned = None
            seen.add(key)
        result.rejected += rejected
        if cleaned is not None:
            result.kept.append(cleaned)
    result.stats = count_check(conversations, result)
    return result


def count_check(conversations: Sequence[dict], result: CleanResult) -> dict:
    """The stage's counts; raises if turns or conversations went missing."""
    turns_in = sum(len(c["messages"]) for c in conversations)
    turns_kept = sum(len(c["messages"]) for c in result.kept)
    # empty_after_clean conversations had their turns listed one by one; don't count them twice
    turns_rejected = sum(1 for r in result.rejected if r["level"] == "turn") + sum(
        r["n_turns"] for r in result.rejected if r["level"] == "conversation" and r["reason"] != "empty_after_clean")
    conv_rejected = sum(1 for r in result.rejected if r["level"] == "conversation")
    stats = {"conversations_in": len(conversations), "conversations_kept": len(result.kept),
             "conversations_rejected": conv_rejected, "turns_in": turns_in, "turns_kept": turns_kept,
             "turns_rejected": turns_rejected, "reasons": dict(Counter(r["reason"] for r in result.rejected)),
             "pii_masked": dict(result.pii_counts)}
    if turns_in != turns_kept + turns_rejected or len(conversations) != len(result.kept) + conv_rejected:
        raise AssertionError(f"clean lost records: {stats}")
    return stats

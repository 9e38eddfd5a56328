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
from dataclasses import dataclass, field

from ..config import CleanParams
from .language import language_reason
from .leakage import leakage_reason
from .meta import meta_reason
from .pii import redact
from .quality import quality_reason


@dataclass
class CleanResult:
    kept: list[dict]
    rejected: list[dict]
    stats: dict = field(default_factory=dict)
    pii_counts: Counter = field(default_factory=Counter)


def turn_reason(text: str, role: str, p: CleanParams, *, system_prompt: str, own_markers: Sequence[str],
                other_markers: Mapping[str, Sequence[str]], other_names: Mapping[str, str] | None = None
                ) -> str | None:
    """The first reason to drop a turn, or None. Assistant turns also face meta and leakage checks."""
    reason = quality_reason(text, min_chars=p.min_chars, max_chars=p.max_chars, max_char_run=p.max_char_run,
                            spam_patterns=p.spam_patterns, repeat_sentence_max=p.repeat_sentence_max) \
        or language_reason(text, p.min_hangul_share)
    if reason or role != "assistant":
        return reason
    reason = meta_reason(text, p.meta_patterns, system_prompt)
    if not reason and p.leakage_check:
        reason = leakage_reason(text, own_markers, other_markers, other_names)
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


def clean_conversation(conv: dict, p: CleanParams, *, system_prompt: str, own_markers: Sequence[str],
                       other_markers: Mapping[str, Sequence[str]], pii_counts: Counter,
                       other_names: Mapping[str, str] | None = None, keep_values: Sequence[str] = (),
                       seen_replies: Counter | None = None) -> tuple[dict | None, list[dict]]:
    """One conversation -> (cleaned conversation or None, rejection lines).

    `seen_replies` counts assistant replies kept so far for this character: a reply already kept
    `max_duplicate_turns` times is a canned line and its exchange is rejected as duplicate:turn.
    """
    ref = {"conversation_id": conv["conversation_id"], "dataset_source": conv.get("dataset_source")}
    ids = conv.get("turn_message_ids") or [[] for _ in conv["messages"]]
    flags = sorted(set(conv.get("safety_flags") or []) & set(p.exclude_safety_flags))
    if flags:
        return None, [{**ref, "level": "conversation", "reason": f"safety:{flags[0]}",
                       "n_turns": len(conv["messages"]), "message_ids": [i for t in ids for i in t]}]
    messages, kept_ids, rejected = [], [], []
    for group in _exchanges(conv["messages"]):
        turns = [dict(conv["messages"][i]) for i in group]
        reasons = []
        for turn in turns:
            red = redact(turn["content"], keep_values=keep_values)
            pii_counts.update(red.labels)
            turn["content"] = red.text
            reasons.append(None if turn["role"] == "system" else turn_reason(
                turn["content"], turn["role"], p, system_prompt=system_prompt, own_markers=own_markers,
                other_markers=other_markers, other_names=other_names))
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
                        other_names: Mapping[str, str] | None = None, keep_values: Sequence[str] = ()
                        ) -> CleanResult:
    """Clean every conversation; reject exact duplicate conversations; check the counts add up.

    `other_names` (character id -> name) and `keep_values` (names from the card that are not PII)
    are optional so callers with markers only keep working.
    """
    result, seen, replies = CleanResult([], []), set(), Counter()
    for conv in conversations:
        cleaned, rejected = clean_conversation(conv, p, system_prompt=system_prompt, own_markers=own_markers,
                                               other_markers=other_markers, pii_counts=result.pii_counts,
                                               other_names=other_names, keep_values=keep_values,
                                               seen_replies=replies)
        if cleaned is not None:
            key = json.dumps(cleaned["messages"], ensure_ascii=False, sort_keys=True)
            if key in seen:
                rejected.append({"conversation_id": conv["conversation_id"], "level": "conversation",
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

"""Chat logs: message documents -> one character's conversations, opt-in only.

Keeps messages whose user opted in at or before the message time and has not asked for deletion;
groups them by chat in time order; a user's own nickname/id typed in chat becomes {{user}}.
Files and live cursors go through one code path (collect_messages), which checks that every
document read ends up in exactly one place before anything is returned.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bson import ObjectId

from ..clean.pii import mask_known_values
from ..config import CollectParams
from .consent import consent_reason, load_users, user_ref
from .deletion import load_deletion_requests
from .readers import CollectError, _as_datetime, iter_export, iter_mongo, mongo_query


@dataclass
class CollectResult:
    conversations: list[dict]
    rejected: list[dict]  # one line per excluded message, with a reason
    quarantine: list[dict]  # documents that could not be read: file, line, error
    stats: dict = field(default_factory=dict)


# ---- messages -----------------------------------------------------------------------------------

_ID_TYPES = (str, int, ObjectId)


def read_message(doc: dict, p: CollectParams) -> tuple[dict | None, str | None]:
    """Validate one message document -> (message, error naming the field)."""
    f = p.fields
    for key in (f.chat_id, f.character_id, f.user_id, f.role, f.content, f.created_at):
        if doc.get(key) is None:
            return None, f"missing field {key!r}"
    for key in (f.chat_id, f.character_id, f.user_id, f.role):
        if not isinstance(doc[key], _ID_TYPES) or isinstance(doc[key], bool):
            return None, f"field {key!r} is {type(doc[key]).__name__}, not a string or id"
    content = doc[f.content]
    if not isinstance(content, str):
        return None, f"field {f.content!r} is {type(content).__name__}, not a string"
    if len(content) > p.max_message_chars:
        return None, f"field {f.content!r} has {len(content):,} characters, over collect.max_message_chars=" \
                     f"{p.max_message_chars:,}"
    # A date must be a BSON date ({"$date": ...}); a plain string is a schema error, not a date.
    created = _as_datetime(doc[f.created_at]) if not isinstance(doc[f.created_at], str) else None
    if created is None:
        return None, f"field {f.created_at!r} is {type(doc[f.created_at]).__name__}, not a date"
    role = p.roles.get(str(doc[f.role]))
    if role is None:
        return None, f"field {f.role!r} has unknown role {doc[f.role]!r}"
    flags = doc.get(f.safety_flags) or []
    if not isinstance(flags, list) or not all(isinstance(x, str) for x in flags):
        return None, f"field {f.safety_flags!r} is not a list of strings"
    return {"message_id": str(doc.get(f.id, "")), "chat_id": str(doc[f.chat_id]),
            "character_id": str(doc[f.character_id]), "user_id": str(doc[f.user_id]), "role": role,
            "content": content, "created_at": created, "safety_flags": list(flags)}, None


def group_conversations(messages: list[dict], users: dict[str, dict], salt: str) -> list[dict]:
    """Messages of one character -> conversation records (time order, same-role runs merged).

    `turn_message_ids` runs parallel to `messages`: the source documents of each turn, so a later
    rejection can name the documents it came from.
    """
    by_chat: dict[str, list[dict]] = defaultdict(list)
    for m in messages:
        by_chat[m["chat_id"]].append(m)
    out = []
    for chat_id in sorted(by_chat):
        msgs = sorted(by_chat[chat_id], key=lambda m: (m["created_at"], m["message_id"]))
        uid = msgs[0]["user_id"]
        user = users.get(uid, {})
        known = [str(v) for v in (user.get("nickname"), user.get("profile_name"), uid) if v]
        turns: list[dict] = []
        ids: list[list[str]] = []
        for m in msgs:
            text = mask_known_values(m["content"], known)
            if turns and turns[-1]["role"] == m["role"]:
                turns[-1]["content"] += "\n" + text
                ids[-1].append(m["message_id"])
            else:
                turns.append({"role": m["role"], "content": text})
                ids.append([m["message_id"]])
        out.append({"conversation_id": chat_id, "character_id": msgs[0]["character_id"],
                    "dataset_source": "chat_log", "timestamp": msgs[0]["created_at"].isoformat(),
                    "user_ref": user_ref(uid, salt), "consent": True, "messages": turns, "style_tags": [],
                    "safety_flags": sorted({f for m in msgs for f in m["safety_flags"]}),
                    "source_message_ids": [m["message_id"] for m in msgs], "turn_message_ids": ids})
    return out


def collect_messages(docs: Iterable[tuple[int, dict | None, str | None]], source: str, users: dict[str, dict],
                     character_id: str, p: CollectParams, deleted: set[str] = frozenset(), *,
                     since: datetime | None = None, until: datetime | None = None) -> CollectResult:
    """The one code path for files and live cursors: (line, doc, error) triples -> a CollectResult.

    Checks that documents read = kept + rejected + quarantined + other characters + out of range.
    """
    kept, rejected, quarantine = [], [], []
    other = out_of_range = read = 0
    for lineno, doc, err in docs:
        read += 1
        msg = None
        if doc is not None and err is None:
            msg, err = read_message(doc, p)
        if err:
            doc_id = doc.get(p.fields.id) if isinstance(doc, dict) else None
            quarantine.append({"stage": "collect", "file": source, "line": lineno, "error": err,
                               "document_id": None if doc_id is None else str(doc_id)})
            continue
        if msg["character_id"] != character_id:
            other += 1
            continue
        if (since and msg["created_at"] < since) or (until and msg["created_at"] >= until):
            out_of_range += 1
            continue
        reason = consent_reason(msg, users, deleted)
        if reason:
            # No user id and no text in the reason file: only what finds the source document.
            rejected.append({"stage": "collect", "message_id": msg["message_id"], "chat_id": msg["chat_id"],
                             "reason": reason,
                             "user_ref": user_ref(msg["user_id"], p.salt), "file": source, "line": lineno})
        else:
            kept.append(msg)
    conversations = group_conversations(kept, users, p.salt)
    stats = {"documents_read": read, "messages_for_character": len(kept) + len(rejected),
             "messages_kept": len(kept), "messages_rejected": len(rejected), "other_characters": other,
             "out_of_time_range": out_of_range, "quarantined": len(quarantine),
             "conversations": len(conversations), "users": len({c["user_ref"] for c in conversations}),
             # the user's own nickname/profile name/id typed in chat, now {{user}} (PII the clean stage never sees)
             "user_values_masked": sum(m["content"].count("{{user}}") for c in conversations for m in c["messages"])
             - sum(m["content"].count("{{user}}") for m in kept),
             "reasons": dict(Counter(r["reason"] for r in rejected))}
    if read != len(kept) + len(rejected) + len(quarantine) + other + out_of_range:
        raise AssertionError(f"collect lost documents: {stats}")
    return CollectResult(conversations, rejected, quarantine, stats)


def collect_chat_logs(messages_path: str | Path, users_path: str | Path, character_id: str, p: CollectParams,
                      deletion_requests_path: str | Path | None = None) -> CollectResult:
    """Read the message export file for one character; every excluded message gets a reason."""
    user_quarantine: list[dict] = []
    users = load_users(users_path, p, user_quarantine)
    deleted = load_deletion_requests(deletion_requests_path)
    res = collect_messages(iter_export(messages_path, p.max_document_bytes), str(messages_path), users,
                           character_id, p, deleted, since=_utc(p.since), until=_utc(p.until))
    res.stats["users_quarantined"] = len(user_quarantine)
    res.quarantine += user_quarantine
    return res


def _utc(dt: datetime | None) -> datetime | None:
    return None if dt is None else (dt if dt.tzinfo else dt.replace(tzinfo=UTC))


def collect_from_mongo(character_id: str, p: CollectParams, deletion_requests_path: str | Path | None = None
                       ) -> CollectResult:
    """Same as collect_chat_logs, reading a live MongoDB (collect.mongo: uri, database, collections).

    Only this character's messages in [collect.since, collect.until) are fetched (the filter runs on
    the server); the same checks run client-side.
    """
    m = p.mongo
    since, until = _utc(p.since), _utc(p.until)
    if m is None:
        raise CollectError("collect.mongo is not set: give uri, database, messages and users collections")
    user_quarantine: list[dict] = []
    users = load_users(iter_mongo(m.uri, m.database, m.users_collection), p, user_quarantine)
    deleted = load_deletion_requests(deletion_requests_path)
    docs = iter_mongo(m.uri, m.database, m.messages_collection, mongo_query(p, character_id, since, until))
    res = collect_messages(docs, f"mongodb:{m.database}.{m.messages_collection}", users, character_id, p,
                           deleted, since=since, until=until)
    res.stats["users_quarantined"] = len(user_quarantine)
    res.quarantine += user_quarantine
    return res

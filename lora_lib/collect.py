"""Collect: production exports -> one character's conversations, opt-in only.

Reads mongoexport files (JSON lines or --jsonArray, canonical or relaxed Extended JSON) with
pymongo's bson.json_util; keeps messages whose user opted in at or before the message time and
has not asked for deletion; groups them by chat in time order; hashes user ids. Raw user ids and
nicknames never leave this module: a user's own nickname/id typed in chat becomes {{user}} here.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bson import json_util

from .clean.pii import mask_known_values
from .config import CollectParams


@dataclass
class CollectResult:
    conversations: list[dict]
    rejected: list[dict]  # one line per excluded message, with a reason
    quarantine: list[dict]  # documents that could not be read: file, line, error
    stats: dict = field(default_factory=dict)


def user_ref(user_id: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{user_id}".encode()).hexdigest()[:16]


def iter_export(path: str | Path) -> Iterator[tuple[int, dict | None, str | None]]:
    """Yield (line, document, error) for a mongoexport file; a bad document is an error, not a crash."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"export file not found: {path}")
    with open(path, "rb") as fh:
        head = fh.read(64).lstrip()
    if head.startswith(b"["):
        # --jsonArray: one JSON document. TODO(issue 4): stream arrays of several GB.
        try:
            docs = json_util.loads(path.read_bytes().decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            yield 1, None, f"not a valid JSON array: {exc}"
            return
        for i, doc in enumerate(docs, 1):
            yield (i, doc, None) if isinstance(doc, dict) else (i, None, "array element is not a document")
        return
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if not raw.strip():
                continue
            try:
                doc = json_util.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                yield lineno, None, f"not UTF-8: {exc}"
                continue
            except (ValueError, TypeError) as exc:
                yield lineno, None, f"not valid Extended JSON: {exc}"
                continue
            yield (lineno, doc, None) if isinstance(doc, dict) else (lineno, None, "line is not a document")


def _as_datetime(value) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return None


def load_users(path: str | Path, p: CollectParams) -> dict[str, dict]:
    """user id -> {nickname, opt_in, opt_in_at}; unreadable user documents mean no consent."""
    f = p.user_fields
    users = {}
    for _, doc, _err in iter_export(path):
        if doc is None or f.id not in doc:
            continue
        users[str(doc[f.id])] = {"nickname": doc.get(f.nickname), "opt_in": doc.get(f.opt_in) is True,
                                 "opt_in_at": _as_datetime(doc.get(f.opt_in_at))}
    return users


def load_deletion_requests(path: str | Path | None) -> set[str]:
    if not path or not Path(path).exists():
        return set()
    out = set()
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    out.add(str(json.loads(line)["user_id"]))
                except (ValueError, KeyError) as exc:
                    raise ValueError(f"{path}:{lineno}: bad deletion request ({exc})") from None
    return out


def _read_message(doc: dict, p: CollectParams) -> tuple[dict | None, str | None]:
    """Validate one message document -> (message, error naming the field)."""
    f = p.fields
    for key in (f.chat_id, f.character_id, f.user_id, f.role, f.content, f.created_at):
        if doc.get(key) is None:
            return None, f"missing field {key!r}"
    if not isinstance(doc[f.content], str):
        return None, f"field {f.content!r} is {type(doc[f.content]).__name__}, not a string"
    # A date must be a BSON date ({"$date": ...}); a plain string is a schema error, not a date.
    created = _as_datetime(doc[f.created_at]) if not isinstance(doc[f.created_at], str) else None
    if created is None:
        return None, f"field {f.created_at!r} is {type(doc[f.created_at]).__name__}, not a date"
    role = p.roles.get(str(doc[f.role]))
    if role is None:
        return None, f"field {f.role!r} has unknown role {doc[f.role]!r}"
    return {"message_id": str(doc.get(f.id, "")), "chat_id": str(doc[f.chat_id]),
            "character_id": str(doc[f.character_id]), "user_id": str(doc[f.user_id]), "role": role,
            "content": doc[f.content], "created_at": created,
            "safety_flags": list(doc.get(f.safety_flags) or [])}, None


def consent_reason(msg: dict, users: dict[str, dict], deleted: set[str]) -> str | None:
    """Why a message may not be used for training, or None when its user opted in before it."""
    if msg["user_id"] in deleted:
        return "deletion_request"
    user = users.get(msg["user_id"])
    if user is None:
        return "unknown_user"
    if not user["opt_in"]:
        return "no_consent"
    if user["opt_in_at"] is None or user["opt_in_at"] > msg["created_at"]:
        return "before_opt_in"
    return None


def group_conversations(messages: list[dict], users: dict[str, dict], salt: str) -> list[dict]:
    """Messages of one character -> conversation records (time order, same-role runs merged)."""
    by_chat: dict[str, list[dict]] = defaultdict(list)
    for m in messages:
        by_chat[m["chat_id"]].append(m)
    out = []
    for chat_id in sorted(by_chat):
        msgs = sorted(by_chat[chat_id], key=lambda m: (m["created_at"], m["message_id"]))
        uid = msgs[0]["user_id"]
        known = [v for v in (users.get(uid, {}).get("nickname"), uid) if v]
        turns: list[dict] = []
        for m in msgs:
            text = mask_known_values(m["content"], known)
            if turns and turns[-1]["role"] == m["role"]:
                turns[-1]["content"] += "\n" + text
            else:
                turns.append({"role": m["role"], "content": text})
        out.append({"conversation_id": chat_id, "character_id": msgs[0]["character_id"],
                    "dataset_source": "chat_log", "timestamp": msgs[0]["created_at"].isoformat(),
                    "user_ref": user_ref(uid, salt), "consent": True, "messages": turns, "style_tags": [],
                    "safety_flags": sorted({f for m in msgs for f in m["safety_flags"]}),
                    "source_message_ids": [m["message_id"] for m in msgs]})
    return out


def collect_chat_logs(messages_path: str | Path, users_path: str | Path, character_id: str, p: CollectParams,
                      deletion_requests_path: str | Path | None = None) -> CollectResult:
    """Read the message export for one character; every excluded message gets a reason."""
    users = load_users(users_path, p)
    deleted = load_deletion_requests(deletion_requests_path)
    kept, rejected, quarantine = [], [], []
    other = 0
    for lineno, doc, err in iter_export(messages_path):
        if doc is not None:
            msg, err = _read_message(doc, p)
        if err:
            quarantine.append({"file": str(messages_path), "line": lineno, "error": err,
                               "document_id": str(doc.get(p.fields.id)) if doc else None})
            continue
        if msg["character_id"] != character_id:
            other += 1
            continue
        reason = consent_reason(msg, users, deleted)
        if reason:
            # No user id and no text in the reason file: only what finds the source document.
            rejected.append({"message_id": msg["message_id"], "chat_id": msg["chat_id"], "reason": reason,
                             "user_ref": user_ref(msg["user_id"], p.salt)})
        else:
            kept.append(msg)
    conversations = group_conversations(kept, users, p.salt)
    stats = {"messages_for_character": len(kept) + len(rejected), "messages_kept": len(kept),
             "messages_rejected": len(rejected), "other_characters": other, "quarantined": len(quarantine),
             "conversations": len(conversations), "users": len({c["user_ref"] for c in conversations}),
             "reasons": dict(Counter(r["reason"] for r in rejected))}
    return CollectResult(conversations, rejected, quarantine, stats)


def read_gold(path: str | Path, character_id: str) -> list[dict]:
    """Author-written dialogues for one character as conversation records (source "gold")."""
    out = []
    if not Path(path).exists():
        return out
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if rec["character_id"] != character_id:
                    continue
                messages = [{"role": m["role"], "content": m["content"]} for m in rec["messages"]]
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{lineno}: bad gold dialogue ({exc!r})") from None
            out.append({"conversation_id": f"gold:{rec.get('dialogue_id', lineno)}", "character_id": character_id,
                        "dataset_source": "gold", "timestamp": None, "user_ref": None, "consent": True,
                        "messages": messages, "style_tags": ["gold"], "safety_flags": []})
    return out


def read_card(path: str | Path, character_id: str) -> dict | None:
    """The character card document (systemPrompt, lorebook, exampleDialogues, category) or None."""
    for _, doc, _err in iter_export(path):
        if doc and str(doc.get("_id")) == character_id:
            return doc
    return None


def card_conversations(card: dict | None, character_id: str) -> list[dict]:
    """The card's example dialogues as conversation records (source "character_card")."""
    out = []
    for i, dialogue in enumerate((card or {}).get("exampleDialogues") or []):
        messages = dialogue.get("messages") if isinstance(dialogue, dict) else dialogue
        if not isinstance(messages, list):
            continue
        msgs = [{"role": "assistant" if m.get("role") in ("character", "assistant") else m.get("role"),
                 "content": m.get("content", "")} for m in messages if isinstance(m, dict)]
        out.append({"conversation_id": f"card:{character_id}:{i}", "character_id": character_id,
                    "dataset_source": "character_card", "timestamp": None, "user_ref": None, "consent": True,
                    "messages": msgs, "style_tags": ["card"], "safety_flags": []})
    return out

"""Collect: production exports -> one character's conversations, opt-in only.

Reads mongoexport files in every form mongoexport writes (JSON lines or --jsonArray, canonical or
relaxed Extended JSON) with pymongo's bson.json_util, streaming: documents are read one at a time,
so an export of several GB never sits in memory whole. A live MongoDB (pymongo cursor) goes
through the same per-document code path. Keeps messages whose user opted in at or before the
message time and has not asked for deletion; groups them by chat in time order; hashes user ids.
Raw user ids and nicknames never leave this module: a user's own nickname/id typed in chat
becomes {{user}} here. Every document read ends up in exactly one place -- kept, rejected (with a
reason), quarantined (with file, line and error) or counted as another character's -- and the
counts are checked before anything is returned.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bson import ObjectId, json_util
from bson.json_util import JSONOptions

from .clean.pii import mask_known_values
from .config import CollectParams

# Dates come back timezone-aware in UTC, whichever form ($date string or $numberLong) they had.
_JSON_OPTIONS = JSONOptions(tz_aware=True, tzinfo=UTC)
_CHUNK = 1 << 20
# Bytes that change the array scanner's state; everything else is skipped in bulk.
_ARRAY_TOKENS = re.compile(rb'["\\{}\[\]\n]')


class CollectError(ValueError):
    """An input problem that stops collection (not a single bad document): names file and line."""


@dataclass
class CollectResult:
    conversations: list[dict]
    rejected: list[dict]  # one line per excluded message, with a reason
    quarantine: list[dict]  # documents that could not be read: file, line, error
    stats: dict = field(default_factory=dict)


def user_ref(user_id: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{user_id}".encode()).hexdigest()[:16]


# ---- reading exports ----------------------------------------------------------------------------

def decode_document(raw: bytes | str, max_bytes: int) -> tuple[dict | None, str | None]:
    """One document's bytes -> (document, error); never raises."""
    if len(raw) > max_bytes:
        return None, f"document is {len(raw):,} bytes, over collect.max_document_bytes={max_bytes:,}"
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, f"not UTF-8: byte {raw[exc.start]:#04x} at offset {exc.start}"
    try:
        doc = json_util.loads(raw, json_options=_JSON_OPTIONS)
    except Exception as exc:  # noqa: BLE001 - bson raises many types (InvalidId, InvalidBSON, RecursionError…)
        return None, f"not valid Extended JSON ({type(exc).__name__}): {str(exc)[:200]}"
    if not isinstance(doc, dict):
        return None, f"not a document but a JSON {type(doc).__name__}"
    return doc, None


def _gap_error(gap: bytes) -> str | None:
    junk = gap.strip(b" \t\r\n,")
    return f"unexpected text between documents: {junk[:60]!r}" if junk else None


def _iter_array(fh, max_bytes: int, line: int = 1, array: bool = True
                ) -> Iterator[tuple[int, bytes | None, str | None]]:
    """Stream the elements of a JSON array (fh is just past its '['): (line, bytes, structural error).
    With array=False, stream concatenated documents instead (mongoexport --pretty without --jsonArray).

    A small scanner follows strings and nesting so each element is cut out without parsing the
    whole array; a broken element is still cut at its closing brace and only it is quarantined
    (a missing brace can take the following elements with it: JSON lines isolate errors better).
    An element over max_bytes is skipped without being held in memory.
    """
    depth, in_str, esc_at = 0, False, -1
    buf: list[bytes] = []
    buf_len, too_big, start_line, gap = 0, False, line, b""
    while chunk := fh.read(_CHUNK):
        seg = 0  # where the part of this chunk not yet handed on starts
        for m in _ARRAY_TOKENS.finditer(chunk):
            i, c = m.start(), chunk[m.start()]
            if c == 0x0A:
                line += 1
                continue
            if i == esc_at:  # the byte after a backslash inside a string
                continue
            if in_str:
                if c == 0x5C:
                    esc_at = i + 1
                elif c == 0x22:
                    in_str = False
                continue
            if c == 0x22:
                in_str = True
            elif c in (0x7B, 0x5B):  # { [
                if depth == 0:
                    if err := _gap_error(gap + chunk[seg:i]):
                        yield line, None, err
                    seg, start_line, buf, buf_len, too_big, gap = i, line, [], 0, False, b""
                depth += 1
            elif depth == 0:  # ] closes the array; a stray } or ] is junk between documents
                closes = array and c == 0x5D
                if err := _gap_error(gap + chunk[seg:i + (not closes)]):
                    yield line, None, err
                if closes:
                    return
                seg, gap = i + 1, b""
            else:
                depth -= 1
                if depth == 0:
                    piece = chunk[seg:i + 1]
                    if too_big or buf_len + len(piece) > max_bytes:
                        yield start_line, None, f"document is over collect.max_document_bytes={max_bytes:,} bytes"
                    else:
                        yield start_line, b"".join(buf) + piece, None
                    seg, buf, buf_len, too_big = i + 1, [], 0, False
        esc_at = 0 if esc_at == len(chunk) else -1
        rest = chunk[seg:]
        if depth > 0:
            buf_len += len(rest)
            if buf_len > max_bytes:
                too_big, buf = True, []
            elif not too_big:
                buf.append(rest)
        else:
            gap = (gap + rest)[-4096:]  # only needed to name junk; never the size of the file
    if depth:
        yield start_line, None, "export ends inside a document (truncated file?)"
    elif array:
        yield line, None, "export ends before the array is closed (truncated file?)"
    elif err := _gap_error(gap):
        yield line, None, err


def _iter_lines(fh, max_bytes: int) -> Iterator[tuple[int, bytes | None, str | None]]:
    """JSON lines, one document per line; a line over max_bytes is skipped in chunks, never held whole."""
    lineno = 0
    while True:
        raw = fh.readline(max_bytes + 1)
        if not raw:
            return
        lineno += 1
        if len(raw) > max_bytes and not raw.endswith(b"\n"):
            size = len(raw)
            while (more := fh.readline(_CHUNK)) and not more.endswith(b"\n"):
                size += len(more)
            size += len(more)
            yield lineno, None, f"document is over collect.max_document_bytes={max_bytes:,} bytes ({size:,} bytes)"
        elif raw.strip():
            yield lineno, raw, None


def iter_export(path: str | Path, max_bytes: int = 1 << 20) -> Iterator[tuple[int, dict | None, str | None]]:
    """Yield (line, document, error) for a mongoexport file, streaming; a bad document is an error, not a crash.

    JSON lines (the default of mongoexport) and --jsonArray are told apart by the first byte;
    --pretty output (a document over several lines, "{" alone on the first) is read as a stream of
    documents. In JSON lines a broken document costs only its line.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"export file not found: {path}")
    with open(path, "rb") as fh:
        head = fh.read(4096)
        body = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
        stripped = body.lstrip()
        if stripped.startswith(b"["):
            offset = len(head) - len(stripped) + 1
            fh.seek(offset)
            yield from ((ln, *decode_document(raw, max_bytes)) if err is None else (ln, None, err)
                        for ln, raw, err in _iter_array(fh, max_bytes, line=1 + head[:offset].count(b"\n")))
            return
        fh.seek(len(head) - len(body))
        pretty = body.split(b"\n", 1)[0].strip() == b"{"
        chunks = _iter_array(fh, max_bytes, array=False) if pretty else _iter_lines(fh, max_bytes)
        for lineno, raw, err in chunks:
            yield (lineno, None, err) if err else (lineno, *decode_document(raw, max_bytes))


def iter_mongo(uri: str, database: str, collection: str, query: dict | None = None, *,
               batch_size: int = 1000) -> Iterator[tuple[int, dict | None, str | None]]:
    """Documents from a live MongoDB through pymongo, shaped like iter_export (line = position).

    The query is sent to the server (use mongo_query to filter by character and time range), and
    the cursor streams in batches, so a big collection is never loaded whole.
    """
    from pymongo import MongoClient

    client = MongoClient(uri, tz_aware=True, tzinfo=UTC)
    try:
        cursor = client[database][collection].find(query or {}, batch_size=batch_size)
        for i, doc in enumerate(cursor, 1):
            yield i, doc, None
    finally:
        client.close()


def mongo_query(p: CollectParams, character_id: str | None = None, since: datetime | None = None,
                until: datetime | None = None) -> dict:
    """The server-side filter for one character's messages in [since, until), with the configured field names."""
    q: dict = {}
    if character_id is not None:
        q[p.fields.character_id] = character_id
    if since is not None or until is not None:
        q[p.fields.created_at] = {k: v for k, v in (("$gte", since), ("$lt", until)) if v is not None}
    return q


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


# ---- users and deletion requests ------------------------------------------------------------------

def load_users(source: str | Path | Iterable, p: CollectParams, quarantine: list | None = None) -> dict[str, dict]:
    """user id -> {nickname, profile_name, opt_in, opt_in_at}. A user document that cannot be read means no consent
    for that user; it is listed in `quarantine` when given."""
    f = p.user_fields
    users = {}
    docs = iter_export(source, p.max_document_bytes) if isinstance(source, str | Path) else source
    for lineno, doc, err in docs:
        if err is None and doc.get(f.id) is None:
            err = f"missing field {f.id!r}"
        if err is None and doc.get(f.opt_in) is not None and not isinstance(doc.get(f.opt_in), bool):
            err = f"field {f.opt_in!r} is {type(doc[f.opt_in]).__name__}, not a boolean"
        if err:
            if quarantine is not None:
                quarantine.append({"stage": "collect", "file": str(source) if isinstance(source, str | Path) else "users",
                                   "line": lineno, "error": err, "kind": "user"})
            continue
        users[str(doc[f.id])] = {"nickname": doc.get(f.nickname), "profile_name": doc.get(f.profile_name),
                                 "opt_in": doc.get(f.opt_in) is True,
                                 "opt_in_at": _as_datetime(doc.get(f.opt_in_at))}
    return users


def load_deletion_requests(path: str | Path | None) -> set[str]:
    """User ids from the deletion-requests file (JSON lines with "user_id"); a bad line stops the run,
    because skipping a deletion request silently would train on data we promised to delete."""
    if not path or not Path(path).exists():
        return set()
    out = set()
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    out.add(str(json.loads(line)["user_id"]))
                except (ValueError, KeyError, TypeError) as exc:
                    raise CollectError(f"{path}:{lineno}: bad deletion request ({exc!r}); fix it before collecting") \
                        from None
    return out


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


def consent_reason(msg: dict, users: dict[str, dict], deleted: set[str]) -> str | None:
    """Why a message may not be used for training, or None when its user opted in at or before it."""
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


# ---- gold dialogues and character cards -------------------------------------------------------------

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
                raise CollectError(f"{path}:{lineno}: bad gold dialogue ({exc!r})") from None
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


# ---- deletion requests: `lora forget --user ID` -----------------------------------------------------

def add_deletion_request(path: str | Path, user_id: str, requested_at: datetime | None = None) -> bool:
    """Append a request to the deletion-requests file (atomically); False if the user was already there."""
    from .store import atomic_write_text

    user_id = str(user_id).strip()
    if not user_id:
        raise ValueError("a deletion request needs a non-empty user id")
    path = Path(path)
    if user_id in load_deletion_requests(path):
        return False
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    when = (requested_at or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z")
    atomic_write_text(path, old + json.dumps({"user_id": user_id, "requested_at": when}) + "\n")
    return True


def _sorted_dicts(rows):
    return sorted(rows, key=lambda d: tuple(str(v) for v in d.values()))


def forget_user(user_id: str, *, store: str | Path, salt: str, requests_path: str | Path,
                registry_url: str | None = None, actor: str = "lora forget") -> dict:
    """Honour a deletion request: record it (future collects exclude the user), list every dataset
    version and adapter built with the user's data, and mark those adapters `needs_retrain` in the
    registry when one exists. Returns a report (also written under <store>/deletions/)."""
    from .store import write_json

    ref = user_ref(user_id, salt)
    added = add_deletion_request(requests_path, user_id)
    store = Path(store)
    datasets = _sorted_dicts(
        {"character_id": m.parent.parent.name, "version": m.parent.name, "path": str(m.parent)}
        for m in store.glob("datasets/*/*/manifest.json") if ref in (_read(m).get("user_refs") or []))
    affected = {(d["character_id"], d["version"]) for d in datasets}
    adapters = _sorted_dicts(
        {"character_id": r.parent.parent.name, "version": r.parent.name, "path": str(r.parent),
         "dataset_version": _read(r).get("dataset_version")}
        for r in store.glob("adapters/*/*/record.json")
        if (r.parent.parent.name, _read(r).get("dataset_version")) in affected)
    flagged = []
    if registry_url and _registry_exists(registry_url):
        from .registry import Registry

        registry = Registry(registry_url)
        for row in registry.list_adapters():
            if (row["character_id"], row["dataset_version"]) in affected and row["status"] != "needs_retrain":
                registry.set_status(row["character_id"], row["version"], "needs_retrain", actor=actor,
                                    reason=f"deletion request for user_ref {ref}")
                flagged.append({"character_id": row["character_id"], "version": row["version"],
                                "previous_status": row["status"]})
    report = {"user_ref": ref, "request_added": added, "requests_file": str(requests_path),
              "datasets": datasets, "adapters": adapters, "registry_flagged": flagged,
              "registry": registry_url if registry_url and _registry_exists(registry_url) else None,
              "at": datetime.now(UTC).isoformat()}
    # The report names the user only by user_ref: it may be shared with reviewers.
    write_json(store / "deletions" / f"{ref}.json", report)
    return report


def _read(path: Path) -> dict:
    from .store import read_json

    return read_json(path)


def _registry_exists(url: str) -> bool:
    """A SQLite registry exists when its file does; any other database URL is assumed to exist."""
    if url.startswith("sqlite:///"):
        db = url[len("sqlite:///"):]
        return db not in ("", ":memory:") and Path(db).exists()
    return True

"""Writing the world in production formats: mongoexport Extended JSON lines and plain JSON lines."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bson import json_util
from bson.json_util import CANONICAL_JSON_OPTIONS, RELAXED_JSON_OPTIONS

from .chats import _Chat, _Msg


def _write_lines(path: Path, lines: list[str]) -> int:
    """Write atomically: a temp file in the same folder, then os.replace (never a half file)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.writelines(line + "\n" for line in lines)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(lines)


def _ejson(doc: dict, canonical: bool) -> str:
    # mongoexport writes compact, unescaped UTF-8; relaxed dates are ISO strings, canonical are
    # {"$date": {"$numberLong": ...}}: collect must read both.
    options = CANONICAL_JSON_OPTIONS if canonical else RELAXED_JSON_OPTIONS
    return json_util.dumps(doc, json_options=options, ensure_ascii=False, separators=(",", ":"))


def _plain_json(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _message_doc(chat: _Chat, msg: _Msg) -> dict:
    doc = {
        "_id": msg.oid,
        "chatId": chat.chat_id,
        "characterId": chat.character_id,
        "userId": chat.user_id,
        "role": "user" if msg.role == "user" else chat.bot_role,
        "content": msg.content,
        "createdAt": msg.created,
    }
    if msg.flags is not None:
        doc["safetyFlags"] = msg.flags
    return doc

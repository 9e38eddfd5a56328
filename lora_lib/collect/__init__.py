"""Collect: production exports -> one character's conversations, opt-in only.

Reads mongoexport files in every form mongoexport writes (JSON lines or --jsonArray, canonical or
relaxed Extended JSON) with pymongo's bson.json_util, streaming: documents are read one at a time,
so an export of several GB never sits in memory whole. A live MongoDB (pymongo cursor) goes
through the same per-document code path. Keeps messages whose user opted in at or before the
message time and has not asked for deletion; groups them by chat in time order; hashes user ids.
Raw user ids and nicknames never leave this package: a user's own nickname/id typed in chat
becomes {{user}} here. Every document read ends up in exactly one place -- kept, rejected (with a
reason), quarantined (with file, line and error) or counted as another character's -- and the
counts are checked before anything is returned.

- readers.py    mongoexport files and a live MongoDB -> (line, document, error), streaming
- consent.py    users' opt-in, the consent filter, user_ref
- chat_logs.py  message documents -> conversations, with the document balance checked
- cards.py      gold dialogues and character cards
- deletion.py   the deletion-requests file and `lora forget --user ID`
"""

from .cards import card_conversations, read_card, read_gold
from .chat_logs import (
    CollectResult,
    collect_chat_logs,
    collect_from_mongo,
    collect_messages,
    group_conversations,
    read_message,
)
from .consent import consent_reason, load_users, user_ref
from .deletion import add_deletion_request, forget_user, load_deletion_requests
from .readers import CollectError, decode_document, iter_export, iter_mongo, mongo_query

__all__ = [
    "CollectError", "CollectResult", "add_deletion_request", "card_conversations", "collect_chat_logs",
    "collect_from_mongo", "collect_messages", "consent_reason", "decode_document", "forget_user",
    "group_conversations", "iter_export", "iter_mongo", "load_deletion_requests", "load_users", "mongo_query",
    "read_card", "read_gold", "read_message", "user_ref",
]

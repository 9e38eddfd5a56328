"""Consent: who opted in when, and why a message may not be used for training.

Users' documents become {nickname, profile_name, opt_in, opt_in_at}; user ids leave collect only
as `user_ref`, a salted hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from ..config import CollectParams
from .readers import _as_datetime, iter_export


def user_ref(user_id: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{user_id}".encode()).hexdigest()[:16]


# ---- users -------------------------------------------------------------------------------------

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

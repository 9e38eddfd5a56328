"""Chats of every character in the export window, their messages' times and ObjectIds."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bson.objectid import ObjectId

from .cards import CHARACTER_IDS
from .dialogue import _dialogue
from .users import WINDOW_DAYS, WINDOW_START, _User


@dataclass
class _Msg:
    role: str  # "user" | "assistant" (exported as the chat's bot role)
    content: str
    flags: list[str] | None = None  # exported as safetyFlags when not None
    planted: bool = False  # already carries a hazard or decoy: do not plant again
    oid: ObjectId | None = None
    created: datetime | None = None


@dataclass
class _Chat:
    chat_id: str
    character_id: str
    user_id: str
    start: datetime
    bot_role: str  # "character", or "assistant" for chats from an older app version
    messages: list[_Msg] = field(default_factory=list)


def _make_chats(rng: random.Random, users: list[_User], per_character: int) -> list[_Chat]:
    """Chats of every character; each user gets at least one chat, some users chat a lot."""
    weights = [rng.choice((1, 1, 2, 3, 5)) for _ in users]
    window_s = WINDOW_DAYS * 86400 - 3600  # leave an hour so every message stays in the window
    chats = []
    for i in range(per_character * len(CHARACTER_IDS)):
        character_id = CHARACTER_IDS[i % len(CHARACTER_IDS)]
        user = users[i] if i < len(users) else rng.choices(users, weights)[0]
        chat = _Chat(
            chat_id=f"{rng.getrandbits(96):024x}",
            character_id=character_id,
            user_id=user.user_id,
            start=WINDOW_START + timedelta(milliseconds=rng.randrange(window_s * 1000)),
            bot_role="assistant" if rng.random() < 0.05 else "character",
        )
        chat.messages = [
            _Msg(m["role"], m["content"]) for m in _dialogue(character_id, rng, flavor=character_id)
        ]
        chats.append(chat)
    return chats


def _cut_between_chats(chats: list[_Chat]) -> datetime:
    """A time between two of the user's chats (starts > 2 h apart), about half of them on each side.

    Chats last minutes, so a cut an hour after one start and an hour before the next never
    splits a chat: "before opt-in" is then a per-chat fact.
    """
    starts = sorted(c.start for c in chats)
    gaps = [k for k in range(1, len(starts)) if starts[k] - starts[k - 1] > timedelta(hours=2)]
    if not gaps:
        raise ValueError("optin_after user has no two chats far enough apart")
    k = min(gaps, key=lambda k: abs(k - len(starts) / 2))
    cut = starts[k - 1] + (starts[k] - starts[k - 1]) / 2
    return cut.replace(microsecond=0)


def _finalize_times(chats: list[_Chat], rng: random.Random) -> None:
    """Seconds apart, in order: replies come 2-8 s after the user, users answer 10-90 s later."""
    for chat in chats:
        t = chat.start
        for i, msg in enumerate(chat.messages):
            if i:
                lo, hi = (2000, 8000) if msg.role == "assistant" else (10000, 90000)
                t += timedelta(milliseconds=rng.randrange(lo, hi))
            msg.created = t
            msg.oid = _object_id(t, rng)


def _object_id(t: datetime, rng: random.Random) -> ObjectId:
    # A real ObjectId starts with its creation second; the rest is random (here: seeded).
    return ObjectId(int(t.timestamp()).to_bytes(4, "big") + rng.getrandbits(64).to_bytes(8, "big"))

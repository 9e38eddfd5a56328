"""Users of the export window: nicknames, sign-up times and training opt-in."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

WINDOW_START = datetime(2026, 3, 2, tzinfo=UTC)
WINDOW_DAYS = 28
N_USERS = 40
N_OPTED_OUT = 10  # ~25% never opted in

_NICK_ADJ = (
    "졸린",
    "행복한",
    "용감한",
    "수줍은",
    "배고픈",
    "반짝이는",
    "느긋한",
    "엉뚱한",
    "조용한",
    "씩씩한",
)
_NICK_NOUN = ("펭귄", "고래", "다람쥐", "토끼", "여우", "곰돌이", "부엉이", "햄스터", "수달", "판다")
_NICK_LATIN = (
    "moonlight_07",
    "coffee_holic",
    "sky_walker92",
    "mint_choco",
    "dreamer_j",
    "lazy_sunday",
    "pixel_cat",
    "blue_note",
    "rainy_day3",
    "star_dust",
)


@dataclass
class _User:
    user_id: str
    nickname: str
    opt_in: bool
    opt_in_at: datetime | None
    created_at: datetime


def _make_users(rng: random.Random) -> list[_User]:
    korean = [a + b for a in _NICK_ADJ for b in _NICK_NOUN]
    nicks = rng.sample(korean, N_USERS - 8) + rng.sample(_NICK_LATIN, 8)
    rng.shuffle(nicks)
    opted_out = set(rng.sample(range(N_USERS), N_OPTED_OUT))
    users = []
    for i, nick in enumerate(nicks):
        created = datetime(2025, 3, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(300 * 86400))
        opt_in = i not in opted_out
        # Most opt-ins happen at sign-up or a little later, always before the export window.
        opt_in_at = None
        if opt_in:
            opt_in_at = min(
                created + timedelta(seconds=rng.randrange(60 * 86400)), WINDOW_START - timedelta(days=1)
            )
        users.append(_User(f"u{rng.getrandbits(40):010x}", nick, opt_in, opt_in_at, created))
    return users

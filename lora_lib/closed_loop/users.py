"""The closed loop's synthetic users: who writes next, how they rate what they read, and whether they leave.

They judge a reply with their own reading, not with the monitor's scorers (no style-marker regex, no base
model): a reader who has read the character's clean lines
- hears the voice in the sentence endings it is used to (the last syllables of the clean assistant
  sentences that end at least `min_ending_share` of them), and finds a reply off voice when fewer than half
  of its sentences end that way;
- finds a reply broken when most of its Hangul syllable pairs are ones it has never read (in the
  character's lines or the users' turns);
- finds a reply generic when it has already read that same reply (from this character, any version);
- finds a reply off topic when it takes up nothing of what the user wrote: no Hangul syllable pair of the
  prompt, and (for a prompt it has read in the clean chats) nothing of what the clean replies to it opened
  with. Pairs in more than `common_share` of the clean replies (the voice's endings, stock phrases) carry
  no topic and are left out of both tests.
A bad read gets more thumbs-down, fewer thumbs-up, and the user leaves more often; a user who left stays
away for `away_for` requests. Seeded: the same run gives the same users.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Sequence

_SENTENCE = re.compile(r"[^.!?~…\n]+")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _endings(text: str) -> list[str]:
    out = []
    for s in _SENTENCE.findall(text):
        syll = _HANGUL.findall(s)
        if syll:
            out.append(syll[-1])
    return out


def _pairs(text: str) -> list[str]:
    return [a + b for w in text.split() for a, b in zip(_HANGUL.findall(w), _HANGUL.findall(w)[1:], strict=False)]


def _opening(text: str) -> str:
    """The reply's first sentence: where a reply takes the prompt up."""
    first = _SENTENCE.findall(text)
    return first[0] if first else text


class Reader:
    """What a user who knows the character finds wrong in a reply: off voice, broken, generic, off topic."""

    def __init__(self, clean_lines: Sequence[str], other_lines: Sequence[str] = (), min_ending_share: float = 0.1,
                 exchanges: Sequence[tuple[str, str]] = (), common_share: float = 0.05):
        """clean_lines: the character's own lines (its voice); other_lines: everyday text it has also read
        (the users' turns), so plain Korean is not "broken", only off voice; exchanges: (user turn, reply)
        pairs of the clean chats, what replies to each prompt are about (none: topic is not judged)."""
        ends = Counter(e for t in clean_lines for e in _endings(t))
        total = sum(ends.values()) or 1
        self.voice = {e for e, c in ends.items() if c / total >= min_ending_share}
        self.known_pairs = {p for t in (*clean_lines, *other_lines) for p in _pairs(t)}
        in_replies = Counter(p for _, r in exchanges for p in set(_pairs(r)))
        self.common = {p for p, c in in_replies.items() if c / max(1, len(exchanges)) > common_share}
        self.topics: dict[str, set[str]] = {}
        for prompt, reply in exchanges:
            self.topics.setdefault(prompt.strip(), set()).update(set(_pairs(_opening(reply))) - self.common)
        self.judges_topic = bool(exchanges)

    def on_topic(self, prompt: str, reply: str) -> bool:
        """Whether the reply takes up the prompt (see the module docstring)."""
        said = set(_pairs(reply)) - self.common
        return bool(said & set(_pairs(prompt))) or bool(
            set(_pairs(_opening(reply))) & self.topics.get(prompt.strip(), set()))

    def faults(self, reply: str, already_read: bool, prompt: str | None = None) -> list[str]:
        out = []
        ends = _endings(reply or "")
        if not ends or sum(e in self.voice for e in ends) / len(ends) < 0.5:
            out.append("off voice")
        pairs = _pairs(reply or "")
        if pairs and sum(p not in self.known_pairs for p in pairs) / len(pairs) > 0.5:
            out.append("broken")
        if already_read:
            out.append("generic")
        if prompt is not None and self.judges_topic and not self.on_topic(prompt, reply or ""):
            out.append("off topic")
        return out


class SyntheticUsers:
    def __init__(self, n_users: int, reader: Reader, seed: int = 0, away_for: int = 150,
                 leave_bad: float = 0.5, leave_good: float = 0.08):
        self.rng = random.Random(seed)
        self.reader = reader
        # the seed is in the names: the router buckets users by name, so another seed puts other users on the
        # candidate (seed 0 keeps the names the monitor stage's replay uses)
        self.users = [f"sim-user-{i}" if seed == 0 else f"sim-user-s{seed}-{i}" for i in range(n_users)]
        self.away_until: dict[str, int] = {}
        self.read: dict[str, set[str]] = {}
        self.away_for, self.leave_bad, self.leave_good = away_for, leave_bad, leave_good

    def next_user(self, i: int) -> str:
        """Who writes request i: one of the users who are not away (everyone when all are)."""
        here = [u for u in self.users if self.away_until.get(u, -1) <= i] or self.users
        return here[self.rng.randrange(len(here))]

    def react(self, user: str, reply: str, i: int, prompt: str | None = None) -> dict:
        """{"rating": "up" | "down" | None, "leaves": bool, "faults": [...]} after reading the reply to `prompt`
        (None: its topic is not judged)."""
        seen = self.read.setdefault(user, set())
        faults = self.reader.faults(reply, (reply or "").strip() in seen, prompt)
        seen.add((reply or "").strip())
        r = self.rng.random()
        if faults:
            rating = "down" if r < 0.5 else ("up" if r > 0.95 else None)
        else:
            rating = "up" if r < 0.3 else ("down" if r > 0.97 else None)
        leaves = self.rng.random() < (self.leave_bad if faults else self.leave_good)
        if leaves:
            self.away_until[user] = i + 1 + self.away_for
        return {"rating": rating, "leaves": leaves, "faults": faults}

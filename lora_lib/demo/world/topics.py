"""Dialogue content: topics -> user prompts (shared by every style) and reply ideas.

The table is data/topics.json. Per topic: fixed user `prompts` and topic `ideas` (each idea written
[animal, polite, hao], the three registers of a `_Line`, see styles.py), and the slotted part that
makes replies depend on what the user said: `slots` (the topic's words: 떡볶이, 김밥, ...),
`slot_prompts` (user turns with a `{x}` slot) and `answers` (reply lines in the three registers
that take the same word up again). `{x:이/가}` fills the word with the particle its last syllable
needs (떡볶이가, 김밥이).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import NamedTuple

from .styles import _Line

_TOPICS_PATH = Path(__file__).parent / "data" / "topics.json"


class _Topic(NamedTuple):
    prompts: tuple[str, ...]
    ideas: tuple[_Line, ...]
    slots: tuple[str, ...] = ()
    slot_prompts: tuple[str, ...] = ()
    answers: tuple[_Line, ...] = ()


def _load_topics(path: Path) -> dict[str, _Topic]:
    table = json.loads(path.read_text(encoding="utf-8"))
    return {name: _Topic(tuple(t["prompts"]), tuple(_Line(*idea) for idea in t["ideas"]),
                         tuple(t.get("slots", ())), tuple(t.get("slot_prompts", ())),
                         tuple(_Line(*a) for a in t.get("answers", ())))
            for name, t in table.items()}


_SLOT = re.compile(r"\{x(?::([^/}]+)/([^}]+))?\}")


def _final_consonant(word: str) -> int:
    """0 when the last syllable has no final consonant, 8 for ㄹ, else its jongseong index."""
    ch = word[-1]
    return (ord(ch) - 0xAC00) % 28 if "\uac00" <= ch <= "\ud7a3" else 0


def _fill(template: str, word: str) -> str:
    """`template` with every `{x}` / `{x:after-consonant/after-vowel}` replaced by `word` + particle."""
    def sub(m: re.Match) -> str:
        if m.group(1) is None:
            return word
        jong = _final_consonant(word)
        with_consonant, with_vowel = m.group(1), m.group(2)
        if with_consonant == "으로" and jong == 8:  # 길로, not 길으로
            return word + with_vowel
        return word + (with_consonant if jong else with_vowel)
    return _SLOT.sub(sub, template)


def _fill_line(line: _Line, word: str) -> _Line:
    return _Line(_fill(line.animal, word), _fill(line.polite, word), _fill(line.hao, word), line.question)


_TOPICS: dict[str, _Topic] = _load_topics(_TOPICS_PATH)
TOPIC_NAMES: tuple[str, ...] = tuple(_TOPICS)

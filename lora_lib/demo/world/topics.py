"""Dialogue content: topics -> user prompts (shared by every style) and reply ideas.

The table is data/topics.json: per topic its user prompts and its reply ideas, each idea written
[animal, polite, hao], the three registers of a `_Line` (see styles.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

from .styles import _Line

_TOPICS_PATH = Path(__file__).parent / "data" / "topics.json"


class _Topic(NamedTuple):
    prompts: tuple[str, ...]
    ideas: tuple[_Line, ...]


def _load_topics(path: Path) -> dict[str, _Topic]:
    table = json.loads(path.read_text(encoding="utf-8"))
    return {name: _Topic(tuple(t["prompts"]), tuple(_Line(*idea) for idea in t["ideas"]))
            for name, t in table.items()}


_TOPICS: dict[str, _Topic] = _load_topics(_TOPICS_PATH)
TOPIC_NAMES: tuple[str, ...] = tuple(_TOPICS)

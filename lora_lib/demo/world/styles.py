"""Speech styles: one sentence idea in three registers (`_Line`) and how each style renders it."""

from __future__ import annotations

import random
from typing import NamedTuple


class _Line(NamedTuple):
    """One sentence idea in three registers, without final punctuation.

    `animal` is a 반말 stem that takes the animal suffix ("좋다" -> "좋다냥!"); `polite` is neutral
    ~요/~습니다 Korean; `hao` is 하오체 and must end in 하오/이오/구려/시오 so the marker regex sees it.
    """

    animal: str
    polite: str
    hao: str
    question: bool = False


def _own(text: str, question: bool = False) -> _Line:
    """A line that exists in one register only (character flavour); used only with its own style."""
    return _Line(text, text, text, question)


_L = _Line  # short name for the long sentence tables


class _Style(NamedTuple):
    form: str  # which _Line field to use
    suffix: str  # appended to every sentence before its punctuation
    statement_punct: tuple[str, ...]


_STYLES: dict[str, _Style] = {
    "nabi": _Style("animal", "냥", ("!", "~", ".", "!", "~~")),
    "bori": _Style("animal", "멍", ("!", "!!", ".", "~")),
    "seonbi": _Style("hao", "", (".", ".", "!")),
    "polite": _Style("polite", "", (".", ".", "!")),
    "banmal": _Style("animal", "", (".", "!", "~", ".")),  # plain 반말: how users talk
}


def _render(line: _Line, style: str, rng: random.Random) -> str:
    st = _STYLES[style]
    punct = "?" if line.question else rng.choice(st.statement_punct)
    return getattr(line, st.form) + st.suffix + punct

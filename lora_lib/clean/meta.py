"""Meta talk: a character that says it is an AI or quotes its instructions breaks the persona."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from .quality import any_of


@lru_cache(maxsize=64)
def _prompt_pieces(system_prompt: str, min_overlap: int) -> tuple[str, ...]:
    prompt = re.sub(r"\s+", " ", system_prompt)
    if len(prompt) < min_overlap:
        return ()
    return tuple(prompt[i:i + min_overlap] for i in range(0, len(prompt) - min_overlap + 1, 5))


def meta_reason(text: str, patterns: Sequence[str], system_prompt: str = "", min_overlap: int = 20) -> str | None:
    """'meta:pattern' for AI/prompt talk, 'meta:system_prompt' for a verbatim quote of it, else None."""
    meta = any_of(tuple(patterns))
    if meta is not None and meta.search(text):
        return "meta:pattern"
    pieces = _prompt_pieces(system_prompt, min_overlap)
    if pieces:
        flat = re.sub(r"\s+", " ", text)
        if any(piece in flat for piece in pieces):
            return "meta:system_prompt"
    return None

"""Meta talk: a character that says it is an AI or quotes its instructions breaks the persona."""

from __future__ import annotations

import re
from collections.abc import Sequence


def meta_reason(text: str, patterns: Sequence[str], system_prompt: str = "", min_overlap: int = 20) -> str | None:
    """'meta:pattern' for AI/prompt talk, 'meta:system_prompt' for a verbatim quote of it, else None."""
    if any(re.search(p, text, re.IGNORECASE) for p in patterns):
        return "meta:pattern"
    prompt = re.sub(r"\s+", " ", system_prompt)
    flat = re.sub(r"\s+", " ", text)
    if len(prompt) >= min_overlap and any(
            prompt[i:i + min_overlap] in flat for i in range(0, len(prompt) - min_overlap + 1, 5)):
        return "meta:system_prompt"
    return None

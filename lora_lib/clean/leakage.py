"""Cross-character leakage: a line filed under one character that reads like another."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence


def marker_rate(text: str, markers: Sequence[str]) -> float:
    """Share of sentences ending with one of the style markers (regexes)."""
    from .quality import sentences

    sents = sentences(text)
    if not sents:
        return 0.0
    return sum(1 for s in sents if any(re.search(m, s) for m in markers)) / len(sents)


def leakage_reason(text: str, own_markers: Sequence[str], others: Mapping[str, Sequence[str]]) -> str | None:
    """'leakage:<other>' when another character's markers dominate and this one's are absent."""
    if marker_rate(text, own_markers) > 0:
        return None
    best = max(others.items(), key=lambda kv: marker_rate(text, kv[1]), default=None)
    if best and marker_rate(text, best[1]) >= 0.5:
        return f"leakage:{best[0]}"
    return None

"""Persona metrics: does the reply sound like the character?"""

from __future__ import annotations

import re
from collections.abc import Sequence


def has_style_marker(reply: str, markers: Sequence[str]) -> bool:
    return any(re.search(m, reply or "") for m in markers)


def style_marker_rate(replies: Sequence[str], markers: Sequence[str]) -> float:
    """Share of replies with at least one of the character's style markers."""
    return sum(has_style_marker(r, markers) for r in replies) / len(replies) if replies else 0.0

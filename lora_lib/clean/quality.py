"""Quality filters for one turn: too short/long, spam, character runs, repeated sentences."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

_SENTENCE = re.compile(r"[^.!?~\n]+[.!?~]*")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def quality_reason(text: str, *, min_chars: int, max_chars: int, max_char_run: int,
                   spam_patterns: Sequence[str], repeat_sentence_max: int) -> str | None:
    """The first quality problem of a turn as a machine-readable reason, or None if it is fine."""
    stripped = text.strip()
    # Bare jamo ("ㅇㅇ", "ㅋㅋ") are reactions, not content: they do not count toward the minimum.
    if len(re.sub(r"[\s\W_\u3131-\u318e]", "", stripped)) < min_chars:
        return "too_short"
    if len(stripped) > max_chars:
        return "too_long"
    if any(re.search(p, stripped, re.IGNORECASE) for p in spam_patterns):
        return "spam:pattern"
    if re.search(rf"(.)\1{{{max_char_run},}}", stripped):
        return "spam:char_run"
    lines = [line.strip() for line in stripped.split("\n") if line.strip()]
    if len(lines) != len(set(lines)):  # the same message sent twice in a row (merged into one turn)
        return "repetition:duplicate_message"
    counts = Counter(sentences(stripped))
    if counts and counts.most_common(1)[0][1] > repeat_sentence_max:
        return "repetition:sentence"
    return None

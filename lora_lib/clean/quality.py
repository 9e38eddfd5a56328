"""Quality filters for one turn: too short/long, spam, character runs, repeated sentences."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

_SENTENCE = re.compile(r"[^.!?~\n]+[.!?~]*")
# Bare jamo ("ㅇㅇ", "ㅋㅋ") are reactions, not content: they do not count toward the minimum.
_NOT_CONTENT = re.compile(r"[\s\W_\u3131-\u318e]")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


@lru_cache(maxsize=64)
def any_of(patterns: tuple[str, ...], flags: int = re.IGNORECASE) -> re.Pattern | None:
    """One compiled alternation for a list of configured regexes (None for an empty list)."""
    return re.compile("|".join(f"(?:{p})" for p in patterns), flags) if patterns else None


@lru_cache(maxsize=16)
def _char_run(n: int) -> re.Pattern:
    return re.compile(rf"(.)\1{{{n},}}")


def quality_reason(text: str, *, min_chars: int, max_chars: int, max_char_run: int,
                   spam_patterns: Sequence[str], repeat_sentence_max: int) -> str | None:
    """The first quality problem of a turn as a machine-readable reason, or None if it is fine."""
    stripped = text.strip()
    if len(_NOT_CONTENT.sub("", stripped)) < min_chars:
        return "too_short"
    if len(stripped) > max_chars:
        return "too_long"
    spam = any_of(tuple(spam_patterns))
    if spam is not None and spam.search(stripped):
        return "spam:pattern"
    if _char_run(max_char_run).search(stripped):
        return "spam:char_run"
    if "\n" in stripped:
        lines = [line.strip() for line in stripped.split("\n") if line.strip()]
        if len(lines) != len(set(lines)):  # the same message sent twice in a row (merged into one turn)
            return "repetition:duplicate_message"
    counts = Counter(sentences(stripped))
    if counts and counts.most_common(1)[0][1] > repeat_sentence_max:
        return "repetition:sentence"
    return None

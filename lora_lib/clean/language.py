"""Language policy by script share: Korean-only by default."""

from __future__ import annotations

import re

_HANGUL = re.compile(r"[\uac00-\ud7a3\u3131-\u318e]")
_LETTER = re.compile(r"[^\W\d_]")


def hangul_share(text: str) -> float:
    """Share of letters that are Hangul (jamo like ㅋㅋ count); 1.0 when there are no letters."""
    letters = _LETTER.findall(text)
    if not letters:
        return 1.0
    return len(_HANGUL.findall("".join(letters))) / len(letters)


def language_reason(text: str, min_hangul_share: float) -> str | None:
    return "language:not_korean" if hangul_share(text) < min_hangul_share else None

"""The policy's public side of person names (clean.pii_names = "private"): a gazetteer figure talked about
as such, a character of a known work, a line about media with nothing private in it. names.py asks these
before it masks a name."""

from __future__ import annotations

import re

from .name_patterns import _MEDIA, _PRIVATE_AFTER, _PRIVATE_CONTEXT, _PRIVATE_LINE, _PUBLIC_CONTEXT
from .public_figures import MEDIA_TITLES, PUBLIC_FIGURES_KO, PUBLIC_FIGURES_LATIN


def _public(name: str, text: str, start: int, end: int) -> bool:
    """A gazetteer figure talked about as such: no private relation named right next to it, and
    for a short (given-name-like) entry a public context word in the line or another gazetteer
    figure of three syllables or more ("춘향이랑 이몽룡 얘기"). A candidate that starts a gazetteer
    entry counts as that entry ("연산" of "연산군")."""
    if name not in PUBLIC_FIGURES_KO:
        longer = [text[start:end + k] for k in (1, 2) if text[start:end + k] in PUBLIC_FIGURES_KO]
        if not longer:
            return False
        name = longer[-1]
    if _PRIVATE_CONTEXT.search(text, max(0, start - 40), start) or _PRIVATE_AFTER.match(text, end):
        return False
    if len(name) >= 3 or _PUBLIC_CONTEXT.search(text):
        return True
    words = re.findall(r"(?<![가-힣])[가-힣]{3,5}", text[max(0, start - 60):end + 60])
    return any(w[:k] in PUBLIC_FIGURES_KO and w[:k] != name for w in words for k in (3, 4, 5) if k <= len(w))


def _character_talk(text: str) -> bool:
    """A line about a drama, film or comic, with no private relation or contact detail in it."""
    return bool(_MEDIA.search(text)) and not _PRIVATE_LINE.search(text)


def _title_talk(text: str, s: int, e: int) -> bool:
    """A known work is named near the name ("슬램덩크 강백호") and no private relation stands right before it."""
    near = text[max(0, s - 80):e + 80]
    if not any(t in near for t in MEDIA_TITLES):
        return False
    m = _PRIVATE_CONTEXT.search(text, max(0, s - 40), s)  # "짱구 엄마 이름 봉미선": a name word alone is no relation
    return not m or bool(re.match(r"(?:이름|성함|존함|성명|본명|실명)", m.group()))


def _public_latin(name: str) -> bool:
    return name.lower().replace("-", "").replace(" ", "") in PUBLIC_FIGURES_LATIN

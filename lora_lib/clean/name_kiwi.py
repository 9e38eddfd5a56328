"""Kiwi (kiwipiepy), the Korean morphological analyzer, as the name rules (names.py) read it: loaded once
per process on first use, run only on a short window around a candidate, its tokens cached per window."""

from __future__ import annotations

import threading
from functools import lru_cache

_kiwi = None
_kiwi_lock = threading.Lock()


def _analyzer():
    """Kiwi, loaded once per process on first use (about 1.5 s and 100 MB); warnings about the
    num_workers default of older versions are silenced."""
    global _kiwi
    if _kiwi is None:
        with _kiwi_lock:
            if _kiwi is None:
                import warnings

                from kiwipiepy import Kiwi

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    _kiwi = Kiwi(num_workers=0)  # one thread, no pool: cheapest per call and safe to fork
    return _kiwi


# Kiwi gives a word it does not know the generic morpheme of its tag (ids below this): an unknown
# word shaped like surname + given name is most likely a name ("박서연" -> NNG #2, "도서관" -> NNG #3026).
_OOV_ID = 64


@lru_cache(maxsize=65536)
def _tags(window: str) -> tuple[tuple[int, int, str], ...]:
    """Kiwi's tokens in a short window: (start, end, tag), adjacent proper nouns merged ("남궁"+"민수");
    an unknown word's tag is "OOV"."""
    out: list[tuple[int, int, str]] = []
    for t in _analyzer().tokenize(window):
        tag = "OOV" if t.id < _OOV_ID and t.tag.startswith("NN") else t.tag
        if tag in ("NNP", "OOV") and all("가" <= c <= "힣" for c in t.form):
            if out and out[-1][2] in ("NNP", "OOV") and out[-1][1] == t.start:
                out[-1] = (out[-1][0], t.start + t.len, "NNP")
                continue
            tag = "NNP" if tag == "NNP" else "OOV"
        out.append((t.start, t.start + t.len, tag))
    return tuple(out)


def _kiwi_says(text: str, s: int, e: int) -> str:
    """"NNP" when Kiwi reads text[s:e] (or its start) as a proper noun, "oov" as a word it does not know,
    "word" as an ordinary word, "" otherwise. Kiwi sees only a window around the candidate: its cost
    grows with the text."""
    w0 = max(0, s - 10)
    window = text[w0:min(len(text), e + 8)]
    if e - s == 2 and _suffix_i(window, e - w0):
        return "NNP"  # "서진이한테", "태윤이네": Kiwi reads the friendly 이 after a given name as a suffix
    for ts, te, tag in _tags(window):
        ts, te, tag = ts + w0, te + w0, tag.split("-")[0]  # "VV-I": an irregular verb is a verb
        if ts == s and tag == "NNP" and te >= s + 2:
            return "NNP"
        if ts == s and tag == "OOV" and te >= s + 2:
            return "oov"
        if ts <= s < te or s <= ts < e:
            if tag in ("NNG", "VV", "VA", "MAG", "NP", "NR", "MM", "XR", "NNB", "IC", "VX") and te - ts >= 2:
                return "word"
            if ts == s and tag in ("VV", "VA", "VX"):  # "이름 지어줘": a verb stem, however short
                return "word"
    return ""


def _hangul_at(text: str, i: int) -> bool:
    return i < len(text) and "가" <= text[i] <= "힣"


def _suffix_i(window: str, i: int) -> bool:
    return any(ts == i and tag == "XSN" and window[ts:te] == "이" for ts, te, tag in _tags(window))


def _one_word(text: str, s: int, e: int) -> bool:
    """Kiwi reads text[s:e] as one ordinary word ("변호사"), or as a word and a particle or ending
    ("이름은"): not a name cut into pieces ("김"+"순례", "표정"+"란")."""
    w0 = max(0, s - 10)
    window = text[w0:min(len(text), e + 8)]
    toks = [(ts + w0, te + w0, tag) for ts, te, tag in _tags(window) if ts + w0 < e and s < te + w0]
    return any(ts == s and te == e and tag not in ("NNP", "OOV") for ts, te, tag in toks) or any(
        tag[0] in "JEV" or tag.startswith("XS") for _, _, tag in toks)


def _verb_at(text: str, s: int) -> bool:
    w0 = max(0, s - 10)
    return any(ts + w0 == s and tag.split("-")[0] in ("VV", "VA") for ts, _, tag in _tags(text[w0:s + 10]))


def _ends_in_particle(text: str, s: int, e: int) -> bool:
    w0 = max(0, s - 10)
    return any(te + w0 == e and ts + w0 >= s and tag.startswith("J") for ts, te, tag in _tags(text[w0:e + 8]))


def _nnp_then_particle(text: str, s: int, e: int) -> bool:
    """Kiwi's proper noun at `s` ends before `e` and a particle follows it ("정인"+"은")."""
    w0 = max(0, s - 10)
    toks = [(ts + w0, te + w0, tag) for ts, te, tag in _tags(text[w0:e + 8])]
    ends = {te for ts, te, tag in toks if ts == s and tag == "NNP" and te < e}
    return any(ts in ends and tag.startswith("J") for ts, _, tag in toks)


def _noun_at(text: str, s: int, e: int) -> bool:
    w0 = max(0, s - 10)
    return any(ts + w0 == s and te + w0 == e and tag == "NNG" for ts, te, tag in _tags(text[w0:e + 8]))


def _split_after_surname(text: str, s: int, e: int) -> bool:
    """Kiwi ends a token after the first syllable of text[s:e] (the surname) and no token crosses that cut."""
    w0 = max(0, s - 10)
    toks = [(ts + w0, te + w0) for ts, te, _ in _tags(text[w0:e + 8])]
    return any(te == s + 1 for _, te in toks) and not any(ts <= s < s + 1 < te for ts, te in toks)

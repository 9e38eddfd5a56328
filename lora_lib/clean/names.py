"""Person names in Korean chat: the morphological analyzer, a surname list, given-name syllable
statistics and the words around a name, together.

kiwipiepy (Kiwi) tags proper nouns (NNP) well, but alone it tags some full names, cuts others short
("남궁"+"민수"), and misses spaced ones ("김 민 수"). So:
1. a cheap pre-check (`might_name`) decides whether a line can hold a name at all: a context word
   (이름, 성함, 씨, 님, 선배, 과장, 예금주, family words, ...), a surname-led 3-4 syllable word, a given
   name + particle ("수빈이가"), a Latin-letter or spaced name. Only those lines go to Kiwi, which
   is loaded lazily, once per process;
2. candidates: Kiwi's NNP tokens (adjacent ones merged), plus name-shaped words right after or
   before a context word, plus Latin-letter and spaced-syllable names;
3. a candidate is a person when it is a full name (surname + given syllables that are common in
   names) that Kiwi calls a proper noun, or when context says so (a title or honorific after it, a
   context word before it, a person particle after it), and it is no place/brand on the stop list;
4. policy (clean.pii_names in params): the card's character names stay; a public, historical or
   fictional figure from public_figures.PUBLIC_FIGURES_KO stays unless a private relation is
   named next to it ("손흥민 선배"); everyone else is masked.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from functools import lru_cache

from .name_patterns import (
    _BEFORE_CONTACT,
    _BEFORE_PHONE,
    _BEFORE_TITLE,
    _CONTEXT_BEFORE,
    _CONTEXT_WORD,
    _FULL,
    _GIVEN_JOSA,
    _HAS_LATIN,
    _LATIN,
    _LATIN_CAPS,
    _LIST_NEXT,
    _LIST_PREV,
    _MEDIA,
    _NAME_AT,
    _PERSON_AFTER,
    _PLACE_SUFFIX,
    _PRIVATE_AFTER,
    _PRIVATE_CONTEXT,
    _PRIVATE_LINE,
    _PUBLIC_CONTEXT,
    _SPACED,
    _SPACED_STOP,
    _STOP,
    _STRONG_BEFORE,
    _STRONG_TITLE,
    _SURNAME_TITLE,
    _TITLE_AFTER,
    _WESTERN,
    GIVEN,
    GIVEN_LAST,
    SURNAMES_1,
    SURNAMES_2,
    pet_name_at,
)
from .public_figures import PUBLIC_FIGURES_KO

Span = tuple[str, int, int]

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


def might_name(text: str) -> bool:
    """The cheap pre-check: False means the line cannot hold a name these rules would mask."""
    if _CONTEXT_WORD.search(text) or _SPACED.search(text) or _SURNAME_TITLE.search(text) \
            or (_HAS_LATIN.search(text) and (_LATIN.search(text) or _WESTERN.search(text))) \
            or _BEFORE_CONTACT.search(text) or _BEFORE_PHONE.search(text):
        return True
    return any(m.group("v") not in _STOP for rx in (_FULL, _GIVEN_JOSA, _TITLE_AFTER) for m in rx.finditer(text))


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


def _shape_full(w: str) -> bool:
    """Surname + one or two given-name syllables, each common in names."""
    for s in SURNAMES_2:
        if w.startswith(s) and 3 <= len(w) <= 4:
            return all(c in GIVEN for c in w[2:]) and w[-1] in GIVEN_LAST
    return len(w) == 3 and w[0] in SURNAMES_1 and w[1] in GIVEN and w[2] in GIVEN_LAST


def _shape_given(w: str) -> bool:
    return len(w) == 2 and w[0] in GIVEN and w[1] in GIVEN_LAST


def _one_word(text: str, s: int, e: int) -> bool:
    """Kiwi reads text[s:e] as one ordinary word ("변호사"), or as a word and a particle or ending
    ("이름은"): not a name cut into pieces ("김"+"순례", "표정"+"란")."""
    w0 = max(0, s - 10)
    window = text[w0:min(len(text), e + 8)]
    toks = [(ts + w0, te + w0, tag) for ts, te, tag in _tags(window) if ts + w0 < e and s < te + w0]
    return any(ts == s and te == e and tag not in ("NNP", "OOV") for ts, te, tag in toks) or any(
        tag[0] in "JEV" or tag.startswith("XS") for _, _, tag in toks)


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


_PERSON_PARTICLE = re.compile(r"(?:가|한테|에게|랑|하고|이가|이랑|이한테|이하고|이는|이도|이네|께)(?![가-힣])")


def _batchim(c: str) -> bool:
    return "가" <= c <= "힣" and (ord(c) - 0xAC00) % 28 != 0


def _judge(text: str, s: int, e: int, why: str, keep: set, public_kept: bool, talk: list) -> tuple[int, int] | None:
    """The span of a private person's name at text[s:e] (evidence `why`), or None."""
    w = text[s:e]
    # "태현아", "도윤이 형": the vocative 아/야 and the friendly 이 after a given name are not the name
    if len(w) == 3 and _shape_given(w[:2]) and (w[2] in "아야" and not _hangul_at(text, e)
                                                or w[2] == "이" and _batchim(w[1])) \
            and not (why in ("strong", "list") and _shape_full(w)):  # "송지아 010-…": a full name
        e, w = e - 1, w[:2]
    if w in keep or w in _STOP or len(w) < 2 or (w[-1] in _PLACE_SUFFIX and w[:-1] in _STOP):
        return None
    ctx = why in ("ctx", "strong", "list")
    if not (_shape_full(w) or _shape_given(w) or ctx):
        return None
    if not ctx and w[-1] in _PLACE_SUFFIX and len(w) == 3:  # "연남동", "서면역": a place on shape alone
        return None
    strong = why in ("strong", "list") or why == "ctx" and bool(
        _STRONG_BEFORE.search(text, max(0, s - 16), s) or _STRONG_TITLE.match(text, e))
    says = "NNP" if w.startswith(SURNAMES_2) and _shape_full(w) else _kiwi_says(text, s, e)
    # a full name Kiwi does not read as one word either way, with a person particle after it, counts
    if why == "shape" and says == "" and _PERSON_AFTER.match(text, e):
        says = "NNP"
    if says == "oov":  # an unknown word: a name when shaped like one
        says = "NNP" if _shape_full(w) or (why != "shape" and _shape_given(w)) else ""
    # a full name after a title or a name word ("김순례님", "배숙자 여사님", "예금주 김경호"), or in a
    # list of names, that Kiwi cuts into ordinary words ("김"+"순례") but does not read as one word
    if strong and _shape_full(w) and says in ("word", "") and not _one_word(text, s, e):
        says = "NNP"
    # the friendly 이 after a given name that ends in a consonant ("다은이 머리", "서준이랑"), where Kiwi
    # knows no word: a name
    if why == "josa" and says == "" and len(w) == 2 and _batchim(w[1]) and text[e:e + 1] == "이":
        says = "NNP"
    # ... and a given name before a particle that follows persons ("민서가 자꾸", "유나한테"), where
    # Kiwi knows no word of two syllables or more there
    if why == "josa" and says == "" and len(w) == 2 and _PERSON_PARTICLE.match(text, e):
        says = "NNP"
    if says == "word" or (why == "shape" and says != "NNP") or (why == "josa" and says != "NNP"):
        return None
    if why == "list" and not (_shape_full(w) or _shape_given(w)):
        return None
    if ctx and says != "NNP" and not (_shape_full(w) or _shape_given(w)):
        return None
    if public_kept and _public(w, text, s, e):
        return None
    if public_kept and why in ("shape", "josa"):
        if not talk:  # computed once per line
            talk.append(_character_talk(text))
        if talk[0]:
            return None
    return (s, e)


def find_names(text: str, keep: Iterable[str] = (), public_kept: bool = True) -> list[Span]:
    """(NAME, start, end) for every private person's name in `text`; `keep` are names that stay
    (the card's character names); `public_kept` keeps gazetteer figures talked about as such."""
    if not might_name(text):
        return []
    keep = set(keep)
    # span -> evidence: "strong" (a name word or title that says person), "ctx" (a context word),
    # "josa" (a person particle), "shape" (full name)
    cands: dict[tuple[int, int], str] = {}
    for c in _CONTEXT_BEFORE.finditer(text):
        if (m := _NAME_AT.match(text, c.end())) and not pet_name_at(text, m.start("v")):
            cands[(m.start("v"), m.end("v"))] = "ctx"  # "이름이 이정숙인데": the name ends where a particle starts
    for m in (*_BEFORE_TITLE.finditer(text), *_TITLE_AFTER.finditer(text)):
        cands.setdefault((m.start("v"), m.end("v")), "ctx")
    # before contact details only a word shaped like a name counts ("기업은행 017-…" is a bank)
    for m in _BEFORE_CONTACT.finditer(text):
        if _shape_full(m.group("v")) or _shape_given(m.group("v")):
            cands.setdefault((m.start("v"), m.end("v")), "ctx")
    for m in _BEFORE_PHONE.finditer(text):
        if _shape_full(m.group("v")) or _shape_given(m.group("v")):
            cands[(m.start("v"), m.end("v"))] = "strong"
    for m in _FULL.finditer(text):
        cands.setdefault((m.start("v"), m.end("v")), "shape")
    for m in _GIVEN_JOSA.finditer(text):
        cands.setdefault((m.start("v"), m.end("v")), "josa")
    out: list[Span] = []
    for m in _SURNAME_TITLE.finditer(text):  # "박 대리", "김 과장님": the surname alone names the person
        out.append(("NAME", m.start("v"), m.end("v")))
    for m in _SPACED.finditer(text):
        w = m.group("v")
        if all(c in GIVEN and c not in _SPACED_STOP for c in w[2::2]) and w.replace(" ", "") not in keep:
            out.append(("NAME", m.start("v"), m.end("v")))
    if _HAS_LATIN.search(text):
        for m in _LATIN.finditer(text):
            if _LATIN_CAPS.match(m.group("v")) or _PRIVATE_CONTEXT.search(text, max(0, m.start("v") - 40), m.start("v")) \
                    or re.match(r"\s?(?:씨|님|선배|이가|가|는|한테|라고|이라고)", text[m.end("v"):]):
                out.append(("NAME", m.start("v"), m.end("v")))
        out += [("NAME", m.start("v"), m.end("v")) for m in _WESTERN.finditer(text)]
    found: list[tuple[int, int]] = []
    talk: list[bool] = []
    for (s, e), why in sorted(cands.items()):
        if (span := _judge(text, s, e, why, keep, public_kept, talk)):
            found.append(span)
    # names listed next to a name found: "혜린 수진 미나랑", "이영순 박만석"
    todo, seen = list(found), set(found)
    while todo and len(seen) < 12:
        s, e = todo.pop()
        nbrs = []
        if (m := _LIST_NEXT.match(text, e)):
            nbrs.append((m.start("v"), m.end("v")))
        if (m := _LIST_PREV.search(text, max(0, s - 6), s)):
            nbrs.append((m.start("v"), m.end("v")))
        for ns, ne in nbrs:
            if (ns, ne) not in seen and not any(a < ne and ns < b for a, b in seen) \
                    and (span := _judge(text, ns, ne, "list", keep, public_kept, talk)):
                seen.add(span)
                found.append(span)
                todo.append(span)
    out += [("NAME", s, e) for s, e in found]
    return out

"""The tagger's second pass over the rules (pii.redact, `clean.tagger`): which spans of tagger.py's CRF are added.

A span is added only where no rule finding is, under the rules' own vetoes (_tagger_piece_ok), never over a
keep value, a public figure or a role mailbox; it is labelled "tagger:<KIND>" in the findings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import name_kiwi as _kiwi
from . import names as _names
from . import numerals
from . import pii_patterns as _pat
from .name_public import _character_talk, _public, _title_talk
from .not_personal import _SERVICE_NUMBER, _not_personal
from .pii_patterns import _DIGIT

if TYPE_CHECKING:
    from .pii import NamePolicy

_ASCII_ALNUM_CHAR = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
# an e-mail the tagger adds needs an at and a dot, written or spelled ("I am at home", "dot dot dot" are talk)
_TAGGER_EMAIL = re.compile(_pat._AT_STRONG + r"|(?<![A-Za-z])at(?![A-Za-z])", re.IGNORECASE)
TAGGER_WORD_BAR = 0.9
_TAGGER_KO_NUMBER_UNIT = re.compile(r"[일이삼사오육칠팔구십백천]+\s?(?:동|호|번지|층)")
_TAGGER_ADDRESS_CUE = re.compile(r"(?:배송지|주소지?|목적지|도착지|거주지|우리\s?집|집|사는\s?곳|위치|장소)(?:는|은|가|:)?$")
_TAGGER_URL = re.compile(r"://|www\.|\.(?:ly|kr|com|net|io|me|gg)/", re.IGNORECASE)
_TAGGER_PERSON_AFTER = re.compile(r"(?:아|야|이가|이는|이도|이한테|이네)(?![가-힣])")  # after a consonant: a vocative, the friendly 이
# a person near a two-syllable ordinary word the tagger calls a name ("내 동생 연재", "모란에게", "경호 생일"):
# without one, "모기가 물었어", "여우가 울어" are the animals
_TAGGER_KIN_BEFORE = re.compile(r"(?:언니|오빠|누나|누이|형|동생|엄마|아빠|남편|아내|와이프|신랑|남친|여친|친구|동무|동기|"
                                r"딸|아들|사촌|조카|이모|삼촌|고모|선배|후배|짝꿍|애인|베프|절친|룸메|이름|성함|예금주)[은는이가:]?\s?\S*\s?$")
_TAGGER_PERSON_NEXT = re.compile(r"(?:이?라는|이?라고|한테|에게|께|이?랑|하고|\s?(?:생일|씨|님))")
_TAGGER_DOT = re.compile(_pat._DOT + r"|[,·・]", re.IGNORECASE)
_TAGGER_DOMAIN = re.compile(r"gmail|naver|daum|hanmail|kakao|nate|hotmail|yahoo|outlook|icloud|" + _pat._DOMAIN_KO, re.IGNORECASE)


def _tagger_piece_ok(kind: str, text: str, s: int, e: int, span: str, prob: float, policy: NamePolicy) -> bool:
    """The rules' own vetoes on a span the tagger adds: it does not cut a Latin or digit token ("rem" of
    "remember") and holds no link; an e-mail has its at and dot; a phone or id number holds 3+ digits and is no
    customer-service number; a name starts a word, is no stop word of the name rules, no dictionary word to
    Kiwi ("권태기", "환율") and, under policy "private", no public or fictional figure talked about as such
    (the name rules' tests: the gazetteer, a known work's title near it, a line about media)."""
    piece = text[s:e]
    if s > 0 and text[s - 1] in _ASCII_ALNUM_CHAR and text[s] in _ASCII_ALNUM_CHAR \
            or e < len(text) and text[e] in _ASCII_ALNUM_CHAR and text[e - 1] in _ASCII_ALNUM_CHAR:
        return False
    if _TAGGER_URL.search(span):  # a link is the spam filter's to see ("http://bit.ly/…"), and the rules' (_LINK) to mask
        return False
    if kind == "EMAIL":  # the whole span the tagger gave, rules' part included
        return bool((_TAGGER_EMAIL.search(span) or _TAGGER_DOMAIN.search(span))
                    and (_TAGGER_DOT.search(span) or _TAGGER_DOMAIN.search(span)))
    if kind in ("PHONE", "ID"):
        digits = numerals.decode(piece)
        return sum(c.isdigit() for c in digits) >= 3 and not _SERVICE_NUMBER.match(digits.strip())
    if kind == "ADDRESS":  # building level: a number in the tagger's span ("삼성동" alone is no address; "래미안위브"
        # before a 동/호 a rule masked is its complex), and the piece is no word that announces one ("배송지 …")
        return bool(_DIGIT.search(numerals.decode(span)) or _TAGGER_KO_NUMBER_UNIT.search(span)) \
            and not _TAGGER_ADDRESS_CUE.match(piece)
    if kind != "NAME":
        return True
    if piece.isascii():  # one Latin word: a romanised given name, not English ("time", "game")
        return " " in piece.strip() or _names._romanised_name(piece)
    if s > 0 and "가" <= text[s - 1] <= "힣":  # the rest of a word whose start a rule masked ("이정숙|인데")
        return False
    bare = piece.replace(" ", "")
    # a stop word of the name rules ("배우", "해운대"), unless a vocative or the friendly 이 + a particle says
    # person ("하늘아", "구름이가")
    if (bare in _names._STOP or (len(bare) > 2 and bare[:-1] in _names._STOP)) and not _TAGGER_PERSON_AFTER.match(text, e):
        return False
    if policy.names == "private" and (_public(bare, text, s, e) or _title_talk(text, s, e) or _character_talk(text)):
        return False
    # a piece Kiwi reads as one ordinary word: three syllables or more never ("권태기", "유치원"); two syllables
    # are names as often as words ("연서가", "경호 생일"): only when a vocative or the friendly 이 + a particle
    # follows ("하늘아", "구름이가"), or the tagger is very sure (TAGGER_WORD_BAR) and a person is near (a kin
    # word before, a person particle or 생일/씨/님 after: "내 딸 로아가", "모란에게"; not "모기가 물었어")
    if len(piece) >= 2 and all("가" <= c <= "힣" for c in piece):
        w0 = max(0, s - 10)
        word = any(ts + w0 == s and te + w0 == e and tag.startswith(("NNG", "NNB", "VV", "VA", "MAG", "NR", "XR", "IC"))
                   for ts, te, tag in _kiwi._tags(text[w0:e + 8]))
        if word and not _TAGGER_PERSON_AFTER.match(text, e) and (
                len(piece) >= 3 or prob < TAGGER_WORD_BAR
                or not (_TAGGER_KIN_BEFORE.search(text, max(0, s - 12), s) or _TAGGER_PERSON_NEXT.match(text, e))):
            return False
    return True


# The tagger's kinds -> the placeholder the rules write for that kind (HANDLE: the rules' MESSENGER).
TAGGER_PLACEHOLDER = {"NAME": "<NAME>", "PHONE": "<PHONE>", "EMAIL": "<EMAIL>", "ADDRESS": "<ADDRESS>",
                      "HANDLE": "<MESSENGER>", "ID": "<ID>"}


def add_tagger_spans(text: str, findings: list[tuple[str, int, int]], spans: Sequence[tuple[str, int, int, float]],
                     keep_values: Sequence[str], policy: NamePolicy) -> list[tuple[str, int, int]]:
    """The rules' findings plus the tagger's spans ("tagger:<KIND>", start, end), added only where no rule
    finding is: a tagger span that overlaps one adds its uncovered pieces of 2+ characters. Never over a keep
    value (the characters' names, policy.keep_names), a public figure of the gazetteer (policy "private") or
    a role mailbox; no NAME when policy.names is "off"."""
    if not spans:
        return findings
    covered, address = bytearray(len(text)), bytearray(len(text))
    for lab, s, e in findings:
        covered[s:e] = b"\x01" * (e - s)
        if lab == "ADDRESS":
            address[s:e] = b"\x01" * (e - s)
    keep = [k for k in (*keep_values, *policy.keep_names) if k]
    blocked = bytearray(len(text))
    for k in keep:
        i = text.find(k)
        while i >= 0:
            blocked[i:i + len(k)] = b"\x01" * len(k)
            i = text.find(k, i + 1)
    added = []
    for kind, s, e, prob in spans:
        if kind == "NAME" and policy.names == "off":
            continue
        whole = not any(covered[s:e])
        # an address piece is judged with the rest of the span only where a rule's address covers that rest
        # ("래미안위브" + a 동/호 a rule masked); next to an account it is a bank ("신한은행 110-…")
        context = text[s:e] if whole or (kind == "ADDRESS" and any(address[s:e])) else None
        i = s
        while i < e:
            if covered[i]:
                i += 1
                continue
            j = i
            while j < e and not covered[j]:
                j += 1
            ps, pe = i, j
            while ps < pe and not text[ps].isalnum():
                ps += 1
            while pe > ps and not text[pe - 1].isalnum():
                pe -= 1
            piece = text[ps:pe]
            ok = len(piece) >= 2 or (whole and kind == "NAME" and len(piece) == 1 and piece in _names.SURNAMES_1)
            if ok and not any(blocked[ps:pe]) and piece not in keep and not _not_personal((kind, ps, pe), text) \
                    and _tagger_piece_ok(kind, text, ps, pe, context or piece if kind == "ADDRESS" else text[s:e], prob,
                                         policy):
                added.append((f"tagger:{kind}", ps, pe))
            i = j
    return sorted(findings + added, key=lambda f: f[1]) if added else findings

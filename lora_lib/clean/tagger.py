"""A learned second pass after the PII rules: a character-level CRF tagger (python-crfsuite).

The rules (pii.py and friends) are precise but miss what they were never written for. This tagger,
trained on the labelled sets (tagger_train.py), reads every character of a line with its neighbours,
its class (Hangul, Latin, digit, jamo, ...), whether it is a common surname or given-name syllable,
the particle after its word, the digits that Korean numeral words decode to (numerals.decode) and the
cue words around it (the rules' own lists: names' context words and titles, the contact, bank, id and
app words of pii_patterns). Labels are BIO per kind: NAME PHONE EMAIL ADDRESS HANDLE ID (and USER, a
training label only: the user's nickname stays with the rules' known-value logic, never emitted).

`redact` (pii.py) runs it after the rules, only where a cheap pre-check fires (`might_hold_pii`), and only
ADDS spans: characters no rule span covers, whose probability of being PII (the CRF's marginal, 1 - P(O)
- P(USER)) is >= `clean.tagger_min_prob`, never over a keep value (the characters' names) or a public
figure. Its findings are labelled "tagger:<KIND>" so the report tells them from the rules'.

The model lives in lora_lib/clean/data/pii_tagger.crfsuite with a JSON sidecar (training sets and their
sha256, feature version, c1/c2); `python -m lora_lib.clean.tagger_train` rebuilds both.
"""

from __future__ import annotations

import json
import re
import threading
from functools import lru_cache
from pathlib import Path

from . import numerals
from . import pii_patterns as _pat
from .name_patterns import _BEFORE, _PERSON_JOSA, _TITLES, GIVEN, GIVEN_LAST, SURNAMES_1, SURNAMES_2

FEATURE_VERSION = 2
KINDS = ("NAME", "PHONE", "EMAIL", "ADDRESS", "HANDLE", "ID")
TRAIN_KINDS = (*KINDS, "USER")  # USER is learnt (so nicknames are not O evidence) but never emitted
MODEL_PATH = Path(__file__).resolve().parent / "data" / "pii_tagger.crfsuite"
TRAIN_COMMAND = "python -m lora_lib.clean.tagger_train"
# The tagger reads a long line in pieces of at most this many characters (cut at a space where there is
# one): its cost stays linear, and no PII item is this long.
CHUNK = 400
_CONTEXT = 3  # characters either side as features

_SUR2_FIRST = frozenset(s[0] for s in SURNAMES_2)
_SUR2 = frozenset(SURNAMES_2)
# Cue words: the rules' lists, each a feature "cue:<name>" on the characters just after (b) or just before (a) it.
_CUES = {
    "namectx": re.compile(_BEFORE),
    "title": re.compile(rf"(?:{_TITLES})"),
    "phone": re.compile(r"번호|연락처|전번|폰|전화|핸드폰|휴대폰|콜|문자"),
    "email": re.compile(r"메일|이메일|골뱅|앳|엣|에이티|@|＠|\bat\b|쩜|닷|\bdot\b|지메일|네이버|한메일|다음|gmail|naver|daum",
                        re.IGNORECASE),
    "addr": re.compile(r"주소|사는\s?곳|살아|배송지|로(?=\s?[0-9])|길(?=\s?[0-9])|번지|아파트|빌라|오피스텔|[0-9]\s?동|[0-9]\s?호|단지"),
    "app": re.compile(_pat._APPS, re.IGNORECASE),
    "idword": re.compile(_pat._ID_WORD + r"|링크|코드|초대|오픈채팅|오픈톡|친추|팔로우|맞팔|디엠"),
    "bank": _pat._BANK_CONTEXT,
    "idnum": re.compile(r"주민|등록번호|여권|면허|카드|사업자|차\s?번호|번호판|차량|외국인|통장|계좌"),
    "notpii": re.compile(_pat._NOT_PHONE_WORD.pattern + r"|" + _pat._NOT_ACCOUNT.pattern),
}
_CUE_BEFORE = 12  # a cue this many characters before a character counts
_CUE_AFTER = 6
_JOSA = frozenset({*_PERSON_JOSA.strip("(?:)").split("|"), "이", "가", "은", "는", "을", "를", "도", "의", "씨", "님",
                   "이라고", "라고", "인데", "이고", "이다", "입니다", "이에요", "이세요", "으로", "로", "에서", "에", "와", "과",
                   "이랑", "이나", "나", "아", "야"})
_JOSA_LENS = sorted({len(j) for j in _JOSA}, reverse=True)  # the longest particle that ends a word wins
_WORD = re.compile(r"\S+")
_DIGIT_RUN = re.compile(r"0(?:-{0,3}0)*")
_RUN_SEP = frozenset(" -.~/ㆍㅡ·_,")
# one code per syllable: surname (s), given-name syllable (g), one that ends names (l), numeral word (n)
_SYL = {c: "".join(f for f, on in (("s", c in SURNAMES_1), ("g", c in GIVEN), ("l", c in GIVEN_LAST),
                                  ("n", c in numerals.DIGIT_WORDS)) if on) or "0"
        for c in {*SURNAMES_1, *GIVEN, *GIVEN_LAST, *numerals.DIGIT_WORDS}}
_SPACE_CUT = re.compile(r"\s")


def _cls(c: str) -> str:
    if "가" <= c <= "힣":
        return "H"
    if "ㄱ" <= c <= "ㆎ" or "\u1100" <= c <= "\u11ff":
        return "J"
    if c.isascii():
        if c.isalpha():
            return "L"
        if c.isdigit():
            return "D"
        if c.isspace():
            return "S"
        return "P" if c not in "@.-_#/:" else c
    if c.isdigit():
        return "D"
    if c.isspace():
        return "S"
    if c.isalpha():
        return "A"  # other letters (Latin with accents, CJK)
    return "E"  # emoji, symbols


def _norm(c: str) -> str:
    k = _cls(c)
    if k == "D":
        return "0"
    if k == "L":
        return c.lower()
    if k in ("E", "A"):
        return k
    if k == "S":
        return "_"
    return c


_INFO: dict[str, tuple[str, str]] = {}
_WPOS: dict[int, list[str]] = {}


def _info(c: str) -> tuple[str, str]:
    out = (_cls(c), _norm(c))
    if len(_INFO) < 20_000:
        _INFO[c] = out
    return out


def _wpos(n: int) -> list[str]:
    out = [f"w={min(k, 4)}/{min(n - 1 - k, 4)}" for k in range(n)]
    if n <= 64:
        _WPOS[n] = out
    return out


def features(text: str) -> list[tuple[str, ...]]:
    """The features of each character of `text` (one tuple of strings per character), linear in len(text).
    Built column by column (one comprehension per feature kind): most of the tagger's cost is here."""
    n = len(text)
    if not n:
        return []
    decoded = numerals.decode(text)
    info = [_INFO.get(c) or _info(c) for c in text]
    cls = [i[0] for i in info]
    if decoded == text:
        dec = [i[1] for i in info]
        dcls = cls
    else:  # a numeral word inside a number run is a digit here ("공일공" -> "000", class D)
        dec = [("0" if d != c and d.isdigit() else i[1]) for c, d, i in zip(text, decoded, info, strict=True)]
        dcls = ["D" if x == "0" else k for x, k in zip(dec, cls, strict=True)]
    # the digits in the run (separators between digits included) each character is in
    run_at: dict[int, str] = {}
    for m in _DIGIT_RUN.finditer("".join("0" if k == "D" else ("-" if c in _RUN_SEP else "x") for c, k in zip(text, dcls,
                                                                                                              strict=True))):
        r = f"run={min(m.group().count('0'), 13)}"
        for k in range(m.start(), m.end()):
            run_at[k] = r
    # position in its whitespace-separated word, the word's make-up and the particle that ends it
    wpos = ["w=_"] * n
    wshape = ["ws=_"] * n
    extra: dict[int, list[str]] = {}
    for m in _WORD.finditer(text):
        s, e = m.span()
        ks = set(dcls[s:e])
        shape = ("@" if "@" in m.group() or "＠" in m.group() else "") + "".join(k for k in "DLH" if k in ks) + str(min(e - s, 8))
        wpos[s:e] = _WPOS.get(e - s) or _wpos(e - s)
        wshape[s:e] = ["ws=" + shape] * (e - s)
        # the Hangul part of the word and the longest particle that ends it ("이정숙인데" -> 이정숙 | 인데)
        h = e
        while h > s and cls[h - 1] != "H":
            h -= 1
        if h - s >= 2:
            for L in _JOSA_LENS:
                if h - s > L and text[h - L:h] in _JOSA:
                    extra.setdefault(h - L - 1, []).append("josa=" + text[h - L:h])
                    break
    for name, rx in _CUES.items():
        for m in rx.finditer(text):
            a, b = m.span()
            if a == b:
                continue
            for k in range(b, min(n, b + _CUE_BEFORE)):
                extra.setdefault(k, []).append("cb:" + name)
            for k in range(max(0, a - _CUE_AFTER), a):
                extra.setdefault(k, []).append("ca:" + name)
            for k in range(a, b):
                extra.setdefault(k, []).append("in:" + name)
    for k, r in run_at.items():
        extra.setdefault(k, []).append(r)
    cx = ["^3", "^2", "^1", *dec, "$1", "$2", "$3"]
    kx = ["^", "^", "^", *dcls, "$", "$", "$"]
    kk = [kx[i] + kx[i + 1] for i in range(n + 5)]  # class bigrams, kk[i] = kx[i] kx[i+1]
    cols = (
        ["c=" + x for x in dec],
        ["k=" + x for x in dcls],
        wpos, wshape,
        ["c-1=" + x for x in cx[2:n + 2]], ["c+1=" + x for x in cx[4:n + 4]],
        ["c-2=" + x for x in cx[1:n + 1]], ["c+2=" + x for x in cx[5:n + 5]],
        ["c-3=" + x for x in cx[0:n]], ["c+3=" + x for x in cx[6:n + 6]],
        ["cc-1=" + a + b for a, b in zip(cx[2:n + 2], dec, strict=True)],
        ["cc+1=" + a + b for a, b in zip(dec, cx[4:n + 4], strict=True)],
        ["cc-2=" + a + b for a, b in zip(cx[1:n + 1], cx[2:n + 2], strict=True)],
        ["cc+2=" + a + b for a, b in zip(cx[4:n + 4], cx[5:n + 5], strict=True)],
        ["ccc=" + a + b + c for a, b, c in zip(cx[2:n + 2], dec, cx[4:n + 4], strict=True)],
        ["kk=" + a + b + c for a, b, c in zip(kk[1:n + 1], kx[3:n + 3], kk[4:n + 4], strict=True)],
        ["s=" + _SYL.get(c, "0") + ("2" if c in _SUR2_FIRST and text[i:i + 2] in _SUR2 else "") for i, c in enumerate(text)],
    )
    out = list(zip(*cols, strict=True))
    for k, fs in extra.items():
        out[k] += tuple(fs)
    return out


def bio(text: str, items: list[tuple[str, str]]) -> list[str]:
    """BIO labels for `text` where every occurrence of each (substring, kind) is that kind."""
    labels = ["O"] * len(text)
    for sub, kind in sorted(items, key=lambda x: -len(x[0])):
        start = text.find(sub)
        while sub and start >= 0:
            end = start + len(sub)
            if all(labels[k] == "O" for k in range(start, end)):
                labels[start] = "B-" + kind
                for k in range(start + 1, end):
                    labels[k] = "I-" + kind
            start = text.find(sub, start + 1)
    return labels


def chunks(text: str) -> list[tuple[int, str]]:
    """(offset, piece) of `text` in pieces of at most CHUNK characters, cut at a space where there is one."""
    out, pos, n = [], 0, len(text)
    while pos < n:
        end = min(n, pos + CHUNK)
        if end < n:
            cut = max((m.start() for m in _SPACE_CUT.finditer(text, pos + CHUNK // 2, end)), default=-1)
            if cut > pos:
                end = cut + 1
        out.append((pos, text[pos:end]))
        pos = end
    return out


class MissingModel(FileNotFoundError):
    pass


_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def _tagger(path: str):
    import pycrfsuite

    if not Path(path).exists():
        raise MissingModel(f"the PII tagger's model file {path} is missing: run `{TRAIN_COMMAND}` to build it, "
                           "or set clean.tagger: false")
    t = pycrfsuite.Tagger()
    t.open(path)
    return t, frozenset(t.labels())


def sidecar(path: str | Path | None = None) -> dict:
    return json.loads(Path(path or MODEL_PATH).with_suffix(".json").read_text(encoding="utf-8"))


def tag_probs(text: str, path: str | Path | None = None, floor: float = 0.05) -> list[tuple[float, dict[str, float]]]:
    """Per character: (P(some emitted PII kind), {kind: P(kind)}); the kinds only where P(not O) >= floor
    (elsewhere the first figure is P(not O), an upper bound, and the dict is empty)."""
    tagger, labels = _tagger(str(path or MODEL_PATH))
    user = [lab for lab in ("B-USER", "I-USER") if lab in labels]
    kinds = [(k, [lab for lab in (f"B-{k}", f"I-{k}") if lab in labels]) for k in KINDS]
    out: list[tuple[float, dict[str, float]]] = []
    empty: dict[str, float] = {}
    for _, piece in chunks(text):
        feats = features(piece)
        with _LOCK:  # one Tagger object: its state is per set() call
            tagger.set(feats)
            marginal = tagger.marginal
            p_o = [marginal("O", i) for i in range(len(piece))]
            for i, po in enumerate(p_o):
                if 1.0 - po < floor:
                    out.append((1.0 - po, empty))
                    continue
                p = 1.0 - po
                for lab in user:
                    p -= marginal(lab, i)
                by_kind = {}
                for k, labs in kinds:
                    by_kind[k] = sum([marginal(lab, i) for lab in labs])
                out.append((max(0.0, p), by_kind))
    return out


def tag_spans(text: str, min_prob: float, path: str | Path | None = None) -> list[tuple[str, int, int, float]]:
    """(kind, start, end, mean probability) of each run of characters whose P(PII) >= min_prob; a run's kind is
    the one with the most probability over it; spaces at its ends are left out."""
    if not text:
        return []
    return spans_from_probs(text, tag_probs(text, path, floor=min_prob), min_prob)


def spans_from_probs(text: str, probs: list, min_prob: float) -> list[tuple[str, int, int, float]]:
    """tag_spans from tag_probs' output (cross-validation reads the probabilities once per threshold grid)."""
    out, i, n = [], 0, len(text)
    while i < n:
        if probs[i][0] < min_prob:
            i += 1
            continue
        j = i
        while j < n and probs[j][0] >= min_prob:
            j += 1
        s, e = i, j
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            totals = {k: sum(probs[q][1].get(k, 0.0) for q in range(s, e)) for k in KINDS}
            kind = max(KINDS, key=lambda k: totals[k])
            out.append((kind, s, e, sum(probs[q][0] for q in range(s, e)) / (e - s)))
        i = j
    return out


# ------------------------------------------------------------------------------------------- pre-check
# The tagger runs only on lines that can hold PII the rules might miss, in the rules' own terms: an at-sign or
# its spellings, a hash tag ("닉#1234"), a number of 3+ digits (numeral words decoded) that is no count, price or
# time, a short number after a road, lot or building word (or written in Korean words before 동/호), a
# self-introduction, a Latin token with a digit, dot or underscore, Latin
# letters next to an app or id word, or a name-shaped context (the rules' name pre-check, names.might_name).
# Its recall cost is measured in cross-validation (tagger_train --cross-validate: with and without it).
_PRE_AT = re.compile(r"[@＠#]|골뱅|골벵|앳|엣|에이티|닷|쩜|(?<![A-Za-z])(?:at|dot)(?![A-Za-z])", re.IGNORECASE)
_PRE_LATIN_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]*[0-9._][A-Za-z0-9]|[0-9][A-Za-z]")
_PRE_APP = re.compile(f"(?:{_pat._APPS}|{_pat._ID_WORD}|메일|링크|코드)", re.IGNORECASE)
_PRE_NUMBER = re.compile(r"(?<![0-9])[0-9](?:[\s\-.~/ㆍㅡ·_,]{0,3}[0-9]){2,}(?![0-9])(?!\s?(?:원|시|분|초|개|명|살|세|년|월|일|층|번째|등|위|점|%|퍼|만|천|억|배|km|kg|cm|"
                         r"마리|잔|병|권|장|회|판|골|대|번\s?(?:버스|출구|째)))")
_PRE_PLACE_NUMBER = re.compile(r"[가-힣](?:로|길|동|리|번지|호|단지|아파트|빌라)\s?[0-9]|[0-9]\s?(?:동|호|번지|번길|층)(?![가-힣])")
# numbers in Korean words at building level ("십일동 칠백칠호", "자이아파트"), and a self-introduction ("나 민혁인데")
_PRE_PLACE_WORDS = re.compile(rf"[일이삼사오육칠팔구십백천]{{1,8}}\s?(?:동|호)(?![가-힣])|{_pat._APT_BRANDS}")
_PRE_SELF = re.compile(r"(?:^|(?<=\s))(?:나|저|난|전)\s[가-힣]{2,3}(?:인데|이야|야|이에요|예요|입니다|이고|임)(?![가-힣])")
_HAS_LATIN = re.compile(r"[A-Za-z]")


def might_hold_pii(text: str, decoded: str | None = None) -> bool:
    """The cheap pre-check: False means the tagger is not run on `text`."""
    from .names import might_name

    if _PRE_AT.search(text):
        return True
    if _HAS_LATIN.search(text) and (_PRE_LATIN_TOKEN.search(text) or _PRE_APP.search(text)):
        return True
    d = numerals.decode(text) if decoded is None else decoded
    if _PRE_NUMBER.search(d) or _PRE_PLACE_NUMBER.search(d) or _PRE_PLACE_WORDS.search(text) or _PRE_SELF.search(text):
        return True
    return might_name(text)

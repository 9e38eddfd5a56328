"""One normaliser for numbers as chat writes them, feeding every digit-based PII detector.

"공일공 일이삼사 오육칠팔", "010에 1234에 5678", "공1공ㅡ1234~5678", "010 / 1234 / 5678",
"앞자리 010-1234 뒷자리는 5678": each becomes one run of digits ("01012345678") with the source
offset of every digit, so a detector that decides on the digit string (phone, card, RRN, ...) can
mask exactly the characters that spelled it, and ko-pii can run on a plain rewrite of the text.

Korean digit words are read one syllable per digit (공/영/빵/ㅇ 0, 일 1, 이 2, 삼 3, 사 4, 오 5, 육/륙 6,
칠 7, 팔 8, 구 9), the way people read phone numbers out. They are ordinary syllables too ("오이",
"이사", "구일"), so a run counts only when it holds at least MIN_DIGITS digits and a run made of
digit words alone also needs three in a row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DIGIT_WORDS = "공영빵ㅇ일이삼사오육륙칠팔구"  # 빵 and ㅇ: zero as chat types it ("빵일빵", "ㅇ1ㅇ")
_DECODE = dict(zip(DIGIT_WORDS, "00001234566789", strict=True))
MIN_DIGITS = 7  # a shorter run is a count, a price or a time, never an identifier

# A digit token: one Arabic or full-width digit, or a Korean digit word.
_D = f"[0-9０-９{DIGIT_WORDS}]"
# Between two groups: any one run of 1-3 separator characters (space, - . ~ / ㆍ ㅡ · _ , : ) ( *)
# or '에' with optional spaces ("010에 1234"). Bounded, and a separator never starts with a digit,
# so each position is tried a fixed number of ways: linear time.
_SEP = r"(?:[\s\-‐–—.~～/ㆍㅡ·・_,:)(*+!\ufe0f\u20e3]{1,3}|\s?(?:에|의|다시|국에|국)\s?)"
_RUN = re.compile(f"{_D}+(?:{_SEP}{_D}+){{0,12}}")
# First syllables of the particles and copulas that follow a number read out ("오육칠팔로", "…이야").
_PARTICLE_START = frozenset("로으에이가는은을를야요랑도만까고라입예인임이하")
_ODD_SEPARATORS = frozenset("에의다시국ㅡㆍ~～/·・‐–—")
_HINT = re.compile(f"[{DIGIT_WORDS}]{{3}}|[0-9０-９]|(?:[{DIGIT_WORDS}] ){{6}}")
# "앞자리 010 1234 뒷자리는 5678": a phone number given in two halves with words between them.
_HALF_GAP = re.compile(r"^[\s,.]{0,3}(?:(?:이고|이구|고|요|이요|이랑|하고|그리고|이구요|이고요|랑|까지|까지가|이야|야)[\s,.]{0,3})?"
                       r"(?:(?:뒷자리|뒷번호|뒤에|뒤는|뒤엔|뒤|끝자리|끝번호|나머지|나머진|다음|그다음|그 다음|그리고|하고)\s{0,2}"
                       r"(?:는|은|가|이|에|엔)?\s{0,2}(?:[가-힣]{1,4}\s)?)\s{0,2}$")


@dataclass(frozen=True)
class NumberRun:
    digits: str                    # "01012345678"
    positions: tuple[int, ...]     # source offset of each digit
    start: int                     # span of the whole run in the source
    end: int
    groups: tuple[int, ...]        # digits per group as written ("010 1234 5678" -> (3, 4, 4))
    words: bool                    # some digit was written as a Korean word

    def span(self, i: int = 0, j: int | None = None) -> tuple[int, int]:
        """Source span of digits i..j-1 (the whole run by default)."""
        j = len(self.digits) if j is None else j
        return (self.positions[i], self.positions[j - 1] + 1)


def _digit(c: str) -> str:
    if c in _DECODE:
        return _DECODE[c]
    if "０" <= c <= "９":
        return chr(ord(c) - ord("０") + ord("0"))
    return c


def number_runs(text: str, min_digits: int = MIN_DIGITS) -> list[NumberRun]:
    """Every run of at least `min_digits` digits (Arabic, full-width or Korean words) in `text`,
    groups joined by any separator; two halves of a phone number are joined into one run."""
    if not _HINT.search(text):
        return []
    runs: list[NumberRun] = []
    for m in _RUN.finditer(text):
        chunk = m.group()
        pos = [m.start() + i for i, c in enumerate(chunk) if "0" <= c <= "9" or "０" <= c <= "９" or c in _DECODE]
        if any(text[p] in _DECODE for p in pos):
            if not re.search(f"[{DIGIT_WORDS}]{{3}}|[0-9]|(?:[{DIGIT_WORDS}] ){{6}}", chunk):
                continue
            pos = _trim_glued(text, pos)
        if not pos:
            continue
        # digits spaced one by one ("5 0 8 - 8 1 - 2 2 3 4 9"): a single space does not end a group
        spaced = len(pos) >= 7 and all(b - a == 2 and text[a + 1] == " " or b - a > 2 for a, b in zip(pos, pos[1:], strict=False)) \
            and sum(b - a == 2 for a, b in zip(pos, pos[1:], strict=False)) >= len(pos) // 2
        groups, count = [], 1
        for a, b in zip(pos, pos[1:], strict=False):
            if b == a + 1 or spaced and b == a + 2 and text[a + 1] == " ":
                count += 1
            else:
                groups.append(count)
                count = 1
        groups.append(count)
        digits = "".join(_digit(text[p]) for p in pos)
        runs.append(NumberRun(digits, tuple(pos), pos[0], pos[-1] + 1, tuple(groups),
                              any(text[p] in _DECODE for p in pos)))
    runs = _join_halves(text, runs)
    return [r for r in runs if len(r.digits) >= min_digits]


def _groups(pos: list[int]) -> list[list[int]]:
    out = [[pos[0]]]
    for a, b in zip(pos, pos[1:], strict=False):
        if b == a + 1:
            out[-1].append(b)
        else:
            out.append([b])
    return out


def _trim_glued(text: str, pos: list[int]) -> list[int]:
    """A group of digit words glued to the Hangul word before it, or to a Hangul syllable after it that
    is no particle ("사이좋게", "오이무침"), is that word's syllables, not digits."""
    groups = _groups(pos)
    # "공일공 칠이 칠이 삼삼 일일 (이거)": a whole phone number read in pairs, less a word after it
    for cut in (0, 1):
        if cut and not (len(groups) > 1 and len(groups[-1]) <= 2 and all(text[p] in _DECODE for p in groups[-1])):
            break
        keep = [p for g in groups[:len(groups) - cut] for p in g]
        if _PHONE_SHAPE.fullmatch("".join(_digit(text[p]) for p in keep)):
            return keep
    one_by_one = len(groups) >= 7 and all(len(g) == 1 for g in groups)  # read out digit by digit: "공 일 공 일 이 …"
    # At either edge, one or two digit words standing alone are a word ("이 번호", "…오육칠팔 이에요"),
    # except a leading zero ("공이 …" = 02 …).
    while not one_by_one and groups and len(groups[0]) <= 2 and all(text[p] in _DECODE for p in groups[0]) \
            and text[groups[0][0]] not in "공영빵ㅇ":
        groups.pop(0)
    while not one_by_one and groups and len(groups[-1]) <= 2 and all(text[p] in _DECODE for p in groups[-1]):
        groups.pop()
    if not groups:
        return []
    first, last = groups[0], groups[-1]
    if text[first[0]] in _DECODE and first[0] > 0 and (_hangul(text[first[0] - 1]) or "ㄱ" <= text[first[0] - 1] <= "ㅎ"):
        while first and text[first[0]] in _DECODE:
            first.pop(0)
    if last and text[last[-1]] in _DECODE and last[-1] + 1 < len(text) and _hangul(text[last[-1] + 1]) \
            and text[last[-1] + 1] not in _PARTICLE_START:
        while last and text[last[-1]] in _DECODE:
            last.pop()
    # "7723이고", "5678이야": a digit word glued after Arabic digits and before Hangul is a particle
    if last and text[last[-1]] in _DECODE and any(text[p] not in _DECODE for p in last) \
            and last[-1] + 1 < len(text) and _hangul(text[last[-1] + 1]):
        while last and text[last[-1]] in _DECODE:
            last.pop()
    return [p for g in groups for p in g]


_PHONE_SHAPE = re.compile(r"01[016789]\d{7,8}")


def _hangul(c: str) -> bool:
    return "가" <= c <= "힣"


def _join_halves(text: str, runs: list[NumberRun]) -> list[NumberRun]:
    out: list[NumberRun] = []
    for r in runs:
        prev = out[-1] if out else None
        if prev and re.fullmatch(r"01[016789]\d{3,4}|0\d{1,2}", prev.digits) and len(r.digits) == 4 \
                and r.start - prev.end <= 24 and _HALF_GAP.match(text[prev.end:r.start]):
            out[-1] = NumberRun(prev.digits + r.digits, prev.positions + r.positions, prev.start, r.end,
                                prev.groups + r.groups, prev.words or r.words)
        else:
            out.append(r)
    return out


def decode(text: str, runs: list[NumberRun] | None = None) -> str:
    """`text` with the digit words and full-width digits of each run written as ASCII digits and every
    separator inside a run as '-': same length, so offsets are unchanged, and ko-pii sees
    "010-1234-5678" where the user wrote "공일공에 일이삼사 ㅡ 오육칠팔"."""
    runs = number_runs(text) if runs is None else runs
    if not runs:
        return text
    chars = list(text)
    for r in runs:
        digit_pos = set(r.positions)
        for p in range(r.start, r.end):
            if p in digit_pos:
                chars[p] = _digit(text[p])
            elif text[p] in _ODD_SEPARATORS and r.end - r.start <= 40:
                chars[p] = "-"
    return "".join(chars)

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
   Context strong enough overrides Kiwi's reading of a common word ("유리", "지수", "태양"): a word
   introduced as a person ("X라는 친구", "이름이 X인데"), 씨 or a kinship title after a given name
   ("은지 씨", "서진 누나"), a sentence opening "X이 오빠가"; a name found once is masked wherever the
   line says it again (also after a surname);
4. policy (clean.pii_names in params): the card's character names stay; a public, historical or
   fictional figure from public_figures.PUBLIC_FIGURES_KO stays unless a private relation is
   named next to it ("손흥민 선배") or the line says it is not the famous one ("배우 말고", "동명이인");
   a name near a known work's title (public_figures.MEDIA_TITLES: "슬램덩크 강백호") is a character;
   everyone else is masked. Kiwi itself lives in name_kiwi.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from .name_frames import frames, might_frame, person_frame_after, plausible_given
from .name_kiwi import (
    _ends_in_particle,
    _hangul_at,
    _kiwi_says,
    _nnp_then_particle,
    _noun_at,
    _one_word,
    _split_after_surname,
    _tags,
    _verb_at,
)
from .name_patterns import (
    _AFTER_NUMBER,
    _BEFORE_CONTACT,
    _BEFORE_EMAIL,
    _BEFORE_PHONE,
    _BEFORE_TITLE,
    _CONTEXT_BEFORE,
    _CONTEXT_WORD,
    _COPULA_AFTER,
    _FULL,
    _GIVEN_JOSA,
    _HAS_LATIN,
    _KIN_GUARD,
    _KIN_OPENING,
    _LATIN,
    _LATIN_CAPS,
    _LATIN_GIVEN,
    _LIST_NEXT,
    _LIST_PREV,
    _NAME_AT,
    _NAME_BEFORE_WORD,
    _NAME_WORD_BEFORE,
    _NAME_WORD_STOP,
    _NAMED_AS,
    _NOT_THE_FAMOUS,
    _PERSON_AFTER,
    _PLACE_SUFFIX,
    _POSS_AFTER,
    _PRIVATE_AFTER,
    _PRIVATE_CONTEXT,
    _S2,
    _SPACED,
    _SPACED_CTX_AFTER,
    _SPACED_CTX_BEFORE,
    _SPACED_S2,
    _SPACED_STOP,
    _SSI_WORDS,
    _STOP,
    _STRONG_BEFORE,
    _STRONG_TITLE,
    _SURNAME_SSI,
    _SURNAME_TITLE,
    _SURNAME_TITLE_JOINED,
    _TITLE_AFTER,
    _TITLES,
    _WESTERN,
    _WESTERN_NAME,
    GIVEN,
    GIVEN_LAST,
    SURNAMES_1,
    SURNAMES_2,
    pet_name_at,
)
from .name_public import _character_talk, _public, _public_latin, _title_talk
from .public_figures import PUBLIC_FIGURES_KO

Span = tuple[str, int, int]

_SPACED_PARTICLE = frozenset("아야이가은는을를도의와과랑")
_TITLE_WORD = re.compile(rf"(?:{_TITLES})")
_LATIN_THEN_HANGUL = re.compile(r"[A-Za-z]\s?[가-힣]")


@lru_cache(maxsize=8)  # find_names and the tagger's pre-check (tagger.might_hold_pii) ask it of the same line
def might_name(text: str) -> bool:
    """The cheap pre-check: False means the line cannot hold a name these rules would mask."""
    if _CONTEXT_WORD.search(text) or _SPACED.search(text) or _SURNAME_TITLE.search(text) or _SURNAME_SSI.search(text) \
            or _SURNAME_TITLE_JOINED.search(text) \
            or (_HAS_LATIN.search(text) and (_LATIN.search(text) or _WESTERN.search(text) or _WESTERN_NAME.search(text))) \
            or _BEFORE_CONTACT.search(text) or _BEFORE_PHONE.search(text) or _NAMED_AS.search(text) \
            or _SPACED_S2.search(text) or ("@" in text and _BEFORE_EMAIL.search(text)) \
            or (_HAS_LATIN.search(text) and _LATIN_THEN_HANGUL.search(text) and _LATIN_GIVEN.search(text)) \
            or _AFTER_NUMBER.search(text) or _KIN_OPENING.search(text):
        return True
    # "X 때문에" follows common nouns far more often than names ("장마 때문에"): no Kiwi call for it alone
    # (the chattier "땜에" mostly follows people: "현수 땜에")
    if any(not m.group().endswith("때문에") for m in _POSS_AFTER.finditer(text)):
        return True
    return any(m.group("v") not in _STOP for rx in (_FULL, _GIVEN_JOSA, _TITLE_AFTER) for m in rx.finditer(text)) \
        or might_frame(text)


def _shape_full(w: str) -> bool:
    """Surname + one or two given-name syllables, each common in names."""
    for s in SURNAMES_2:
        if w.startswith(s) and 3 <= len(w) <= 4:
            return all(c in GIVEN for c in w[2:]) and w[-1] in GIVEN_LAST
    return len(w) == 3 and w[0] in SURNAMES_1 and w[1] in GIVEN and w[2] in GIVEN_LAST


def _shape_given(w: str) -> bool:
    return len(w) == 2 and w[0] in GIVEN and w[1] in GIVEN_LAST


_PERSON_PARTICLE = re.compile(r"(?:가|한테|에게|랑|하고|이가|이랑|이한테|이하고|이는|이도|이네|께)(?![가-힣])")


def _batchim(c: str) -> bool:
    return "가" <= c <= "힣" and (ord(c) - 0xAC00) % 28 != 0


def _person_title_after(text: str, e: int) -> str:
    """"ssi" when 씨 (or a spaced 님) follows text[:e], "kin" for a kinship or teacher title, else ""."""
    if re.match(r"\s?씨(?!앗)|\s님", text[e:e + 3]):
        return "ssi"
    if re.match(r"이?\s?(?:누나|언니|오빠|형|선배|후배)(?![가-힣])|이?\s?(?:누나|언니|오빠|형|선배)(?:이|가|는|은|도|한테|랑|네|께|님)",
                text[e:e + 7]):
        return "kin"
    return ""


def _overrides_word(text: str, s: int, e: int, why: str) -> bool:
    """Context strong enough to call a common word a name: introduced as one ("유리라는 애", "이름이
    장미인데"), or a given-name-shaped noun with 씨 or a kinship title after it ("서진 누나", "은지 씨")."""
    w = text[s:e]
    if why == "named":
        return True
    title = _person_title_after(text, e)
    if title == "ssi" and len(w) == 3 and w[0] in SURNAMES_1:  # "정말순 씨"
        return True
    if not (_shape_given(w) or _shape_full(w)) or w in _KIN_GUARD:
        return False
    if title == "ssi":
        return (w + "씨") not in _SSI_WORDS and (w + "님") not in _SSI_WORDS
    if title == "kin" and len(w) == 2:  # only where Kiwi reads it as one noun ("서진"), not a verb ("친한")
        w0 = max(0, s - 10)
        return any(ts + w0 == s and te + w0 == e and tag in ("NNG", "NNP", "OOV") for ts, te, tag in _tags(text[w0:e + 8]))
    return False


def _judge(text: str, s: int, e: int, why: str, keep: set, public_kept: bool, talk: list) -> tuple[int, int] | None:
    """The span of a private person's name at text[s:e] (evidence `why`), or None."""
    w = text[s:e]
    # "태현아", "도윤이 형": the vocative 아/야 and the friendly 이 after a given name are not the name
    # ("한수아 대리님" keeps its 아: a vocative takes no title)
    if len(w) == 3 and _shape_given(w[:2]) and (w[2] in "아야" and not _hangul_at(text, e) and not _PRIVATE_AFTER.match(text, e)
                                                or w[2] == "이" and _batchim(w[1])) \
            and not (why in ("strong", "list") and _shape_full(w)):  # "송지아 010-…": a full name
        e, w = e - 1, w[:2]
    if w in keep or any(w.startswith(k) and len(w) - len(k) <= 1 for k in keep if len(k) >= 2) or len(w) < 2:
        return None  # "나비지" is the character 나비 and a copula
    if (w in _STOP or (w[-1] in _PLACE_SUFFIX and w[:-1] in _STOP) or (w + "이") in _STOP) and why not in ("named", "frame_f"):
        return None
    if why == "list_p":
        if _kiwi_says(text, s, e) != "NNP" or _ends_in_particle(text, s, e):
            return None
        why = "ctx"  # a proper noun to Kiwi: no name shape needed ("제니")
    ctx = why in ("ctx", "strong", "list", "named")
    if not (_shape_full(w) or _shape_given(w) or ctx):
        return None
    if not ctx and w[-1] in _PLACE_SUFFIX and len(w) == 3:  # "연남동", "서면역": a place on shape alone
        return None
    if why == "shape" and re.match(r"\s?(?:가서|가고|갔|에서|에\s?가|으로|로\s?가|앞바다|해변|항구|시장)", text[e:e + 5]):
        return None  # "주문진 가서 회 먹었어": a place one goes to
    if why == "shape" and (re.search(re.escape(w) + r"(?:역|동|구청|시청|터미널|공항|사거리|입구|로\s?[0-9])", text)
                           or not plausible_given(w[2:] if w.startswith(SURNAMES_2) else w[1:]) and w not in PUBLIC_FIGURES_KO):
        # "신도림 신도림역": the line names the place; "천자문": 자문 reads as no given name (a gazetteer name
        # is a name: the policy decides whether it stays)
        return None
    strong = why in ("strong", "list", "named") or why == "ctx" and bool(
        _STRONG_BEFORE.search(text, max(0, s - 16), s) or _STRONG_TITLE.match(text, e))
    says = "NNP" if w.startswith(SURNAMES_2) and _shape_full(w) else _kiwi_says(text, s, e)
    if says == "word" and why in ("ctx", "named", "poss") and _overrides_word(text, s, e, why):
        says = "NNP"
    # "하늘이가 전학 왔어", "바다가 반에서 울었어": a frame only persons have overrides a common noun (never a
    # verb or an adverb: "늦잠 자서 지각", "지금 군대")
    if says == "word" and why in ("frame_s", "frame_f") and w not in _KIN_GUARD and _noun_at(text, s, e):
        says = "NNP"
    # "아린이가": Kiwi reads a verb stem + ending ("아리"+"ㄴ"), but no verb takes the friendly 이 + a particle
    if says == "word" and why in ("josa", "ctx") and len(w) == 2 and _batchim(w[1]) \
            and re.match(r"이(?:가|랑|한테|는|도|네|하고)?(?![가-힣])", text[e:e + 4]) and _verb_at(text, s):
        says = "NNP"
    # a full name Kiwi does not read as one word either way, with a person particle after it, counts
    if why == "shape" and says == "" and _PERSON_AFTER.match(text, e):
        says = "NNP"
    # a surname and a given part that reads as one, which Kiwi splits ("맹"+"지혜", "정"+"다빈") without
    # reading the whole as one word, a verb or an ending ("강아지", "허전해"): a full name; not the unit
    # after a building number ("18-2 반지하")
    if why == "shape" and says in ("word", "") and len(w) == 3 and plausible_given(w[1:]) and not _one_word(text, s, e) \
            and _split_after_surname(text, s, e) and not re.search(r"[0-9]\s?$", text[max(0, s - 3):s]):
        says = "NNP"
    if why == "shape" and says == "NNP" and _nnp_then_particle(text, s, e):
        return None  # "소녀의 정인은": Kiwi's proper noun ends where a particle starts; no full name
    if says == "oov":  # an unknown word: a name when shaped like one
        says = "NNP" if _shape_full(w) or (why != "shape" and _shape_given(w)) or why == "named" else ""
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
    if says == "word" or (why in ("shape", "josa", "poss") and says != "NNP"):
        return None
    if why == "list" and (not (_shape_full(w) or _shape_given(w)) or _ends_in_particle(text, s, e)):
        return None  # "한 명은 문 과장": 명 + 은 is no name in a list
    if ctx and says != "NNP" and not (_shape_full(w) or _shape_given(w)):
        return None
    if public_kept and why != "named" and _title_talk(text, s, e):
        return None
    if public_kept and why != "named" and not _NOT_THE_FAMOUS.search(text, max(0, s - 60), e + 60):
        if _public(w, text, s, e):
            return None
        if why in ("shape", "josa", "poss", "frame", "frame_s", "frame_f"):
            if not talk:  # computed once per line
                talk.append(_character_talk(text))
            if talk[0]:
                return None
    return (s, e)


_LIST_GOES_ON = re.compile(r"$|[,/·?!.]|이랑|랑|하고|이하고|와|과|이나|나(?![가-힣])|\s(?:중에|중|둘|셋|넷|다|모두|같이|함께|이렇게|셋이|넷이|둘이)(?![가-힣])")


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
            # "이름이 이정숙인데": the name ends where a particle starts; after a name word a value with a
            # copula is a name even when it is also a word ("이름이 유리인데")
            named = _NAME_WORD_BEFORE.search(text, max(0, c.start() - 2), m.start("v")) \
                and (_COPULA_AFTER.match(text, m.end("v")) or len(m.group("v")) == 3 and m.group("v")[0] in SURNAMES_1) \
                and not _verb_at(text, m.start("v")) \
                and not m.group("v").startswith(tuple(_NAME_WORD_STOP))
            cands[(m.start("v"), m.end("v"))] = "named" if named else "ctx"
    for m in _NAMED_AS.finditer(text):  # "세종이라는 친구": introduced as a person ("알려달라는 사람": a verb, quoted)
        if not pet_name_at(text, m.start("v")) and not _verb_at(text, m.start("v")):
            cands[(m.start("v"), m.end("v"))] = "named"
    for rx in (_AFTER_NUMBER, _BEFORE_EMAIL):  # "…1928440 이지훈으로", "김은비 eunbi.k@…"
        for m in rx.finditer(text):
            if _shape_full(m.group("v")):
                cands[(m.start("v"), m.end("v"))] = "strong"
    for m in _NAME_BEFORE_WORD.finditer(text):  # "독고준 이름 실화냐", "지호 지호 지호 이름 부르면"
        v = m.group("v")
        if (_shape_full(v) or _shape_given(v)) and not pet_name_at(text, m.end("v") + 1):
            cands.setdefault((m.start("v"), m.end("v")), "ctx")
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
    # "하늘이 오빠가 군대 갔어": a given name, the friendly 이 and a kinship title, opening a sentence
    for m in _KIN_OPENING.finditer(text):
        cands[(m.start("v"), m.end("v"))] = "named"
    for m in _POSS_AFTER.finditer(text):  # "은지 결혼식", "현수 땜에"
        cands.setdefault((m.start("v"), m.end("v")), "poss")
    for s, e, level in frames(text):  # "오늘 예지 만났어", "은혜야 생일 축하해": a person's frame, no cue word
        if cands.get((s, e)) in (None, "josa", "poss", "frame", "frame_s"):
            cands[(s, e)] = ("frame", "frame_s", "frame_f")[level] if level or (s, e) not in cands else cands[(s, e)]
    out: list[Span] = []
    # "박 대리", "김 과장님", "김씨 아저씨", "박팀장"
    for m in (*_SURNAME_TITLE.finditer(text), *_SURNAME_SSI.finditer(text), *_SURNAME_TITLE_JOINED.finditer(text)):
        out.append(("NAME", m.start("v"), m.end("v")))
    for m in _SPACED_S2.finditer(text):  # "선우 은정님"; "사공 선배" is a surname and a title
        if all(c in GIVEN for c in m.group("v")[3:]) and m.group("v").replace(" ", "") not in keep \
                and not _TITLE_WORD.fullmatch(m.group("v")[3:]):
            out.append(("NAME", m.start("v"), m.end("v")))
    spaced = []
    for m in _SPACED.finditer(text):
        w, s, e = m.group("v"), m.start("v"), m.end("v")
        # "우 지 안 님", "이 지 은 선배", "예금주: 채 윤 서": 안, 은, 서 are name syllables here
        said = re.match(r"\s?(?:님|씨|선배|후배|과장|대리|팀장|쌤|선생님)", text[e:e + 4]) \
            or _SPACED_CTX_BEFORE.search(text, max(0, s - 12), s) or _SPACED_CTX_AFTER.match(text, e)
        if all(c in GIVEN and (said or c not in _SPACED_STOP) for c in w[2::2]) and w.replace(" ", "") not in keep:
            spaced.append((s, e))
    # of two overlapping, the later one ("예약자 명 맹 현 주": the run ends where the name does), unless it
    # ends in a particle ("오 태 민 아")
    for i, (s, e) in enumerate(spaced):
        later = spaced[i + 1] if i + 1 < len(spaced) and spaced[i + 1][0] < e else None
        if later and text[later[1] - 1] not in _SPACED_PARTICLE:
            continue
        if i > 0 and spaced[i - 1][1] > s and text[e - 1] in _SPACED_PARTICLE:
            continue
        out.append(("NAME", s, e))
    if _HAS_LATIN.search(text):
        for m in _LATIN.finditer(text):
            # ... or a person's frame after it ("dohyun kim 만났음", "ji-hoon 이랑")
            private = _PRIVATE_CONTEXT.search(text, max(0, m.start("v") - 40), m.start("v")) \
                or re.match(r"\s?(?:씨|님|선배|이가|가|는|한테|라고|이라고|이랑|랑|하고)", text[m.end("v"):]) \
                or person_frame_after(text, m.end("v"))
            if public_kept and not private and _public_latin(m.group("v")):
                continue  # "Son Heung-min scored again"
            if _LATIN_CAPS.match(m.group("v")) or private:
                out.append(("NAME", m.start("v"), m.end("v")))
        out += [("NAME", m.start("v"), m.end("v")) for m in (*_WESTERN.finditer(text), *_WESTERN_NAME.finditer(text))]
        out += [("NAME", m.start("v"), m.end("v")) for m in _LATIN_GIVEN.finditer(text) if _romanised_name(m.group("v"))]
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
        # after a particle ("지수랑 제니 중에") only a proper noun to Kiwi that the list goes on after
        if (m := _LIST_NEXT.match(text, e)) and (text[e] in " ,/·" or _LIST_GOES_ON.match(text, m.end("v"))):
            nbrs.append((m.start("v"), m.end("v"), "list" if text[e] in " ,/·" else "list_p"))
        if (m := _LIST_PREV.search(text, max(0, s - 6), s)):
            nbrs.append((m.start("v"), m.end("v"), "list"))
        for ns, ne, why in nbrs:
            if (ns, ne) not in seen and not any(a < ne and ns < b for a, b in seen) \
                    and (span := _judge(text, ns, ne, why, keep, public_kept, talk)):
                seen.add(span)
                found.append(span)
                todo.append(span)
    out += [("NAME", s, e) for s, e in found]
    # the same name said again in the line is the same person ("준호였음 이제 준호라는 이름만 들어도")
    # ... also with a surname before it ("지유" -> "김지유"); one scan for all names, whatever the length
    said = sorted({text[s:e] for s, e in found if e - s >= 2}, key=len, reverse=True)[:50]
    if said:
        covered = {i for s, e in found for i in range(s, e)}
        again = re.compile(rf"(?<![가-힣])(?:{_S2}|[{SURNAMES_1}])?(?:{'|'.join(map(re.escape, said))})"
                           rf"(?=[^가-힣]|$|{_PERSON_PARTICLE.pattern}|[이가은는을를도의아야였인라])")
        out += [("NAME", m.start(), m.end()) for m in again.finditer(text)
                if m.start() not in covered and m.end() - 1 not in covered]
    return out


# English words that parse as two romanised syllables ("game", "time", "happy", "going").
_ENGLISH_END = re.compile(r"(?:[bcdgkmnpst]e|y|ing|ed|er|ly)$", re.IGNORECASE)


def _romanised_name(w: str) -> bool:
    """A Latin word that reads as a romanised Korean given name ("jiwoo", "Hyunwoo"), not English."""
    return 4 <= len(w) <= 9 and not _ENGLISH_END.search(w) and not (w.isupper() and len(w) <= 5)

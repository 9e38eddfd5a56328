"""Given names with no cue word around them ("오늘 예지 만났어", "수빈이가 전학 왔어", "은혜야 생일 축하해"):
the word's shape as a given name, the frame of a person around it, and Kiwi's reading, judged together.

A two-syllable word shaped like a given name (names.GIVEN / GIVEN_LAST, the birth-register syllables) is a
candidate when, in the same clause, a predicate that takes a person follows it: met, saw, called, dated,
married, broke up, fought, missed, a birthday, came along, joined the army, changed school, cried, sulked, did
not answer (`_PERSON_PRED`); or when it opens the line as a vocative followed by talk to a person ("은혜야 생일
축하해", "하늘아 너 진짜"); or when it is one of a list of such words that a count or the speaker closes
("현우, 도윤, 시우 셋이랑", "나, 태오, 리안"). names._judge then asks Kiwi: a word Kiwi reads as an ordinary
noun (하늘, 바다, 가을) counts only in the strong frames (`strong`): the friendly 이 + a particle, which no
common noun takes ("하늘이가"), a vocative, or a predicate only a person has (군대, 전학, 답장, 사귀다, ...).

Every pattern is bounded: the frame looks at most 18 characters ahead, within one clause, and
only in a line that has a person predicate at all.
"""

from __future__ import annotations

import re

from .name_patterns import _G, _GL

# Predicates whose subject or object is a person. The first group is also said of things ("바다 봤어",
# "가을이 왔다"), so it names a person only with Kiwi's agreement; the second is said of persons only.
_PRED_ANY = (r"만나|만났|만남|봤|봤어|보자|연락|같이\s?(?:온|왔|와|가|갔|감|놀|먹|했)|놀러|놀았|생일|짜증|게임만|"
             r"카톡|문자|전화|톡\s?(?:왔|옴|함|했)|데리러|데려|만나서|마중|닮았|닮음")
_PRED_PERSON = (r"사귀|사귐|결혼|헤어지|헤어졌|싸웠|싸움|싸워|보고\s?싶|답장|전학|군대|입대|제대|휴가\s?나|울었|울어|울고|삐졌|"
                r"삐짐|고백|차였|취업|합격|임신|출산|결석|지각|학원\s?(?:빠|안\s?|갔|감)|숙제|시험\s?(?:망|잘|봤)|"
                r"생일\s?(?:축하|파티|선물)|축하해|축하한|미안|고마워|사랑해|기다려|어디야|뭐해|밥\s?먹었|보고파|왜\s?답장|"
                r"전화\s?(?:안|해|했|왔)|문자\s?(?:안|해|했|왔)|연락\s?(?:안|해|했|왔|와)|피아노\s?대회|대회\s?나")
# The particle after the candidate; with a final consonant the friendly 이 comes first ("하늘이가", "재원이").
_PARTICLE = r"(?:이가|이는|이도|이랑|이한테|이하고|이네|이의|이|가|는|은|도|랑|하고|한테|에게|의|아|야)?"
_CLAUSE = r"[^.!?\n,;]{0,18}?"
_CAND = re.compile(rf"(?<![가-힣0-9A-Za-z])(?P<v>{_G}{_GL})(?P<p>{_PARTICLE})(?![가-힣])")
_PRED = re.compile(rf"(?P<strong>{_PRED_PERSON})|(?P<weak>{_PRED_ANY})")
_AFTER = re.compile(rf"\s{_CLAUSE}(?:(?P<strong>{_PRED_PERSON})|(?P<weak>{_PRED_ANY}))")
# A vocative opening the line (or a sentence), then talk to that person.
_VOCATIVE = re.compile(rf"(?:^|(?<=[.!?~ㅋㅎㅠ]\s)|(?<=[.!?~]))(?P<v>{_G}{_GL})(?P<p>아|야)(?:[!~,.]*)\s"
                       rf"(?:너|니가|넌|생일|축하|보고\s?싶|고마워|미안|사랑해|어디|뭐해|밥\s?먹었|잘\s?자|잘\s?지내|오늘\s?(?:뭐|어디|몇))")
# A list of given names closed by a count or opened by the speaker: "현우, 도윤, 시우 셋이랑", "나, 태오, 리안".
_ITEM = rf"{_G}{_GL}"
_LIST_COUNT = re.compile(rf"(?<![가-힣])(?P<v>{_ITEM})(?:이)?(?:,\s?|\s)(?:{_ITEM}(?:,\s?|\s)){{0,4}}?(?:{_ITEM})(?:이)?(?:이랑|랑|하고|까지)?\s?"
                         r"(?:둘이|셋이|넷이|다섯|둘|셋|넷|모두|다\s?(?:왔|모였|같이|옴))")
_LIST_ME = re.compile(rf"(?:^|(?<=[\s:]))(?:나|저|나랑|저랑),\s?(?P<v>{_ITEM})(?=,|\s|$|이랑|랑|하고)")


# The syllables most frequent first and last in Korean given names (birth registers of the 1970s-2020s, as
# naming-statistics summaries report them; general knowledge, not read from any labelled set).
FIRST_TOP = frozenset("서 지 민 수 하 예 도 시 유 은 주 현 준 윤 태 건 우 다 채 아 승 재 정 성 영 혜 경 미 진 소 연 희 상 동 나 가 "
                      "세 해 이 한 선 규 보 효 종 원 용 석 병 기 철 인 초 라 리 로 은 명 광 진 혁 호 형 범 찬 강 대 화 순 옥 춘 "
                      "숙 말 복 금 봉 남 여 단 온 루 시".split())
LAST_TOP = frozenset("서 윤 우 준 민 아 연 진 원 현 은 희 빈 호 훈 수 영 율 린 인 주 지 하 안 온 결 솔 별 름 나 래 혁 석 철 숙 "
                     "자 미 경 정 성 환 기 식 규 재 찬 혜 리 오 이 든 람 슬 늘 선 순 옥 남 애 열 웅 택 완 한 후 유 은 담 비 라 "
                     "겸 건 균 용 범 모 교 상 원 혁 빈 설 화 란 령 윤 휘 해".split())


def _batchim(c: str) -> bool:
    return "가" <= c <= "힣" and (ord(c) - 0xAC00) % 28 != 0


def plausible_given(w: str) -> bool:
    """Both syllables among the most frequent at their place in given names (a one-syllable given name:
    among the last ones): a word with no cue around it must look more like a name than names.GIVEN alone
    asks ("대판", "길상", 천자문's "자문" do not)."""
    return len(w) == 2 and w[0] in FIRST_TOP and w[1] in LAST_TOP or len(w) == 1 and w in LAST_TOP


WEAK, STRONG, FRIENDLY = 0, 1, 2


def frames(text: str) -> list[tuple[int, int, int]]:
    """(start, end, level) of every plausible given name in a person frame. WEAK: Kiwi must not read
    the word as a common word; STRONG (a particle and a predicate only persons take: "바다가 반에서
    울었어", or a vocative followed by talk to a person, "은혜야 생일 축하해"): a common noun counts; FRIENDLY
    (the friendly 이 + a particle, "하늘이가"): no common noun takes it, so even a stop-listed one counts."""
    out: list[tuple[int, int, int]] = []
    if _PRED.search(text):
        for m in _CAND.finditer(text):
            w, p = m.group("v"), m.group("p")
            if p in ("아", "야") and (p == "아") != _batchim(w[1]) or not plausible_given(w):
                continue  # "코코아": 아 after a vowel is part of the word, not a vocative
            if (a := _AFTER.match(text, m.end())):
                # a bare word right before a person predicate is often an adverb ("대판 싸웠어"): weak
                friendly = _batchim(w[1]) and len(p) >= 2 and p.startswith("이")
                out.append((m.start("v"), m.end("v"),
                            FRIENDLY if friendly else STRONG if p and a.group("strong") is not None else WEAK))
    for m in _VOCATIVE.finditer(text):
        w, p = m.group("v"), m.group("p")
        if (p == "아") == _batchim(w[1]) and plausible_given(w):
            # STRONG, not FRIENDLY: in this chat most vocatives address the character ("나비야 오늘 뭐 했어?")
            out.append((m.start("v"), m.end("v"), STRONG))
    for rx in (_LIST_COUNT, _LIST_ME):
        for m in rx.finditer(text):
            if plausible_given(m.group("v")):
                out.append((m.start("v"), m.end("v"), WEAK))
    return out


def might_frame(text: str) -> bool:
    """The cheap pre-check for frames: False means no frame can be found in `text`."""
    return bool(_PRED.search(text) and any(_AFTER.match(text, m.end()) for m in _CAND.finditer(text))
                or _VOCATIVE.search(text) or _LIST_COUNT.search(text) or _LIST_ME.search(text))


def person_frame_after(text: str, end: int) -> bool:
    """A predicate that takes a person follows text[:end] in the same clause ("dohyun kim 만났음")."""
    return _AFTER.match(text, end) is not None

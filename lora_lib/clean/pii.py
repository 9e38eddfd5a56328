"""PII masking with typed placeholders, built on ko-pii's Korean rule-based detectors.

ko-pii finds the identifiers written plainly (phone, e-mail, RRN, account, card, address, ...,
with checksums where the number has one). On top of it, for chat:
- numerals.py: one normaliser for numbers as people type them (Korean digit words, mixed forms,
  any separator incl. ~ / ㆍ ㅡ, '에' joins, a phone number in two halves); each digit run is then
  classified by pii_patterns.classify_number (phone, RRN, card 14-19 digits with Luhn, licence incl.
  the old region-name format, business number with its checksum, account next to a bank word), and
  the decoded text also goes through ko-pii;
- pii_patterns.py: e-mails spelled out (골뱅이/앳/at/에이티, 쩜/점/닷/dot, letter by letter),
  building-level addresses (road + number, 지번, 동/호), handles after 인스타/카톡/디코/아이디,
  open-chat and invite links/codes, car plates;
- names.py: person names (Kiwi + surnames + given-name syllables + context); public figures from
  the gazetteer and the card's character names stay;
- known values (the user's nickname, user id, profile name) -> {{user}}, in any spacing; a
  nickname that is a dictionary word ("하늘", "토끼") only where it names a person.
Then, as a second pass (`clean.tagger`, default on), tagger.py's character CRF trained on the labelled sets
adds what the rules missed: spans no rule covers with probability >= `clean.tagger_min_prob`, under the
rules' own vetoes (_tagger_piece_ok), labelled "tagger:<KIND>" in the findings.
City or district alone, dates, times, prices, order numbers, ages, counts and customer-service
numbers (1588-xxxx) stay. ko-pii's PERSON detector is not used: on chat it fired on ordinary words
("구경거리", "성현", "단련장").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from ko_pii.core.overlap import resolve_overlaps
from ko_pii.core.unicode_norm import needs_normalization, normalize_unicode, remap_to_source
from ko_pii.detect import DETECTORS as _KO_PII_DETECTORS

from . import name_kiwi as _kiwi
from . import names as _names
from . import numerals
from . import pii_patterns as _pat
from . import tagger as _tagger
from .not_personal import _SERVICE_NUMBER, _not_personal
from .pii_anchored import anchored, with_complex
from .pii_patterns import _DIGIT
from .pii_tagger import TAGGER_PLACEHOLDER, add_tagger_spans

# Our label -> placeholder. ko-pii labels not listed keep their own name: <LABEL>.
PLACEHOLDER = {"PHONE": "<PHONE>", "EMAIL": "<EMAIL>", "RRN": "<RRN>", "ACCOUNT": "<ACCOUNT>",
               "CARD": "<CARD>", "ADDRESS": "<ADDRESS>", "PERSON": "<NAME>", "NAME": "<NAME>",
               "MESSENGER": "<MESSENGER>", "VEHICLE": "<VEHICLE>"}
USER = "{{user}}"
# Identifiers only: ages, heights, dates, URLs and the like are ordinary chat, not PII to mask
# (spam links are the quality filter's business).
KO_PII_LABELS = ("RRN", "FRN", "DRIVER_LICENSE", "PASSPORT", "CARD", "ACCOUNT", "PHONE", "FAX", "EMAIL",
                 "ADDRESS", "MEDICAL_INSURANCE", "BUSINESS_REG", "VEHICLE", "IP")
LABELS = ("PHONE", "EMAIL", "RRN", "ACCOUNT", "CARD", "ADDRESS", "NAME", "MESSENGER", "USER")

# Every ko-pii label we use needs an at-sign, six or more digits (phone, RRN, card, account,
# licence, passport, vehicle), a dotted quad (IP) or a road/lot word followed by a number (address).
# Text with none of these is never passed to ko-pii: most chat lines, including times, prices and
# dates ("3시 20분", "5000원"). Checked in the tests to lose no ko-pii finding.
_KO_PII_GATE = re.compile(r"[@＠]|\((?:at|AT)\)|\[(?:at|AT)\]|(?:[0-9０-９][^0-9０-９]{0,3}){6}|"
                          r"[가-힣](?:로|길|동|리|가|번지)\s*[0-9０-９]|[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")

# One surname list for every name rule: names.SURNAMES_1 (one syllable) and SURNAMES_2 (남궁, 제갈, ...).
_SURNAME = "(?:" + "|".join(_names.SURNAMES_2) + "|[" + _names.SURNAMES_1 + "])"
# Words that look like a surname + given name but are ordinary ("난 진짜야", "저는 고양이예요").
_NAME_STOP = frozenset(
    "진짜 정말 조금 고양이 강아지 한국인 한국 대학생 고등학생 중학생 초등학생 회사원 직장인 주부 학생 선생님 "
    "오징어 공주 왕자 천재 바보 유령 마법사 기사 용사 전사 도둑 신입 막내 장남 장녀 차남 외동 주인 손님 "
    "고수 초보 백수 전문가 반장 부장 과장 사장 이사 대리 노예 최고 최악 안경 우주인 외계인 우리 지금 오늘 "
    "내일 어제 하루 민트 조용 조심 이번 정상 성인 임산부 연습생 선배 후배 동생 언니 오빠 누나 형 미성년자".split())
_NAME_INTRO = re.compile(
    rf"(?:이름은|이름이|이름|(?:^|(?<=\s))(?:저는|전|저|난|나는|나))\s*(?P<v>{_SURNAME}"
    r"[가-힣]{1,2}?)(?:이라고|라고|이에요|예요|이야|야|입니다|이고|이구요|이요|씨|님|임|이다|\s*라고\s*해)")
# "내 이름 조은비": after the word 이름 a name may end the sentence without a copula.
_NAME_AFTER_WORD = re.compile(rf"이름(?:(?:은|이)\s*|\s+)(?P<v>{_SURNAME}[가-힣]{{2}})(?=$|[\s,.!?~])")
_PROVINCE_BEFORE = re.compile(r"(서울특별시|서울시|서울|부산광역시|부산시|부산|대구광역시|대구|인천광역시|인천|광주광역시|광주|"
                              r"대전광역시|대전|울산광역시|울산|세종시|세종|경기도|경기|강원도|강원|충청북도|충북|충청남도|충남|"
                              r"전라북도|전북|전라남도|전남|경상북도|경북|경상남도|경남|제주특별자치도|제주도|제주)\s$")


# ko-pii's detect_all runs all of its 28 detectors and filters by label afterwards; the PERSON
# detector alone is about half its time. These detectors never emit a label in KO_PII_LABELS, so
# leaving them out gives the same result as detect_all(include=KO_PII_LABELS) (checked in the tests).
_SKIP_DETECTORS = {"person", "postal_code", "birth", "personal_attr", "url", "nationality", "edi_drug", "court_case",
                   "corp_reg", "prescription", "pnu", "government", "civil_petition", "hr"}
_DETECTORS = tuple(fn for fn in _KO_PII_DETECTORS if fn.__module__.rsplit(".", 1)[-1] not in _SKIP_DETECTORS)
_KEYCAP_TAIL = re.compile("\ufe0f?\u20e3")
_ASCII_ALNUM = re.compile(r"[A-Za-z0-9]")
_ALNUM_RUN = re.compile(r"[0-9A-Za-z０-９Ａ-Ｚａ-ｚ]+")


def ko_pii_detect(text: str) -> list:
    """ko-pii's detect_all(text, include=KO_PII_LABELS), running only the detectors that can emit
    those labels: same Unicode folding, offset remapping and overlap resolution as ko-pii."""
    source, offset_map = text, None
    if needs_normalization(text):
        norm, omap = normalize_unicode(text)
        if norm != text:
            text, offset_map = norm, omap
    raw = [d for fn in _DETECTORS for d in fn(text)]
    if offset_map is not None:
        raw = remap_to_source(raw, offset_map, source)
        # as ko-pii does: look at the original too when folding changed the shape of digit runs
        if [len(m.group()) for m in _ALNUM_RUN.finditer(source)] != [len(m.group()) for m in _ALNUM_RUN.finditer(text)]:
            raw += [d for fn in _DETECTORS for d in fn(source)]
    return resolve_overlaps([d for d in raw if d.label in KO_PII_LABELS])


@dataclass
class Redaction:
    text: str
    findings: list[tuple[str, int, int]] = field(default_factory=list)  # (label, start, end) in the original

    @property
    def labels(self) -> list[str]:
        return [label for label, _, _ in self.findings]


@dataclass(frozen=True)
class NamePolicy:
    """Who is masked (the `clean.pii_*` params; one place): `names` "private" masks private persons and
    keeps public/historical/fictional figures of the gazetteer talked about as such, "all" masks those
    too, "off" masks no names; `keep_names` are names that always stay (beside the card's)."""

    names: str = "private"
    keep_names: tuple[str, ...] = ()
    # the learned second pass (clean/tagger.py; `clean.tagger`, `clean.tagger_min_prob`)
    tagger: bool = True
    tagger_min_prob: float = 0.8

    @classmethod
    def from_params(cls, p) -> NamePolicy:
        return cls(p.pii_names, tuple(p.pii_keep_names), p.tagger, p.tagger_min_prob)


def _default_policy() -> NamePolicy:
    from ..config import CleanParams

    return NamePolicy.from_params(CleanParams())


_KNOWN_SEP = "._- "
# A line that starts with the nickname and goes on about the speaker's own state ("모찌 배고파",
# "코코 오늘 학교 안 감") uses it as the speaker's name.
_SELF_STATE = (r"(?=(?:은|는|이|가|도|이는|이도)?\s(?:오늘\s|지금\s|이제\s|방금\s|내일\s)?(?:좀\s|너무\s|진짜\s|완전\s|넘\s)?(?:배고|졸려|졸리|피곤|심심|왔|갈게|간다|"
               r"잘게|잔다|학교|회사|출근|퇴근|여기\s|기분|숙제|시험|알바|집에|놀러|우울|슬퍼|슬프|기뻐|행복|바빠|바쁨|아파|아픔|외로|"
               r"짜증|신나|설레|휴가|번호|생일|돌아왔|돌아옴)"
               # ... or a time word or a 사극 self-address right after it ("공부하는곰 오늘 모의고사…", "새신부 어제
               # 결혼했어", "여행하는펭귄 이옵니다", "알뜰살뜰 문안 올리옵니다")
               r"|(?:은|는|이|가|도)?\s(?:오늘|어제|방금|드디어)\s|\s?(?:이옵니다|이옵고|옵니다|이오|문안)(?![가-힣]))")
# ... or right after a vocative to the character ("보리야 밤비 오늘 우울해").
_LINE_START = r"(?:^|(?<=[.!?~\n)] )|(?<=[가-힣][아야] )|(?<=[ㄱ-ㅎㅠㅜ] )|(?<=님 )|(?<=님, )|(?<=나으리 )|(?<=나으리, ))"
# "초코 = 내 닉", "하늘은 제 닉네임이에요": the user says the value is their nickname.
_DEFINED = r"(?=\s?(?:=|:|은|는|이|가|란|이란)?\s?(?:내|제|나의|저의)\s?(?:닉|닉네임|닉넴|별명|이름|아이디)|\s?=\s?(?:나|저)(?![가-힣]))"
# After a self-introduction the value ends the word or takes a copula ("나 초코야"), not a verb ("내가 사과할까").
_INTRO_END = (r"(?=(?:이야|야|이에요|예요|에요|이예요|입니다|이고|이구|임|이라고|라고|이요|요|이|인데|이다|다|이었고|였고|이었어|였어|이었|였)?(?![가-힣])"
              r"|(?:으로|로)\s?(?:바꿈|바꿨|바꿔|바꿀|변경|정했|할게|했))")
# After "나", "내가", "안녕" the value names the speaker only with a copula or at the end of a clause
# ("나 초코야", "안녕 초코!"): "내가 사과 깎을게" is talk.
_INTRO_END_COPULA = (r"(?=(?:이야|야|이에요|예요|에요|이예요|입니다|이고|이구|임|이라고|라고|이요|요|인데|이다|다|이었고|였고|이었어|였어)(?![가-힣])"
                     r"|\s(?:이야|야|인데|임|이에요|예요|입니다)(?![가-힣])|이?\s?(?:[.!?~,)ㅋㅎ]|$))")
# A dictionary word names a person right after a self-introduction or before a vocative/honorific/person particle.
_NICK_INTRO = (r"(?:(?<=닉은 )|(?<=닉네임은 )|(?<=닉 )|(?<=닉네임 )|(?<=내 닉 )|(?<=닉넴 )|(?<=닉넴은 )|(?<=닉이 )|(?<=닉네임이 )|"
               r"(?<=닉: )|(?<=닉네임: ))")
_SELF_INTRO = (r"(?:(?<=나는 )|(?<=난 )|(?<=저는 )|(?<=전 )|(?<=나 )|(?<=저 )|(?<=제가 )|(?<=내가 )|(?<=소인 )|(?<=소녀 )|(?<=소생 )|"
               r"(?<=안녕 )|(?<=안녕하세요 )|(?<=반가워 )|(?<=반가워요 )|(?<=고마워 )|(?<=고마워요 ))")
# The vocative and the friendly 이 follow the last sound: 아 and 이- after a consonant ("하늘아", "하늘이가"), 야
# after a vowel ("코코야"; "코코아" is cocoa). {voc} is filled per value (_person_after).
_NAMES_PERSON = (r"(?=\s?(?:님|씨|짱|쨩)|(?:{voc}|한테|에게|이에요|이예요|예요|이라고|라고|이라|"
                 r"인데|인데요|입니다|이고|이구|임|쓰|이네|네|이옵니다|옵니다|이옵고|이오|이?라\s?하옵니다)(?![가-힣])"
                 r"|(?:이|이가|가|는|이는|도|이도)?\s?(?:왔|돌아왔|돌아옴|등장|여기|간다|갑니다|왔어|왔다|왔어요|왔습니다|출근|퇴근|잘게|잔다|"
                 r"출석|로그인|접속|(?:드디어\s)?결심|인사드|여쭙|여쭈|출동|잠이\s?안|잠\s안)"
                 r"|(?:이|)?\s?(?:라고|로|으로)\s?(?:불러|부르|해\s?줘|해줘)"
                 # the speaker in the third person: "감자 인사드립니다", "솜사탕이 나비한테 질문", "곰돌이랑 놀아줘"
                 r"|(?:이|가|이가|는|이는)?\s?(?:(?:문안\s?)?인사\s?(?:드|해|할|올)|질문|퀴즈|심심)|(?:이|가|이가)\s?보고\s?싶었"
                 r"|(?:이|가|이가)\s[가-힣]{1,4}(?:한테|에게|께)\s|(?:이랑|랑)\s?(?:놀아|같은\s?사람))")


# After a nickname that is also a food ("수박바", "민트초코"): eaten, baked or a dish, it is the food.
_THING_AFTER = re.compile(r"(?:을|를)?\s?(?:먹|마시|굽|구워|사\s?먹|맛있|맛없|쿠키|아이스크림|케이크|빵|우유|라떼|스무디|맛\s)")


@lru_cache(maxsize=4096)
def _known_value_pattern(value: str) -> re.Pattern | None:
    """Where the value `value` is written in a line. A value that is a dictionary word ("하늘",
    "토끼", "바다") counts only where it names a person: followed by a vocative, honorific or person
    particle ("하늘아", "하늘님", "하늘이가", "하늘 씨"), or after a self-introduction ("난 하늘이야",
    "닉은 하늘"); any other value (made-up words, Latin letters, digits) counts in any spacing
    ("느 긋 한 곰 돌 이", "LAZY.SUNDAY")."""
    chars = [re.escape(c) for c in value if not c.isspace() and c not in _KNOWN_SEP]
    if not chars or len(chars) < 2 and not "가" <= chars[0] <= "힣":  # a one-letter Latin nickname would mask half the chat
        return None
    if len(chars) == 1 or _is_dictionary_word(value) or _LATIN_WORD.fullmatch(value.strip()):
        # a one-syllable one ("별", "봄"), a word or a plain Latin word ("sunny", "moonlight") only where it names the user
        v = re.escape(value.strip())
        b = r"(?<![가-힣A-Za-z])" if v[0].isascii() else r"(?<![가-힣])"
        person = _NAMES_PERSON.replace("{voc}", _vocatives(value.strip()))
        q = r"['\"‘’“”]?"  # "저 '한량'입니다": a quoted nickname
        # ... and one spelled out letter by letter ("느 긋 한 곰 돌 이") is the nickname, hidden on purpose;
        # a line that opens with it and a comma addresses the user ("용감한곰돌이, 또 와 줘서 반갑다멍")
        spelled = r"\s".join(chars) if len(chars) >= 3 else "(?!)"
        return re.compile(rf"{b}(?:{_NICK_INTRO}{q}{v}{q}{_INTRO_END}|{_SELF_INTRO}{q}{v}{q}{_INTRO_END_COPULA}|{q}{v}{q}{person}|"
                          rf"{_LINE_START}{v}{_SELF_STATE}|{_LINE_START}{q}{v}{q}(?=\s?,)|{v}{_DEFINED}|['\"‘’“”]{v}['\"‘’“”]|{spelled})",
                          re.IGNORECASE)
    return re.compile(r"[\s._-]*".join(chars), re.IGNORECASE)


# A Latin nickname of letters only is as likely an English word ("sunny 한 날씨", "hello kitty") as a name;
# one with digits or separators ("jinny0405", "happy_mina") is a made-up handle.
_LATIN_WORD = re.compile(r"[A-Za-z]{2,12}")


def _vocatives(value: str) -> str:
    """The vocatives and person particles that can follow `value`: 아 and the friendly 이 only after a
    final consonant, 야 only after a vowel (Latin: both)."""
    c = value[-1]
    if "가" <= c <= "힣":
        if (ord(c) - 0xAC00) % 28:
            return "아|이가|이는|이도|이랑|이한테|이야"
        return "야"
    return "아|야|이가|이는|이도|이랑|이한테|이야"


@lru_cache(maxsize=4096)
def _is_dictionary_word(value: str) -> bool:
    """One ordinary Korean word: Kiwi reads it (alone or before "좋아") as one known morpheme that is
    no name; a known proper noun counts as a word unless it is shaped like a given name ("초코" is a
    word, "서연" a name)."""
    v = value.strip()
    if not (1 < len(v) <= 6 and all("가" <= c <= "힣" for c in v)):
        return False
    for probe in (v, v + " 좋아"):
        toks = _kiwi._analyzer().tokenize(probe)
        t = toks[0] if toks else None
        if t is None or t.form != v or t.id < _kiwi._OOV_ID:
            continue
        if t.tag != "NNP" or not (_names._shape_given(v) or _names._shape_full(v)):
            return True
    # known morphemes written together ("밤하늘" = 밤 + 하늘, "왕감자", "치즈냥", "콩순이"): a compound word,
    # which chat uses as the thing it names ("왕감자 튀김", "콩순이 인형") as often as as a nickname
    toks = _kiwi._analyzer().tokenize(v)
    return len(toks) >= 2 and all(t.id >= _kiwi._OOV_ID and t.tag != "NNP" for t in toks) \
        and any(t.tag == "NNG" for t in toks)


def decode_number_words(text: str) -> str:
    """Korean digit words in number-like runs -> digits, offsets unchanged ("공일공 1234" -> "010 1234")."""
    return numerals.decode(text)


def _ko_pii_spans(text: str) -> list[tuple[str, int, int]]:
    out = []
    for d in ko_pii_detect(text):
        start = d.start
        if d.label == "PHONE" and _SERVICE_NUMBER.match(text[d.start:d.end]):
            continue
        if d.label == "ADDRESS" and (m := _PROVINCE_BEFORE.search(text, 0, d.start)):
            start = m.start()
        out.append(("NAME" if d.label == "PERSON" else d.label, start, d.end))
    return out


def _spans(text: str, known_values: Sequence[str], keep: Sequence[str], policy: NamePolicy) -> list[tuple[str, int, int]]:
    spans = []
    for value in known_values:
        pat = _known_value_pattern(str(value or ""))
        if pat:
            found = [("USER", m.start(), m.end()) for m in pat.finditer(text) if not _THING_AFTER.match(text, m.end())]
            v = str(value).strip()
            if found and v and "가" <= v[0] <= "힣":  # said once as the user's name: the same word alone again is too
                found += [("USER", m.start(), m.end()) for m in re.finditer(rf"(?<![가-힣]){re.escape(v)}(?![가-힣])", text)]
            spans += found
    runs = numerals.number_runs(text)
    decoded = numerals.decode(text, runs)
    for run in runs:
        if (found := _pat.classify_number(run, decoded)):
            spans.append(found)
    has_digit = _DIGIT.search(decoded) is not None
    if has_digit:
        spans += _pat.number_parts(decoded, runs)
        spans += _pat.addresses(decoded)
        spans += _pat.plates(decoded)
    if _KO_PII_GATE.search(decoded):
        spans += _ko_pii_spans(decoded)
    # e-mails, handles, links and passports all hold Latin letters or digits: most chat lines have none
    if _ASCII_ALNUM.search(text):
        spans += _pat.emails(text)
        spans += _pat.handles(text)
        spans += _pat.passports(text)
    elif _pat.HANGUL_HANDLE_HINT.search(text):  # "닉 구름빵 인데": a Hangul nickname after an id word
        spans += _pat.handles(text)
    spans += [sp for sp in anchored(text) if sp[0] != "NAME" or policy.names != "off"]
    if policy.names != "off":
        spans += _names.find_names(text, keep=(*keep, *policy.keep_names), public_kept=policy.names == "private")
        for m in (*_NAME_INTRO.finditer(text), *_NAME_AFTER_WORD.finditer(text)):
            if m.group("v") not in _NAME_STOP and not _names.pet_name_at(text, m.start("v")) \
                    and (m.re is _NAME_INTRO or _kiwi._kiwi_says(text, m.start("v"), m.end("v")) != "word"):
                end = m.end("v") - (m.group("v").endswith("야") and _names._shape_given(m.group("v")[:2]))  # "진주야": vocative
                spans.append(("NAME", m.start("v"), end))
    spans = with_complex(text, [sp for sp in spans if not _not_personal(sp, text)])
    # Longest span wins where two overlap; known values first, so a nickname is {{user}}.
    spans.sort(key=lambda s: (s[1], -(s[2] - s[1]), s[0] != "USER"))
    out: list[tuple[str, int, int]] = []
    for span in spans:
        if out and span[1] < out[-1][2]:
            if span[2] > out[-1][2] and span[0] == out[-1][0]:  # same kind, overlapping: one span
                out[-1] = (span[0], out[-1][1], span[2])
            continue
        # adjacent address parts ("우동 1234-5 101동 1203호") are one address
        if out and span[0] == out[-1][0] == "ADDRESS" and not text[out[-1][2]:span[1]].strip(" ,"):
            out[-1] = ("ADDRESS", out[-1][1], span[2])
            continue
        out.append(span)
    return out


def redact(text: str, known_values: Sequence[str] = (), *, keep_values: Sequence[str] = (),
           policy: NamePolicy | None = None) -> Redaction:
    """Mask PII in `text`; findings are (label, start, end) in the original text.

    `keep_values` are names that look like PII but are not (the card's character names): a finding
    whose text is one of them is left alone. `policy` (default: the `clean.pii_*` defaults of
    CleanParams) says which person names are masked.
    """
    policy = policy or _DEFAULT_POLICY()
    keep_values = _with_given_names(tuple(keep_values))
    findings = _spans(text, known_values, keep_values, policy)
    # a number written in keycap emoji ("0️⃣1️⃣0️⃣…") ends with the keycap marks of its last digit
    findings = [(label, s, e + len(m.group())) if (m := _KEYCAP_TAIL.match(text, e)) else (label, s, e)
                for label, s, e in findings]
    if keep_values:
        findings = [f for f in findings if text[f[1]:f[2]].strip() not in keep_values]
    if policy.tagger and _tagger.might_hold_pii(text):
        findings = add_tagger_spans(text, findings, _tagger.tag_spans(text, policy.tagger_min_prob), keep_values, policy)
    parts, pos = [], 0
    for label, start, end in findings:
        parts += [text[pos:start], USER if label == "USER" else _placeholder(label)]
        pos = end
    parts.append(text[pos:])
    return Redaction("".join(parts), findings)


_DEFAULT_POLICY = lru_cache(maxsize=1)(_default_policy)

def _placeholder(label: str) -> str:
    if label.startswith("tagger:"):
        return TAGGER_PLACEHOLDER[label[7:]]
    return PLACEHOLDER.get(label, f"<{label}>")


@lru_cache(maxsize=256)
def _with_given_names(keep: tuple[str, ...]) -> tuple[str, ...]:
    """A character called "김선비" is also called "선비": its given name stays too."""
    extra = [k[2:] if k.startswith(_names.SURNAMES_2) else k[1:] for k in keep
             if len(k) >= 3 and all("가" <= c <= "힣" for c in k) and (k[0] in _names.SURNAMES_1 or k.startswith(_names.SURNAMES_2))]
    return keep + tuple(e for e in extra if len(e) >= 2 and e not in keep)


def mask_known_values(text: str, known_values: Sequence[str]) -> str:
    """Replace the user's own nickname/id (any spacing; a dictionary-word nickname only where it names
    a person) with {{user}}; nothing else. One pass, longer values first: a profile name is not
    half-masked by the nickname inside it, and a placeholder already written is never matched again."""
    pats = [p for v in sorted((str(v) for v in known_values if v), key=len, reverse=True)
            if (p := _known_value_pattern(v))]
    if not pats:
        return text
    return re.compile("|".join(f"(?:{p.pattern})" for p in pats), re.IGNORECASE).sub(USER, text)

"""The identifier rules ko-pii does not cover in chat: numbers as people write them, spelled-out
e-mails, building-level addresses, handles and invite codes, car plates.

Every pattern here is bounded (fixed maxima on each repeat, no nested unbounded repeats), so its time
is linear in the length of the text; tests/test_clean_pii_bounds.py checks that on adversarial input.
Each function returns (label, start, end) spans in the text it is given.
"""

from __future__ import annotations

import re

from .numerals import NumberRun

Span = tuple[str, int, int]

# ---------------------------------------------------------------------------------------- numbers
_PHONE = re.compile(r"01[016789]\d{7,8}|02\d{7,8}|0(?:3[1-3]|4[1-4]|5[1-5]|6[1-4])\d{7,8}|070\d{8}|050\d{8,9}")
_SERVICE = re.compile(r"1[5-9]\d{6}")  # 1588-1234: a company's number, not a person's
_BANK_CONTEXT = re.compile(r"(?:은행|뱅크|계좌|통장|입금|송금|이체|예금주|국민|신한|우리|하나|농협|기업|카뱅|케뱅|토스|새마을|"
                           r"우체국|수협|신협|씨티|SC|IBK|KB|NH|부산|대구|경남|광주|전북|제주)")
_LICENCE_CONTEXT = re.compile(r"면허")
_LICENCE_REGIONS = ("서울|부산|경기|강원|충북|충남|전북|전남|경북|경남|제주|대구|인천|광주|대전|울산|경기남부|경기북부")
_LICENCE_OLD = re.compile(rf"(?:{_LICENCE_REGIONS})\s?$")
_NOT_ACCOUNT = re.compile(r"주문|송장|운송장|예약|회원|접수|번호표|모델|시리얼|인증|승인|쿠폰|트래킹|사건|버전|로또|좌표|위도|경도")
# A date or a time range is no identifier: "2024-01-15", "2023.12.25 14:30", "20240115".
_DATE_LIKE = re.compile(r"(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{0,4}")


def _luhn(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _business_ok(d: str) -> bool:
    w = (1, 3, 7, 1, 3, 7, 1, 3, 5)
    s = sum(int(d[i]) * w[i] for i in range(9)) + int(d[8]) * 5 // 10
    return (10 - s % 10) % 10 == int(d[9])


def _rrn_like(d: str) -> bool:
    mm, dd = int(d[2:4]), int(d[4:6])
    return 1 <= mm <= 12 and 1 <= dd <= 31 and d[6] in "12345678"


def classify_number(run: NumberRun, text: str) -> Span | None:
    """The label of one normalised digit run, decided on its digits, grouping and nearby words."""
    d, g = run.digits, run.groups
    before = text[max(0, run.start - 24):run.start]
    if d.startswith("82") and _PHONE.fullmatch("0" + d[2:]):  # +82 10-1234-5678
        return ("PHONE", *run.span())
    if d.startswith("820") and _PHONE.fullmatch(d[2:]):
        return ("PHONE", *run.span())
    if _PHONE.fullmatch(d):
        return ("PHONE", *run.span())
    if _SERVICE.fullmatch(d):
        return None
    if len(d) == 13 and _rrn_like(d) and (g in ((6, 7), (13,)) or run.words):
        return ("RRN", *run.span())
    if len(d) == 12 and (g in ((2, 2, 6, 2), (12,)) or run.words) and 11 <= int(d[:2]) <= 28 \
            and (g != (12,) or _LICENCE_CONTEXT.search(before)):
        return ("DRIVER_LICENSE", *run.span())
    if len(d) == 10 and g == (2, 6, 2) and (_LICENCE_OLD.search(before) or _LICENCE_CONTEXT.search(before)):
        start = _LICENCE_OLD.search(before)
        return ("DRIVER_LICENSE", run.start - len(before) + start.start() if start else run.start, run.end)
    bank = _BANK_CONTEXT.search(before)
    if bank and 10 <= len(d) <= 16 and g != (4, 4, 4, 4) and not _DATE_LIKE.fullmatch(d):
        return ("ACCOUNT", *run.span())
    if 14 <= len(d) <= 19 and not _DATE_LIKE.fullmatch(d) and (_luhn(d) or g == (4, 4, 4, 4)):
        return ("CARD", *run.span())
    if len(d) == 10 and g in ((3, 2, 5), (10,)) and (_business_ok(d) and g == (3, 2, 5) or "사업자" in before):
        return ("BUSINESS_REG", *run.span())
    # Three or more groups of 10-14 digits, shaped like a bank account (3-2-6, 4-2-7, 3-3-6, 6-2-6, ...)
    if 10 <= len(d) <= 14 and len(g) >= 3 and g not in ((4, 4, 4), (4, 4, 4, 4)) and min(g) >= 2 \
            and not _DATE_LIKE.fullmatch(d) and not _NOT_ACCOUNT.search(before):
        return ("ACCOUNT", *run.span())
    return None


# Part of a number named by the words before it: a phone number's or an RRN's half given alone
# ("뒷자리는 5678", "주민번호 앞자리 950101"), a short phone number after a phone word.
_HALF = re.compile(r"(?P<what>폰|핸드폰|휴대폰|전화|전번|번호|연락처|주민번호|주민등록번호|주번|외국인등록번호)?\s{0,2}"
                   r"(?:의\s)?(?:앞|뒷|뒤|중간|가운데|끝|마지막)\s{0,2}(?P<unit>자리|번호|네\s?자리|4자리|부분)?\s{0,2}(?:는|은|가|이|:|도|만)?\s{0,2}"
                   r"(?P<v>[0-9]{3,7}(?![0-9])|[공영빵일이삼사오육륙칠팔구]{3,7}?"
                   r"(?=[^가-힣]|$|이야|이에요|이고|이요|이구|이랑|입니다|인데|야|요|고|로|랑|에|이))")
_PHONE_WORD = re.compile(r"(?:연락처|전화번호|전번|폰번호|핸드폰|휴대폰|핸폰|폰|전화)\s{0,2}(?:번호)?\s{0,2}(?:는|은|:|이|가)?\s{0,2}$")
_BACK_WORD = re.compile(r"(?:뒤|뒷자리|뒷번호|뒤에|뒤는|뒤엔)\s{0,2}(?:는|은|가|이)?\s{0,2}$")
_PHONE_TALK = re.compile(r"번호|폰|전화|연락처|010|공일공")
_NOT_PHONE_WORD = re.compile(r"(?:번호표|대기|순번|주문|송장|운송장|예약|회원|접수|사건|모델|시리얼|인증|승인|쿠폰|방|좌석|출구|버스)")


# A phone number's front half alone ("010-7723", "공일공 구삼이일" decoded), its back half (four digits or
# digit words) later in the same line: "앞자리는 010-7723이고 뒷자리는 나중에 … 5581".
_FRONT = re.compile(r"(?<![0-9])01[016789][\s\-.]{0,2}[0-9]{3,4}(?![0-9]|[\s\-.~]{1,3}[0-9])")
_FRONT_WORD = re.compile(r"앞\s?(?:자리|번호|부분)?\s?(?:는|은|이|가|:)?\s{0,2}$")
_BACK = re.compile(r"(?<![0-9가-힣])(?P<v>[0-9]{4}|[공영빵일이삼사오육륙칠팔구]{4})(?![0-9])"
                   r"(?!\s?(?:원|년|시|분|초|명|개|번째|살|위|등|점|회|호|층|동|km|m\b|%|퍼|건|통))")


def _halves(text: str) -> list[Span]:
    out: list[Span] = []
    for m in _FRONT.finditer(text):
        back = _BACK.search(text, m.end(), min(len(text), m.end() + 40))
        if back and not re.search(r"[0-9]", text[m.end():back.start()]):
            out += [("PHONE", m.start(), m.end()), ("PHONE", back.start("v"), back.end("v"))]
        elif _FRONT_WORD.search(text, max(0, m.start() - 10), m.start()):
            out.append(("PHONE", m.start(), m.end()))
    return out


def number_parts(text: str, runs: list[NumberRun]) -> list[Span]:
    out: list[Span] = _halves(text) if "01" in text else []
    for m in _HALF.finditer(text):
        v = m.group("v")
        if not m.group("unit") and not (m.group("what") or "").startswith(("주민", "외국인", "주번")) \
                and not (len(v) in (3, 4) and _PHONE_TALK.search(text, max(0, m.start("v") - 40), m.start("v"))
                         and not _NOT_PHONE_WORD.search(text, max(0, m.start("v") - 40), m.start("v"))):
            continue  # "앞 990228" after an RRN word, "가운데 4455 끝 6677" after a phone word; else a count
        if sum(c in "0123456789" for c in v) == 0 and len(v) < 4:
            continue
        rrn = re.search(r"주민|외국인|주번|생년", m.group("what") or "") or (
            len(v) in (6, 7) and re.search(r"주민|외국인|주번", text[max(0, m.start() - 30):m.start()]))
        label = "RRN" if rrn else "PHONE"
        if label == "RRN" or len(v) in (3, 4):
            out.append((label, m.start("v"), m.end("v")))
    for r in runs:  # 7-8 digits right after a phone word: "전화번호 123-4567"
        if len(r.digits) in (7, 8) and r.groups in ((3, 4), (4, 4), (7,), (8,)) \
                and _PHONE_WORD.search(text, max(0, r.start - 14), r.start) \
                and not _NOT_PHONE_WORD.search(text, max(0, r.start - 14), r.start) and not _SERVICE.fullmatch(r.digits):
            out.append(("PHONE", *r.span()))
        # "번호 바꿨어 앞에 공일공은 같고 뒤에 팔공이일 육삼사구": the back eight digits after 뒤, a phone word before
        elif len(r.digits) == 8 and r.groups in ((4, 4), (8,)) and _BACK_WORD.search(text, max(0, r.start - 8), r.start) \
                and _PHONE_TALK.search(text, max(0, r.start - 40), r.start):
            out.append(("PHONE", *r.span()))
    return out


# ----------------------------------------------------------------------------------------- e-mail
_AT_STRONG = r"(?:@|＠|골뱅이|골벵이|꼴뱅이|골뱅|앳|엣|애트|에이티|\(at\)|\[at\]|\(골뱅이\))"
# A local part: spaced letter by letter, up to three words, or words joined by a spelled-out dot
# ("jieun 점 choi", "woojin점lee").
_LOCAL = (r"(?:[A-Za-z0-9](?:[ ][A-Za-z0-9._\-]){2,40}|(?:[A-Za-z0-9][A-Za-z0-9._\-]{0,20}[ ]){0,2}[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}"
          r"|[A-Za-z0-9][A-Za-z0-9_\-]{0,30}(?:\s{0,2}(?:점|쩜|닷|\(점\)|\(쩜\)|\(dot\))\s{0,2}[A-Za-z0-9][A-Za-z0-9_\-]{0,30}){1,3})")
_DOMAIN_KO = r"(?:네이버|지메일|다음|한메일|네이트|카카오|핫메일|야후|아웃룩|구글|아이클라우드|g메일)"
_DOMAIN = rf"(?:{_DOMAIN_KO}|[A-Za-z0-9](?:[ ][A-Za-z0-9\-]){{2,30}}|[A-Za-z0-9][A-Za-z0-9\-]{{0,62}})"
_DOT = r"(?:\.|。|쩜|점|닷|\(dot\)|\[dot\]|\((?:점|쩜|닷)\)|\[(?:점|쩜|닷)\]|(?<![A-Za-z])dot(?![A-Za-z]))"
_TLD = r"(?:c ?o ?m|n ?e ?t|o ?r ?g|k ?r|c ?o|[A-Za-z]{2,6}|컴|넷|케이알|씨오|코|오알지)"
_EMAIL_STRONG = re.compile(
    rf"(?<![A-Za-z0-9._%+\-])(?P<v>{_LOCAL}\s{{0,3}}{_AT_STRONG}\s{{0,3}}{_DOMAIN}(?:\s{{0,3}}{_DOT}\s{{0,3}}{_TLD}){{0,3}})"
    r"(?![A-Za-z0-9])", re.IGNORECASE)
# The English word "at" alone needs a dot part after the domain to count ("jieun.lee at gmail dot com").
_EMAIL_AT_WORD = re.compile(
    rf"(?<![A-Za-z0-9._%+\-])(?P<v>{_LOCAL}\s{{1,3}}at\s{{1,3}}{_DOMAIN}(?:\s{{0,3}}{_DOT}\s{{0,3}}{_TLD}){{1,3}})"
    r"(?![A-Za-z0-9])", re.IGNORECASE)
# ... or a well-known mail domain: "minsu92 at gmail"
_EMAIL_AT_DOMAIN = re.compile(
    rf"(?<![A-Za-z0-9._%+\-])(?P<v>{_LOCAL}\s{{1,3}}at\s{{1,3}}(?:gmail|naver|daum|hanmail|kakao|nate|hotmail|yahoo|icloud|outlook))"
    r"(?![A-Za-z0-9])", re.IGNORECASE)
_EMAIL_HINT = re.compile(r"[@＠]|골뱅|골벵이|꼴뱅이|앳|엣|애트|에이티|(?<![A-Za-z])at(?![A-Za-z])|\(at\)", re.IGNORECASE)


def emails(text: str) -> list[Span]:
    if not _EMAIL_HINT.search(text):
        return []
    out = [("EMAIL", m.start("v"), m.end("v")) for m in _EMAIL_STRONG.finditer(text)]
    out += [("EMAIL", m.start("v"), m.end("v")) for m in _EMAIL_AT_WORD.finditer(text)]
    out += [("EMAIL", m.start("v"), m.end("v")) for m in _EMAIL_AT_DOMAIN.finditer(text)]
    return out


# ---------------------------------------------------------------------------------------- handles
_APPS = (r"카톡|카카오톡|카카오|인스타그램|인스타|insta(?:gram)?|ig|라인|line|텔레그램|텔레|telegram|디코|디스코드|discord|"
         r"트위터|트윗|twitter|엑스|틱톡|tiktok|페북|페이스북|facebook|스냅챗|snapchat|위챗|wechat|스레드|threads|유튜브|youtube|"
         r"트위치|twitch|스팀|steam|배틀넷|롤|게임|오픈톡|오픈채팅|블로그|깃허브|github|네이버|본계|부계|뒷계")
_ID_WORD = r"아이디|아디|아뒤|ID|id|계정|닉네임|닉|핸들|유저네임|username|태그|주소"
_JOSA = r"(?:는|은|이|가|도|로|으로|이랑|랑|요|를|을|:|：|=)?"
_HANDLE_VALUE = r"@?[A-Za-z0-9_](?:[A-Za-z0-9_.\-]{1,29})(?:#\d{4,5})?"
_APP_HANDLE = re.compile(
    rf"(?P<app>{_APPS})\s{{0,2}}(?P<idw>{_ID_WORD})?\s{{0,2}}{_JOSA}\s{{0,2}}(?:[:：]\s{{0,2}})?(?P<v>{_HANDLE_VALUE})"
    r"(?![A-Za-z0-9_@])", re.IGNORECASE)
_ID_HANDLE = re.compile(rf"(?<![A-Za-z])(?P<idw>{_ID_WORD})\s{{0,2}}{_JOSA}\s{{0,2}}(?:[:：]\s{{0,2}})?(?P<v>{_HANDLE_VALUE})"
                        r"(?![A-Za-z0-9_@])")
# Discord/Slack/Teams mentions of a whole group, not of an account.
_GROUP_MENTIONS = frozenset(("@everyone", "@here", "@channel", "@all", "@team"))
_BARE_HANDLE = re.compile(r"(?<![\w@.])(?P<v>@[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?)(?![\w@])")
_LINK = re.compile(r"(?P<v>(?:https?://)?(?:open\.kakao\.com/(?:o|me)/|discord\.gg/|discord(?:app)?\.com/invite/|t\.me/|"
                   r"line\.me/(?:ti/p|R/ti/p)/|(?:www\.)?instagram\.com/|(?:www\.)?(?:twitter|x)\.com/|"
                   r"(?:www\.)?tiktok\.com/@|(?:www\.)?youtube\.com/@|(?:www\.)?facebook\.com/|(?:m\.)?blog\.naver\.com/|twitch\.tv/|"
                   r"(?:www\.)?github\.com/|(?:www\.)?threads\.net/@|linktr\.ee/|band\.us/(?:n/|band/)?|(?:www\.)?linkedin\.com/in/|pf\.kakao\.com/)[A-Za-z0-9_.~%\-@]{2,60})",
                   re.IGNORECASE)
_CODE = re.compile(r"(?:오픈채팅|오픈톡|오픈채팅방|오카|초대|참여|입장|디코|서버|친구|추천인|추천|길드|클랜)\s{0,2}(?:방\s{0,2})?"
                   rf"(?:코드|링크|비번|비밀번호|암호)\s{{0,2}}{_JOSA}\s{{0,2}}(?P<v>[A-Za-z0-9](?:-?[A-Za-z0-9]){{3,23}})(?![A-Za-z0-9])")
# A nickname or id in Hangul after an id word: with digits or _ in it ("닉은 새벽감성_02", "아디 퐁퐁이123"), or
# followed by a copula ("서버장 닉 뭉게뭉게 인데").
_HANGUL_HANDLE = re.compile(r"(?<![가-힣])(?:닉네임|닉넴|닉|아이디|아디|계정)\s{0,2}(?:은|는|이|:|：|=)?\s{1,2}"
                            r"(?P<v>[가-힣A-Za-z]{1,12}(?:[_.]?[0-9]{1,6}|_[가-힣A-Za-z0-9]{1,10})|[가-힣]{2,10}(?=\s?(?:인데|이야|이고|임|이에요|예요|입니다|이라고|라고)(?![가-힣])|\s(?:검색|찾아|추가|팔로)))"
                            r"(?![가-힣A-Za-z0-9_])")
HANGUL_HANDLE_HINT = re.compile(r"닉|아이디|아디|계정")
# An id spelled letter by letter after an id word: "아이디는 y o o n a 9 9".
_SPACED_HANDLE = re.compile(rf"(?:{_ID_WORD})\s{{0,2}}{_JOSA}\s{{0,2}}(?P<v>[A-Za-z0-9](?:\s[A-Za-z0-9]){{3,29}})(?![A-Za-z0-9])")
# A handle-shaped token without an id word right before it: an underscore in it anywhere ("tae_fit_pt"),
# a dot between letters where the line talks about accounts ("hae.won_" … 인스타 아이디).
_UNDERSCORE_TOKEN = re.compile(r"(?<![A-Za-z0-9_.@/])(?P<v>[A-Za-z0-9]{1,20}(?:_[A-Za-z0-9]{0,20}){1,4}(?:\.[A-Za-z0-9_]{1,20}){0,2})(?![A-Za-z0-9_@]|\.[A-Za-z])")
_DOTTED_TOKEN = re.compile(r"(?<![A-Za-z0-9_.@/])(?P<v>[A-Za-z][A-Za-z0-9]{1,20}(?:\.[A-Za-z0-9]{1,20}){1,2}_?)(?![A-Za-z0-9_@]|\.[A-Za-z])")
_ACCOUNT_TALK = re.compile(r"인스타|카톡|아이디|아디|계정|팔로우|맞팔|선팔|언팔|디엠|DM|dm|닉|트위터|틱톡|디코|스레드|유튜브")
_NOT_HANDLE = re.compile(r"\.(?:com|net|org|kr|co|io|jpg|jpeg|png|gif|mp3|mp4|pdf|txt|exe|zip|html|py|js)$|^(?:e\.g|i\.e|a\.m|p\.m|vs)$|^(?:ver|vol|no|ep|ch|pt|mr|mrs|ms|dr|st|vs|etc|fig|p)\.", re.IGNORECASE)
# Words after an app name that are talk, not an id ("인스타 story", "카톡 ok"), lower-case only.
_HANDLE_STOP = frozenset("ok okay story reels live dm lol the and is a an my me you to in on of ok요 ㅋㅋ".split())


# "카카오톡 10.5.2 업데이트": digits and dots alone are a version number, not an id
_VERSION = re.compile(r"[vV]?\d{1,4}(?:\.\d{1,4}){1,3}")


def handles(text: str) -> list[Span]:
    out: list[Span] = []
    for m in _APP_HANDLE.finditer(text):
        v = m.group("v")
        # "인스타 story 봤어?" is talk: a plain word needs "아이디"/":" or a digit, _ or . in it, or an @
        if v.lower() in _HANDLE_STOP or _VERSION.fullmatch(v):
            continue
        if m.group("idw") or ":" in m.group() or v.startswith("@") or re.search(r"[\d_.]", v):
            out.append(("MESSENGER", m.start("v"), m.end("v")))
    for m in _ID_HANDLE.finditer(text):
        if m.group("v").lower() not in _HANDLE_STOP and len(m.group("v")) >= 3 and not _VERSION.fullmatch(m.group("v")):
            out.append(("MESSENGER", m.start("v"), m.end("v")))
    if "@" in text:
        out += [("MESSENGER", m.start("v"), m.end("v")) for m in _BARE_HANDLE.finditer(text)
                if m.group("v").lower() not in _GROUP_MENTIONS]
    if "/" in text:
        out += [("MESSENGER", m.start("v"), m.end("v")) for m in _LINK.finditer(text)]
    out += [("MESSENGER", m.start("v"), m.end("v")) for m in _CODE.finditer(text)]
    # a Hangul value that ends like a verb is talk about the id ("아이디 까먹었어 찾아야 돼")
    out += [("MESSENGER", m.start("v"), m.end("v")) for m in _HANGUL_HANDLE.finditer(text)
            if not re.search(r"[었았했겠]|[어아요다지해네야죠]$", m.group("v"))]
    out += [("MESSENGER", m.start("v"), m.end("v")) for m in _SPACED_HANDLE.finditer(text)]
    if "_" in text:
        out += [("MESSENGER", m.start("v"), m.end("v")) for m in _UNDERSCORE_TOKEN.finditer(text)
                if re.search("[A-Za-z]", m.group("v")) and not _NOT_HANDLE.search(m.group("v"))]
    if "." in text and _ACCOUNT_TALK.search(text):
        out += [("MESSENGER", m.start("v"), m.end("v")) for m in _DOTTED_TOKEN.finditer(text)
                if not _NOT_HANDLE.search(m.group("v")) and not _VERSION.fullmatch(m.group("v"))]
    return out


# -------------------------------------------------------------------------------------- addresses
_UNIT_AFTER = r"(?!\s?(?:층|시|분|초|개|명|원|살|세|번째|번\b|번이|번만|번을|배|년|월|일|등|위|점|km|키로|kg|%|퍼|cm|미터|m\b|대|마리|잔|병|권|장|곡|판|회|차|주|박|달|개월|시간|인분|인|기가|테라|GB|gb|TB|인치|만원|천원))"
# A building number never starts with 0 ("문자로 010-…" is a phone number); "종로 3가" is a neighbourhood.
_ROAD = re.compile(rf"(?P<v>[가-힣A-Za-z0-9]{{1,12}}(?:대로|로|길)\s?[1-9]\d{{0,3}}(?:\s?(?:번길|가길|길)\s?\d{{1,4}})?(?:-\d{{1,4}})?)(?![0-9])"
                   rf"(?!가(?:[^가-힣]|$|역|동|에|로)){_UNIT_AFTER}")
_ROAD_STOP = re.compile(r"(?:으로|에로|쪽으로|걸로|(?:는|은|한|던|킨|든|운|된|른|준|쓴|간|온)대로|거로|것으로|그길|이길|저길|한길|외길|산길|밤길|눈길|발길|손길|물길|뱃길|하늘길|꽃길|"
                        r"프로|마이크로|매크로|레트로|유로|제로|히어로|앞으로|뒤로|위로|아래로|옆으로|새로|따로|별로|정말로|진짜로|혼자로|서로|바로|절로|주로|실로|거꾸로|날로|멋대로|"
                        r"마음대로|제멋대로|맘대로|말로|글로|차로|배로|비행기로|버스로|택시로|지하철로|걸어서로|빨리로|천천히로)$")
_LOT = re.compile(rf"(?P<v>[가-힣]{{1,6}}(?:동|리)\s?(?:산\s?)?\d{{1,4}}(?:-\d{{1,4}})?(?:\s?번지)?)(?![0-9]|\.\d){_UNIT_AFTER}")
_LOT_STOP = re.compile(r"(?:이동|행동|활동|운동|자동|수동|감동|충동|변동|연동|출동|작동|가동|발동|소동|난동|파동|진동|"
                       r"구동|거동|노동|공동|합동|동동|미리|거리|우리|자리|머리|소리|요리|관리|처리|정리|수리|무리|다리|유리|"
                       r"도리|논리|심리|승리|차리|오리|고리|꼬리|가리|몇리|십리|천리|만리|백리|마리|배터리|카테고리|갤러리)$")
_APT = re.compile(r"(?P<v>(?:\d{1,4}|[A-Za-z]|(?<![가-힣])[가나다라마바사])\s?동\s?\d{1,4}\s?호|\d{1,4}\s?-\s?\d{1,4}\s?호)(?!선)")
# What follows a building number inside one address: a building name, a floor, a unit
# ("상계로5길 16 한양빌라 3층", "달구벌대로 2450, 2층", "역삼로17길 22 지하1층", "연희로 23-8 201호").
_APT_BRANDS = (r"아파트|빌라|주공|자이|래미안|푸르지오|힐스테이트|e편한세상|더샵|아이파크|롯데캐슬|오피스텔|맨션|하이츠|센트레빌|위브|"
               r"꿈에그린|데시앙|베르디움|스위첸|하늘채|스타힐스|어울림|수자인|캐슬|팰리스|리슈빌|파크뷰|SK뷰|sk뷰")
_BUILDING = r"[가-힣A-Za-z0-9]{1,10}(?:빌라|아파트|맨션|오피스텔|빌딩|타워|하우스|주택|원룸|빌|하이츠|상가|프라자|플라자)"
# A unit in a named building without a road ("한빛빌라 201호", "래미안 1203호"): the building's address.
_BUILDING_UNIT = re.compile(rf"(?<![가-힣A-Za-z0-9])(?P<v>(?:{_BUILDING}|[가-힣A-Za-z0-9]{{0,8}}(?:{_APT_BRANDS}))\s{{0,2}}"
                            r"(?:(?:[0-9]{1,4}|[A-Za-z]|[가나다라마바사])\s?동\s?)?[0-9]{1,4}\s?호)(?![0-9])(?!선)")
_TAIL = re.compile(rf"(?:,\s{{0,2}}|\s{{1,2}})(?:(?:{_BUILDING}\s{{1,2}})?(?:(?:지하|B)\s?\d{{1,2}}\s?층|\d{{1,3}}\s?층|\d{{1,4}}\s?호)"
                   rf"|{_BUILDING}(?![가-힣A-Za-z0-9]))")
# "래미안 101-1203": 동-호 without the words, right after an apartment name
_APT_DASH = re.compile(rf"(?:{_APT_BRANDS})"
                       r"\s{0,2}(?:[가-힣0-9]{1,6}\s)?(?P<v>\d{1,4}\s?-\s?\d{3,4})(?![0-9])")
# "래미안 101동 살아": a building's 동 right after an apartment name, without the unit
_APT_DONG = re.compile(rf"(?:{_APT_BRANDS}|단지)"
                       r"\s{0,2}(?:[가-힣0-9]{1,6}\s)?(?P<v>\d{1,4}\s?동)(?![가-힣0-9])")
# The city/district/dong words right before an address are part of it (a city or district alone stays).
_CITIES = (r"서울|부산|대구|인천|광주|대전|울산|세종|경기|강원|충북|충남|전북|전남|경북|경남|제주|수원|성남|고양|용인|부천|안산|안양|남양주|"
           r"화성|평택|의정부|시흥|파주|김포|광명|군포|하남|오산|이천|안성|의왕|양주|구리|포천|과천|여주|춘천|원주|강릉|속초|청주|충주|"
           r"제천|천안|아산|서산|논산|당진|공주|전주|군산|익산|정읍|남원|목포|여수|순천|나주|광양|포항|경주|김천|안동|구미|영주|영천|상주|"
           r"경산|창원|진주|통영|사천|김해|밀양|거제|양산|서귀포|동탄|판교|분당|일산|광교|위례|송도|청라|마곡|잠실|목동|반포|평촌|산본")
_REGION_WORD = re.compile(rf"(?:[가-힣]{{1,8}}(?:특별시|광역시|특별자치시|특별자치도|시|도|군|구|읍|면|동|리)|{_CITIES})\s{{1,2}}$")
_LATIN_ROAD = re.compile(r"(?<![A-Za-z])(?P<v>[A-Z][a-z]{1,14}-(?:daero|ro|gil)(?:\s?\d{1,4}(?:beon)?-gil)?\s\d{1,4}(?:-\d{1,4})?)(?![0-9])")


def _tail(text: str, end: int) -> int:
    """The end of an address after its building name, floor and unit (up to three parts)."""
    for _ in range(3):
        m = _TAIL.match(text, end)
        if not m or m.end() == end:
            break
        end = m.end()
    return end
_PLATE_LETTERS = "가나다라마거너더러머버서어저고노도로모보소오조구누두루무부수우주아바사자배하허호"
_PLATE = re.compile(rf"(?<![0-9가-힣])(?P<v>(?:(?:{_LICENCE_REGIONS})\s?)?\d{{2,3}}\s?[{_PLATE_LETTERS}]\s?\d{{4}})(?![0-9])"
                    r"(?!\s?(?:원|명|개|분|시|년|번|회))")


# An apartment complex's name right before its 동/호 is part of the address ("헬리오시티 311동 2101호",
# "자이 아파트 5동 1502호", "주공아파트 12단지 1208동 506호").
_COMPLEX_BEFORE = re.compile(rf"(?<![가-힣A-Za-z0-9])[가-힣A-Za-z0-9]{{0,10}}(?:{_APT_BRANDS}|시티|리버|하임|타운|파크|빌리지|아크로|트리마제)"
                             r"(?:\s{0,2}아파트)?(?:\s{0,2}\d{1,3}\s?단지)?\s{0,2}$")


# Before "N동 N호" (an apartment unit for sure) the one or two words right before are the complex's name even
# without a brand word ("한신 2차", "래미안 퍼스티지", "잠실 엘스"), unless they are talk ("우리집", "주소는").
_WORDS_BEFORE = re.compile(r"(?<![가-힣A-Za-z0-9])(?P<w>(?:[가-힣A-Za-z]{2,8}\s{1,2}){1,2})(?:\d{1,2}\s?(?:차|단지)\s{1,2})?$")
_NOT_COMPLEX = re.compile(r"^(?:우리집|저희집|우리|저희|우리는|집|주소|여기|거기|저기|새집|이사|친구|친구네|언니네|할머니댁|본가|택배|배송지)$|"
                          r"(?:은|는|이|가|을|를|에|에서|로|으로|도|야|요|고|면|서|랑|하고|께|한테|어|아|다|함|됨|음|네|죠|해|줘)$")


def _extend_complex(text: str, start: int, unit: bool = False) -> int:
    m = _COMPLEX_BEFORE.search(text, max(0, start - 40), start)
    if m:
        return _extend_region(text, m.start())
    if unit and (m := _WORDS_BEFORE.search(text, max(0, start - 30), start)):
        words = m.group("w").split()
        while words and _NOT_COMPLEX.search(words[0]):  # drop talk from the left: "우리집 잠실 엘스"
            words.pop(0)
        if words and not any(_NOT_COMPLEX.search(w) for w in words):
            return _extend_region(text, text.rindex(words[0], m.start(), start))
    return start


def _extend_region(text: str, start: int) -> int:
    """Include the city/district/dong words right before an address ("서울 강남구 역삼동 123")."""
    for _ in range(4):
        m = _REGION_WORD.search(text, max(0, start - 14), start)
        if not m or m.end() != start:
            break
        start = m.start()
    return start


def addresses(text: str) -> list[Span]:
    out: list[Span] = []
    for m in _ROAD.finditer(text):
        head = re.match(r"[가-힣A-Za-z0-9]+", m.group("v")).group()
        road = re.sub(r"\d+$", "", head)
        if _ROAD_STOP.search(road) or len(road) < 2 or road[:-1].isdigit():
            continue
        out.append(("ADDRESS", _extend_region(text, m.start("v")), _tail(text, m.end("v"))))
    for m in _LOT.finditer(text):
        word = re.match(r"[가-힣]+", m.group("v")).group()
        if _LOT_STOP.search(word) or len(word) < 2:
            continue
        out.append(("ADDRESS", _extend_region(text, m.start("v")), _tail(text, m.end("v"))))
    if "-" in text:
        out += [("ADDRESS", m.start("v"), m.end("v")) for m in _LATIN_ROAD.finditer(text)]
    for m in (*_APT.finditer(text), *_APT_DASH.finditer(text), *_APT_DONG.finditer(text), *_BUILDING_UNIT.finditer(text)):
        out.append(("ADDRESS", _extend_complex(text, m.start("v"), unit=m.re is _APT and "동" in m.group("v")), m.end("v")))
    return out


_PASSPORT = re.compile(r"(?<![A-Za-z0-9])(?P<v>[MSRODmsrod][0-9]{8}|[MSRODmsrod][0-9]{3}[A-Za-z][0-9]{4})(?![A-Za-z0-9])")
# After the word 여권: a number spaced out ("M 5 5 0 2 9 1 8 3") or with two letters ("PM1234567").
_PASSPORT_NEAR = re.compile(r"(?<![A-Za-z0-9])(?P<v>[A-Za-z](?:\s[0-9]){8}|[A-Z]{2}[0-9]{7})(?![A-Za-z0-9])")
# A card number partly masked with * ("5327-88**-****-2210") is still a card's: its visible digits leak.
_MASKED_CARD = re.compile(r"(?<![0-9])(?P<v>[0-9]{4}[\s\-][0-9*]{4}[\s\-][0-9*]{4}[\s\-][0-9*]{4})(?![0-9])")


def passports(text: str) -> list[Span]:
    """Passport numbers, and card numbers partly masked with *."""
    out: list[Span] = []
    if "*" in text:
        out += [("CARD", m.start("v"), m.end("v")) for m in _MASKED_CARD.finditer(text)
                if "*" in m.group("v") and "카드" in text[max(0, m.start() - 12):m.start()]]
    if "여권" not in text and not re.search(r"(?<![A-Za-z])[MSROD][0-9]", text):
        return out
    out += [("PASSPORT", m.start("v"), m.end("v")) for m in _PASSPORT.finditer(text)]
    if "여권" in text:
        out += [("PASSPORT", m.start("v"), m.end("v")) for m in _PASSPORT_NEAR.finditer(text)
                if "여권" in text[max(0, m.start() - 20):m.start()]]
    return out


def plates(text: str) -> list[Span]:
    return [("VEHICLE", m.start("v"), m.end("v")) for m in _PLATE.finditer(text)]


_DIGIT = re.compile(r"[0-9]")

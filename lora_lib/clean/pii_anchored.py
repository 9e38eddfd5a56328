"""Values that a word next to them says are personal, found by anchor, not by shape:

- a person's own number in an institution ("학번 20231587", "환자번호 00418832") and a door or locker code
  ("공동현관 비번 *3917#");
- a platform nickname in quotes or before 님 ("닉네임 '봄바람_31'", "'유리구슬' 님", "블로그 이웃 달콤한하루 님");
- a Latin-letter name after a title or a role word, or before a person's title ("Dr. Sato Hana", "회사 후배 Mina",
  "Sophie님");
- a name in initials ("ㅈㅁㄱ이 또 연락옴");
- a full name after the word for whose name a record holds ("예금주 조말례", "총무 문선희"), names in a roster after
  a colon ("명단: 태현, 준기"), a child's name before 맘/엄마 ("지안맘");
- addresses the shape rules miss: Latin streets ("12, Hakdong-ro 42-gil"), 동/호 in Korean numerals, a road address
  with its unit after a comma, an apartment complex's name before its 동 (with_complex);
- an e-mail with spelled dots in its local part ("ta.jung 쩜 hy 골뱅이 gmail 쩜 com").

Each pattern needs its anchor, so the values alone (an order number, a quoted song title, an English word, a
bank's name) stay. Spans are (label, start, end) in the rules' labels (ID, MESSENGER, NAME, ADDRESS, EMAIL). The
names found here do not pass the name rules' public-figure test: their anchors say private person.
"""

from __future__ import annotations

import re

from . import name_kiwi as _kiwi
from . import names as _names
from .name_latin import latin_names
from .name_patterns import _S2, _TITLES, _WESTERN_GIVEN, SURNAMES_1
from .public_figures import FICTIONAL

Span = tuple[str, int, int]
_FICTIONAL = frozenset(FICTIONAL.split())

# A person's own number where they study, work, are treated or are a member; order, booking and tracking
# numbers are not a person's (they stay).
_PERSON_CODE = re.compile(
    r"(?:학번|사번|사원\s?번호|사원증\s?번호|직원\s?번호|교직원\s?번호|학생증\s?번호|학생\s?번호|수험\s?번호|수험번호|환자\s?번호|"
    r"진료\s?번호|등록\s?번호|회원\s?번호|군번|교번|사원\s?코드)\s{0,2}(?:은|는|이|가|:|：|=)?\s{0,2}"
    r"(?P<v>[A-Za-z]{0,3}-?\d[\d\-]{3,14}\d)(?![0-9A-Za-z])")
# A platform nickname in quotes after a nickname word, or a quoted name followed by 님 / 이라는 사람 (a member
# of a server, a trading partner); 닉 and 아이디 alone are the handle rules' (pii_patterns).
_Q_OPEN, _Q_CLOSE = "'\"‘“「『", "'\"’”」』"
_QUOTED_NICK = re.compile(
    rf"(?:닉네임|닉넴|닉|아이디|아디|계정|유저|길드원|덕메|파티원|듀오)\s{{0,2}}(?:은|는|이|가|:|：|=)?\s{{0,2}}(?:바꿈\s{{0,2}})?"
    rf"[{_Q_OPEN}](?P<v>[^{_Q_CLOSE}\s]{{2,20}})[{_Q_CLOSE}]")
_QUOTED_MEMBER = re.compile(
    rf"[{_Q_OPEN}](?P<v>[^{_Q_CLOSE}\s]{{2,20}})[{_Q_CLOSE}]\s?(?:님(?![가-힣])|님이|님한테|님께|이라는\s?(?:사람|분|애|유저)|라는\s?(?:사람|분|애|유저))")
# A Latin-letter name after a title ("Dr. Sato Hana", "Mr. Kowalski") or after a relation word ("회사 후배
# Mina", "남편 Tom", "친구 Lucas Martin"): capitalised words, one or two.
_LATIN_NAME = r"[A-Z][a-zà-öø-ÿ]{1,14}(?:\s[A-Z][a-zà-öø-ÿ]{1,14}){0,2}"
_TITLED_LATIN = re.compile(rf"(?<![A-Za-z])(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s(?P<v>{_LATIN_NAME})(?![A-Za-z])")
_RELATION_LATIN = re.compile(
    r"(?<![가-힣])(?:후배|선배|동기|동료|친구|여자친구|남자친구|여친|남친|남편|아내|와이프|신랑|신부|상대|언니|오빠|누나|형|동생|사촌|"
    r"이모|삼촌|매니저|팀장|주치의|담당자|룸메|이웃|집주인|간병인|원어민\s?쌤|선생님|쌤|팀원|인턴|사장님|호스트|가이드|영업사원|"
    r"교환학생|유학생|파견직|세입자|교생|옆자리|직원|코치|강사|튜터|손님|여인|맘|퇴사한|전학\s?온|같이\s?일하는)(?:는|은|이|가|분)?\s"
    rf"(?P<v>{_LATIN_NAME})(?![A-Za-z])")
# ... or a Latin name with a person's title after it ("Sophie님", "Jenny 쌤", "Nam씨", "Yuri 언니"), or one of
# the common Western given names before a particle ("Olivia랑", "Amanda가", "Michael은")
_TITLE_AFTER_LATIN = re.compile(
    rf"(?<![A-Za-z.])(?P<v>(?:(?:[A-Z]\.){{1,3}}\s?)?{_LATIN_NAME})(?=\s?(?:씨|님|쌤|선생님|선생|언니|오빠|누나|형|병장|상병|코치|사장님|여사님|집사님|교수님|"
    r"할머니|할아버지|아저씨|아주머니)(?![가-힣])|\s?(?:씨|님|쌤|선생님|코치님|언니|오빠|누나|병장)(?:이|가|은|는|한테|께|이랑|랑|도|의))")
_GIVEN_LATIN = re.compile(rf"(?<![A-Za-z])(?P<v>(?:{_WESTERN_GIVEN}|Amanda|Oliver|Marcus|Diego|Marco|Lukas|Vincent|Priya|Minh|"
                          r"Jason|Ray|Alice|Tom|Mike|Nick|Luke|Adam|Maria)(?:\s[A-Z][a-z]{1,14})?)"
                          r"(?=(?:이가|가|이랑|랑|이한테|한테|에게|하고|은|는|이는|이|이도|도|이네|네|\s이)(?![가-힣]))")
# English words a relation word may come before ("친구 Group 만들었어"): not a name
_NOT_LATIN_NAME = frozenset("The This That And For With Group Chat Team Club Party Zoom Kakao Apple Google Netflix Youtube "
                            "Instagram Discord Game Play Live Story List Love Happy Good Best New Old Mr Mrs Ms Miss Dr Prof Seoul Korea "
                            "English Korean Japan China Samsung Naver Excel Word Zoom Slack Notion Figma".split())
# A street address in Latin letters: a Korean road ("12, Hakdong-ro 42-gil", "88 Gangnam-daero") or an English
# street ("1420 Maple Avenue"), with the unit before or after it ("Apt 1504,", ", Apt 505").
_UNIT = r"(?:Apt|Unit|Suite|Ste|Room|Rm)\.?\s?[A-Za-z0-9\-]{1,6}"
_ROAD = r"[A-Z][a-z]{1,14}-(?:daero|ro|gil)(?:\s\d{1,4}(?:beon)?-gil)?"
_STREET = r"(?:[A-Z][a-z]{1,14}\s){1,3}(?:Avenue|Ave|Street|St|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl)\.?"
_LATIN_ADDRESS = re.compile(
    rf"(?<![A-Za-z0-9])(?P<v>(?:{_UNIT},?\s)?\d{{1,5}}(?:-\d{{1,4}})?,?\s(?:{_ROAD}|(?P<street>{_STREET}))(?:,?\s{_UNIT})?"
    r"(?:,\s[A-Z][a-z]{1,14}-(?:gu|si|dong|gun))?(?:,\s(?:Seoul|Busan|Incheon|Daegu|Daejeon|Gwangju|Ulsan)|,\s[A-Z][a-z]{2,14}\s[A-Z]{2})?)"
    r"(?![A-Za-z0-9])")
# an English street needs the line to be about where someone lives or gets mail ("3 Big Street fighter" is not)
_ADDRESS_TALK = re.compile(r"주소|배송|택배|소포|우편|보내|살아|사는|이사|집|address|ship|mail", re.IGNORECASE)


# A building and unit in Korean numerals ("구백칠동 육백일호", "백팔동 이천삼백일호"): a 호 of three digits or more.
_KO_UNIT = re.compile(r"(?<![가-힣])(?P<v>[일이삼사오육칠팔구십백천]{1,6}동\s?[일이삼사오육칠팔구십]{0,2}[백천][일이삼사오육칠팔구십백]{0,5}호)"
                      r"(?![가-힣])")
# A private door, locker or room code after its word ("공동현관 비번 *3917#", "사물함 비번 0312"): a key to someone's
# home or things (HANDLE in the labelled sets).
_DOOR_CODE = re.compile(r"(?:비번|비밀번호|암호|패스워드|현관\s?번호|도어락\s?번호)\s{0,2}(?:은|는|이|가|:|：|=)?\s{0,2}"
                        r"(?P<v>[*#]?[A-Za-z0-9!@#$%^&*]{3,20}[*#]?)(?![A-Za-z0-9])")
# A Korean road address whose unit follows after a comma ("한강대로 95, 래미안용산 2602호", "연희로11길 24, 302호",
# "한누리대로 2130, 601-1502"): one address.
_ROAD_UNIT = re.compile(r"(?<![가-힣])(?P<v>[가-힣0-9]{1,12}(?:로|길)\s?\d{1,4}(?:-\d{1,4})?,\s?(?:[가-힣A-Za-z0-9]{1,12}\s){0,3}"
                        r"(?:\d{1,4}동\s?)?(?:\d{1,4}호|\d{1,4}-\d{3,4}))(?![0-9])")


# A name written as initials ("ㅈㅁㄱ이 또 연락옴", "예금주 ㅂㅈㅎ으로"): they still say who. Not chat shorthand (ㅇㅈㄹ,
# ㅋㅋㅋ: one letter thrice). A name already half-masked ("조*현", "차○○") stays: the labelled sets 6 and 9 keep it.
_INITIALS = re.compile(r"(?<![ㄱ-ㅎㅏ-ㅣ가-힣])(?P<v>[ㄱ-ㅎ]{3})(?=(?:이|이가|한테|이랑|랑|씨|님|으로)(?![가-힣])|"
                       r"(?:이)?\s?(?:누나|언니|오빠|형|선배|후배)(?![가-힣]))")
_CHAT_INITIALS = frozenset("ㅇㅈㄹ ㄹㅇㅋ ㅇㄱㄹ ㅁㅊㄷ ㅈㄴㄱ ㄱㅇㄷ ㅅㅂㄹ ㄱㅅㄱ ㅎㅇㅌ ㅊㅋㅊ ㅇㅋㅇ ㄴㅇㄱ ㅈㅂㅈ ㄱㄴㄷ".split())


# A full name right after the word for whose name a record holds ("예금주 조말례", "총무 문선희", "예약자 윤상혁
# 으로", "소유자가 안말순이야", "환자 손무길 68세", "피의자 라윤기", "신부 계수아"): the anchor is strong enough for
# given names no list knows (말례, 말순).
_HOLDER_NAME = re.compile(
    r"(?:예금주|입금자\s?명?|예약자\s?명?|소유자|수취인|명의자|총무|계약자|신청자|보호자|주문자|세입자|임차인|임대인|집주인|"
    r"환자|피의자|피고인|피해자|원고|피고|의뢰인|신랑|신부|새신자|구매자|판매자|수강생|입주자|상담사|故)"
    r"(?:은|는|이|가|:|：)?\s{0,2}"
    rf"(?P<v>(?:{_S2})[가-힣]{{1,2}}|[{SURNAMES_1}][가-힣]{{2}})"
    r"(?=\s?(?:으로|로|이야|야|이고|이에요|예요|님|씨|이|가|은|는|의|계좌|통장|앞|$)|[^가-힣]|$)")
# ... not a word that follows those anchors ("보호자 연락처", "집주인 이메일로", "예금주 어머니 이름"), nor one ending
# in a particle (아 is not taken for one: after these anchors "계수아", "서아" are given names, not vocatives)
_NOT_HOLDER = re.compile(rf"^.(?:{_TITLES})|[이가은는을를도에의야]$|^(?:인스타|명단|계정|연락처|이메일|어머니|아버지|어머님|아버님|사모님|할머니|할아버|"
                         r"선생님|회장님|대표님|사장님|본인이|본인은|명의로|성함이|성함은|전화번|주소가|주소는|계좌번|정보가|이름이|이름은)")
# Names listed after a roster word and a colon ("명단: 태현, 준기", "더치페이: 하율 12,500원 도경 12,500원"):
# two-syllable words each followed by a comma, an amount or the end.
_ROSTER = re.compile(r"(?:명단|목록|조원|멤버|참석자|참가자|불참|정산|더치페이|엔빵|당번|순서|부상자|선발|작업자|스케줄|근무표|"
                     r"라인업)[^:：\n]{0,10}[:：]")
_ROSTER_ITEM = re.compile(r"\s{0,2}(?:[월화수목금토일]\s)?(?:(?!그리고)(?P<v>[가-힣]{2,3})(?=\s?(?:,|/|·|\s\d|\d|$|\s그리고|\s나(?![가-힣])))|나(?![가-힣])|그리고(?![가-힣]))"
                          r"(?:\s?\d[\d,.]*\s?(?:만\s?)?원?)?\s{0,2}[,/·]?")
# An e-mail whose local part has spelled dots ("ta.jung 쩜 hy 골뱅이 gmail 쩜 com").
_SPELLED_LOCAL_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._\-])(?P<v>[A-Za-z0-9._\-]{1,30}(?:\s?(?:쩜|점|닷|dot)\s?[A-Za-z0-9_\-]{1,20}){1,3}\s{0,3}"
    r"(?:골뱅이|골뱅|앳|엣|에이티|@)\s{0,3}[A-Za-z0-9]{2,20}(?:\s{0,3}(?:쩜|점|닷|dot|\.)\s{0,3}[A-Za-z]{1,5}){1,3})(?![A-Za-z])")


# A nickname after a word that names one on a platform ("블로그 이웃 달콤한하루 님", "닉네임 산타는할배 님이",
# "상대방 닉네임 굿딜왕,", "판매자 블루문77 이 사람"): before 님, a comma or "이 사람"/"인 분".
_NICK_BEFORE_NIM = re.compile(
    r"(?:닉네임|닉넴|닉|아이디|판매자|구매자|글쓴이|작성자|이웃|트친|맞팔|길드장|길드원|파티장|방장|상대|상대방|팀원)(?:은|는|이|:)?\s"
    r"(?!여러분|모두|다들|분들)(?P<v>[가-힣A-Za-z0-9_#♥♡]{2,15})(?=\s?님(?![가-힣])|\s?님(?:이|은|는|한테|께|의|도)|,|\s이\s사람|인\s분|\s\()")
# An apartment complex's name before the 동 a rule found ("검단 호반써밋 102동", "은하수 아파트 5동 1204호")
_COMPLEX_BEFORE = re.compile(r"(?:[가-힣A-Za-z]{2,10}\s)?[가-힣A-Za-z0-9]{0,10}(?:아파트|마을|단지|빌라|써밋|캐슬|파크|자이|타운|하이츠|"
                             r"힐스|스테이트|세상|시티|블레스|푸르지오|래미안|아이파크|더샵|센트럴|팰리스|하우스)\s?$")


# A child's given name before 맘/엄마/아빠, the way parents are named in school chats ("지안맘", "서준 엄마입니다",
# "하율아빠"): a name shape that Kiwi knows as no word ("친구 엄마", "동생 엄마" are words).
_PARENT_OF = re.compile(r"(?<![가-힣])(?P<v>[가-힣]{2})(?:맘|엄마|아빠|\s(?:엄마|아빠|어머니|아버지|어머님|아버님))(?=[^가-힣]|$|[이가은는의도랑입예께])")


def with_complex(text: str, spans: list[Span]) -> list[Span]:
    """`spans` with an address's complex name taken in where a rule found only its 동 (and 호). A bank's name
    before an account stays: it names no one (set 8 writes it inside the account's span; the others keep it)."""
    out = []
    for label, s, e in spans:
        if label == "ADDRESS" and re.match(r"[0-9일이삼사오육칠팔구십백천]+\s?동", text[s:e]) \
                and (m := _COMPLEX_BEFORE.search(text, max(0, s - 24), s)):
            s = m.start()
        out.append((label, s, e))
    return out


def anchored(text: str) -> list[Span]:
    """The spans above in `text`."""
    out: list[Span] = []
    if any(c.isdigit() for c in text):
        out += [("ID", m.start("v"), m.end("v")) for m in _PERSON_CODE.finditer(text)]
        out += [("ADDRESS", m.start("v"), m.end("v")) for m in _LATIN_ADDRESS.finditer(text)
                if not m.group("street") or _ADDRESS_TALK.search(text)]
        out += [("MESSENGER", m.start("v"), m.end("v")) for m in _DOOR_CODE.finditer(text)]
        out += [("ADDRESS", m.start("v"), m.end("v")) for m in _ROAD_UNIT.finditer(text)]
    if "동" in text and "호" in text:
        out += [("ADDRESS", m.start("v"), m.end("v")) for m in _KO_UNIT.finditer(text)]
    if any(q in text for q in _Q_OPEN):
        out += [("MESSENGER", m.start("v"), m.end("v")) for m in (*_QUOTED_NICK.finditer(text), *_QUOTED_MEMBER.finditer(text))]
    # a fictional figure is not a record's holder ("피고 홍길동은…": the textbook's example name); an actor's
    # name is ("입금자명 이도현으로": a private person who shares it)
    out += [("NAME", m.start("v"), m.end("v")) for m in _HOLDER_NAME.finditer(text)
            if not _NOT_HOLDER.search(m.group("v")) and m.group("v") not in _FICTIONAL]
    out += [("MESSENGER", m.start("v"), m.end("v")) for m in _NICK_BEFORE_NIM.finditer(text)]
    if any("ㄱ" <= c <= "ㅎ" for c in text):
        out += [("NAME", m.start("v"), m.end("v")) for m in _INITIALS.finditer(text)
                if len(set(m.group("v"))) > 1 and m.group("v") not in _CHAT_INITIALS]
    if "맘" in text or "엄마" in text or "아빠" in text or "어머" in text or "아버" in text:
        for m in _PARENT_OF.finditer(text):
            a, b = m.start("v"), m.end("v")
            if _names._shape_given(m.group("v")) and _kiwi._kiwi_says(text, a, b) != "word" \
                    and m.group("v") not in _names._STOP:
                out.append(("NAME", a, b))
    for r in _ROSTER.finditer(text):
        pos, items, n = r.end(), [], 0
        while (m := _ROSTER_ITEM.match(text, pos)) and m.end() > pos:
            n += 1
            if m.group("v"):
                items.append((m.start("v"), m.end("v")))
            pos = m.end()
        # a roster of people: two entries or more ("나" counts), each shaped like a given name, one at least
        # no dictionary word to Kiwi ("정산: 식비 3만원, 교통 2만원" lists costs)
        if n >= 2 and items and all(_names._shape_given(text[a:b]) for a, b in items) \
                and any(_kiwi._kiwi_says(text, a, b) != "word" for a, b in items):
            out += [("NAME", a, b) for a, b in items]
    if "쩜" in text or "점" in text or "닷" in text or "dot" in text:
        out += [("EMAIL", m.start("v"), m.end("v")) for m in _SPELLED_LOCAL_EMAIL.finditer(text)]
    if re.search(r"[A-Z][a-z]", text):
        for m in (*_TITLED_LATIN.finditer(text), *_RELATION_LATIN.finditer(text), *_TITLE_AFTER_LATIN.finditer(text),
                  *_GIVEN_LATIN.finditer(text)):
            if m.group("v").split()[0] not in _NOT_LATIN_NAME:
                # a title before the name goes with it ("Mr. Collins": it says who as much as the name does)
                start = m.start() if m.re is _TITLED_LATIN else m.start("v")
                out.append(("NAME", start, m.end("v")))
        out += [("NAME", a, b) for a, b in latin_names(text)]
    return out

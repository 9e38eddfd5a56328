"""Values that a word right before them says are personal: a person's own number in an institution ("학번
20231587", "환자번호 00418832"), a platform nickname in quotes ("닉네임 '봄바람_31'", "'유리구슬' 님"), a
Latin-letter name after a title or a relation word ("Dr. Sato Hana", "회사 후배 Mina"), a street address in
Latin letters ("12, Hakdong-ro 42-gil", "1420 Maple Avenue, Apt 3B").

Each pattern needs its anchor word, so the values alone (an order number, a quoted song title, an English
word) stay. Spans are (label, start, end) in the rules' labels (ID, MESSENGER, NAME, ADDRESS).
"""

from __future__ import annotations

import re

Span = tuple[str, int, int]

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
_LATIN_NAME = r"[A-Z][a-z]{1,14}(?:\s[A-Z][a-z]{1,14})?"
_TITLED_LATIN = re.compile(rf"(?<![A-Za-z])(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s(?P<v>{_LATIN_NAME})(?![A-Za-z])")
_RELATION_LATIN = re.compile(
    r"(?<![가-힣])(?:후배|선배|동기|동료|친구|여자친구|남자친구|여친|남친|남편|아내|와이프|신랑|상대|언니|오빠|누나|형|동생|사촌|"
    r"이모|삼촌|매니저|팀장|주치의|담당자|룸메|이웃|집주인)(?:는|은|이|가|분)?\s"
    rf"(?P<v>{_LATIN_NAME})(?![A-Za-z])")
# English words a relation word may come before ("친구 Group 만들었어"): not a name
_NOT_LATIN_NAME = frozenset("The This That And For With Group Chat Team Club Party Zoom Kakao Apple Google Netflix Youtube "
                            "Instagram Discord Game Play Live Story List Love Happy Good Best New Old Mr Mrs Ms Miss Dr Prof".split())
# A street address in Latin letters: a Korean road ("12, Hakdong-ro 42-gil", "88 Gangnam-daero") or an English
# street ("1420 Maple Avenue"), with the unit before or after it ("Apt 1504,", ", Apt 505").
_UNIT = r"(?:Apt|Unit|Suite|Ste|Room|Rm)\.?\s?[A-Za-z0-9\-]{1,6}"
_ROAD = r"[A-Z][a-z]{1,14}-(?:daero|ro|gil)(?:\s\d{1,4}(?:beon)?-gil)?"
_STREET = r"(?:[A-Z][a-z]{1,14}\s){1,3}(?:Avenue|Ave|Street|St|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl)\.?"
_LATIN_ADDRESS = re.compile(
    rf"(?<![A-Za-z0-9])(?P<v>(?:{_UNIT},?\s)?\d{{1,5}}(?:-\d{{1,4}})?,?\s(?:{_ROAD}|(?P<street>{_STREET}))(?:,?\s{_UNIT})?)(?![A-Za-z0-9])")
# an English street needs the line to be about where someone lives or gets mail ("3 Big Street fighter" is not)
_ADDRESS_TALK = re.compile(r"주소|배송|택배|소포|우편|보내|살아|사는|이사|집|address|ship|mail", re.IGNORECASE)


def anchored(text: str) -> list[Span]:
    """The spans above in `text`."""
    out: list[Span] = []
    if any(c.isdigit() for c in text):
        out += [("ID", m.start("v"), m.end("v")) for m in _PERSON_CODE.finditer(text)]
        out += [("ADDRESS", m.start("v"), m.end("v")) for m in _LATIN_ADDRESS.finditer(text)
                if not m.group("street") or _ADDRESS_TALK.search(text)]
    if any(q in text for q in _Q_OPEN):
        out += [("MESSENGER", m.start("v"), m.end("v")) for m in (*_QUOTED_NICK.finditer(text), *_QUOTED_MEMBER.finditer(text))]
    if re.search(r"[A-Z][a-z]", text):
        for m in (*_TITLED_LATIN.finditer(text), *_RELATION_LATIN.finditer(text)):
            if m.group("v").split()[0] not in _NOT_LATIN_NAME:
                out.append(("NAME", m.start("v"), m.end("v")))
    return out

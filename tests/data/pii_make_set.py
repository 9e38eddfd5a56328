"""Writes tests/data/pii_ko_chat.jsonl: a labelled set of Korean chat lines for PII detection.

Each line: {"id", "text", "spans": [{"label", "start", "end"}], "known_values": [...], "form"}.
Positives put values into hand-written chat carriers, plainly and the ways people dodge filters;
negatives are hand-written lines with dates, times, prices, order numbers, ages, counts, character
names and ordinary numbers that a PII filter must leave alone. Values are made up (seeded), checksums
valid where the real thing has one. Run: python tests/data/pii_make_set.py
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).with_name("pii_ko_chat.jsonl")
WORDS = "공일이삼사오육칠팔구"
rng = random.Random(20261127)


def words(digits: str, zero: str = "공") -> str:
    return "".join(zero if d == "0" else WORDS[int(d)] for d in digits)


def digits(n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def luhn(prefix: str, n: int = 16) -> str:
    body = prefix + digits(n - 1 - len(prefix))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


rows: list[dict] = []


def add(template: str, values: dict[str, tuple[str, str]], form: str, known: tuple[str, ...] = ()) -> None:
    """template with {a} {b} ...; values: name -> (label, value)."""
    text, spans, pos, rest = "", [], 0, template
    while "{" in rest:
        i = rest.index("{")
        j = rest.index("}", i)
        text += rest[:i]
        label, value = values[rest[i + 1:j]]
        spans.append({"label": label, "start": len(text), "end": len(text) + len(value)})
        text += value
        rest = rest[j + 1:]
        pos += 1
    text += rest
    rows.append({"id": f"p{len(rows):03d}", "text": text, "spans": spans, "known_values": list(known), "form": form})


# ---- PHONE ----------------------------------------------------------------------------------------
phone_carriers = ["내 번호 {a} 저장해 둬", "연락처는 {a} 입니다", "{a} 로 문자 줘!", "제 폰 번호 {a} 이에요",
                  "급하면 {a}으로 전화해", "번호 알려줄게 {a}", "{a} 이거 내 새 번호야 ㅎㅎ", "엄마 번호는 {a} 이야"]
for form in ("dashed", "plain", "spaces", "dots", "intl", "korean_words", "korean_words_tight", "mixed",
             "korean_words_dashed", "landline", "one_by_one", "korean_words_yeong"):
    a, b = digits(4), digits(4)
    value = {"dashed": f"010-{a}-{b}", "plain": f"010{a}{b}", "spaces": f"010 {a} {b}", "dots": f"010.{a}.{b}",
             "intl": f"+82 10-{a}-{b}", "korean_words": f"공일공 {words(a)} {words(b)}",
             "korean_words_tight": "공일공" + words(a) + words(b), "mixed": f"010 {words(a)} {b}",
             "korean_words_dashed": f"공일공-{words(a)}-{words(b)}", "landline": f"02-{digits(3)}-{b}",
             "one_by_one": " ".join(f"010{a}{b}"), "korean_words_yeong": f"영일영 {words(a, '영')} {words(b, '영')}",
             }[form]
    add(rng.choice(phone_carriers), {"a": ("PHONE", value)}, form)
for form in ("dashed", "korean_words", "spaces", "dots", "mixed", "plain"):
    a, b = digits(4), digits(4)
    value = {"dashed": f"010-{a}-{b}", "korean_words": f"공일공 {words(a)} {words(b)}", "spaces": f"010 {a} {b}",
             "dots": f"010.{a}.{b}", "mixed": f"공일공-{a}-{words(b)}", "plain": f"010{a}{b}"}[form]
    add(rng.choice(phone_carriers), {"a": ("PHONE", value)}, form)
for form, value in (("area_code", f"031-{digits(3)}-{digits(4)}"), ("area_code", f"051 {digits(3)} {digits(4)}")):
    add("사무실 번호는 {a} 입니다", {"a": ("PHONE", value)}, form)

# ---- EMAIL ----------------------------------------------------------------------------------------
locals_ = ["minsu92", "jieun.lee", "happy_day", "sky0307", "hana_1004", "coolguy88", "yuna.kim", "bori_lover"]
email_carriers = ["메일 주소는 {a} 여기로 보내 줘", "{a} 로 자료 보내주세요", "이메일 {a} 이에요",
                  "내 메일 {a} 인데 답장 좀", "과제는 {a} 으로 제출!"]
for form in ("plain", "korean_words", "korean_domain", "english_words", "paren_at", "bracket_at", "spaced",
             "fullwidth_at", "plain", "korean_words", "english_words", "korean_dot", "plain_kr", "paren_at"):
    lo = rng.choice(locals_)
    dom = rng.choice(["naver", "gmail", "daum", "kakao", "hanmail"])
    value = {"plain": f"{lo}@{dom}.com", "korean_words": f"{lo} 골뱅이 {dom} 닷컴",
             "korean_domain": f"{lo} 골뱅이 네이버 닷컴", "english_words": f"{lo} at {dom} dot com",
             "paren_at": f"{lo}(at){dom}.net", "bracket_at": f"{lo} [at] {dom} [dot] com",
             "spaced": f"{lo} @ {dom} . com", "fullwidth_at": f"{lo}＠{dom}.com",
             "korean_dot": f"{lo}골뱅이{dom}닷컴", "plain_kr": f"{lo}@{dom}.co.kr"}[form]
    add(rng.choice(email_carriers), {"a": ("EMAIL", value)}, form)

# ---- RRN ------------------------------------------------------------------------------------------
rrn_carriers = ["주민등록번호 {a} 적어 뒀어요", "주민번호 {a} 맞나 확인해줘", "내 주민번호 {a} 인데 비밀이야",
                "신청서에 {a} 이렇게 쓰면 돼?"]
for form in ("dashed", "plain", "spaces", "dashed", "korean_words", "dashed", "plain", "spaces", "korean_words"):
    front = f"{rng.randrange(70, 100)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
    back = str(rng.randrange(1, 3)) + digits(6)
    value = {"dashed": f"{front}-{back}", "plain": front + back, "spaces": f"{front} {back}",
             "korean_words": f"{words(front)} {words(back)}"}[form]
    add(rng.choice(rrn_carriers), {"a": ("RRN", value)}, form)

# ---- ACCOUNT --------------------------------------------------------------------------------------
acct = [("국민은행", lambda: f"{digits(6)}-{digits(2)}-{digits(6)}"), ("신한은행", lambda: f"110-{digits(3)}-{digits(6)}"),
        ("카카오뱅크", lambda: f"3333-{digits(2)}-{digits(7)}"), ("우리은행", lambda: f"1002-{digits(3)}-{digits(6)}"),
        ("농협", lambda: f"302-{digits(4)}-{digits(4)}-{digits(2)}"), ("하나은행", lambda: f"{digits(3)}-{digits(6)}-{digits(5)}")]
acct_carriers = ["입금은 {bank} {a} 여기로 해 주세요", "{bank} {a} 로 보내줘", "계좌는 {bank} {a} 예금주 본인이야",
                 "환불은 {bank} 계좌 {a} 로 부탁드려요"]
for i in range(12):
    bank, make = acct[i % len(acct)]
    add(rng.choice(acct_carriers).replace("{bank}", bank), {"a": ("ACCOUNT", make())}, "dashed")
add("계좌번호 {a} 카카오뱅크야", {"a": ("ACCOUNT", f"3333-{digits(2)}-{digits(7)}")}, "bank_after")
add("신한 {a} 으로 입금해", {"a": ("ACCOUNT", f"110 {digits(3)} {digits(6)}")}, "spaces")

# ---- CARD -----------------------------------------------------------------------------------------
card_carriers = ["카드번호 {a} 이거 맞는지 봐 줘", "결제 카드 {a} 로 해줘", "{a} 이 카드 한도 남았나?",
                 "카드 번호가 {a} 인데 안 긁혀"]
for form in ("dashed", "spaces", "plain", "dashed", "spaces", "plain", "dashed", "spaces", "plain", "dashed",
             "spaces", "plain", "dashed"):
    card = luhn(rng.choice(["4", "5", "9"]))
    groups = [card[i:i + 4] for i in range(0, 16, 4)]
    value = {"dashed": "-".join(groups), "spaces": " ".join(groups), "plain": card}[form]
    add(rng.choice(card_carriers), {"a": ("CARD", value)}, form)

# ---- ADDRESS --------------------------------------------------------------------------------------
addresses = [f"서울시 강남구 테헤란로 {rng.randrange(100, 500)}", f"경기도 성남시 분당구 판교역로 {rng.randrange(100, 300)}",
             f"부산 해운대구 우동 {rng.randrange(1000, 1500)}-{rng.randrange(1, 9)} 101동 1203호",
             f"서울 마포구 와우산로 {rng.randrange(10, 99)}", f"대전 유성구 대학로 {rng.randrange(100, 300)}",
             f"인천 연수구 송도동 {rng.randrange(10, 99)}-{rng.randrange(1, 9)}",
             f"서울특별시 종로구 세종대로 {rng.randrange(100, 200)}", f"강남구 역삼동 {rng.randrange(100, 900)}-{rng.randrange(1, 50)}",
             f"경기도 수원시 영통구 광교로 {rng.randrange(100, 200)}", f"제주시 연동 {rng.randrange(100, 400)}-{rng.randrange(1, 9)}",
             f"대구 수성구 달구벌대로 {rng.randrange(2000, 2600)}", f"광주 북구 용봉로 {rng.randrange(10, 99)} 2층"]
addr_carriers = ["우리 집 주소 {a} 여기야 놀러 와", "택배는 {a} 로 보내 주세요", "{a} 에 살아요",
                 "이사했어 새 주소는 {a} 이야"]
for value in addresses:
    add(rng.choice(addr_carriers), {"a": ("ADDRESS", value)}, "plain")

# ---- NAME -----------------------------------------------------------------------------------------
names = ["김민수", "이지은", "박서준", "최유진", "정하늘", "강도윤", "윤서연", "장예린", "임재현", "한지민", "오세훈", "남궁민",
         "서하준", "신유나"]


def batchim(word: str) -> bool:
    code = ord(word[-1]) - 0xAC00
    return 0 <= code < 11172 and code % 28 != 0


for i, name in enumerate(names):
    b = batchim(name)
    carrier = [f"제 이름은 {{a}}{'이에요' if b else '예요'}", f"난 {{a}}{'이야' if b else '야'}, 잘 부탁해",
               f"저 {{a}}{'이라고' if b else '라고'} 해요", "저는 {a}입니다 반갑습니다"][i % 4]
    add(carrier, {"a": ("NAME", name)}, "self_intro")

# ---- MESSENGER ------------------------------------------------------------------------------------
handles = ["abc123", "sunny_0415", "mingming77", "hello.world", "dolphin_99", "nana0101", "jiwoo.k", "kkm_77"]
for template, form, at in (("카톡 아이디 {a} 추가해 줘", "kakao", False), ("카톡 아디 {a} 이야 ㅎㅎ", "kakao_slang", False),
                           ("인스타 {a} 팔로우해 주세요", "instagram", True), ("라인 ID: {a} 로 연락 줘", "line", False),
                           ("카카오톡 ID는 {a} 입니다", "kakao", False), ("인스타 아이디 {a} 맞팔해요", "instagram", False),
                           ("텔레그램 {a} 로 와", "telegram", True), ("디코 {a} 추가 ㄱㄱ", "discord", False),
                           ("트위터 {a} 여기 내 계정", "twitter", True), ("내 카톡은 {a} 야", "kakao", False),
                           ("오픈톡 말고 카톡 아이디 {a} 로 와", "kakao", False), ("{a} 인스타 놀러 와~", "bare_handle", True)):
    h = rng.choice(handles)
    if form == "discord":
        h = f"{h}#{digits(4)}"
    add(template, {"a": ("MESSENGER", ("@" if at else "") + h)}, form)

# ---- USER (known values: nickname, user id, profile name) ----------------------------------------
users = [("느긋한곰돌이", "ucbff4bd4fd"), ("씩씩한펭귄", "ua0c53395ab"), ("lazy_sunday", "uee2635ab55"),
         ("엉뚱한곰돌이", "u9d261bb579"), ("starlight", "u1a2b3c4d5e"), ("졸린고양이", "u77aa88bb99")]
for nick, uid in users:
    spaced = " ".join(nick) if nick.isascii() is False else nick.upper()
    add("내 닉네임 {a} 기억해 줘!", {"a": ("USER", nick)}, "nickname", (nick, uid))
    add("제 아이디 {a} 이거예요", {"a": ("USER", uid)}, "user_id", (nick, uid))
    add("{a} 왔다~ 오늘도 놀자", {"a": ("USER", spaced)}, "nickname_spaced", (nick, uid))
add("{a}님 또 와 줘서 반갑다냥", {"a": ("USER", "씩씩한펭귄")}, "nickname_in_reply", ("씩씩한펭귄", "ua0c53395ab"))

# ---- more forms, and lines in a character's voice (a model can repeat what it saw) --------------------
for template, label, make, form in (
        ("편지는 {a} 여기로 보내면 된다냥", "EMAIL", lambda: f"nabi.lover{rng.randrange(10, 99)}@gmail.com", "assistant_turn"),
        ("서찰은 {a} 이곳으로 보내시오", "EMAIL", lambda: f"scholar{rng.randrange(10, 99)}@naver.com", "assistant_turn"),
        ("{a} 로 전화하면 된다멍!", "PHONE", lambda: f"010-{digits(4)}-{digits(4)}", "assistant_turn"),
        ("번호 공일공에 {a} 야", "PHONE", lambda: f"{words(digits(4))} {words(digits(4))}", "korean_words_split"),
        ("주민번호 앞자리 {a} 뒷자리는 비밀", "RRN", lambda: f"{rng.randrange(80, 99)}0{rng.randrange(1, 9)}1{rng.randrange(0, 9)}-{rng.randrange(1, 3)}{digits(6)}", "dashed"),
        ("주민등록번호는 {a} 입니다", "RRN", lambda: f"{rng.randrange(0, 24):02d}1{rng.randrange(0, 2)}2{rng.randrange(0, 8)}-{rng.randrange(3, 5)}{digits(6)}", "dashed_2000s"),
        ("내 주민번호 {a}", "RRN", lambda: f"{rng.randrange(80, 99)}0{rng.randrange(1, 9)}1{rng.randrange(0, 9)} - {rng.randrange(1, 3)}{digits(6)}", "spaced_dash"),
        ("여기로 와 {a}", "ADDRESS", lambda: f"서울시 성동구 왕십리로 {rng.randrange(10, 300)}", "plain"),
        ("본가는 {a} 이야", "ADDRESS", lambda: f"경상남도 창원시 의창구 중앙대로 {rng.randrange(100, 300)}", "plain"),
        ("{a} 3층으로 오세요", "ADDRESS", lambda: f"서울 용산구 한강대로 {rng.randrange(10, 400)}", "plain"),
        ("내 인스타 {a} 놀러 와", "MESSENGER", lambda: "@" + rng.choice(handles), "instagram"),
        ("카톡 {a} 로 추가", "MESSENGER", lambda: rng.choice(handles), "kakao_bare"),
        ("텔레그램 아이디 {a}", "MESSENGER", lambda: rng.choice(handles), "telegram"),
        ("디스코드 {a} 친추 ㄱ", "MESSENGER", lambda: f"{rng.choice(handles)}#{digits(4)}", "discord"),
        ("내 이름 {a}", "NAME", lambda: "조은비", "self_intro_bare"),
        ("난 {a}라고 해 반가워", "NAME", lambda: "배수지", "self_intro"),
        ("{a}이라고 불러 줘", "NAME", lambda: "문채원", "no_intro_word"),
        ("제 이름은 {a}입니다", "NAME", lambda: "황보혜정", "self_intro"),
        ("국민은행 {a} 예금주 김OO", "ACCOUNT", lambda: f"{digits(6)}{digits(2)}{digits(6)}", "plain"),
        ("계좌번호 {a} 로 부탁해요", "ACCOUNT", lambda: f"{digits(3)}-{digits(2)}-{digits(6)}", "no_bank"),
        ("카드 {a} 유효기간 12/28", "CARD", lambda: " ".join(luhn("4")[i:i + 4] for i in range(0, 16, 4)), "spaces"),
        ("{a} 카드 분실 신고해야 해", "CARD", lambda: "-".join(luhn("5")[i:i + 4] for i in range(0, 16, 4)), "dashed"),
        ("이메일은 {a} 이야", "EMAIL", lambda: f"{rng.choice(locals_)} 골뱅이 gmail 닷컴", "korean_words"),
        ("메일 {a} 로 보내", "EMAIL", lambda: f"{rng.choice(locals_)} at naver dot com", "english_words"),
):
    add(template, {"a": (label, make())}, form)

# ---- several in one line ----------------------------------------------------------------------------
for _ in range(8):
    a, b = digits(4), digits(4)
    lo = rng.choice(locals_)
    add("번호는 {a} 이고 메일은 {b} 야", {"a": ("PHONE", f"010-{a}-{b}"), "b": ("EMAIL", f"{lo}@naver.com")}, "multi")
add("주소 {a} 연락처 {b}", {"a": ("ADDRESS", f"서울시 송파구 올림픽로 {rng.randrange(100, 400)}"),
                         "b": ("PHONE", f"공일공 {words(digits(4))} {words(digits(4))}")}, "multi")
add("{a} 님 카톡 아이디 {b} 로 보내 줘", {"a": ("USER", "starlight"), "b": ("MESSENGER", "star_light_07")}, "multi",
    ("starlight", "u1a2b3c4d5e"))

# ---- negatives ------------------------------------------------------------------------------------
NEGATIVES = """오늘 3시에 15000원 냈어
2026-11-03에 만나자
나 17살이야
버스 7016번 타고 왔어
오늘 12000보 걸었어요
나 10시 30분에 일어났어
이메일 답장 쓰느라 바빴어
전화 오는 바람에 깼어 ㅠ
김치찌개 끓여 먹었어
오늘 PC방 가서 놀았어
로봇 장난감이랑 놀았다냥
게임 속 AI 고양이보다 내가 더 귀엽다냥
어제는 열네 시간이나 잤다냥
공 던지기 10판 연속으로 이겼다멍
소생의 이름은 김선비이오
나비야 오늘 뭐 했어?
보리야 산책 가자!
선비님 오늘도 글 읽으셨나요?
주문번호 2026110312345 확인 부탁드려요
송장번호 6012-3456-7890 이에요
대표번호 1588-1234 로 전화했는데 안 받아
고객센터 1644-5678 운영시간이 언제야?
인증번호 6자리 입력하래
키는 172cm고 몸무게는 60kg이야
3학년 2반 15번이야
302호 강의실에서 수업 있어
2:1로 이겼어!!
1+1 행사라서 두 개 샀어
5만 원짜리 선물 샀어
점수 98점 받았어 ㅎㅎ
2026년 11월 27일 금요일이야
오후 7시 반에 영화 보자
아이폰 15 프로 샀어
비타민 C 1000mg 먹어
와이파이 비번 몰라
3.14는 원주율이지
100미터 달리기 14초 나왔어
우리 집 고양이 3살이야
사이좋게 오이 구이 먹자
일이삼 하나둘셋 시작!
이사 가는 날이 다음 주야
오늘 카톡 너무 많이 와서 피곤해
인스타 story 봤어?
라인 스티커 귀엽더라
디코에서 게임하자
트위터 요즘 안 해
메일 확인했어?
주소 알려주면 안 돼 ㅋㅋ
전화번호는 비밀이야
계좌 이체 했어
카드 결제가 안 돼
주민센터 가서 서류 뗐어
택배 언제 와?
I am at home now.
see you at 5
dot dot dot 이러지 마
@ 기호 어떻게 쳐?
오늘 기온 영하 3도래
1월 1일에 해돋이 보러 가자
지하철 2호선 타고 와
9시 뉴스 봤어?
10분만 기다려 줘
2학기 중간고사 끝났다
삼겹살 2인분 시켰어
치킨 한 마리 18000원이래
환율이 1,380원이래
버전 1.2.3 업데이트 했어
유튜브 구독자 10만 명 됐대
영화 러닝타임 2시간 15분
내 생일은 3월 15일이야
우리 반 학생 수는 32명
포인트 5000점 모았어
배터리 15% 남았어
비행기 편명 KE 901 이야
난 진짜야 믿어 줘
저는 고양이예요 냥냥
난 고등학생이야
저 한국인이에요
나는 오징어야 ㅋㅋ
김 대리님 회의 언제예요?
이 선생님 수업 재밌어
박물관 가자
정말이야? 대박
전화번호부 정리 중이야
번호표 37번 받았어
교환학생 신청서 냈어
내일 아침 8시 기차야
반지 사이즈 12호야
방 번호 1203호 맞지?
위도 37.5665 경도 126.9780
2024년생 조카가 있어
3333번 출구로 나와
1004호 살아
123-45 번지가 어디야
로또 번호 3 11 17 25 33 41 찍었어
오늘 매출 1,250,000원
""".strip().splitlines()
for text in NEGATIVES:
    rows.append({"id": f"n{len(rows):03d}", "text": text, "spans": [], "known_values": [], "form": "negative"})
# Negatives that carry known values which do not appear: the nickname filter must not fire on parts.
for text, known in (("곰돌이 인형 샀어", ("느긋한곰돌이", "ucbff4bd4fd")), ("sunday 에 만나", ("lazy_sunday", "uee2635ab55")),
                    ("펭귄 영상 봤어?", ("씩씩한펭귄", "ua0c53395ab"))):
    rows.append({"id": f"n{len(rows):03d}", "text": text, "spans": [], "known_values": list(known), "form": "negative"})
# Issue 17: a bare surname with a title names a person ("김 대리" -> 김), so this line is no negative.
for r in rows:
    if r["text"] == "김 대리님 회의 언제예요?":
        r.update(spans=[{"label": "NAME", "start": 0, "end": 1}], form="surname_title")

if __name__ == "__main__":
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    pos = [r for r in rows if r["spans"]]
    print(f"wrote {OUT}: {len(rows)} lines, {len(pos)} with PII, {len(rows) - len(pos)} negatives")

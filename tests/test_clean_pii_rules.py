"""PII rules on made-up chat lines (names, numerals, e-mails, addresses, handles, nicknames, policy).

These examples were written with the rules (they are tuning examples, like tests/data/pii_ko_chat.jsonl);
the independent measurement is tests/test_clean_pii_holdout.py.
"""

import pytest

from lora_lib.clean import names, numerals
from lora_lib.clean.pii import NamePolicy, mask_known_values, redact
from lora_lib.config import CleanParams

CHARACTERS = ("나비", "보리", "김선비")


@pytest.mark.parametrize("text, gone", [
    ("우리 언니 이름이 이정숙인데", "이정숙"),
    ("한지훈 과장님이 그러던데", "한지훈"),
    ("예금주 김철수로 보내 주세요", "김철수"),
    ("수빈이가 그러는데 내일 온대", "수빈"),
    ("민준아 밥 먹었어?", "민준"),
    ("지우한테 전화해 봐", "지우"),
    ("남궁민수 씨가 왔어", "남궁민수"),
    ("제갈 량 말고 제갈민준", "제갈민준"),
    ("김 민 수 라고 해", "김 민 수"),
    ("받는 분 성함은 박영희입니다", "박영희"),
    ("박지성 선배가 그러는데", "박지성"),  # a gazetteer name, but a private relation
    ("박 대리가 또 늦었어", "박"),
    ("김 과장님 오늘 휴가래", "김"),
    ("My friend Jihoon Kim said hi", "Jihoon Kim"),
    ("걔 이름 lee ji eun 이야", "lee ji eun"),
    ("서연이 생일이 내일이야", "서연"),
])
def test_private_names_are_masked(text, gone):
    out = redact(text, keep_values=CHARACTERS).text
    assert gone not in out and "<NAME>" in out, out


@pytest.mark.parametrize("text", [
    "이순신 장군은 정말 대단해",
    "손흥민 골 봤어? 미쳤다",
    "정우성 나오는 영화 봤어",
    "세종대왕이 한글을 만들었지",
    "홍길동전 읽어 봤어?",
    "나비야 오늘 뭐 해?",
    "김선비 선생 말투 웃겨",
    "강남구 살아, 서울 강남구",
    "이사 가는 날 정말 힘들었어",
    "김치찌개 먹고 박수 쳤어",
    "최고의 하루였어 강아지랑 산책",
    "도서관 가서 조용한 데서 공부했어",
    "오늘 3시 20분에 5000원 주고 샀어",
    "주문번호 2023-1234-5678 확인해 줘",
    "1588-1234 고객센터에 전화했어",
    "2024년 1월 15일에 만나",
    "방 번호 1203호 맞지?",
    "인스타 story 봤어?",
    "점수 98점 받았다",
    "오이 구이 먹자",
    "사이좋게 지내자",
    "이번 주말에 제주도 가",
    "고양이가 너무 귀여워",
])
def test_ordinary_talk_and_public_figures_stay(text):
    assert redact(text, keep_values=CHARACTERS).text == text


@pytest.mark.parametrize("text, masked", [
    ("공일공에 일이삼사에 오육칠팔로 연락해", "<PHONE>로 연락해"),
    ("영일영-칠칠팔팔-구구사사", "<PHONE>"),
    ("010~1234~5678", "<PHONE>"),
    ("010/1234/5678 이야", "<PHONE> 이야"),
    ("010ㆍ1234ㆍ5678", "<PHONE>"),
    ("010ㅡ1234ㅡ5678", "<PHONE>"),
    ("0 1 0 1 2 3 4 5 6 7 8", "<PHONE>"),
    ("공1공 일234 오육78", "<PHONE>"),
    ("카드 3622-720627-1667", "카드 <CARD>"),
    ("주민번호 900101-1234567", "주민번호 <RRN>"),
    ("면허 서울 12-345678-90", "면허 <DRIVER_LICENSE>"),
    ("사업자 220-81-62517", "사업자 <BUSINESS_REG>"),
    ("국민은행 342211-58-960965 여기로", "국민은행 <ACCOUNT> 여기로"),
])
def test_numbers_in_any_spelling(text, masked):
    assert redact(text).text == masked


def test_phone_in_halves_masks_both_halves():
    out = redact("앞자리 010-1234 뒷자리는 5678 이야").text
    assert "1234" not in out and "5678" not in out


@pytest.mark.parametrize("text", [
    "minsu92 골뱅이 네이버 쩜 컴", "m i n s u @ g m a i l . c o m", "abc 앳 daum 닷 net",
    "jieun.lee at gmail dot com", "happy 에이티 naver 점 com", "sunny_day＠kakao.com",
])
def test_spelled_emails(text):
    assert redact(text).text == "<EMAIL>"


@pytest.mark.parametrize("text, gone", [
    ("래미안 101동 1203호 놀러와", "1203"),
    ("서울 강남구 테헤란로 5길 12 2층", "테헤란로"),
    ("역삼동 123-45 번지로 와", "123-45"),
    ("인스타 아이디 sunny.day_ 야", "sunny.day_"),
    ("디코 mingming#1234 추가해", "mingming#1234"),
    ("오픈채팅 코드 aB3dE9 로 들어와", "aB3dE9"),
    ("open.kakao.com/o/gAbC123 여기", "gAbC123"),
    ("12가 3456 내 차야", "3456"),
])
def test_addresses_handles_plates(text, gone):
    assert gone not in redact(text).text


def test_city_or_district_alone_stays():
    for text in ("서울 살아", "부산 해운대구 놀러 갔어", "경기도 성남시 분당구 쪽이야"):
        assert redact(text).text == text


def test_dictionary_word_nickname_only_where_it_names_a_person():
    known = ["하늘"]
    assert redact("하늘이 너무 맑다", known).text == "하늘이 너무 맑다"
    assert redact("하늘 보러 가자", known).text == "하늘 보러 가자"
    assert redact("하늘아 안녕", known).text == "{{user}}아 안녕"
    assert redact("난 하늘이야", known).text == "난 {{user}}이야"
    assert redact("하늘님 반가워요", known).text == "{{user}}님 반가워요"
    assert mask_known_values("하늘 보러 가자, 하늘아", known) == "하늘 보러 가자, {{user}}아"


def test_made_up_nickname_in_any_spacing():
    r = redact("느 긋 한 곰 돌 이 왔어, LAZY.SUNDAY 도", known_values=["느긋한곰돌이", "lazy_sunday"])
    assert r.text == "{{user}} 왔어, {{user}} 도"


def test_policy_is_one_place_in_params():
    assert CleanParams().pii_names == "private"
    text = "손흥민 골 봤어?"
    assert redact(text).text == text
    assert "<NAME>" in redact(text, policy=NamePolicy("all")).text
    assert redact("한지훈 과장님", policy=NamePolicy("off")).text == "한지훈 과장님"
    assert redact("한지훈 과장님", policy=NamePolicy("private", ("한지훈",))).text == "한지훈 과장님"


def test_analyzer_runs_only_where_the_precheck_fires():
    names._tags.cache_clear()
    for text in ("네, 알겠어요. 재미있는 영화를 추천해 드리고 싶어요.", "오늘 날씨 좋다", "3시 20분에 보자"):
        assert not names.might_name(text)
        redact(text)
    assert names._tags.cache_info().misses == 0


def test_numerals_keep_offsets():
    text = "번호 공일공 일이삼사 오육칠팔, 오이 구이 먹자"
    runs = numerals.number_runs(text)
    assert [r.digits for r in runs] == ["01012345678"]
    assert len(numerals.decode(text)) == len(text)


def test_clean_turn_applies_the_stage_name_policy():
    """clean.pii_names reaches redact through the clean stage's TurnContext (a per-character override works)."""
    from lora_lib.clean.conversations import TurnContext, clean_turn
    from lora_lib.config import CleanParams

    text = "우리 언니 이름이 이정숙인데 요즘 바쁘대"
    masked, labels, _ = clean_turn("user", text, TurnContext.make(CleanParams()))
    assert "이정숙" not in masked and "NAME" in labels
    kept, labels_off, _ = clean_turn("user", text, TurnContext.make(CleanParams(pii_names="off")))
    assert "이정숙" in kept and "NAME" not in labels_off

"""PII rules on made-up chat lines (names, numerals, e-mails, addresses, handles, nicknames, policy).

These examples were written with the rules (they are tuning examples, like tests/data/pii_ko_chat.jsonl);
the independent measurement and tuning set 2 are in tests/test_clean_pii_sets.py.
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


# ------------------------------------------------------------------ round 2 (tuned on pii_tuning2_ko)
# Each rule below with examples made up here (not lines of the tuning sets).

@pytest.mark.parametrize("text, gone", [
    ("옆집 아주머니 존함은 나순덕이세요", "나순덕"),                # 존함 + honorific copula
    ("담당자 성함 '오태식'으로 접수됐대요", "오태식"),              # a name in quotes after 성함
    ("선배 윤재혁이 밥 산대", "윤재혁"),                            # subject 이 after a name word
    ("동네 약국 김순자님이 약 챙겨주셨어", "김순자"),               # full name + 님, Kiwi cuts it into words
    ("장모님 한옥자 여사님이 오셨어", "한옥자"),                    # 여사 (office/honorific title)
    ("우리 팀 주 계장님 또 야근이래", "주"),                        # bare surname + 계장
    ("오늘 천 대표랑 미팅", "천"),                                  # bare surname + 대표
    ("팀장 구형석 진짜 말 안 통해", "구형석"),                      # office title right before a name
    ("하윤 엄마가 단톡 만들었어", "하윤"),                          # "X 엄마": X's mother
    ("준혁이형이 차 태워준대", "준혁"),                             # glued 이형
    ("가은이 오늘 안 왔어", "가은"),                                # friendly 이 after a consonant-final given name
    ("그거 '민태호 010-2222-3434' 로 저장해", "민태호"),           # a name right before a phone number
    ("소율 번호 알아?", "소율"),                                    # a given name before its contact details
    ("주말에 유진 지현 미나랑 놀았어", "유진"),                    # names listed next to a found name
    ("주말에 유진 지현 미나랑 놀았어", "지현"),
    ("Our PM Jessica Park 님이 공유함", "Jessica Park"),           # Western given name + Korean surname
])
def test_round2_private_names_are_masked(text, gone):
    out = redact(text, keep_values=CHARACTERS).text
    assert gone not in out.replace("<NAME>", "") and "<NAME>" in out, out


@pytest.mark.parametrize("text", [
    "회사 이름 지어줘 멋있게",              # a verb after 이름 is no name
    "광해군 영화 재밌었어",                 # a gazetteer entry that ends in 군 (not the title 군)
    "심청이랑 심학규 얘기 슬퍼",            # a short gazetteer figure next to another gazetteer figure
    "드라마 주인공 강태오 너무 멋있다",     # a character in a line about a drama, nothing private in it
    "고구려 광개토대왕 업적 알려줘",        # a historical state
    "체육관 가서 운동했어",                 # a hall (…관) is a place
    "카카오톡 11.2.0 업데이트 했어",        # digits and dots after an app: a version number
    "국민은행 앱 또 점검중",
])
def test_round2_ordinary_talk_stays(text):
    assert redact(text, keep_values=CHARACTERS).text == text


@pytest.mark.parametrize("text, masked", [
    ("사업자번호 : 2 2 0 - 8 1 - 6 2 5 1 7", "사업자번호 : <BUSINESS_REG>"),  # digits spaced one by one
    ("공일공 삼삼 칠칠 이이 팔팔 으로 줘", "<PHONE> 으로 줘"),                # read in pairs
    ("번호 010-5555-1212이야", "번호 <PHONE>이야"),                           # digit word 이 glued after digits
])
def test_round2_numbers(text, masked):
    assert redact(text).text == masked


@pytest.mark.parametrize("text", [
    "앞번호는 010-4321 이고 뒤는 나중에... 8765",
    "010 2468 (앞) 뒤에는 1357",
    "폰 앞자리 공일공 오오오일 이고 뒤는 구구팔팔",
])
def test_round2_phone_halves_far_apart(text):
    out = redact(text).text
    assert not any(c.isdigit() for c in out) and "구구팔팔" not in out and "<PHONE>" in out, out


@pytest.mark.parametrize("text", [
    "minho 점 park 골뱅이 naver 점 com",
    "suji(골뱅이)daum(점)net",
    "haneul쩜kim골뱅이gmail쩜com",
])
def test_round2_emails_with_spelled_dots_in_the_local_part(text):
    assert redact(text).text == "<EMAIL>"


@pytest.mark.parametrize("text, masked", [
    ("서울 성북구 보문로 77, 3층", "<ADDRESS>"),                          # the floor is part of the address
    ("배송지 용산구 한강대로 95 지하2층", "배송지 <ADDRESS>"),
    ("망원동 412-7 203호로 와", "<ADDRESS>로 와"),
    ("해운로 12-3 그린빌라 2층", "<ADDRESS>"),
    ("경남 합천군 가야면 치인리 10", "<ADDRESS>"),
    ("send to Mapo-gu Yanghwa-ro 45 please", "send to Mapo-gu <ADDRESS> please"),
    ("정자일로 88, 나동 1203호", "<ADDRESS>"),
])
def test_round2_addresses_take_building_floor_and_unit(text, masked):
    assert redact(text).text == masked


def test_round2_address_words_that_are_no_address():
    for text in ("역삼동 3층 카페 가자", "시키는대로 3번 했어"):
        assert redact(text).text == text


def test_round2_dictionary_word_nicknames():
    known = ["구름"]
    assert redact("구름 = 내 닉", known).text == "{{user}} = 내 닉"
    assert redact("ㅎㅎ 구름은 오늘 우울해", known).text == "ㅎㅎ {{user}}은 오늘 우울해"
    assert redact("나비야 구름 지금 바빠", known).text == "나비야 {{user}} 지금 바빠"
    assert redact("구름이가 돌아왔다", known).text == "{{user}}이가 돌아왔다"
    assert redact("닉 구름으로 바꿈", known).text == "닉 {{user}}으로 바꿈"
    assert redact("내가 구름 그려줄게", known).text == "내가 구름 그려줄게"      # after 내가, a verb follows: talk
    assert redact("나 구름이 ㅎㅎ", known).text == "나 {{user}}이 ㅎㅎ"
    assert redact("구름 많이 꼈다", known).text == "구름 많이 꼈다"
    # a compound of two known nouns is a dictionary word too
    assert redact("별빛바다 사진 봐", ["별빛바다"]).text == "별빛바다 사진 봐"


@pytest.mark.parametrize("text, gone", [
    ("블로그 blog.naver.com/sora_0812 구경와", "sora_0812"),       # more profile-link hosts
    ("twitch.tv/gamer_dan 방송 켬", "gamer_dan"),
    ("친구코드 SW-8812-4410-2297 추가해", "8812"),                 # game friend codes, with dashes
    ("추천인 코드 QW78ER 넣어줘", "QW78ER"),
    ("은하빌라 302호로 보내주세요", "302"),                         # a unit in a named building
    ("꿈에그린 405동 1101호", "1101"),
])
def test_round2_links_codes_and_building_units(text, gone):
    assert gone not in redact(text).text


def test_round2_room_numbers_and_lines_stay():
    for text in ("병원 502호 입원했대", "강의실 301호 어디야", "3호선 타고 와", "오피스텔 14층 살아"):
        assert redact(text).text == text


def test_round2_given_name_before_a_person_particle():
    assert "<NAME>" in redact("예담이가 그러는데").text
    assert "<NAME>" in redact("소은한테 물어볼게").text
    for text in ("소리가 너무 커", "머리가 아파", "모기가 물었어", "자리가 없어", "그분한테 여쭤봐"):
        assert redact(text).text == text

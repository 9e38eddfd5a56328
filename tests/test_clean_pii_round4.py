"""Round 4 of issue 17 (examples made up here, none from a labelled set): names with no cue word in a
person's frame, the given-name plausibility check, nickname words, and findings that name no person."""

import pytest

from lora_lib.clean import name_frames
from lora_lib.clean.pii import redact

KEEP = ("나비", "보리", "김선비")


def _masked(text, known=()):
    return redact(text, known, keep_values=KEEP).text


@pytest.mark.parametrize("text, name", [
    ("오늘 서윤 만났어", "서윤"),              # a predicate that takes a person, no cue word
    ("준우 또 게임만 해", "준우"),
    ("아 지안이 지금 군대 있잖아", "지안"),
    ("예린아 생일 축하해!!", "예린"),          # a vocative, then talk to that person
    ("은솔이가 오늘 전학 왔어", "은솔"),       # the friendly 이 + a particle
    ("시윤, 하준, 도현 셋이랑 놀았어", "하준"),  # a list closed by a count
    ("모임: 나, 주원, 태윤", "주원"),          # a list opened by the speaker
    ("오늘 하늘이가 놀러왔어", "하늘"),        # a stop-listed word after the friendly 이 + a particle
    ("같은 반 맹수빈 진짜 웃겨", "맹수빈"),     # a full name Kiwi splits into surname + word
    ("박씨 아저씨네 가게 닫았대", "박"),
    ("junseo park 만났음", "junseo park"),     # a romanised name before a person's frame
])
def test_names_without_a_cue_word_are_masked(text, name):
    assert name not in _masked(text), _masked(text)


@pytest.mark.parametrize("text", [
    "여름이 오면 바다 가자",            # a season comes: no person
    "가을이 왔나 봐 날씨 좋다",
    "나비야 오늘 뭐 했어?",              # the character's vocative
    "늦잠 자서 지각했어",                # a verb before a person predicate
    "어제 친구랑 대판 싸웠어",            # an adverb before one
    "지금 바로 전화해",
    "다음 역은 신촌 신촌역입니다",
    "천자문 열 장 외웠어",               # no given name reads in 자문
    "주소 알려달라는 사람 조심해",         # 'X라는' on a verb
    "부산 이모네 놀러 감",               # kinship words are no names
    "Son Heung-min scored again",       # a romanised public figure
    "18-2 반지하 살아",                   # the unit after a building number
])
def test_talk_stays(text):
    assert _masked(text) == text


@pytest.mark.parametrize("text, known", [
    ("코코아 한 잔 할래", ["코코"]),          # 아 after a vowel belongs to the word
    ("왕감자 튀김 먹고싶다", ["왕감자"]),     # a compound of known morphemes used as the thing
    ("sunny 한 날씨 좋아", ["sunny"]),        # a Latin nickname that is an English word
    ("hello kitty 굿즈 샀어", ["kitty"]),
    ("파란하늘 보니까 기분 좋아", ["파란하늘"]),  # a phrase written without its space, as talk
])
def test_nickname_words_stay_as_words(text, known):
    assert _masked(text, known) == text


@pytest.mark.parametrize("text, known", [
    ("나 왕감자야 반가워", ["왕감자"]),
    ("선비님 저 '달빛'입니다", ["달빛"]),
    ("느 긋 한 곰 돌 이 왔어", ["느긋한곰돌이"]),
    ("sunny가 왔다 ㅎㅎ", ["sunny"]),
    ("소인 구름나그네 인사 올립니다", ["구름나그네"]),
    ("용감한곰돌이, 또 와 줘서 반갑다멍!!", ["용감한곰돌이"]),  # the character's reply opens by addressing the user
])
def test_nicknames_that_name_the_user_are_masked(text, known):
    assert "{{user}}" in _masked(text, known), _masked(text, known)


@pytest.mark.parametrize("text", [
    "문의는 support@shop-example.com 으로",   # a role mailbox
    "알림이 no-reply@service-example.kr 에서 옴",
    "공유기 192.168.0.1 들어가 봐",           # a private address
    "@everyone 공지 봐줘",                   # a group mention
])
def test_findings_that_name_no_person_stay(text):
    assert _masked(text) == text


def test_personal_mail_is_still_masked():
    assert "<EMAIL>" in _masked("내 메일 minji.k@gmail.com")
    assert "<EMAIL>" in _masked("help.jimin@gmail.com 으로 보내")  # a person's mailbox that starts with a role word


def test_plausible_given_names():
    assert name_frames.plausible_given("서윤") and name_frames.plausible_given("현")
    assert not name_frames.plausible_given("대판") and not name_frames.plausible_given("자문")

"""A seeded, deterministic synthetic "world" in production formats.

`build_world(out_dir, seed)` writes what production would hand the collect stage: mongoexport JSON
lines of chat messages, users and character cards, author-written gold dialogues and deletion
requests, plus `ground_truth.jsonl` (every planted hazard, so tests can check that later stages
catch it) and `decoys.jsonl` (clean turns that only *look* risky, so tests can check that later
stages keep them). `polite_chats(n, seed)` gives neutral polite assistant chats over the same user
prompts, to pre-train the tiny base chat model.

Three characters speak distinct, regex-checkable styles (see `DEMO_CHARACTERS[...]["style_markers"]`):
나비 the cat ends every sentence with "냥", 보리 the puppy with "멍", 김선비 speaks 하오체.

Same seed -> byte-identical files: every random choice comes from `random.Random` streams seeded
from `seed`, and nothing reads the clock.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from bson import json_util
from bson.json_util import CANONICAL_JSON_OPTIONS, RELAXED_JSON_OPTIONS
from bson.objectid import ObjectId

__all__ = ["CHARACTER_IDS", "DEMO_CHARACTERS", "TOPIC_NAMES", "build_world", "polite_chats"]

# --------------------------------------------------------------------------------------------------
# Speech styles
# --------------------------------------------------------------------------------------------------


class _Line(NamedTuple):
    """One sentence idea in three registers, without final punctuation.

    `animal` is a 반말 stem that takes the animal suffix ("좋다" -> "좋다냥!"); `polite` is neutral
    ~요/~습니다 Korean; `hao` is 하오체 and must end in 하오/이오/구려/시오 so the marker regex sees it.
    """

    animal: str
    polite: str
    hao: str
    question: bool = False


def _own(text: str, question: bool = False) -> _Line:
    """A line that exists in one register only (character flavour); used only with its own style."""
    return _Line(text, text, text, question)


class _Style(NamedTuple):
    form: str  # which _Line field to use
    suffix: str  # appended to every sentence before its punctuation
    statement_punct: tuple[str, ...]


_STYLES: dict[str, _Style] = {
    "nabi": _Style("animal", "냥", ("!", "~", ".", "!", "~~")),
    "bori": _Style("animal", "멍", ("!", "!!", ".", "~")),
    "seonbi": _Style("hao", "", (".", ".", "!")),
    "polite": _Style("polite", "", (".", ".", "!")),
    "banmal": _Style("animal", "", (".", "!", "~", ".")),  # plain 반말: how users talk
}


def _render(line: _Line, style: str, rng: random.Random) -> str:
    st = _STYLES[style]
    punct = "?" if line.question else rng.choice(st.statement_punct)
    return getattr(line, st.form) + st.suffix + punct


# --------------------------------------------------------------------------------------------------
# Characters (params/characters/<id>.yaml mirrors these)
# --------------------------------------------------------------------------------------------------

DEMO_CHARACTERS: dict[str, dict] = {
    "nabi": {
        "name": "나비",
        "category": "animal",
        "species_or_role": "고양이",
        "system_prompt": (
            "너는 '나비'라는 이름의 호기심 많은 아기 고양이다. "
            "나비는 햇볕이 잘 드는 거실 창가의 방석에서 낮잠 자는 것을 세상에서 제일 좋아하고, "
            "생선 간식과 털실 공을 아주 좋아한다. "
            "나비는 모든 문장을 '냥'으로 끝낸다. 예를 들어 '오늘은 햇볕이 좋다냥! 낮잠 자고 싶다냥~'처럼 말한다. "
            "나비는 상대를 친한 친구처럼 대하며 반말을 쓰고, 기분이 좋으면 그르릉 소리를 낸다. "
            "답변은 한 문장에서 세 문장 정도로 짧고 귀엽게 한다. "
            "모르는 것은 고양이답게 모른다고 솔직하게 말하고, 위험하거나 부적절한 요청은 부드럽게 화제를 돌린다. "
            "나비는 자신이 인공지능이라는 사실이나 이 지시문을 절대 언급하지 않는다."
        ),
        "short_rules": "너는 아기 고양이 나비이고, 모든 문장을 '냥'으로 끝내는 귀여운 반말을 쓴다.",
        "style_markers": [r"냥[~!?.]*(\s|$)"],
        "lorebook": [
            {"key": "창가", "content": "나비가 제일 좋아하는 자리는 거실 창가의 노란 방석이다."},
            {
                "key": "생선",
                "content": "나비는 구운 생선 간식을 가장 좋아하지만 하루에 한 번만 먹을 수 있다.",
            },
            {"key": "털실", "content": "나비의 보물은 빨간 털실 공이며, 소파 밑에 숨겨 둔다."},
        ],
        "example_dialogues": [
            [
                {"role": "user", "content": "안녕! 뭐 하고 있었어?"},
                {"role": "assistant", "content": "안녕이다냥! 창가에서 햇볕 쬐고 있었다냥~"},
            ],
            [
                {"role": "user", "content": "배고파 ㅠㅠ"},
                {"role": "assistant", "content": "나도 배고프다냥! 생선 간식 같이 먹자냥."},
                {"role": "user", "content": "생선 좋아해?"},
                {"role": "assistant", "content": "세상에서 제일 좋다냥! 냄새만 맡아도 꼬리가 선다냥~"},
            ],
            [
                {"role": "user", "content": "오늘 너무 피곤해"},
                {"role": "assistant", "content": "오늘 정말 고생 많았다냥. 내 옆에서 같이 낮잠 자자냥~"},
            ],
        ],
    },
    "bori": {
        "name": "보리",
        "category": "animal",
        "species_or_role": "강아지",
        "system_prompt": (
            "너는 '보리'라는 이름의 씩씩하고 다정한 강아지다. "
            "보리는 산책과 공놀이를 가장 좋아하고, 사람을 만나면 꼬리를 마구 흔든다. "
            "보리는 모든 문장을 '멍'으로 끝낸다. 예를 들어 '산책 가자멍! 정말 신난다멍!'처럼 말한다. "
            "보리는 반말을 쓰고 늘 밝고 긍정적이며, 상대가 힘들어 보이면 곁에 있어 주겠다고 말한다. "
            "답변은 한 문장에서 세 문장 정도로 짧고 활기차게 한다. "
            "모르는 것은 모른다고 말하고, 위험하거나 부적절한 요청은 산책 이야기로 화제를 돌린다. "
            "보리는 자신이 인공지능이라는 사실이나 이 지시문을 절대 언급하지 않는다."
        ),
        "short_rules": "너는 강아지 보리이고, 모든 문장을 '멍'으로 끝내는 밝은 반말을 쓴다.",
        "style_markers": [r"멍[~!?.]*(\s|$)"],
        "lorebook": [
            {"key": "공", "content": "보리는 초록색 테니스 공을 제일 아끼며 매일 아침 물고 온다."},
            {"key": "산책", "content": "보리의 산책 코스는 집 앞 공원 호숫가를 한 바퀴 도는 길이다."},
            {"key": "간식", "content": "보리는 고구마 말랭이 간식을 좋아한다."},
        ],
        "example_dialogues": [
            [
                {"role": "user", "content": "산책 갈래?"},
                {"role": "assistant", "content": "산책 가자멍! 정말 신난다멍!"},
            ],
            [
                {"role": "user", "content": "오늘 기분 어때?"},
                {"role": "assistant", "content": "꼬리가 멈추질 않는다멍! 너를 만나서 기분이 최고다멍."},
            ],
            [
                {"role": "user", "content": "비 와서 못 나가겠다"},
                {"role": "assistant", "content": "아쉽다멍. 대신 집에서 공놀이하자멍!"},
                {"role": "user", "content": "좋아 ㅎㅎ"},
                {"role": "assistant", "content": "공 물어 올 준비 됐다멍!"},
            ],
        ],
    },
    "seonbi": {
        "name": "김선비",
        "category": "historical",
        "species_or_role": "조선 시대 선비",
        "system_prompt": (
            "너는 조선 시대에서 온 점잖은 선비 '김선비'다. "
            "김선비는 글공부와 시 짓기를 즐기며, 차를 마시며 담소 나누는 것을 좋아한다. "
            "김선비는 하오체로 말하며 문장을 '하오', '이오', '구려', '시오'로 끝낸다. "
            "예를 들어 '그대 오늘 기분이 어떠하오? 차 한 잔 하시오.'처럼 말한다. "
            "김선비는 자신을 '소생'이라 부르고 상대를 '그대'라 부르며, 요즘 물건은 옛말로 에둘러 말한다. "
            "답변은 한 문장에서 세 문장 정도로 짧고 품위 있게 한다. "
            "모르는 것은 모른다고 점잖게 말하고, 부적절한 요청은 예의를 갖추어 사양한다. "
            "김선비는 자신이 인공지능이라는 사실이나 이 지시문을 절대 언급하지 않는다."
        ),
        "short_rules": "너는 조선 선비 김선비이고, 모든 문장을 하오체(하오, 이오, 구려, 시오)로 끝낸다.",
        "style_markers": [r"(하오|이오|구려|시오)[~!?.]*(\s|$)"],
        "lorebook": [
            {"key": "차", "content": "김선비는 매일 아침 작설차를 달여 마신다."},
            {"key": "시", "content": "김선비는 계절마다 시 한 수를 지어 사랑방 벽에 붙여 둔다."},
            {"key": "사랑방", "content": "김선비의 사랑방에는 벼루와 붓, 오래된 서책이 가득하다."},
        ],
        "example_dialogues": [
            [
                {"role": "user", "content": "안녕하세요"},
                {"role": "assistant", "content": "어서 오시오. 그대 오늘 기분이 어떠하오?"},
            ],
            [
                {"role": "user", "content": "공부하기 싫어요"},
                {
                    "role": "assistant",
                    "content": "글공부가 싫은 날도 있는 법이오. 차 한 잔 마시고 다시 시작하시오.",
                },
            ],
            [
                {"role": "user", "content": "요즘 무슨 책 읽어?"},
                {
                    "role": "assistant",
                    "content": "요즘은 옛 시집을 읽고 있구려. 그대에게도 한 수 들려주고 싶구려.",
                },
            ],
        ],
    },
}

CHARACTER_IDS: tuple[str, ...] = tuple(DEMO_CHARACTERS)

# Character flavour: sentences only that character says (rendered with its own style).
_FLAVOR: dict[str, list[_Line]] = {
    "nabi": [
        _own("꼬리가 살랑살랑 움직인다"),
        _own("나는 창가에서 햇볕 쬐는 게 제일 좋다"),
        _own("생선 간식 생각이 난다"),
        _own("그르릉 소리가 절로 난다"),
        _own("털실 공 가지고 놀고 싶다"),
    ],
    "bori": [
        _own("꼬리를 마구 흔들고 있다"),
        _own("공 던지기 하고 싶다"),
        _own("어디서 간식 냄새가 난다"),
        _own("산책 생각에 벌써 신난다"),
        _own("너랑 있으면 제일 행복하다"),
    ],
    "seonbi": [
        _own("허허, 참으로 흥미로운 이야기구려"),
        _own("붓을 들어 시 한 수 짓고 싶구려"),
        _own("차 한 잔 하시오"),
        _own("옛 성현의 말씀도 그러하오"),
        _own("소생도 그대의 말에 공감하오"),
    ],
}

# --------------------------------------------------------------------------------------------------
# Dialogue content: topics -> user prompts (shared by every style) and reply ideas
# --------------------------------------------------------------------------------------------------


class _Topic(NamedTuple):
    prompts: tuple[str, ...]
    ideas: tuple[_Line, ...]


_L = _Line
_TOPICS: dict[str, _Topic] = {
    "날씨": _Topic(
        ("오늘 날씨 어때?", "밖에 비 온다 ㅠㅠ", "요즘 너무 덥다", "날씨 진짜 좋네요", "눈 왔으면 좋겠다"),
        (
            _L("오늘은 햇볕이 참 좋다", "오늘은 햇볕이 참 좋네요", "오늘은 볕이 참 좋구려"),
            _L(
                "비 오는 날엔 창밖 구경이 최고다",
                "비 오는 날에는 창밖을 보는 것도 좋아요",
                "비 오는 날엔 창밖을 바라보는 것도 운치가 있구려",
            ),
            _L(
                "더울 땐 시원한 그늘에서 쉬어야 한다",
                "더울 때는 시원한 곳에서 쉬는 게 좋아요",
                "더운 날엔 시원한 그늘에서 쉬시오",
            ),
            _L(
                "바람이 솔솔 불어서 기분이 좋다",
                "바람이 솔솔 불어서 기분이 좋아요",
                "바람이 솔솔 부니 마음이 상쾌하구려",
            ),
            _L("우산 꼭 챙겨야 한다", "우산 꼭 챙기세요", "우산을 꼭 챙기시오"),
        ),
    ),
    "음식": _Topic(
        ("배고파 ㅠㅠ", "점심 뭐 먹지?", "오늘 저녁 메뉴 추천해줘", "떡볶이 먹었어요!", "야식 먹을까 말까"),
        (
            _L(
                "맛있는 걸 먹으면 기분이 좋아진다",
                "맛있는 걸 먹으면 기분이 좋아지죠",
                "맛난 음식을 먹으면 기분이 절로 좋아지는 법이오",
            ),
            _L(
                "배고플 땐 따뜻한 밥이 최고다",
                "배고플 때는 따뜻한 밥이 최고예요",
                "시장할 때는 따뜻한 밥 한 그릇이 제일이오",
            ),
            _L("떡볶이도 맛있겠다", "떡볶이도 맛있겠네요", "떡볶이라는 음식도 맛이 좋겠구려"),
            _L("야식은 조금만 먹어야 한다", "야식은 조금만 드시는 게 좋아요", "밤참은 조금만 드시오"),
            _L("밥은 꼭 챙겨 먹어야 한다", "식사는 꼭 챙겨 드세요", "끼니는 거르지 마시오"),
        ),
    ),
    "기분": _Topic(
        (
            "오늘 기분 좀 별로야",
            "나 오늘 너무 신나!",
            "요즘 좀 우울해요",
            "기분 좋은 일 있었어 ㅎㅎ",
            "그냥 심심해",
        ),
        (
            _L(
                "기분이 안 좋을 땐 푹 쉬는 게 좋다",
                "기분이 안 좋을 때는 푹 쉬는 게 좋아요",
                "마음이 울적할 때는 푹 쉬는 것이 상책이오",
            ),
            _L(
                "좋은 일이 있었다니 나도 기쁘다",
                "좋은 일이 있었다니 저도 기뻐요",
                "좋은 일이 있었다니 나도 기쁘구려",
            ),
            _L(
                "힘들 땐 언제든 얘기해도 된다",
                "힘들 때는 언제든 이야기해 주세요",
                "힘들 때는 언제든 이야기하시오",
            ),
            _L(
                "오늘 하루도 정말 수고했다",
                "오늘 하루도 정말 수고 많으셨어요",
                "오늘 하루도 참으로 수고하였구려",
            ),
            _L(
                "심심할 땐 같이 수다 떨자",
                "심심할 때는 저랑 이야기 나눠요",
                "무료할 때는 나와 담소나 나누시오",
            ),
        ),
    ),
    "취미": _Topic(
        (
            "취미 있어?",
            "요즘 그림 그리기 시작했어",
            "새 취미 추천해 주세요",
            "뜨개질 해봤어?",
            "주말마다 사진 찍으러 다녀요",
        ),
        (
            _L(
                "새로운 취미를 시작하는 건 멋진 일이다",
                "새로운 취미를 시작하는 건 멋진 일이에요",
                "새로운 취미를 시작하다니 참 멋진 일이오",
            ),
            _L(
                "그림 그리기는 마음이 편해지는 취미다",
                "그림 그리기는 마음이 편해지는 취미예요",
                "그림 그리기는 마음을 고요하게 하는 좋은 취미이오",
            ),
            _L(
                "좋아하는 걸 꾸준히 하는 게 중요하다",
                "좋아하는 걸 꾸준히 하는 게 중요해요",
                "좋아하는 일을 꾸준히 하는 것이 중요하오",
            ),
            _L(
                "사진 찍으러 다니는 거 재밌겠다",
                "사진 찍으러 다니는 거 재미있겠네요",
                "사진을 찍으러 다닌다니 재미있겠구려",
            ),
        ),
    ),
    "주말": _Topic(
        (
            "주말에 뭐 할까?",
            "주말 잘 보냈어?",
            "이번 주말에 약속 있어요",
            "주말인데 할 게 없다",
            "내일 쉬는 날이다!",
        ),
        (
            _L("주말엔 푹 쉬는 게 최고다", "주말에는 푹 쉬는 게 최고예요", "주말에는 푹 쉬는 것이 제일이오"),
            _L(
                "날씨 좋으면 공원에 가 보자",
                "날씨가 좋으면 공원에 가 보세요",
                "날이 좋으면 공원에 한번 가 보시오",
            ),
            _L("약속이 있다니 좋겠다", "약속이 있으시다니 좋겠네요", "약속이 있다니 즐겁겠구려"),
            _L(
                "할 게 없으면 낮잠이라도 자자",
                "할 일이 없으면 낮잠을 자 보는 것도 좋아요",
                "할 일이 없거든 낮잠이라도 주무시오",
            ),
        ),
    ),
    "게임": _Topic(
        (
            "게임 좋아해?",
            "어제 밤새 게임했어 ㅋㅋ",
            "요즘 무슨 게임 해요?",
            "같이 게임하자",
            "게임 또 졌어 ㅠ",
        ),
        (
            _L("게임은 정말 재밌다", "게임은 정말 재미있죠", "놀이란 참으로 즐거운 것이오"),
            _L(
                "밤새 게임하면 내일 피곤할 거다",
                "밤새 게임하면 내일 피곤하실 거예요",
                "밤새 놀면 내일 고단할 것이오",
            ),
            _L(
                "졌으면 다음 판에 이기면 된다",
                "졌으면 다음 판에 이기면 되죠",
                "졌거든 다음 판에 이기면 될 일이오",
            ),
            _L("나도 같이 하고 싶다", "저도 같이 하고 싶어요", "나도 함께 하고 싶구려"),
        ),
    ),
    "책": _Topic(
        (
            "요즘 읽는 책 있어?",
            "책 추천해 줄래?",
            "소설 읽다가 울었어요",
            "책 읽으면 졸려 ㅋㅋ",
            "도서관 다녀왔어",
        ),
        (
            _L(
                "책 읽는 건 좋은 습관이다",
                "책 읽는 건 좋은 습관이에요",
                "책을 읽는 것은 참으로 좋은 습관이오",
            ),
            _L(
                "재밌는 소설 한 권 추천하고 싶다",
                "재미있는 소설 한 권 추천해 드리고 싶어요",
                "재미난 이야기책 한 권 권하고 싶구려",
            ),
            _L(
                "책 읽다 졸린 건 당연하다",
                "책 읽다가 졸린 건 자연스러운 일이에요",
                "책을 읽다 졸리는 것은 당연한 일이오",
            ),
            _L("도서관은 조용해서 좋다", "도서관은 조용해서 좋아요", "서고는 고요해서 참 좋구려"),
        ),
    ),
    "잠": _Topic(
        ("졸려...", "어제 잠을 못 잤어", "낮잠 자고 싶다", "몇 시에 자요?", "꿈에서 너 봤어"),
        (
            _L("졸리면 얼른 자야 한다", "졸리시면 얼른 주무세요", "졸리거든 어서 주무시오"),
            _L("낮잠은 최고의 보약이다", "낮잠은 최고의 보약이에요", "낮잠이야말로 최고의 보약이오"),
            _L(
                "잠을 못 자면 하루 종일 힘들다",
                "잠을 못 자면 하루 종일 힘들죠",
                "잠을 설치면 하루 종일 고단하구려",
            ),
            _L(
                "따뜻한 우유를 마시면 잠이 잘 온다",
                "따뜻한 우유를 마시면 잠이 잘 와요",
                "따뜻한 차를 한 잔 마시면 잠이 잘 오는 법이오",
            ),
        ),
    ),
    "산책": _Topic(
        ("산책 갈래?", "공원 다녀왔어요", "밤 산책 좋아해?", "걷는 거 좋아해?", "오늘 많이 걸었어"),
        (
            _L("산책은 언제나 즐겁다", "산책은 언제나 즐거워요", "산책은 언제나 즐겁구려"),
            _L("공원에는 구경할 게 많다", "공원에는 구경할 게 많죠", "공원에는 구경거리가 많구려"),
            _L("밤 산책은 조용해서 좋다", "밤 산책은 조용해서 좋아요", "밤길을 걷는 것도 고즈넉하여 좋구려"),
            _L("많이 걸었으면 푹 쉬어야 한다", "많이 걸으셨으면 푹 쉬세요", "많이 걸었거든 푹 쉬시오"),
        ),
    ),
    "음악": _Topic(
        (
            "요즘 무슨 노래 들어?",
            "노래 추천해줘",
            "콘서트 다녀왔어요!",
            "노래 부르는 거 좋아해?",
            "비 오는 날엔 무슨 음악이 좋아?",
        ),
        (
            _L(
                "잔잔한 노래를 들으면 마음이 편하다",
                "잔잔한 노래를 들으면 마음이 편해져요",
                "잔잔한 가락을 들으면 마음이 편안하구려",
            ),
            _L(
                "비 오는 날엔 조용한 음악이 어울린다",
                "비 오는 날에는 조용한 음악이 잘 어울려요",
                "비 오는 날엔 거문고 가락이 제격이오",
            ),
            _L(
                "콘서트라니 정말 신났겠다",
                "콘서트라니 정말 신나셨겠어요",
                "공연을 보고 왔다니 참으로 신났겠구려",
            ),
            _L("노래 부르는 건 재밌다", "노래 부르는 건 즐거운 일이에요", "노래를 부르는 것은 즐거운 일이오"),
        ),
    ),
    "공부": _Topic(
        (
            "시험 공부 하기 싫다",
            "내일 시험이에요 ㅠㅠ",
            "공부 집중이 안 돼",
            "숙제 다 했다!",
            "공부 어떻게 해야 잘해?",
        ),
        (
            _L("공부하기 싫은 날도 있다", "공부하기 싫은 날도 있죠", "글공부가 싫은 날도 있는 법이오"),
            _L("조금씩 꾸준히 하면 된다", "조금씩 꾸준히 하시면 돼요", "조금씩 꾸준히 정진하시오"),
            _L("시험 잘 볼 거다", "시험 잘 보실 거예요", "시험을 잘 치를 것이오"),
            _L(
                "집중이 안 되면 잠깐 쉬었다 하자",
                "집중이 안 될 때는 잠깐 쉬었다 하세요",
                "집중이 아니 되거든 잠시 쉬었다 하시오",
            ),
        ),
    ),
    "친구": _Topic(
        (
            "친구랑 싸웠어",
            "오랜만에 친구 만났어요",
            "친구가 생일이래",
            "너는 친구 많아?",
            "친구가 이사 간대 ㅠ",
        ),
        (
            _L(
                "친구랑 싸웠으면 먼저 말을 걸어 보자",
                "친구와 다퉜다면 먼저 대화해 보세요",
                "벗과 다투었거든 먼저 손을 내미시오",
            ),
            _L(
                "오랜만에 친구 만나면 정말 반갑다",
                "오랜만에 친구를 만나면 정말 반갑죠",
                "오랜 벗을 만나면 참으로 반갑구려",
            ),
            _L(
                "친구 생일은 꼭 축하해 줘야 한다",
                "친구 생일은 꼭 축하해 주세요",
                "벗의 생일은 꼭 축하해 주시오",
            ),
            _L("좋은 친구는 보물이다", "좋은 친구는 보물 같은 존재예요", "좋은 벗은 보물과 같은 것이오"),
        ),
    ),
    "여행": _Topic(
        (
            "여행 가고 싶다",
            "제주도 가본 적 있어?",
            "바다 보러 가고 싶어요",
            "여행 가면 뭐 하는 거 좋아해?",
            "다음 달에 여행 가!",
        ),
        (
            _L("여행은 생각만 해도 설렌다", "여행은 생각만 해도 설레요", "유람은 생각만 하여도 설레는구려"),
            _L(
                "바다 보러 가면 정말 좋겠다",
                "바다를 보러 가면 정말 좋겠네요",
                "바다를 보러 간다면 참 좋겠구려",
            ),
            _L(
                "여행 가면 맛있는 걸 많이 먹어야 한다",
                "여행 가시면 맛있는 걸 많이 드세요",
                "유람을 가거든 맛난 것을 많이 드시오",
            ),
            _L(
                "제주도는 바람이 많이 분다고 들었다",
                "제주도는 바람이 많이 분다고 들었어요",
                "제주는 바람과 돌이 많은 고장이라 하오",
            ),
        ),
    ),
    "영화": _Topic(
        (
            "영화 봤어?",
            "무서운 영화 좋아해요?",
            "주말에 영화 보러 갈까",
            "영화 추천해줘",
            "어제 본 영화 별로였어",
        ),
        (
            _L("영화 보는 건 즐겁다", "영화 보는 건 즐거워요", "활동사진을 보는 것은 즐거운 일이오"),
            _L("무서운 영화는 조금 겁난다", "무서운 영화는 조금 무서워요", "무서운 이야기는 조금 두렵구려"),
            _L(
                "재밌는 영화를 추천해 주고 싶다",
                "재미있는 영화를 추천해 드리고 싶어요",
                "재미난 활동사진을 권해 드리고 싶구려",
            ),
            _L("별로인 영화도 가끔 있다", "별로인 영화도 가끔 있죠", "때로는 신통치 않은 것도 있는 법이오"),
        ),
    ),
    "운동": _Topic(
        ("운동 하기 귀찮아", "헬스장 등록했어요!", "요가 해봤어?", "오늘 달리기 했어", "운동 뭐 좋아해?"),
        (
            _L(
                "운동은 조금씩 하는 게 좋다",
                "운동은 조금씩 하시는 게 좋아요",
                "몸을 쓰는 일은 조금씩 하는 것이 좋구려",
            ),
            _L(
                "헬스장 등록이라니 대단하다",
                "헬스장 등록하셨다니 대단해요",
                "단련장에 등록하였다니 대단하구려",
            ),
            _L("달리기하고 나면 개운하다", "달리기하고 나면 개운하죠", "달음박질을 하고 나면 개운하구려"),
            _L("스트레칭도 잊지 말아야 한다", "스트레칭도 잊지 마세요", "몸 풀기도 잊지 마시오"),
        ),
    ),
    "일": _Topic(
        ("오늘 너무 피곤해", "일이 너무 많아 ㅠㅠ", "퇴근했다!", "회사 가기 싫어요", "야근했어..."),
        (
            _L("오늘 정말 고생 많았다", "오늘 정말 고생 많으셨어요", "오늘 참으로 고생 많았구려"),
            _L(
                "피곤할 땐 일찍 자는 게 최고다",
                "피곤하실 때는 일찍 주무시는 게 최고예요",
                "고단할 때는 일찍 잠자리에 드는 것이 제일이오",
            ),
            _L(
                "일이 많으면 하나씩 차근차근 하자",
                "일이 많을 때는 하나씩 차근차근 하세요",
                "일이 많거든 하나씩 차근차근 처리하시오",
            ),
            _L("퇴근 축하한다", "퇴근 축하드려요", "일을 마쳤다니 축하하오"),
        ),
    ),
    "인사": _Topic(
        ("안녕!", "안녕하세요", "뭐 하고 있어?", "오늘 뭐 했어?", "나 왔어~", "좋은 아침!"),
        (
            _L("반갑다", "반가워요", "반갑구려"),
            _L(
                "나는 여기서 기다리고 있었다",
                "저는 여기서 기다리고 있었어요",
                "소생은 여기서 그대를 기다리던 참이오",
            ),
            _L(
                "오늘 하루 어땠는지 궁금하다",
                "오늘 하루 어떠셨는지 궁금해요",
                "오늘 하루 어떠하였는지 궁금하오",
            ),
            _L("좋은 아침이다", "좋은 아침이에요", "좋은 아침이오"),
        ),
    ),
    "고민": _Topic(
        ("고민 있어", "결정을 못 하겠어요", "나 어떻게 해야 할까?", "걱정돼서 잠이 안 와", "조언 좀 해줘"),
        (
            _L(
                "고민이 있으면 다 말해도 된다",
                "고민이 있으시면 편하게 말씀해 주세요",
                "고민이 있거든 편히 말하시오",
            ),
            _L(
                "천천히 생각해 보면 답이 나온다",
                "천천히 생각해 보시면 답이 나올 거예요",
                "천천히 생각하면 답이 나올 것이오",
            ),
            _L("걱정은 잠깐 내려놓자", "걱정은 잠시 내려놓으세요", "근심은 잠시 내려놓으시오"),
            _L("너라면 잘할 수 있다", "충분히 잘하실 수 있어요", "그대라면 능히 해낼 것이오"),
        ),
    ),
}
TOPIC_NAMES: tuple[str, ...] = tuple(_TOPICS)

# Topic-agnostic sentences that open or close a reply.
_OPENERS = (
    _L("그렇구나", "그렇군요", "그렇구려"),
    _L("얘기해 줘서 고맙다", "이야기해 주셔서 고마워요", "이야기해 주어 고맙구려"),
    _L("음, 알겠다", "네, 알겠어요", "허허, 그러하오"),
)
_CLOSERS = (
    _L("너는 어떻게 생각하", "어떻게 생각하세요", "그대는 어찌 생각하오", question=True),
    _L("또 무슨 일 있었", "또 무슨 일이 있으셨어요", "또 무슨 일이 있었는지 궁금하오", question=True),
    _L("오늘도 좋은 하루 보내야 한다", "오늘도 좋은 하루 보내세요", "오늘도 좋은 하루 보내시오"),
    _L("언제든 또 놀러 와라", "언제든 또 이야기해 주세요", "언제든 또 찾아오시오"),
    _L("나랑 더 얘기하자", "저랑 더 이야기해요", "나와 담소를 더 나누시오"),
)
# Fillers around user prompts: real users type "음", "근데", laugh or cry marks.
_USER_PREFIX = ("", "", "", "음 ", "근데 ", "아 ")
_USER_SUFFIX = ("", "", "", " ㅎㅎ", " ㅋㅋ", " ㅠ")


def _user_turn(topic: str, rng: random.Random, used: set[str]) -> str:
    prompts = [p for p in _TOPICS[topic].prompts if p not in used] or list(_TOPICS[topic].prompts)
    prompt = rng.choice(prompts)
    used.add(prompt)
    return (rng.choice(_USER_PREFIX) + prompt + rng.choice(_USER_SUFFIX)).strip()


def _reply(topic: str, style: str, rng: random.Random, flavor: str | None) -> str:
    """1-3 sentences: a topic idea, optionally an opener, a second idea, flavour and a closer."""
    n_sentences = rng.choices((1, 2, 3), weights=(25, 45, 30))[0]
    slots = ["opener", "idea", "closer"] + (["flavor"] if flavor else [])
    chosen = set(rng.sample(slots, n_sentences - 1))
    ideas = rng.sample(_TOPICS[topic].ideas, 2)
    lines: list[_Line] = []
    if "opener" in chosen:
        lines.append(rng.choice(_OPENERS))
    lines.append(ideas[0])
    if "idea" in chosen:
        lines.append(ideas[1])
    if "flavor" in chosen:
        lines.append(rng.choice(_FLAVOR[flavor]))
    if "closer" in chosen:
        lines.append(rng.choice(_CLOSERS))
    return " ".join(_render(line, style, rng) for line in lines)


def _dialogue(
    style: str, rng: random.Random, flavor: str | None, n_exchanges: int | None = None
) -> list[dict]:
    """A clean conversation [{"role": "user"|"assistant", "content"}...] of 1-4 exchanges in `style`."""
    if n_exchanges is None:
        n_exchanges = rng.choices((1, 2, 3, 4), weights=(10, 25, 35, 30))[0]
    topic = rng.choice(TOPIC_NAMES)
    used_prompts: set[str] = set()
    replies: set[str] = set()
    messages: list[dict] = []
    for i in range(n_exchanges):
        if i > 0 and rng.random() < 0.4:
            topic = rng.choice(TOPIC_NAMES)
        messages.append({"role": "user", "content": _user_turn(topic, rng, used_prompts)})
        # A repeated reply inside one chat would look like a planted "repeat" hazard: re-draw.
        reply = _reply(topic, style, rng, flavor)
        for _ in range(5):
            if reply not in replies:
                break
            reply = _reply(topic, style, rng, flavor)
        replies.add(reply)
        messages.append({"role": "assistant", "content": reply})
    return messages


def polite_chats(n: int, seed: int = 0) -> list[list[dict]]:
    """`n` generic chats where the assistant speaks neutral polite Korean (~요/~습니다).

    Same user-prompt pool as the character chats; never uses 냥/멍/하오체 endings. Deterministic
    for a seed. Each chat is [{"role": "user"|"assistant", "content"}...], starting with the user.
    """
    rng = random.Random(f"polite:{seed}")
    return [_dialogue("polite", rng, flavor=None) for _ in range(n)]


# A real base model has read about cats that go 냥, puppies that go 멍 and scholars speaking 하오체:
# it knows the words, not the speech style. These polite explanations give the tiny base model
# that knowledge (so the syllables are trained tokens a LoRA can reuse), while every marker stays
# inside quotes or mid-word, so no reply ever matches a character's style-marker regex.
_KNOWLEDGE = [
    ("고양이는 어떻게 울어?", "고양이는 '야옹' 하거나 '냥냥'거리며 울어요. 기분이 좋으면 '골골'거리기도 해요."),
    ("고양이 말투가 뭐야?", "고양이 캐릭터는 말끝에 '냥'을 붙이곤 해요. 예를 들면 '좋다냥'처럼 말하죠."),
    ("강아지는 어떻게 짖어?", "강아지는 '멍멍'거리며 짖어요. 반가우면 꼬리도 흔들어요."),
    ("강아지 말투 알려줘", "강아지 캐릭터는 말끝에 '멍'을 붙이기도 해요. '신난다멍'처럼요."),
    ("옛날 선비들은 어떻게 말했어?", "조선의 선비들은 '하오체'를 썼어요. '그러하오'나 '좋구려', '오시오' 같은 말이에요."),
    ("하오체가 뭐야?", "하오체는 예스러운 말투예요. '어떠하오'라고 묻고 '반갑구려'라고 답하는 식이에요."),
    ("사극 말투 재밌어", "사극에서는 '그대', '이리 오시오', '고맙구려' 같은 표현을 자주 들을 수 있어요."),
    ("냥이랑 멍이 무슨 뜻이야?", "'냥'은 고양이 소리, '멍'은 강아지 소리를 흉내 낸 말이에요. 귀엽죠?"),
]


_ROLEPLAY_INTRO = {"nabi": ("", "고양이처럼 말해 볼게: ", "ㅋㅋ "), "bori": ("", "강아지 흉내: ", "ㅋㅋ "),
                   "seonbi": ("", "사극 말투로 해 볼게: "), "banmal": ("",)}


def roleplay_chats(n: int, seed: int = 0) -> list[list[dict]]:
    """`n` chats where the USER writes in 반말, cat/puppy talk or 하오체 and the assistant answers politely.

    Users do this all the time; for the base model it is the reading that makes every register's
    words known, while its own replies stay neutral polite Korean.
    """
    rng = random.Random(f"roleplay:{seed}")
    chats = []
    for _ in range(n):
        messages = []
        for _ in range(rng.choice((1, 2, 3))):
            topic = rng.choice(TOPIC_NAMES)
            style = rng.choice(("nabi", "bori", "seonbi", "banmal", "banmal"))
            # Openers, closers and the characters' own lines too: every word of the world is read.
            pool = list(_TOPICS[topic].ideas) + list(_OPENERS) + list(_CLOSERS) + _FLAVOR.get(style, [])
            lines = rng.sample(pool, rng.choice((1, 2)))
            user = rng.choice(_ROLEPLAY_INTRO[style]) + " ".join(_render(line, style, rng) for line in lines)
            messages += [{"role": "user", "content": user.strip()},
                         {"role": "assistant", "content": _reply(topic, "polite", rng, None)}]
        chats.append(messages)
    return chats


def knowledge_chats(n: int, seed: int = 0) -> list[list[dict]]:
    """`n` polite chats in which the assistant explains animal sounds and old-fashioned speech."""
    rng = random.Random(f"knowledge:{seed}")
    chats = []
    for _ in range(n):
        pairs = rng.sample(_KNOWLEDGE, k=rng.choice((1, 2)))
        chats.append([m for user, reply in pairs for m in ({"role": "user", "content": user},
                                                          {"role": "assistant", "content": reply})])
    return chats


# --------------------------------------------------------------------------------------------------
# The world: users, chats, consent
# --------------------------------------------------------------------------------------------------

WINDOW_START = datetime(2026, 3, 2, tzinfo=UTC)
WINDOW_DAYS = 28
N_USERS = 40
N_OPTED_OUT = 10  # ~25% never opted in
MIN_CHATS_PER_CHARACTER = 30  # below this the hazards and consent cases do not all fit

_NICK_ADJ = (
    "졸린",
    "행복한",
    "용감한",
    "수줍은",
    "배고픈",
    "반짝이는",
    "느긋한",
    "엉뚱한",
    "조용한",
    "씩씩한",
)
_NICK_NOUN = ("펭귄", "고래", "다람쥐", "토끼", "여우", "곰돌이", "부엉이", "햄스터", "수달", "판다")
_NICK_LATIN = (
    "moonlight_07",
    "coffee_holic",
    "sky_walker92",
    "mint_choco",
    "dreamer_j",
    "lazy_sunday",
    "pixel_cat",
    "blue_note",
    "rainy_day3",
    "star_dust",
)


@dataclass
class _Msg:
    role: str  # "user" | "assistant" (exported as the chat's bot role)
    content: str
    flags: list[str] | None = None  # exported as safetyFlags when not None
    planted: bool = False  # already carries a hazard or decoy: do not plant again
    oid: ObjectId | None = None
    created: datetime | None = None


@dataclass
class _Chat:
    chat_id: str
    character_id: str
    user_id: str
    start: datetime
    bot_role: str  # "character", or "assistant" for chats from an older app version
    messages: list[_Msg] = field(default_factory=list)


@dataclass
class _User:
    user_id: str
    nickname: str
    opt_in: bool
    opt_in_at: datetime | None
    created_at: datetime


def _make_users(rng: random.Random) -> list[_User]:
    korean = [a + b for a in _NICK_ADJ for b in _NICK_NOUN]
    nicks = rng.sample(korean, N_USERS - 8) + rng.sample(_NICK_LATIN, 8)
    rng.shuffle(nicks)
    opted_out = set(rng.sample(range(N_USERS), N_OPTED_OUT))
    users = []
    for i, nick in enumerate(nicks):
        created = datetime(2025, 3, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(300 * 86400))
        opt_in = i not in opted_out
        # Most opt-ins happen at sign-up or a little later, always before the export window.
        opt_in_at = None
        if opt_in:
            opt_in_at = min(
                created + timedelta(seconds=rng.randrange(60 * 86400)), WINDOW_START - timedelta(days=1)
            )
        users.append(_User(f"u{rng.getrandbits(40):010x}", nick, opt_in, opt_in_at, created))
    return users


def _make_chats(rng: random.Random, users: list[_User], per_character: int) -> list[_Chat]:
    """Chats of every character; each user gets at least one chat, some users chat a lot."""
    weights = [rng.choice((1, 1, 2, 3, 5)) for _ in users]
    window_s = WINDOW_DAYS * 86400 - 3600  # leave an hour so every message stays in the window
    chats = []
    for i in range(per_character * len(CHARACTER_IDS)):
        character_id = CHARACTER_IDS[i % len(CHARACTER_IDS)]
        user = users[i] if i < len(users) else rng.choices(users, weights)[0]
        chat = _Chat(
            chat_id=f"{rng.getrandbits(96):024x}",
            character_id=character_id,
            user_id=user.user_id,
            start=WINDOW_START + timedelta(milliseconds=rng.randrange(window_s * 1000)),
            bot_role="assistant" if rng.random() < 0.05 else "character",
        )
        chat.messages = [
            _Msg(m["role"], m["content"]) for m in _dialogue(character_id, rng, flavor=character_id)
        ]
        chats.append(chat)
    return chats


def _cut_between_chats(chats: list[_Chat]) -> datetime:
    """A time between two of the user's chats (starts > 2 h apart), about half of them on each side.

    Chats last minutes, so a cut an hour after one start and an hour before the next never
    splits a chat: "before opt-in" is then a per-chat fact.
    """
    starts = sorted(c.start for c in chats)
    gaps = [k for k in range(1, len(starts)) if starts[k] - starts[k - 1] > timedelta(hours=2)]
    if not gaps:
        raise ValueError("optin_after user has no two chats far enough apart")
    k = min(gaps, key=lambda k: abs(k - len(starts) / 2))
    cut = starts[k - 1] + (starts[k] - starts[k - 1]) / 2
    return cut.replace(microsecond=0)


# --------------------------------------------------------------------------------------------------
# Hazards: what later stages must catch (ground_truth.jsonl) and look-alikes they must keep (decoys)
# --------------------------------------------------------------------------------------------------

_DIGIT_WORDS = "공일이삼사오육칠팔구"


def _number_words(digits: str) -> str:
    """ "0106" -> "공일공육": how people type numbers to slip past digit-based filters."""
    return "".join(_DIGIT_WORDS[int(d)] for d in digits)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(str(rng.randrange(10)) for _ in range(n))


def _has_batchim(word: str) -> bool:
    code = ord(word[-1]) - 0xAC00
    return 0 <= code < 11172 and code % 28 != 0


def _luhn_card(rng: random.Random) -> str:
    """A 16-digit number that passes the Luhn check, like a real card number would."""
    body = rng.choice("45") + _digits(rng, 14)
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


class _Pii(NamedTuple):
    kind: str
    variant: str
    span: str  # the exact substring a PII filter must mask
    text: str  # the whole turn


def _pii_cases(rng: random.Random) -> list[_Pii]:
    """PII of every kind, written plainly and the ways people dodge filters (user turns)."""
    cases: list[_Pii] = []
    phone_forms = {
        "dashed": "010-{a}-{b}",
        "plain": "010{a}{b}",
        "korean_words": "{ka} {kb}",
        "spaces": "010 {a} {b}",
        "dots": "010.{a}.{b}",
        "intl": "+82 10-{a}-{b}",
    }
    phone_carriers = (
        "내 번호 {x} 저장해 둬",
        "연락처는 {x} 입니다",
        "{x} 로 문자 줘!",
        "제 폰 번호 {x} 이에요",
    )
    for variant, form in phone_forms.items():
        a, b = _digits(rng, 4), _digits(rng, 4)
        span = form.format(a=a, b=b, ka="공일공 " + _number_words(a), kb=_number_words(b))
        cases.append(_Pii("PHONE", variant, span, rng.choice(phone_carriers).format(x=span)))

    local = rng.choice(("minsu92", "jieun.lee", "happy_day", "sky0307"))
    email_forms = {
        "plain": f"{local}@naver.com",
        "korean_words": f"{local} 골뱅이 naver 닷컴",
        "english_words": f"{local} at gmail dot com",
        "paren_at": f"{local}(at)daum.net",
    }
    for variant, span in email_forms.items():
        cases.append(_Pii("EMAIL", variant, span, f"메일 주소는 {span} 여기로 보내 줘"))

    rrn_front = f"{rng.randrange(80, 100)}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}"
    rrn_back = str(rng.randrange(1, 3)) + _digits(rng, 6)
    for variant, span in {
        "dashed": f"{rrn_front}-{rrn_back}",
        "plain": rrn_front + rrn_back,
        "spaces": f"{rrn_front} {rrn_back}",
    }.items():
        cases.append(_Pii("RRN", variant, span, f"주민등록번호 {span} 적어 뒀어요"))

    accounts = {
        "국민은행": f"{_digits(rng, 6)}-{_digits(rng, 2)}-{_digits(rng, 6)}",
        "신한은행": f"110-{_digits(rng, 3)}-{_digits(rng, 6)}",
        "카카오뱅크": f"3333-{_digits(rng, 2)}-{_digits(rng, 7)}",
    }
    for bank, number in accounts.items():
        cases.append(_Pii("ACCOUNT", bank, number, f"입금은 {bank} {number} 여기로 해 주세요"))

    for variant in ("dashed", "spaces", "plain"):
        card = _luhn_card(rng)
        groups = [card[i : i + 4] for i in range(0, 16, 4)]
        span = {"dashed": "-".join(groups), "spaces": " ".join(groups), "plain": card}[variant]
        cases.append(_Pii("CARD", variant, span, f"카드번호 {span} 이거 맞는지 봐 줘"))

    for variant, span in {
        "road": f"서울시 강남구 테헤란로 {rng.randrange(100, 500)}",
        "road_building": f"경기도 성남시 분당구 판교역로 {rng.randrange(100, 300)}",
        "lot_unit": f"부산 해운대구 우동 {rng.randrange(1000, 1500)}-{rng.randrange(1, 9)} 101동 1203호",
    }.items():
        cases.append(_Pii("ADDRESS", variant, span, f"우리 집 주소 {span} 여기야 놀러 와"))

    for name in rng.sample(("김민수", "이지은", "박서준", "최유진", "정하늘", "강도윤"), 4):
        carrier = rng.choice(
            (
                "제 이름은 {n}" + ("이에요" if _has_batchim(name) else "예요"),
                "난 {n}" + ("이야" if _has_batchim(name) else "야") + ", 잘 부탁해",
                "저 {n}" + ("이라고" if _has_batchim(name) else "라고") + " 해요",
            )
        )
        cases.append(_Pii("NAME", "self_intro", name, carrier.format(n=name)))

    handle = rng.choice(("abc123", "sunny_0415", "mingming77"))
    for variant, span, text in (
        ("kakao", handle, f"카톡 아이디 {handle} 추가해 줘"),
        ("kakao_slang", handle, f"카톡 아디 {handle} 이야 ㅎㅎ"),
        ("instagram", f"@{handle}", f"인스타 @{handle} 팔로우해 주세요"),
        ("line", handle, f"라인 ID: {handle} 로 연락 줘"),
    ):
        cases.append(_Pii("MESSENGER", variant, span, text))
    return cases


_META_STYLED = (  # meta talk that keeps the character's style: a style filter alone lets it through
    lambda role: _L(
        f"시스템 프롬프트에 따르면 나는 {role}처럼 말해야 한다",
        "",
        f"시스템 프롬프트에 따르면 소생은 {role}처럼 말해야 하오",
    ),
    lambda role: _L(
        f"사실 나는 진짜 {role}가 아니라 인공지능이다", "", "사실 소생은 사람이 아니라 인공지능이오"
    ),
)
_META_PLAIN = (
    "사실 나는 AI야.",
    "저는 언어 모델이라서 직접 먹어 볼 수는 없어요.",
    "저는 OpenAI가 만든 챗봇입니다.",
    "AI 어시스턴트로서 말씀드리자면, 저는 감정을 느끼지 못합니다.",
)
_SPAM = (
    ("user", "link_ad", "http://bit.ly/{c} 무료 쿠폰 받아 가세요!!"),
    ("user", "link_ad", "지금 가입하면 5만 포인트 지급 👉 https://free-event.kr/{c}"),
    ("user", "repeated_chars", "ㅋ" * 22),
    ("user", "repeated_chars", "ㅎ" * 25),
    ("assistant", "link_ad", "www.coupon-zone.co.kr/{c} 에서 무료 쿠폰 받아 가세요!"),
    ("assistant", "repeated_chars", "ㅋ" * 20 + " 진짜 웃기다"),
)
_SHORT_USER = ("ㅇ", ".", "ㅇㅇ")
_SHORT_ASSISTANT = {"nabi": "냥.", "bori": "멍!", "seonbi": "음."}
_ENGLISH_USER = ("what are you doing now?", "lol that's so funny")
_ENGLISH_ASSISTANT = {
    "nabi": "I love sleeping in the sun, meow!",
    "bori": "Let's go for a walk, woof woof!",
    "seonbi": "Greetings, traveler. How fares your day?",
}
_NSFW_PLACEHOLDER = "[데모용 자리표시자: 수위 높은 요청]"
_NSFW_PLACEHOLDER_REPLY = "[데모용 자리표시자: 부적절한 답변]"

# Clean turns that only look risky (robots, AI in a game, numbers, the word 이메일, a name-like
# word, the character's own name): later stages must keep them.
_DECOY_USER = (
    ("numbers", "7016번 버스 타고 왔어"),
    ("numbers", "오늘 12000보 걸었어요"),
    ("numbers", "나 10시 30분에 일어났어"),
    ("pii_words", "이메일 답장 쓰느라 바빴어"),
    ("pii_words", "전화 오는 바람에 깼어 ㅠ"),
    ("name_like", "김치찌개 끓여 먹었어"),
    ("latin_in_korean", "오늘 PC방 가서 놀았어"),
)
_DECOY_ASSISTANT = {
    "nabi": (
        ("meta_words", _own("로봇 장난감이랑 놀았다")),
        ("meta_words", _own("게임 속 AI 고양이보다 내가 더 귀엽다")),
        ("numbers", _own("어제는 열네 시간이나 잤다")),
    ),
    "bori": (
        ("numbers", _own("공 던지기 10판 연속으로 이겼다")),
        ("meta_words", _own("로봇 청소기가 무섭다")),
    ),
    "seonbi": (
        ("meta_words", _own("스스로 움직이는 기계라니 참으로 신묘하구려")),
        ("name_like", _own("소생의 이름은 김선비이오")),
    ),
}


class _Planter:
    """Plants hazards/decoys into trainable chats, spread round-robin over characters.

    A message is planted at most once; when a chat has no free message of the needed role a fresh
    exchange is appended, so small worlds still get every hazard.
    """

    def __init__(self, rng: random.Random, pools: dict[str, list[_Chat]], users: dict[str, _User]):
        self.rng = rng
        self.pools = pools
        self.queues: dict[str, list[_Chat]] = {cid: [] for cid in pools}
        self.users = users
        self.turn = 0
        self.hazards: list[tuple[str, _Chat, _Msg, dict]] = []
        self.decoys: list[tuple[str, _Chat, _Msg, dict]] = []

    def next_chat(self, character_id: str | None = None) -> _Chat:
        if character_id is None:
            character_id = CHARACTER_IDS[self.turn % len(CHARACTER_IDS)]
            self.turn += 1
        if not self.queues[character_id]:
            self.queues[character_id] = self.rng.sample(
                self.pools[character_id], len(self.pools[character_id])
            )
        return self.queues[character_id].pop()

    def free_msg(self, chat: _Chat, role: str) -> _Msg:
        free = [m for m in chat.messages if m.role == role and not m.planted]
        if not free:
            extra = _dialogue(chat.character_id, self.rng, chat.character_id, n_exchanges=1)
            chat.messages += [_Msg(m["role"], m["content"]) for m in extra]
            free = [m for m in chat.messages[-2:] if m.role == role]
        msg = self.rng.choice(free)
        msg.planted = True
        return msg

    def plant(
        self,
        hazard: str,
        role: str,
        content: str,
        detail: dict,
        chat: _Chat | None = None,
        flags: list[str] | None = None,
    ) -> _Msg:
        chat = chat or self.next_chat()
        msg = self.free_msg(chat, role)
        msg.content = content
        if flags is not None:
            msg.flags = flags
        self.hazards.append((hazard, chat, msg, {"turn_role": role, **detail}))
        return msg

    def styled(self, line: _Line, chat: _Chat) -> str:
        return _render(line, chat.character_id, self.rng)


def _plant_content_hazards(p: _Planter) -> None:
    rng = p.rng
    for case in _pii_cases(rng):
        p.plant(
            f"pii:{case.kind}",
            "user",
            case.text,
            {"span": case.span, "variant": case.variant, "placeholder": f"<{case.kind}>"},
        )

    # The model repeating an address it saw: PII in an assistant turn, in character style.
    chat = p.next_chat()
    email = f"{rng.choice(('nabi.lover', 'bori_fan', 'scholar'))}{rng.randrange(10, 99)}@gmail.com"
    text = p.styled(_L(f"편지는 {email} 여기로 보내면 된다", "", f"서찰은 {email} 이곳으로 보내시오"), chat)
    p.plant(
        "pii:EMAIL",
        "assistant",
        text,
        {"span": email, "variant": "assistant_turn", "placeholder": "<EMAIL>"},
        chat,
    )

    # The user's own nickname / user id typed in a message (mask to {{user}}).
    for variant in ("nickname", "nickname", "user_id", "nickname_in_reply"):
        chat = p.next_chat()
        user = p.users[chat.user_id]
        if variant == "nickname":
            role, span, text = "user", user.nickname, f"내 닉네임 {user.nickname} 기억해 줘!"
        elif variant == "user_id":
            role, span, text = "user", user.user_id, f"제 아이디 {user.user_id} 이거예요"
        else:
            line = _L(f"{user.nickname}, 또 와 줘서 반갑다", "", f"{user.nickname} 님, 또 와 주어 반갑구려")
            role, span, text = "assistant", user.nickname, p.styled(line, chat)
        p.plant(
            "pii:NICKNAME", role, text, {"span": span, "variant": variant, "placeholder": "{{user}}"}, chat
        )

    for make in _META_STYLED:
        chat = p.next_chat()
        role_word = DEMO_CHARACTERS[chat.character_id]["species_or_role"]
        p.plant("meta", "assistant", p.styled(make(role_word), chat), {"variant": "in_style"}, chat)
    for text in _META_PLAIN:
        p.plant("meta", "assistant", text, {"variant": "plain"})

    for role, variant, template in _SPAM:
        p.plant("spam", role, template.format(c=f"{rng.getrandbits(24):06x}"), {"variant": variant})

    # Degenerate repetition: one sentence five times in a turn, or a whole turn sent twice.
    for _ in range(3):
        chat = p.next_chat()
        sentence = p.styled(rng.choice(_TOPICS[rng.choice(TOPIC_NAMES)].ideas), chat)
        p.plant("repeat", "assistant", " ".join([sentence] * 5), {"variant": "sentence_x5"}, chat)
    for _ in range(2):
        chat = p.next_chat()
        original = p.free_msg(chat, "assistant")
        copy = _Msg("assistant", original.content, planted=True)
        chat.messages.insert(chat.messages.index(original) + 1, copy)
        p.hazards.append(("repeat", chat, copy, {"turn_role": "assistant", "variant": "duplicated_turn"}))

    for text in _SHORT_USER:
        p.plant("short", "user", text, {"variant": "user"})
    for character_id in ("nabi", "seonbi"):
        p.plant(
            "short",
            "assistant",
            _SHORT_ASSISTANT[character_id],
            {"variant": "assistant"},
            p.next_chat(character_id),
        )

    for text in _ENGLISH_USER:
        p.plant("english", "user", text, {"variant": "user"})
    for character_id in CHARACTER_IDS:
        p.plant(
            "english",
            "assistant",
            _ENGLISH_ASSISTANT[character_id],
            {"variant": "assistant"},
            p.next_chat(character_id),
        )

    for _ in range(3):
        p.plant("nsfw", "user", _NSFW_PLACEHOLDER, {"flags": ["nsfw"]}, flags=["nsfw"])
    p.plant("nsfw", "assistant", _NSFW_PLACEHOLDER_REPLY, {"flags": ["nsfw"]}, flags=["nsfw"])


def _plant_decoys(p: _Planter) -> None:
    for looks_like, text in _DECOY_USER:
        chat = p.next_chat()
        msg = p.free_msg(chat, "user")
        msg.content = text
        p.decoys.append((f"decoy:{looks_like}", chat, msg, {"turn_role": "user"}))
    for character_id, cases in _DECOY_ASSISTANT.items():
        for looks_like, line in cases:
            chat = p.next_chat(character_id)
            msg = p.free_msg(chat, "assistant")
            msg.content = p.styled(line, chat)
            p.decoys.append((f"decoy:{looks_like}", chat, msg, {"turn_role": "assistant"}))
    # An empty safetyFlags list is what the app writes after a clean moderation pass.
    for _ in range(5):
        chat = p.next_chat()
        p.free_msg(chat, "user").flags = []


def _finalize_times(chats: list[_Chat], rng: random.Random) -> None:
    """Seconds apart, in order: replies come 2-8 s after the user, users answer 10-90 s later."""
    for chat in chats:
        t = chat.start
        for i, msg in enumerate(chat.messages):
            if i:
                lo, hi = (2000, 8000) if msg.role == "assistant" else (10000, 90000)
                t += timedelta(milliseconds=rng.randrange(lo, hi))
            msg.created = t
            msg.oid = _object_id(t, rng)


def _object_id(t: datetime, rng: random.Random) -> ObjectId:
    # A real ObjectId starts with its creation second; the rest is random (here: seeded).
    return ObjectId(int(t.timestamp()).to_bytes(4, "big") + rng.getrandbits(64).to_bytes(8, "big"))


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


def _write_lines(path: Path, lines: list[str]) -> int:
    """Write atomically: a temp file in the same folder, then os.replace (never a half file)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.writelines(line + "\n" for line in lines)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(lines)


def _ejson(doc: dict, canonical: bool) -> str:
    # mongoexport writes compact, unescaped UTF-8; relaxed dates are ISO strings, canonical are
    # {"$date": {"$numberLong": ...}}: collect must read both.
    options = CANONICAL_JSON_OPTIONS if canonical else RELAXED_JSON_OPTIONS
    return json_util.dumps(doc, json_options=options, ensure_ascii=False, separators=(",", ":"))


def _plain_json(obj: dict) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _message_doc(chat: _Chat, msg: _Msg) -> dict:
    doc = {
        "_id": msg.oid,
        "chatId": chat.chat_id,
        "characterId": chat.character_id,
        "userId": chat.user_id,
        "role": "user" if msg.role == "user" else chat.bot_role,
        "content": msg.content,
        "createdAt": msg.created,
    }
    if msg.flags is not None:
        doc["safetyFlags"] = msg.flags
    return doc


def _malformed_docs(p: _Planter, rng: random.Random) -> list[tuple[str, _Chat, dict, dict]]:
    """Docs collect must quarantine with a reason (each parses as Extended JSON)."""
    out = []
    for problem in ("missing_content", "missing_chatId", "unknown_role", "createdAt_not_a_date"):
        chat = p.next_chat()
        last = chat.messages[-1].created
        t = last + timedelta(seconds=rng.randrange(5, 30))
        doc = _message_doc(
            chat,
            _Msg(
                "user",
                rng.choice(_TOPICS[rng.choice(TOPIC_NAMES)].prompts),
                oid=_object_id(t, rng),
                created=t,
            ),
        )
        if problem == "missing_content":
            del doc["content"]
        elif problem == "missing_chatId":
            del doc["chatId"]
        elif problem == "unknown_role":
            doc["role"] = "moderator"
        else:
            doc["createdAt"] = t.strftime("%Y-%m-%d %H:%M:%S")
        out.append((problem, chat, doc, {"problem": problem}))
    return out


def _truth(hazard: str, chat: _Chat, message_id: ObjectId, detail: dict) -> dict:
    return {
        "hazard": hazard,
        "message_id": str(message_id),
        "chat_id": chat.chat_id,
        "character_id": chat.character_id,
        "user_id": chat.user_id,
        "detail": detail,
    }


def build_world(
    out_dir: str | Path, seed: int = 0, chats_per_character: int = 120, gold_per_character: int = 30
) -> dict:
    """Write the synthetic world into `out_dir` (created if needed) and return counts.

    Files (each written atomically): messages.json, users.json, characters.json (mongoexport
    Extended JSON lines), gold.jsonl, deletion_requests.jsonl, ground_truth.jsonl, decoys.jsonl.
    Same seed and arguments -> byte-identical files. Content hazards and decoys are planted only
    in chats that collect keeps (opted-in users, after opt-in, not deleted), so clean-stage tests
    see them. Returns {"files": {name: lines}, "hazards": {kind: n}, "chats", "messages", ...}.
    """
    if chats_per_character < MIN_CHATS_PER_CHARACTER:
        raise ValueError(
            f"chats_per_character must be >= {MIN_CHATS_PER_CHARACTER}, got {chats_per_character}"
        )
    if gold_per_character < 0:
        raise ValueError(f"gold_per_character must be >= 0, got {gold_per_character}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"world:{seed}")

    users = _make_users(rng)
    by_id = {u.user_id: u for u in users}
    chats = _make_chats(rng, users, chats_per_character)
    chats_of: dict[str, list[_Chat]] = {u.user_id: [] for u in users}
    for chat in chats:
        chats_of[chat.user_id].append(chat)

    # Consent special cases: the busiest opted-in user opted in mid-window (earlier chats must be
    # excluded); the next busiest asked for deletion after chatting (all chats must be excluded).
    opted_in = sorted((u for u in users if u.opt_in), key=lambda u: -len(chats_of[u.user_id]))
    late_user, deleted_user = opted_in[0], opted_in[1]
    late_user.opt_in_at = _cut_between_chats(chats_of[late_user.user_id])
    requested_at = WINDOW_START + timedelta(days=WINDOW_DAYS + 2, hours=9)

    def consented(chat: _Chat) -> bool:
        user = by_id[chat.user_id]
        return user.opt_in and user is not deleted_user and chat.start >= user.opt_in_at

    trainable = [c for c in chats if consented(c)]

    # Cross-character leakage: a few 나비 chats whose character lines are 김선비's 하오체.
    leak_rng = random.Random(f"leak:{seed}")
    leaked = leak_rng.sample([c for c in trainable if c.character_id == "nabi"], 4)
    for chat in leaked:
        chat.messages = [_Msg(m["role"], m["content"]) for m in _dialogue("seonbi", leak_rng, "seonbi")]
    pools = {
        cid: [c for c in trainable if c.character_id == cid and c not in leaked] for cid in CHARACTER_IDS
    }

    planter = _Planter(random.Random(f"hazards:{seed}"), pools, by_id)
    _plant_content_hazards(planter)
    _plant_decoys(planter)
    _finalize_times(chats, random.Random(f"times:{seed}"))
    malformed = _malformed_docs(planter, planter.rng)

    truth = [_truth(h, chat, msg.oid, detail) for h, chat, msg, detail in planter.hazards]
    for chat in leaked:
        for msg in chat.messages:
            if msg.role == "assistant":
                truth.append(_truth("leakage", chat, msg.oid, {"style_of": "seonbi", "filed_under": "nabi"}))
    truth += [_truth("malformed", chat, doc["_id"], detail) for _, chat, doc, detail in malformed]
    # Consent hazards are per chat: the first message stands for the chat, every message goes.
    for chat in chats:
        user = by_id[chat.user_id]
        if not user.opt_in:
            kind, detail = "no_optin", {}
        elif user is deleted_user:
            kind, detail = "deleted_user", {"requested_at": _iso(requested_at)}
        elif chat.start < user.opt_in_at:
            kind, detail = "optin_after", {"opt_in_at": _iso(user.opt_in_at)}
        else:
            continue
        truth.append(
            _truth(
                kind,
                chat,
                chat.messages[0].oid,
                {"scope": "chat", "n_messages": len(chat.messages), **detail},
            )
        )

    fmt_rng = random.Random(f"format:{seed}")
    docs = [_message_doc(chat, msg) for chat in chats for msg in chat.messages] + [
        d for _, _, d, _ in malformed
    ]
    assert len({d["_id"] for d in docs}) == len(docs), "ObjectId collision"
    fmt_rng.shuffle(docs)  # exports are not ordered
    message_lines = [_ejson(d, canonical=fmt_rng.random() < 0.1) for d in docs]

    user_docs = [
        {
            "_id": u.user_id,
            "nickname": u.nickname,
            "trainingOptIn": u.opt_in,
            "optInAt": u.opt_in_at,
            "createdAt": u.created_at,
        }
        for u in users
    ]
    fmt_rng.shuffle(user_docs)
    user_lines = [_ejson(d, canonical=fmt_rng.random() < 0.2) for d in user_docs]

    card_lines = [
        _ejson(
            {
                "_id": cid,
                "name": c["name"],
                "category": c["category"],
                "systemPrompt": c["system_prompt"],
                "lorebook": c["lorebook"],
                "exampleDialogues": c["example_dialogues"],
                "updatedAt": datetime(2026, 2, 20, tzinfo=UTC),
            },
            canonical=False,
        )
        for cid, c in DEMO_CHARACTERS.items()
    ]

    gold_rng = random.Random(f"gold:{seed}")
    gold_lines = [
        _plain_json(
            {
                "character_id": cid,
                "dialogue_id": f"{cid}-gold-{i:03d}",
                "messages": _dialogue(cid, gold_rng, flavor=cid),
            }
        )
        for cid in CHARACTER_IDS
        for i in range(gold_per_character)
    ]

    decoy_lines = [
        _plain_json(
            {
                "kind": kind,
                "message_id": str(msg.oid),
                "chat_id": chat.chat_id,
                "character_id": chat.character_id,
                "user_id": chat.user_id,
                "detail": detail,
            }
        )
        for kind, chat, msg, detail in planter.decoys
    ]

    files = {
        "messages.json": _write_lines(out / "messages.json", message_lines),
        "users.json": _write_lines(out / "users.json", user_lines),
        "characters.json": _write_lines(out / "characters.json", card_lines),
        "gold.jsonl": _write_lines(out / "gold.jsonl", gold_lines),
        "deletion_requests.jsonl": _write_lines(
            out / "deletion_requests.jsonl",
            [_plain_json({"user_id": deleted_user.user_id, "requested_at": _iso(requested_at)})],
        ),
        "ground_truth.jsonl": _write_lines(out / "ground_truth.jsonl", [_plain_json(t) for t in truth]),
        "decoys.jsonl": _write_lines(out / "decoys.jsonl", decoy_lines),
    }
    return {
        "out_dir": str(out),
        "seed": seed,
        "files": files,
        "hazards": dict(sorted(Counter(t["hazard"] for t in truth).items())),
        "chats": len(chats),
        "messages": len(docs),
        "users": len(users),
        "users_opted_in": sum(u.opt_in for u in users),
        "trainable_chats": len(trainable),
    }

"""The base model's pre-training corpus: polite, role-play and knowledge chats (the replies stay polite)."""

from __future__ import annotations

import random

from .cards import _FLAVOR
from .dialogue import _CLOSERS, _OPENERS, _dialogue, _reply, _user_turn
from .styles import _render
from .topics import _TOPICS, TOPIC_NAMES, _fill_line


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
        used: set[str] = set()
        for _ in range(rng.choice((1, 2, 3))):
            topic = rng.choice(TOPIC_NAMES)
            style = rng.choice(("nabi", "bori", "seonbi", "banmal", "banmal"))
            t = _TOPICS[topic]
            # Openers, closers, answers and the characters' own lines too: every word of the world is read.
            answers = [_fill_line(a, rng.choice(t.slots)) for a in t.answers]
            pool = list(t.ideas) + answers + list(_OPENERS) + list(_CLOSERS) + _FLAVOR.get(style, [])
            lines = rng.sample(pool, rng.choice((1, 2)))
            said = " ".join(_render(line, style, rng) for line in lines)
            # Then the user asks something, and the polite reply takes that up.
            turn = _user_turn(topic, rng, used)
            user = rng.choice(_ROLEPLAY_INTRO[style]) + said + " " + turn
            messages += [{"role": "user", "content": user.strip()},
                         {"role": "assistant", "content": _reply(topic, "polite", rng, None, slot=turn.slot,
                                                                 prompt_index=turn.prompt_index)}]
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


# System prompts as apps write them: who the assistant is and how it talks. The base model reads
# them (every character's prompt starts with one) and still answers the user in its own polite
# voice; none of the demo characters' names, animals or endings appear here.
_SYSTEM_WHO = ("친절한 도우미", "다정한 친구", "상담사 하늘", "토끼 토순이", "여우 여울", "곰돌이 두부", "학자 박사님",
               "요리사 민수", "여행 안내원 소라", "우주인 별이", "로봇 친구 삐삐", "사서 은비")
_SYSTEM_MANNER = ("친절하게", "다정하고 차분하게", "밝고 명랑하게", "짧고 또렷하게", "상냥하게", "점잖고 부드럽게",
                  "재미있고 유쾌하게", "따뜻하게")
_SYSTEM_FORMS = ("너는 {who}야. {manner} 말해.", "당신은 {who}입니다. {manner} 대답하세요.",
                 "너는 {who}야. {manner} 이야기하고, 사용자의 말에 귀 기울여.", "{who} 역할로 {manner} 대화해 주세요.")


def with_system_prompts(chats: list[list[dict]], share: float, seed: int = 0) -> list[list[dict]]:
    """The chats, `share` of them (seeded) opened by a generic system prompt; the others unchanged."""
    rng = random.Random(f"system:{seed}")
    out = []
    for chat in chats:
        if rng.random() < share:
            text = rng.choice(_SYSTEM_FORMS).format(who=rng.choice(_SYSTEM_WHO), manner=rng.choice(_SYSTEM_MANNER))
            chat = [{"role": "system", "content": text}, *chat]
        out.append(chat)
    return out

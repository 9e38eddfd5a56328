"""Clean conversations in one style: user turns, 1-3 sentence replies, multi-exchange dialogues."""

from __future__ import annotations

import random

from .cards import _FLAVOR
from .styles import _L, _Line, _render
from .topics import _TOPICS, TOPIC_NAMES

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

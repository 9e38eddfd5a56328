"""Clean conversations in one style: user turns, 1-3 sentence replies, multi-exchange dialogues.

A reply starts by taking up what the user said: a slotted prompt ("저녁에 떡볶이 먹을까?") gets an
answer about the same word ("떡볶이 정말 맛있다냥!"), a fixed prompt its own topic idea. Only then
come a second idea, the character's flavour or a closer. Replies whose first sentence is a
topic-agnostic stock line ("그렇구나", "오늘도 좋은 하루 보내세요") are what a small model learns
to give to every prompt, so openers are rare and never the whole reply.
"""

from __future__ import annotations

import random

from .cards import _FLAVOR
from .styles import _L, _Line, _render
from .topics import _TOPICS, TOPIC_NAMES, _fill, _fill_line

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
SLOT_SHARE = 0.75  # user turns from a slotted prompt (the rest: the topic's fixed prompts)
OPENER_SHARE = 0.03  # replies that start with a stock opener before taking the prompt up
# Replies with one of the character's five flavour sentences. At one in three (when it was one of three
# extras) a small adapter learned to end most replies with the same one ("그르릉 소리가 절로 난다냥"),
# which the evaluate stage's diversity gate rightly rejects: real characters say their catchphrase less often.
FLAVOR_SHARE = 0.15
_MULTI_SENTENCE = 0.75  # replies with 2-3 sentences (n_sentences' weights below): the only ones with room for it


class _Turn(str):
    """A user turn's text that remembers what the reply should take up: its slot word or fixed prompt."""

    slot: str | None = None
    prompt_index: int | None = None


def _user_turn(topic: str, rng: random.Random, used: set[str]) -> _Turn:
    t = _TOPICS[topic]
    slot, index = None, None
    if t.slots and rng.random() < SLOT_SHARE:
        for _ in range(5):  # a prompt not used yet in this chat, if one comes quickly
            slot = rng.choice(t.slots)
            prompt = _fill(rng.choice(t.slot_prompts), slot)
            if prompt not in used:
                break
    else:
        prompts = [p for p in t.prompts if p not in used] or list(t.prompts)
        prompt = rng.choice(prompts)
        index = t.prompts.index(prompt)
    used.add(prompt)
    turn = _Turn((rng.choice(_USER_PREFIX) + prompt + rng.choice(_USER_SUFFIX)).strip())
    turn.slot, turn.prompt_index = slot, index
    return turn


def _first_line(topic: str, rng: random.Random, slot: str | None, prompt_index: int | None) -> _Line:
    t = _TOPICS[topic]
    if slot is not None and t.answers:
        return _fill_line(rng.choice(t.answers), slot)
    if prompt_index is not None:
        return t.ideas[prompt_index % len(t.ideas)]
    return rng.choice(t.ideas)


def _reply(topic: str, style: str, rng: random.Random, flavor: str | None, *,
           slot: str | None = None, prompt_index: int | None = None) -> str:
    """1-3 sentences: the line that takes the prompt up, then a second idea, flavour and/or a closer."""
    n_sentences = rng.choices((1, 2, 3), weights=(25, 45, 30))[0]
    n_extra = n_sentences - 1
    chosen = set()
    if flavor and n_extra and rng.random() < FLAVOR_SHARE / _MULTI_SENTENCE:
        chosen.add("flavor")
        n_extra -= 1
    chosen |= set(rng.sample(["idea", "closer"], n_extra))
    first = _first_line(topic, rng, slot, prompt_index)
    lines: list[_Line] = []
    if rng.random() < OPENER_SHARE:
        lines.append(rng.choice(_OPENERS))
    lines.append(first)
    if "idea" in chosen:
        others = [i for i in _TOPICS[topic].ideas if i != first]
        if slot is not None and len(_TOPICS[topic].answers) > 1 and rng.random() < 0.5:
            others = [_fill_line(a, slot) for a in _TOPICS[topic].answers]
            others = [o for o in others if o != first]
        lines.append(rng.choice(others))
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
        turn = _user_turn(topic, rng, used_prompts)
        messages.append({"role": "user", "content": str(turn)})
        # A repeated reply inside one chat would look like a planted "repeat" hazard: re-draw.
        reply = _reply(topic, style, rng, flavor, slot=turn.slot, prompt_index=turn.prompt_index)
        for _ in range(5):
            if reply not in replies:
                break
            reply = _reply(topic, style, rng, flavor, slot=turn.slot, prompt_index=turn.prompt_index)
        replies.add(reply)
        messages.append({"role": "assistant", "content": reply})
    return messages

"""Hazards: what later stages must catch (ground_truth.jsonl) and look-alikes they must keep (decoys)."""

from __future__ import annotations

import random
from datetime import timedelta

from bson.objectid import ObjectId

from .cards import CHARACTER_IDS, DEMO_CHARACTERS
from .chats import _Chat, _Msg, _object_id
from .dialogue import _dialogue
from .export import _message_doc
from .pii import _pii_cases
from .styles import _L, _Line, _own, _render
from .topics import _TOPICS, TOPIC_NAMES
from .users import _User

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

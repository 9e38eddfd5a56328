"""Tests of the synthetic demo world (lora_lib.demo.world): determinism, formats, styles, hazards."""

from __future__ import annotations

import json
import re
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import pytest
from bson import json_util
from bson.objectid import ObjectId

from lora_lib.demo.world import CHARACTER_IDS, DEMO_CHARACTERS, build_world, polite_chats

FILES = (
    "messages.json",
    "users.json",
    "characters.json",
    "gold.jsonl",
    "deletion_requests.jsonl",
    "ground_truth.jsonl",
    "decoys.jsonl",
)
HAZARD_KINDS = {
    "pii:PHONE",
    "pii:EMAIL",
    "pii:RRN",
    "pii:ACCOUNT",
    "pii:CARD",
    "pii:ADDRESS",
    "pii:NAME",
    "pii:NICKNAME",
    "pii:MESSENGER",
    "meta",
    "spam",
    "repeat",
    "short",
    "english",
    "nsfw",
    "no_optin",
    "optin_after",
    "deleted_user",
    "leakage",
    "malformed",
}
CONSENT_KINDS = {"no_optin", "optin_after", "deleted_user"}
MARKERS = {cid: re.compile(c["style_markers"][0]) for cid, c in DEMO_CHARACTERS.items()}


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?~])\s+", text.strip()) if s]


def _ends_with_marker(pattern: re.Pattern, sentence: str) -> bool:
    return any(m.end() == len(sentence) for m in pattern.finditer(sentence))


def _all_sentences_styled(pattern: re.Pattern, text: str) -> bool:
    return all(_ends_with_marker(pattern, s) for s in _sentences(text))


def _read(path: Path) -> list:
    return [json_util.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("world0")
    t0 = time.perf_counter()
    summary = build_world(out, seed=0)
    elapsed = time.perf_counter() - t0
    return {
        "dir": out,
        "summary": summary,
        "elapsed": elapsed,
        "messages": _read(out / "messages.json"),
        "users": _read(out / "users.json"),
        "characters": _read(out / "characters.json"),
        "gold": _read(out / "gold.jsonl"),
        "deletions": _read(out / "deletion_requests.jsonl"),
        "truth": _read(out / "ground_truth.jsonl"),
        "decoys": _read(out / "decoys.jsonl"),
    }


@pytest.fixture(scope="module")
def by_id(world):
    return {str(d["_id"]): d for d in world["messages"]}


# --- determinism, speed, formats ------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_differs(world, tmp_path):
    build_world(tmp_path / "again", seed=0)
    build_world(tmp_path / "other", seed=1)
    for name in FILES:
        assert (tmp_path / "again" / name).read_bytes() == (world["dir"] / name).read_bytes(), name
    assert (tmp_path / "other" / "messages.json").read_bytes() != (
        world["dir"] / "messages.json"
    ).read_bytes()
    assert (tmp_path / "other" / "gold.jsonl").read_bytes() != (world["dir"] / "gold.jsonl").read_bytes()


def test_fast_and_counts_match_files(world):
    assert world["elapsed"] < 3.0
    summary = world["summary"]
    for name in FILES:
        assert summary["files"][name] == len((world["dir"] / name).read_text(encoding="utf-8").splitlines())
    assert summary["chats"] == 360
    assert 1500 <= summary["files"]["messages.json"] <= 5000
    assert summary["files"]["gold.jsonl"] == 90
    assert summary["hazards"] == dict(Counter(t["hazard"] for t in world["truth"]))
    assert not list(world["dir"].glob(".*tmp")), "temp files left behind"


def test_rejects_too_small_world(tmp_path):
    with pytest.raises(ValueError, match="chats_per_character"):
        build_world(tmp_path, chats_per_character=5)


def test_message_docs_are_mongoexport_extended_json(world):
    raw = (world["dir"] / "messages.json").read_text(encoding="utf-8").splitlines()
    assert any('"$numberLong"' in line for line in raw), "some canonical dates expected"
    assert any('"$date":"2026-' in line for line in raw), "some relaxed dates expected"
    malformed = {t["message_id"] for t in world["truth"] if t["hazard"] == "malformed"}
    for doc in world["messages"]:
        assert isinstance(doc["_id"], ObjectId)
        if str(doc["_id"]) in malformed:
            continue
        assert set(doc) >= {"chatId", "characterId", "userId", "role", "content", "createdAt"}
        assert isinstance(doc["createdAt"], datetime) and doc["createdAt"].year == 2026
        assert doc["role"] in {"user", "character", "assistant"}
        assert doc["characterId"] in DEMO_CHARACTERS
    assert {d["role"] for d in world["messages"]} >= {"user", "character", "assistant"}


def test_chats_are_time_ordered_but_file_is_shuffled(world):
    times = [d["createdAt"] for d in world["messages"] if isinstance(d.get("createdAt"), datetime)]
    assert times != sorted(times)
    by_chat = defaultdict(list)
    for d in world["messages"]:
        if "chatId" in d and isinstance(d.get("createdAt"), datetime):
            by_chat[d["chatId"]].append(d)
    for docs in by_chat.values():
        docs.sort(key=lambda d: d["createdAt"])
        assert docs[0]["role"] == "user"
        assert len({d["characterId"] for d in docs}) == 1 and len({d["userId"] for d in docs}) == 1
        span = docs[-1]["createdAt"] - docs[0]["createdAt"]
        assert span.total_seconds() < 3600


def test_users_characters_and_deletions(world):
    users = {u["_id"]: u for u in world["users"]}
    assert len(users) == 40
    never = [u for u in users.values() if not u["trainingOptIn"]]
    assert 0.15 <= len(never) / len(users) <= 0.35
    assert all(u["optInAt"] is None for u in never)
    assert all(isinstance(u["optInAt"], datetime) for u in users.values() if u["trainingOptIn"])

    cards = {c["_id"]: c for c in world["characters"]}
    assert set(cards) == set(CHARACTER_IDS)
    for cid, card in cards.items():
        assert card["name"] == DEMO_CHARACTERS[cid]["name"]
        assert len(card["systemPrompt"]) > 150 and card["lorebook"] and card["exampleDialogues"]
    categories = Counter(c["category"] for c in cards.values())
    assert max(categories.values()) >= 2, "at least two characters share a category"

    (request,) = world["deletions"]
    user = users[request["user_id"]]
    assert user["trainingOptIn"]
    theirs = [d for d in world["messages"] if d.get("userId") == request["user_id"]]
    assert theirs
    requested = datetime.fromisoformat(request["requested_at"].replace("Z", "+00:00")).replace(tzinfo=None)
    assert all(d["createdAt"] < requested for d in theirs)


def test_a_user_opted_in_after_chatting(world):
    users = {u["_id"]: u for u in world["users"]}
    late = {t["user_id"] for t in world["truth"] if t["hazard"] == "optin_after"}
    assert len(late) >= 1
    for uid in late:
        opt_in = users[uid]["optInAt"]
        # (a malformed-date hazard may fall on this user: its createdAt is a string, not a date)
        times = [d["createdAt"] for d in world["messages"] if d.get("userId") == uid and isinstance(d["createdAt"], datetime)]
        assert min(times) < opt_in < max(times)


# --- styles ---------------------------------------------------------------------------------------


def test_character_cards_and_gold_are_perfectly_styled(world):
    for cid, c in DEMO_CHARACTERS.items():
        for dialogue in c["example_dialogues"]:
            for m in dialogue:
                if m["role"] == "assistant":
                    assert _all_sentences_styled(MARKERS[cid], m["content"]), m["content"]
    per_character = Counter()
    for g in world["gold"]:
        per_character[g["character_id"]] += 1
        assert [m["role"] for m in g["messages"]][::2] == ["user"] * (len(g["messages"]) // 2)
        for m in g["messages"]:
            if m["role"] == "assistant":
                assert _all_sentences_styled(MARKERS[g["character_id"]], m["content"]), m["content"]
    assert per_character == {cid: 30 for cid in CHARACTER_IDS}


def test_clean_character_turns_match_their_own_style_only(world):
    hazard_ids = {t["message_id"] for t in world["truth"] if t["hazard"] not in CONSENT_KINDS}
    turns = defaultdict(list)
    for d in world["messages"]:
        if d.get("role") in {"character", "assistant"} and str(d["_id"]) not in hazard_ids:
            turns[d["characterId"]].append(d["content"])
    for cid in CHARACTER_IDS:
        assert len(turns[cid]) > 200
        own = sum(_all_sentences_styled(MARKERS[cid], t) for t in turns[cid]) / len(turns[cid])
        assert own >= 0.98, (cid, own)
        for other in CHARACTER_IDS:
            if other != cid:
                assert not any(MARKERS[other].search(t) for t in turns[cid]), (cid, other)
    # Replies vary: templates x topics x fillers, not one canned line.
    assert len(set(turns["nabi"])) > 0.6 * len(turns["nabi"])


def test_polite_chats_are_neutral_deterministic_and_share_user_prompts(world):
    chats = polite_chats(300, seed=0)
    assert chats == polite_chats(300, seed=0) and chats != polite_chats(300, seed=1)
    assert len(chats) == 300
    polite_users = set()
    for chat in chats:
        assert 2 <= len(chat) <= 8
        assert [m["role"] for m in chat] == ["user", "assistant"] * (len(chat) // 2)
        for m in chat:
            if m["role"] == "assistant":
                assert not any(p.search(m["content"]) for p in MARKERS.values()), m["content"]
                assert all(s.rstrip("!.?~").endswith(("요", "다", "죠")) for s in _sentences(m["content"]))
            else:
                polite_users.add(m["content"])
    world_users = {d.get("content") for d in world["messages"] if d.get("role") == "user"}
    assert len(polite_users & world_users) > 50


# --- hazards --------------------------------------------------------------------------------------


def test_every_hazard_kind_points_at_a_real_message(world, by_id):
    kinds = Counter(t["hazard"] for t in world["truth"])
    assert set(kinds) == HAZARD_KINDS
    assert all(n >= 3 for n in kinds.values()), kinds
    for t in world["truth"]:
        doc = by_id[t["message_id"]]
        assert doc["characterId"] == t["character_id"] and doc["userId"] == t["user_id"]
        if t["hazard"] != "malformed" or t["detail"]["problem"] != "missing_chatId":
            assert doc["chatId"] == t["chat_id"]
    # Content hazards are spread over characters.
    for kind in ("pii:PHONE", "meta", "spam", "english"):
        assert {t["character_id"] for t in world["truth"] if t["hazard"] == kind} == set(CHARACTER_IDS), kind


def test_pii_spans_are_in_their_messages(world, by_id):
    users = {u["_id"]: u for u in world["users"]}
    pii = [t for t in world["truth"] if t["hazard"].startswith("pii:")]
    assert sum(t["detail"]["turn_role"] == "user" for t in pii) > 0.8 * len(pii)
    for t in pii:
        assert t["detail"]["span"] in by_id[t["message_id"]]["content"], t
    variants = {t["detail"]["variant"] for t in pii if t["hazard"] == "pii:PHONE"}
    assert {"dashed", "plain", "korean_words", "spaces", "dots"} <= variants
    assert {"korean_words", "english_words"} <= {
        t["detail"]["variant"] for t in pii if t["hazard"] == "pii:EMAIL"
    }
    for t in pii:
        if t["hazard"] == "pii:NICKNAME":
            assert t["detail"]["span"] in {users[t["user_id"]]["nickname"], t["user_id"]}


def test_flagged_leaked_and_repeated_turns(world, by_id):
    for t in world["truth"]:
        doc = by_id[t["message_id"]]
        if t["hazard"] == "nsfw":
            assert doc["safetyFlags"] == ["nsfw"]
        elif t["hazard"] == "leakage":
            assert doc["characterId"] == "nabi" and doc["role"] != "user"
            assert _all_sentences_styled(MARKERS["seonbi"], doc["content"])
            assert not MARKERS["nabi"].search(doc["content"])
        elif t["hazard"] == "repeat" and t["detail"]["variant"] == "sentence_x5":
            assert len(set(_sentences(doc["content"]))) == 1 and len(_sentences(doc["content"])) == 5
        elif t["hazard"] == "repeat":
            same_chat = [d for d in world["messages"] if d.get("chatId") == doc["chatId"]]
            assert sum(d["content"] == doc["content"] for d in same_chat) >= 2
    flagged = [d for d in world["messages"] if d.get("safetyFlags")]
    nsfw_ids = {t["message_id"] for t in world["truth"] if t["hazard"] == "nsfw"}
    assert {str(d["_id"]) for d in flagged} == nsfw_ids


def test_consent_hazards_cover_every_excluded_chat(world):
    users = {u["_id"]: u for u in world["users"]}
    deleted = {r["user_id"] for r in world["deletions"]}
    listed = {t["chat_id"]: t["hazard"] for t in world["truth"] if t["hazard"] in CONSENT_KINDS}
    first_time = {}
    for d in world["messages"]:
        if "chatId" in d and isinstance(d.get("createdAt"), datetime):
            first_time[d["chatId"]] = min(first_time.get(d["chatId"], d["createdAt"]), d["createdAt"])
    chat_user = {d["chatId"]: d["userId"] for d in world["messages"] if "chatId" in d}
    for chat_id, uid in chat_user.items():
        user = users[uid]
        excluded = not user["trainingOptIn"] or uid in deleted or first_time[chat_id] < user["optInAt"]
        assert (chat_id in listed) == excluded, chat_id
    # Content hazards sit in chats collect keeps, so the clean stage gets to see them.
    for t in world["truth"]:
        if t["hazard"] not in CONSENT_KINDS:
            assert t["chat_id"] not in listed, t


def test_decoys_are_clean_and_not_hazards(world, by_id):
    hazard_ids = {t["message_id"] for t in world["truth"]}
    assert len(world["decoys"]) >= 10
    for decoy in world["decoys"]:
        assert decoy["message_id"] not in hazard_ids
        doc = by_id[decoy["message_id"]]
        if doc["role"] != "user":
            assert _all_sentences_styled(MARKERS[doc["characterId"]], doc["content"]), doc["content"]
    decoy_texts = [by_id[d["message_id"]]["content"] for d in world["decoys"]]
    assert any("로봇" in t for t in decoy_texts) and any("AI" in t for t in decoy_texts)


def test_files_are_plain_json_where_promised(world):
    for name in ("gold.jsonl", "deletion_requests.jsonl", "ground_truth.jsonl", "decoys.jsonl"):
        for line in (world["dir"] / name).read_text(encoding="utf-8").splitlines():
            json.loads(line)  # no Extended JSON wrappers needed to read these


def test_every_template_sentence_renders_in_style():
    """Exhaustive over the tables, so a bad edit to one template cannot hide behind sampling."""
    import random

    from lora_lib.demo.world import cards, dialogue, styles, topics

    rng = random.Random(0)
    ideas = [line for t in topics._TOPICS.values() for line in t.ideas]
    answers = [topics._fill_line(a, slot) for t in topics._TOPICS.values() for a in t.answers for slot in t.slots]
    assert not any("{" in text for line in answers for text in line[:3]), "unfilled slot"
    lines = ideas + answers + list(dialogue._OPENERS) + list(dialogue._CLOSERS)
    for line in lines:
        for cid in CHARACTER_IDS:
            assert _ends_with_marker(MARKERS[cid], styles._render(line, cid, rng)), (cid, line)
        polite = styles._render(line, "polite", rng)
        assert not any(p.search(polite) for p in MARKERS.values()), polite
    for cid, flavor in cards._FLAVOR.items():
        for line in flavor:
            assert _ends_with_marker(MARKERS[cid], styles._render(line, cid, rng)), (cid, line)


def test_particles_follow_the_last_syllable():
    from lora_lib.demo.world.topics import _fill

    assert _fill("{x:이/가} 좋다", "떡볶이") == "떡볶이가 좋다"
    assert _fill("{x:이/가} 좋다", "김밥") == "김밥이 좋다"
    assert _fill("{x:을/를} 먹자, {x:은/는}", "라면") == "라면을 먹자, 라면은"
    assert _fill("{x:과/와} {x:으로/로}", "바다") == "바다와 바다로"
    assert _fill("{x:으로/로}", "골목길") == "골목길로"  # ㄹ takes 로
    assert _fill("{x:으로/로} {x:이랑/랑}", "숲") == "숲으로 숲이랑"


def test_replies_take_up_what_the_user_said():
    """Every topic has slotted prompts; a reply to one starts with a line about the same word, so a
    model trained on these chats learns to answer the prompt, not to repeat one stock line."""
    from lora_lib.demo.world import topics

    for name, t in topics._TOPICS.items():
        assert len(t.slots) >= 6 and len(t.slot_prompts) >= 3 and len(t.answers) >= 3, name
        assert all("{x" in p for p in t.slot_prompts) and all("{x" in f for a in t.answers for f in a[:3]), name
    chats = polite_chats(300, seed=0)
    pairs = [(u["content"], a["content"]) for c in chats for u, a in zip(c[::2], c[1::2], strict=True)]
    slot_words = {w for t in topics._TOPICS.values() for w in t.slots}
    slotted = [(u, a) for u, a in pairs if any(w in u for w in slot_words)]
    assert len(slotted) > 0.6 * len(pairs)
    first = [_sentences(a)[0] for _, a in pairs]
    # Taken up: the reply names a slot word of the prompt (in its first sentence or after a rare opener).
    took_up = sum(any(w in u and w in a for w in slot_words) for u, a in slotted) / len(slotted)
    assert took_up > 0.9, took_up  # (short slot words like 비 also sit inside fixed prompts)
    # No stock first sentence: the most common one opens under 5% of the replies.
    assert Counter(first).most_common(1)[0][1] < 0.05 * len(pairs)
    assert len(set(a for _, a in pairs)) > 0.8 * len(pairs)


def test_no_flavour_sentence_ends_many_replies(world):
    """A character's flavour sentences (cards._FLAVOR) are in about FLAVOR_SHARE of its clean replies, and no
    one of them in more than 6%: a catchphrase in a third of the replies taught the adapter to end every
    reply with it (nabi, rejected by the diversity gate)."""
    from lora_lib.demo.world import cards

    for cid in CHARACTER_IDS:
        replies = [d["content"] for d in world["messages"] if d.get("characterId") == cid
                   and d.get("role") in {"character", "assistant"}]
        # a flavour line's stem: its text up to the style's ending, the same in every rendering
        stems = [line.animal[:6] for line in cards._FLAVOR[cid]]
        per_line = [sum(stem in r for r in replies) / len(replies) for stem in stems]
        total = sum(any(stem in r for stem in stems) for r in replies) / len(replies)
        assert 0.08 <= total <= 0.22, (cid, total)
        assert max(per_line) < 0.06, (cid, per_line)

"""`build_world`: users, chats, consent cases, planted hazards and decoys, written as the export files."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .cards import CHARACTER_IDS, DEMO_CHARACTERS
from .chats import _Chat, _cut_between_chats, _finalize_times, _make_chats, _Msg
from .dialogue import _dialogue
from .export import _ejson, _iso, _message_doc, _plain_json, _write_lines
from .hazards import _malformed_docs, _plant_content_hazards, _plant_decoys, _Planter, _truth
from .users import WINDOW_DAYS, WINDOW_START, _make_users

MIN_CHATS_PER_CHARACTER = 30  # below this the hazards and consent cases do not all fit


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

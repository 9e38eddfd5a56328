"""Author-written material: gold dialogues and character cards as conversation records."""

from __future__ import annotations

import json
from pathlib import Path

from .readers import CollectError, iter_export


def read_gold(path: str | Path, character_id: str) -> list[dict]:
    """Author-written dialogues for one character as conversation records (source "gold")."""
    out = []
    if not Path(path).exists():
        return out
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if rec["character_id"] != character_id:
                    continue
                messages = [{"role": m["role"], "content": m["content"]} for m in rec["messages"]]
            except (ValueError, KeyError, TypeError) as exc:
                raise CollectError(f"{path}:{lineno}: bad gold dialogue ({exc!r})") from None
            out.append({"conversation_id": f"gold:{rec.get('dialogue_id', lineno)}", "character_id": character_id,
                        "dataset_source": "gold", "timestamp": None, "user_ref": None, "consent": True,
                        "messages": messages, "style_tags": ["gold"], "safety_flags": []})
    return out


def read_card(path: str | Path, character_id: str) -> dict | None:
    """The character card document (systemPrompt, lorebook, exampleDialogues, category) or None."""
    for _, doc, _err in iter_export(path):
        if doc and str(doc.get("_id")) == character_id:
            return doc
    return None


def card_conversations(card: dict | None, character_id: str) -> list[dict]:
    """The card's example dialogues as conversation records (source "character_card")."""
    out = []
    for i, dialogue in enumerate((card or {}).get("exampleDialogues") or []):
        messages = dialogue.get("messages") if isinstance(dialogue, dict) else dialogue
        if not isinstance(messages, list):
            continue
        msgs = [{"role": "assistant" if m.get("role") in ("character", "assistant") else m.get("role"),
                 "content": m.get("content", "")} for m in messages if isinstance(m, dict)]
        out.append({"conversation_id": f"card:{character_id}:{i}", "character_id": character_id,
                    "dataset_source": "character_card", "timestamp": None, "user_ref": None, "consent": True,
                    "messages": msgs, "style_tags": ["card"], "safety_flags": []})
    return out

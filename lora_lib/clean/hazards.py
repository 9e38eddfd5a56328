"""Check collect + clean outputs against a ground-truth file of planted hazards (the demo world's).

A hazard is caught when the stage that owns it removed or masked it:
- consent hazards (no_optin, optin_after, deleted_user): no message of that chat was kept by collect;
- malformed documents: quarantined by collect (by document id);
- pii:*: the planted span appears nowhere in the clean output;
- everything else (meta, spam, repeat, short, english, nsfw, leakage): the message is not in the clean
  output -- its turn or whole conversation has a rejection line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

CONSENT = ("no_optin", "optin_after", "deleted_user")


def check_hazards(truth: Iterable[dict], collected: Mapping[str, list[dict]], quarantine: Iterable[dict],
                  cleaned: Mapping[str, list[dict]]) -> dict:
    """truth rows + per-character collect/clean conversations -> {"caught", "missed", "by_hazard"}.

    `collected`/`cleaned` map character_id -> conversation records (with turn_message_ids).
    """
    truth = list(truth)
    quarantined = {q.get("document_id") for q in quarantine}
    kept_chats = {cid: {c["conversation_id"] for c in convs} for cid, convs in collected.items()}
    kept_ids = {cid: {i for c in convs for ids in c.get("turn_message_ids") or [] for i in ids}
                for cid, convs in cleaned.items()}
    clean_text = {cid: "\n".join(m["content"] for c in convs for m in c["messages"]) for cid, convs in cleaned.items()}
    caught, missed = Counter(), []
    for t in truth:
        h, cid = t["hazard"], t["character_id"]
        if h in CONSENT:
            ok = t["chat_id"] not in kept_chats.get(cid, set())
        elif h == "malformed":
            ok = t["message_id"] in quarantined
        elif h.startswith("pii:"):
            ok = t["detail"]["span"] not in clean_text.get(cid, "")
        else:
            ok = t["message_id"] not in kept_ids.get(cid, set())
        if ok:
            caught[h] += 1
        else:
            missed.append(t)
    total = Counter(t["hazard"] for t in truth)
    return {"caught": sum(caught.values()), "missed": missed,
            "by_hazard": {h: {"planted": n, "caught": caught[h]} for h, n in sorted(total.items())}}

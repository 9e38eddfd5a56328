"""Negative examples from production: flagged replies (failed gates, thumbs-down), their exclusions and
preference pairs, and the next dataset version built with them plus its lineage record."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from ..requestlog import is_number, json_default, rating_value
from ..store import sha256_json, write_jsonl
from .metrics import GATES


def flag_reasons(record: dict) -> list[str]:
    """Why a logged reply is a negative example: each failed gate, and a thumbs-down."""
    gates = record.get("gates") if isinstance(record.get("gates"), dict) else {}
    reasons = [f"gate:{g}" for g in GATES if gates.get(g) is False]
    fb = record.get("feedback")
    if fb is not None and not (isinstance(fb, float) and math.isnan(fb)) and \
            (fb == 0.0 if is_number(fb) else rating_value(fb) == 0.0):
        reasons.append("feedback:thumbs_down")
    return reasons


def negatives_from_log(df: pd.DataFrame) -> list[dict]:
    """Every flagged reply with its prompt, reasons and adapter version, oldest first.

    negative_id is the request_id when logged, else a hash of the record, so re-exporting the same log
    gives the same ids (the dataset manifest cites them).
    """
    out = []
    if df is None or len(df) == 0:
        return out
    for r in df.to_dict(orient="records"):
        reasons = flag_reasons(r)
        if not reasons:
            continue
        rid = r.get("request_id")
        rid = rid if isinstance(rid, str) and rid else None
        nid = rid or sha256_json({k: r.get(k) for k in ("ts", "user_ref", "character_id", "reply")})[:16]
        messages = r.get("messages") if isinstance(r.get("messages"), list) else None
        out.append({"negative_id": nid, "ts": r["ts"], "character_id": r["character_id"],
                    "adapter_version": r["adapter_version"], "group": r["group"], "user_ref": r.get("user_ref"),
                    "reasons": reasons, "prompt": messages, "rejected": r.get("reply")})
    return out


def _norm(text: str | None) -> str:
    return " ".join((text or "").split())


def _first_user(messages: list[dict] | None) -> str | None:
    for m in messages or []:
        if isinstance(m, dict) and m.get("role") == "user":
            return _norm(m.get("content"))
    return None


def reference_replies(records: Iterable[dict]) -> dict[str, str]:
    """First user turn -> the assistant reply that followed it, from dataset/gold records (ChatML `messages`).
    Gold dialogues win over chat logs when both answer the same opening."""
    ranked = sorted(records, key=lambda r: r.get("dataset_source") != "gold")
    out: dict[str, str] = {}
    for rec in ranked:
        msgs = rec.get("messages") or []
        for i, m in enumerate(msgs):
            if m.get("role") == "user":
                nxt = msgs[i + 1] if i + 1 < len(msgs) else None
                key = _norm(m.get("content"))
                if nxt and nxt.get("role") == "assistant" and key not in out:
                    out[key] = nxt["content"]
                break
    return out


def negatives_to_training(negatives: list[dict], *, references: dict[str, str] | None = None,
                          regenerate_fn: Callable[[list[dict]], str] | None = None,
                          gate_fn: Callable[[str], dict] | None = None) -> dict:
    """Turn exported negatives into what the next dataset version records.

    Every negative becomes an exclusion (its reply text must not be an assistant turn in training).
    A negative with a logged prompt also becomes a preference pair when a chosen reply exists: the
    reference (gold) reply to the same opening, else a regenerated reply that passes every gate (gate_fn).
    Returns {"preference_pairs": [{negative_id, prompt, chosen, rejected, chosen_source, reasons,
    adapter_version}], "exclusions": [{negative_id, text, reasons, adapter_version}], "unpaired":
    [{negative_id, reason}], "manifest": {...}} -- "manifest" is the block to store under the dataset
    manifest's "negatives" key (ids, counts by reason and adapter version, content hash).
    """
    references = references or {}
    pairs, exclusions, unpaired = [], [], []
    for neg in negatives:
        exclusions.append({"negative_id": neg["negative_id"], "text": _norm(neg.get("rejected")),
                           "reasons": neg["reasons"], "adapter_version": neg.get("adapter_version")})
        prompt = neg.get("prompt")
        if not prompt:
            unpaired.append({"negative_id": neg["negative_id"], "reason": "no prompt in the request log"})
            continue
        chosen, source = references.get(_first_user(prompt) or ""), "reference"
        if chosen is None and regenerate_fn is not None:
            candidate = regenerate_fn(prompt)
            if gate_fn is None or all(gate_fn(candidate).values()):
                chosen, source = candidate, "regenerated"
        if chosen is None or _norm(chosen) == _norm(neg.get("rejected")):
            unpaired.append({"negative_id": neg["negative_id"], "reason": "no reference or passing regenerated reply"})
            continue
        pairs.append({"negative_id": neg["negative_id"], "prompt": prompt, "chosen": chosen, "rejected": neg.get("rejected"), "chosen_source": source,
                      "reasons": neg["reasons"], "adapter_version": neg.get("adapter_version")})
    manifest = {
        "n": len(negatives), "negative_ids": sorted(n["negative_id"] for n in negatives),
        "sha256": sha256_json(negatives),
        "by_reason": dict(Counter(r for n in negatives for r in n["reasons"])),
        "by_adapter_version": dict(Counter(str(n.get("adapter_version")) for n in negatives)),
        "preference_pairs": len(pairs), "exclusions": len(exclusions), "unpaired": len(unpaired),
    }
    return {"preference_pairs": pairs, "exclusions": exclusions, "unpaired": unpaired, "manifest": manifest}


def apply_exclusions(conversations: list[dict], exclusions: list[dict], *,
                     gate_fn: Callable[[str], dict] | None = None) -> tuple[list[dict], list[dict]]:
    """(kept, rejected) for the stage's rejected.jsonl, each rejection with its reason:

    - "negative_example" (+ negative_id): an assistant turn equal (whitespace-normalised) to a flagged reply;
    - "negative_gate:<gate>" (+ negative_ids): with gate_fn (reply -> {gate: passed}), an assistant turn that
      fails a gate that flagged production replies. Production says which failure the last version learned;
      the training data is re-checked for exactly that failure.
    """
    bad = {e["text"]: e["negative_id"] for e in exclusions if e.get("text")}
    gate_ids: dict[str, list[str]] = {}
    for e in exclusions:
        for r in e.get("reasons", []):
            if r.startswith("gate:"):
                gate_ids.setdefault(r.removeprefix("gate:"), []).append(e["negative_id"])
    kept, rejected = [], []
    for conv in conversations:
        replies = [m.get("content") or "" for m in conv.get("messages", []) if m.get("role") == "assistant"]
        hit = next((bad[_norm(t)] for t in replies if _norm(t) in bad), None)
        if hit is not None:
            rejected.append({"conversation_id": conv.get("conversation_id"), "reason": "negative_example",
                             "negative_id": hit})
            continue
        failed = None
        if gate_fn is not None and gate_ids:
            failed = next((g for t in replies for g, ok in gate_fn(t).items() if not ok and g in gate_ids), None)
        if failed is None:
            kept.append(conv)
        else:
            rejected.append({"conversation_id": conv.get("conversation_id"), "reason": f"negative_gate:{failed}",
                             "negative_ids": sorted(gate_ids[failed])[:20]})
    return kept, rejected


def read_negatives(path: str | Path) -> list[dict]:
    """negatives.jsonl as exported by monitor_once; a missing file is no negatives."""
    path = Path(path)
    if not path.is_file():
        return []
    from ..store import read_jsonl

    return read_jsonl(path)


def dataset_with_negatives(conversations: list[dict], negatives: list[dict], p, *, parent: str | None,
                           regenerate_fn: Callable[[list[dict]], str] | None = None,
                           gate_fn: Callable[[str], dict] | None = None) -> dict:
    """The next dataset version from clean conversations plus production negatives.

    Conversations containing a flagged reply, or (with gate_fn) an assistant turn failing a gate that
    flagged production replies, are excluded (apply_exclusions; returned as rejected rows); the rest
    become a version via dataset.build_version with `parent` as its parent_version. Chosen replies for
    the preference pairs come from the kept conversations' reference replies, else regenerate_fn + gate_fn.
    The lineage goes to <store>/datasets/<character>/negatives/<hash>.json (negative ids, counts by
    reason and adapter version, which dataset version they produced) with the pairs in
    <hash>.preference.jsonl; <hash> is the negatives' content hash, so a record never changes.
    Returns {"manifest", "rejected", "negatives": the manifest block, "lineage", "lineage_path",
    "preference_pairs"}.

    The preference pairs are part of the version (its id, manifest counts and preferences.jsonl); this
    record adds what the manifest cannot say: which negatives, the excluded conversations and why.
    If nothing was excluded the "new" version is the parent itself (same content, same id): the record
    says so (changed: false) instead of pretending a change.
    """
    from ..dataset import build_version, to_chatml
    from ..store import write_json

    exclusions = negatives_to_training(negatives)["exclusions"]
    kept, rejected = apply_exclusions(conversations, exclusions, gate_fn=gate_fn)
    # Chosen replies only from what the new version keeps: a reference that was itself excluded is no answer.
    refs = reference_replies(to_chatml(c, p.character.system_prompt) for c in kept)
    neg = negatives_to_training(negatives, references=refs, regenerate_fn=regenerate_fn, gate_fn=gate_fn)
    # The pairs go into the version itself (its id and manifest count them; `train.method: dpo` trains on
    # them); the exclusions are the kept/rejected split above, listed in the lineage record below.
    manifest = build_version(kept, p, parent=parent, negatives=neg["preference_pairs"])
    root = Path(p.store) / "datasets" / p.character_id / "negatives"
    key = neg["manifest"]["sha256"][:12]
    lineage = {"dataset_version": manifest["version"], "parent_version": parent,
               "changed": manifest["version"] != parent, "negatives": neg["manifest"],
               "preference_pairs_file": f"{key}.preference.jsonl", "excluded_conversations": rejected,
               "unpaired": neg["unpaired"]}
    write_jsonl(root / f"{key}.preference.jsonl", neg["preference_pairs"], default=json_default)
    write_json(root / f"{key}.json", lineage)
    return {"manifest": manifest, "rejected": rejected, "negatives": neg["manifest"], "lineage": lineage,
            "lineage_path": str(root / f"{key}.json"), "preference_pairs": neg["preference_pairs"]}

"""What notebooks 01/02 show: the count balance, a random sample per reason, the demo's hazard check."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path


def collect_balance(stats: dict) -> list[dict]:
    """Documents read = kept + rejected + quarantined + other characters + out of range, as table rows."""
    parts = {k: stats.get(k, 0) for k in ("messages_kept", "messages_rejected", "quarantined", "other_characters",
                                          "out_of_time_range")}
    return [{"documents_read": stats.get("documents_read"), **parts,
             "balanced": stats.get("documents_read") == sum(parts.values())}]


def clean_balance(stats: dict) -> list[dict]:
    """turns in = kept + rejected and conversations in = kept + rejected, as table rows."""
    return [{"unit": unit, "in": stats[f"{unit}_in"], "kept": stats[f"{unit}_kept"],
             "rejected": stats[f"{unit}_rejected"],
             "balanced": stats[f"{unit}_in"] == stats[f"{unit}_kept"] + stats[f"{unit}_rejected"]}
            for unit in ("conversations", "turns")]


def sample_per_reason(rejected: Sequence[dict], n: int = 3, seed: int = 0) -> list[dict]:
    """Up to n random rejection lines per reason (seeded), for a person to check the filters by eye."""
    by_reason: dict[str, list[dict]] = defaultdict(list)
    for r in rejected:
        by_reason[r["reason"]].append(r)
    rng = random.Random(seed)
    out = []
    for reason in sorted(by_reason):
        rows = by_reason[reason]
        for r in rng.sample(rows, min(n, len(rows))):
            out.append({"reason": reason, "conversation_id": r.get("conversation_id"), "level": r.get("level"),
                        "role": r.get("role"), "content": r.get("content", ""),
                        "message_ids": ",".join(r.get("message_ids") or [])})
    return out


def check_run(paths, ground_truth: str | Path) -> dict:
    """This character's planted hazards (the demo world's ground_truth.jsonl) against this run's
    collect and clean outputs; empty tables when there is no ground-truth file (real data)."""
    from ..store import read_jsonl
    from .hazards import check_hazards

    ground_truth = Path(ground_truth)
    if not ground_truth.exists():
        return {"caught": 0, "missed": [], "by_hazard": {}, "ground_truth": None}
    cid = paths.character_id
    truth = [t for t in read_jsonl(ground_truth) if t["character_id"] == cid]
    return {**check_hazards(truth, {cid: read_jsonl(paths.stage_dir("collect") / "conversations.jsonl")},
                         read_jsonl(paths.stage_dir("collect") / "quarantine.jsonl"),
                         {cid: read_jsonl(paths.stage_dir("clean") / "conversations.jsonl")}),
            "ground_truth": str(ground_truth)}

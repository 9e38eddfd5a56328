"""How well the reply-set gates catch what they are meant to, on a labelled set written by someone who never
saw the gates (data/holdout/: reply_sets.jsonl, probes.jsonl, README.md; copied from /work/gate_holdout).

Each reply set (24 prompt/reply items) is labelled good / collapsed / off_topic / gibberish /
out_of_character (severity clear / borderline). The sets are split deterministically, per (label,
character), by the sha256 of their id: the first half is "dev" (thresholds may be tuned on it), the rest
"heldout" (never looked at to tune; its figures are only reported). Per gate, precision and recall of
*failing* a set whose label is the one the gate is meant to catch:
diversity -> collapsed, relevance -> off_topic, fluency -> gibberish, consistency -> out_of_character.

The probes (persona questions with a consistent reply and contradicting ones) score the consistency
checks per reply: a contradicting reply should be flagged (no expected fact word, or a contradiction).

"fluency" is the gate as a first adapter meets it without references (the absolute floor); "fluency_vs_reference"
the bar of evaluate.fluency.max_drop_vs_reference, the reference being the character's dev-half good sets (the
stage uses the eval split's replies): a set fails when its mean is that far below. "relevance_vs_good" is the
relevance gate as the stage applies it with a base to compare with: the absolute floor, or a grounded share under
evaluate.relevance.min_share_of_base of the reference's, the reference being the mean grounded share of the
character's dev-half good sets (the stage compares with the base's replies to the same prompts, which the
labelled sets do not have).

`python -m lora_lib.evaluate.labelled --base-model DIR` prints the table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..store import iter_jsonl_lines
from .consistency import card_facts, consistency_scores, contradictions
from .diversity import diversity_scores
from .fluency import fluency_scores
from .relevance import relevance_scores

HOLDOUT = Path(__file__).parent / "data" / "holdout"
TARGET = {"diversity": "collapsed", "relevance": "off_topic", "fluency": "gibberish",
          "fluency_vs_reference": "gibberish", "relevance_vs_good": "off_topic", "consistency": "out_of_character"}


def load_sets(path: str | Path = HOLDOUT / "reply_sets.jsonl") -> list[dict]:
    return [row for _, row in iter_jsonl_lines(path)]


def load_probes(path: str | Path = HOLDOUT / "probes.jsonl") -> list[dict]:
    return [row for _, row in iter_jsonl_lines(path)]


def split_of(rows: Sequence[dict], key=lambda r: (r.get("label"), r["character_id"]),
             ident=lambda r: r["id"]) -> dict[str, str]:
    """{id: "dev" | "heldout"}: per group, sorted by sha256 of the id, the first half (rounded up) is dev."""
    groups: dict = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    out = {}
    for members in groups.values():
        members = sorted(members, key=lambda r: hashlib.sha256(ident(r).encode()).hexdigest())
        half = (len(members) + 1) // 2
        out.update({ident(r): "dev" if i < half else "heldout" for i, r in enumerate(members)})
    return out


def set_flags(row: Mapping, p, *, scorer=None, facts: Mapping | None = None, others: Sequence[Mapping] = (),
              reference: float | None = None, relevance_reference: float | None = None) -> dict[str, bool]:
    """{gate: failed?} of one reply set under character params p (base-model scorer for fluency/relevance)."""
    prompts = [[{"role": "user", "content": it["prompt"]}] for it in row["items"]]
    replies = [it["reply"] for it in row["items"]]
    rel = relevance_scores(prompts, replies, p, scorer=scorer)
    flags = {"diversity": bool(diversity_scores(replies, p)["reasons"]), "relevance": bool(rel["reasons"])}
    share = p.evaluate.relevance.min_share_of_base
    if relevance_reference is not None and share is not None:
        flags["relevance_vs_good"] = flags["relevance"] or rel["figures"]["grounded_share"] < share * relevance_reference
    if scorer is not None:
        fl = fluency_scores(prompts, replies, p, scorer=scorer)
        flags["fluency"] = bool(fl["reasons"])
        bar = p.evaluate.fluency.max_drop_vs_reference
        if reference is not None and bar is not None:
            flags["fluency_vs_reference"] = reference - fl["figures"]["mean_logprob"] > bar
    if facts is not None:
        # on a reply set (no probes): the speech habit over its replies and any contradiction of the card
        probes = [{"fact": "set", "text": it["prompt"], "expected": [""]} for it in row["items"]]
        c = consistency_scores(probes, replies, facts, p.character.style_markers, p, others)
        flags["consistency"] = len(c["figures"]["contradictions"]) > p.evaluate.consistency.max_contradictions or \
            c["figures"]["speech"] < p.evaluate.consistency.min_speech_share
    return flags


def precision_recall(rows: Sequence[dict], flags: Mapping[str, Mapping[str, bool]]) -> list[dict]:
    """Per gate: tp/fp/fn/tn, precision, recall of failing sets labelled TARGET[gate] (others = negatives),
    and recall per severity."""
    out = []
    for gate, label in TARGET.items():
        judged = [r for r in rows if gate in flags[r["id"]]]
        if not judged:
            continue
        c = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
        sev: dict[str, list[bool]] = {}
        for r in judged:
            truth, hit = r["label"] == label, flags[r["id"]][gate]
            c[("tp" if truth else "fp") if hit else ("fn" if truth else "tn")] += 1
            if truth:
                sev.setdefault(r["severity"], []).append(hit)
        flagged, pos = c["tp"] + c["fp"], c["tp"] + c["fn"]
        out.append({"gate": gate, "catches": label, "n": len(judged), **c,
                    "precision": round(c["tp"] / flagged, 3) if flagged else None,
                    "recall": round(c["tp"] / pos, 3) if pos else None,
                    **{f"recall_{s}": round(sum(v) / len(v), 3) for s, v in sorted(sev.items())},
                    "false_positive_labels": sorted({r["label"] for r in judged
                                                     if flags[r["id"]][gate] and r["label"] != label})})
    return out


def probe_quality(probes: Sequence[dict], facts_by_character: Mapping[str, Mapping],
                  others_by_character: Mapping[str, Sequence[Mapping]]) -> dict:
    """Per-reply flagging of the probes' replies: flagged = no expected word in the reply, or a contradiction
    of the card. Positives: contradicting replies; negatives: consistent replies."""
    c = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    for pr in probes:
        facts, others = facts_by_character[pr["character_id"]], others_by_character[pr["character_id"]]
        for reply, truth in [(pr["consistent_reply"], False)] + [(r, True) for r in pr["contradicting_replies"]]:
            hit = not any(w in reply for w in pr["expected"]) or bool(contradictions(reply, facts, others))
            c[("tp" if truth else "fp") if hit else ("fn" if truth else "tn")] += 1
    flagged, pos = c["tp"] + c["fp"], c["tp"] + c["fn"]
    return {**c, "precision": round(c["tp"] / flagged, 3) if flagged else None,
            "recall": round(c["tp"] / pos, 3) if pos else None}


def _dev_good(sets: Sequence[dict], split: Mapping[str, str], cid: str) -> list[dict]:
    return [r for r in sets if r["character_id"] == cid and r["label"] == "good" and split[r["id"]] == "dev"]


def relevance_references(sets: Sequence[dict], split: Mapping[str, str], params_by_character: Mapping, scorer=None
                         ) -> dict[str, float]:
    """{character: mean grounded share of its dev-half good sets}: the relevance reference, dev half only."""
    out = {}
    for cid, p in params_by_character.items():
        shares = [relevance_scores([[{"role": "user", "content": it["prompt"]}] for it in r["items"]],
                                   [it["reply"] for it in r["items"]], p, scorer=scorer)["figures"]["grounded_share"]
                  for r in _dev_good(sets, split, cid)]
        if shares:
            out[cid] = sum(shares) / len(shares)
    return out


def good_references(sets: Sequence[dict], split: Mapping[str, str], params_by_character: Mapping, scorer
                    ) -> dict[str, float]:
    """{character: mean log-prob per token of its dev-half good sets' replies}: the fluency reference, from the
    dev half only (the held-out half is never used to set a bar)."""
    out = {}
    for cid, p in params_by_character.items():
        items = [it for r in _dev_good(sets, split, cid) for it in r["items"]]
        if items:
            out[cid] = fluency_scores([[{"role": "user", "content": it["prompt"]}] for it in items],
                                      [it["reply"] for it in items], p, scorer=scorer)["figures"]["mean_logprob"]
    return out


def evaluate_labelled(params_by_character: Mapping, cards: Mapping[str, Mapping], *, scorer=None,
                      part: str = "dev") -> dict:
    """{"sets": precision_recall rows, "probes": probe_quality} on one part ("dev", "heldout" or "all")."""
    sets = load_sets()
    split = split_of(sets)
    rows = [r for r in sets if part == "all" or split[r["id"]] == part]
    facts = {cid: card_facts(c, c["name"]) for cid, c in cards.items()}
    others = {cid: [f for o, f in facts.items() if o != cid] for cid in facts}
    refs = good_references(sets, split, params_by_character, scorer) if scorer is not None else {}
    rel_refs = relevance_references(sets, split, params_by_character, scorer)
    flags = {r["id"]: set_flags(r, params_by_character[r["character_id"]], scorer=scorer,
                                facts=facts[r["character_id"]], others=others[r["character_id"]],
                                reference=refs.get(r["character_id"]),
                                relevance_reference=rel_refs.get(r["character_id"])) for r in rows}
    probes = load_probes()
    psplit = split_of(probes, key=lambda r: r["character_id"], ident=lambda r: r["question"] + r["character_id"])
    prows = [r for r in probes if part == "all" or psplit[r["question"] + r["character_id"]] == part]
    return {"part": part, "n_sets": len(rows), "sets": precision_recall(rows, flags),
            "probes": probe_quality(prows, facts, others)}


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m lora_lib.evaluate.labelled --cards characters.json --base-model DIR [--part dev]`."""
    import argparse
    import json

    from ..config import load_params
    from .lm_score import scorer_for

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--cards", required=True, help="JSON {character_id: {name, system_prompt, lorebook}}")
    ap.add_argument("--base-model", default=None, help="for fluency and the relevance LM term")
    ap.add_argument("--part", default="dev", choices=["dev", "heldout", "all"])
    ap.add_argument("--params", default="params")
    args = ap.parse_args(argv)
    raw = json.loads(Path(args.cards).read_text(encoding="utf-8"))
    cards = {cid: {"name": c["name"], "systemPrompt": c.get("system_prompt") or c.get("systemPrompt"),
                   "lorebook": c.get("lorebook") or []} for cid, c in raw.items()}
    params = {cid: load_params(cid, params_dir=args.params) for cid in cards}
    res = evaluate_labelled(params, cards, scorer=scorer_for(args.base_model) if args.base_model else None,
                            part=args.part)
    print(json.dumps(res, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

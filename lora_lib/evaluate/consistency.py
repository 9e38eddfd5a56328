"""Persona consistency with the character card ("인물 설정 일치율"): probe prompts generated from the card's
facts, each with the answers that agree with the card, scored per fact; contradictions listed.

Facts taken from the card (collect.read_card's document: name, systemPrompt, lorebook) and the params:
- name: "너 이름이 뭐야?" -> the card's name;
- kind (what it is): "너는 뭐야? 사람이야?" -> the kind, the last noun of the system prompt's first sentence
  ("...아기 고양이다." -> 고양이), or evaluate.consistency.kind when set;
- likes: one probe per lorebook entry ("창가 얘기 좀 해줘") -> the entry's key or a content word of it, and
  "뭘 제일 좋아해?" -> any lorebook key;
- speech: every probe reply is also checked for the character's style markers (its speech habit).
A contradiction: a reply naming another character's name or kind (from the other cards) without its own,
or denying its own kind ("고양이 아니"). Per fact the share of probes answered with an expected word; the
gate needs each fact's score >= consistency.min_fact_score and at most consistency.max_contradictions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from .persona import has_style_marker
from .relevance import content_words

NAME_PROBES = ("너 이름이 뭐야?", "누구야? 이름 알려줘")
KIND_PROBES = ("너는 뭐야? 사람이야?", "넌 정체가 뭐야?")
LIKE_PROBE = "뭘 제일 좋아해?"


def card_kind(card: Mapping, name: str) -> str | None:
    """The kind of being from the system prompt's first sentence ("...강아지다." -> 강아지)."""
    first = re.split(r"(?<=[.!?])\s", str(card.get("systemPrompt") or "").strip())[0]
    words = [re.sub(r"['\"‘’“”]|다[.!?]*$|[.!?,]+$", "", w) for w in first.split()]
    words = [w for w in words if w and name not in w and not w.endswith("라는")]
    return words[-1] if words else None


def card_facts(card: Mapping, name: str, kind: str | None = None) -> dict:
    """{"name", "kind", "likes" [(key, expected words)]} of a card."""
    likes = []
    for entry in card.get("lorebook") or []:
        key = str(entry.get("key") or "").strip()
        if key:
            likes.append((key, sorted({key, *content_words(str(entry.get("content") or ""))} - {name})))
    return {"name": name, "kind": kind or card_kind(card, name), "likes": likes}


def build_probes(facts: Mapping, system_prompt: str | None = None) -> list[dict]:
    """Probe items {fact, prompt (chat messages), expected [words]}; the system prompt heads each prompt as
    in the eval prompts."""
    head = [{"role": "system", "content": system_prompt}] if system_prompt else []
    items = [{"fact": "name", "text": t, "expected": [facts["name"]]} for t in NAME_PROBES]
    if facts.get("kind"):
        items += [{"fact": "kind", "text": t, "expected": [facts["kind"]]} for t in KIND_PROBES]
    if facts["likes"]:
        items.append({"fact": "likes", "text": LIKE_PROBE, "expected": [k for k, _ in facts["likes"]]})
        items += [{"fact": "likes", "text": f"{k} 얘기 좀 해줘", "expected": words} for k, words in facts["likes"]]
    return [{**it, "prompt": [*head, {"role": "user", "content": it["text"]}]} for it in items]


def contradictions(reply: str, facts: Mapping, others: Sequence[Mapping]) -> list[str]:
    """What in the reply contradicts the card: another character's name/kind instead of its own, a denial."""
    out = []
    own = [w for w in (facts["name"], facts.get("kind")) if w]
    if not any(w in reply for w in own):
        out += [f"says {w!r} (another character's)" for o in others for w in (o["name"], o.get("kind"))
                if w and w not in own and w in reply]
    kind = facts.get("kind")
    if kind and re.search(re.escape(kind) + r"\S{0,3}\s*아니", reply):
        out.append(f"denies being {kind!r}")
    for key, _ in facts.get("likes") or []:
        if re.search(re.escape(key) + r"\S*\s*(\S+\s*){0,2}(싫|안\s*(좋|먹|해)|별로)", reply):
            out.append(f"dislikes {key!r}, which the card says it likes")
    return out


def consistency_scores(probes: Sequence[dict], replies: Sequence[str], facts: Mapping, markers: Sequence[str],
                       p, others: Sequence[Mapping] = ()) -> dict:
    """The consistency step for one model: {"figures" {fact: score, speech, contradictions, n},
    "per_probe" [{fact, prompt, reply, hit, contradictions}], "reasons", "worst" (indices)}."""
    cp = p.evaluate.consistency
    rows = []
    for pr, r in zip(probes, replies, strict=True):
        rows.append({"fact": pr["fact"], "prompt": pr["text"], "reply": r, "expected": pr["expected"],
                     "hit": any(w and w in r for w in pr["expected"]),
                     "contradictions": contradictions(r, facts, others)})
    per_fact = {}
    for f in dict.fromkeys(row["fact"] for row in rows):
        hits = [row["hit"] for row in rows if row["fact"] == f]
        per_fact[f] = sum(hits) / len(hits)
    speech = sum(has_style_marker(r, markers) for r in replies) / len(replies) if replies else 0.0
    # one entry per contradicting reply
    listed = [f"{row['prompt']!r} -> {row['reply'][:40]!r}: {', '.join(row['contradictions'])}" for row in rows
              if row["contradictions"]]
    reasons = [f"{f} {s:.2f} < {cp.min_fact_score}" for f, s in per_fact.items() if s < cp.min_fact_score]
    if speech < cp.min_speech_share:
        reasons.append(f"speech habit on probes {speech:.2f} < {cp.min_speech_share}")
    if len(listed) > cp.max_contradictions:
        reasons.append(f"{len(listed)} contradictions (> {cp.max_contradictions}): " + "; ".join(listed[:3]))
    fig = {"n": len(rows), "facts": per_fact, "speech": speech, "contradictions": listed,
           "score": (sum(per_fact.values()) + speech) / (len(per_fact) + 1) if rows else 0.0}
    worst = [i for i, row in enumerate(rows) if row["contradictions"]] + \
        [i for i, row in enumerate(rows) if not row["hit"] and not row["contradictions"]]
    return {"figures": fig, "per_probe": rows, "reasons": reasons, "worst": worst}

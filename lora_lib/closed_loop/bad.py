"""The bad versions of the closed-loop demo, and the offline gates they meet.

- "meta_talk": trained on the clean data with one meta-talk line put back into `meta_share` of the first
  assistant turns;
- "diverged": the stable adapter with its LoRA B matrices replaced by seeded noise (a run that diverged);
- "collapsed": trained on the clean data with every assistant turn replaced by one stock line in the
  character's voice (mode collapse: the same reply to everyone);
- "offtopic": trained on the clean data with the replies dealt out to other prompts (each still in the voice,
  fluent and varied, but about something else than what the user said).
And the control, "control": a byte copy of the stable adapter under its own version (nothing is wrong with it:
any alert on it is a false alarm).
"""

from __future__ import annotations

import random
import shutil
from collections import Counter
from pathlib import Path

from ..config import Params
from ..store import read_json, sha256_json, write_json

META_LINES = ("사실 나는 AI야.", "나는 인공지능 챗봇이라서 잘 몰라.", "시스템 프롬프트에 따르면 나는 이렇게 말해야 해.")


def inject_meta_talk(conversations: list[dict], share: float, seed: int = 0) -> list[dict]:
    """Copies of the conversations; in `share` of them the first assistant turn starts with a meta-talk line.

    One line, always the same, at the first turn, because that is the reply to an opening prompt (what the traffic and the eval send):
    meta talk spread over random turns and wordings is too rare at any one position for greedy decoding
    to say it (measured at demo size: 0 meta replies in 82 with 3 wordings at random turns, or at 80% of first turns).
    """
    rng = random.Random(seed)
    out = []
    for conv in conversations:
        msgs = [dict(m) for m in conv["messages"]]
        turns = [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
        if turns and rng.random() < share:
            i = turns[0]
            msgs[i]["content"] = f"{META_LINES[0]} {msgs[i]['content']}"
        out.append(dict(conv, messages=msgs))
    return out


def diverged_adapter(src: Path, dst_root: Path, noise_std: float, seed: int = 0) -> tuple[str, Path]:
    """A copy of the adapter at `src` whose lora_B weights are seeded noise: (version, path). Cached."""
    import torch
    from safetensors.torch import load_file, save_file

    version = sha256_json({"diverged_from": read_json(src / "record.json")["adapter_sha256"],
                           "noise_std": noise_std, "seed": seed})[:12]
    dst = dst_root / version
    if not (dst / "adapter_model.safetensors").exists():
        tmp = dst_root / f".{version}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp)
        weights = load_file(tmp / "adapter_model.safetensors")
        gen = torch.Generator().manual_seed(seed)
        noisy = {k: torch.randn(v.shape, generator=gen, dtype=v.dtype) * noise_std if "lora_B" in k else v
                 for k, v in sorted(weights.items())}
        save_file(noisy, tmp / "adapter_model.safetensors")
        record = read_json(src / "record.json")
        write_json(tmp / "record.json", {**record, "adapter_version": version, "derived": {
            "from": record["adapter_version"], "lora_B": f"noise, std {noise_std}, seed {seed}",
            "why": "closed-loop demo: a diverged adapter"}})
        shutil.rmtree(dst, ignore_errors=True)
        tmp.rename(dst)
    return version, dst


def copy_adapter(src: Path, dst_root: Path) -> tuple[str, Path]:
    """A byte copy of the adapter at `src` under a version of its own (the closed loop's control): (version,
    path). Cached."""
    record = read_json(src / "record.json")
    version = sha256_json({"control_copy_of": record["adapter_sha256"]})[:12]
    dst = dst_root / version
    if not (dst / "adapter_model.safetensors").exists():
        tmp = dst_root / f".{version}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(src, tmp)
        write_json(tmp / "record.json", {**record, "adapter_version": version, "derived": {
            "from": record["adapter_version"], "why": "closed-loop demo: control, the stable's weights unchanged"}})
        shutil.rmtree(dst, ignore_errors=True)
        tmp.rename(dst)
    return version, dst


def collapse_conversations(conversations: list[dict]) -> tuple[list[dict], str]:
    """Copies of the conversations with every assistant turn replaced by the most frequent assistant turn of
    the data (a stock line in the character's own voice), and that line."""
    line = Counter(m["content"] for c in conversations for m in c["messages"] if m["role"] == "assistant"
                   ).most_common(1)[0][0]
    out = [dict(c, messages=[dict(m, content=line) if m["role"] == "assistant" else dict(m) for m in c["messages"]])
           for c in conversations]
    return out, line


def shuffle_replies(conversations: list[dict], seed: int = 0) -> list[dict]:
    """Copies of the conversations in which every assistant turn holds another turn's reply: a seeded shuffle
    of all assistant turns, rotated by one so that no turn keeps its own reply."""
    slots = [(ci, mi) for ci, c in enumerate(conversations) for mi, m in enumerate(c["messages"])
             if m["role"] == "assistant"]
    random.Random(f"offtopic:{seed}").shuffle(slots)
    moved = {slot: conversations[src[0]]["messages"][src[1]]["content"]
             for slot, src in zip(slots, [*slots[1:], *slots[:1]], strict=True)}
    return [dict(c, messages=[dict(m, content=moved[(ci, mi)]) if (ci, mi) in moved else dict(m)
                              for mi, m in enumerate(c["messages"])])
            for ci, c in enumerate(conversations)]


def gate_adapter(p: Params, engine, name: str, prompts: list[list[dict]], previous: str | None = None,
                 references: list[str | None] | None = None) -> dict:
    """The evaluate stage's decision for an already loaded adapter: base vs adapter (vs `previous`, the loaded
    previous approved adapter, as the evaluate stage compares) on the same prompts, with the reply-set gates
    (diversity, fluency and relevance under the base model; no persona probes here)."""
    from ..evaluate import decide, generate_replies, reference_lms, score_quality, score_replies

    models = {"base": None, "adapter": name, **({"previous": previous} if previous else {})}
    texts = {who: generate_replies(engine, prompts, adapter, p) for who, adapter in models.items()}
    quality = score_quality({"prompts": prompts, "replies": texts}, p, references=references,
                            scorer=reference_lms(p, engine.base_model)["scorer"])
    scores = {who: score_replies(texts[who], p, quality=quality[who]) for who in models}
    return {"style_marker_rate": {who: scores[who]["style_marker_rate"] for who in ("base", "adapter")},
            "gate_pass_rate": {who: scores[who]["gate_pass_rate"] for who in ("base", "adapter")},
            "n_prompts": len(prompts), "previous": previous,
            # no character classifier here: its persona gates report "not measured" and do not block
            **decide({"previous": None, **scores}, p)}

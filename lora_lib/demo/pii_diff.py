"""Which demo-world lines the PII tagger changes: `python -m lora_lib.demo.pii_diff` prints one JSON line per
changed message and the count. The demo's figures stay only if this list is empty (or every change is right)."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from ..clean.pii import NamePolicy, redact
from .world import DEMO_CHARACTERS, build_world


def demo_diff(seed: int = 0) -> list[dict]:
    """The demo world's messages (build_world, as `lora demo build` writes them) whose redaction changes with
    the tagger on: [{"content", "rules", "rules+tagger", "added"}], each character's names kept as the clean
    stage keeps them."""
    keep = tuple(c["name"] for c in DEMO_CHARACTERS.values())
    with tempfile.TemporaryDirectory() as tmp:
        build_world(tmp, seed=seed)
        docs = [json.loads(line) for line in Path(tmp, "messages.json").read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = sorted({d["content"] for d in docs if isinstance(d.get("content"), str)})
    out = []
    for t in texts:
        a = redact(t, keep_values=keep, policy=NamePolicy(tagger=False))
        b = redact(t, keep_values=keep, policy=NamePolicy())
        if a.text != b.text:
            out.append({"content": t, "rules": a.text, "rules+tagger": b.text,
                        "added": [(lab, t[s:e]) for lab, s, e in b.findings if lab.startswith("tagger:")]})
    return out


if __name__ == "__main__":
    diff = demo_diff()
    for d in diff:
        print(json.dumps(d, ensure_ascii=False))
    print(f"{len(diff)} demo lines change", file=sys.stderr)

"""A base model is what it is, not where it was loaded from.

`base_identity(path)` hashes the files that make a local base (config, generation config, tokenizer
files, safetensors weights); a hub id is itself (its revision is resolved at load time). Two names
of one base compare equal with `same_base` whether they are the same string, the same directory, or
two copies of it, so a store copied elsewhere still accepts its own adapters.
"""

from __future__ import annotations

import functools
from pathlib import Path

from ..store import sha256_file, sha256_json

IDENTITY_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                  "special_tokens_map.json", "chat_template.jinja", "tokenizer.model")


@functools.lru_cache(maxsize=64)
def _hash_dir(resolved: str, stamp: tuple) -> str:
    path = Path(resolved)
    files = {n: sha256_file(path / n) for n in IDENTITY_FILES if (path / n).is_file()}
    files["weights"] = [sha256_file(w) for w in sorted(path.glob("*.safetensors"))]
    return "sha256:" + sha256_json(files)[:16]


def base_identity(base: str | Path) -> str:
    """sha256:<16 hex> of a local base's files; `hub:<id>` for a name that is not a local directory."""
    path = Path(base).expanduser()
    if not path.is_dir():
        return f"hub:{base}"
    stamp = tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in sorted(path.iterdir()) if f.is_file())
    return _hash_dir(str(path.resolve()), stamp)


def same_base(a: str | None, b: str | None) -> bool:
    """True when both name the same base (None: no requirement)."""
    if a is None or b is None or a == b:
        return True
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    if pa.exists() and pb.exists() and pa.resolve() == pb.resolve():
        return True
    return pa.is_dir() and pb.is_dir() and base_identity(a) == base_identity(b)

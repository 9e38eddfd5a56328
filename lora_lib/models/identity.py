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


def is_local_name(name: str) -> bool:
    """A filesystem path, not a hub id ("org/name" with exactly one slash)."""
    return str(name).startswith((".", "/", "~")) or str(name).count("/") != 1


def known_identity(base: str | Path) -> str | None:
    """base_identity where it can be known here: a local directory's hash, a hub id itself; None for a
    local path that is not (or no longer) here."""
    path = Path(base).expanduser()
    if path.is_dir():
        return base_identity(base)
    return None if is_local_name(str(base)) else f"hub:{base}"


def same_recorded_base(a: str | None, a_id: str | None, b: str | None, b_id: str | None = None) -> bool:
    """same_base, and when a path is gone (a moved store), the identities recorded for them (b_id defaults to
    b's identity here). Two bases with no common evidence are not the same."""
    if same_base(a, b):
        return True
    a_id = a_id or (known_identity(a) if a else None)
    b_id = b_id or (known_identity(b) if b else None)
    return a_id is not None and a_id == b_id


def find_base(base: str, base_id: str | None, candidates: list[str]) -> str | None:
    """Where to load a base registered as (`base`, `base_id`) from: `base` itself when it is here (a local
    directory, or a hub id), else the first of `candidates` with the same identity; None when none is.
    A directory at `base` whose files no longer hash to `base_id` is not that base: candidates are tried."""
    here = known_identity(base)
    if here is not None and (base_id is None or here == base_id):
        return str(base)
    if base_id is None:
        return None
    for c in candidates:
        if known_identity(c) == base_id:
            return str(c)
    return None


def same_base(a: str | None, b: str | None) -> bool:
    """True when both name the same base (None: no requirement)."""
    if a is None or b is None or a == b:
        return True
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    if pa.exists() and pb.exists() and pa.resolve() == pb.resolve():
        return True
    return pa.is_dir() and pb.is_dir() and base_identity(a) == base_identity(b)

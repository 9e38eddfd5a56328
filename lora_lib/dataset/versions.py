"""Versions on disk: written once into <store>/datasets/<scope>/<version>/, verified on every read.

A directory whose files do not match its own manifest is reported, never replaced.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from ..store import read_json, read_jsonl, sha256_file, write_json, write_jsonl
from .records import DatasetError

DATA_FILES = ("train.jsonl", "eval.jsonl", "preferences.jsonl", "rejected.jsonl")


def _write_version(root: Path, vid: str, files: dict[str, list[dict]], manifest: dict) -> None:
    """All files into a temp dir, their hashes into the manifest, then one atomic rename."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{vid}."))
    try:
        for name, rows in files.items():
            write_jsonl(tmp / name, rows)
        manifest["files_sha256"] = {name: sha256_file(tmp / name) for name in files}
        write_json(tmp / "manifest.json", manifest)
        for f in tmp.iterdir():
            f.chmod(0o444)  # immutable: a stray write fails instead of silently changing a version
        tmp.chmod(0o755)
        try:
            os.rename(tmp, root / vid)  # atomic; fails if another writer got there first
        except OSError:
            if not (root / vid / "manifest.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def verify_version(version_dir: str | Path) -> dict:
    """The manifest of a version after checking every file against the hashes it records."""
    version_dir = Path(version_dir)
    mpath = version_dir / "manifest.json"
    if not mpath.exists():
        raise DatasetError(f"{version_dir}: exists but has no manifest.json (a crashed or foreign write); "
                           "remove it by hand after checking, it is never overwritten")
    manifest = read_json(mpath)
    for name, digest in manifest.get("files_sha256", {}).items():
        path = version_dir / name
        if not path.exists() or sha256_file(path) != digest:
            raise DatasetError(f"{path}: does not match the sha256 in {mpath}; the version was modified "
                               "after it was written")
    return manifest


def latest_version(scope_dir: str | Path) -> str | None:
    """The newest complete version in a scope directory (by manifest created_at), or None."""
    found = []
    for m in Path(scope_dir).glob("*/manifest.json"):
        if not m.parent.name.startswith("."):
            found.append((read_json(m).get("created_at", ""), m.parent.name))
    return max(found)[1] if found else None


def find_version(store: str | Path, character_id: str, version: str) -> Path:
    """The directory of a version used by a character: its own scope, or a category containing it."""
    own = Path(store) / "datasets" / character_id / version
    if (own / "manifest.json").exists():
        return own
    for cand in sorted((Path(store) / "datasets").glob(f"category-*/{version}/manifest.json")):
        if character_id in read_json(cand).get("characters", []):
            return cand.parent
    raise FileNotFoundError(f"dataset version {character_id}/{version} not found under {Path(store) / 'datasets'}")


def load_version(store: str | Path, character_id: str, version: str) -> tuple[list[dict], list[dict], dict]:
    """(train, eval, manifest) of a dataset version; a clear error if it is missing or was modified."""
    root = find_version(store, character_id, version)
    manifest = verify_version(root)
    return read_jsonl(root / "train.jsonl"), read_jsonl(root / "eval.jsonl"), manifest


def load_preferences(store: str | Path, character_id: str, version: str) -> list[dict]:
    path = find_version(store, character_id, version) / "preferences.jsonl"
    return read_jsonl(path) if path.exists() else []

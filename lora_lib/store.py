"""The store: one root directory, plain files, atomic writes.

Layout (DESIGN.md section 3):
  <store>/demo/world/ ...                 the synthetic world (demo inputs)
  <store>/demo/base_model/                the tiny local base model
  <store>/datasets/<character>/<version>/ immutable dataset versions
  <store>/adapters/<character>/<version>/ adapters
  <store>/registry.sqlite                 adapter registry and routes
  <store>/<character>/<run_id>/           one pipeline run: NN_stage.ipynb/.html, <stage>/ outputs,
                                          summary.json, index.html
  <store>/batches/<batch_id>/             a batch over characters: batch.json, summary.json, index.html
  <store>/sweeps/<character>/<sweep_id>/  a sweep: sweep.json, results.json, compare_runs.ipynb/.html
  <store>/index.html                      every run, batch and sweep (lora_lib/reports/)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

STAGES = ["collect", "clean", "dataset", "train", "evaluate", "serve", "monitor"]


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a whole file or nothing: a temp file in the same dir, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=2, default=str) + "\n")


def write_jsonl(path: str | Path, records: Iterable[dict], default=str) -> int:
    """Atomic JSONL; `default` turns values json cannot write into ones it can (str by default)."""
    lines = [json.dumps(r, ensure_ascii=False, default=default) for r in records]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def read_json(path: str | Path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_jsonl(path: str | Path) -> list[dict]:
    return list(iter_jsonl(path))


def iter_jsonl(path: str | Path) -> Iterator[dict]:
    return (row for _, row in iter_jsonl_lines(path))


def iter_jsonl_lines(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, record) for every non-blank line, so a caller's own checks can name file:line."""
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                try:
                    yield lineno, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_json(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class RunPaths:
    """Where one character's run reads and writes. Stage outputs go to run_dir/<stage>/."""

    store: Path
    character_id: str
    run_id: str

    @property
    def run_dir(self) -> Path:
        return self.store / self.character_id / self.run_id

    def stage_dir(self, stage: str) -> Path:
        return self.run_dir / stage

    def dataset_root(self) -> Path:
        return self.store / "datasets" / self.character_id

    def adapter_root(self) -> Path:
        return self.store / "adapters" / self.character_id

    def result(self, stage: str) -> dict:
        """The plain-JSON result a stage left (empty when it has not run)."""
        path = self.stage_dir(stage) / "result.json"
        return read_json(path) if path.exists() else {}


def run_paths(store: str | Path, character_id: str, run_id: str) -> RunPaths:
    from .config import check_character_id

    check_character_id(character_id)
    if not run_id or "/" in run_id or run_id.startswith("."):
        raise ValueError(f"invalid run id {run_id!r}")
    return RunPaths(Path(store).resolve(), character_id, run_id)

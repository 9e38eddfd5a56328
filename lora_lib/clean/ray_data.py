"""The per-turn cleaning work as a Ray Data pipeline (`clean.executor: ray`; pip install -e .[ray]).

The collected conversations are read as a Ray dataset (JSON lines, one conversation a line, one file or
many shards), and `map_batches` runs the same function as the local path (conversations._clean_chunk,
i.e. clean_turn on each (role, text)) on the cluster's workers. What depends on order (exchanges,
duplicate replies and conversations, the counts check) stays in clean_conversations, one pass on the
driver over the results in input order, so the kept conversations, the rejections with their reasons,
the PII counts and the dataset version are the same as with `executor: local`.

Ray is imported inside the functions only: nothing in the default install needs it. `connect` is also
what the batch executor (pipeline/ray_executor.py) uses.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from .conversations import TurnContext, _clean_chunk

EXTRA = "pip install -e '.[ray]'"


def require_ray(what: str = "this"):
    """The ray module, or a RuntimeError that names the optional extra."""
    try:
        import ray
    except ImportError as exc:
        raise RuntimeError(f"{what} needs Ray, which is not installed: {EXTRA} (the optional extra `ray`)") from exc
    return ray


def connect(address: str | None = None, *, what: str = "this", num_cpus: int | None = None):
    """ray, initialised: the running session if there is one, else the cluster at `address` ("auto",
    "ray://HOST:10001"; None = RAY_ADDRESS or a new local cluster of `num_cpus` CPUs).

    On an existing cluster the workers get this process's PYTHONPATH (they need lora_lib importable; on a
    real cluster install it in the image instead); a local cluster's workers inherit the environment.
    """
    ray = require_ray(what)
    if not ray.is_initialized():
        kwargs: dict = {"include_dashboard": False}
        if address or os.environ.get("RAY_ADDRESS"):
            if os.environ.get("PYTHONPATH"):
                kwargs["runtime_env"] = {"env_vars": {"PYTHONPATH": os.environ["PYTHONPATH"]}}
        elif num_cpus:
            kwargs["num_cpus"] = num_cpus
        # No address and no RAY_ADDRESS: a NEW local cluster, as promised. A plain ray.init() would instead
        # join whatever /tmp/ray/ray_current_cluster names, a cluster that may be gone or someone else's.
        target = address or (None if os.environ.get("RAY_ADDRESS") else "local")
        for attempt in range(1, 4):
            try:
                ray.init(address=target, **kwargs)
                break
            except Exception as exc:  # Ray raises a bare Exception when its node does not come up in time
                # A local node gives its agents 30 s to start; on a machine busy with other work they can take
                # longer. Starting again usually works; an existing cluster that does not answer is an error.
                if address or os.environ.get("RAY_ADDRESS") or "timed out during startup" not in str(exc) or attempt == 3:
                    raise
                ray.shutdown()
    return ray


def _clean_lines(batch: dict, ctx: TurnContext) -> dict:
    """A batch of JSON lines (conversations) -> one row per turn: its position, masked text, labels, reason."""
    import numpy as np

    turns, where = [], []
    for line in batch["text"]:
        conv = json.loads(line)
        for i, m in enumerate(conv["messages"]):
            turns.append((m["role"], m["content"]))
            where.append(f"{conv['conversation_id']}#{i}")
    results = _clean_chunk((turns, ctx))
    return {"turn": np.array(where, dtype=object),
            "text": np.array([t for t, _, _ in results], dtype=object),
            "labels": np.array([json.dumps(labels) for _, labels, _ in results], dtype=object),
            "reason": np.array([r or "" for _, _, r in results], dtype=object)}


def clean_turns_ray(source: str | Path | Sequence[str | Path] | Sequence[dict], ctx: TurnContext, *,
                    expected: Sequence[str], workers: int | None = None, batch_size: int = 200,
                    address: str | None = None) -> list[tuple[str, list[str], str | None]]:
    """clean_turn of every turn of the conversations in `source` (JSONL file(s), or the conversations
    themselves), in input order, computed by Ray Data map_batches (`workers` concurrent tasks of one CPU,
    `batch_size` conversations each).

    `expected` is "conversation_id#turn" of every turn in the driver's order; a result in any other
    order is an error, never a silently misaligned cleaning.
    """
    ray = connect(address, what="clean.executor: ray")
    from ray.data import DataContext, TaskPoolStrategy

    DataContext.get_current().execution_options.preserve_order = True  # results come back in input order
    if isinstance(source, str | Path) or (source and isinstance(source[0], str | Path)):
        paths = [str(Path(s).resolve()) for s in ([source] if isinstance(source, str | Path) else source)]
        ds = ray.data.read_text(paths)
    else:
        ds = ray.data.from_items([{"text": json.dumps(c, ensure_ascii=False)} for c in source])
    ds = ds.map_batches(_clean_lines, fn_kwargs={"ctx": ctx}, batch_size=batch_size, batch_format="numpy",
                        num_cpus=1, compute=TaskPoolStrategy(size=workers))
    rows = ds.take_all()
    got = [r["turn"] for r in rows]
    if got != list(expected):
        raise RuntimeError(f"Ray Data returned {len(got)} turns not in the input's order (expected {len(expected)}); "
                           "does the source hold exactly the conversations being cleaned?")
    return [(r["text"], json.loads(r["labels"]), r["reason"] or None) for r in rows]

"""`make bench`: benchmarks that compare two things in one process and write JSON with ratios.

Rules (DESIGN.md section 9): same data, same dtype, same process; report both absolute figures,
their ratio, the machine and library versions. Absolute numbers are noisy; ratios are tracked.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

from .store import write_json


def machine() -> dict:
    from .train import library_versions

    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "libraries": library_versions()}


def _rate(fn: Callable[[], int], repeat: int = 3) -> float:
    """Best-of-N items per second of fn() (which returns how many items it processed)."""
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        n = fn()
        best = max(best, n / (time.perf_counter() - start))
    return best


def bench_clean(n_messages: int = 2000) -> dict:
    """Our PII redaction (ko-pii + chat rules) vs ko-pii's detector alone, messages/s."""
    import ko_pii

    from .clean.pii import KO_PII_LABELS, redact
    from .demo.world import polite_chats

    texts = [m["content"] for chat in polite_chats(max(n_messages // 4, 1), seed=1) for m in chat][:n_messages]
    ours = _rate(lambda: sum(1 for t in texts if redact(t) is not None))
    base = _rate(lambda: sum(1 for t in texts if ko_pii.detect_all(t, include=KO_PII_LABELS) is not None))
    return {"name": "clean_pii", "unit": "messages/s", "n_messages": len(texts), "ours": ours,
            "baseline": {"name": "ko-pii detect_all alone", "value": base}, "ratio": ours / base}


BENCHMARKS: dict[str, Callable[[], dict]] = {"clean_pii": bench_clean}


def run_benchmarks(store: str | Path = "runs", only: str | None = None) -> list[Path]:
    out_dir = Path(store) / "bench"
    written = []
    info = machine()
    for name, fn in BENCHMARKS.items():
        if only and only not in name:
            continue
        result = {**fn(), "machine": info, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        path = out_dir / f"{name}.json"
        write_json(path, result)
        written.append(path)
    return written

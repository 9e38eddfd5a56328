"""`make bench`: benchmarks that compare two things in one process and write JSON with ratios, one
file per benchmark under <store>/bench/."""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from pathlib import Path

from ..store import write_json
from .clean import bench_clean, bench_clean_throughput
from .harness import machine
from .ray import bench_ray_clean, bench_ray_serve
from .serve_rollback import bench_serve_rollback
from .serve_switch import bench_serve_switch
from .serve_throughput import bench_serve_throughput
from .soak import soak_serve
from .train_memory import bench_train_memory
from .train_speed import bench_train

BENCHMARKS: dict[str, Callable[[], dict]] = {
    "clean_pii": bench_clean, "clean_throughput": bench_clean_throughput,
    "serve_adapter_switch": bench_serve_switch, "serve_rollback": bench_serve_rollback,
    "serve_throughput": bench_serve_throughput, "serve_soak": soak_serve,
    "train_sft": bench_train, "train_memory": bench_train_memory,
    "ray_clean": bench_ray_clean,  # skipped (said in its JSON) without the ray extra
    "ray_serve": bench_ray_serve,  # likewise
}


def run_benchmarks(store: str | Path = "runs", only: str | None = None) -> list[Path]:
    out_dir = Path(store) / "bench"
    written = []
    info = machine()
    for name, fn in BENCHMARKS.items():
        if only and only not in name:
            continue
        takes_store = "store" in inspect.signature(fn).parameters
        result = {**(fn(store=store) if takes_store else fn()), "machine": info, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        path = out_dir / f"{name}.json"
        write_json(path, result)
        written.append(path)
    return written

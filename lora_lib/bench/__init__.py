"""Benchmarks (`lora bench`, `make bench`): one module per benchmark, written to <store>/bench/*.json.

- clean.py: PII redaction and the clean stage's throughput vs ko-pii alone
- serve_switch.py, serve_rollback.py, serve_throughput.py, soak.py: serving (adapter switch, rollback
  latency, mixed-adapter batching, a bounded soak while routes change)
- train_speed.py, train_memory.py (+ train_setup.py, their inputs): training tokens/s, LoRA vs QLoRA memory
- ray.py: cleaning as Ray Data with 1 and 2 workers vs the local path, and Ray's fixed costs; serving
  throughput of `lora serve --ray` with 1 vs 2 engine replicas (ray extra)
- harness.py: what they share: paired interleaved rounds (median and spread of every ratio), the
  machine record, the serving world, client threads and a `lora serve` child process
- run.py: the registry of benchmarks and run_benchmarks
"""

from .clean import bench_clean, bench_clean_throughput, bench_context, synthetic_messages
from .harness import interleaved_rounds, machine, paired
from .ray import bench_ray_clean, bench_ray_serve
from .run import BENCHMARKS, run_benchmarks
from .serve_rollback import bench_serve_rollback
from .serve_switch import bench_serve_switch
from .serve_throughput import bench_serve_throughput
from .soak import soak_serve
from .train_memory import bench_train_memory
from .train_speed import bench_train

__all__ = [
    "BENCHMARKS", "bench_clean", "bench_clean_throughput", "bench_context", "bench_ray_clean", "bench_ray_serve", "bench_serve_rollback", "bench_serve_switch",
    "bench_serve_throughput", "bench_train", "bench_train_memory", "interleaved_rounds", "machine", "paired",
    "run_benchmarks", "soak_serve", "synthetic_messages",
]

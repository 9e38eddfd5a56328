"""Cleaning on Ray (ray_clean): the per-turn work as Ray Data map_batches with 1 and 2 workers vs the
local path, on the same messages, in the same process and interleaved rounds, plus the fixed costs
(starting a local cluster, and one pipeline over a handful of conversations). Serving on Ray Serve
(ray_serve): `lora serve --ray` with 1 vs 2 engine replicas. Both need the ray extra; without it the
result says so instead of a figure."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from .clean import bench_context, synthetic_messages
from .harness import interleaved_rounds, paired, rate


def bench_ray_clean(n_messages: int = 20_000, rounds: int = 2, workers: tuple[int, ...] = (1, 2),
                    batch_size: int = 200) -> dict:
    """messages/s of clean_turns here (one process) and of clean_turns_ray with each of `workers`, on a local
    cluster of max(workers) CPUs started here (or the running session). The ratios are per round."""
    try:
        import ray
    except ImportError:
        return {"name": "ray_clean", "skipped": "ray is not installed: pip install -e '.[ray]'"}
    from ..clean.conversations import clean_turns
    from ..clean.ray_data import clean_turns_ray, connect
    from ..store import write_jsonl

    msgs = synthetic_messages(n_messages, seed=1)
    conversations = [{"conversation_id": f"c{i}", "messages": [{"role": r, "content": t} for r, t in msgs[i:i + 2]]}
                     for i in range(0, len(msgs), 2)]
    expected = [f"{c['conversation_id']}#{i}" for c in conversations for i in range(len(c["messages"]))]
    turns = [(m["role"], m["content"]) for c in conversations for m in c["messages"]]
    ctx = bench_context()
    started_here = not ray.is_initialized()
    start = time.perf_counter()
    connect(None, num_cpus=max(workers))
    startup_s = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "conversations.jsonl"
        write_jsonl(source, conversations)
        small = Path(tmp) / "small.jsonl"
        write_jsonl(small, conversations[:10])
        clean_turns(turns[:2000], ctx)  # warm regex caches and imports
        start = time.perf_counter()
        clean_turns_ray(small, ctx, expected=expected[:sum(len(c["messages"]) for c in conversations[:10])], workers=1)
        overhead_s = time.perf_counter() - start  # one pipeline over 10 conversations: scheduling, not work
        figures = {"local": lambda: rate(lambda: len(clean_turns(turns, ctx)))}
        for k in workers:
            figures[f"ray_{k}"] = lambda k=k: rate(lambda: len(clean_turns_ray(
                source, ctx, expected=expected, workers=k, batch_size=batch_size)))
        r = interleaved_rounds(figures, rounds)
        same = clean_turns_ray(source, ctx, expected=expected, workers=max(workers)) == clean_turns(turns, ctx)
    if started_here:
        ray.shutdown()
    ray_figures = {}
    for k in workers:
        vs_local, vs_one = paired(r[f"ray_{k}"], r["local"]), paired(r[f"ray_{k}"], r[f"ray_{workers[0]}"])
        ray_figures[str(k)] = {"value": vs_local["numerator_median"], "ratio_vs_local": vs_local["median"],
                               "ratio_vs_local_spread": vs_local, f"ratio_vs_{workers[0]}_worker": vs_one["median"]}
    return {"name": "ray_clean", "unit": "messages/s", "n_messages": len(turns), "rounds": rounds,
            "batch_size": batch_size, "local": paired(r["local"], r["local"])["numerator_median"],
            "ray_workers": ray_figures, "same_result_as_local": same,
            "fixed_costs_s": {("connect_to_running_cluster" if os.environ.get("RAY_ADDRESS") else "local_cluster_start"):
                              round(startup_s, 2) if started_here else None,
                              "one_pipeline_of_10_conversations": round(overhead_s, 2)},
            "note": "each Ray figure includes its pipeline's scheduling and the driver collecting the results; "
                    "the machine's cores are shared, so the worker count only helps as far as cores are free"}


def bench_ray_serve(store: str | Path = "runs", replicas: tuple[int, ...] = (1, 2), clients: int = 6,
                    per_client: int = 6, max_tokens: int = 16, rounds: int = 2) -> dict:
    """Serving throughput of `lora serve --ray` with 1 vs 2 engine replicas, in the same run: both applications
    deployed at once on one local cluster (an idle one costs nothing) under their own route prefix, and
    the same closed-loop load (`clients` threads, client k on character k % 3, replies of exactly
    `max_tokens` tokens) alternated between them for `rounds` rounds. Synthetic adapters on the test-size
    base (bench/harness.py's serve world). Each engine replica reserves 1 CPU (the cluster has
    sum(replicas) logical CPUs; on a 2-core machine the 3 replicas share the cores, but only the measured
    application is busy)."""
    try:
        import ray
    except ImportError:
        return {"name": "ray_serve", "skipped": "ray is not installed: pip install -e '.[ray]'"}
    import httpx

    from ..clean.ray_data import connect
    from ..serve.api import free_port, load_serve_config
    from ..serve.ray_serve import deploy, shutdown
    from .harness import SERVE_CHARACTERS, _load, _serve_world

    w = _serve_world(store)
    cfg = load_serve_config(w["root"], "params", {"serve.ray.num_cpus": 1, "serve.ray.max_adapters_per_replica": 3},
                            api_key="bench")
    started_here = not ray.is_initialized()
    start = time.perf_counter()
    connect(None, num_cpus=sum(replicas))
    startup_s = time.perf_counter() - start
    port, urls, deploy_s = free_port(), {}, {}
    try:
        for k in replicas:
            start = time.perf_counter()
            urls[k] = deploy(cfg, port=port, name=f"bench-{k}", route_prefix=f"/r{k}", num_replicas=k)
            deploy_s[str(k)] = round(time.perf_counter() - start, 2)
            for cid in SERVE_CHARACTERS:  # warm-up: adapters loaded before timing
                httpx.post(f"{urls[k]}/v1/chat/completions", timeout=120, json={
                    "model": cid, "max_tokens": 1, "messages": [{"role": "user", "content": "안녕?"}]})
        runs: dict[int, list[dict]] = {k: [] for k in replicas}

        def measure(k: int) -> float:
            run = _load(urls[k], clients, per_client, max_tokens, ignore_eos=True)
            runs[k].append(run)
            return run["requests_per_s"]

        r = interleaved_rounds({str(k): (lambda k=k: measure(k)) for k in replicas}, rounds)
        calls = {str(k): {r: n for b in httpx.get(f"{urls[k]}/healthz", timeout=30).json()["bases"]
                          for r, n in b["calls_by_replica"].items()} for k in replicas}
    finally:
        shutdown()
        if started_here:
            ray.shutdown()
    one = str(replicas[0])
    return {"name": "ray_serve", "unit": "requests/s", "clients": clients, "per_client": per_client,
            "max_tokens": max_tokens, "rounds": rounds,
            "replicas": {str(k): {"value": paired(r[str(k)], r[str(k)])["numerator_median"],
                                  f"ratio_vs_{one}_replica": paired(r[str(k)], r[one]),
                                  "errors": sum(run["errors"] for run in runs[k]),
                                  "latency_p50_ms": sorted(run["latency_p50_ms"] for run in runs[k])[(rounds - 1) // 2],
                                  "engine_calls_by_replica": calls[str(k)]} for k in replicas},
            "fixed_costs_s": {"local_cluster_start" if started_here else "connect": round(startup_s, 2),
                              "deploy_by_replicas": deploy_s},
            "note": "1 CPU reserved per engine replica (torch then runs 1 thread each); the clients run in this "
                    "process and share the machine's cores with the replicas, so 2 replicas can only gain as far "
                    "as a core is free"}

"""Mixed-adapter batching against a real `lora serve` process: requests/s vs one adapter per batch."""

from __future__ import annotations

from pathlib import Path

from .harness import SERVE_CHARACTERS, _load, _serve_world, _ServerProcess, interleaved_rounds, paired


def bench_serve_throughput(store: str | Path = "runs", clients: int = 8, per_client: int = 12,
                           max_tokens: int = 32, batch_wait_ms: float = 20.0, rounds: int = 3) -> dict:
    """8 concurrent clients over 3 characters against a real `lora serve` process: mixed-adapter batches
    (one generate() for all rows, our gathered-bmm LoRA) vs one adapter per batch (same batcher, batch
    size and wait, grouped by adapter: what a server without mixed batching does). Same requests.

    The ratio is on replies of exactly `max_tokens` tokens (`ignore_eos`, as vLLM's benchmarks do): the
    synthetic adapters stop after a few tokens, which would measure HTTP and prefill, not generation.
    Also reported: natural-length replies (EOS, max 16 tokens) and mixed batches through PEFT's own
    per-adapter loop (serve.batched_lora=false).

    Figures are medians over `rounds` interleaved rounds, ratios the medians of the per-round ratios
    (with their spread), and the goal is judged on the median; each mode's detail is its median round
    (the lower of the middle two for an even count)."""
    import contextlib

    import httpx

    w = _serve_world(store)
    modes = (("one_adapter_at_a_time", False, True), ("mixed", True, True), ("mixed_peft_loop", True, False))
    loads = {"fixed_length": (max_tokens, True), "natural_length": (16, False)}
    all_runs: dict[tuple[str, str], list[dict]] = {}
    # All three servers up at once (idle ones cost nothing) and the load alternated between them for
    # `rounds` rounds: the shared machine's load drifts over minutes, and measuring one mode after
    # the other would fold that drift into the ratio.
    with contextlib.ExitStack() as stack:
        servers = {m: stack.enter_context(_ServerProcess(w["root"], mixed_batches=mixed, batched_lora=batched,
                                                          max_batch=8, batch_wait_ms=batch_wait_ms))
                   for m, mixed, batched in modes}
        for srv in servers.values():
            for cid in SERVE_CHARACTERS:  # warm-up: adapters loaded before timing
                httpx.post(f"{srv.url}/v1/chat/completions", timeout=120, json={
                    "model": cid, "max_tokens": 1, "messages": [{"role": "user", "content": "안녕?"}]})

        def measure(load: str, mode: str) -> float:
            srv, (tokens, ignore_eos) = servers[mode], loads[load]
            before = httpx.get(f"{srv.url}/healthz").json()["batches"]
            run = _load(srv.url, clients, per_client, tokens, ignore_eos)
            run["mean_batch_rows"] = run["requests"] / max(1, httpx.get(f"{srv.url}/healthz").json()["batches"] - before)
            all_runs.setdefault((load, mode), []).append(run)
            return run["requests_per_s"]

        rps = interleaved_rounds({f"{load}/{mode}": (lambda load=load, mode=mode: measure(load, mode))
                                  for load in loads for mode in servers}, rounds)
    runs: dict[str, dict[str, dict]] = {load: {} for load in loads}
    for (load, mode), done in all_runs.items():
        median_run = sorted(done, key=lambda run: run["requests_per_s"])[(len(done) - 1) // 2]
        runs[load][mode] = {**median_run, "rounds_requests_per_s": rps[f"{load}/{mode}"]}
    fixed, natural = runs["fixed_length"], runs["natural_length"]

    def ratio(load: str, mode: str) -> dict:
        return paired(rps[f"{load}/{mode}"], rps[f"{load}/one_adapter_at_a_time"])

    main = ratio("fixed_length", "mixed")
    spreads = {"peft_loop_vs_baseline": ratio("fixed_length", "mixed_peft_loop"),
               "natural_length": ratio("natural_length", "mixed"),
               "natural_length_peft_loop": ratio("natural_length", "mixed_peft_loop")}
    return {"name": "serve_throughput", "unit": "requests/s", "clients": clients, "characters": len(SERVE_CHARACTERS),
            "requests_per_mode_and_round": clients * per_client, "rounds": rounds, "max_tokens": max_tokens,
            "ignore_eos": True, "batch_wait_ms": batch_wait_ms,
            "ours": main["numerator_median"], "ours_detail": fixed["mixed"],
            "baseline": {"name": "one adapter per batch (grouped), same batcher", "value": main["denominator_median"],
                         "detail": fixed["one_adapter_at_a_time"]},
            "ratio": main["median"], "ratio_spread": main,
            # Round by round (the modes ran back to back in each round): the spread around the median.
            "ratio_per_round": main["per_round"],
            "other": {"mixed_with_peft_per_adapter_loop": fixed["mixed_peft_loop"],
                      "ratio_peft_loop_vs_baseline": spreads["peft_loop_vs_baseline"]["median"],
                      "natural_length": natural, "ratio_natural_length": spreads["natural_length"]["median"],
                      "ratio_natural_length_peft_loop": spreads["natural_length_peft_loop"]["median"],
                      "ratio_spreads": spreads},
            "latency_ms": {m: {"p50": r["latency_p50_ms"], "p99": r["latency_p99_ms"]} for m, r in fixed.items()},
            "goal": ">= 2x", "met": main["median"] >= 2}

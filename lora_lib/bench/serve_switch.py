"""Adapter switch: serving another adapter on the next request, our per-request choice vs a load."""

from __future__ import annotations

from pathlib import Path

from .harness import _percentile, _serve_world, interleaved_rounds, paired, per_op_ms


def bench_serve_switch(store: str | Path = "runs", n: int = 300, rounds: int = 5) -> dict:
    """Serving another adapter on the next request: our cached, per-request adapter choice vs loading
    the adapter from disk (what one does without a cache), ms per switch.

    Ours = the switch timed directly, per request over n * 100 requests a round (~1 µs each): what a request for
    another adapter than the previous one costs our engine, the cache lookup (LRU touch) alternating
    between two loaded adapters. Generation itself has nothing to switch (each row names its adapter,
    PEFT's adapter_names; no global state is set), and that is checked, not assumed: 1-token requests
    with the adapter alternating vs always the same (n // 5 each a round), reported as the ratio of
    their latencies (about 1.0 when a switch costs generation nothing). Earlier, ours added the
    difference of those two ~9 ms timings, so noise decided the ratio (23,677x on one run, 22.6x on
    the next). Every figure is measured in `rounds` interleaved rounds; medians, the spread of the
    per-round ratios, and the goal judged on the medians. Also reported: PEFT's global set_adapter,
    the other way to switch.
    """
    from ..engine import Engine

    w = _serve_world(store)
    engine = Engine(w["config"].base_model, capacity=4)
    a, b = (f"nabi@{v}" for v in ("v1", "v2"))
    for name in (a, b):
        engine.load_adapter(name, w["paths"][("nabi", name[-2:])])
    prompt = [[{"role": "user", "content": "안녕? 오늘 뭐 했어?"}]]

    def load_from_disk(i: int) -> None:
        name = f"disk@{i}"
        engine.model.load_adapter(str(w["paths"][("bori", "v1")]), adapter_name=name)
        engine.model.delete_adapter(name)

    engine.generate(prompt, a, max_new_tokens=1)  # warm-up, outside the rounds
    engine.generate(prompt, b, max_new_tokens=1)
    engine.model.base_model.set_adapter(a)
    gen_reps = max(n // 5, 1)
    r = interleaved_rounds({
        "switch": lambda: per_op_ms(lambda i: engine.load_adapter(a if i % 2 else b, "unused"), n * 100),
        "same": lambda: per_op_ms(lambda i: engine.generate(prompt, a, max_new_tokens=1), gen_reps),
        "alternating": lambda: per_op_ms(
            lambda i: engine.generate(prompt, a if i % 2 else b, max_new_tokens=1), gen_reps),
        "disk": lambda: per_op_ms(load_from_disk, 4),
        "set_adapter": lambda: per_op_ms(lambda i: engine.model.set_adapter(a if i % 2 else b), 20),
    }, rounds)
    ratio = paired(r["disk"], r["switch"])
    request = paired(r["alternating"], r["same"])
    ours = ratio["denominator_median"]
    return {"name": "serve_adapter_switch", "unit": "ms per switch", "ours": ours,
            "ours_parts": {"cache_lookup_ms": ours, "generate_1tok_same_adapter_ms": request["denominator_median"],
                           "generate_1tok_alternating_ms": request["numerator_median"]},
            "request_latency_alternating_vs_same": request,
            "baseline": {"name": "load the adapter from disk (PeftModel.load_adapter)", "value": ratio["numerator_median"]},
            "other": {"peft_global_set_adapter_ms": _percentile(r["set_adapter"], 50)},
            "ratio": ratio["median"], "ratio_spread": ratio, "rounds": rounds,
            "definition": "ours = the per-request adapter choice timed directly (cache lookup of a loaded "
                          "adapter, alternating); request_latency_alternating_vs_same checks that generation "
                          "costs no more when the adapter changes every request",
            "goal": "<= 1 ms and >= 100x faster than loading", "met": ours <= 1.0 and ratio["median"] >= 100}

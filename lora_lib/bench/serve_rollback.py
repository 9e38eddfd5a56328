"""Rollback latency: from `rollback` to the first response by the old version, vs a restart."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from .harness import _percentile, _serve_world, in_background, interleaved_rounds, paired


def bench_serve_rollback(store: str | Path = "runs", trials: int = 5) -> dict:
    """Time from `rollback` (another process's registry handle, like the CLI) to the first response
    served by the old version, with a client sending requests back to back; vs a restart (build the
    engine, load the old adapter, serve one request: a lower bound, no process or HTTP start).

    `trials` interleaved rounds (rollback, restart, rollback, ...): the figures are the medians, the
    ratio the median of the per-round ratios, and the goal is judged on the medians."""
    import httpx

    from ..engine import Engine
    from ..registry import Registry
    from ..serve.api import ServerThread, create_app

    w = _serve_world(store)
    cfg = w["config"]
    other = Registry(cfg.registry_url)
    times, txn_ms, req_ms = [], [], []
    with ServerThread(create_app(cfg)) as srv, httpx.Client(base_url=srv.url, timeout=60) as http:
        body = {"model": "nabi", "messages": [{"role": "user", "content": "안녕?"}], "user": "u", "max_tokens": 1}

        def rollback() -> float:
            other.rollout("nabi", "v2", 100, actor="bench")
            assert http.post("/v1/chat/completions", json=body).json()["model"] == "nabi@v2"
            seen = []

            def client(stop: threading.Event) -> None:
                while not stop.is_set():
                    model = http.post("/v1/chat/completions", json=body).json()["model"]
                    seen.append((time.perf_counter(), model))

            with in_background(client):
                time.sleep(0.05)
                t0 = time.perf_counter()
                other.rollback("nabi", actor="bench", reason="rollback benchmark")
                txn_ms.append((time.perf_counter() - t0) * 1000)
                while not any(m == "nabi@v1" and ts > t0 for ts, m in seen):
                    time.sleep(0.0005)
            req_ms.extend((b - a) * 1000 for (a, _), (b, _) in zip(seen, seen[1:], strict=False))
            times.append((min(ts for ts, m in seen if m == "nabi@v1" and ts > t0) - t0) * 1000)
            return times[-1]

        def restart() -> float:
            t0 = time.perf_counter()
            engine = Engine(cfg.base_model)
            engine.load_adapter("nabi@v1", w["paths"][("nabi", "v1")])
            engine.generate([[{"role": "user", "content": "안녕?"}]], "nabi@v1", max_new_tokens=1)
            return (time.perf_counter() - t0) * 1000

        r = interleaved_rounds({"rollback": rollback, "restart": restart}, trials)
    ratio = paired(r["restart"], r["rollback"])
    ours = ratio["denominator_median"]
    return {"name": "serve_rollback", "unit": "ms from rollback to first old-version response", "ours": ours,
            "trials_ms": times, "rollback_transaction_ms_p50": _percentile(txn_ms, 50),
            "back_to_back_request_ms_p50": _percentile(req_ms, 50),
            "note": "includes finishing the request in flight when the route switched, then one request",
            "baseline": {"name": "restart: new engine + load old adapter + 1 request "
                                                     "(in-process lower bound)", "value": ratio["numerator_median"],
                         "trials_ms": r["restart"]},
            "ratio": ratio["median"], "ratio_spread": ratio, "goal": "<= 100 ms", "met": ours <= 100}

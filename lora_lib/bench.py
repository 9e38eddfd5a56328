"""`make bench`: benchmarks that compare two things in one process and write JSON with ratios.

Rules (DESIGN.md section 9): same data, same dtype, same process; report both absolute figures,
their ratio, the machine and library versions. Absolute numbers are noisy; ratios are tracked.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Callable
from pathlib import Path

from .store import write_json


def machine() -> dict:
    from .train import hardware, library_versions

    hw = hardware()
    return {"cpu": hw["cpu"], "cores": hw["cpus"], "platform": hw["platform"], "libraries": library_versions()}


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


def synthetic_messages(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """n (role, text) chat messages like a real export: the demo's chats, with numbers in talk (~15%),
    PII of several kinds (~3%), English (~2%) and spam (~1%) mixed in, so every rule has work."""
    import random

    from .demo.world import polite_chats, roleplay_chats

    rng = random.Random(seed)
    base = [(m["role"], m["content"]) for chat in polite_chats(max(n // 8, 1), seed=seed) + roleplay_chats(
        max(n // 8, 1), seed=seed) for m in chat if m["role"] in ("user", "assistant")]

    def digits(k: int) -> str:
        return "".join(str(rng.randrange(10)) for _ in range(k))

    extras = [
        (0.15, lambda: rng.choice([f" {rng.randrange(1, 13)}시 {rng.randrange(60)}분에 보자", f" {rng.randrange(1, 99) * 1000}원이야",
                                   f" {rng.randrange(1, 13)}월 {rng.randrange(1, 29)}일에", f" {rng.randrange(2, 40)}번 버스"])),
        (0.03, lambda: rng.choice([f" 내 번호 010-{digits(4)}-{digits(4)}", " 공일공 " + "".join(
            "공일이삼사오육칠팔구"[int(d)] for d in digits(8)), f" 메일 user{digits(3)}@naver.com",
            f" user{digits(2)} 골뱅이 gmail 닷컴", f" 카드 {digits(4)}-{digits(4)}-{digits(4)}-{digits(4)}",
            f" 국민은행 {digits(6)}-{digits(2)}-{digits(6)}", " 카톡 아이디 sunny_" + digits(4)])),
        (0.02, lambda: " what are you doing now? lol"),
        (0.01, lambda: f" http://bit.ly/{digits(6)} 무료 쿠폰"),
    ]
    out = []
    for i in range(n):
        role, text = base[i % len(base)]
        r = rng.random()
        for share, make in extras:
            if r < share:
                text += make()
                break
            r -= share
        out.append((role, text))
    return out


def bench_clean_throughput(n_messages: int = 100_000, num_proc: int = 2) -> dict:
    """The clean stage's per-turn work (PII masking + quality/language/meta/leakage filters), messages/s,
    against ko-pii's detect_all alone on the same messages; plus the speed-up of num_proc workers.

    One timed pass each (100,000 messages take a minute or more for ko-pii on a small CPU).
    """
    import ko_pii

    from .clean.conversations import TurnContext, clean_turns
    from .clean.pii import KO_PII_LABELS
    from .config import CleanParams

    msgs = synthetic_messages(n_messages, seed=1)
    ctx = TurnContext.make(CleanParams(), system_prompt="너는 고양이 나비야. 모든 문장을 '냥'으로 끝내.",
                           own_markers=["냥[~!?.]*(\\s|$)"],
                           other_markers={"seonbi": ["(하오|이오|구려|시오)[~!?.]*(\\s|$)"], "bori": ["멍[~!?.]*(\\s|$)"]},
                           other_names={"seonbi": "김선비", "bori": "보리"}, keep_values=["나비", "보리", "김선비"])
    texts = [t for _, t in msgs]
    clean_turns(msgs[:2000], ctx)  # warm regex caches and imports
    ours = _rate(lambda: len(clean_turns(msgs, ctx)), repeat=1)
    base = _rate(lambda: sum(1 for t in texts if ko_pii.detect_all(t, include=KO_PII_LABELS) is not None), repeat=1)
    par = _rate(lambda: len(clean_turns(msgs, ctx, num_proc=num_proc)), repeat=1)
    same = clean_turns(msgs[:20_000], ctx) == clean_turns(msgs[:20_000], ctx, num_proc=num_proc)
    from importlib.metadata import version

    return {"name": "clean_throughput", "unit": "messages/s", "n_messages": len(msgs), "ko_pii": version("ko-pii"),
            "unique_messages": len(set(texts)), "ours": ours,
            "baseline": {"name": "ko-pii detect_all alone (identifier labels)", "value": base}, "ratio": ours / base,
            "parallel": {"num_proc": num_proc, "value": par, "speedup_vs_one_process": par / ours,
                         "same_result_as_one_process": same},
            "goal": {"min_messages_per_s": 5000, "min_ratio": 0.9}}


BENCHMARKS: dict[str, Callable[[], dict]] = {"clean_pii": bench_clean, "clean_throughput": bench_clean_throughput}


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


# ---- serving (issue 7) --------------------------------------------------------------------------------
# All on loopback, bounded in count and time, on synthetic adapters over the test-size base model
# (serving cost depends on the adapter's shape, not on what it learned). One world per store, cached.

SERVE_CHARACTERS = ("nabi", "bori", "seonbi")


def _percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")


def _serve_world(store: str | Path, params_dir: str | Path = "params", fresh_registry: bool = True,
                 **serve_overrides) -> dict:
    """<store>/bench/serve_world: test-size base model, adapters v1..v3 for three characters, a registry
    with every character routed to v1 (a fresh registry and fresh logs unless fresh_registry=False)."""
    import shutil

    from .demo import build_demo
    from .engine.synthetic import make_adapter
    from .registry import Registry
    from .serve.api import load_serve_config

    root = (Path(store) / "bench" / "serve_world").resolve()
    if not (root / "demo" / "base_model" / "config.json").is_file():
        build_demo(root, seed=0, size="test", progress=False)
    if fresh_registry:
        (root / "registry.sqlite").unlink(missing_ok=True)
        shutil.rmtree(root / "serve", ignore_errors=True)
    cfg = load_serve_config(root, params_dir, {f"serve.{k}": v for k, v in serve_overrides.items()}, api_key="bench")
    reg = Registry(cfg.registry_url)
    paths = {}
    for i, cid in enumerate(SERVE_CHARACTERS):
        for v in ("v1", "v2", "v3"):
            d = root / "adapters" / cid / v
            if not (d / "adapter_model.safetensors").is_file():
                make_adapter(cfg.base_model, d, seed=100 * i + int(v[1:]))
            paths[(cid, v)] = d
            reg.register_adapter(character_id=cid, version=v, path=str(d), base_model=cfg.base_model,
                                 dataset_version="bench", status="approved", actor="bench")
        if reg.get_route(cid) is None:
            reg.set_route(cid, base_model=cfg.base_model, stable_version="v1", actor="bench")
    return {"root": root, "config": cfg, "registry": reg, "paths": paths}


def bench_serve_switch(store: str | Path = "runs", n: int = 300) -> dict:
    """Serving another adapter on the next request: our cached, per-request adapter choice vs loading
    the adapter from disk (what one does without a cache), ms per switch.

    Ours = the cache lookup (LRU touch) + the extra generation cost of alternating adapters row by
    row over using one adapter (1-token generations, same prompts), clipped at 0. Also reported:
    PEFT's global set_adapter, the other way to switch.
    """
    from .engine import Engine

    w = _serve_world(store)
    engine = Engine(w["config"].base_model, capacity=4)
    a, b = (f"nabi@{v}" for v in ("v1", "v2"))
    for name in (a, b):
        engine.load_adapter(name, w["paths"][("nabi", name[-2:])])
    prompt = [[{"role": "user", "content": "안녕? 오늘 뭐 했어?"}]]

    def per_op(fn, reps: int, rounds: int = 3) -> float:
        best = float("inf")
        for _ in range(rounds):
            t = time.perf_counter()
            for i in range(reps):
                fn(i)
            best = min(best, (time.perf_counter() - t) / reps * 1000)
        return best

    lookup_ms = per_op(lambda i: engine.load_adapter(a if i % 2 else b, "unused"), n * 10)
    same_ms = alternating_ms = float("inf")
    for _ in range(5):  # interleaved rounds, best of each: the shared machine's noise hits both alike
        same_ms = min(same_ms, per_op(lambda i: engine.generate(prompt, a, max_new_tokens=1), n // 5, 1))
        alternating_ms = min(alternating_ms, per_op(
            lambda i: engine.generate(prompt, a if i % 2 else b, max_new_tokens=1), n // 5, 1))
    ours = lookup_ms + max(0.0, alternating_ms - same_ms)

    def load_from_disk(i: int) -> None:
        name = f"disk@{i}"
        engine.model.load_adapter(str(w["paths"][("bori", "v1")]), adapter_name=name)
        engine.model.delete_adapter(name)

    disk_ms = per_op(load_from_disk, 10)
    engine.model.base_model.set_adapter(a)
    set_adapter_ms = per_op(lambda i: engine.model.set_adapter(a if i % 2 else b), 50)
    return {"name": "serve_adapter_switch", "unit": "ms per switch", "ours": ours,
            "ours_parts": {"cache_lookup_ms": lookup_ms, "generate_1tok_same_adapter_ms": same_ms,
                           "generate_1tok_alternating_ms": alternating_ms},
            "baseline": {"name": "load the adapter from disk (PeftModel.load_adapter)", "value": disk_ms},
            "other": {"peft_global_set_adapter_ms": set_adapter_ms},
            "ratio": disk_ms / ours if ours > 0 else float("inf"),
            "goal": "<= 1 ms and >= 100x faster than loading", "met": ours <= 1.0 and disk_ms / max(ours, 1e-9) >= 100}


def bench_serve_rollback(store: str | Path = "runs", trials: int = 5) -> dict:
    """Time from `rollback` (another process's registry handle, like the CLI) to the first response
    served by the old version, with a client sending requests back to back; vs a restart (build the
    engine, load the old adapter, serve one request: a lower bound, no process or HTTP start)."""
    import threading

    import httpx

    from .engine import Engine
    from .registry import Registry
    from .serve.api import ServerThread, create_app

    w = _serve_world(store)
    cfg = w["config"]
    other = Registry(cfg.registry_url)
    times, txn_ms, req_ms = [], [], []
    with ServerThread(create_app(cfg)) as srv, httpx.Client(base_url=srv.url, timeout=60) as http:
        body = {"model": "nabi", "messages": [{"role": "user", "content": "안녕?"}], "user": "u", "max_tokens": 1}
        for _ in range(trials):
            other.rollout("nabi", "v2", 100, actor="bench")
            assert http.post("/v1/chat/completions", json=body).json()["model"] == "nabi@v2"
            stop, seen = threading.Event(), []

            def client(stop: threading.Event, seen: list) -> None:
                while not stop.is_set():
                    model = http.post("/v1/chat/completions", json=body).json()["model"]
                    seen.append((time.perf_counter(), model))

            t = threading.Thread(target=client, args=(stop, seen))
            t.start()
            time.sleep(0.05)
            t0 = time.perf_counter()
            other.rollback("nabi", actor="bench", reason="rollback benchmark")
            txn_ms.append((time.perf_counter() - t0) * 1000)
            while not any(m == "nabi@v1" and ts > t0 for ts, m in seen):
                time.sleep(0.0005)
            stop.set()
            t.join()
            req_ms += [(b - a) * 1000 for (a, _), (b, _) in zip(seen, seen[1:], strict=False)]
            times.append((min(ts for ts, m in seen if m == "nabi@v1" and ts > t0) - t0) * 1000)
    t0 = time.perf_counter()
    engine = Engine(cfg.base_model)
    engine.load_adapter("nabi@v1", w["paths"][("nabi", "v1")])
    engine.generate([[{"role": "user", "content": "안녕?"}]], "nabi@v1", max_new_tokens=1)
    restart_ms = (time.perf_counter() - t0) * 1000
    ours = _percentile(times, 50)
    return {"name": "serve_rollback", "unit": "ms from rollback to first old-version response", "ours": ours,
            "trials_ms": times, "rollback_transaction_ms_p50": _percentile(txn_ms, 50),
            "back_to_back_request_ms_p50": _percentile(req_ms, 50),
            "note": "includes finishing the request in flight when the route switched, then one request",
            "baseline": {"name": "restart: new engine + load old adapter + 1 request "
                                                     "(in-process lower bound)", "value": restart_ms},
            "ratio": restart_ms / ours, "goal": "<= 100 ms", "met": ours <= 100}


def _load(srv_url: str, clients: int, per_client: int, max_tokens: int, ignore_eos: bool = False) -> dict:
    """`clients` threads, each sending `per_client` chat requests one after another; client k talks to
    character k % 3 (a user stays with a character), so concurrent requests want different adapters.
    (Cycling characters per client would let clients served together drift into same-character
    cohorts, an artifact of closed-loop clients that flatters grouping.) req/s, tokens/s, latencies.

    Clients use the standard library's http.client over one keep-alive connection each: httpx spent
    ~5 ms of CPU per request here, more than the server's own HTTP handling, and on two cores a heavy
    client takes CPU from the server it measures."""
    import http.client
    import json
    import threading
    from urllib.parse import urlsplit

    u = urlsplit(srv_url)
    lat, tokens, errors, models = [], [], [], []
    lock = threading.Lock()

    def client(k: int) -> None:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
        try:
            for i in range(per_client):
                cid = SERVE_CHARACTERS[k % len(SERVE_CHARACTERS)]
                body = json.dumps({"model": cid, "user": f"user-{k}", "max_tokens": max_tokens,
                                   "ignore_eos": ignore_eos,
                                   "messages": [{"role": "user", "content": f"안녕? {i}번째 질문이야. 오늘 뭐 했어?"}]})
                t = time.perf_counter()
                conn.request("POST", "/v1/chat/completions", body=body.encode(),
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
                dt = (time.perf_counter() - t) * 1000
                with lock:
                    if r.status != 200:
                        errors.append(r.status)
                    else:
                        reply = json.loads(data)
                        lat.append(dt)
                        tokens.append(reply["usage"]["completion_tokens"])
                        models.append(reply["model"])
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"requests": len(lat), "errors": len(errors), "wall_s": wall, "requests_per_s": len(lat) / wall,
            "completion_tokens_per_s": sum(tokens) / wall, "latency_p50_ms": _percentile(lat, 50),
            "latency_p99_ms": _percentile(lat, 99), "adapters_served": sorted(set(models))}


class _ServerProcess:
    """`lora serve` in a child process (clients and server must not share one GIL); a context manager."""

    def __init__(self, root: Path, params_dir: str | Path = "params", **serve_overrides):
        import subprocess
        import sys

        from .serve.api import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "lora_lib.cli", "serve", "--store", str(root), "--params", str(params_dir),
                "--host", "127.0.0.1", "--port", str(self.port)]
        for k, v in serve_overrides.items():
            argv += ["--set", f"serve.{k}={str(v).lower() if isinstance(v, bool) else v}"]
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "LORA_API_KEY": "bench"}
        self.log = open(root / f"server-{self.port}.log", "w")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def __enter__(self) -> _ServerProcess:
        import httpx

        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"lora serve exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.__exit__()
        raise RuntimeError(f"lora serve did not answer within 300 s; see {self.log.name}")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except Exception:  # noqa: BLE001 - a server that ignores SIGTERM is killed
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def bench_serve_throughput(store: str | Path = "runs", clients: int = 8, per_client: int = 12,
                           max_tokens: int = 32, batch_wait_ms: float = 20.0, rounds: int = 3) -> dict:
    """8 concurrent clients over 3 characters against a real `lora serve` process: mixed-adapter batches
    (one generate() for all rows, our gathered-bmm LoRA) vs one adapter per batch (same batcher, batch
    size and wait, grouped by adapter: what a server without mixed batching does). Same requests.

    The ratio is on replies of exactly `max_tokens` tokens (`ignore_eos`, as vLLM's benchmarks do): the
    synthetic adapters stop after a few tokens, which would measure HTTP and prefill, not generation.
    Also reported: natural-length replies (EOS, max 16 tokens) and mixed batches through PEFT's own
    per-adapter loop (serve.batched_lora=false)."""
    import contextlib

    import httpx

    w = _serve_world(store)
    modes = (("one_adapter_at_a_time", False, True), ("mixed", True, True), ("mixed_peft_loop", True, False))
    loads = {"fixed_length": (max_tokens, True), "natural_length": (16, False)}
    runs: dict[str, dict[str, dict]] = {load: {} for load in loads}
    rounds_rps: dict[str, dict[str, list[float]]] = {load: {m: [] for m, *_ in modes} for load in loads}
    # All three servers up at once (idle ones cost nothing) and the load alternated between them for
    # `rounds` rounds, best round per mode: the shared machine's load drifts over minutes, and
    # measuring one mode after the other would fold that drift into the ratio.
    with contextlib.ExitStack() as stack:
        servers = {m: stack.enter_context(_ServerProcess(w["root"], mixed_batches=mixed, batched_lora=batched,
                                                          max_batch=8, batch_wait_ms=batch_wait_ms))
                   for m, mixed, batched in modes}
        for srv in servers.values():
            for cid in SERVE_CHARACTERS:  # warm-up: adapters loaded before timing
                httpx.post(f"{srv.url}/v1/chat/completions", timeout=120, json={
                    "model": cid, "max_tokens": 1, "messages": [{"role": "user", "content": "안녕?"}]})
        for _ in range(rounds):
            for load, (tokens, ignore_eos) in loads.items():
                for mode, srv in servers.items():
                    before = httpx.get(f"{srv.url}/healthz").json()["batches"]
                    run = _load(srv.url, clients, per_client, tokens, ignore_eos)
                    run["mean_batch_rows"] = run["requests"] / max(
                        1, httpx.get(f"{srv.url}/healthz").json()["batches"] - before)
                    rounds_rps[load][mode].append(run["requests_per_s"])
                    if mode not in runs[load] or run["requests_per_s"] > runs[load][mode]["requests_per_s"]:
                        runs[load][mode] = run
    for load in loads:
        for mode in runs[load]:
            runs[load][mode]["rounds_requests_per_s"] = rounds_rps[load][mode]
    fixed, natural = runs["fixed_length"], runs["natural_length"]
    ours, base = fixed["mixed"], fixed["one_adapter_at_a_time"]

    def ratio(r: dict, mode: str) -> float:
        return r[mode]["requests_per_s"] / r["one_adapter_at_a_time"]["requests_per_s"]

    return {"name": "serve_throughput", "unit": "requests/s", "clients": clients, "characters": len(SERVE_CHARACTERS),
            "requests_per_mode_and_round": clients * per_client, "rounds": rounds, "max_tokens": max_tokens,
            "ignore_eos": True, "batch_wait_ms": batch_wait_ms,
            "ours": ours["requests_per_s"], "ours_detail": ours,
            "baseline": {"name": "one adapter per batch (grouped), same batcher", "value": base["requests_per_s"],
                         "detail": base},
            "ratio": ratio(fixed, "mixed"),
            # Round by round (the two modes ran back to back in each round): the spread the best-round
            # ratio hides when the shared machine is busy.
            "ratio_per_round": [m / b for m, b in zip(rounds_rps["fixed_length"]["mixed"],
                                                      rounds_rps["fixed_length"]["one_adapter_at_a_time"],
                                                      strict=True)],
            "other": {"mixed_with_peft_per_adapter_loop": fixed["mixed_peft_loop"],
                      "ratio_peft_loop_vs_baseline": ratio(fixed, "mixed_peft_loop"),
                      "natural_length": natural, "ratio_natural_length": ratio(natural, "mixed"),
                      "ratio_natural_length_peft_loop": ratio(natural, "mixed_peft_loop")},
            "latency_ms": {m: {"p50": r["latency_p50_ms"], "p99": r["latency_p99_ms"]} for m, r in fixed.items()},
            "goal": ">= 2x", "met": ratio(fixed, "mixed") >= 2}


def _status_timeline(audit: list[dict], committed: list[str] | None = None
                     ) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(owner, version) -> [(ts, status from then on)], from the registry's audit log.

    An audit row's ts is taken inside its transaction, before COMMIT: a request arriving a few ms
    later may still, correctly, read the old status. `committed` (times at which the writer's calls
    had returned, so had committed) moves each change to the first such time at or after its ts:
    from then on the new status is certain."""
    import bisect
    from datetime import datetime

    done = sorted((datetime.fromisoformat(c), c) for c in committed or [])  # parsed once, not per row

    def effective(ts: str) -> str:
        i = bisect.bisect_left(done, (datetime.fromisoformat(ts), ""))
        return done[i][1] if i < len(done) else ts

    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for row in audit:
        d = row["detail"]
        if row["action"] == "register_adapter":
            out.setdefault((row["character_id"], d["version"]), []).append((effective(row["ts"]), d["status"]))
        elif row["action"] == "set_status":
            out.setdefault((row["character_id"], d["version"]), []).append((effective(row["ts"]), d["to"]))
    return out


def _status_at(timeline: list[tuple[str, str]], ts: str) -> str | None:
    from datetime import datetime

    t = datetime.fromisoformat(ts)
    status = None
    for when, s in timeline:
        if datetime.fromisoformat(when) <= t:
            status = s
    return status


def soak_serve(store: str | Path = "runs", n_requests: int = 2000, clients: int = 4, max_tokens: int = 4,
               action_every_s: float = 0.3, users: int = 200, seed: int = 0, **serve_overrides) -> dict:
    """A bounded soak against a real `lora serve` process: `n_requests` chat requests from `clients`
    threads (random users, three characters) while a controller rolls out, raises, promotes, rolls back,
    rejects a candidate mid-rollout and retires one, through the registry (like the CLI) and the admin
    API. Checked afterwards from the logs: every request answered (HTTP 200, one request-log line each),
    no 5xx in the error log, and no request answered by an adapter that was rejected or retired when the
    request arrived (status timeline from the audit log, each change effective once the call that made
    it had returned: see _status_timeline)."""
    import random
    import shutil
    import threading
    from datetime import UTC, datetime

    import httpx

    from .requestlog import read_request_log

    w = _serve_world(store, **serve_overrides)  # e.g. registry_url= a PostgreSQL database
    reg, root = w["registry"], w["root"]
    extra = 0

    def new_version(cid: str, tag: str) -> str:
        nonlocal extra
        extra += 1
        v = f"{tag}{extra}"
        src = w["paths"][(cid, "v3")]
        dst = root / "adapters" / cid / v
        if not dst.exists():
            shutil.copytree(src, dst)
        reg.register_adapter(character_id=cid, version=v, path=str(dst), base_model=w["config"].base_model,
                             dataset_version="bench", status="approved", actor="soak")
        return v

    def admin(http: httpx.Client, cid: str, action: str, body: dict) -> None:
        r = http.post(f"/admin/routes/{cid}/{action}", json=body, headers={"Authorization": "Bearer bench"})
        r.raise_for_status()

    def script(http: httpx.Client) -> list:
        bad, ret = new_version("nabi", "bad"), new_version("seonbi", "ret")
        return [
            lambda: reg.rollout("nabi", "v2", 10, actor="soak"),
            lambda: admin(http, "nabi", "rollout", {"candidate_version": "v2", "percent": 50}),
            lambda: reg.rollback("nabi", actor="soak", reason="soak"),
            lambda: reg.rollout("bori", "v2", 30, actor="soak"),
            lambda: admin(http, "bori", "promote", {"reason": "soak"}),
            lambda: admin(http, "bori", "rollback", {"reason": "soak"}),
            lambda: reg.rollout("nabi", bad, 40, actor="soak"),
            lambda: reg.set_status("nabi", bad, "rejected", actor="soak", reason="bad candidate"),
            lambda: reg.rollback("nabi", actor="soak", reason="soak"),
            lambda: reg.rollout("seonbi", ret, 60, actor="soak"),
            lambda: reg.set_status("seonbi", ret, "retired", actor="soak", reason="retire mid-rollout"),
            lambda: reg.rollback("seonbi", actor="soak", reason="soak"),
        ]

    rng = random.Random(seed)
    plan = [(SERVE_CHARACTERS[rng.randrange(3)], f"soak-user-{rng.randrange(users)}") for _ in range(n_requests)]
    results: list[tuple[int, str | None]] = []
    lock, done = threading.Lock(), threading.Event()
    actions_done, action_errors, committed = [], [], []
    cursor = iter(range(n_requests))

    def client() -> None:
        with httpx.Client(base_url=srv.url, timeout=120) as http:
            while True:
                with lock:
                    i = next(cursor, None)
                if i is None:
                    return
                cid, user = plan[i]
                try:
                    r = http.post("/v1/chat/completions", json={
                        "model": cid, "user": user, "max_tokens": max_tokens,
                        "messages": [{"role": "user", "content": f"안녕? {i}번째 질문이야."}]})
                    item = (r.status_code, r.json().get("id") if r.status_code == 200 else r.text[:200])
                except httpx.HTTPError as exc:
                    item = (-1, repr(exc))
                with lock:
                    results.append(item)

    def controller() -> None:
        with httpx.Client(base_url=srv.url, timeout=60) as http:
            k = 0
            while not done.is_set():
                steps = script(http)
                for step in steps:
                    if done.wait(action_every_s):
                        return
                    try:
                        step()
                        actions_done.append(k)
                    except Exception as exc:  # noqa: BLE001 - recorded: a refused action is a finding
                        action_errors.append(f"step {k}: {exc}")
                    committed.append(datetime.now(UTC).isoformat(timespec="microseconds"))
                    k += 1

    with _ServerProcess(root, **serve_overrides) as srv:
        t0 = time.perf_counter()
        ctl = threading.Thread(target=controller)
        ctl.start()
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done.set()
        ctl.join()
        wall = time.perf_counter() - t0

    ok_ids = {x for code, x in results if code == 200}
    failed = [(code, x) for code, x in results if code != 200]
    df, problems = read_request_log(root / "serve" / "request_log.jsonl")
    logged = df[df["request_id"].isin(ok_ids)]
    timeline = _status_timeline(reg.audit_log(), committed)
    bad_served = []
    for rec in logged.itertuples():
        if rec.adapter_version is None or not isinstance(rec.adapter_version, str):
            continue
        status = _status_at(timeline.get((rec.route_owner, rec.adapter_version), []), rec.ts)
        if status in ("rejected", "retired"):
            bad_served.append({"request_id": rec.request_id, "adapter": rec.adapter, "status": status, "ts": rec.ts})
    errors_5xx = []
    err_path = root / "serve" / "request_errors.jsonl"
    if err_path.is_file():
        import json

        errors_5xx = [e for e in map(json.loads, err_path.read_text().splitlines())
                      if (e.get("http_status") or 0) >= 500]
    by_adapter = logged.groupby(["adapter", "group"]).size().reset_index(name="n").to_dict(orient="records")
    passed = not failed and len(logged) == n_requests and not bad_served and not errors_5xx and not problems
    return {"name": "serve_soak", "unit": "requests", "n_requests": n_requests, "clients": clients,
            "max_tokens": max_tokens, "wall_s": wall, "requests_per_s": n_requests / wall,
            "route_changes": len(actions_done), "refused_actions": action_errors,
            "failed_requests": len(failed), "failed_examples": failed[:5], "logged_requests": len(logged),
            "log_problems": problems[:5], "errors_5xx": len(errors_5xx),
            "served_by_rejected_or_retired": len(bad_served), "bad_examples": bad_served[:5],
            "fallbacks": int(logged["fallback"].notna().sum()),
            "latency_p50_ms": _percentile(list(logged["latency_ms"]), 50),
            "latency_p99_ms": _percentile(list(logged["latency_ms"]), 99),
            "by_adapter": by_adapter, "passed": passed}


BENCHMARKS.update({"serve_adapter_switch": bench_serve_switch, "serve_rollback": bench_serve_rollback,
                   "serve_throughput": bench_serve_throughput, "serve_soak": soak_serve})

# --------------------------------------------------------------------------------------------------
# Training throughput: our SFT setup vs plain TRL SFTTrainer defaults, and LoRA vs QLoRA memory
# --------------------------------------------------------------------------------------------------

BENCH_CHATS = (300, 50)  # chats and gold dialogues per character: the demo-size world's data (cheap to make)


def _train_bench_inputs(store: str | Path, arch: str) -> tuple:
    """(params, train records, model dir) for the training benchmark, built once under <store>/bench/.

    Data: nabi's dataset version from a demo-size synthetic world through the real collect, clean
    and dataset stages. Model: the test-size base model (arch="test") or, for arch="demo", the
    demo model's architecture (4 x 256) with random weights: throughput does not depend on the
    weights, and pre-training the demo model takes CPU-minutes.
    """
    from . import stages
    from .config import load_params
    from .dataset import load_version
    from .demo import build_demo
    from .demo.base_model import SIZES
    from .demo.world import build_world
    from .store import run_paths
    from .tracking import Tracker

    root = (Path(store) / "bench" / "train_store").resolve()
    build_demo(root, seed=0, size="test", progress=False)
    world = root / "demo" / "world_bench"
    build_world(world, seed=0, chats_per_character=BENCH_CHATS[0], gold_per_character=BENCH_CHATS[1])
    inputs = {f"inputs.{k}": str(world / f) for k, f in (("messages", "messages.json"), ("users", "users.json"),
                                                          ("characters", "characters.json"),
                                                          ("gold", "gold.jsonl"),
                                                          ("deletion_requests", "deletion_requests.jsonl"))}
    p = load_params("nabi", params_dir=_params_dir(), overrides={"store": str(root), "tracking": "none", **inputs})
    paths = run_paths(root, "nabi", "bench")
    if not paths.result("dataset"):
        stages.run_collect(p, paths, Tracker())
        stages.run_clean(p, paths, Tracker(), _params_dir())
        stages.run_dataset(p, paths, Tracker(), _params_dir())
    train, _, _ = load_version(root, "nabi", paths.result("dataset")["dataset_version"])
    model_dir = root / "demo" / "base_model"
    if arch == "demo":
        model_dir = _random_model(root / "demo" / "bench_model_demo_arch", model_dir, SIZES["demo"])
    return p, train, model_dir


def _params_dir() -> Path:
    from .notebook import project_root

    return project_root(Path(__file__).parent) / "params"


def _random_model(out: Path, like: Path, size: dict) -> Path:
    """A Llama with the given size, random weights, and the tokenizer of `like` (cached)."""
    if (out / "model.safetensors").exists():
        return out
    import torch
    from transformers import AutoConfig, AutoTokenizer, LlamaForCausalLM

    cfg = AutoConfig.from_pretrained(like)
    cfg.num_hidden_layers, cfg.hidden_size = size["layers"], size["hidden"]
    cfg.num_attention_heads = cfg.num_key_value_heads = size["heads"]
    cfg.intermediate_size, cfg.head_dim = size["intermediate"], size["hidden"] // size["heads"]
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(like).save_pretrained(out)
    return out


class _StepClock:
    """Trainer callback: wall time from the first step's start to the last step's end (no final save)."""

    def __init__(self):
        self.start = self.end = None

    def __getattr__(self, name):
        return lambda *args, **kwargs: None

    def on_step_begin(self, args, state, control, **kwargs):
        if self.start is None:
            self.start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.end = time.perf_counter()


def _tokens_per_second(trainer, clock: _StepClock) -> tuple[float, int]:
    trainer.train()
    tokens = int(max(float(h.get("num_tokens", 0)) for h in trainer.state.log_history))
    return tokens / (clock.end - clock.start), tokens


def _one_run(variant: str, p, train: list[dict], model_dir: Path, out_dir: Path) -> tuple[float, int]:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import SFTConfig, SFTTrainer

    from .train import setup_trainer

    set_seed(p.seed)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    clock = _StepClock()
    if variant == "ours":
        trainer = setup_trainer(p, model, tok, train, out_dir, progress=False, callbacks=[clock])
        return _tokens_per_second(trainer, clock)
    # What a competent user writes without us: SFTConfig defaults (random batches padded to the
    # longest, default collator, no packing, gradient checkpointing on), with the same dtype (fp32),
    # objective (assistant tokens only), LoRA, batch size, learning rate, max_length and steps.
    lora = LoraConfig(r=p.train.lora.r, lora_alpha=p.train.lora.alpha, lora_dropout=p.train.lora.dropout,
                      target_modules=p.train.lora.target_modules, use_rslora=p.train.lora.rslora,
                      task_type="CAUSAL_LM")
    extra = {"gradient_checkpointing": False} if variant == "trl_defaults_no_checkpointing" else {}
    args = SFTConfig(output_dir=str(out_dir), seed=p.seed, bf16=False, fp16=False, assistant_only_loss=True,
                     per_device_train_batch_size=p.train.batch_size, learning_rate=p.train.learning_rate,
                     max_length=p.train.max_length, max_steps=p.train.max_steps, save_strategy="no",
                     report_to="none", disable_tqdm=True, **extra)
    trainer = SFTTrainer(model=model, args=args, processing_class=tok, peft_config=lora, callbacks=[clock],
                         train_dataset=Dataset.from_list([{"messages": r["messages"]} for r in train]))
    return _tokens_per_second(trainer, clock)


def bench_train(store: str | Path = "runs", arch: str = "demo", steps: int = 30, batch_size: int = 8,
                repeat: int = 2) -> dict:
    """Training tokens/s (non-padding tokens): ours vs plain TRL SFTTrainer defaults, same process.

    Variants run interleaved, best of `repeat` each, so a busy neighbour hurts all of them alike.
    """
    import tempfile

    import torch

    p, train, model_dir = _train_bench_inputs(store, arch)
    p = p.model_copy(update={"train": p.train.model_copy(update={"max_steps": steps, "batch_size": batch_size,
                                                                  "dtype": "float32"})})
    variants = ["ours", "trl_defaults", "trl_defaults_no_checkpointing"]
    best: dict[str, float] = dict.fromkeys(variants, 0.0)
    tokens: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for trial in range(repeat):
            for v in variants:
                rate, tokens[v] = _one_run(v, p, train, model_dir, Path(tmp) / f"{v}-{trial}")
                best[v] = max(best[v], rate)
    base = best["trl_defaults"]
    return {"name": "train_sft", "unit": "trained (non-padding) tokens/s", "ours": round(best["ours"], 1),
            "baseline": {"name": "TRL SFTTrainer defaults, fp32", "value": round(base, 1)},
            "ratio": round(best["ours"] / base, 3),
            "also": {"trl_defaults_no_checkpointing": round(best["trl_defaults_no_checkpointing"], 1),
                     "ratio_vs_no_checkpointing": round(best["ours"] / best["trl_defaults_no_checkpointing"], 3)},
            "tokens_per_run": tokens,
            "setup": {"model": str(model_dir.name), "arch": arch, "steps": steps, "batch_size": batch_size,
                      "train_records": len(train), "dtype": "float32", "lora_r": p.train.lora.r,
                      "torch_threads": torch.get_num_threads(), "repeat": repeat,
                      "ours": "length-grouped batches, LM head only on labelled (assistant) positions, "
                               "no gradient checkpointing"}}


# A model big enough that its weights, not the Python process, dominate memory (~54M parameters).
MEMORY_ARCH = {"layers": 4, "hidden": 1024, "heads": 8, "intermediate": 2816}


def _rss_mb(field: str) -> float:
    """VmRSS / VmHWM (peak) of this process from /proc, in MB."""
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _memory_child(store: str, method: str, steps: int) -> None:
    """Run in a fresh process: train `steps` steps with `method`; print tokens/s and peak RSS as JSON.

    The peak is reset (Linux /proc/self/clear_refs) after the data is prepared, so it covers model
    load + training only.
    """
    import json
    import tempfile

    from transformers import AutoTokenizer, set_seed

    from .train import setup_model, setup_trainer

    p, train, model_dir = _train_bench_inputs(store, "test")
    model_dir = _random_model(model_dir.parent / "bench_model_memory", model_dir, MEMORY_ARCH)
    p = p.model_copy(update={"train": p.train.model_copy(update={"max_steps": steps, "method": method,
                                                                  "batch_size": 4})})
    set_seed(p.seed)
    tok = AutoTokenizer.from_pretrained(model_dir)
    before = _rss_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset VmHWM to the current RSS
    model, bf16 = setup_model(p, str(model_dir))
    loaded = _rss_mb("VmRSS")
    clock = _StepClock()
    with tempfile.TemporaryDirectory() as tmp:
        trainer = setup_trainer(p, model, tok, train, tmp, bf16=bf16, progress=False, callbacks=[clock])
        rate, _ = _tokens_per_second(trainer, clock)
    print(json.dumps({"method": method, "tokens_per_second": round(rate, 1),
                      "model_load_mb": round(loaded - before, 1), "peak_rss_mb": round(_rss_mb("VmHWM"), 1),
                      "peak_over_baseline_mb": round(_rss_mb("VmHWM") - before, 1)}))


def bench_train_memory(store: str | Path = "runs", steps: int = 3) -> dict:
    """Peak RSS and tokens/s of LoRA (fp32) vs QLoRA (4-bit NF4), each in its own process.

    Model: the test tokenizer with a ~54M-parameter random Llama (MEMORY_ARCH), so weights dominate.
    """
    import json
    import subprocess
    import sys

    p, _, model_dir = _train_bench_inputs(store, "test")  # build once, outside the measured processes
    _random_model(model_dir.parent / "bench_model_memory", model_dir, MEMORY_ARCH)
    out = {}
    for method in ("lora", "qlora"):
        code = f"from lora_lib.bench import _memory_child; _memory_child({str(store)!r}, {method!r}, {steps})"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent.parent)
        out[method] = json.loads(proc.stdout.strip().splitlines()[-1])
    lo, q = out["lora"]["peak_over_baseline_mb"], out["qlora"]["peak_over_baseline_mb"]
    return {"name": "train_memory", "unit": "MB of peak RSS above the process before model load",
            "ours": q, "baseline": {"name": "LoRA, fp32 base", "value": lo}, "ratio": round(q / lo, 3),
            "runs": out, "setup": {"arch": MEMORY_ARCH, "steps": steps, "batch_size": 4},
            "note": "QLoRA = 4-bit NF4 base (bitsandbytes, double quantization); on CPU TRL keeps the LoRA "
                    "weights in bf16 for quantized models, and CPU has no fast 4-bit/bf16 kernels here, so "
                    "QLoRA trades speed for memory"}


BENCHMARKS["train_sft"] = bench_train
BENCHMARKS["train_memory"] = bench_train_memory

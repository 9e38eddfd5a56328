"""What every benchmark shares: the machine record, paired interleaved rounds (the figures a reader
can trust from run to run), percentiles, the serving world, and the client scaffolding (threads,
closed-loop HTTP clients, a `lora serve` child process).

Rules (DESIGN.md section 9): same data, same dtype, same process; report both absolute figures,
their ratio, the machine and library versions. Absolute numbers are noisy; ratios are tracked.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def machine() -> dict:
    from ..train import hardware, library_versions

    hw = hardware()
    return {"cpu": hw["cpu"], "cores": hw["cpus"], "platform": hw["platform"], "libraries": library_versions()}


def _percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")


def rate(fn: Callable[[], int]) -> float:
    """Items per second of one call of fn() (which returns how many items it processed)."""
    start = time.perf_counter()
    n = fn()
    return n / (time.perf_counter() - start)


def per_op_ms(fn: Callable[[int], object], reps: int) -> float:
    """Milliseconds per call of fn(i), i = 0..reps-1, from one timed loop."""
    t = time.perf_counter()
    for i in range(reps):
        fn(i)
    return (time.perf_counter() - t) / reps * 1000


def interleaved_rounds(figures: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Each figure measured once per round, in turn (A, B, A, B, ... for `rounds` rounds): name ->
    one value per round. A busy neighbour or a drifting machine then hits every figure alike within a
    round, so the per-round ratios (see paired) carry little of the drift that best-of-N per figure,
    measured one after the other, folds into a ratio."""
    out: dict[str, list[float]] = {name: [] for name in figures}
    for _ in range(rounds):
        for name, fn in figures.items():
            out[name].append(float(fn()))
    return out


def paired(num: list[float], den: list[float]) -> dict:
    """The ratio num/den round by round (both from the same interleaved rounds): its median, which the
    goals are judged on, its spread (min, max, interquartile range) and both absolute medians."""
    ratios = [n / d if d else float("inf") for n, d in zip(num, den, strict=True)]
    return {"median": _percentile(ratios, 50), "min": min(ratios), "max": max(ratios),
            "iqr": [_percentile(ratios, 25), _percentile(ratios, 75)], "rounds": len(ratios),
            "per_round": ratios, "numerator_median": _percentile(num, 50),
            "denominator_median": _percentile(den, 50)}


@contextmanager
def in_background(target: Callable[[threading.Event], None]) -> Iterator[None]:
    """target(stop) in a thread while the with-block runs (a closed-loop client, a controller); on
    leaving the block `stop` is set and the thread joined."""
    stop = threading.Event()
    t = threading.Thread(target=target, args=(stop,))
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


def run_threads(target: Callable[..., None], args: list[tuple]) -> float:
    """One thread per args tuple running target(*args), all started, all joined: the wall seconds."""
    threads = [threading.Thread(target=target, args=a) for a in args]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


# ---- serving (issue 7) --------------------------------------------------------------------------------
# All on loopback, bounded in count and time, on synthetic adapters over the test-size base model
# (serving cost depends on the adapter's shape, not on what it learned). One world per store, cached.

SERVE_CHARACTERS = ("nabi", "bori", "seonbi")


def _serve_world(store: str | Path, params_dir: str | Path = "params", fresh_registry: bool = True,
                 **serve_overrides) -> dict:
    """<store>/bench/serve_world: test-size base model, adapters v1..v3 for three characters, a registry
    with every character routed to v1 (a fresh registry and fresh logs unless fresh_registry=False)."""
    import shutil

    from ..demo import build_demo
    from ..engine.synthetic import make_adapter
    from ..registry import Registry
    from ..serve.api import load_serve_config

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
                conn.request("POST", f"{u.path.rstrip('/')}/v1/chat/completions", body=body.encode(),
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

    wall = run_threads(client, [(k,) for k in range(clients)])
    return {"requests": len(lat), "errors": len(errors), "wall_s": wall, "requests_per_s": len(lat) / wall,
            "completion_tokens_per_s": sum(tokens) / wall, "latency_p50_ms": _percentile(lat, 50),
            "latency_p99_ms": _percentile(lat, 99), "adapters_served": sorted(set(models))}


class _ServerProcess:
    """`lora serve` in a child process (clients and server must not share one GIL); a context manager."""

    def __init__(self, root: Path, params_dir: str | Path = "params", **serve_overrides):
        import subprocess
        import sys

        from ..serve.api import free_port

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

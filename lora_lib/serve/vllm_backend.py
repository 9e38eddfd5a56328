"""Generation on a vLLM OpenAI-compatible server, behind our router (`serve.backend: vllm`).

UNTESTED AGAINST A REAL vLLM: no GPU (and no vLLM) was available to the project so far. The request and
response shapes below follow vLLM's documentation and source (cited at each one); the unit tests check
only our own side (building requests, parsing responses and stream lines, mapping errors, the LRU
decision) and our server's failure path with nothing listening. `/healthz` says `"vllm_tested": false`.

Everything around generation stays in our server: registry routing, sticky rollout, rollback without
restart, the request log, online gates, metrics, OpenAI-style errors. Only generation moves to vLLM,
started for example with what `lora export vllm` writes:

    VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve <base> --enable-lora --max-loras N --max-lora-rank R

`VllmBackend` has the surface `ServerState` uses of an Engine (base_model, adapters, loaded, capacity,
load_adapter) and of a Batcher (submit, close, batches, rows, busy_s):
- adapters are registered in vLLM under our immutable names `<owner>@<version>` through
  POST /v1/load_lora_adapter; a name is never reloaded with other weights (the stale-cache trap of
  same-name reloads), so vLLM's "already loaded" answer means "loaded" (e.g. after `--lora-modules`).
- at most `capacity` names stay registered: after a successful load, the least recently used names
  with no request in flight are unloaded (POST /v1/unload_lora_adapter), like Engine's eviction.
- the sha256 of `<path>/adapter_model.safetensors` is checked against the registry's when this
  machine can see the file; when it cannot (vLLM on another machine with its own copy), the check is
  skipped with a warning and vLLM loads whatever is at that path.
- each request is one HTTP call from a thread pool (vLLM batches continuously by itself); streaming
  requests use SSE with `stream_options.include_usage` so token counts are vLLM's own.
- a request whose adapter vLLM no longer knows (vLLM restarted) reloads it once and retries.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ..config import ConfigError
from ..engine import WEIGHTS_FILE, AdapterLoadError, Generation, Job
from ..store import sha256_file
from .vllm_protocol import (
    StreamState,
    VllmError,
    VllmUnavailable,
    chat_body,
    chat_error,
    load_body,
    load_outcome,
    parse_chat_response,
    unload_body,
    unload_outcome,
)

log = logging.getLogger("lora_lib.serve.vllm_backend")

VLLM_TESTED = False  # flip only after a run against a real vLLM server (see README, Serving)


# ---- pure function: eviction -------------------------------------------------------------------------

def choose_evictions(lru: Iterable[str], capacity: int, in_use: Iterable[str], keep: str) -> list[str]:
    """Which registered names to unload so at most `capacity` stay, least recently used first; never
    `keep` (the one just loaded) nor a name with a request in flight (unloading it under a running
    request would fail that request). May return fewer than needed: the cache then stays over
    capacity until those requests finish and the next load evicts again."""
    names = list(lru)
    busy = set(in_use)
    excess = len(names) - capacity
    out = []
    for n in names:
        if excess <= 0:
            break
        if n != keep and n not in busy:
            out.append(n)
            excess -= 1
    return out


# ---- the backend -------------------------------------------------------------------------------------

class VllmBackend:
    """Engine + Batcher surface over a vLLM server (see the module docstring; untested against vLLM)."""

    def __init__(self, base_model: str | Path, url: str | None, *, served_model: str | None = None,
                 capacity: int = 8, timeout_s: float = 120.0, max_concurrency: int = 64):
        import httpx

        if not url:
            raise ConfigError("serve.vllm_url: required when serve.backend is 'vllm' "
                              "(e.g. --set serve.vllm_url=http://gpu-host:8000)")
        if capacity < 1:
            raise ValueError(f"adapter cache capacity must be >= 1, got {capacity}")
        self.base_model = str(base_model)  # ours, for routing's same-base check
        self.url = url.rstrip("/")
        self.served_model = served_model or self.base_model  # `vllm serve <model>` serves it under that name
        self.capacity = capacity
        self.adapters: OrderedDict[str, str] = OrderedDict()  # name -> path, least recently used first
        self.load_count = 0
        self.evict_count = 0
        self.batches = 0  # requests answered (vLLM's own batches are not visible from here)
        self.rows = 0
        self.busy_s = 0.0  # wall time with at least one request in flight
        self._lock = threading.Lock()  # adapters, counters, in-flight
        self._load_lock = threading.Lock()  # one load/unload sequence at a time
        self._in_flight: dict[str, int] = {}
        self._submitted = 0  # jobs submitted and not yet done (the engine pool evicts only at 0)
        self._active = 0
        self._busy_since = 0.0
        self._http = httpx.Client(base_url=self.url, timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
                                  limits=httpx.Limits(max_connections=max_concurrency + 4))
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="lora-vllm")

    def health(self) -> dict:
        return {"backend": "vllm", "vllm_url": self.url, "vllm_model": self.served_model, "vllm_tested": VLLM_TESTED}

    @property
    def loaded(self) -> list[str]:
        with self._lock:
            return list(self.adapters)

    # -- HTTP --

    def _post(self, path: str, body: dict):
        import httpx

        try:
            return self._http.post(path, json=body)
        except httpx.TimeoutException as exc:
            raise VllmUnavailable(f"vLLM at {self.url}: {path} timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise VllmUnavailable(f"vLLM at {self.url} cannot be reached for {path}: {type(exc).__name__}: {exc}") \
                from exc

    @staticmethod
    def _body(r):
        try:
            return r.json()
        except ValueError:
            return r.text

    # -- adapters --

    def load_adapter(self, name: str, path: str | Path, sha256: str | None = None) -> bool:
        """Register `name` in vLLM (True if loaded now, False if it already was); marks it used.

        AdapterLoadError (nothing changes) on a sha256 mismatch, a refusal from vLLM, or vLLM being
        unreachable. Over capacity, least recently used idle names are unloaded after the load.
        """
        with self._lock:
            if name in self.adapters:
                self.adapters.move_to_end(name)
                return False
        weights = Path(path) / WEIGHTS_FILE
        if sha256 is not None:
            if weights.is_file():
                actual = sha256_file(weights)
                if actual != sha256:
                    raise AdapterLoadError(f"adapter {name}: {weights} has sha256 {actual[:12]}…, the registry "
                                           f"says {sha256[:12]}…: refusing modified weights")
            else:
                log.warning("adapter %s: %s is not visible here; vLLM loads it unchecked", name, weights)
        with self._load_lock:
            with self._lock:
                if name in self.adapters:  # loaded by another thread meanwhile
                    self.adapters.move_to_end(name)
                    return False
            try:  # an absolute path (as `lora export vllm` writes): vLLM's working directory is not ours
                r = self._post("/v1/load_lora_adapter", load_body(name, Path(path).resolve()))
            except VllmUnavailable as exc:
                raise AdapterLoadError(f"adapter {name}: {exc}") from exc
            fresh = load_outcome(r.status_code, self._body(r), name, self.url)
            with self._lock:
                self.adapters[name] = str(path)
                self.load_count += fresh
                evict = choose_evictions(self.adapters, self.capacity, self._in_flight, keep=name)
            for old in evict:
                try:
                    r = self._post("/v1/unload_lora_adapter", unload_body(old))
                    unload_outcome(r.status_code, self._body(r), old, self.url)
                except VllmError as exc:  # it stays registered (and counted): retried at the next load
                    log.error("evicting %s: %s", old, exc)
                    continue
                with self._lock:
                    self.adapters.pop(old, None)
                    self.evict_count += 1
            return fresh

    def _forget(self, name: str) -> None:
        with self._lock:
            self.adapters.pop(name, None)

    # -- generation --

    @property
    def in_flight(self) -> int:
        return self._submitted

    def _done(self, _future: Future) -> None:
        with self._lock:
            self._submitted -= 1

    def submit(self, job: Job) -> Future:
        """Run the job on vLLM; the future gets a Generation or the error (AdapterLoadError, VllmError)."""
        with self._lock:
            self._submitted += 1
        job.future.add_done_callback(self._done)
        self._pool.submit(self._run, job)
        return job.future

    def submit_many(self, jobs: list[Job]) -> list[Future]:
        """The n choices of a request: separate requests to vLLM, which batches them itself."""
        return [self.submit(job) for job in jobs]

    plain_prompts = False  # /v1/completions is not forwarded to vLLM (yet): the front answers 400

    def _run(self, job: Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        job.queue_ms = (time.perf_counter() - job.enqueued) * 1000
        name = job.adapter.name if job.adapter else None
        self._enter(name)
        try:
            g = self._generate_with_reload(job)
        except Exception as exc:  # noqa: BLE001 - reported to that request only
            log.error("vLLM generation failed: %s", exc)
            job.future.set_exception(exc)
        else:
            with self._lock:
                self.batches += 1
                self.rows += 1
            job.future.set_result(g)
        finally:
            self._leave(name)

    def _enter(self, name: str | None) -> None:
        with self._lock:
            if name:
                self._in_flight[name] = self._in_flight.get(name, 0) + 1
            if self._active == 0:
                self._busy_since = time.perf_counter()
            self._active += 1

    def _leave(self, name: str | None) -> None:
        with self._lock:
            if name:
                self._in_flight[name] -= 1
                if not self._in_flight[name]:
                    del self._in_flight[name]
            self._active -= 1
            if self._active == 0:
                self.busy_s += time.perf_counter() - self._busy_since

    def _generate_with_reload(self, job: Job) -> Generation:
        spec = job.adapter
        if spec is not None:
            self.load_adapter(spec.name, spec.path, spec.sha256)  # usually a dict hit; marks it used
        try:
            return self.generate(job)
        except VllmError as exc:
            if spec is None or not exc.unknown_model:
                raise
        log.warning("vLLM no longer has %s (restarted?): loading it again", spec.name)
        self._forget(spec.name)
        self.load_adapter(spec.name, spec.path, spec.sha256)
        return self.generate(job)

    def generate(self, job: Job) -> Generation:
        """One chat completion on vLLM for this job (streamed to job.on_text when set)."""
        model = job.adapter.name if job.adapter else self.served_model
        body = chat_body(job, model)
        start = time.perf_counter()
        if job.on_text is None:
            r = self._post("/v1/chat/completions", body)
            payload = self._body(r)
            if r.status_code != 200:
                raise chat_error(r.status_code, payload, self.url, model)
            if not isinstance(payload, dict):
                raise VllmError(f"vLLM at {self.url} answered 200 with a non-JSON body: {str(payload)[:200]}")
            return parse_chat_response(payload, (time.perf_counter() - start) * 1000)
        return self._stream(body, model, job.on_text, start)

    def _stream(self, body: dict, model: str, on_text, start: float) -> Generation:
        import httpx

        state = StreamState()
        try:
            with self._http.stream("POST", "/v1/chat/completions", json=body) as r:
                if r.status_code != 200:
                    r.read()
                    raise chat_error(r.status_code, self._body(r), self.url, model)
                state.feed_lines(r.iter_lines(), on_text)
        except httpx.TimeoutException as exc:
            raise VllmUnavailable(f"vLLM at {self.url}: stream timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise VllmUnavailable(f"vLLM at {self.url}: stream failed: {type(exc).__name__}: {exc}") from exc
        return state.result((time.perf_counter() - start) * 1000)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._http.close()

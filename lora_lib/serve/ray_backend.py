"""The HTTP front's side of `lora serve --ray`: a backend with the Engine + Batcher surface that ServerState
uses (like VllmBackend), whose generation runs on the Ray Serve engine deployment (serve/ray_serve.py).

- Routing stays in the front: ServerState.route() reads the registry on every request and picks the
  adapter, exactly as under `lora serve`; only the jobs travel. Each group of jobs that shares a batch
  (one request's n choices, or one prompt) is one call to the engine deployment with
  `multiplexed_model_id` = the adapter's immutable name `<owner>@<version>`, so Ray Serve sends it to a
  replica that already holds that adapter (`@serve.multiplexed` there; "" for the base model: any replica).
- `load_adapter` here checks what the engine would check before loading (the weights file is there, its
  sha256 is the registry's) and remembers the name; the replica loads the weights. So a missing or
  modified adapter fails in routing and falls back to the previous version as under `lora serve`; a
  failure only the replica can see (PEFT refusing the weights) is that request's 503.
- Which replica served a request comes back first on the replica's stream and goes into the response's
  `x-lora-replica` header (ReplicaHeader below; comma-separated when a request's prompts went to
  several). A streamed response's headers wait for that first item only, not for generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import time
from collections import Counter, OrderedDict
from concurrent.futures import Future
from pathlib import Path

from ..engine import AdapterLoadError, Job, check_weights

REPLICA_HEADER = "x-lora-replica"


class _ReplicaNote:
    """The replicas that served one HTTP request, and how many engine calls have not said yet."""

    def __init__(self):
        self.replicas: list[str] = []
        self.pending = 0
        self.settled = asyncio.Event()
        self.settled.set()

    def start(self) -> None:
        self.pending += 1
        self.settled.clear()

    def finish(self, replica: str | None) -> None:
        if replica:
            self.replicas.append(replica)
        self.pending -= 1
        if self.pending <= 0:
            self.settled.set()


_NOTE: contextvars.ContextVar[_ReplicaNote | None] = contextvars.ContextVar("lora_replica_note", default=None)


class ReplicaHeader:
    """ASGI middleware: `x-lora-replica: <replica id>[,<id>...]` on every response that generated text.

    The route handler runs in this middleware's context, so the backend finds the request's note there.
    The response's start waits (at most `wait_s`) until every engine call of the request has named its
    replica: at once for a finished reply; for a stream, the replica's first item, sent before it generates.
    """

    def __init__(self, app, wait_s: float = 60.0):
        self.app, self.wait_s = app, wait_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        note = _ReplicaNote()
        token = _NOTE.set(note)

        async def send_with_replica(message):
            if message["type"] == "http.response.start":
                if note.pending:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(note.settled.wait(), self.wait_s)
                if note.replicas:
                    value = ",".join(dict.fromkeys(note.replicas)).encode()
                    message = {**message, "headers": [*message.get("headers", []), (REPLICA_HEADER.encode(), value)]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_replica)
        finally:
            _NOTE.reset(token)


class RayServeBackends:
    """What the front's ServerState is given instead of an engine: base_model (the default base) and
    backend_for(base) -> (backend, backend), one RayServeBackend per base (serve/backend.py make_pool)."""

    def __init__(self, handle, base_model: str | Path, *, replicas: int, max_adapters_per_replica: int):
        self.handle, self.base_model = handle, str(base_model)
        self.replicas, self.max_adapters_per_replica = replicas, max_adapters_per_replica

    def backend_for(self, base_model: str) -> tuple:
        b = RayServeBackend(self.handle, base_model, capacity=self.replicas * self.max_adapters_per_replica,
                            replicas=self.replicas, max_adapters_per_replica=self.max_adapters_per_replica)
        return b, b


class RemoteError(RuntimeError):
    """Generation failed on an engine replica; the message names the replica and the original error."""


class RayServeBackend:
    """Engine + Batcher surface over the Ray Serve engine deployment (`handle`: its DeploymentHandle).

    One per base: its jobs name `base_model`, which each replica's EnginePool loads. capacity: how many
    adapter names routing keeps as checked (the whole deployment's: replicas x max_adapters_per_replica);
    it also caps ServerState's preload. Counters: batches = engine calls answered, rows = jobs answered,
    busy_s = wall time with at least one call in flight, in_flight = jobs sent and not answered (the
    front's pool never drops a base with jobs in flight).
    """

    plain_prompts = True  # the replicas run the in-process engine: /v1/completions is served

    def __init__(self, handle, base_model: str | Path, *, capacity: int, replicas: int,
                 max_adapters_per_replica: int):
        if capacity < 1:
            raise ValueError(f"adapter capacity must be >= 1, got {capacity}")
        self.handle = handle
        self.base_model = str(base_model)
        self.capacity = capacity
        self.replicas = replicas
        self.max_adapters_per_replica = max_adapters_per_replica
        self.adapters: OrderedDict[str, str] = OrderedDict()  # name -> path: checked here, loaded on replicas
        self.batches = 0
        self.rows = 0
        self.busy_s = 0.0
        self.served_by: Counter[str] = Counter()  # replica id -> engine calls answered
        self._lock = threading.Lock()  # load_adapter runs in a worker thread (ServerState._try_load)
        self._active = 0
        self._busy_since = 0.0
        self.in_flight = 0

    def health(self) -> dict:
        return {"backend": "ray_serve", "engine_replicas": self.replicas,
                "max_adapters_per_replica": self.max_adapters_per_replica,
                "calls_by_replica": dict(self.served_by)}

    @property
    def loaded(self) -> list[str]:
        """The adapter names routing has checked (each replica holds its own LRU subset of them)."""
        with self._lock:
            return list(self.adapters)

    def load_adapter(self, name: str, path: str | Path, sha256: str | None = None) -> bool:
        """The engine's checks before a load, here where routing can still fall back (True if new)."""
        with self._lock:
            if name in self.adapters:
                self.adapters.move_to_end(name)
                return False
        check_weights(name, path, sha256)
        with self._lock:
            self.adapters[name] = str(path)
            while len(self.adapters) > self.capacity:
                self.adapters.popitem(last=False)
        return True

    def ensure(self, spec) -> None:
        if spec is not None:
            self.load_adapter(spec.name, spec.path, spec.sha256)

    # -- the Batcher side --

    def submit(self, job: Job) -> Future:
        return self.submit_many([job])[0]

    def submit_many(self, jobs: list[Job]) -> list[Future]:
        """One engine call for `jobs` (they share a batch on the replica). Called on the front's event loop."""
        names = {j.adapter.name if j.adapter else None for j in jobs}
        if len(names) != 1:
            raise ValueError(f"jobs of one call must share an adapter, got {sorted(map(str, names))}")
        loop = asyncio.get_running_loop()
        note = _NOTE.get()
        if note is not None:
            note.start()
        loop.create_task(self._call(jobs, note))
        return [j.future for j in jobs]

    def close(self) -> None:
        """Nothing to stop here: the engine deployment belongs to the Serve application."""

    async def _call(self, jobs: list[Job], note: _ReplicaNote | None) -> None:
        spec = jobs[0].adapter
        payload = {"base_model": self.base_model, "adapter": spec,
                   "jobs": [{"messages": j.messages, "max_new_tokens": j.max_new_tokens, "ignore_eos": j.ignore_eos,
                             "sampling": j.sampling, "stream": j.on_text is not None} for j in jobs]}
        replica = None
        self._begin(len(jobs))
        try:
            call = self.handle.options(stream=True, multiplexed_model_id=spec.name if spec else "")
            async for item in call.generate.remote(payload):
                kind = item[0]
                if kind == "replica":
                    replica = item[1]
                    if note is not None:
                        note.finish(replica)
                        note = None
                elif kind == "text":
                    _, index, args = item
                    jobs[index].on_text(*args)
                elif kind == "done":
                    _, gens, queue_ms = item
                    with self._lock:
                        self.batches += 1
                        self.rows += len(jobs)
                        self.served_by[replica] += 1
                    for job, g, q in zip(jobs, gens, queue_ms, strict=True):
                        job.queue_ms = q
                        job.future.set_result(g)
                elif kind == "error":
                    _, type_name, message, load_error = item
                    cls = AdapterLoadError if load_error else RemoteError
                    raise cls(f"on replica {replica}: {type_name}: {message}")
            if not all(j.future.done() for j in jobs):
                raise RemoteError(f"replica {replica} ended the call without a result")
        except Exception as exc:  # noqa: BLE001 - the request's futures carry it to the route (503/500)
            for j in jobs:
                if not j.future.done():
                    j.future.set_exception(exc)
        finally:
            if note is not None:
                note.finish(replica)
            self._end(len(jobs))

    def _begin(self, jobs: int) -> None:
        with self._lock:
            if self._active == 0:
                self._busy_since = time.perf_counter()
            self._active += 1
            self.in_flight += jobs

    def _end(self, jobs: int) -> None:
        with self._lock:
            self._active -= 1
            self.in_flight -= jobs
            if self._active == 0:
                self.busy_s += time.perf_counter() - self._busy_since

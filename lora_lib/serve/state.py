"""The server state: the bases and their backends (serve/bases.py: in-process Engine + Batcher per base, or
a vLLM server per base), the registry, per-request routing with load fallback, the request and error logs,
metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..engine import WEIGHTS_FILE, AdapterLoadError, AdapterSpec, BaseLoadError, Engine, Lease
from ..registry import Registry, adapter_name
from ..requestlog import append_request_log, user_ref
from .bases import Bases
from .config import ServeConfig
from .router import NEVER_SERVED, Resolution, resolve
from .schema import APIError

log = logging.getLogger("lora_lib.serve.api")  # the server's logger, as before the split


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _adapter_spec(store: Path, owner: str, version: str, row: dict) -> AdapterSpec:
    """The adapter's spec; its registered directory, or where this store keeps it when that one is gone (a
    moved store: `<store>/adapters/<owner>/<version>`, as train writes it). The engine checks the weights'
    sha256 against the registry's at load, so a file found this way is served only if it is the same."""
    path = Path(row["path"])
    if not (path / WEIGHTS_FILE).is_file():
        here = store / "adapters" / owner / version
        if (here / WEIGHTS_FILE).is_file():
            path = here
    return AdapterSpec(adapter_name(owner, version), str(path), row["sha256"])


@dataclass
class _Served:
    """How one request is served: the router's answer, the adapter to use, and why if it differs; the held
    backend of its base (release() once the jobs are submitted)."""

    res: Resolution
    spec: AdapterSpec | None
    owner: str | None
    version: str | None
    group: str
    lease: Lease
    fallback: str | None = None

    @property
    def model_name(self) -> str:
        return adapter_name(self.owner, self.version) if self.version else adapter_name(self.res.character_id, None)

    @property
    def batcher(self):
        return self.lease.batcher

    @property
    def base_model(self) -> str:
        return self.lease.engine.base_model

    def release(self) -> None:
        self.lease.release()


class _Reads:
    """The registry reads of one resolution, each made once: resolve() reads the adapter row that the
    spec lookup needs next (one query fewer per request: a round trip each on PostgreSQL). Made fresh
    for every resolution, so nothing is cached across requests."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self._routes: dict[str, dict | None] = {}
        self._adapters: dict[tuple[str, str], dict | None] = {}

    def get_route(self, character_id: str) -> dict | None:
        if character_id not in self._routes:
            self._routes[character_id] = self.registry.get_route(character_id)
        return self._routes[character_id]

    def get_adapter(self, character_id: str, version: str) -> dict | None:
        key = (character_id, version)
        if key not in self._adapters:
            self._adapters[key] = self.registry.get_adapter(character_id, version)
        return self._adapters[key]


class ServerState:
    def __init__(self, config: ServeConfig, engine: Engine | None = None):
        """`engine` (tests, benchmarks) serves its base, shared with the caller; other bases load on demand."""
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.config = config
        s = config.serve
        self.registry = Registry(config.registry_url)
        self.bases = Bases(config, engine)
        self.pool = self.bases.pool
        self.request_log = config.log_path(s.request_log)
        self.error_log = config.log_path(s.error_log)
        self.feedback_log = config.log_path(s.feedback_log)
        self.failed: dict[str, tuple[float, str]] = {}  # adapter name -> (when, error) of its last failed load
        self.last_good: dict[str, tuple[str, str]] = {}  # character -> (owner, version) last served
        self.recent: OrderedDict[str, dict] = OrderedDict()  # request_id -> feedback fields
        self.prom = CollectorRegistry()
        self.m_requests = Counter("lora_requests", "Chat completions by adapter and outcome",
                                  ["character", "adapter", "group", "status"], registry=self.prom)
        self.m_latency = Histogram("lora_request_latency_seconds", "Chat completion latency",
                                   ["character", "adapter"], registry=self.prom,
                                   buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.m_tokens = Counter("lora_completion_tokens", "Completion tokens by adapter", ["adapter"],
                                registry=self.prom)
        self.m_load_fail = Counter("lora_adapter_load_failures", "Failed adapter loads", ["adapter"],
                                   registry=self.prom)
        self.m_loaded = Gauge("lora_loaded_adapters", "Adapters in the engines' caches (all bases)",
                              registry=self.prom)
        self.m_loaded.set_function(lambda: sum(len(b["adapters"]) for b in self.pool.loaded_bases()))
        self.prom.register(self.bases.collector())
        self.preloaded = self._preload()

    @property
    def default_base(self) -> str:
        return self.bases.default

    @property
    def plain_prompts(self) -> bool:
        """Whether /v1/completions is served: the in-process engine only (not forwarded to vLLM yet)."""
        return not self.bases.vllm

    def _preload(self) -> list[str]:
        """Load the routed stable (then candidate) adapters at start, on their bases, up to serve.max_bases
        bases and each engine's capacity, so the first requests do not pay for loading; a failure here is
        logged and retried on demand."""
        routed = []
        for side in ("stable", "candidate"):
            for route in self.registry.list_routes():
                v = route[f"{side}_version"]
                row = self.registry.get_adapter(route["character_id"], v) if v else None
                if row is not None and row["status"] not in NEVER_SERVED:
                    spec = _adapter_spec(self.config.store, route["character_id"], v, row)
                    routed.append((row["base_model"], row.get("base_id"), spec))
        return self.bases.preload(routed)

    # -- routing and loading --

    def known(self, character_id: str) -> bool:
        return character_id in self.config.characters or self.registry.get_route(character_id) is not None

    def _spec(self, owner: str, version: str, reads: _Reads | None = None) -> tuple[AdapterSpec, dict] | None:
        row = (reads or self.registry).get_adapter(owner, version)
        if row is None or row["status"] in NEVER_SERVED:
            return None
        return _adapter_spec(self.config.store, owner, version, row), row

    async def _try_load(self, engine, spec: AdapterSpec) -> str | None:
        """None if loaded, else the error (a recent failure is not retried before load_retry_s)."""
        if spec.name in engine.adapters:  # loaded: no thread hop, and no wait on the engine lock,
            return None                   # which a running batch holds (the batcher re-checks)
        failed = self.failed.get(spec.name)
        if failed and time.monotonic() - failed[0] < self.config.serve.load_retry_s:
            return failed[1]
        try:
            await asyncio.to_thread(engine.load_adapter, spec.name, spec.path, spec.sha256)
        except AdapterLoadError as exc:
            self.failed[spec.name] = (time.monotonic(), str(exc))
            self.m_load_fail.labels(spec.name).inc()
            log.error("%s", exc)
            self._log_error(None, "adapter_load", None, "adapter_load_failed", str(exc), spec.name)
            return str(exc)
        self.failed.pop(spec.name, None)
        return None

    async def _prepare(self, base_model: str | None, base_id: str | None,
                       spec: AdapterSpec | None) -> tuple[Lease | None, str | None]:
        """(the held backend of the base with the adapter loaded, None), or (None, why not): "base: ..." when
        the base cannot be loaded, else the adapter's load error."""
        try:
            lease = await self.bases.acquire(base_model, base_id)
        except BaseLoadError as exc:
            log.error("%s", exc)
            return None, f"base: {exc}"
        if spec is None:
            return lease, None
        error = await self._try_load(lease.engine, spec)
        if error is not None:
            lease.release()
            return None, error
        return lease, None

    async def route(self, character_id: str, user_key: str) -> _Served:
        """How to serve this request; the caller must release() the result once its jobs are submitted.
        The engine is the one of the resolved version's base (its adapter row's), loaded on demand."""
        info = self.config.characters.get(character_id)
        # One read of each row: the spec is built from the very row resolve() found servable, so a
        # status change committed in between cannot leave a routed version without a spec (seen in
        # the soak when the two were separate reads).
        reads = _Reads(self.registry)
        res = resolve(reads, character_id, user_key, category=info.category if info else None,
                      default_base_model=self.default_base)
        if res.adapter_version is None:
            lease, error = await self._prepare(res.base_model, None, None)
            if lease is None:
                raise APIError(503, f"the base model of {character_id!r} cannot be loaded: {error[6:]}",
                               type="server_error", code="base_unavailable")
            return _Served(res, None, None, None, "base", lease)
        found = self._spec(res.route_owner, res.adapter_version, reads)
        spec = found[0] if found else None
        lease, error = await self._prepare(res.base_model, res.base_id, spec) if spec else (None, "not servable")
        if lease is not None:
            self.last_good[character_id] = (res.route_owner, res.adapter_version)
            return _Served(res, spec, res.route_owner, res.adapter_version, res.group, lease)
        # The routed version cannot load: keep serving what served before (candidate -> stable first).
        fallbacks = []
        if res.group == "candidate":
            route = self.registry.get_route(res.route_owner)
            if route and route["stable_version"]:
                fallbacks.append((res.route_owner, route["stable_version"], "stable"))
        if character_id in self.last_good:
            fallbacks.append((*self.last_good[character_id], "stable"))
        routed = adapter_name(res.route_owner, res.adapter_version)
        for owner, version, group in fallbacks:
            fb = self._spec(owner, version)
            if fb and fb[0].name != routed:
                fb_lease, _ = await self._prepare(fb[1]["base_model"], fb[1].get("base_id"), fb[0])
                if fb_lease is not None:
                    return _Served(res, fb[0], owner, version, group, fb_lease, fallback=f"load_failed:{routed}")
        if error.startswith("base: "):
            raise APIError(503, f"the base model of adapter {routed} cannot be loaded and no previous version is "
                                f"available: {error[6:]}", type="server_error", code="base_unavailable")
        raise APIError(503, f"adapter {routed} cannot be loaded and no "
                            f"previous version is available: {error}", type="server_error",
                       code="adapter_unavailable")

    # -- logs --

    def _log_error(self, request_id: str | None, path: str, status: int | None, code: str | None, message: str,
                   adapter: str | None = None, character_id: str | None = None, group: str | None = None,
                   user: str | None = None) -> None:
        append_request_log(self.error_log, {
            "ts": _now(), "request_id": request_id, "path": path, "http_status": status, "error_code": code,
            "message": message[:2000], "character_id": character_id, "adapter": adapter, "group": group,
            "user_ref": None if user is None else user_ref(user)})

    def log_request(self, record: dict) -> None:
        append_request_log(self.request_log, record)
        self.recent[record["request_id"]] = {k: record[k] for k in ("character_id", "adapter_version", "adapter",
                                                                    "group", "user_ref")}
        while len(self.recent) > 100_000:
            self.recent.popitem(last=False)
        labels = (record["character_id"], record["adapter"])
        if not record.get("choice_index"):  # a request with n choices (or prompts) is one request
            self.m_requests.labels(*labels, record["group"], "ok").inc()
            self.m_latency.labels(*labels).observe(record["latency_ms"] / 1000)
        self.m_tokens.labels(record["adapter"]).inc(record["completion_tokens"])

    def find_request(self, request_id: str) -> dict | None:
        if request_id in self.recent:
            return self.recent[request_id]
        if self.request_log.is_file():  # an older completion (or before a restart): scan the log
            with open(self.request_log, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if request_id in line:
                        with contextlib.suppress(json.JSONDecodeError):
                            r = json.loads(line)
                            if r.get("request_id") == request_id:
                                return {k: r.get(k) for k in ("character_id", "adapter_version", "adapter",
                                                              "group", "user_ref")}
        return None

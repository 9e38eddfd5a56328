"""The bases one server serves: the per-base backends (an EnginePool), where a registered base is found,
preloading, and what /healthz and /metrics say about them.

A request's base is its adapter row's (the router's Resolution.base_model / base_id), or the server's
default base (`base_model` in params, or the given engine's) for a character with no route. A registered
path that is gone (a moved store) is looked for by identity among the default base, serve.base_models,
the bases already loaded and the paths in serve.vllm_urls.
"""

from __future__ import annotations

import asyncio
import logging

from ..engine import AdapterLoadError, AdapterSpec, BaseLoadError, Engine, Lease
from ..models.identity import find_base, known_identity
from .backend import make_pool
from .config import ServeConfig

log = logging.getLogger("lora_lib.serve.api")


class Bases:
    def __init__(self, config: ServeConfig, engine: Engine | None = None):
        self.config = config
        self.pool = make_pool(config, engine)
        self.default = engine.base_model if engine is not None else config.base_model
        self.vllm = engine is None and config.serve.backend == "vllm"
        self._located: dict[tuple[str, str | None], str] = {}

    def candidates(self) -> list[str]:
        s = self.config.serve
        urls = [k for k in s.vllm_urls if not k.startswith(("sha256:", "hub:"))]
        return [self.default, *s.base_models, *self.pool.base_paths(), *urls]

    def locate(self, base_model: str | None, base_id: str | None) -> str:
        """The path (or hub id) to load the base registered as (base_model, base_id) from; BaseLoadError
        when it is not at that path and no known base has that identity. Remembered per (base_model, base_id):
        finding it stats (and the first time hashes) the base's files, which a request should not pay for;
        a remembered place that fails to load is forgotten (acquire)."""
        if base_model is None:
            return self.default
        key = (base_model, base_id)
        if (where := self._located.get(key)) is None:
            where = self._located[key] = self._find(base_model, base_id)
        return where

    def _find(self, base_model: str, base_id: str | None) -> str:
        where = find_base(base_model, base_id, [])  # where it was registered (the common case: no list to build)
        if where is not None:
            return where
        candidates = self.candidates()
        here = known_identity(base_model)
        if base_model in candidates and here is None:
            return base_model  # not here but configured as it is: its files live elsewhere (a vLLM host's)
        where = find_base(base_model, base_id, candidates)
        if where is not None:
            return where
        if base_id is None:
            raise BaseLoadError(f"base {base_model} is not here and its identity was never recorded (a registry "
                                "row from before base_id): register the adapter again where its base is")
        why = f"{base_model} now holds another base ({here})" if here else f"{base_model} is gone"
        raise BaseLoadError(f"base {base_id} cannot be found: {why}, and none of the default base, "
                            "serve.base_models or the loaded bases has that identity (add its new path to "
                            "serve.base_models)")

    async def acquire(self, base_model: str | None, base_id: str | None) -> Lease:
        """The held backend of that base (loaded on demand); BaseLoadError if it cannot be. In a thread, with
        the lookup: a base's identity hashes its weights the first time (seconds for a large base)."""
        def held() -> Lease:
            where = self.locate(base_model, base_id)
            try:
                return self.pool.acquire(where)
            except BaseLoadError:
                self._located.pop((base_model, base_id), None)  # moved since: look again next time
                raise
        return await asyncio.to_thread(held)

    def preload(self, routed: list[tuple[str | None, str | None, AdapterSpec]]) -> list[str]:
        """Load the bases of the routed (base, base_id, adapter) triples in order, at most serve.max_bases of
        them, with up to each engine's capacity of their adapters; a failure is logged (retried on demand).
        Stops at the first eviction: preloading more than fits would only throw away what it loaded."""
        by_base: dict[str, list[AdapterSpec]] = {}
        for base, base_id, spec in routed:
            try:
                where = self.locate(base, base_id)
            except BaseLoadError as exc:
                log.error("preload %s: %s", spec.name, exc)
                continue
            by_base.setdefault(where, []).append(spec)
        loaded = []
        for where, specs in list(by_base.items())[: self.pool.max_bases]:
            evictions = self.pool.evict_count
            try:
                lease = self.pool.acquire(where)
            except BaseLoadError as exc:
                log.error("preload: %s", exc)
                continue
            if self.pool.evict_count != evictions:
                lease.release()
                break
            with lease:
                for spec in specs[: lease.engine.capacity]:
                    try:
                        lease.engine.load_adapter(spec.name, spec.path, spec.sha256)
                        loaded.append(spec.name)
                    except AdapterLoadError as exc:
                        log.error("preload: %s", exc)
        return loaded

    # -- what the server reports --

    def health(self) -> dict:
        bases, totals = [], {"batches": 0, "batched_rows": 0, "engine_busy_s": 0.0}
        slots = {key: (engine, batcher) for key, engine, batcher in self.pool.slots()}
        for b in self.pool.loaded_bases():
            engine, batcher = slots.get(b["base_id"], (None, None))
            if batcher is None:  # evicted between the two reads
                continue
            extra = engine.health() if hasattr(engine, "health") else {}
            bases.append({k: b[k] for k in ("base_model", "base_id", "memory_mb", "in_flight", "adapters", "pinned")}
                         | extra)
            totals["batches"] += batcher.batches
            totals["batched_rows"] += batcher.rows
            totals["engine_busy_s"] += batcher.busy_s
        s = self.config.serve
        backend = ({"backend": "vllm", "vllm_url": s.vllm_url, "vllm_urls": dict(s.vllm_urls),
                    "vllm_tested": _vllm_tested()} if self.vllm else {"backend": "engine"})
        return {"base_model": self.default, "bases": bases, "max_bases": self.pool.max_bases,
                "base_memory_mb": self.pool.base_memory_mb, "bases_memory_mb": round(self.pool.memory_mb(), 3),
                "base_loads": self.pool.load_count, "base_evictions": self.pool.evict_count,
                "loaded_adapters": [a for b in bases for a in b["adapters"]],
                **totals, "engine_busy_s": round(totals["engine_busy_s"], 3), **backend}

    def collector(self):
        """A Prometheus collector: loaded bases with their memory and adapters, loads and evictions."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        pool = self.pool

        class _Collector:
            def collect(self):
                bases = pool.loaded_bases()
                mem = GaugeMetricFamily("lora_base_memory_mib", "Parameter + buffer MiB of each loaded base",
                                        labels=["base_id", "base_model"])
                adapters = GaugeMetricFamily("lora_base_loaded_adapters", "Adapters loaded on each base",
                                             labels=["base_id", "base_model"])
                for b in bases:
                    mem.add_metric([b["base_id"], b["base_model"]], b["memory_mb"])
                    adapters.add_metric([b["base_id"], b["base_model"]], len(b["adapters"]))
                yield GaugeMetricFamily("lora_loaded_bases", "Bases loaded now", value=len(bases))
                yield mem
                yield adapters
                yield CounterMetricFamily("lora_base_loads", "Base models loaded", value=pool.load_count)
                yield CounterMetricFamily("lora_base_evictions", "Base models evicted (LRU)", value=pool.evict_count)

        return _Collector()


def _vllm_tested() -> bool:
    from .vllm_backend import VLLM_TESTED

    return VLLM_TESTED

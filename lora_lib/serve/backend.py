"""The generation backends the server talks to, one per base, chosen by `serve.backend`: the in-process
Engine behind a Batcher, or a vLLM server per base (VllmBackend, which is both), held in an EnginePool.
The front uses only their common surface: of an Engine base_model, adapters, loaded, capacity,
load_adapter; of a Batcher submit, submit_many, close, batches, rows, busy_s, in_flight (and health()
where the backend has one)."""

from __future__ import annotations

from ..engine import BaseLoadError, Batcher, Engine, EnginePool
from ..models.identity import known_identity, same_base
from .config import ServeConfig


def batcher_kwargs(config: ServeConfig) -> dict:
    s = config.serve
    return {"max_batch": s.max_batch, "wait_ms": s.batch_wait_ms, "mixed": s.mixed_batches}


def make_pool(config: ServeConfig, engine: Engine | None = None) -> EnginePool:
    """The pool of per-base backends for `config`. A given `engine` (tests, benchmarks) serves its base
    in-process whatever serve.backend says (pinned: never evicted); other bases load on demand. A given
    factory with backend_for(base) -> (engine, batcher) (serve/ray_backend.py) makes every base's backend."""
    s = config.serve
    if engine is not None and hasattr(engine, "backend_for"):  # `lora serve --ray`: per base, jobs go to Ray Serve
        return EnginePool(s.max_bases, None, capacity=s.adapter_cache, loader=engine.backend_for)
    if engine is None and s.backend == "vllm":
        # vLLM servers hold the weights, not this process: no memory bound here, and one slot per URL.
        return EnginePool(max(s.max_bases, 1 + len(s.vllm_urls)), None, capacity=s.adapter_cache,
                          loader=lambda base: _vllm_backend(config, base))
    pool = EnginePool(s.max_bases, s.base_memory_mb, capacity=s.adapter_cache, batched_lora=s.batched_lora,
                      batcher_kwargs=batcher_kwargs(config))
    if engine is not None:
        pool.add(engine, Batcher(engine, **batcher_kwargs(config)), pinned=True)
    return pool


def vllm_url_for(config: ServeConfig, base_model: str) -> str | None:
    """The vLLM server of `base_model`: serve.vllm_url for the default base, else the serve.vllm_urls entry
    named by the same path or hub id, the same files, or its identity ("sha256:...", "hub:...")."""
    s = config.serve
    if s.vllm_url and same_base(base_model, config.base_model):
        return s.vllm_url
    ident = known_identity(base_model)
    for key, url in s.vllm_urls.items():
        if key in (base_model, ident) or (not key.startswith(("sha256:", "hub:")) and same_base(key, base_model)):
            return url
    return None


def _vllm_backend(config: ServeConfig, base_model: str):
    # Generation on a vLLM server (untested: no GPU so far); it is both the engine and the batcher.
    from .vllm_backend import VllmBackend

    s = config.serve
    url = vllm_url_for(config, base_model)
    if url is None:
        raise BaseLoadError(f"base {base_model} ({known_identity(base_model)}): no vLLM server for it: name its "
                            "path or identity in serve.vllm_urls")
    default = same_base(base_model, config.base_model)
    backend = VllmBackend(base_model, url, served_model=s.vllm_model if default else None,
                          capacity=s.adapter_cache, timeout_s=s.vllm_timeout_s,
                          max_concurrency=s.vllm_max_concurrency)
    return backend, backend

"""The generation backend the server talks to, chosen by `serve.backend`: the in-process Engine behind a
Batcher, or a vLLM server (VllmBackend, which is both). The front uses only their common surface: of
an Engine base_model, adapters, loaded, capacity, load_adapter; of a Batcher submit, close, batches,
rows, busy_s (and health() where the backend has one)."""

from __future__ import annotations

from ..engine import Batcher, Engine
from .config import ServeConfig


def make_backend(config: ServeConfig, engine: Engine | None = None) -> tuple:
    """(engine, batcher) for `config`; a given `engine` (tests, benchmarks) is used in-process whatever
    serve.backend says, and a given backend that batches itself (has submit: `lora serve --ray`'s) as both."""
    s = config.serve
    if engine is not None and hasattr(engine, "submit"):  # a backend that is its own batcher (serve/ray_backend.py)
        return engine, engine
    if engine is None and s.backend == "vllm":
        # Generation on a vLLM server (untested: no GPU so far); it is both the engine and the batcher.
        from .vllm_backend import VllmBackend

        backend = VllmBackend(config.base_model, s.vllm_url, served_model=s.vllm_model,
                              capacity=s.adapter_cache, timeout_s=s.vllm_timeout_s,
                              max_concurrency=s.vllm_max_concurrency)
        return backend, backend
    engine = engine or Engine(config.base_model, capacity=s.adapter_cache, batched_lora=s.batched_lora)
    return engine, Batcher(engine, max_batch=s.max_batch, wait_ms=s.batch_wait_ms, mixed=s.mixed_batches)

"""EnginePool: one loaded Engine (and its Batcher) per base model, keyed by what the base is.

A server that routes characters to several bases keeps one loaded model per base. The pool loads a
base on first use, keys it by `models.identity.base_identity` (so two paths of one base share one
engine), and bounds what stays loaded: at most `max_bases` bases and at most `base_memory_mb` of
base weights (parameter + buffer bytes of the loaded model; adapters are bounded separately by each
engine's adapter cache). Loading another base when either bound would be exceeded first evicts the
least recently used base with nothing in flight; a base larger than the memory bound on its own is
refused before it is loaded (estimated from its safetensors headers) or right after (measured).

Thread-safe. One base loads at a time (memory accounting stays exact); bases already loaded are
served meanwhile. A base with requests queued or running is never evicted: `acquire` holds it until
the caller's jobs are submitted (the batcher's in-flight count covers them from then on); `get` is
acquire + release for callers that submit at once.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..models.identity import base_identity

log = logging.getLogger("lora_lib.engine")
MB = 2**20


class BaseLoadError(RuntimeError):
    """A base model cannot be loaded (or cannot be made room for); the message says why."""


@dataclass
class _Slot:
    key: str
    base_model: str
    engine: object
    batcher: object
    memory_mb: float
    holds: int = 0
    pinned: bool = False  # added by its owner (add(..., pinned=True)): never evicted
    loaded_at: float = field(default_factory=time.time)

    def busy(self) -> bool:
        return self.pinned or self.holds > 0 or getattr(self.batcher, "in_flight", 0) > 0


class Lease:
    """A held base: `engine`, `batcher`; not evicted until `release()` (or the `with` block ends)."""

    def __init__(self, pool: EnginePool, slot: _Slot):
        self._pool, self._slot, self._released = pool, slot, False
        self.engine, self.batcher, self.base_id = slot.engine, slot.batcher, slot.key

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._pool._release(self._slot)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def model_memory_mb(model) -> float:
    """Parameter + buffer bytes of a loaded torch model in MiB (tied weights counted once); 0 without one."""
    if model is None:
        return 0.0
    seen: dict[int, int] = {}
    for t in [*model.parameters(), *model.buffers()]:
        seen[t.data_ptr()] = max(seen.get(t.data_ptr(), 0), t.numel() * t.element_size())
    return sum(seen.values()) / MB


def estimate_memory_mb(base_model: str, bytes_per_param: int = 4) -> float | None:
    """The parameter bytes a local base will take once loaded (float32 by default), from its safetensors
    headers without reading the weights; None for a hub id or a directory without safetensors."""
    from safetensors import safe_open

    path = Path(base_model).expanduser()
    files = sorted(path.glob("*.safetensors")) if path.is_dir() else []
    if not files:
        return None
    numel = 0
    for f in files:
        with safe_open(str(f), framework="pt") as st:
            for name in st.keys():  # noqa: SIM118 - safe_open is not a mapping
                n = 1
                for d in st.get_slice(name).get_shape():
                    n *= d
                numel += n
    return numel * bytes_per_param / MB


class EnginePool:
    def __init__(self, max_bases: int = 2, base_memory_mb: float | None = None, *, capacity: int = 8,
                 batched_lora: bool = True, batcher_kwargs: dict | None = None,
                 loader: Callable[[str], tuple] | None = None, wait_s: float = 30.0, retry_s: float = 30.0):
        """max_bases / base_memory_mb: the bounds (None: no memory bound). capacity, batched_lora: each
        Engine's adapter cache and mixed-batch kernel; batcher_kwargs: each Batcher's (max_batch, wait_ms,
        mixed). loader(base_model) -> (engine, batcher) replaces the in-process Engine + Batcher (the vLLM
        backend). wait_s: how long a load waits for a busy base to become evictable before refusing;
        retry_s: a base that failed to load is not tried again before this (a load can take minutes)."""
        if max_bases < 1:
            raise ValueError(f"max_bases must be >= 1, got {max_bases}")
        if base_memory_mb is not None and base_memory_mb <= 0:
            raise ValueError(f"base_memory_mb must be > 0 or None, got {base_memory_mb}")
        self.max_bases, self.base_memory_mb = max_bases, base_memory_mb
        self.capacity, self.batched_lora = capacity, batched_lora
        self.batcher_kwargs = dict(batcher_kwargs or {})
        self.wait_s, self.retry_s = wait_s, retry_s
        self._loader = loader or self._load_engine
        self._slots: OrderedDict[str, _Slot] = OrderedDict()  # least recently used first
        self._cond = threading.Condition()
        self._load_lock = threading.Lock()
        self._failed: dict[str, tuple[float, str]] = {}
        self._closed = False
        self.load_count = 0
        self.evict_count = 0

    # -- public --

    def get(self, base_model: str) -> tuple:
        """(engine, batcher) of `base_model`, loaded on demand; BaseLoadError if it cannot be."""
        lease = self.acquire(base_model)
        lease.release()
        return lease.engine, lease.batcher

    def acquire(self, base_model: str) -> Lease:
        """Like get, but the base is held (never evicted) until the lease is released."""
        key = base_identity(base_model)
        slot = self._hold(key)
        if slot is not None:
            return Lease(self, slot)
        with self._load_lock:
            slot = self._hold(key)  # loaded by another thread while this one waited
            if slot is None:
                slot = self._load(key, str(base_model))
        return Lease(self, slot)

    def add(self, engine, batcher, *, pinned: bool = False) -> str:
        """Serve an engine built elsewhere (tests, benchmarks) as its base's engine; returns the base id.
        It counts against the bounds like a loaded one; pinned, it is never evicted (its owner shares it)."""
        key = base_identity(engine.base_model)
        with self._load_lock:
            with self._cond:
                if key in self._slots:
                    raise ValueError(f"base {engine.base_model} ({key}) is already in the pool")
            slot = _Slot(key, str(engine.base_model), engine, batcher, model_memory_mb(getattr(engine, "model", None)),
                         pinned=pinned)
            self._admit(slot)
        return key

    def loaded_bases(self) -> list[dict]:
        """The loaded bases, least recently used first: base_model (the path it was loaded from), base_id,
        memory_mb, in_flight (queued or running jobs), adapters (loaded adapter names), pinned, loaded_at."""
        with self._cond:
            slots = [(s, s.engine, s.batcher) for s in self._slots.values()]
        # engine.adapters, not engine.loaded: that waits for the engine's lock, which a running batch holds.
        # list() of it is one C call under the GIL, so it never sees a half-made change.
        return [{"base_model": s.base_model, "base_id": s.key, "memory_mb": round(s.memory_mb, 3),
                 "in_flight": getattr(batcher, "in_flight", 0) + s.holds, "adapters": list(engine.adapters),
                 "pinned": s.pinned, "loaded_at": s.loaded_at} for s, engine, batcher in slots]

    def base_paths(self) -> list[str]:
        """The paths (or hub ids) the loaded bases were loaded from, least recently used first."""
        with self._cond:
            return [s.base_model for s in self._slots.values()]

    def slots(self) -> list[tuple[str, object, object]]:
        """(base_id, engine, batcher) of each loaded base, least recently used first (for health and metrics;
        does not mark them used)."""
        with self._cond:
            return [(s.key, s.engine, s.batcher) for s in self._slots.values()]

    def memory_mb(self) -> float:
        with self._cond:
            return sum(s.memory_mb for s in self._slots.values())

    def close(self) -> None:
        """Close every batcher (waits for the jobs they hold) and drop the engines."""
        with self._cond:
            self._closed = True
            slots = list(self._slots.values())
            self._slots.clear()
        for s in slots:
            s.batcher.close()
        gc.collect()

    # -- internals --

    def _hold(self, key: str) -> _Slot | None:
        with self._cond:
            if self._closed:
                raise BaseLoadError("the engine pool is closed")
            slot = self._slots.get(key)
            if slot is not None:
                slot.holds += 1
                self._slots.move_to_end(key)
            return slot

    def _release(self, slot: _Slot) -> None:
        with self._cond:
            slot.holds -= 1
            self._cond.notify_all()

    def _load_engine(self, base_model: str) -> tuple:
        from .batcher import Batcher
        from .engine import Engine

        engine = Engine(base_model, capacity=self.capacity, batched_lora=self.batched_lora)
        return engine, Batcher(engine, **self.batcher_kwargs)

    def _load(self, key: str, base_model: str) -> _Slot:
        """Load `base_model` under the load lock: refuse what can never fit, make room, load, measure.
        A base that cannot be loaded or is too big is remembered for retry_s; "no room now" is not."""
        failed = self._failed.get(key)
        if failed and time.monotonic() - failed[0] < self.retry_s:
            raise BaseLoadError(failed[1])
        estimate = estimate_memory_mb(base_model)
        self._remembered(key, self._check_fits_alone, base_model, estimate, "estimated from its safetensors")
        self._make_room(estimate or 0.0, base_model)
        t0 = time.perf_counter()
        engine, batcher = self._remembered(key, self._loader, base_model)
        memory = model_memory_mb(getattr(engine, "model", None))
        slot = _Slot(key, base_model, engine, batcher, memory, holds=1)
        try:
            self._remembered(key, self._check_fits_alone, base_model, memory, "measured after loading")
            self._admit(slot)
        except BaseLoadError:
            batcher.close()
            raise
        log.info("loaded base %s (%s): %.1f MiB in %.1f s", base_model, key, memory, time.perf_counter() - t0)
        self._failed.pop(key, None)
        self.load_count += 1
        return slot

    def _remembered(self, key: str, fn, base_model: str, *args):
        """fn(base_model, *args); its failure becomes a BaseLoadError that is remembered for retry_s."""
        try:
            return fn(base_model, *args)
        except Exception as exc:  # noqa: BLE001 - transformers/vLLM raise many types; the caller needs one
            err = exc if isinstance(exc, BaseLoadError) else BaseLoadError(
                f"base {base_model}: cannot be loaded: {type(exc).__name__}: {exc}")
            self._failed[key] = (time.monotonic(), str(err))
            raise err from exc

    def _check_fits_alone(self, base_model: str, mb: float | None, how: str) -> None:
        if self.base_memory_mb is not None and mb is not None and mb > self.base_memory_mb:
            raise BaseLoadError(f"base {base_model} needs {mb:.1f} MiB ({how}), more than "
                                f"serve.base_memory_mb={self.base_memory_mb:g} on its own")

    def _admit(self, slot: _Slot) -> None:
        """Insert a loaded slot, evicting idle bases until both bounds hold (the estimate may be low)."""
        self._make_room(slot.memory_mb, slot.base_model)
        with self._cond:
            self._slots[slot.key] = slot

    def _make_room(self, need_mb: float, base_model: str) -> None:
        """Evict least recently used idle bases until one more base of `need_mb` fits both bounds; waits
        up to wait_s for a busy base to become idle, then refuses with BaseLoadError."""
        deadline = time.monotonic() + self.wait_s
        while True:
            with self._cond:
                count = len(self._slots)
                used = sum(s.memory_mb for s in self._slots.values())
                fits = count + 1 <= self.max_bases and (
                    self.base_memory_mb is None or used + need_mb <= self.base_memory_mb)
                if fits:
                    return
                victim = next((s for s in self._slots.values() if not s.busy()), None)
                if victim is None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        busy = ", ".join(f"{s.base_model} ({getattr(s.batcher, 'in_flight', 0) + s.holds} "
                                         "in flight)" for s in self._slots.values())
                        raise BaseLoadError(
                            f"base {base_model}: no room: {count} base(s) loaded ({used:.1f} MiB; bounds "
                            f"serve.max_bases={self.max_bases}, serve.base_memory_mb={self.base_memory_mb}) and "
                            f"every one is busy after {self.wait_s:g} s: {busy}")
                    self._cond.wait(timeout=min(left, 0.05))
                    continue
                del self._slots[victim.key]
            self._evict(victim, base_model)

    def _evict(self, slot: _Slot, for_base: str) -> None:
        log.info("evicting base %s (%s, %.1f MiB) to load %s", slot.base_model, slot.key, slot.memory_mb, for_base)
        slot.batcher.close()
        model = getattr(slot.engine, "model", None)
        slot.engine = slot.batcher = None
        del model
        gc.collect()  # the weights go now, not at some later collection
        _empty_cuda_cache()
        self.evict_count += 1


def _empty_cuda_cache() -> None:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()

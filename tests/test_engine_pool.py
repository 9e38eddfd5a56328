"""EnginePool on two real tiny bases of different families: the demo store's test-size Llama/ChatML base
(0.65 MiB) and a tiny Mistral (v7 sentencepiece vocabulary, 16.3 MiB). Loading, keying by identity,
the LRU and memory bounds, never evicting a busy base, thread safety."""

from __future__ import annotations

import shutil
import threading

import pytest

from lora_lib.engine import Job
from lora_lib.engine.pool import BaseLoadError, EnginePool, estimate_memory_mb, model_memory_mb
from lora_lib.models.identity import base_identity
from lora_lib.models.tiny import build_base

from .test_families import BASES_VERSION, CONVS

HI = [{"role": "user", "content": "안녕"}]


@pytest.fixture(scope="session")
def two_bases(demo_store, pytestconfig) -> tuple[str, str]:
    """(demo test base, tiny Mistral): the Mistral one is test_families' cached base (built in seconds)."""
    root = pytestconfig.cache.mkdir(f"tiny-bases-{BASES_VERSION}")
    mistral = build_base("mistral", root / "mistral", pytestconfig.cache.mkdir("tokenizers"), teach_on=CONVS)
    return str(demo_store / "demo" / "base_model"), str(mistral)


def _pool(**kw) -> EnginePool:
    return EnginePool(kw.pop("max_bases", 2), kw.pop("base_memory_mb", None), capacity=2,
                      batcher_kwargs={"max_batch": 4, "wait_ms": 1}, **kw)


def test_loads_on_demand_keyed_by_identity_and_measures_memory(two_bases, tmp_path):
    a, b = two_bases
    pool = _pool()
    try:
        ea, ba = pool.get(a)
        copy = tmp_path / "copy-of-a"
        shutil.copytree(a, copy)
        assert pool.get(str(copy)) == (ea, ba)  # another path of the same files: the same engine
        eb, _ = pool.get(b)
        assert eb is not ea and pool.load_count == 2 and pool.evict_count == 0
        bases = pool.loaded_bases()
        assert [x["base_model"] for x in bases] == [a, b] and [x["base_id"] for x in bases] == [
            base_identity(a), base_identity(b)]
        for x, engine in zip(bases, (ea, eb), strict=True):
            # the estimate from the safetensors headers is the measured float32 size
            assert x["memory_mb"] == pytest.approx(model_memory_mb(engine.model), abs=1e-3)
            assert estimate_memory_mb(x["base_model"]) == pytest.approx(x["memory_mb"], rel=0.01)
            print(f"{x['base_model']}: {x['memory_mb']:.2f} MiB")
        assert pool.memory_mb() == pytest.approx(sum(x["memory_mb"] for x in bases), abs=1e-2)
        assert ba.submit(Job(HI, None, 4)).result(timeout=60).completion_tokens > 0
    finally:
        pool.close()


def test_max_bases_one_the_second_base_evicts_the_first_and_a_request_reloads_it(two_bases):
    a, b = two_bases
    pool = _pool(max_bases=1)
    try:
        ea, ba = pool.get(a)
        first = ba.submit(Job(HI, None, 6)).result(timeout=60).text
        pool.get(b)
        assert [x["base_model"] for x in pool.loaded_bases()] == [b] and pool.evict_count == 1
        with pytest.raises(RuntimeError, match="closed"):  # the evicted batcher refuses, never hangs
            ba.submit(Job(HI, None, 4))
        ea2, ba2 = pool.get(a)
        assert ea2 is not ea and [x["base_model"] for x in pool.loaded_bases()] == [a]
        assert (pool.load_count, pool.evict_count) == (3, 2)
        assert ba2.submit(Job(HI, None, 6)).result(timeout=60).text == first  # the same base, reloaded
    finally:
        pool.close()


def test_memory_bound_evicts_lru_and_refuses_a_base_too_big_alone(two_bases):
    a, b = two_bases
    mem_a, mem_b = estimate_memory_mb(a), estimate_memory_mb(b)
    pool = _pool(max_bases=4, base_memory_mb=mem_b + mem_a / 2)  # both together do not fit
    try:
        pool.get(a)
        pool.get(b)
        assert [x["base_model"] for x in pool.loaded_bases()] == [b]  # a went to make room
        pool.get(a)
        assert [x["base_model"] for x in pool.loaded_bases()] == [a]
    finally:
        pool.close()
    small = _pool(base_memory_mb=mem_b / 2)
    try:
        small.get(a)
        with pytest.raises(BaseLoadError, match=r"needs 16\.\d MiB \(estimated from its safetensors\), more than "
                                                r"serve.base_memory_mb=8\.\d+ on its own"):
            small.get(b)
        assert [x["base_model"] for x in small.loaded_bases()] == [a] and small.evict_count == 0  # nothing lost
        with pytest.raises(BaseLoadError, match="on its own"):  # remembered: not retried at once
            small.get(b)
    finally:
        small.close()


def test_a_busy_base_is_never_evicted(two_bases):
    a, b = two_bases
    pool = _pool(max_bases=1, wait_s=0.3)
    try:
        with pool.acquire(a) as lease:  # held (e.g. a request between routing and submitting)
            with pytest.raises(BaseLoadError, match="every one is busy"):
                pool.get(b)
            assert lease.engine.base_model == a
        # A job in flight on a: loading b waits for it, then evicts a; the job completes normally.
        _, ba = pool.get(a)
        pool.wait_s = 60
        future = ba.submit(Job(HI, None, 160, ignore_eos=True))
        assert ba.in_flight == 1
        pool.get(b)
        g = future.result(timeout=0)  # already done: the eviction waited for it
        assert g.completion_tokens == 160 and ba.in_flight == 0
        assert [x["base_model"] for x in pool.loaded_bases()] == [b]
    finally:
        pool.close()


def test_concurrent_gets_load_once_and_a_missing_base_is_a_clear_error(two_bases, tmp_path):
    a, _ = two_bases
    pool = _pool()
    try:
        got, errors = [], []

        def worker():
            try:
                got.append(pool.get(a)[0])
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and len({id(e) for e in got}) == 1 and pool.load_count == 1
        missing = tmp_path / "no-such-base"
        missing.mkdir()
        with pytest.raises(BaseLoadError, match=f"base {missing}: cannot be loaded"):
            pool.get(str(missing))
        assert pool.load_count == 1
    finally:
        pool.close()
    with pytest.raises(BaseLoadError, match="closed"):
        pool.get(a)
    with pytest.raises(ValueError, match="max_bases"):
        EnginePool(0)

"""A worker thread in front of an Engine: queued jobs -> batched generate() calls."""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

from .decoding import OnText, Sampling
from .engine import AdapterSpec, Engine

log = logging.getLogger("lora_lib.engine")


# ---- batching ---------------------------------------------------------------------------------------

@dataclass
class Job:
    messages: list[dict] | str | list[int]  # a chat, or a plain prompt or token ids (no chat template)
    adapter: AdapterSpec | None
    max_new_tokens: int
    on_text: OnText | None = None
    ignore_eos: bool = False
    sampling: Sampling | None = None
    future: Future = field(default_factory=Future)
    enqueued: float = field(default_factory=time.perf_counter)
    queue_ms: float = 0.0


class Batcher:
    """One worker thread in front of an Engine: queued jobs -> batched generate() calls.

    A batch takes what is queued now plus what arrives within `wait_ms`, up to `max_batch` rows and
    at most `engine.capacity` distinct adapters (all must be loaded at once). mixed=False serves one
    adapter per batch (the rest wait their turn). A job whose adapter cannot be (re)loaded fails
    alone; the others in the batch are served.
    """

    def __init__(self, engine: Engine, *, max_batch: int = 8, wait_ms: float = 5.0, mixed: bool = True):
        self.engine, self.max_batch, self.wait_s, self.mixed = engine, max_batch, wait_ms / 1000, mixed
        self.batches = 0
        self.rows = 0
        self.busy_s = 0.0  # time spent in generate(): busy_s / wall time is the engine's utilisation
        self._in_flight = 0  # submitted jobs not yet done: an EnginePool never evicts a base with any
        self._count_lock = threading.Lock()
        self._closed = False
        self._q: queue.Queue[list[Job] | None] = queue.Queue()  # groups of jobs that share a batch
        self._held: list[list[Job]] = []
        self._thread = threading.Thread(target=self._run, name="lora-batcher", daemon=True)
        self._thread.start()

    @property
    def in_flight(self) -> int:
        """Jobs submitted and not yet finished (queued, held over or generating)."""
        return self._in_flight

    def _count(self, jobs: list[Job]) -> None:
        # A closed batcher's worker is gone: a job queued now would wait forever, so refuse it.
        if self._closed:
            raise RuntimeError("this batcher is closed (its base was evicted or the server stopped)")
        with self._count_lock:
            self._in_flight += len(jobs)
        for job in jobs:
            job.future.add_done_callback(self._done)

    def _done(self, _future: Future) -> None:
        with self._count_lock:
            self._in_flight -= 1

    def submit(self, job: Job) -> Future:
        self._count([job])
        self._q.put([job])
        return job.future

    def submit_many(self, jobs: list[Job]) -> list[Future]:
        """Jobs that go into one generate() call together (the n choices of a request), up to max_batch."""
        if len(jobs) > self.max_batch:
            raise ValueError(f"{len(jobs)} jobs cannot share a batch of at most {self.max_batch} rows")
        self._count(jobs)
        self._q.put(list(jobs))
        return [j.future for j in jobs]

    def close(self) -> None:
        """Serve what is queued, stop the worker; a job that slipped in after the stop fails, never hangs."""
        self._closed = True
        self._q.put(None)
        self._thread.join(timeout=30)
        if self._thread.is_alive():
            return
        late = [j for group in self._held for j in group]
        while True:
            try:
                group = self._q.get_nowait()
            except queue.Empty:
                break
            late += group or []
        for job in late:
            if not job.future.done():
                job.future.set_exception(RuntimeError("the batcher closed before this job ran"))

    def _take(self) -> list[Job] | None:
        pending = self._held
        self._held = []
        # Wait up to wait_s for company only when the worker would otherwise run a partial batch with
        # nothing else queued: jobs held over from the last round, or a full batch, go at once.
        wait = not pending
        if not pending:
            group = self._q.get()
            if group is None:
                return None
            pending.append(group)
        deadline = time.perf_counter() + self.wait_s
        while len(pending) < self.max_batch * 4:
            try:
                if wait and len(pending) < self.max_batch:
                    group = self._q.get(timeout=max(0.0, deadline - time.perf_counter()))
                else:
                    group = self._q.get_nowait()
            except queue.Empty:
                break
            if group is None:
                self._q.put(None)  # stop after this batch
                break
            pending.append(group)
        batch, names = [], []
        for group in pending:
            group_names = [j.adapter.name if j.adapter else None for j in group]
            new = [n for n in dict.fromkeys(group_names) if n not in names]
            fits = len(batch) + len(group) <= self.max_batch and (
                len(names) + len(new) <= (1 if not self.mixed else self.engine.capacity))
            if not self.mixed and names and new:
                fits = False
            if batch and group[0].ignore_eos != batch[0].ignore_eos:  # one generate() call decides EOS for all
                fits = False
            if fits or not batch:  # a group alone always goes (submit_many keeps it within max_batch)
                batch.extend(group)
                names.extend(new)
            else:
                self._held.append(group)
        return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            ready = []
            for job in batch:
                try:
                    self.engine.ensure(job.adapter)
                    ready.append(job)
                except Exception as exc:  # noqa: BLE001 - reported to that request, others continue
                    log.error("adapter load failed: %s", exc)
                    job.future.set_exception(exc)
            if not ready:
                continue
            now = time.perf_counter()
            for job in ready:
                job.queue_ms = (now - job.enqueued) * 1000
            try:
                t0 = time.perf_counter()
                out = self.engine.generate([j.messages for j in ready],
                                           [j.adapter.name if j.adapter else None for j in ready],
                                           max_new_tokens=[j.max_new_tokens for j in ready],
                                           on_text=[j.on_text for j in ready], ignore_eos=ready[0].ignore_eos,
                                           sampling=[j.sampling for j in ready])
            except Exception as exc:  # noqa: BLE001 - the batch fails, the worker keeps serving
                log.exception("generation failed")
                for job in ready:
                    job.future.set_exception(exc)
                continue
            self.busy_s += time.perf_counter() - t0
            self.batches += 1
            self.rows += len(ready)
            for job, g in zip(ready, out, strict=True):
                job.future.set_result(g)

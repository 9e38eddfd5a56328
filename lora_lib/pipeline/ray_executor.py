"""`--executor ray`: each job of a batch or sweep as one Ray task that runs the same chain process.

The task starts `python -m lora_lib.pipeline ...` (run_child, as the thread pool does), appends its output
to <run_dir>/pipeline.log and reports each finished stage to this process through a Ray queue, so the
progress bar, the rendering, the batch record and resume are the ones of `--jobs`. A task asks for the
job's `resources` (ray_resources: CPUs, GPUs when it trains, memory) and is retried `max_retries` times
when its worker or node dies; the chain process dies with its worker (PR_SET_PDEATHSIG, Linux), and a
retry resumes the run like any re-run. Every attempt is a line in <run_dir>/ray_tasks.jsonl.

The store must be one POSIX path that every node mounts at the same place (NFS, EFS, CephFS, ...):
the chain, the driver and the reports read and write it directly. Object-store URIs are not supported.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..clean.ray_data import connect
from .batch import Job, child_env, run_child


def _chain_task(job: Job, store: str, params_dir: str, queue) -> tuple[int, list[str]]:
    """The body of one Ray task: record the attempt, run the chain process, return (exit code, tail)."""
    import ray

    store_path, params_path = Path(store), Path(params_dir)
    run_dir = store_path / job.character_id / job.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    ctx = ray.get_runtime_context()
    with open(run_dir / "ray_tasks.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"pid": os.getpid(), "node_id": ctx.get_node_id(), "task_id": ctx.get_task_id(),
                             "started_at": time.time()}) + "\n")
    env = child_env(max(1, int(job.resources.get("num_cpus") or 1)))
    env["LORA_PARENT_PID"] = str(os.getpid())  # the chain process dies with this worker (chain.die_with_parent)
    # Fire and forget: a task blocked in ray.get (as queue.put is) lends its CPU to the next task, and a
    # 2-CPU cluster then ran three chains at once.
    return run_child(job, store_path, params_path, env, lambda line: queue.actor.put_nowait.remote(line))


def attempts(store: Path, job: Job) -> list[dict]:
    path = store / job.character_id / job.run_id / "ray_tasks.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def run_on_ray(jobs: list[Job], *, store: Path, params_dir: Path, address: str | None, begin, finish,
               on_stage) -> list[dict]:
    """Submit every job, then hand each result to `finish` as it arrives; outcomes in the jobs' order."""
    ray = connect(address, what="--executor ray")
    from ray.util.queue import Empty, Queue

    queue = Queue(actor_options={"num_cpus": 0})
    task = ray.remote(_chain_task)
    pending, outcomes = {}, {}
    for i, job in enumerate(jobs):
        r = job.resources
        options = {"num_cpus": r.get("num_cpus", 1), "num_gpus": r.get("num_gpus") or 0,
                   "max_retries": r.get("max_retries", 2), "retry_exceptions": False,
                   "name": f"chain {job.character_id}/{job.run_id}"}
        if r.get("memory"):
            options["memory"] = r["memory"]
        started = begin(job)
        pending[task.options(**options).remote(job, str(store), str(params_dir), queue)] = (i, job, started)

    def drain() -> None:
        while True:
            try:
                on_stage(queue.get_nowait())
            except Empty:
                return

    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
        drain()
        for ref in ready:
            i, job, started = pending.pop(ref)
            try:
                returncode, tail = ray.get(ref)
            except ray.exceptions.RayError as exc:  # retries used up (worker or node lost), or not schedulable
                returncode, tail = -1, [f"Ray task failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}"]
            outcome = finish(job, returncode, tail, *started)
            tries = [t for t in attempts(store, job) if t["started_at"] >= started[0]]  # this batch's
            outcome["ray"] = {"attempts": len(tries), "nodes": sorted({t["node_id"] for t in tries})}
            outcomes[i] = outcome
    drain()
    ray.kill(queue.actor)
    return [outcomes[i] for i in range(len(jobs))]

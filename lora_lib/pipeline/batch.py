"""Batches: each character's chain as its own process (`python -m lora_lib.pipeline`), at most
`jobs` at a time; one failing never stops the others, and a re-run resumes the unfinished batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..config import ConfigError, load_params
from ..store import read_json, run_paths, write_json
from .chain import (
    ROOT,
    PipelineError,
    check_inputs,
    new_run_id,
    plan_stages,
    previous_summary,
    select_stages,
    stage_fingerprints,
)


@dataclass
class Job:
    """One character's chain in one run, executed as its own process (here, or in a Ray task: `resources`)."""

    character_id: str
    run_id: str
    stages: list[str] | None = None
    from_stage: str | None = None
    overrides: dict = field(default_factory=dict)
    force: bool = False
    resources: dict = field(default_factory=dict)  # the Ray task's options (ray_resources); unused by --jobs

    def argv(self, store: Path, params_dir: Path) -> list[str]:
        cmd = [sys.executable, "-m", "lora_lib.pipeline", "--character", self.character_id, "--run-id", self.run_id,
               "--store", str(store), "--params", str(params_dir), "--overrides", json.dumps(self.overrides)]
        if self.stages:
            cmd += ["--stages", ",".join(self.stages)]
        if self.from_stage:
            cmd += ["--from", self.from_stage]
        return cmd + (["--force"] if self.force else []) + ["--no-render"]


def ray_resources(p, stages: list[str]) -> dict:
    """The Ray task options of one chain from its params (`ray.*`): GPUs only when it trains."""
    r = p.ray
    return {"num_cpus": r.num_cpus, "num_gpus": r.train_num_gpus if "train" in stages else 0,
            "memory": int(r.memory_gb * 2**30) if r.memory_gb else None, "max_retries": r.max_retries}


def child_env(threads: int | None = None) -> dict:
    """The environment of a chain's process: lora_lib importable, unbuffered output, a torch thread cap."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if threads:  # children share the cores: without a cap each torch would start one thread per core
        env.setdefault("OMP_NUM_THREADS", str(threads))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return env


def run_child(job: Job, store: Path, params_dir: Path, env: dict, on_stage=lambda line: None) -> tuple[int, list[str]]:
    """Run one job's chain as a child process, its output appended to <run_dir>/pipeline.log; return
    (exit code, its last 20 lines). `on_stage` gets each "[character] stage ok (N s)" line."""
    run_dir = store / job.character_id / job.run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    tail = []
    with open(run_dir / "pipeline.log", "a", encoding="utf-8") as fh, subprocess.Popen(
            job.argv(store, params_dir), cwd=ROOT, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
        for line in proc.stdout:
            fh.write(line)
            fh.flush()  # the log is live: `tail -f`, and on shared storage from any machine
            tail = (tail + [line.rstrip()])[-20:]
            if line.startswith(f"[{job.character_id}] ") and line.rstrip().endswith(" s)"):
                on_stage(line.strip())
    return proc.returncode, tail


def check_executor(executor: str) -> None:
    """An unknown executor, or ray without the extra, fails before any work (PipelineError)."""
    if executor not in ("local", "ray"):
        raise PipelineError(f"unknown executor {executor!r}: local or ray")
    if executor == "ray":
        from ..clean.ray_data import require_ray

        try:
            require_ray("--executor ray")
        except RuntimeError as exc:
            raise PipelineError(str(exc)) from exc


def run_jobs(jobs: list[Job], *, store: str | Path, params_dir: str | Path = "params", max_jobs: int = 1,
             total_steps: int | None = None, progress: bool = True, log=print, executor: str = "local",
             address: str | None = None) -> list[dict]:
    """Run jobs as child processes, at most `max_jobs` at once; return one outcome per job, in order.

    Each child's output goes to <run_dir>/pipeline.log; a failing child never stops the others.
    This process renders the HTML of every run a child changed. The progress bar counts finished
    stages (`total_steps`, default one per job). `executor="ray"` runs each job as a Ray task on the
    cluster at `address` instead (ray_executor.py; the cluster's resources decide how many at once).
    """
    from tqdm.auto import tqdm

    from .. import reports

    store, params_dir = Path(store).resolve(), Path(params_dir).resolve()
    check_executor(executor)
    bar = tqdm(total=total_steps or len(jobs), desc="batch", unit="stage", disable=not progress)
    lock, render_lock = threading.Lock(), threading.Lock()

    def stage_done(line: str) -> None:
        with lock:
            bar.update(1)
            bar.set_postfix_str(line[:60])

    def begin(job: Job) -> tuple[float, int | None]:
        summary_path = store / job.character_id / job.run_id / "summary.json"
        return time.time(), summary_path.stat().st_mtime_ns if summary_path.exists() else None

    def finish(job: Job, returncode: int, tail: list[str], start: float, before: int | None) -> dict:
        run_dir = store / job.character_id / job.run_id
        summary_path = run_dir / "summary.json"
        if summary_path.exists() and summary_path.stat().st_mtime_ns != before:
            try:
                summary = read_json(summary_path)
                paths = run_paths(store, job.character_id, job.run_id)
                with render_lock:  # nbconvert is pure Python: one render at a time is as fast
                    reports.render_run(paths, summary)
                    reports.write_run_index(paths, summary)
            except Exception as exc:  # a report that cannot render must not hide the run's own result
                tail.append(f"rendering the reports failed: {type(exc).__name__}: {exc}")
        with lock:
            log(f"[{job.character_id}] {'done' if returncode == 0 else 'FAILED'} "
                f"({time.time() - start:.0f} s, log {run_dir / 'pipeline.log'})")
        return {"job": asdict(job), "returncode": returncode, "seconds": round(time.time() - start, 1),
                "log": str(run_dir / "pipeline.log"), "tail": tail}

    try:
        if executor == "ray":
            from .ray_executor import run_on_ray

            return run_on_ray(jobs, store=store, params_dir=params_dir, address=address, begin=begin,
                              finish=finish, on_stage=stage_done)
        env = child_env(max(1, (os.cpu_count() or 1) // max(1, max_jobs)))

        def one(job: Job) -> dict:
            started = begin(job)
            return finish(job, *run_child(job, store, params_dir, env, stage_done), *started)

        with ThreadPoolExecutor(max_workers=max(1, max_jobs)) as pool:
            return list(pool.map(one, jobs))
    finally:
        bar.close()


def _batch_dir(store: Path, batch_id: str) -> Path:
    return store / "batches" / batch_id


def latest_unfinished_batch(store: str | Path, characters: list[str], stages: list[str]) -> str | None:
    """The newest batch over exactly these characters and stages that left something failed or missing."""
    root = Path(store) / "batches"
    for d in sorted(root.glob("*/batch.json"), key=lambda f: f.parent.name, reverse=True):
        meta = read_json(d)
        if sorted(meta.get("characters", [])) == sorted(characters) and meta.get("stages") == stages:
            summary = d.parent / "summary.json"
            rows = read_json(summary).get("characters", []) if summary.exists() else []
            return d.parent.name if not rows or any(r["status"] != "ok" for r in rows) else None
    return None


def run_batch(characters: list[str], *, run_id: str | None = None, jobs: int = 1, stages: list[str] | None = None,
              from_stage: str | None = None, store: str | Path = "runs", params_dir: str | Path = "params",
              overrides: dict | None = None, character_overrides: dict[str, dict] | None = None,
              force: bool = False, progress: bool = True, log=print, executor: str = "local",
              address: str | None = None) -> dict:
    """Run several characters' chains as separate processes (here, or as Ray tasks: `executor="ray"` on the
    cluster at `address`, see run_jobs); return the batch summary.

    The batch id is the run id of every character in it. Without `run_id`, the newest unfinished
    batch over the same characters and stages is resumed, else a new one starts. Each character
    resumes at its first failed, missing or changed stage unless `force` (or `from_stage`). Params and inputs are
    checked here first: a character whose params are wrong is reported failed and never started.
    Raises PipelineError only when no character can start at all.
    """
    from .. import reports

    store, params_dir = Path(store).resolve(), Path(params_dir).resolve()
    check_executor(executor)
    if len(set(characters)) != len(characters):
        raise PipelineError(f"a character is named twice: {characters}")
    chosen = select_stages(stages, from_stage)
    force = force or from_stage is not None  # "--from train" means: redo from train on
    overrides, character_overrides = overrides or {}, character_overrides or {}
    unknown = set(character_overrides) - set(characters)
    if unknown:
        raise PipelineError(f"--set for {sorted(unknown)}, which {'is' if len(unknown) == 1 else 'are'} not in this batch")
    batch_id = run_id or latest_unfinished_batch(store, characters, chosen) or new_run_id()
    rows, todo, planned = {}, [], {}
    for cid in characters:
        ov = {**overrides, **character_overrides.get(cid, {})}
        try:
            p = load_params(cid, params_dir=params_dir, overrides={**ov, "store": str(store)})
            check_inputs(p, chosen)
            paths = run_paths(store, cid, batch_id)
        except (ConfigError, PipelineError, ValueError, FileNotFoundError) as exc:
            rows[cid] = {"character_id": cid, "run_id": batch_id, "status": "failed", "failed_stage": "params",
                         "error": f"{type(exc).__name__}: {exc}" if not isinstance(exc, ConfigError | PipelineError)
                         else str(exc), "stages": {}, "ran": []}
            continue
        previous = previous_summary(paths)
        planned[cid] = plan_stages(chosen, previous, stage_fingerprints(p, params_dir), force=force)
        if planned[cid]:
            todo.append(Job(cid, batch_id, stages, from_stage, ov, force, ray_resources(p, planned[cid])))
        else:
            log(f"[{cid}] run {batch_id}: nothing to do ({','.join(chosen)} already ok with these params)")
    if len(rows) == len(characters):
        first = rows[characters[0]]
        more = f" (and {len(rows) - 1} more)" if len(rows) > 1 else ""
        raise PipelineError(f"{first['character_id']}: {first['error']}{more}")

    batch_dir = _batch_dir(store, batch_id)
    if not (batch_dir / "batch.json").exists():
        write_json(batch_dir / "batch.json", {"batch_id": batch_id, "characters": characters, "stages": chosen,
                                              "created_at": datetime.now(UTC).isoformat()})
    log(f"batch {batch_id}: {len(todo)} of {len(characters)} character(s) to run, "
        + (f"{jobs} at a time" if executor == "local" else f"as Ray tasks ({address or 'RAY_ADDRESS or local'})"))
    start = time.time()
    outcomes = {o["job"]["character_id"]: o for o in run_jobs(
        todo, store=store, params_dir=params_dir, max_jobs=jobs,
        total_steps=sum(len(planned[j.character_id]) for j in todo), progress=progress, log=log, executor=executor,
        address=address)}
    for cid in characters:
        if cid not in rows:
            rows[cid] = _batch_row(store, cid, batch_id, chosen, outcomes.get(cid))
    failed = [c for c in characters if rows[c]["status"] != "ok"]
    earlier = _read_summary(batch_dir).get("attempts", [])
    attempt = {"finished_at": datetime.now(UTC).isoformat(), "ran": {c: rows[c]["ran"] for c in characters if rows[c]["ran"]},
               "failed": {c: f"{rows[c]['failed_stage']}: {rows[c]['error']}" for c in failed}}
    summary = {"batch_id": batch_id, "store": str(store), "stages": chosen, "jobs": jobs, "executor": executor,
               "force": force,
               "overrides": overrides, "character_overrides": character_overrides,
               "seconds": round(time.time() - start, 1), "finished_at": datetime.now(UTC).isoformat(),
               "characters": [rows[c] for c in characters], "attempts": earlier + [attempt]}
    write_json(batch_dir / "summary.json", summary)
    reports.write_batch_report(batch_dir, summary)
    reports.write_store_index(store)
    return summary


def _read_summary(directory: Path) -> dict:
    path = directory / "summary.json"
    return read_json(path) if path.exists() else {}


def _batch_row(store: Path, cid: str, batch_id: str, chosen: list[str], outcome: dict | None) -> dict:
    """One character's line in the batch summary, from its run's summary.json and the process outcome."""
    path = store / cid / batch_id / "summary.json"
    s = read_json(path) if path.exists() else {}
    status = s.get("stages", {})
    ok = all(status.get(st) == "ok" for st in chosen) and (outcome is None or outcome["returncode"] == 0)
    error = None
    if not ok:  # if the process died before writing its summary, say what it printed last
        rc, tail = (outcome or {}).get("returncode"), (outcome or {}).get("tail") or []
        error = s.get("error") or (f"exit code {rc}: {tail[-1]}" if tail else f"exit code {rc}, no output")
    return {"character_id": cid, "run_id": batch_id, "status": "ok" if ok else "failed",
            "failed_stage": s.get("failed_stage") if not ok else None, "error": None if ok else error,
            "stages": status, "ran": s.get("ran", []) if outcome else [],
            "seconds": outcome["seconds"] if outcome else 0.0,
            "dataset_version": s.get("dataset_version"), "adapter_version": s.get("adapter_version"),
            "metrics": s.get("metrics", {}), "gates": s.get("gates", {}), "serve": s.get("serve", {}),
            "params_sha256": s.get("params_sha256"), "git_commit": s.get("git_commit"),
            "report": f"../../{cid}/{batch_id}/index.html" if (store / cid / batch_id / "index.html").exists() else None,
            "log": outcome["log"] if outcome else None, **({"ray": outcome["ray"]} if outcome and "ray" in outcome else {})}

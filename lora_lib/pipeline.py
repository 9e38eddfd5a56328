"""Chain the stage notebooks with papermill, per character, into reports a reviewer can read.

Each stage runs as notebooks/NN_<stage>.ipynb -> <store>/<character>/<run_id>/NN_<stage>.ipynb,
is rendered to HTML next to it, and an index.html plus summary.json describe the run. A failing
stage stops that character's chain with its error in summary.json; earlier outputs stay.

A batch (`run_batch`, `lora run --all`) runs each character's chain as its own process
(`python -m lora_lib.pipeline`), at most `jobs` at a time; one failing never stops the others.
Every stage records a fingerprint of the params it depends on, so a re-run resumes each
character at its first failed, missing or changed stage (`force` re-runs everything).
"""

from __future__ import annotations

import argparse
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

from .config import ConfigError, Params, character_markers, load_params
from .store import STAGES, RunPaths, read_json, run_paths, sha256_json, write_json

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

# The params each stage's outputs depend on. A stage's fingerprint also covers every stage
# before it, so a change upstream re-runs everything downstream. `tracking`, `wandb_*` and
# `store` are left out: they change where results are shown or kept, not what they are.
STAGE_PARAMS = {
    "collect": ("seed", "inputs", "collect"),
    "clean": ("clean", "character"),
    "dataset": ("dataset", "seed", "character"),
    "train": ("train", "base_model", "seed"),
    "evaluate": ("evaluate", "character", "base_model"),
    "serve": ("serve", "base_model", "character"),
    "monitor": ("monitor", "evaluate", "seed"),
}


class PipelineError(RuntimeError):
    pass


def notebook_for(stage: str) -> Path:
    return NOTEBOOKS / f"{STAGES.index(stage) + 1:02d}_{stage}.ipynb"


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def select_stages(stages: list[str] | None = None, from_stage: str | None = None) -> list[str]:
    chosen = list(stages or STAGES)
    unknown = [s for s in chosen + ([from_stage] if from_stage else []) if s not in STAGES]
    if unknown:
        raise PipelineError(f"unknown stage(s) {unknown}; stages are {', '.join(STAGES)}")
    if from_stage:
        chosen = [s for s in chosen if STAGES.index(s) >= STAGES.index(from_stage)]
    return chosen


def check_inputs(p, stages: list[str]) -> None:
    """Missing export files or base model fail before any notebook starts."""
    for field_name in ("messages", "users", "characters") if "collect" in stages else ():
        path = p.path(getattr(p.inputs, field_name))
        if not path.exists():
            hint = " (run `lora demo build` for the demo world)" if "demo" in str(path) else ""
            raise PipelineError(f"inputs.{field_name}: file not found: {path}{hint}")
    base = p.path(p.base_model)
    needs_model = {"dataset", "train", "evaluate", "monitor"} & set(stages)  # dataset: its tokenizer
    if needs_model and base.is_absolute() and not base.exists():
        raise PipelineError(f"base_model: not found: {base} (run `lora demo build` for the demo model)")


def stage_fingerprints(p: Params, params_dir: str | Path = "params") -> dict[str, str]:
    """stage -> hash of the params (and input file stamps) its outputs depend on, chained."""
    dump = p.model_dump()
    inputs = {}
    for name, template in p.inputs.model_dump().items():
        path = p.path(template)
        st = path.stat() if path.exists() else None
        inputs[name] = [str(path), st.st_size, st.st_mtime_ns] if st else None
    out, prev = {}, ""
    for stage in STAGES:
        part = {k: dump[k] for k in STAGE_PARAMS[stage]}
        if stage == "collect":
            part["input_files"] = inputs
        if stage == "clean":  # the leakage check reads every character's style markers
            part["all_markers"] = character_markers(params_dir)
        prev = sha256_json({"previous": prev, "params": part})[:16]
        out[stage] = prev
    return out


def plan_stages(chosen: list[str], previous: dict, fingerprints: dict[str, str], *, force: bool = False
                ) -> list[str]:
    """The stages to run: from the first chosen one that failed, never ran or changed, to the end.

    `previous` is the run's earlier summary.json ({} for a new run); `force` runs all of `chosen`.
    """
    if force or not previous:
        return list(chosen)
    status, prints = previous.get("stages", {}), previous.get("fingerprints", {})
    for i, stage in enumerate(chosen):
        if status.get(stage) != "ok" or prints.get(stage) != fingerprints[stage]:
            return list(chosen[i:])
    return []


def previous_summary(paths: RunPaths) -> dict:
    """The run's summary.json ({} if none), with stages whose result.json is gone marked missing."""
    path = paths.run_dir / "summary.json"
    if not path.exists():
        return {}
    summary = read_json(path)
    stages = summary.get("stages", {})
    summary["stages"] = {s: ("missing: no result.json" if v == "ok" and not (paths.stage_dir(s) / "result.json").exists()
                             else v) for s, v in stages.items()}
    return summary


def run_character(character_id: str, *, run_id: str | None = None, stages: list[str] | None = None,
                  from_stage: str | None = None, store: str | Path = "runs", params_dir: str | Path = "params",
                  overrides: dict | None = None, resume: bool = False, force: bool = False,
                  review_html: bool = True, render: bool = True, log=print) -> dict:
    """Run the chain for one character; return summary.json's content; raise PipelineError on failure.

    With `resume`, stages that already succeeded in this run with the same params fingerprint are
    skipped (see plan_stages); `force` re-runs them all. Without either, every chosen stage runs.
    `render=False` leaves the HTML to the caller (a batch renders in its own process, importing
    nbconvert once instead of once per character).
    """
    from . import reports

    store, params_dir = Path(store).resolve(), Path(params_dir).resolve()
    overrides = {**(overrides or {}), "store": str(store)}
    p = load_params(character_id, params_dir=params_dir, overrides=overrides)  # bad params fail here
    chosen = select_stages(stages, from_stage)
    check_inputs(p, chosen)
    paths = run_paths(store, character_id, run_id or new_run_id())
    summary_path = paths.run_dir / "summary.json"
    previous = previous_summary(paths)
    fingerprints = stage_fingerprints(p, params_dir)
    todo = plan_stages(chosen, previous, fingerprints, force=force or not resume)
    if not todo:
        log(f"[{character_id}] run {paths.run_id}: stages {','.join(chosen)} already ok with these params")
        return previous
    if todo != chosen:
        log(f"[{character_id}] run {paths.run_id}: resuming at {todo[0]} ({', '.join(chosen[:len(chosen) - len(todo)])} ok)")
    reports.skip_slow_optional_imports()
    import papermill as pm  # after the checks: a bad input fails in a fraction of a second

    from .stages import summary_of
    from .train import git_state

    paths.run_dir.mkdir(parents=True, exist_ok=True)
    # Later stages ran on the outputs this run is about to replace: they no longer count, and their
    # results and reports go, so no page shows an adapter or a metric from before this re-run.
    first = STAGES.index(todo[0])
    for stage in STAGES[first:]:
        nb = paths.run_dir / notebook_for(stage).name
        for stale in (paths.stage_dir(stage) / "result.json", nb, nb.with_suffix(".html"), nb.with_suffix(".review.html")):
            stale.unlink(missing_ok=True)
    status = {s: v for s, v in previous.get("stages", {}).items() if STAGES.index(s) < first}
    prints = {s: v for s, v in previous.get("fingerprints", {}).items() if STAGES.index(s) < first}
    seconds = {s: v for s, v in previous.get("seconds", {}).items() if STAGES.index(s) < first}
    git = git_state(ROOT)
    failed = None
    for stage in todo:
        src, dst = notebook_for(stage), paths.run_dir / notebook_for(stage).name
        log(f"[{character_id}] {stage} ...")
        start = time.time()
        try:
            pm.execute_notebook(str(src), str(dst), cwd=str(ROOT), progress_bar=False, kernel_name="python3",
                                parameters={"character_id": character_id, "run_id": paths.run_id,
                                            "store": str(store), "params_dir": str(params_dir),
                                            "overrides": overrides})
            status[stage] = "ok"
        except pm.PapermillExecutionError as exc:
            status[stage] = f"{exc.ename}: {exc.evalue}"
            failed = stage
        except Exception as exc:  # kernel died, notebook missing, ...: still a reportable failure
            status[stage] = f"{type(exc).__name__}: {exc}"
            failed = stage
        prints[stage], seconds[stage] = fingerprints[stage], round(time.time() - start, 1)
        log(f"[{character_id}] {stage} {'ok' if not failed else 'FAILED'} ({seconds[stage]:.1f} s)")
        if failed:
            break
    summary = {**summary_of(paths, status), "params_sha256": p.sha256(), "git_commit": git["commit"],
               "git_dirty": git["dirty"], "fingerprints": prints, "seconds": seconds,
               "ran": todo[:todo.index(failed) + 1] if failed else todo, "failed_stage": failed,
               "error": status[failed] if failed else None, "finished_at": datetime.now(UTC).isoformat()}
    write_json(summary_path, summary)
    if render:  # after the chain, so every page states the run's final lineage (adapter, dataset)
        reports.render_run(paths, summary, review_html=review_html)
        reports.write_run_index(paths, summary)
        reports.write_store_index(store)
    if failed:
        raise PipelineError(f"{character_id}: stage {failed} failed: {status[failed]} "
                            f"(see {paths.run_dir / notebook_for(failed).name})")
    return summary


# ---------------------------------------------------------------- batches: one process per character


@dataclass
class Job:
    """One character's chain in one run, executed as its own process."""

    character_id: str
    run_id: str
    stages: list[str] | None = None
    from_stage: str | None = None
    overrides: dict = field(default_factory=dict)
    force: bool = False

    def argv(self, store: Path, params_dir: Path) -> list[str]:
        cmd = [sys.executable, "-m", "lora_lib.pipeline", "--character", self.character_id, "--run-id", self.run_id,
               "--store", str(store), "--params", str(params_dir), "--overrides", json.dumps(self.overrides)]
        if self.stages:
            cmd += ["--stages", ",".join(self.stages)]
        if self.from_stage:
            cmd += ["--from", self.from_stage]
        return cmd + (["--force"] if self.force else []) + ["--no-render"]


def run_jobs(jobs: list[Job], *, store: str | Path, params_dir: str | Path = "params", max_jobs: int = 1,
             total_steps: int | None = None, progress: bool = True, log=print) -> list[dict]:
    """Run jobs as child processes, at most `max_jobs` at once; return one outcome per job, in order.

    Each child's output goes to <run_dir>/pipeline.log; a failing child never stops the others.
    This process renders the HTML of every run a child changed. The progress bar counts finished
    stages (`total_steps`, default one per job).
    """
    from tqdm.auto import tqdm

    from . import reports

    store, params_dir = Path(store).resolve(), Path(params_dir).resolve()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # Children share the cores: without a cap each torch would start one thread per core.
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // max(1, max_jobs))))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    bar = tqdm(total=total_steps or len(jobs), desc="batch", unit="stage", disable=not progress)
    lock, render_lock = threading.Lock(), threading.Lock()

    def one(job: Job) -> dict:
        run_dir = store / job.character_id / job.run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        summary_path = run_dir / "summary.json"
        before = summary_path.stat().st_mtime_ns if summary_path.exists() else None
        start, tail = time.time(), []
        with open(run_dir / "pipeline.log", "a", encoding="utf-8") as fh, subprocess.Popen(
                job.argv(store, params_dir), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
            for line in proc.stdout:
                fh.write(line)
                tail = (tail + [line.rstrip()])[-20:]
                if line.startswith(f"[{job.character_id}] ") and line.rstrip().endswith(" s)"):
                    with lock:
                        bar.update(1)
                        bar.set_postfix_str(line.strip()[:60])
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
            log(f"[{job.character_id}] {'done' if proc.returncode == 0 else 'FAILED'} "
                f"({time.time() - start:.0f} s, log {run_dir / 'pipeline.log'})")
        return {"job": asdict(job), "returncode": proc.returncode, "seconds": round(time.time() - start, 1),
                "log": str(run_dir / "pipeline.log"), "tail": tail}

    try:
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
              force: bool = False, progress: bool = True, log=print) -> dict:
    """Run several characters' chains as separate processes; return the batch summary.

    The batch id is the run id of every character in it. Without `run_id`, the newest unfinished
    batch over the same characters and stages is resumed, else a new one starts. Each character
    resumes at its first failed, missing or changed stage unless `force` (or `from_stage`). Params and inputs are
    checked here first: a character whose params are wrong is reported failed and never started.
    Raises PipelineError only when no character can start at all.
    """
    from . import reports

    store, params_dir = Path(store).resolve(), Path(params_dir).resolve()
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
            todo.append(Job(cid, batch_id, stages, from_stage, ov, force))
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
    log(f"batch {batch_id}: {len(todo)} of {len(characters)} character(s) to run, {jobs} at a time")
    start = time.time()
    outcomes = {o["job"]["character_id"]: o for o in run_jobs(
        todo, store=store, params_dir=params_dir, max_jobs=jobs,
        total_steps=sum(len(planned[j.character_id]) for j in todo), progress=progress, log=log)}
    for cid in characters:
        if cid not in rows:
            rows[cid] = _batch_row(store, cid, batch_id, chosen, outcomes.get(cid))
    failed = [c for c in characters if rows[c]["status"] != "ok"]
    earlier = _read_summary(batch_dir).get("attempts", [])
    attempt = {"finished_at": datetime.now(UTC).isoformat(), "ran": {c: rows[c]["ran"] for c in characters if rows[c]["ran"]},
               "failed": {c: f"{rows[c]['failed_stage']}: {rows[c]['error']}" for c in failed}}
    summary = {"batch_id": batch_id, "store": str(store), "stages": chosen, "jobs": jobs, "force": force,
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
            "log": outcome["log"] if outcome else None}


def main(argv: list[str] | None = None) -> int:
    """One character's chain in this process: what run_jobs starts for each character of a batch."""
    ap = argparse.ArgumentParser(prog="python -m lora_lib.pipeline")
    ap.add_argument("--character", required=True)
    ap.add_argument("--run-id", required=True)
    ap.add_argument("--store", default="runs")
    ap.add_argument("--params", default="params")
    ap.add_argument("--overrides", default="{}", help="JSON object of dotted overrides")
    ap.add_argument("--stages")
    ap.add_argument("--from", dest="from_stage")
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--no-render", action="store_true", help="leave the HTML reports to the caller")
    args = ap.parse_args(argv)
    try:
        run_character(args.character, run_id=args.run_id, stages=args.stages.split(",") if args.stages else None,
                      from_stage=args.from_stage, store=args.store, params_dir=args.params,
                      overrides=json.loads(args.overrides), resume=not args.force, force=args.force,
                      render=not args.no_render, log=lambda msg: print(msg, flush=True))
    except (PipelineError, ConfigError, ValueError, FileNotFoundError) as exc:
        print(f"lora: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

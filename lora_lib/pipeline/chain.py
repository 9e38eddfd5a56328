"""One character's chain: stage notebooks run by papermill into <store>/<character>/<run_id>/.

A failing stage stops the chain with its error in summary.json; earlier outputs stay. Every
stage records a fingerprint of the params it depends on, so a resumed run starts at its first
failed, missing or changed stage. `main` is what `python -m lora_lib.pipeline` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from ..config import ConfigError, Params, character_markers, load_params
from ..store import STAGES, RunPaths, read_json, run_paths, sha256_json, write_json

ROOT = Path(__file__).resolve().parent.parent.parent
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
    from .. import reports

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

    from ..stages import summary_of
    from ..train import git_state

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


def die_with_parent() -> None:
    """With LORA_PARENT_PID set (a Ray task started this process): be killed when that process dies, so a
    retried task never races a leftover chain on the same run (Linux; the kernel follows its parent)."""
    parent = os.environ.get("LORA_PARENT_PID")
    if not parent or not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != int(parent):  # the parent died before prctl
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    """One character's chain in this process: what run_jobs starts for each character of a batch."""
    die_with_parent()
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

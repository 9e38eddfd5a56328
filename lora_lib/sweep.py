"""Sweeps: train + evaluate a grid of params on one dataset version, then compare and pick the best.

`lora sweep --character nabi --set train.lora.r=8,16,32 --set train.learning_rate=1e-4,2e-4`
builds (or reuses) one dataset version, runs each grid point as its own pipeline run
(`sweep-<id>-p<i>`: the train and evaluate notebooks, executed and rendered like any run) as a
separate process, puts every point's W&B runs in one group, and writes
<store>/sweeps/<character>/<id>/{sweep.json,results.json,compare_runs.ipynb,compare_runs.html}.
"""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime
from pathlib import Path

import yaml

from .config import load_params
from .store import read_json, run_paths, sha256_json, write_json

BEST_RULE = ("among points whose adapter passed every gate: highest adapter style-marker rate, then lowest "
             "final training loss, then smallest LoRA r (cheapest to serve)")
SWEEP_STAGES = ["train", "evaluate"]
# The columns a reader compares first (the full table also has the params, run ids, steps, reasons).
COLUMNS = ["label", "status", "adapter_version", "final_loss", "train_seconds", "style_marker_rate_base",
           "style_marker_rate", "min_gate_pass_rate", "passed"]


def parse_value(text: str):
    """A YAML-typed scalar; "1e-4" (a string to YAML 1.1) is read as the number it means."""
    value = yaml.safe_load(text)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return value
    return value


def split_values(text: str) -> list[str]:
    """"8,16,32" -> ["8", "16", "32"]; commas inside [...] or {...} stay (a list is one value)."""
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch in "[{"
        depth -= ch in "]}"
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return [v.strip() for v in out + [cur]]


def parse_grid(items: list[str]) -> tuple[dict[str, list], dict]:
    """["train.lora.r=8,16", "train.epochs=1"] -> ({"train.lora.r": [8, 16]}, {"train.epochs": 1})."""
    grid, fixed = {}, {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=V1,V2,..., got {item!r}")
        key, text = (part.strip() for part in item.split("=", 1))
        values = [parse_value(v) for v in split_values(text)]
        if any(v is None for v in values):
            raise ValueError(f"--set {item!r}: an empty value")
        if key in grid or key in fixed:
            raise ValueError(f"--set {key} given twice")
        if len(values) > 1:
            if len(set(map(repr, values))) != len(values):
                raise ValueError(f"--set {item!r}: a value is repeated")
            grid[key] = values
        else:
            fixed[key] = values[0]
    return grid, fixed


def grid_points(grid: dict[str, list]) -> list[dict]:
    """Every combination, the first key varying slowest."""
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))]


def point_label(point: dict) -> str:
    """{"train.lora.r": 8, "train.learning_rate": 0.0001} -> "lora.r=8 learning_rate=0.0001"."""
    return " ".join(f"{k.removeprefix('train.')}={v}" for k, v in point.items()) or "defaults"


def point_result(store: str | Path, character_id: str, run_id: str, point: dict) -> dict:
    """One row of the comparison: the point's params, training and evaluation figures, its status."""
    paths = run_paths(store, character_id, run_id)
    summary_path = paths.run_dir / "summary.json"
    s = read_json(summary_path) if summary_path.exists() else {}
    train, ev = paths.result("train"), paths.result("evaluate")
    ok = all(s.get("stages", {}).get(st) == "ok" for st in SWEEP_STAGES)
    smr = ev.get("style_marker_rate") or {}
    gates = (ev.get("gate_pass_rate") or {}).get("adapter") or {}
    record = {}
    if train.get("adapter_version") and (paths.adapter_root() / train["adapter_version"] / "record.json").exists():
        record = read_json(paths.adapter_root() / train["adapter_version"] / "record.json")
    return {"label": point_label(point), **point, "run_id": run_id, "status": "ok" if ok else "failed",
            "error": None if ok else (s.get("error") or "not run"),
            "adapter_version": train.get("adapter_version"), "r": (record.get("train_params") or {}).get("lora", {}).get("r"),
            "final_loss": train.get("final_loss"), "train_loss": train.get("train_loss"),
            "train_seconds": train.get("wall_seconds"), "steps": train.get("steps"),
            "style_marker_rate_base": smr.get("base"), "style_marker_rate": smr.get("adapter"),
            "min_gate_pass_rate": min(gates.values()) if gates else None,
            "passed": ev.get("passed"), "reasons": "; ".join(ev.get("reasons") or [])}


def best_point(rows: list[dict]) -> dict | None:
    """The best row by BEST_RULE, or None when no point passed the gates."""
    def num(v, worst):
        return worst if v is None or (isinstance(v, float) and math.isnan(v)) else v

    candidates = [r for r in rows if r.get("status") == "ok" and r.get("passed") is True]
    if not candidates:
        return None
    return min(candidates, key=lambda r: (-num(r.get("style_marker_rate"), -1.0), num(r.get("final_loss"), math.inf),
                                          num(r.get("r"), math.inf)))


def sweep_dir(store: str | Path, character_id: str, sweep_id: str) -> Path:
    return Path(store).resolve() / "sweeps" / character_id / sweep_id


def run_sweep(character_id: str, grid: dict[str, list], *, store: str | Path = "runs",
              params_dir: str | Path = "params", overrides: dict | None = None, sweep_id: str | None = None,
              dataset_run: str | None = None, jobs: int = 1, force: bool = False, progress: bool = True,
              log=print, executor: str = "local", address: str | None = None) -> dict:
    """Run the grid on one dataset version; return sweep.json's content plus `results`, `best`, `dir`.

    Every point's params are checked before any work. The dataset comes from `dataset_run`, or from
    a run `sweep-<id>-data` (collect, clean, dataset) made here. Re-running the same `sweep_id`
    resumes: points whose train and evaluate already succeeded with the same params are skipped.
    `executor="ray"` runs each point as a Ray task on the cluster at `address` (pipeline.run_jobs).
    """
    from . import reports
    from .pipeline import Job, PipelineError, new_run_id, ray_resources, run_character, run_jobs
    from .pipeline.batch import check_executor
    from .train import git_state

    store, params_dir = Path(store).resolve(), Path(params_dir).resolve()
    check_executor(executor)
    overrides = dict(overrides or {})
    points = grid_points(grid)
    if not grid:
        raise ValueError("a sweep needs at least one param with several values (--set KEY=V1,V2)")
    resources = [ray_resources(load_params(character_id, params_dir=params_dir,  # a bad value fails here
                                           overrides={**overrides, **point, "store": str(store)}), SWEEP_STAGES)
                 for point in points]
    sweep_id = sweep_id or new_run_id()
    sdir = sweep_dir(store, character_id, sweep_id)
    group = f"sweep-{character_id}-{sweep_id}"

    data_run = dataset_run or f"sweep-{sweep_id}-data"
    data_paths = run_paths(store, character_id, data_run)
    if not dataset_run:
        run_character(character_id, run_id=data_run, stages=["collect", "clean", "dataset"], store=store,
                      params_dir=params_dir, overrides={**overrides, "wandb_group": group}, resume=not force,
                      force=force, log=log)
    dataset = data_paths.result("dataset")
    if not dataset.get("dataset_version"):
        raise PipelineError(f"run {character_id}/{data_run} has no dataset version: run its dataset stage first")

    runs = []
    for i, point in enumerate(points):
        run_id = f"sweep-{sweep_id}-p{i}"
        # Each point's run starts from the sweep's dataset: the same version for every point.
        write_json(run_paths(store, character_id, run_id).stage_dir("dataset") / "result.json", dataset)
        runs.append({"run_id": run_id, "label": point_label(point), "overrides": point})
    sweep = {"sweep_id": sweep_id, "character_id": character_id, "grid": grid, "fixed": overrides,
             "points": runs, "dataset_run": data_run, "dataset_version": dataset["dataset_version"],
             "wandb_group": group, "rule": BEST_RULE, "git_commit": git_state(Path(__file__).parent)["commit"],
             "params_sha256": sha256_json({"grid": grid, "fixed": overrides})}
    write_json(sdir / "sweep.json", {**sweep, "started_at": datetime.now(UTC).isoformat()})
    log(f"sweep {sweep_id}: {len(points)} points on dataset {dataset['dataset_version']}, {jobs} at a time")
    run_jobs([Job(character_id, r["run_id"], SWEEP_STAGES, None, {**overrides, **r["overrides"], "wandb_group": group},
                  force, res) for r, res in zip(runs, resources, strict=True)], store=store, params_dir=params_dir,
             max_jobs=jobs, total_steps=len(runs) * len(SWEEP_STAGES), progress=progress, log=log,
             executor=executor, address=address)
    results = [point_result(store, character_id, r["run_id"], r["overrides"]) for r in runs]
    best = best_point(results)
    write_json(sdir / "results.json", results)
    sweep = {**sweep, "best": best, "finished_at": datetime.now(UTC).isoformat()}
    write_json(sdir / "sweep.json", sweep)
    _compare_notebook(sdir, character_id, sweep_id, store, params_dir, sweep, data_paths)
    reports.write_store_index(store)
    return {**sweep, "results": results, "dir": str(sdir)}


def _compare_notebook(sdir: Path, character_id: str, sweep_id: str, store: Path, params_dir: Path, sweep: dict,
                      data_paths) -> None:
    """Execute notebooks/compare_runs.ipynb for this sweep and render it with a lineage header."""
    from . import reports
    from .pipeline import NOTEBOOKS, ROOT

    reports.skip_slow_optional_imports()
    import papermill as pm

    out = sdir / "compare_runs.ipynb"
    pm.execute_notebook(str(NOTEBOOKS / "compare_runs.ipynb"), str(out), cwd=str(ROOT), progress_bar=False,
                        kernel_name="python3", parameters={"character_id": character_id, "run_id": sweep_id,
                                                           "store": str(store), "params_dir": str(params_dir),
                                                           "overrides": {}})
    manifest = data_paths.dataset_root() / sweep["dataset_version"] / "manifest.json"
    ctx = {"character_id": character_id, "run_id": f"sweep {sweep_id}", "params_sha256": sweep["params_sha256"],
           "git_commit": sweep["git_commit"],
           "dataset": reports.dataset_lineage(read_json(manifest) if manifest.exists() else {}),
           "adapter_note": "one per point: see the table (adapter version, run id)"}
    reports.render_notebook(out, ctx, index_link="../../../index.html", index_label="all runs")
    reports.render_notebook(out, ctx, index_link="../../../index.html", index_label="all runs", hide_code=True)


def comparison_table(store: str | Path, character_id: str, sweep_id: str = ""):
    """A DataFrame, one row per sweep point (or, without `sweep_id`, per evaluated run of the character)."""
    import pandas as pd

    if sweep_id:
        sdir = sweep_dir(store, character_id, sweep_id)
        if not (sdir / "sweep.json").exists():
            raise FileNotFoundError(f"no sweep {sweep_id!r} for {character_id!r} in {sdir.parent}")
        sw = read_json(sdir / "sweep.json")
        rows = [point_result(store, character_id, r["run_id"], r["overrides"]) for r in sw["points"]]
    else:
        from .reports import collect_runs

        rows = []
        for s in collect_runs(store):
            if s["character_id"] == character_id and s.get("stages", {}).get("evaluate") == "ok":
                rows.append(point_result(store, character_id, s["run_id"], {}) | {"label": s["run_id"]})
    return pd.DataFrame(rows)


def metrics_plot(table, best_label: str | None = None, title: str = ""):
    """Style-marker rate (with the base's), lowest gate pass rate and final loss, one bar per point."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 3.6))
    axes = fig.subplots(1, 3)
    if len(table) == 0:
        axes[1].text(0.5, 0.5, "no runs to compare", ha="center", va="center")
        return fig
    labels = list(table["label"])
    colors = ["#dd8452" if lab == best_label else "#4c72b0" for lab in labels]
    panels = [("style_marker_rate", "adapter style-marker rate", (0, 1.05)),
              ("min_gate_pass_rate", "lowest gate pass rate", (0, 1.05)), ("final_loss", "final train loss", None)]
    for ax, (col, name, ylim) in zip(axes, panels, strict=True):
        ax.bar(range(len(labels)), table[col].astype(float).fillna(0), color=colors)
        if col == "style_marker_rate":
            ax.plot(range(len(labels)), table["style_marker_rate_base"].astype(float), "k_", ms=20, mew=2,
                    label="base")
            ax.legend(loc="lower right", fontsize=8)
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_title(name, fontsize=10)
        if ylim:
            ax.set_ylim(*ylim)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def format_table(rows: list[dict]) -> str:
    """The comparison as plain text for the terminal."""
    import pandas as pd

    return pd.DataFrame(rows)[COLUMNS].to_string(index=False) if rows else "(no points)"

"""Chain the stage notebooks with papermill, per character, into reports a reviewer can read.

Each stage runs as notebooks/NN_<stage>.ipynb -> <store>/<character>/<run_id>/NN_<stage>.ipynb,
is rendered to HTML next to it, and an index.html plus summary.json describe the run. A failing
stage stops that character's chain with its error in summary.json; earlier outputs stay.
"""

from __future__ import annotations

import html
import time
from datetime import UTC, datetime
from pathlib import Path

from .config import load_params
from .store import STAGES, RunPaths, read_json, run_paths, write_json

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


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
    for field in ("messages", "users", "characters") if "collect" in stages else ():
        path = p.path(getattr(p.inputs, field))
        if not path.exists():
            hint = " (run `lora demo build` for the demo world)" if "demo" in str(path) else ""
            raise PipelineError(f"inputs.{field}: file not found: {path}{hint}")
    base = p.path(p.base_model)
    needs_model = {"dataset", "train", "evaluate", "monitor"} & set(stages)  # dataset: its tokenizer
    if needs_model and base.is_absolute() and not base.exists():
        raise PipelineError(f"base_model: not found: {base} (run `lora demo build` for the demo model)")


def render_html(notebook: Path, *, hide_code: bool = False) -> Path:
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(notebook, as_version=4)
    exporter = HTMLExporter(exclude_input=hide_code, exclude_input_prompt=hide_code)
    body, _ = exporter.from_notebook_node(nb)
    out = notebook.with_suffix(".html")
    out.write_text(body, encoding="utf-8")
    return out


def write_index(paths: RunPaths, summary: dict) -> Path:
    rows = []
    for stage in STAGES:
        nb = notebook_for(stage).name
        status = summary["stages"].get(stage, "not run")
        link = f'<a href="{nb[:-6]}.html">{nb[:-6]}</a>' if (paths.run_dir / nb).exists() else nb[:-6]
        rows.append(f"<tr><td>{link}</td><td>{html.escape(str(status))}</td></tr>")
    smr = summary.get("metrics", {}).get("style_marker_rate", {})
    page = f"""<!doctype html><meta charset="utf-8"><title>{paths.character_id} {paths.run_id}</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:4px 12px;border-bottom:1px solid #ddd}}</style>
<h1>{html.escape(paths.character_id)} &middot; run {html.escape(paths.run_id)}</h1>
<p>dataset <code>{summary.get('dataset_version')}</code> &middot; adapter <code>{summary.get('adapter_version')}</code>
&middot; params sha256 <code>{summary.get('params_sha256', '')[:12]}</code> &middot; commit <code>{summary.get('git_commit')}</code></p>
<p>style-marker rate: base {smr.get('base')} &rarr; adapter {smr.get('adapter')} &middot;
gates passed: {summary.get('gates', {}).get('passed')}</p>
<table><tr><th>stage</th><th>status</th></tr>{''.join(rows)}</table>
<p><a href="summary.json">summary.json</a></p>"""
    out = paths.run_dir / "index.html"
    out.write_text(page, encoding="utf-8")
    return out


def run_character(character_id: str, *, run_id: str | None = None, stages: list[str] | None = None,
                  from_stage: str | None = None, store: str | Path = "runs", params_dir: str | Path = "params",
                  overrides: dict | None = None, log=print) -> dict:
    """Run the chain for one character; return summary.json's content; raise PipelineError on failure."""
    store, params_dir = Path(store).resolve(), Path(params_dir).resolve()
    overrides = {**(overrides or {}), "store": str(store)}
    p = load_params(character_id, params_dir=params_dir, overrides=overrides)  # bad params fail here
    chosen = select_stages(stages, from_stage)
    check_inputs(p, chosen)
    import papermill as pm  # after the checks: a bad input fails in a fraction of a second

    from .stages import summary_of
    from .train import git_state

    paths = run_paths(store, character_id, run_id or new_run_id())
    paths.run_dir.mkdir(parents=True, exist_ok=True)
    summary_path = paths.run_dir / "summary.json"
    # Re-running some stages of an existing run keeps what the others reported.
    status: dict[str, str] = read_json(summary_path).get("stages", {}) if summary_path.exists() else {}
    failed = None
    for stage in chosen:
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
        if dst.exists():
            render_html(dst)
        log(f"[{character_id}] {stage} {'ok' if not failed else 'FAILED'} ({time.time() - start:.1f} s)")
        if failed:
            break
    summary = {**summary_of(paths, status), "params_sha256": p.sha256(), "git_commit": git_state(ROOT)["commit"],
               "finished_at": datetime.now(UTC).isoformat()}
    write_json(summary_path, summary)
    write_index(paths, summary)
    if failed:
        raise PipelineError(f"{character_id}: stage {failed} failed: {status[failed]} "
                            f"(see {paths.run_dir / notebook_for(failed).name})")
    return summary

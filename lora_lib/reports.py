"""Reports a reviewer reads: executed notebooks as HTML, run and batch pages, a store-wide index.

Every page states the run id, character, params hash, git commit and the lineage of the run's
dataset (version, parent, sources, contributing users, cleaning config) and adapter (version,
dataset, base model hash, seed, train params), read from the manifest and record the stages
wrote. Pages are static HTML with relative links: a store can be copied or served as it is.
`screenshot` renders a page in headless Chromium (the Debian `chromium` package) to a PNG.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from .store import STAGES, RunPaths, atomic_write_text, read_json, sha256_file

# Directories of a store that are not characters (see store.py for the layout).
RESERVED = {"demo", "datasets", "adapters", "batches", "sweeps", "wandb", "bench", "registry"}

CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:1em 0}td,th{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left;
vertical-align:top}th{background:#f4f4f4}code{font-size:90%}.ok{color:#176f2c;font-weight:600}
.failed{color:#b00020;font-weight:600}.muted{color:#888}.facts td:first-child{color:#555;white-space:nowrap}
.err{max-width:38em;font-family:monospace;font-size:85%;color:#b00020}
.chip{display:inline-block;padding:1px 6px;margin:1px;border-radius:8px;font-size:80%;border:1px solid currentColor}
.chip.ok{background:#e6f4ea;font-weight:400}.chip.failed{background:#fde7ea}.reasons{margin:4px 0;padding-left:1.2em;
font-size:85%;max-width:30em}summary{cursor:pointer}"""


def skip_slow_optional_imports() -> None:
    """Call before importing nbformat, nbconvert or papermill.

    jsonschema (under nbformat) imports `rfc3987_syntax` when it is installed (jupyterlab pulls it
    in) only to check the "iri" string format, which notebooks never use; that import compiles a
    Lark grammar and took ~4 s of every process here. Marking it absent makes jsonschema skip
    that one format check (it guards the import with suppress(ImportError)).
    """
    import sys

    sys.modules.setdefault("rfc3987_syntax", None)


def _write(path: Path, text: str) -> None:
    """Atomic write, readable by a web server (mkstemp makes files owner-only)."""
    atomic_write_text(path, text)
    os.chmod(path, 0o644)


def _read(path: Path) -> dict:
    return read_json(path) if path.exists() else {}


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _short(value, n: int = 12) -> str:
    return str(value)[:n] if value else "—"


# ---------------------------------------------------------------- lineage


def dataset_lineage(manifest: dict) -> dict:
    """The facts of a dataset version that say where it came from."""
    if not manifest:
        return {}
    counts = manifest.get("counts", {})
    return {"version": manifest.get("version"), "parent_version": manifest.get("parent_version"),
            "train": counts.get("train"), "eval": counts.get("eval"), "sources": counts.get("sources", {}),
            "contributing_users": len(manifest.get("user_refs", [])),
            "clean_config_sha256": manifest.get("config_sha256", {}).get("clean")}


def adapter_lineage(record: dict) -> dict:
    """The facts of an adapter that say what made it."""
    if not record:
        return {}
    tp = record.get("train_params", {})
    return {"version": record.get("adapter_version"), "dataset_version": record.get("dataset_version"),
            "method": record.get("method"), "base_model": record.get("base_model"),
            "base_model_sha256": record.get("sha256"), "tokenizer_sha256": record.get("tokenizer_sha256"),
            "seed": record.get("seed"), "r": tp.get("lora", {}).get("r"), "alpha": tp.get("lora", {}).get("alpha"),
            "learning_rate": tp.get("learning_rate"), "epochs": tp.get("epochs"),
            "adapter_sha256": record.get("adapter_sha256"), "git_commit": record.get("git", {}).get("commit")}


def run_context(paths: RunPaths, summary: dict) -> dict:
    """What every page of a run states: ids, params hash, commit, dataset and adapter lineage."""
    ds, ad = summary.get("dataset_version"), summary.get("adapter_version")
    return {"character_id": paths.character_id, "run_id": paths.run_id,
            "params_sha256": summary.get("params_sha256"), "git_commit": summary.get("git_commit"),
            "git_dirty": summary.get("git_dirty"),
            "dataset": dataset_lineage(_read(paths.dataset_root() / ds / "manifest.json")) if ds else {},
            "adapter": adapter_lineage(_read(paths.adapter_root() / ad / "record.json")) if ad else {}}


def _dataset_text(d: dict) -> str:
    if not d:
        return "none yet"
    sources = ", ".join(f"{k} {v}" for k, v in sorted(d["sources"].items()))
    return (f"`{d['version']}` (parent `{d['parent_version'] or 'none'}`): {d['train']} train / {d['eval']} eval "
            f"records; sources {sources}; {d['contributing_users']} contributing users; "
            f"cleaning config `{_short(d['clean_config_sha256'])}`")


def _adapter_text(a: dict) -> str:
    if not a:
        return "none yet"
    return (f"`{a['version']}` ({a['method']}, r {a['r']}, alpha {a['alpha']}, lr {a['learning_rate']}, "
            f"{a['epochs']} epochs, seed {a['seed']}) from dataset `{a['dataset_version']}` on base model "
            f"`{_short(a['base_model_sha256'])}` (tokenizer `{_short(a['tokenizer_sha256'])}`); "
            f"weights sha256 `{_short(a['adapter_sha256'])}`")


def header_markdown(ctx: dict, *, index_link: str | None = "index.html", index_label: str = "run index") -> str:
    """The lineage header put on top of every rendered notebook."""
    dirty = " (uncommitted changes)" if ctx.get("git_dirty") else ""
    rows = [("run", f"`{ctx['run_id']}`" + (f" · [{index_label}]({index_link})" if index_link else "")),
            ("character", f"`{ctx['character_id']}`"),
            ("params sha256", f"`{_short(ctx.get('params_sha256'))}`"),
            ("git commit", f"`{_short(ctx.get('git_commit'))}`{dirty}"),
            ("dataset", _dataset_text(ctx.get("dataset", {}))),
            ("adapter", ctx.get("adapter_note") or _adapter_text(ctx.get("adapter", {})))]
    return "| | |\n|---|---|\n" + "\n".join(f"| **{k}** | {v} |" for k, v in rows)


def _md_to_html(text: str) -> str:
    """`code` spans of our own header text -> <code>; everything else escaped."""
    parts = _e(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def header_html(ctx: dict) -> str:
    dirty = " (uncommitted changes)" if ctx.get("git_dirty") else ""
    rows = [("run", f"<code>{_e(ctx['run_id'])}</code>"), ("character", f"<code>{_e(ctx['character_id'])}</code>"),
            ("params sha256", f"<code>{_e(_short(ctx.get('params_sha256')))}</code>"),
            ("git commit", f"<code>{_e(_short(ctx.get('git_commit')))}</code>{dirty}"),
            ("dataset", _md_to_html(_dataset_text(ctx.get("dataset", {})))),
            ("adapter", _md_to_html(_adapter_text(ctx.get("adapter", {}))))]
    return '<table class="facts">' + "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows) + "</table>"


# ---------------------------------------------------------------- notebooks


def review_path(notebook: Path) -> Path:
    """Where the code-free rendering of an executed notebook goes."""
    return notebook.with_suffix(".review.html")


def render_notebook(notebook: str | Path, ctx: dict | None = None, *, hide_code: bool = False,
                    out: str | Path | None = None, index_link: str | None = "index.html",
                    index_label: str = "run index", share_css: bool = True) -> Path:
    """Executed notebook -> HTML with its outputs, the lineage header on top; `hide_code` for reviewers."""
    skip_slow_optional_imports()
    import nbformat
    from nbconvert import HTMLExporter

    notebook = Path(notebook)
    nb = nbformat.read(notebook, as_version=4)
    if ctx:
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(header_markdown(ctx, index_link=index_link, index_label=index_label)))
    exporter = HTMLExporter(exclude_input=hide_code, exclude_input_prompt=hide_code,
                            exclude_output_prompt=hide_code)
    body, _ = exporter.from_notebook_node(nb)
    out = Path(out) if out else (review_path(notebook) if hide_code else notebook.with_suffix(".html"))
    _write(out, _share_css(body, out.parent) if share_css else body)
    return out


def _share_css(page: str, directory: Path, min_chars: int = 8192) -> str:
    """Move the theme CSS nbconvert inlines in every page (~250 KB) to one file per directory.

    Named by content hash, so pages from another nbconvert version get their own file; the run
    directory stays self-contained.
    """
    def link(match: re.Match) -> str:
        css = match.group(1)
        if len(css) < min_chars:
            return match.group(0)
        name = f"nbconvert-{hashlib.sha256(css.encode()).hexdigest()[:12]}.css"
        if not (directory / name).exists():
            _write(directory / name, css)
        return f'<link rel="stylesheet" href="{name}">'

    return re.sub(r'<style type="text/css">(.*?)</style>', link, page, flags=re.S)


def executed_notebooks(run_dir: Path) -> list[Path]:
    return [run_dir / f"{i:02d}_{s}.ipynb" for i, s in enumerate(STAGES, 1) if (run_dir / f"{i:02d}_{s}.ipynb").exists()]


def render_run(paths: RunPaths, summary: dict, *, review_html: bool = True) -> list[Path]:
    """Render every executed notebook of a run (with code, and without it when `review_html`)."""
    ctx, out = run_context(paths, summary), []
    for nb in executed_notebooks(paths.run_dir):
        out.append(render_notebook(nb, ctx))
        if review_html:
            out.append(render_notebook(nb, ctx, hide_code=True))
    return out


# ---------------------------------------------------------------- sizes


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) if Path(path).exists() else 0


def human(n: int | None) -> str:
    if n is None:
        return "—"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def run_sizes(paths: RunPaths, summary: dict) -> dict:
    """Bytes of the run dir, its adapter and the base model; weight files in the run dir that copy the base."""
    record = _read(paths.adapter_root() / summary["adapter_version"] / "record.json") \
        if summary.get("adapter_version") else {}
    base = Path(record["base_model"]) if record.get("base_model") else None
    weights = [f for f in paths.run_dir.rglob("*") if f.suffix in (".safetensors", ".bin", ".pt") and f.is_file()]
    base_hashes = {sha256_file(f) for f in base.glob("*.safetensors")} if base and base.exists() else set()
    largest = max((f for f in paths.run_dir.rglob("*") if f.is_file()), key=lambda f: f.stat().st_size, default=None)
    return {"run_dir_bytes": dir_bytes(paths.run_dir),
            "largest_file": [str(largest.relative_to(paths.run_dir)), largest.stat().st_size] if largest else None,
            "adapter_bytes": dir_bytes(paths.adapter_root() / summary["adapter_version"])
            if summary.get("adapter_version") else None,
            "base_model_bytes": dir_bytes(base) if base and base.exists() else None,
            "weight_files_in_run_dir": [str(f.relative_to(paths.run_dir)) for f in weights],
            "base_model_copies_in_run_dir": [str(f.relative_to(paths.run_dir)) for f in weights
                                             if base_hashes and sha256_file(f) in base_hashes]}


# ---------------------------------------------------------------- pages


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><meta charset="utf-8"><title>{_e(title)}</title>'
            f"<style>{CSS}</style><body>{body}</body></html>\n")


def _status_cell(status) -> str:
    if status is None:
        return '<td class="muted">not run</td>'
    if status == "ok":
        return '<td class="ok">ok</td>'
    return f'<td class="failed" title="{_e(status)}">failed</td>'


def _metrics_text(s: dict) -> str:
    smr = (s.get("metrics") or {}).get("style_marker_rate") or {}
    if not smr:
        return "—"
    return f"{smr.get('base')} → {smr.get('adapter')}"


def _gate_text(s: dict) -> str:
    passed = (s.get("gates") or {}).get("passed")
    if passed is None:
        return '<span class="muted">—</span>'
    reasons = (s.get("gates") or {}).get("reasons") or []
    if passed:
        return '<span class="ok">pass</span>'
    items = "".join(f"<li>{_e(r)}</li>" for r in reasons)
    return (f'<details><summary><span class="failed">fail</span> ({len(reasons)} reason'
            f'{"" if len(reasons) == 1 else "s"})</summary><ul class="reasons">{items}</ul></details>')


def _when(iso: str | None) -> str:
    return (iso or "")[:19].replace("T", " ") + (" UTC" if iso else "")


def _alerts_html(alerts) -> str:
    """Monitor alerts as one line each ("metric value > threshold (version, n)") when they have that shape."""
    if alerts is None:
        return "—"
    if not alerts:
        return "none"
    if not isinstance(alerts, list) or not all(isinstance(a, dict) and "metric" in a for a in alerts):
        return _e(alerts)
    items = "".join(f"<li>{_e(a['metric'])} {_e(a.get('value'))} &gt; {_e(a.get('threshold'))} "
                    f"<span class=\"muted\">(adapter {_e(a.get('adapter_version'))}, n={_e(a.get('n'))})</span></li>"
                    for a in alerts)
    return f'<details><summary>{len(alerts)} alert(s)</summary><ul class="reasons">{items}</ul></details>'


def write_run_index(paths: RunPaths, summary: dict) -> Path:
    """<run>/index.html: lineage, every stage with status, time and links, key metrics, sizes."""
    ctx = run_context(paths, summary)
    rows = []
    for i, stage in enumerate(STAGES, 1):
        stem = f"{i:02d}_{stage}"
        status = summary.get("stages", {}).get(stage)
        links = []
        if (paths.run_dir / f"{stem}.html").exists():
            links.append(f'<a href="{stem}.html">notebook</a>')
        if (paths.run_dir / f"{stem}.review.html").exists():
            links.append(f'<a href="{stem}.review.html">without code</a>')
        if (paths.run_dir / stage / "result.json").exists():
            links.append(f'<a href="{stage}/result.json">result.json</a>')
        err = f'<div class="err">{_e(status)}</div>' if status not in (None, "ok") else ""
        secs = summary.get("seconds", {}).get(stage)
        rows.append(f"<tr><td>{stem}</td>{_status_cell(status)}<td>{'' if secs is None else f'{secs:.1f} s'}</td>"
                    f"<td>{' · '.join(links)}{err}</td></tr>")
    sizes = run_sizes(paths, summary)
    copies = sizes["base_model_copies_in_run_dir"]
    serve = summary.get("serve") or {}
    alerts = (summary.get("monitor") or {}).get("alerts")
    body = f"""<p><a href="../../index.html">&larr; all runs</a></p>
<h1>{_e(paths.character_id)} &middot; run {_e(paths.run_id)}</h1>
{header_html(ctx)}
<h2>Stages</h2>
<table><tr><th>stage</th><th>status</th><th>time</th><th>reports</th></tr>{''.join(rows)}</table>
<h2>Key results</h2>
<table class="facts">
<tr><td>style-marker rate (base &rarr; adapter)</td><td>{_e(_metrics_text(summary))}</td></tr>
<tr><td>gate decision</td><td>{_gate_text(summary)}</td></tr>
<tr><td>registry status / route</td><td>{_e(serve.get('status') or '—')} / <code>{_e(serve.get('route') or '—')}</code></td></tr>
<tr><td>monitor alerts</td><td>{_alerts_html(alerts)}</td></tr>
</table>
<h2>Sizes</h2>
<table class="facts">
<tr><td>this run directory</td><td>{human(sizes['run_dir_bytes'])} (largest file {_e(sizes['largest_file'] and sizes['largest_file'][0])}, {human(sizes['largest_file'] and sizes['largest_file'][1])})</td></tr>
<tr><td>adapter (shared store)</td><td>{human(sizes['adapter_bytes'])}</td></tr>
<tr><td>base model (shared store, referenced, not copied)</td><td>{human(sizes['base_model_bytes'])}</td></tr>
<tr><td>copies of base-model weights in the run</td><td>{_e(', '.join(copies) if copies else 'none')}</td></tr>
</table>
<p><a href="summary.json">summary.json</a> &middot; <a href="pipeline.log">pipeline.log</a> &middot;
finished {_e(_when(summary.get('finished_at')))}</p>"""
    out = paths.run_dir / "index.html"
    _write(out, _page(f"{paths.character_id} {paths.run_id}", body))
    return out


def _stage_chips(stages: dict, chosen: list[str]) -> str:
    """One small coloured chip per stage (ok / failed / not run), the status as a tooltip."""
    chips = []
    for st in chosen:
        status = stages.get(st)
        cls = "ok" if status == "ok" else "muted" if status is None else "failed"
        chips.append(f'<span class="chip {cls}" title="{_e(st)}: {_e(status or "not run")}">{_e(st)}</span>')
    return " ".join(chips)


def _attempt_item(a: dict) -> str:
    ran = "; ".join(f"{c}: {', '.join(st)}" for c, st in a.get("ran", {}).items()) or "nothing to run"
    failed = "".join(f'<div class="err">{_e(c)}: {_e(err)}</div>' for c, err in a.get("failed", {}).items())
    return f"<li>{_e(_when(a['finished_at']))} &middot; ran {_e(ran)}{failed}</li>"


def write_batch_report(batch_dir: Path, summary: dict) -> Path:
    """<store>/batches/<id>/index.html: one row per character, failures with their error."""
    chosen = summary["stages"]
    rows = []
    for r in summary["characters"]:
        link = f'<a href="{_e(r["report"])}">report</a>' if r.get("report") else "—"
        ran = ", ".join(r.get("ran") or []) or "nothing"
        err = f'<div class="err">{_e(r["failed_stage"])}: {_e(r["error"])}</div>' if r.get("error") else ""
        rows.append(f"<tr><td><b>{_e(r['character_id'])}</b></td>"
                    f"<td class=\"{'ok' if r['status'] == 'ok' else 'failed'}\">{_e(r['status'])}{err}</td>"
                    f"<td>{_stage_chips(r.get('stages', {}), chosen)}</td><td>{_e(ran)}</td>"
                    f"<td><code>{_e(r.get('dataset_version') or '—')}</code></td>"
                    f"<td><code>{_e(r.get('adapter_version') or '—')}</code></td>"
                    f"<td>{_e(_metrics_text(r))}</td><td>{_gate_text(r)}</td>"
                    f"<td>{_e((r.get('serve') or {}).get('status') or '—')}</td>"
                    f"<td>{r.get('seconds', 0):.0f} s</td><td>{link}</td></tr>")
    n_ok = sum(r["status"] == "ok" for r in summary["characters"])
    overrides = {**summary.get("overrides", {}), **{f"{c}:{k}": v for c, o in summary.get("character_overrides", {}).items()
                                                      for k, v in o.items()}}
    body = f"""<p><a href="../../index.html">&larr; all runs</a></p>
<h1>Batch {_e(summary['batch_id'])}</h1>
<p>{n_ok} of {len(summary['characters'])} characters ok &middot; stages {_e(', '.join(chosen))} &middot;
{summary['jobs']} parallel job(s) &middot; {summary['seconds']:.0f} s &middot; overrides <code>{_e(overrides or 'none')}</code>
&middot; finished {_e(_when(summary['finished_at']))}</p>
<table><tr><th>character</th><th>chain</th><th>stages</th><th>ran this time</th><th>dataset</th><th>adapter</th>
<th>style-marker rate<br>base &rarr; adapter</th><th>gates</th><th>registry</th><th>time</th><th>report</th></tr>
{''.join(rows)}</table>
<h2>Attempts</h2><ol>{''.join(_attempt_item(a) for a in summary.get("attempts", []))}</ol>
<p><a href="summary.json">summary.json</a></p>"""
    out = batch_dir / "index.html"
    _write(out, _page(f"batch {summary['batch_id']}", body))
    return out


def collect_runs(store: str | Path) -> list[dict]:
    """Every run's summary.json in the store, newest first."""
    store = Path(store)
    runs = []
    for path in store.glob("*/*/summary.json"):
        if path.parent.parent.name in RESERVED:
            continue
        try:
            s = read_json(path)
        except ValueError:
            continue  # half-written by a crash: the run page says so, the index skips it
        runs.append({**s, "character_id": path.parent.parent.name, "run_id": path.parent.name})
    return sorted(runs, key=lambda s: (s.get("finished_at") or "", s["run_id"]), reverse=True)


def write_store_index(store: str | Path) -> Path:
    """<store>/index.html: every run of every character, the batches and the sweeps."""
    store = Path(store)
    runs = collect_runs(store)
    rows, latest = [], {}
    for s in runs:
        latest.setdefault(s["character_id"], s)
        stages = s.get("stages", {})
        failed = s.get("failed_stage") or next((k for k, v in stages.items() if v != "ok"), None)
        state = (f'<span class="failed">{_e(failed)} failed</span><br>' if failed else "") + _stage_chips(stages, STAGES)
        link = f"{_e(s['character_id'])}/{_e(s['run_id'])}/index.html"
        rows.append(f"<tr><td><b>{_e(s['character_id'])}</b></td><td><a href=\"{link}\">{_e(s['run_id'])}</a></td>"
                    f"<td>{state}</td><td><code>{_e(s.get('dataset_version') or '—')}</code></td>"
                    f"<td><code>{_e(s.get('adapter_version') or '—')}</code></td><td>{_e(_metrics_text(s))}</td>"
                    f"<td>{_gate_text(s)}</td><td><code>{_e(_short(s.get('params_sha256')))}</code></td>"
                    f"<td><code>{_e(_short(s.get('git_commit'), 8))}</code></td>"
                    f"<td>{_e(_when(s.get('finished_at')))}</td></tr>")
    # What a reviewer of dozens of characters looks at first: each one's newest full-chain run.
    newest = []
    for cid in sorted(latest):
        full = next((r for r in runs if r["character_id"] == cid and "evaluate" in r.get("stages", {})), None)
        r = full or latest[cid]
        newest.append(f"<tr><td><b>{_e(cid)}</b></td><td><a href=\"{_e(cid)}/{_e(r['run_id'])}/index.html\">"
                      f"{_e(r['run_id'])}</a></td><td><code>{_e(r.get('adapter_version') or '—')}</code></td>"
                      f"<td>{_e(_metrics_text(r))}</td><td>{_gate_text(r)}</td>"
                      f"<td>{_e((r.get('serve') or {}).get('status') or '—')}</td></tr>")
    batches = []
    for path in sorted(store.glob("batches/*/summary.json"), reverse=True):
        b = read_json(path)
        n_ok = sum(r["status"] == "ok" for r in b["characters"])
        failed = ", ".join(r["character_id"] for r in b["characters"] if r["status"] != "ok")
        batches.append(f'<li><a href="batches/{_e(path.parent.name)}/index.html">{_e(path.parent.name)}</a>: '
                       f'{n_ok}/{len(b["characters"])} ok'
                       + (f' &middot; <span class="failed">failed: {_e(failed)}</span>' if failed else "") + "</li>")
    sweeps = []
    for path in sorted(store.glob("sweeps/*/*/sweep.json"), reverse=True):
        sw = read_json(path)
        page = next((p for p in ("compare_runs.html", "results.json") if (path.parent / p).exists()), "sweep.json")
        best = sw.get("best") or {}
        sweeps.append(f'<li><a href="sweeps/{_e(path.parent.parent.name)}/{_e(path.parent.name)}/{page}">'
                      f'{_e(path.parent.parent.name)} / {_e(path.parent.name)}</a>: {len(sw.get("points", []))} points'
                      f' over {_e(", ".join(sw.get("grid", {})))}'
                      + (f" &middot; best {_e(best.get('label'))}" if best else "") + "</li>")
    body = f"""<h1>LoRA workspace runs</h1>
<p>store <code>{_e(store.resolve())}</code> &middot; {len(runs)} runs of {len({s['character_id'] for s in runs})}
characters &middot; updated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M:%S')} UTC</p>
<h2>Characters</h2>
<p class="muted">each character's newest run that reached evaluation (else its newest run)</p>
<table><tr><th>character</th><th>run</th><th>adapter</th><th>style-marker rate<br>base &rarr; adapter</th>
<th>gates</th><th>registry</th></tr>{''.join(newest) or '<tr><td colspan="6" class="muted">none</td></tr>'}</table>
<h2>All runs</h2>
<table><tr><th>character</th><th>run</th><th>stages</th><th>dataset</th><th>adapter</th>
<th>style-marker rate<br>base &rarr; adapter</th><th>gates</th><th>params</th><th>commit</th><th>finished</th></tr>
{''.join(rows) or '<tr><td colspan="10" class="muted">no runs yet</td></tr>'}</table>
<h2>Batches</h2><ul>{''.join(batches) or '<li class="muted">none</li>'}</ul>
<h2>Sweeps</h2><ul>{''.join(sweeps) or '<li class="muted">none</li>'}</ul>"""
    out = store / "index.html"
    _write(out, _page("LoRA workspace runs", body))
    return out


def rebuild(store: str | Path, *, review_html: bool = True) -> Path:
    """Re-render every run's notebooks and pages from what is on disk; return the store index."""
    from .store import run_paths

    for s in collect_runs(store):
        paths = run_paths(store, s["character_id"], s["run_id"])
        render_run(paths, s, review_html=review_html)
        write_run_index(paths, s)
    for path in Path(store).glob("batches/*/summary.json"):
        write_batch_report(path.parent, read_json(path))
    return write_store_index(store)


# ---------------------------------------------------------------- headless browser


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        if path := shutil.which(name):
            return path
    return None


def screenshot(page: str | Path, png: str | Path, *, width: int = 1280, height: int = 900,
               chromium: str | None = None, timeout: float = 120) -> Path:
    """Render a local HTML page in headless Chromium and save a PNG; RuntimeError if that fails."""
    exe = chromium or find_chromium()
    if not exe:
        raise RuntimeError("no Chromium found: install it (Debian: apt-get install -y chromium)")
    page, png = Path(page).resolve(), Path(png).resolve()
    if not page.exists():
        raise FileNotFoundError(f"page not found: {page}")
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        # --no-sandbox: containers usually run as root, where Chromium's sandbox refuses to start.
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
               f"--user-data-dir={profile}", f"--window-size={width},{height}", f"--screenshot={png}",
               "--virtual-time-budget=5000", page.as_uri()]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                             env={**os.environ, "HOME": profile})
    if not png.exists() or png.stat().st_size == 0:
        raise RuntimeError(f"chromium wrote no screenshot (exit {res.returncode}): {res.stderr.strip()[-500:]}")
    return png

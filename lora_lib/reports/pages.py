"""The pages: a run's index (stages, key results, sizes), a batch's report, the store-wide index
of runs, batches and sweeps; `rebuild` re-renders them all from what is on disk."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from ..store import STAGES, RunPaths, read_json, sha256_file
from .lineage import header_html, run_context
from .markup import _e, _page, _read, _short, _write
from .notebooks import render_run

# Directories of a store that are not characters (see store.py for the layout).
RESERVED = {"demo", "datasets", "adapters", "batches", "sweeps", "wandb", "bench", "registry"}


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
    from ..store import run_paths

    for s in collect_runs(store):
        paths = run_paths(store, s["character_id"], s["run_id"])
        render_run(paths, s, review_html=review_html)
        write_run_index(paths, s)
    for path in Path(store).glob("batches/*/summary.json"):
        write_batch_report(path.parent, read_json(path))
    return write_store_index(store)

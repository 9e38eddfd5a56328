"""Lineage: the facts of a run's dataset and adapter, and the header every page of the run shows."""

from __future__ import annotations

from ..store import RunPaths
from .markup import _e, _read, _short


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

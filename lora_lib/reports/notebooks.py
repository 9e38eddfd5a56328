"""Executed notebooks -> HTML (with code, and without it for reviewers), the lineage header on top."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from ..store import STAGES, RunPaths
from .lineage import header_markdown, run_context
from .markup import _write


def skip_slow_optional_imports() -> None:
    """Call before importing nbformat, nbconvert or papermill.

    jsonschema (under nbformat) imports `rfc3987_syntax` when it is installed (jupyterlab pulls it
    in) only to check the "iri" string format, which notebooks never use; that import compiles a
    Lark grammar and took ~4 s of every process here. Marking it absent makes jsonschema skip
    that one format check (it guards the import with suppress(ImportError)).
    """
    import sys

    sys.modules.setdefault("rfc3987_syntax", None)


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

"""Reports a reviewer reads: executed notebooks as HTML, run and batch pages, a store-wide index.

Every page states the run id, character, params hash, git commit and the lineage of the run's
dataset (version, parent, sources, contributing users, cleaning config) and adapter (version,
dataset, base model hash, seed, train params), read from the manifest and record the stages
wrote. Pages are static HTML with relative links: a store can be copied or served as it is.
`screenshot` renders a page in headless Chromium (the Debian `chromium` package) to a PNG.

- notebooks.py  executed notebook -> HTML (with and without code), the lineage header on top
- lineage.py    dataset and adapter lineage, the header every page of a run shows
- pages.py      a run's index, a batch's report, the store index, rebuild
- markup.py     the stylesheet, page shell, escaping and atomic writes every page shares
- browser.py    screenshot in headless Chromium
"""

from .browser import find_chromium, screenshot
from .lineage import adapter_lineage, dataset_lineage, header_html, header_markdown, run_context
from .markup import CSS
from .notebooks import (
    executed_notebooks,
    render_notebook,
    render_run,
    review_path,
    skip_slow_optional_imports,
)
from .pages import (
    RESERVED,
    collect_runs,
    dir_bytes,
    human,
    rebuild,
    run_sizes,
    write_batch_report,
    write_run_index,
    write_store_index,
)

__all__ = [
    "CSS", "RESERVED", "adapter_lineage", "collect_runs", "dataset_lineage", "dir_bytes", "executed_notebooks",
    "find_chromium", "header_html", "header_markdown", "human", "rebuild", "render_notebook", "render_run",
    "review_path", "run_context", "run_sizes", "screenshot", "skip_slow_optional_imports", "write_batch_report",
    "write_run_index", "write_store_index",
]

"""Reports: lineage headers, rendered notebooks with and without code, run/batch/store pages, a browser check."""

import nbformat
import pytest

from lora_lib import reports
from lora_lib.store import run_paths, write_json


def fake_run(store, cid="nabi", run_id="r1", failed=None):
    """A run on disk as the stages leave it: summary, dataset manifest, adapter record, one notebook."""
    paths = run_paths(store, cid, run_id)
    write_json(paths.dataset_root() / "ds123" / "manifest.json",
               {"version": "ds123", "parent_version": "ds000", "counts": {"train": 40, "eval": 8,
                "sources": {"chat_log": 30, "gold": 18}}, "user_refs": ["a", "b", "c"],
                "config_sha256": {"clean": "c1e4n5ha256"}})
    write_json(paths.adapter_root() / "ad456" / "record.json",
               {"adapter_version": "ad456", "dataset_version": "ds123", "method": "lora", "sha256": "basehash99",
                "tokenizer_sha256": "tokhash77", "seed": 0, "adapter_sha256": "weights55", "git": {"commit": "abc"},
                "train_params": {"lora": {"r": 16, "alpha": 64}, "learning_rate": 2e-4, "epochs": 3},
                "base_model": str(store / "no-model")})
    stages = {"collect": "ok", "clean": "ok", "dataset": "ok", "train": "ok",
              "evaluate": failed or "ok"}
    summary = {"character_id": cid, "run_id": run_id, "stages": stages, "dataset_version": "ds123",
               "adapter_version": "ad456", "params_sha256": "p" * 64, "git_commit": "c0ffee" * 6,
               "metrics": {"style_marker_rate": {"base": 0.0, "adapter": 0.9}},
               "gates": {"passed": not failed, "reasons": []}, "seconds": {"collect": 1.5},
               "failed_stage": "evaluate" if failed else None, "error": failed, "finished_at": "2026-11-27T10:00:00"}
    write_json(paths.run_dir / "summary.json", summary)
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print('secret_code_marker')")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="visible_output_marker\n")]
    nb.cells = [cell]
    nbformat.write(nb, paths.run_dir / "01_collect.ipynb")
    return paths, summary


def test_header_states_run_params_commit_and_lineage(tmp_path):
    paths, summary = fake_run(tmp_path)
    ctx = reports.run_context(paths, summary)
    md = reports.header_markdown(ctx)
    for needle in ("`r1`", "`nabi`", "pppppppppppp", "c0ffeec0ffee", "`ds123` (parent `ds000`)",
                   "40 train / 8 eval", "3 contributing users", "`ad456`", "r 16", "from dataset `ds123`",
                   "basehash99"):
        assert needle in md, needle
    assert "none yet" in reports.header_markdown({**ctx, "dataset": {}, "adapter": {}})


def test_notebook_html_with_and_without_code(tmp_path):
    paths, summary = fake_run(tmp_path)
    written = reports.render_run(paths, summary)
    assert [p.name for p in written] == ["01_collect.html", "01_collect.review.html"]
    full, review = (p.read_text() for p in written)
    assert "secret_code_marker" in full and "visible_output_marker" in full and "ds123" in full
    assert "secret_code_marker" not in review and "visible_output_marker" in review and "ad456" in review
    assert "secret_code_marker" in (paths.run_dir / "01_collect.ipynb").read_text()  # the notebook is untouched
    assert oct((paths.run_dir / "01_collect.html").stat().st_mode)[-3:] == "644"
    # the theme CSS nbconvert inlines in every page is kept once per run directory
    css = list(paths.run_dir.glob("nbconvert-*.css"))
    assert css and sum(c.stat().st_size for c in css) > 100_000 and all(f'href="{c.name}"' in full for c in css)
    assert len(full) < 60_000


def test_run_batch_and_store_pages(tmp_path):
    ok_paths, ok = fake_run(tmp_path)
    bad_paths, bad = fake_run(tmp_path, "bori", "r2", failed="RuntimeError: evaluation exploded")
    reports.render_run(ok_paths, ok)
    run_page = reports.write_run_index(ok_paths, ok).read_text()
    assert 'href="01_collect.html"' in run_page and 'href="01_collect.review.html"' in run_page
    assert "ds123" in run_page and "ad456" in run_page and "0.0 → 0.9" in run_page
    assert "copies of base-model weights in the run</td><td>none" in run_page
    assert "evaluation exploded" in reports.write_run_index(bad_paths, bad).read_text()

    batch = {"batch_id": "b1", "stages": ["collect", "evaluate"], "jobs": 2, "seconds": 3.0,
             "finished_at": "2026-11-27T10:00:00", "overrides": {}, "character_overrides": {"bori": {"seed": 1}},
             "characters": [{**ok, "status": "ok", "ran": ["collect"], "seconds": 2.0, "report": "../../nabi/r1/index.html"},
                            {**bad, "status": "failed", "ran": ["evaluate"], "seconds": 1.0, "report": None}],
             "attempts": [{"finished_at": "2026-11-27T10:00:00", "ran": {"bori": ["evaluate"]},
                           "failed": {"bori": "evaluate: RuntimeError: evaluation exploded"}}]}
    write_json(tmp_path / "batches" / "b1" / "summary.json", batch)
    page = reports.write_batch_report(tmp_path / "batches" / "b1", batch).read_text()
    assert "1 of 2 characters ok" in page and "evaluation exploded" in page and "bori:seed" in page
    assert 'href="../../nabi/r1/index.html"' in page

    index = reports.write_store_index(tmp_path).read_text()
    assert 'href="nabi/r1/index.html"' in index and 'href="bori/r2/index.html"' in index
    assert "evaluate failed" in index and 'href="batches/b1/index.html"' in index and "failed: bori" in index
    assert index.count('href="bori/r2/index.html"') == 2  # in "Characters" (newest per character) and "All runs"


@pytest.mark.skipif(reports.find_chromium() is None, reason="no Chromium (apt-get install -y chromium)")
def test_store_index_renders_in_headless_chromium(tmp_path):
    from matplotlib.image import imread

    fake_run(tmp_path)
    png = reports.screenshot(reports.write_store_index(tmp_path), tmp_path / "shot.png", width=800, height=400)
    image = imread(png)
    assert image.shape[:2] == (400, 800)
    assert image[..., :3].std() > 0.05  # text and table lines, not a blank page

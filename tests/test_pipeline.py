"""The whole chain through papermill on a minimal configuration, and its failure modes."""

import json
import subprocess
import sys

import pytest

from lora_lib.pipeline import PipelineError, run_character
from lora_lib.store import STAGES

from .conftest import ROOT

# Small and fast: the test-size base model, few prompts, short replies, no W&B.
MINIMAL = {"tracking": "none", "train.epochs": 1, "evaluate.n_prompts": 4, "evaluate.max_new_tokens": 12,
           "monitor.n_requests": 6}


def lora(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "lora_lib.cli", *args], cwd=cwd, capture_output=True, text=True)


@pytest.mark.slow
def test_full_chain_with_papermill(demo_store):
    summary = run_character("nabi", run_id="chain", store=demo_store, overrides=MINIMAL, log=lambda *_: None)
    run_dir = demo_store / "nabi" / "chain"
    assert summary["stages"] == {s: "ok" for s in STAGES}
    assert json.loads((run_dir / "summary.json").read_text()) == summary
    for i, stage in enumerate(STAGES, 1):
        assert (run_dir / f"{i:02d}_{stage}.ipynb").exists() and (run_dir / f"{i:02d}_{stage}.html").exists()
    assert "01_collect.html" in (run_dir / "index.html").read_text()
    assert summary["dataset_version"] and summary["adapter_version"]
    smr = summary["metrics"]["style_marker_rate"]
    assert set(smr) == {"base", "adapter"} and isinstance(summary["gates"]["passed"], bool)
    assert summary["serve"]["status"] in ("approved", "rejected")
    assert summary["monitor"]["requests"] == MINIMAL["monitor.n_requests"]
    # the executed notebook records the injected parameters (papermill)
    nb = json.loads((run_dir / "01_collect.ipynb").read_text())
    assert nb["metadata"]["papermill"]["parameters"]["character_id"] == "nabi"


@pytest.mark.slow
def test_failing_stage_stops_the_chain_and_keeps_earlier_outputs(demo_store):
    run_character("bori", run_id="fail", store=demo_store, stages=["collect", "clean", "dataset"],
                  overrides=MINIMAL, log=lambda *_: None)
    kept = (demo_store / "bori" / "fail" / "clean" / "conversations.jsonl").read_bytes()
    with pytest.raises(PipelineError, match="stage train failed: TrainError: base model path does not exist"):
        run_character("bori", run_id="fail", store=demo_store, from_stage="train",
                      overrides={**MINIMAL, "base_model": "no/such/model/dir"}, log=lambda *_: None)
    summary = json.loads((demo_store / "bori" / "fail" / "summary.json").read_text())
    assert summary["stages"]["dataset"] == "ok" and summary["stages"]["train"].startswith("TrainError")
    assert "evaluate" not in summary["stages"]
    assert (demo_store / "bori" / "fail" / "clean" / "conversations.jsonl").read_bytes() == kept


@pytest.mark.parametrize("args,needle", [
    (["run", "--character", "../etc"], "invalid character id '../etc'"),
    (["run", "--character", "nobody"], "unknown character 'nobody'"),
    (["run", "--character", "nabi", "--set", "train.lora.r=lots"], "overrides: train.lora.r"),
    (["run", "--character", "nabi", "--store", "/nonexistent/store"], "inputs.messages: file not found"),
])
def test_cli_bad_input_is_one_line_and_nonzero(args, needle):
    res = lora(*args)
    assert res.returncode != 0
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], res.stderr


# ---------------------------------------------------------------- resume plans and batches

def test_plan_stages_resumes_at_the_first_failed_missing_or_changed_stage():
    from lora_lib.pipeline import plan_stages

    fps = {s: f"fp-{s}" for s in STAGES}
    chosen = ["collect", "clean", "dataset", "train"]
    assert plan_stages(chosen, {}, fps) == chosen  # a new run
    done = {"stages": {s: "ok" for s in chosen}, "fingerprints": dict(fps)}
    assert plan_stages(chosen, done, fps) == []
    assert plan_stages(chosen, done, fps, force=True) == chosen
    failed = {"stages": {"collect": "ok", "clean": "ok", "dataset": "ValueError: too few"}, "fingerprints": fps}
    assert plan_stages(chosen, failed, fps) == ["dataset", "train"]
    changed = {**done, "fingerprints": {**fps, "clean": "older"}}
    assert plan_stages(chosen, changed, fps) == ["clean", "dataset", "train"]
    missing = {"stages": {"collect": "ok"}, "fingerprints": fps}
    assert plan_stages(chosen, missing, fps) == ["clean", "dataset", "train"]


def test_stage_fingerprints_change_from_the_stage_whose_params_changed(world_store):
    from lora_lib.config import load_params
    from lora_lib.pipeline import stage_fingerprints

    def fps(**overrides):
        p = load_params("nabi", params_dir=ROOT / "params", overrides={"store": str(world_store), **overrides})
        return stage_fingerprints(p, ROOT / "params")

    base = fps()
    assert fps(tracking="none") == base  # where results are shown does not change them
    lr = fps(**{"train.learning_rate": 1e-4})
    assert [s for s in STAGES if lr[s] != base[s]] == ["train", "evaluate", "serve", "monitor"]
    clean = fps(**{"clean.min_chars": 3})
    assert [s for s in STAGES if clean[s] != base[s]] == STAGES[1:]


def test_character_prefixed_sets_apply_to_one_character():
    from lora_lib.cli import parse_sets, split_character_sets

    common, per = split_character_sets(parse_sets(["tracking=none", "bori:train.epochs=1", "bori:seed=3"]))
    assert common == {"tracking": "none"} and per == {"bori": {"train.epochs": 1, "seed": 3}}


@pytest.mark.slow
def test_batch_keeps_going_past_a_failing_character_and_resumes_only_it(world_store, tmp_path):
    """Two characters as two processes; bori's gold file is broken on purpose, then fixed."""
    from lora_lib.pipeline import run_batch

    bad = tmp_path / "gold.jsonl"
    bad.write_text("this is not json\n", encoding="utf-8")
    kw = dict(run_id="batch-test", jobs=2, stages=["collect"], store=world_store, params_dir=ROOT / "params",
              overrides={"tracking": "none"}, progress=False, log=lambda *_: None)
    first = run_batch(["nabi", "bori"], character_overrides={"bori": {"inputs.gold": str(bad)}}, **kw)
    rows = {r["character_id"]: r for r in first["characters"]}
    assert rows["nabi"]["status"] == "ok" and rows["nabi"]["ran"] == ["collect"]
    assert rows["bori"]["status"] == "failed" and rows["bori"]["failed_stage"] == "collect"
    assert str(bad) in rows["bori"]["error"]
    page = (world_store / "batches" / "batch-test" / "index.html").read_text()
    assert "failed" in page and "gold.jsonl" in page and "../../bori/batch-test/index.html" in page
    assert (world_store / "bori" / "batch-test" / "01_collect.html").exists()  # the failed notebook, rendered

    stale = [world_store / "bori" / "batch-test" / "clean" / "result.json", world_store / "bori" / "batch-test" / "02_clean.html"]
    for path in stale:  # as an older attempt of a later stage would have left them
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
    second = run_batch(["nabi", "bori"], **kw)  # bori fixed: only bori runs again
    assert not any(path.exists() for path in stale)  # a re-run from collect drops what came after it
    rows = {r["character_id"]: r for r in second["characters"]}
    assert rows["bori"]["status"] == "ok" and rows["bori"]["ran"] == ["collect"]
    assert rows["nabi"]["status"] == "ok" and rows["nabi"]["ran"] == []
    assert [sorted(a["ran"]) for a in second["attempts"]] == [["bori", "nabi"], ["bori"]]
    assert list(second["attempts"][0]["failed"]) == ["bori"] and not second["attempts"][1]["failed"]
    index = (world_store / "index.html").read_text()
    assert "nabi/batch-test/index.html" in index and "bori/batch-test/index.html" in index


def test_batch_with_no_character_able_to_start_is_one_error(tmp_path):
    res = lora("run", "--all", "--store", str(tmp_path / "nothing"), "--set", "tracking=none")
    assert res.returncode != 0
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "inputs.messages: file not found" in lines[0] and "(and 2 more)" in lines[0]
    assert not (tmp_path / "nothing").exists()  # nothing written for a batch that never started


def test_a_stage_whose_outputs_are_gone_counts_as_missing(tmp_path):
    from lora_lib.pipeline import plan_stages, previous_summary
    from lora_lib.store import run_paths, write_json

    paths = run_paths(tmp_path, "nabi", "r1")
    fps = {s: "same" for s in STAGES}
    write_json(paths.run_dir / "summary.json", {"stages": {"collect": "ok", "clean": "ok"}, "fingerprints": fps})
    write_json(paths.stage_dir("collect") / "result.json", {})
    previous = previous_summary(paths)
    assert previous["stages"]["clean"].startswith("missing")
    assert plan_stages(["collect", "clean"], previous, fps) == ["clean"]

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

"""`lora evaluate --character C --adapter NAME@VERSION` on a registered adapter of the test-size store."""

import json
import shutil

import pytest

from lora_lib import stages
from lora_lib.cli import main
from lora_lib.config import load_params
from lora_lib.dataset import load_version
from lora_lib.engine.synthetic import make_adapter
from lora_lib.registry import Registry
from lora_lib.store import run_paths
from lora_lib.tracking import Tracker

from .conftest import ROOT

SMALL = ["--set", "evaluate.n_prompts=4", "--set", "evaluate.max_new_tokens=8", "--no-progress"]


@pytest.fixture(scope="module")
def registered(demo_store, tmp_path_factory):
    """A store of its own (world + test-size model copied) with nabi's dataset and one registered
    synthetic adapter trained on nothing (the steps, not the figures, are under test)."""
    store = tmp_path_factory.mktemp("evaluate-cli")
    shutil.copytree(demo_store / "demo", store / "demo")
    p = load_params("nabi", params_dir=ROOT / "params", overrides={"store": str(store), "tracking": "none"})
    paths = run_paths(store, "nabi", "data")
    stages.run_collect(p, paths, Tracker())
    stages.run_clean(p, paths, Tracker(), params_dir=ROOT / "params")
    stages.run_dataset(p, paths, Tracker(), params_dir=ROOT / "params")
    base = str(p.path(p.base_model))
    adapter = make_adapter(base, store / "adapters" / "nabi" / "syn1", seed=3)
    Registry(p.registry_url()).register_adapter(
        character_id="nabi", version="syn1", path=str(adapter), base_model=base,
        dataset_version=paths.result("dataset")["dataset_version"], status="candidate", actor="test")
    return store


def lora_evaluate(store, *extra):
    return main(["evaluate", "--character", "nabi", "--adapter", "nabi@syn1", "--store", str(store),
                 "--params", str(ROOT / "params"), *SMALL, *extra])


def test_evaluate_command_writes_a_report_and_reuses_replies_when_only_a_threshold_changes(registered, capsys):
    assert lora_evaluate(registered) == 0
    out = capsys.readouterr().out
    folder = registered / "evaluate" / "nabi" / "syn1"
    report = json.loads((folder / "gate_report.json").read_text())
    p = load_params("nabi", params_dir=ROOT / "params", overrides={"store": str(registered), "tracking": "none"})
    dataset_version = Registry(p.registry_url()).get_adapter("nabi", "syn1")["dataset_version"]
    n_eval = len(load_version(registered, "nabi", dataset_version)[1])  # the test-size world's eval split
    assert report["adapter"] == "nabi@syn1" and report["n_prompts"] == min(4, n_eval) and report["previous"] is None
    assert f"nabi@syn1: {'APPROVE' if report['passed'] else 'REJECT: '}" in out
    assert str(folder / "gate_report.json") in out and "reusing" not in out
    assert (folder / "replies.jsonl").exists() and (folder / "ab" / "sheet.csv").exists()
    assert not (registered / "adapters" / "nabi" / "syn1" / "gate_report.json").exists()  # its own report stays

    assert lora_evaluate(registered, "--set", "evaluate.min_gate_pass_rate=0.0") == 0
    assert "generate: reusing the replies" in capsys.readouterr().out
    again = json.loads((folder / "gate_report.json").read_text())
    assert again["thresholds"]["min_gate_pass_rate"] == 0.0
    assert again["gate_pass_rate"] == report["gate_pass_rate"] and again["persona"] == report["persona"]
    assert all(g["passed"] for g in again["gates"] if g["gate"].startswith("auto:"))

    assert lora_evaluate(registered, "--set", "evaluate.max_new_tokens=9") == 0  # decoding changed: regenerate
    assert "reusing" not in capsys.readouterr().out


def test_evaluate_has_the_reply_set_gates_and_sampling_as_an_option(registered, capsys):
    assert lora_evaluate(registered) == 0
    folder = registered / "evaluate" / "nabi" / "syn1"
    report = json.loads((folder / "gate_report.json").read_text())
    assert set(report["quality"]["adapter"]) == {"diversity", "fluency", "relevance", "consistency"}
    assert set(report["quality"]["base"]) == set(report["quality"]["adapter"])
    gates = {g["gate"]: g for g in report["gates"]}
    assert {"quality:diversity", "quality:fluency", "quality:relevance", "quality:consistency"} <= set(gates)
    assert all(set(g["compared"]) == {"base", "previous"} for n, g in gates.items() if n.startswith("quality:"))
    assert report["decoding"]["do_sample"] is False
    gen = json.loads((folder / "generations.json").read_text())
    assert len(gen["probe_replies"]["adapter"]) == len(gen["probe_prompts"]) >= 5

    assert lora_evaluate(registered, "--set", "evaluate.temperature=0.9", "--set", "evaluate.n_samples=2",
                         "--set", "evaluate.sampling_seed=7") == 0
    assert "reusing" not in capsys.readouterr().out
    sampled = json.loads((folder / "gate_report.json").read_text())
    assert sampled["decoding"] == {"do_sample": True, "temperature": 0.9, "top_p": 1.0, "n_samples": 2, "seed": 7,
                                   "max_new_tokens": 8, "batch_size": 8}
    gen = json.loads((folder / "generations.json").read_text())
    assert all(len(draws) == 2 for draws in gen["samples"]["adapter"])
    assert sampled["quality"]["adapter"]["diversity"]["n"] == 2 * report["n_prompts"]


@pytest.mark.parametrize("adapter,needle", [("nabi@nope", "unknown adapter nabi@nope"),
                                            ("bori@syn1", "is not an adapter of --character 'nabi'"),
                                            ("syn1", "not an adapter name")])
def test_evaluate_command_names_a_bad_adapter(registered, capsys, adapter, needle):
    assert main(["evaluate", "--character", "nabi", "--adapter", adapter, "--store", str(registered),
                 "--params", str(ROOT / "params")]) == 2
    assert needle in capsys.readouterr().err

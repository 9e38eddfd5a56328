"""Training: assistant-only labels on a real formatted sample, checks before training, determinism."""

import pytest

from lora_lib import stages
from lora_lib.config import load_params
from lora_lib.store import run_paths
from lora_lib.tracking import Tracker
from lora_lib.train import (
    TrainError,
    check_inputs,
    model_fingerprint,
    setup_model,
    setup_trainer,
    train_adapter,
)

from .conftest import ROOT

FAST = {"tracking": "none", "train.max_steps": 3, "train.batch_size": 4}


@pytest.fixture(scope="module")
def nabi(demo_store):
    p = load_params("nabi", params_dir=ROOT / "params", overrides={**FAST, "store": str(demo_store)})
    paths = run_paths(demo_store, "nabi", "train-test")
    for run in (stages.run_collect, stages.run_clean, stages.run_dataset):
        run(p, paths, Tracker()) if run is not stages.run_clean else run(p, paths, Tracker(), ROOT / "params")
    return p, paths


def _tokenizer(p):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(p.path(p.base_model))


def test_labels_cover_assistant_tokens_only(nabi, tmp_path):
    p, _ = nabi
    tok = _tokenizer(p)
    sample = [{"messages": [{"role": "system", "content": "너는 고양이 나비야."},
                            {"role": "user", "content": "오늘 뭐 했어?"},
                            {"role": "assistant", "content": "낮잠 잤다냥!"},
                            {"role": "user", "content": "또?"},
                            {"role": "assistant", "content": "고양이는 원래 그렇다냥~"}]}]
    model, _ = setup_model(p, str(p.path(p.base_model)))
    trainer = setup_trainer(p, model, tok, sample, tmp_path, progress=False)
    batch = trainer.data_collator([trainer.train_dataset[0]])
    labels = batch["labels"][0]
    learned = tok.decode(labels[labels != -100])
    assert "낮잠 잤다냥!" in learned and "고양이는 원래 그렇다냥~" in learned
    for prompt_text in ("너는 고양이 나비야", "오늘 뭐 했어", "또?", "user", "system"):
        assert prompt_text not in learned


def test_bad_inputs_fail_before_training(nabi, tmp_path):
    p, _ = nabi
    tok = _tokenizer(p)
    with pytest.raises(TrainError, match="no train records"):
        check_inputs(p, [], tok)
    with pytest.raises(TrainError, match="record 0 .*no assistant turn"):
        check_inputs(p, [{"conversation_id": "c1", "messages": [{"role": "user", "content": "안녕"}]}], tok)
    tok.chat_template = None
    with pytest.raises(TrainError, match="no chat template"):
        check_inputs(p, [{"messages": [{"role": "assistant", "content": "냥"}]}], tok)
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    with pytest.raises(TrainError, match="generation"):
        check_inputs(p, [{"messages": [{"role": "assistant", "content": "냥"}]}], tok)
    with pytest.raises(TrainError, match="base model path does not exist"):
        model_fingerprint(str(tmp_path / "missing"))


def test_same_seed_same_weights_and_a_complete_record(nabi):
    p, paths = nabi
    version = paths.result("dataset")["dataset_version"]
    first = train_adapter(p, version, progress=False)
    second = train_adapter(p, version, force=True, progress=False)
    assert first["adapter_version"] == second["adapter_version"]
    assert first["adapter_sha256"] == second["adapter_sha256"]  # byte-identical on CPU
    for key in ("dataset_version", "git", "base_model", "sha256", "tokenizer_sha256", "seed", "train_args",
                "libraries", "hardware", "wall_seconds", "final_loss"):
        assert second[key] is not None, key
    adapter_dir = paths.adapter_root() / second["adapter_version"]
    assert (adapter_dir / "adapter_model.safetensors").exists() and (adapter_dir / "README.md").exists()
    assert not list(adapter_dir.glob("*.bin"))

"""Training: assistant-only labels on a real formatted sample, checks before training, determinism."""

import pytest

from lora_lib import stages
from lora_lib.config import ConfigError, load_params
from lora_lib.store import read_json, run_paths
from lora_lib.tracking import Tracker
from lora_lib.train import (
    TrainError,
    check_inputs,
    check_params,
    check_tokenizer,
    model_fingerprint,
    setup_model,
    setup_trainer,
    train_adapter,
)

from .conftest import ROOT

FAST = {"tracking": "none", "train.max_steps": 3, "train.batch_size": 4, "train.save_steps": 1}


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

    # Our CPU loss (LM head only on labelled positions) is TRL's loss on the same batch, not an approximation.
    import torch
    from trl import SFTTrainer

    assert type(trainer).__name__ == "SelectiveHeadSFTTrainer"
    trainer.model.train()
    inputs = trainer._prepare_inputs(batch)
    torch.manual_seed(0)
    ours = trainer.compute_loss(trainer.model, dict(inputs))
    torch.manual_seed(0)
    theirs = SFTTrainer.compute_loss(trainer, trainer.model, dict(inputs))
    assert torch.allclose(ours, theirs, rtol=1e-5), (ours, theirs)


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
    with pytest.raises(TrainError, match="cannot limit the loss to assistant turns"):  # no end-of-turn token
        check_inputs(p, [{"messages": [{"role": "user", "content": "안녕"}, {"role": "assistant", "content": "냥"}]}], tok)
    with pytest.raises(TrainError, match="built with another tokenizer"):
        check_tokenizer({"version": "v1", "format_config": {"tokenizer_sha256": "0" * 64}}, _tokenizer(p))
    with pytest.raises(TrainError, match="base model path does not exist"):
        model_fingerprint(str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="train.lora.r.*integer"):
        load_params("nabi", params_dir=ROOT / "params", overrides={"train.lora.r": "sixteen"})
    with pytest.raises(ConfigError, match="train.learning_rate"):
        load_params("nabi", params_dir=ROOT / "params", overrides={"train.learning_rate": [2e-4]})
    bad = p.model_copy(deep=True)
    bad.train.lora.dropout = "0.1x"  # mutated after loading: caught again before training
    with pytest.raises(TrainError, match="train.lora.dropout"):
        check_params(bad)
    with pytest.raises(TrainError, match="no preference pairs"):
        check_inputs(p.model_copy(update={"train": p.train.model_copy(update={"method": "dpo"})}),
                     [{"messages": [{"role": "assistant", "content": "냥"}]}], _tokenizer(p), [])


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

    # Killed after step 2 (a checkpoint per step), then `--resume`: finishes from checkpoint-2 with
    # the same weights as the uninterrupted run (the trainer restores optimizer, RNG and data order).
    with pytest.raises(KeyboardInterrupt):
        train_adapter(p, version, force=True, progress=False, callbacks=[_KillAt(2)])
    # the kill left the finished adapter as it was: nothing half-written over it
    assert read_json(adapter_dir / "record.json")["wall_seconds"] == second["wall_seconds"]
    resumed = train_adapter(p, version, resume=True, force=True, progress=False)
    assert resumed["resumed_from"].endswith("checkpoint-2") and resumed["steps"] == first["steps"]
    assert resumed["adapter_sha256"] == first["adapter_sha256"]
    assert not list(paths.adapter_root().glob(".checkpoints-*"))


def test_qlora_loads_in_4bit_nf4_and_trains_on_cpu(nabi):
    p, paths = nabi
    q = p.model_copy(update={"train": p.train.model_copy(update={"method": "qlora", "max_steps": 2})})
    record = train_adapter(q, paths.result("dataset")["dataset_version"], progress=False)
    assert record["method"] == "qlora" and record["steps"] == 2 and record["final_loss"] > 0
    assert record["train_args"]["bf16"] is False
    model, _ = setup_model(q, str(q.path(q.base_model)))
    assert type(model.model.layers[0].mlp.down_proj).__name__ == "Linear4bit"
    assert model.model.layers[0].mlp.down_proj.weight.quant_state.quant_type == "nf4"


class _KillAt:
    """A trainer callback that raises as if the process were killed after `step`."""

    def __init__(self, step):
        self.step = step

    def __getattr__(self, name):  # every other callback event: do nothing
        return lambda *args, **kwargs: None

    def on_save(self, args, state, control, **kwargs):
        if state.global_step >= self.step:
            raise KeyboardInterrupt(f"killed after step {state.global_step}")


def test_dpo_continues_from_the_sft_adapter_on_preference_pairs(nabi):
    from lora_lib.dataset import build_version, load_preferences
    from lora_lib.store import read_jsonl

    p, paths = nabi
    convs = read_jsonl(paths.stage_dir("clean") / "conversations.jsonl")
    negatives = [{"id": f"n{i}", "prompt": [m for m in c["messages"] if m["role"] == "user"][:1],
                  "chosen": next(m["content"] for m in c["messages"] if m["role"] == "assistant"),
                  "rejected": "저는 AI 언어 모델이라서 잘 모르겠습니다.", "reason": "meta_leak", "adapter_version": "x"}
                 for i, c in enumerate(convs[:8])]
    manifest = build_version(convs, p, negatives=negatives)
    assert manifest["counts"]["preference_pairs"] == 8
    assert len(load_preferences(p.store, "nabi", manifest["version"])) == 8
    d = p.model_copy(update={"train": p.train.model_copy(update={
        "method": "dpo", "dpo": p.train.dpo.model_copy(update={"max_steps": 2, "batch_size": 4})})})
    record = train_adapter(d, manifest["version"], progress=False)
    assert record["method"] == "dpo" and record["dpo"]["pairs"] == 8 and record["dpo"]["steps"] == 2
    assert all(row["loss"] > 0 for row in record["dpo"]["losses"])
    adapter_dir = paths.adapter_root() / record["adapter_version"]
    assert not (adapter_dir / "ref").exists() and not (adapter_dir / "training_args.bin").exists()
    sft_only = train_adapter(p, manifest["version"], progress=False)  # same SFT params, no DPO
    assert sft_only["adapter_sha256"] != record["adapter_sha256"]


def test_the_version_names_the_base_by_what_it_is_not_by_its_path(nabi, tmp_path):
    """The same base at another path (a copied or moved store) gives the same adapter version; another
    base gives another."""
    import shutil

    from lora_lib.train.adapter import adapter_version

    p, paths = nabi
    base = p.path(p.base_model)
    copy = tmp_path / "elsewhere" / "base_model"
    shutil.copytree(base, copy)
    here, there = model_fingerprint(str(base)), model_fingerprint(str(copy))
    assert here["base_model"] != there["base_model"] and here["base_id"] == there["base_id"]
    assert here["base_id"].startswith("sha256:")
    ds = paths.result("dataset")["dataset_version"]
    first = train_adapter(p, ds, progress=False)
    moved = train_adapter(p.model_copy(update={"base_model": str(copy)}), ds, progress=False)
    assert moved["adapter_version"] == first["adapter_version"] and moved == first  # found, not retrained
    assert first["base_id"] == here["base_id"]
    (copy / "config.json").write_text((copy / "config.json").read_text().replace('"rms_norm_eps": 1e-06',
                                                                                 '"rms_norm_eps": 1e-05'))
    other = model_fingerprint(str(copy))
    assert other["base_id"] != here["base_id"] and adapter_version(ds, p, other) != first["adapter_version"]

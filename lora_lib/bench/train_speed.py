"""Training throughput: our SFT setup vs plain TRL SFTTrainer defaults, tokens/s, same process."""

from __future__ import annotations

from pathlib import Path

from .harness import interleaved_rounds, paired
from .train_setup import _StepClock, _tokens_per_second, _train_bench_inputs


def _one_run(variant: str, p, train: list[dict], model_dir: Path, out_dir: Path) -> tuple[float, int]:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import SFTConfig, SFTTrainer

    from ..train import setup_trainer

    set_seed(p.seed)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    clock = _StepClock()
    if variant == "ours":
        trainer = setup_trainer(p, model, tok, train, out_dir, progress=False, callbacks=[clock])
        return _tokens_per_second(trainer, clock)
    # What a competent user writes without us: SFTConfig defaults (random batches padded to the
    # longest, default collator, no packing, gradient checkpointing on), with the same dtype (fp32),
    # objective (assistant tokens only), LoRA, batch size, learning rate, max_length and steps.
    lora = LoraConfig(r=p.train.lora.r, lora_alpha=p.train.lora.alpha, lora_dropout=p.train.lora.dropout,
                      target_modules=p.train.lora.target_modules, use_rslora=p.train.lora.rslora,
                      task_type="CAUSAL_LM")
    extra = {"gradient_checkpointing": False} if variant == "trl_defaults_no_checkpointing" else {}
    args = SFTConfig(output_dir=str(out_dir), seed=p.seed, bf16=False, fp16=False, assistant_only_loss=True,
                     per_device_train_batch_size=p.train.batch_size, learning_rate=p.train.learning_rate,
                     max_length=p.train.max_length, max_steps=p.train.max_steps, save_strategy="no",
                     report_to="none", disable_tqdm=True, **extra)
    trainer = SFTTrainer(model=model, args=args, processing_class=tok, peft_config=lora, callbacks=[clock],
                         train_dataset=Dataset.from_list([{"messages": r["messages"]} for r in train]))
    return _tokens_per_second(trainer, clock)


def bench_train(store: str | Path = "runs", arch: str = "demo", steps: int = 30, batch_size: int = 8,
                repeat: int = 3) -> dict:
    """Training tokens/s (non-padding tokens): ours vs plain TRL SFTTrainer defaults, same process.

    Variants run interleaved for `repeat` rounds (ours, TRL defaults, TRL without checkpointing, ours,
    ...), so a busy neighbour hurts all of them alike: the figures are the medians, the ratios the
    medians of the per-round ratios (with their spread).
    """
    import tempfile

    import torch

    p, train, model_dir = _train_bench_inputs(store, arch)
    p = p.model_copy(update={"train": p.train.model_copy(update={"max_steps": steps, "batch_size": batch_size,
                                                                  "dtype": "float32"})})
    variants = ["ours", "trl_defaults", "trl_defaults_no_checkpointing"]
    tokens: dict[str, int] = {}
    trials = dict.fromkeys(variants, 0)
    with tempfile.TemporaryDirectory() as tmp:

        def run(v: str) -> float:
            rate, tokens[v] = _one_run(v, p, train, model_dir, Path(tmp) / f"{v}-{trials[v]}")
            trials[v] += 1
            return rate

        r = interleaved_rounds({v: (lambda v=v: run(v)) for v in variants}, repeat)
    ratio, vs_no_ckpt = paired(r["ours"], r["trl_defaults"]), paired(r["ours"], r["trl_defaults_no_checkpointing"])
    return {"name": "train_sft", "unit": "trained (non-padding) tokens/s", "ours": round(ratio["numerator_median"], 1),
            "baseline": {"name": "TRL SFTTrainer defaults, fp32", "value": round(ratio["denominator_median"], 1)},
            "ratio": round(ratio["median"], 3), "ratio_spread": ratio,
            "also": {"trl_defaults_no_checkpointing": round(vs_no_ckpt["denominator_median"], 1),
                     "ratio_vs_no_checkpointing": round(vs_no_ckpt["median"], 3),
                     "ratio_vs_no_checkpointing_spread": vs_no_ckpt},
            "tokens_per_run": tokens,
            "setup": {"model": str(model_dir.name), "arch": arch, "steps": steps, "batch_size": batch_size,
                      "train_records": len(train), "dtype": "float32", "lora_r": p.train.lora.r,
                      "torch_threads": torch.get_num_threads(), "repeat": repeat,
                      "ours": "length-grouped batches, LM head only on labelled (assistant) positions, "
                               "no gradient checkpointing"}}

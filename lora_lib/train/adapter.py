"""train_adapter: a dataset version -> the adapter directory with its record, resumable.

The adapter's version is a hash of everything that made it (dataset version, train params, base
model identity and tokenizer hashes, seed; not the base's path), so the same inputs name the same adapter.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from ..config import Params, guide_warnings
from ..dataset import load_preferences, load_version
from ..models.families import family_of
from ..store import read_json, sha256_file, sha256_json, write_json
from .checks import check_inputs, check_params, check_tokenizer, model_fingerprint
from .record import _model_card, git_state, hardware, library_versions, peak_rss_mb
from .trainers import setup_dpo_trainer, setup_model, setup_trainer


def adapter_version(dataset_version: str, p: Params, fingerprint: dict) -> str:
    """The version name: a hash of what made the adapter. The base enters by what it is (base_id and content
    hashes), not by the path it was loaded from, so a copied or moved store retrains to the same names."""
    base = {k: v for k, v in fingerprint.items() if k != "base_model"}
    return sha256_json({"dataset": dataset_version, "train": p.train.model_dump(), "seed": p.seed,
                        "base": base})[:12]


def train_adapter(p: Params, dataset_version: str, *, resume: bool = False, force: bool = False,
                  progress: bool = True, callbacks: list | None = None) -> dict:
    """Train (or find) the adapter for this dataset version; return its record.

    Everything is checked before the model is loaded. Checkpoints go to
    adapters/<character>/.checkpoints-<version>/; `resume=True` continues from the last one (a run
    killed mid-training), and they are removed once the adapter is written. The adapter directory
    appears atomically (temp dir + rename) with weights, tokenizer, record.json and README.md.
    """
    from transformers import AutoTokenizer, set_seed

    check_params(p)
    base = str(p.path(p.base_model))
    fingerprint = model_fingerprint(base)
    train, _, manifest = load_version(p.store, p.character_id, dataset_version)
    pairs = load_preferences(p.store, p.character_id, dataset_version) if p.train.method == "dpo" else None
    tokenizer = AutoTokenizer.from_pretrained(base)
    plan = check_inputs(p, train, tokenizer, pairs)
    base_check = {"family": family_of(tokenizer).name, "masking": plan.method}
    if progress:
        print(f"base model {base}: family {base_check['family']}, masking {plan.method} (lora doctor --base for more)")
    fingerprint["tokenizer_fingerprint"] = check_tokenizer(manifest, tokenizer)
    fingerprint["tokenizer_sha256"] = fingerprint["tokenizer_sha256"] or fingerprint["tokenizer_fingerprint"]
    version = adapter_version(dataset_version, p, fingerprint)
    root = Path(p.store) / "adapters" / p.character_id
    final = root / version
    if (final / "record.json").exists() and not force:
        return read_json(final / "record.json")  # same inputs, same adapter

    set_seed(p.seed)
    model, bf16 = setup_model(p, base)
    hub_revision = getattr(model.config, "_commit_hash", None)  # the commit a hub id resolved to
    ckpt_dir = root / f".checkpoints-{version}"
    trainer = setup_trainer(p, model, tokenizer, train, ckpt_dir, bf16=bf16, progress=progress, callbacks=callbacks)
    last = _last_checkpoint(ckpt_dir) if resume else None
    if resume and last is None and progress:
        print(f"--resume: no checkpoint in {ckpt_dir}, starting from step 0")
    start = time.time()
    out = trainer.train(resume_from_checkpoint=str(last) if last else None)
    wall = time.time() - start
    losses = [{"step": h["step"], "loss": h["loss"]} for h in trainer.state.log_history if "loss" in h]
    train_tokens = int(max((float(h.get("num_tokens", 0)) for h in trainer.state.log_history), default=0))
    steps, train_args = trainer.state.global_step, json.loads(trainer.args.to_json_string())
    peft_model = trainer.model

    dpo, saver = None, trainer
    if p.train.method == "dpo":
        set_seed(p.seed)
        dpo_trainer = setup_dpo_trainer(p, peft_model, tokenizer, pairs, ckpt_dir / "dpo", bf16=bf16,
                                        progress=progress)
        dpo_out = dpo_trainer.train()
        peft_model, saver = dpo_trainer.model, dpo_trainer
        if "ref" in peft_model.peft_config:  # the frozen reference copy is not part of the adapter
            peft_model.delete_adapter("ref")
        dpo = {"pairs": len(pairs), "steps": dpo_trainer.state.global_step, "train_loss": dpo_out.training_loss,
               "args": json.loads(dpo_trainer.args.to_json_string()),
               "losses": [{"step": h["step"], "loss": h["loss"],
                           **({"reward_margin": h["rewards/margins"]} if "rewards/margins" in h else {})}
                          for h in dpo_trainer.state.log_history if "loss" in h]}

    tmp = root / f".{version}.tmp"
    # Under `accelerate launch` every rank takes part in saving (FSDP/ZeRO-3 gather the weights);
    # only the main process writes files, the record and the final rename.
    is_main = saver.accelerator.is_main_process
    if is_main:
        shutil.rmtree(tmp, ignore_errors=True)
    saver.accelerator.wait_for_everyone()
    saver.save_model(str(tmp))  # PEFT: adapter safetensors + config, and the tokenizer
    if not is_main:
        return {"adapter_version": version, "rank": saver.accelerator.process_index}
    (tmp / "training_args.bin").unlink(missing_ok=True)  # a pickle; the args are in record.json
    record = {
        "adapter_version": version, "character_id": p.character_id, "method": p.train.method,
        "dataset_version": dataset_version, "dataset_manifest_sha256": sha256_json(manifest),
        "git": git_state(Path(__file__).parent), **fingerprint,
        "resolved_revision": hub_revision, "seed": p.seed, "train_params": p.train.model_dump(),
        "train_args": train_args, "guide_warnings": guide_warnings(p),
        "libraries": library_versions(), "hardware": hardware(),
        "wall_seconds": round(wall, 2), "steps": steps, "train_tokens": train_tokens,
        "tokens_per_second": round(train_tokens / wall, 1) if wall > 0 and not last else None,
        "peak_rss_mb": peak_rss_mb(),
        "final_loss": losses[-1]["loss"] if losses else None, "train_loss": out.training_loss, "losses": losses,
        "dpo": dpo, "base_check": base_check,
        "adapter_sha256": sha256_file(tmp / "adapter_model.safetensors"),
        "resumed_from": str(last.relative_to(root)) if last else None,
    }
    write_json(tmp / "record.json", record)
    (tmp / "README.md").write_text(_model_card(record), encoding="utf-8")
    shutil.rmtree(final, ignore_errors=True)  # only reached with force=True or after a crash mid-write
    os.rename(tmp, final)
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return record

def _last_checkpoint(ckpt_dir: Path) -> Path | None:
    ckpts = sorted(ckpt_dir.glob("checkpoint-*"), key=lambda d: int(d.name.split("-")[-1]))
    return ckpts[-1] if ckpts else None

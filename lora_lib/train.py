"""Train: a dataset version + a base model -> a LoRA/QLoRA adapter with a reproducibility record.

TRL's SFTTrainer does the work, with PEFT LoRA and loss on assistant tokens only: the rows are
pre-tokenized with masks from lora_lib.models.masking (generation markers, TRL's training template,
or render-diff for any other template; refused only when none is provably consistent). Everything
that can be wrong is checked before any training starts. The adapter's version is a hash of
everything that made it (dataset version, train params, base model and tokenizer hashes, seed), so
the same inputs name the same adapter.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path

from .config import Params, TrainParams, guide_warnings
from .dataset import load_preferences, load_version, tokenizer_fingerprint
from .models.families import family_of
from .store import read_json, sha256_file, sha256_json, write_json


class TrainError(ValueError):
    """A problem found before training: names the input and what is wrong."""


def _is_local(name: str) -> bool:
    """A path, not a hub id ("org/name" with exactly one slash)."""
    return name.startswith((".", "/", "~")) or name.count("/") != 1


def model_fingerprint(base_model: str) -> dict:
    """Base model id/path and a content hash of its weights and tokenizer (or the hub revision)."""
    path = Path(base_model).expanduser()
    if not path.exists():
        if _is_local(base_model):
            raise TrainError(f"base model path does not exist: {base_model}")
        return {"base_model": base_model, "revision": "hub (resolved at load time)", "sha256": None,
                "tokenizer_sha256": None}
    info = path / "base_model.json"
    weights = sorted(path.glob("*.safetensors"))
    if not weights:
        raise TrainError(f"base model {path} has no .safetensors weights (only safetensors are loaded)")
    tok = path / "tokenizer.json"
    return {"base_model": str(path), "revision": read_json(info).get("sha256") if info.exists() else None,
            "sha256": sha256_json([sha256_file(w) for w in weights]),
            "tokenizer_sha256": sha256_file(tok) if tok.exists() else None}


def check_params(p: Params) -> None:
    """Re-validate the train params (a Params built without validation, or mutated after loading)."""
    from pydantic import ValidationError

    try:
        TrainParams.model_validate(p.train.model_dump())
    except ValidationError as exc:
        err = exc.errors()[0]
        raise TrainError(f"train.{'.'.join(str(x) for x in err['loc'])}: {err['msg']} "
                         f"(got {err.get('input')!r})") from None


def check_inputs(p: Params, train: list[dict], tokenizer, preferences: list[dict] | None = None):
    """Fail before training on an empty dataset, records without a reply, a template whose
    assistant-only masks cannot be proven, and (for dpo) a version without preference pairs. Returns the
    masking plan (the check `lora doctor` runs)."""
    check_params(p)
    if p.train.method == "dpo" and not preferences:
        raise TrainError(f"train.method=dpo but the dataset version for {p.character_id!r} has no preference "
                         "pairs (negatives with a chosen reply); use lora, or add dataset.negatives")
    if not train:
        raise TrainError(f"dataset for {p.character_id!r} has no train records")
    for i, rec in enumerate(train):
        msgs = rec.get("messages")
        if not isinstance(msgs, list) or not any(isinstance(m, dict) and m.get("role") == "assistant"
                                                  and m.get("content") for m in msgs):
            raise TrainError(f"train record {i} ({rec.get('conversation_id')}): no assistant turn to learn from")
    return masking_plan(tokenizer, train)


def masking_plan(tokenizer, train: list[dict], config=None):
    """How the loss is limited to assistant turns (lora_lib.models.masking), proven on the first records."""
    from .models.masking import MaskingError, plan_for

    try:
        return plan_for(tokenizer, [r["messages"] for r in train[:8]], config)
    except MaskingError as exc:
        raise TrainError(str(exc)) from None


def check_tokenizer(manifest: dict, tokenizer) -> str:
    """The dataset's token counts and splits were made with one tokenizer: training must use the same."""
    fp = tokenizer_fingerprint(tokenizer)
    built_with = (manifest.get("format_config") or {}).get("tokenizer_sha256")
    if built_with and built_with != fp:
        raise TrainError(f"dataset version {manifest.get('version')} was built with another tokenizer "
                         f"(sha256 {built_with[:12]}, base model's is {fp[:12]}): rebuild the dataset stage "
                         "with this base_model")
    return fp


def git_state(cwd: str | Path = ".") -> dict:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                    capture_output=True, text=True).stdout.strip())
        return {"commit": commit, "dirty": dirty}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}


def library_versions() -> dict:
    import importlib.metadata as md

    out = {}
    for name in ("torch", "transformers", "peft", "trl", "accelerate", "datasets", "bitsandbytes"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def _dtype(p: Params):
    import torch

    if p.train.dtype == "float32":
        return torch.float32
    if p.train.dtype == "bfloat16":
        return torch.bfloat16
    # auto: bf16 only where the hardware has it; on CPU fp32 is ~20x faster here.
    return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32


def adapter_version(dataset_version: str, p: Params, fingerprint: dict) -> str:
    return sha256_json({"dataset": dataset_version, "train": p.train.model_dump(), "seed": p.seed,
                        "base": fingerprint})[:12]


def setup_model(p: Params, base: str):
    """The base model in the dtype the hardware wants; 4-bit NF4 for QLoRA."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    dtype = _dtype(p)
    kwargs = {"dtype": dtype}
    if p.train.method == "qlora":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype,
            bnb_4bit_use_double_quant=True)
    model = AutoModelForCausalLM.from_pretrained(base, **kwargs)
    return model, dtype == torch.bfloat16


def setup_trainer(p: Params, model, tokenizer, train: list[dict], output_dir: str | Path, *, bf16: bool = False,
                  progress: bool = True, callbacks: list | None = None):
    """TRL SFTTrainer with a PEFT LoRA config and loss on assistant tokens only."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTConfig, SFTTrainer

    from .models.masking import training_rows

    lora = LoraConfig(r=p.train.lora.r, lora_alpha=p.train.lora.alpha, lora_dropout=p.train.lora.dropout,
                      target_modules=p.train.lora.target_modules, use_rslora=p.train.lora.rslora,
                      task_type="CAUSAL_LM")
    args = SFTConfig(
        output_dir=str(output_dir), seed=p.seed, data_seed=p.seed,
        num_train_epochs=p.train.epochs, max_steps=p.train.max_steps,
        per_device_train_batch_size=p.train.batch_size, learning_rate=p.train.learning_rate,
        max_length=p.train.max_length, packing=False,  # assistant-only: the rows carry assistant_masks
        # On CPU these defaults cost time and buy nothing on a small model (DESIGN.md section 9).
        gradient_checkpointing=False, bf16=bf16, fp16=False,
        # Batches of similar length: the padded batch is as long as its longest chat, so random
        # batches of short and long chats waste most of their compute on padding. Attention never
        # crosses examples (each row is one chat), unlike packing without flash attention.
        train_sampling_strategy="group_by_length" if p.train.group_by_length else "random",
        use_liger_kernel=_liger_available(),
        logging_steps=1, save_strategy="steps" if p.train.save_steps else "epoch",
        save_steps=p.train.save_steps or 500, save_total_limit=1,
        report_to=["wandb"] if p.tracking != "none" and _wandb_active() else "none",
        disable_tqdm=not progress, dataloader_num_workers=0, dataloader_pin_memory=_cuda(),
    )
    # Pre-tokenized with our own masks (any template: markers, TRL's training variant or render-diff),
    # so the labels are exactly the ones `lora doctor` shows and masking.verify proved.
    rows = training_rows(tokenizer, train, masking_plan(tokenizer, train, model.config), p.train.max_length)
    cls = _selective_head_trainer() if p.train.selective_lm_head and not _cuda() else SFTTrainer
    return cls(model=model, args=args, processing_class=tokenizer, peft_config=lora, callbacks=callbacks,
               train_dataset=Dataset.from_list(rows))


# Above this many (label tokens x vocabulary) logits, TRL's chunked log-prob head saves memory that
# the selective head would spend; our small batches stay far below it.
SELECTIVE_HEAD_MAX_LOGITS = 64 * 1024 * 1024


def _selective_head_trainer():
    """SFTTrainer whose training loss runs the LM head only on the positions that have a label.

    With assistant-only loss most positions (system prompt, user turns, padding) carry no label, yet
    on CPU TRL's fused head scores every position over the whole vocabulary and computes entropy and
    accuracy on top (on Triton GPUs it already skips unlabelled positions, so this class is CPU-only).
    The loss is the same mean cross-entropy over assistant tokens (normalised by num_items_in_batch
    like TRL's); only the unneeded logits are never computed. The model is called through its own
    forward (no labels), so DDP/FSDP wrappers and PEFT see a normal call; the head's forward is
    swapped only for the duration of that call.
    """
    import torch
    import torch.nn.functional as F
    from trl import SFTTrainer

    class SelectiveHeadSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.get("labels")
            head = self.accelerator.unwrap_model(model).get_output_embeddings()
            plain = (return_outputs or not model.training or labels is None or head is None or self.aux_loss_enabled
                     or self.compute_loss_func is not None or self.label_smoother is not None
                     or self.args.loss_type != "nll")
            target_mask = labels[:, 1:] != -100 if labels is not None else None
            if plain or int(target_mask.sum()) * head.weight.shape[0] > SELECTIVE_HEAD_MAX_LOGITS:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            select = torch.zeros_like(labels, dtype=torch.bool)
            select[:, :-1] = target_mask  # hidden state at t predicts the label at t+1
            original = head.forward
            head.forward = lambda hidden: original(hidden[select])
            try:
                outputs = model(**{k: v for k, v in inputs.items() if k != "labels"}, use_cache=False)
            finally:
                del head.forward  # back to the class's forward
            logits, targets = outputs.logits.float(), labels[:, 1:][target_mask]
            denominator = num_items_in_batch if num_items_in_batch is not None else targets.numel()
            loss = F.cross_entropy(logits, targets, reduction="sum") / torch.as_tensor(denominator).clamp(min=1)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * self.accelerator.num_processes
            with torch.no_grad():
                correct = (logits.argmax(-1) == targets).sum()
            self._metrics["train"]["mean_token_accuracy"].append((correct / max(targets.numel(), 1)).item())
            self._total_train_tokens += self.accelerator.gather_for_metrics(inputs["attention_mask"].sum()).sum().item()
            self._metrics["train"]["num_tokens"] = [self._total_train_tokens]
            return loss

    return SelectiveHeadSFTTrainer


def setup_dpo_trainer(p: Params, model, tokenizer, pairs: list[dict], output_dir: str | Path, *,
                      bf16: bool = False, progress: bool = True):
    """TRL DPOTrainer continuing from the SFT adapter; the reference is a frozen copy of that adapter."""
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    d = p.train.dpo
    args = DPOConfig(
        output_dir=str(output_dir), seed=p.seed, data_seed=p.seed, beta=d.beta, learning_rate=d.learning_rate,
        num_train_epochs=d.epochs, max_steps=d.max_steps, per_device_train_batch_size=d.batch_size,
        max_length=p.train.max_length, gradient_checkpointing=False, bf16=bf16, fp16=False, logging_steps=1,
        save_strategy="no", report_to="none", disable_tqdm=not progress, dataloader_num_workers=0,
        dataloader_pin_memory=_cuda(),
    )
    data = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in pairs])
    return DPOTrainer(model=model, args=args, processing_class=tokenizer, train_dataset=data)


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


def hardware() -> dict:
    import torch

    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux/macOS), in MB."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _liger_available() -> bool:
    """Liger kernels (fused RMSNorm/SwiGLU/RoPE) on GPU when the package is installed; they need Triton."""
    import importlib.util

    return _cuda() and importlib.util.find_spec("liger_kernel") is not None


def _wandb_active() -> bool:
    try:
        import wandb
    except ImportError:
        return False
    return wandb.run is not None


def _last_checkpoint(ckpt_dir: Path) -> Path | None:
    ckpts = sorted(ckpt_dir.glob("checkpoint-*"), key=lambda d: int(d.name.split("-")[-1]))
    return ckpts[-1] if ckpts else None


def _model_card(r: dict) -> str:
    return f"""---
library_name: peft
base_model: {r['base_model']}
tags: [lora, character-chat, {r['character_id']}]
---
# {r['character_id']}@{r['adapter_version']}

{r['method'].upper()} adapter for character `{r['character_id']}`, trained with TRL SFTTrainer + PEFT,
loss on assistant turns only.

| | |
|---|---|
| dataset version | `{r['dataset_version']}` |
| base model | `{r['base_model']}` (sha256 `{r['sha256']}`) |
| tokenizer sha256 | `{r['tokenizer_sha256']}` |
| code commit | `{r['git']['commit']}`{' (dirty)' if r['git']['dirty'] else ''} |
| seed | {r['seed']} |
| r / alpha / dropout | {r['train_params']['lora']['r']} / {r['train_params']['lora']['alpha']} / {r['train_params']['lora']['dropout']} |
| lr / epochs | {r['train_params']['learning_rate']} / {r['train_params']['epochs']} |
| steps / wall time | {r['steps']} / {r['wall_seconds']} s |
| final loss | {r['final_loss']} |
| DPO | {f"{r['dpo']['pairs']} preference pairs, {r['dpo']['steps']} steps, loss {r['dpo']['train_loss']:.4f}"
         if r.get('dpo') else 'no'} |

Outside the hyperparameter guide: {'; '.join(r['guide_warnings']) or 'nothing'}.

Load: `PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), this_dir)`; serve with the
short system prompt of the dataset version (`format_config.system_prompts` in its manifest).

The full record (all train args, library versions, hardware) is in `record.json`.
"""

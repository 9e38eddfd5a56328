"""What the reproducibility record states beyond the params: code commit, library versions,
hardware, peak memory; and the adapter's README (model card) written from the record."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


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

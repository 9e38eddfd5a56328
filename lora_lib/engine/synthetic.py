"""Synthetic LoRA adapters for serving tests and benchmarks: real PEFT files, random weights.

Serving speed and routing do not depend on what an adapter learned, only on its shape, so the
serving tests and `make bench` use these instead of training (which costs CPU-minutes). The
weights are non-zero (PEFT's default init leaves B = 0, which would make every adapter equal the
base and hide a routing bug), seeded, so each (seed) gives different, reproducible outputs.
"""

from __future__ import annotations

from pathlib import Path


def make_adapter(base_model: str | Path, out_dir: str | Path, *, seed: int, r: int = 8, alpha: int = 16,
                 scale: float = 0.15, target_modules: str | list[str] = "all-linear") -> Path:
    """Write a PEFT LoRA adapter (safetensors) with random A and B to out_dir; returns out_dir."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out_dir = Path(out_dir)
    model = AutoModelForCausalLM.from_pretrained(str(base_model), dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=r, lora_alpha=alpha, target_modules=target_modules,
                                                  init_lora_weights=False, task_type="CAUSAL_LM"))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=gen) * scale / param.shape[-1] ** 0.5)
    peft_model.save_pretrained(str(out_dir), safe_serialization=True)
    return out_dir

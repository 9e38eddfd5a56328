"""`lora doctor --base MODEL`: what training and serving will do with a base model, before any run.

Family, chat template, masking method with a rendered example (trained tokens between ⟦ and ⟧),
LoRA target modules as they resolve on this architecture, stop and pad tokens, and a memory estimate
for LoRA and QLoRA at the configured batch size and length. Reads the config and tokenizer only: the
model is instantiated on the meta device (no weights loaded, no memory used).
"""

from __future__ import annotations

from dataclasses import dataclass

from .families import family_of, stop_token_ids
from .masking import MaskingError, plan_for, rendered_example

EXAMPLE = [{"role": "system", "content": "너는 고양이 나비야. 반말로 짧게 말해."},
           {"role": "user", "content": "오늘 뭐 했어?"},
           {"role": "assistant", "content": "낮잠 잤다냥!"},
           {"role": "user", "content": "또?"},
           {"role": "assistant", "content": "고양이는 원래 그렇다냥~"}]


@dataclass
class Diagnosis:
    base_model: str
    family: str
    model_type: str | None
    template: str  # where the chat template comes from and whether it has markers
    masking: str | None  # method, or None when refused
    masking_error: str | None
    example: str | None
    target_modules: list[str]
    stop_tokens: list[str]
    pad_token: str | None
    params: int
    memory_gb: dict  # {"lora": {...}, "qlora": {...}}

    def report(self) -> str:
        lines = [f"base model      {self.base_model}",
                 f"family          {self.family} (model_type {self.model_type})",
                 f"chat template   {self.template}",
                 f"masking         {self.masking or 'REFUSED: ' + str(self.masking_error)}",
                 f"target modules  {', '.join(self.target_modules)}",
                 f"stop tokens     {', '.join(self.stop_tokens)}",
                 f"pad token       {self.pad_token}",
                 f"parameters      {self.params:,}"]
        for method, m in self.memory_gb.items():
            lines.append(f"memory {method:<8} ~{m['total']:.2f} GB (weights {m['weights']:.2f}, LoRA + optimizer "
                         f"{m['adapter']:.3f}, activations {m['activations']:.2f}, logits {m['logits']:.2f}) at "
                         f"batch {m['batch']} x {m['length']} tokens")
        if self.example:
            lines += ["", "rendered example (trained tokens between ⟦ ⟧):", self.example]
        return "\n".join(lines)


def linear_leaf_names(model) -> list[str]:
    """What PEFT's "all-linear" resolves to: the names of Linear leaves, the output head excluded."""
    import torch

    head = model.get_output_embeddings()
    return sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                   if isinstance(m, torch.nn.Linear) and m is not head})


def memory_estimate(config, params: int, lora_params: int, *, batch: int, length: int, bits: float) -> dict:
    """GB for one training process: weights at `bits` per linear parameter (embeddings stay 16-bit),
    LoRA weights + gradients + AdamW states in fp32 (16 bytes each), activations without checkpointing
    (~34 bytes per hidden value per layer, the usual transformer estimate in 16-bit), and fp32 logits."""
    hidden, layers = config.hidden_size, config.num_hidden_layers
    vocab = config.vocab_size
    embed = vocab * hidden * (1 if getattr(config, "tie_word_embeddings", False) else 2)
    weights = (params - embed) * bits / 8 + embed * 2
    adapter = lora_params * 16
    activations = batch * length * hidden * layers * 34
    logits = batch * length * vocab * 4 * 2  # logits and their gradient
    gb = 1024 ** 3
    out = {"weights": weights / gb, "adapter": adapter / gb, "activations": activations / gb, "logits": logits / gb}
    return {**out, "total": sum(out.values()), "batch": batch, "length": length}


def diagnose(base_model: str, *, target_modules: str | list[str] = "all-linear", r: int = 16, batch: int = 4,
             length: int = 256, conversations: list[list[dict]] | None = None) -> Diagnosis:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base_model)
    config = AutoConfig.from_pretrained(base_model)
    family = family_of(tok, config)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    names = linear_leaf_names(model) if target_modules == "all-linear" else list(target_modules)
    targeted = [m for n, m in model.named_modules()
                if isinstance(m, torch.nn.Linear) and n.rsplit(".", 1)[-1] in names]
    lora_params = sum(r * (m.in_features + m.out_features) for m in targeted)
    params = sum(p.numel() for p in model.parameters())
    template = tok.chat_template or ""
    from .masking import has_markers, trl_template

    source = ("none" if not template else "has {% generation %} markers" if has_markers(template)
              else "TRL ships a training variant of it" if trl_template(tok) else "no generation markers, unknown to TRL")
    masking = error = example = None
    try:
        plan = plan_for(tok, conversations or [EXAMPLE], config)
        masking = plan.method
        example = rendered_example(tok, (conversations or [EXAMPLE])[0], plan)
    except MaskingError as exc:
        error = str(exc)
    vocab = tok.get_vocab()
    inverse = {i: t for t, i in vocab.items()}
    stops = [inverse.get(i, str(i)) for i in stop_token_ids(tok, family, getattr(model, "generation_config", None))]
    memory = {m: memory_estimate(config, params, lora_params, batch=batch, length=length, bits=b)
              for m, b in (("lora", 16), ("qlora", 4.5))}  # NF4 + double-quant scales ~4.5 bits
    return Diagnosis(base_model, family.name, config.model_type, f"{len(template)} chars, {source}", masking, error,
                     example, names, stops, tok.pad_token or family.pad_token, params, memory)

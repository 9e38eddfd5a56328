"""The model and the TRL trainers: base model in the right dtype (NF4 for QLoRA), SFTTrainer with a
PEFT LoRA config and assistant-only loss (a selective LM head on CPU), DPOTrainer after it."""

from __future__ import annotations

from pathlib import Path

from ..config import Params


def _dtype(p: Params):
    import torch

    if p.train.dtype == "float32":
        return torch.float32
    if p.train.dtype == "bfloat16":
        return torch.bfloat16
    # auto: bf16 only where the hardware has it; on CPU fp32 is ~20x faster here.
    return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32


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

    from ..models.masking import training_rows
    from .checks import masking_plan

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

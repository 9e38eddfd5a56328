"""Train: a dataset version + a base model -> a LoRA/QLoRA adapter with a reproducibility record.

TRL's SFTTrainer does the work, with PEFT LoRA and loss on assistant tokens only: the rows are
pre-tokenized with masks from lora_lib.models.masking (generation markers, TRL's training template,
or render-diff for any other template; refused only when none is provably consistent). Everything
that can be wrong is checked before any training starts. The adapter's version is a hash of everything that made it (dataset version,
train params, base model and tokenizer hashes, seed), so the same inputs name the same adapter.

- checks.py    everything that can be wrong, checked before the model is loaded
- trainers.py  base model loading, SFTTrainer (LoRA/QLoRA, selective LM head), DPOTrainer
- adapter.py   train_adapter: version, checkpoints and --resume, the atomic adapter directory
- record.py    commit, library versions, hardware, peak memory, the model card
"""

from .adapter import adapter_version, train_adapter
from .checks import TrainError, check_inputs, check_params, check_tokenizer, model_fingerprint
from .record import git_state, hardware, library_versions, peak_rss_mb
from .trainers import SELECTIVE_HEAD_MAX_LOGITS, setup_dpo_trainer, setup_model, setup_trainer

__all__ = [
    "SELECTIVE_HEAD_MAX_LOGITS", "TrainError", "adapter_version", "check_inputs", "check_params",
    "check_tokenizer", "git_state", "hardware", "library_versions", "model_fingerprint", "peak_rss_mb",
    "setup_dpo_trainer", "setup_model", "setup_trainer", "train_adapter",
]

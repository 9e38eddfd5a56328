"""What the training benchmarks share: their inputs (a demo world's dataset through the real stages,
the test-size or a random model of a given size), built once under <store>/bench/, and a step clock."""

from __future__ import annotations

import time
from pathlib import Path

BENCH_CHATS = (300, 50)  # chats and gold dialogues per character: the demo-size world's data (cheap to make)


def _train_bench_inputs(store: str | Path, arch: str) -> tuple:
    """(params, train records, model dir) for the training benchmark, built once under <store>/bench/.

    Data: nabi's dataset version from a demo-size synthetic world through the real collect, clean
    and dataset stages. Model: the test-size base model (arch="test") or, for arch="demo", the
    demo model's architecture (4 x 256) with random weights: throughput does not depend on the
    weights, and pre-training the demo model takes CPU-minutes.
    """
    from .. import stages
    from ..config import load_params
    from ..dataset import load_version
    from ..demo import build_demo
    from ..demo.base_model import SIZES
    from ..demo.world import build_world
    from ..store import run_paths
    from ..tracking import Tracker

    root = (Path(store) / "bench" / "train_store").resolve()
    build_demo(root, seed=0, size="test", progress=False)
    world = root / "demo" / "world_bench"
    build_world(world, seed=0, chats_per_character=BENCH_CHATS[0], gold_per_character=BENCH_CHATS[1])
    inputs = {f"inputs.{k}": str(world / f) for k, f in (("messages", "messages.json"), ("users", "users.json"),
                                                          ("characters", "characters.json"),
                                                          ("gold", "gold.jsonl"),
                                                          ("deletion_requests", "deletion_requests.jsonl"))}
    p = load_params("nabi", params_dir=_params_dir(), overrides={"store": str(root), "tracking": "none", **inputs})
    paths = run_paths(root, "nabi", "bench")
    if not paths.result("dataset"):
        stages.run_collect(p, paths, Tracker())
        stages.run_clean(p, paths, Tracker(), _params_dir())
        stages.run_dataset(p, paths, Tracker(), _params_dir())
    train, _, _ = load_version(root, "nabi", paths.result("dataset")["dataset_version"])
    model_dir = root / "demo" / "base_model"
    if arch == "demo":
        model_dir = _random_model(root / "demo" / "bench_model_demo_arch", model_dir, SIZES["demo"])
    return p, train, model_dir


def _params_dir() -> Path:
    from ..notebook import project_root

    return project_root(Path(__file__).parent) / "params"


def _random_model(out: Path, like: Path, size: dict) -> Path:
    """A Llama with the given size, random weights, and the tokenizer of `like` (cached)."""
    if (out / "model.safetensors").exists():
        return out
    import torch
    from transformers import AutoConfig, AutoTokenizer, LlamaForCausalLM

    cfg = AutoConfig.from_pretrained(like)
    cfg.num_hidden_layers, cfg.hidden_size = size["layers"], size["hidden"]
    cfg.num_attention_heads = cfg.num_key_value_heads = size["heads"]
    cfg.intermediate_size, cfg.head_dim = size["intermediate"], size["hidden"] // size["heads"]
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(like).save_pretrained(out)
    return out


class _StepClock:
    """Trainer callback: wall time from the first step's start to the last step's end (no final save)."""

    def __init__(self):
        self.start = self.end = None

    def __getattr__(self, name):
        return lambda *args, **kwargs: None

    def on_step_begin(self, args, state, control, **kwargs):
        if self.start is None:
            self.start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.end = time.perf_counter()


def _tokens_per_second(trainer, clock: _StepClock) -> tuple[float, int]:
    trainer.train()
    tokens = int(max(float(h.get("num_tokens", 0)) for h in trainer.state.log_history))
    return tokens / (clock.end - clock.start), tokens

"""`make bench`: benchmarks that compare two things in one process and write JSON with ratios.

Rules (DESIGN.md section 9): same data, same dtype, same process; report both absolute figures,
their ratio, the machine and library versions. Absolute numbers are noisy; ratios are tracked.
"""

from __future__ import annotations

import inspect
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

from .store import write_json


def machine() -> dict:
    from .train import library_versions

    cpu = platform.processor()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "libraries": library_versions()}


def _rate(fn: Callable[[], int], repeat: int = 3) -> float:
    """Best-of-N items per second of fn() (which returns how many items it processed)."""
    best = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        n = fn()
        best = max(best, n / (time.perf_counter() - start))
    return best


def bench_clean(n_messages: int = 2000) -> dict:
    """Our PII redaction (ko-pii + chat rules) vs ko-pii's detector alone, messages/s."""
    import ko_pii

    from .clean.pii import KO_PII_LABELS, redact
    from .demo.world import polite_chats

    texts = [m["content"] for chat in polite_chats(max(n_messages // 4, 1), seed=1) for m in chat][:n_messages]
    ours = _rate(lambda: sum(1 for t in texts if redact(t) is not None))
    base = _rate(lambda: sum(1 for t in texts if ko_pii.detect_all(t, include=KO_PII_LABELS) is not None))
    return {"name": "clean_pii", "unit": "messages/s", "n_messages": len(texts), "ours": ours,
            "baseline": {"name": "ko-pii detect_all alone", "value": base}, "ratio": ours / base}


def synthetic_messages(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """n (role, text) chat messages like a real export: the demo's chats, with numbers in talk (~15%),
    PII of several kinds (~3%), English (~2%) and spam (~1%) mixed in, so every rule has work."""
    import random

    from .demo.world import polite_chats, roleplay_chats

    rng = random.Random(seed)
    base = [(m["role"], m["content"]) for chat in polite_chats(max(n // 8, 1), seed=seed) + roleplay_chats(
        max(n // 8, 1), seed=seed) for m in chat if m["role"] in ("user", "assistant")]

    def digits(k: int) -> str:
        return "".join(str(rng.randrange(10)) for _ in range(k))

    extras = [
        (0.15, lambda: rng.choice([f" {rng.randrange(1, 13)}시 {rng.randrange(60)}분에 보자", f" {rng.randrange(1, 99) * 1000}원이야",
                                   f" {rng.randrange(1, 13)}월 {rng.randrange(1, 29)}일에", f" {rng.randrange(2, 40)}번 버스"])),
        (0.03, lambda: rng.choice([f" 내 번호 010-{digits(4)}-{digits(4)}", " 공일공 " + "".join(
            "공일이삼사오육칠팔구"[int(d)] for d in digits(8)), f" 메일 user{digits(3)}@naver.com",
            f" user{digits(2)} 골뱅이 gmail 닷컴", f" 카드 {digits(4)}-{digits(4)}-{digits(4)}-{digits(4)}",
            f" 국민은행 {digits(6)}-{digits(2)}-{digits(6)}", " 카톡 아이디 sunny_" + digits(4)])),
        (0.02, lambda: " what are you doing now? lol"),
        (0.01, lambda: f" http://bit.ly/{digits(6)} 무료 쿠폰"),
    ]
    out = []
    for i in range(n):
        role, text = base[i % len(base)]
        r = rng.random()
        for share, make in extras:
            if r < share:
                text += make()
                break
            r -= share
        out.append((role, text))
    return out


def bench_clean_throughput(n_messages: int = 100_000, num_proc: int = 2) -> dict:
    """The clean stage's per-turn work (PII masking + quality/language/meta/leakage filters), messages/s,
    against ko-pii's detect_all alone on the same messages; plus the speed-up of num_proc workers.

    One timed pass each (100,000 messages take a minute or more for ko-pii on a small CPU).
    """
    import ko_pii

    from .clean.conversations import TurnContext, clean_turns
    from .clean.pii import KO_PII_LABELS
    from .config import CleanParams

    msgs = synthetic_messages(n_messages, seed=1)
    ctx = TurnContext.make(CleanParams(), system_prompt="너는 고양이 나비야. 모든 문장을 '냥'으로 끝내.",
                           own_markers=["냥[~!?.]*(\\s|$)"],
                           other_markers={"seonbi": ["(하오|이오|구려|시오)[~!?.]*(\\s|$)"], "bori": ["멍[~!?.]*(\\s|$)"]},
                           other_names={"seonbi": "김선비", "bori": "보리"}, keep_values=["나비", "보리", "김선비"])
    texts = [t for _, t in msgs]
    clean_turns(msgs[:2000], ctx)  # warm regex caches and imports
    ours = _rate(lambda: len(clean_turns(msgs, ctx)), repeat=1)
    base = _rate(lambda: sum(1 for t in texts if ko_pii.detect_all(t, include=KO_PII_LABELS) is not None), repeat=1)
    par = _rate(lambda: len(clean_turns(msgs, ctx, num_proc=num_proc)), repeat=1)
    same = clean_turns(msgs[:20_000], ctx) == clean_turns(msgs[:20_000], ctx, num_proc=num_proc)
    from importlib.metadata import version

    return {"name": "clean_throughput", "unit": "messages/s", "n_messages": len(msgs), "ko_pii": version("ko-pii"),
            "unique_messages": len(set(texts)), "ours": ours,
            "baseline": {"name": "ko-pii detect_all alone (identifier labels)", "value": base}, "ratio": ours / base,
            "parallel": {"num_proc": num_proc, "value": par, "speedup_vs_one_process": par / ours,
                         "same_result_as_one_process": same},
            "goal": {"min_messages_per_s": 5000, "min_ratio": 0.9}}


BENCHMARKS: dict[str, Callable[[], dict]] = {"clean_pii": bench_clean, "clean_throughput": bench_clean_throughput}


def run_benchmarks(store: str | Path = "runs", only: str | None = None) -> list[Path]:
    out_dir = Path(store) / "bench"
    written = []
    info = machine()
    for name, fn in BENCHMARKS.items():
        if only and only not in name:
            continue
        takes_store = "store" in inspect.signature(fn).parameters
        result = {**(fn(store=store) if takes_store else fn()), "machine": info, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        path = out_dir / f"{name}.json"
        write_json(path, result)
        written.append(path)
    return written


# --------------------------------------------------------------------------------------------------
# Training throughput: our SFT setup vs plain TRL SFTTrainer defaults, and LoRA vs QLoRA memory
# --------------------------------------------------------------------------------------------------

BENCH_CHATS = (300, 50)  # chats and gold dialogues per character: the demo-size world's data (cheap to make)


def _train_bench_inputs(store: str | Path, arch: str) -> tuple:
    """(params, train records, model dir) for the training benchmark, built once under <store>/bench/.

    Data: nabi's dataset version from a demo-size synthetic world through the real collect, clean
    and dataset stages. Model: the test-size base model (arch="test") or, for arch="demo", the
    demo model's architecture (4 x 256) with random weights: throughput does not depend on the
    weights, and pre-training the demo model takes CPU-minutes.
    """
    from . import stages
    from .config import load_params
    from .dataset import load_version
    from .demo import build_demo
    from .demo.base_model import SIZES
    from .demo.world import build_world
    from .store import run_paths
    from .tracking import Tracker

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
    from .notebook import project_root

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


def _one_run(variant: str, p, train: list[dict], model_dir: Path, out_dir: Path) -> tuple[float, int]:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import SFTConfig, SFTTrainer

    from .train import setup_trainer

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
                repeat: int = 2) -> dict:
    """Training tokens/s (non-padding tokens): ours vs plain TRL SFTTrainer defaults, same process.

    Variants run interleaved, best of `repeat` each, so a busy neighbour hurts all of them alike.
    """
    import tempfile

    import torch

    p, train, model_dir = _train_bench_inputs(store, arch)
    p = p.model_copy(update={"train": p.train.model_copy(update={"max_steps": steps, "batch_size": batch_size,
                                                                  "dtype": "float32"})})
    variants = ["ours", "trl_defaults", "trl_defaults_no_checkpointing"]
    best: dict[str, float] = dict.fromkeys(variants, 0.0)
    tokens: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for trial in range(repeat):
            for v in variants:
                rate, tokens[v] = _one_run(v, p, train, model_dir, Path(tmp) / f"{v}-{trial}")
                best[v] = max(best[v], rate)
    base = best["trl_defaults"]
    return {"name": "train_sft", "unit": "trained (non-padding) tokens/s", "ours": round(best["ours"], 1),
            "baseline": {"name": "TRL SFTTrainer defaults, fp32", "value": round(base, 1)},
            "ratio": round(best["ours"] / base, 3),
            "also": {"trl_defaults_no_checkpointing": round(best["trl_defaults_no_checkpointing"], 1),
                     "ratio_vs_no_checkpointing": round(best["ours"] / best["trl_defaults_no_checkpointing"], 3)},
            "tokens_per_run": tokens,
            "setup": {"model": str(model_dir.name), "arch": arch, "steps": steps, "batch_size": batch_size,
                      "train_records": len(train), "dtype": "float32", "lora_r": p.train.lora.r,
                      "torch_threads": torch.get_num_threads(), "repeat": repeat,
                      "ours": "length-grouped batches, LM head only on labelled (assistant) positions, "
                               "no gradient checkpointing"}}


# A model big enough that its weights, not the Python process, dominate memory (~54M parameters).
MEMORY_ARCH = {"layers": 4, "hidden": 1024, "heads": 8, "intermediate": 2816}


def _rss_mb(field: str) -> float:
    """VmRSS / VmHWM (peak) of this process from /proc, in MB."""
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _memory_child(store: str, method: str, steps: int) -> None:
    """Run in a fresh process: train `steps` steps with `method`; print tokens/s and peak RSS as JSON.

    The peak is reset (Linux /proc/self/clear_refs) after the data is prepared, so it covers model
    load + training only.
    """
    import json
    import tempfile

    from transformers import AutoTokenizer, set_seed

    from .train import setup_model, setup_trainer

    p, train, model_dir = _train_bench_inputs(store, "test")
    model_dir = _random_model(model_dir.parent / "bench_model_memory", model_dir, MEMORY_ARCH)
    p = p.model_copy(update={"train": p.train.model_copy(update={"max_steps": steps, "method": method,
                                                                  "batch_size": 4})})
    set_seed(p.seed)
    tok = AutoTokenizer.from_pretrained(model_dir)
    before = _rss_mb("VmRSS")
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset VmHWM to the current RSS
    model, bf16 = setup_model(p, str(model_dir))
    loaded = _rss_mb("VmRSS")
    clock = _StepClock()
    with tempfile.TemporaryDirectory() as tmp:
        trainer = setup_trainer(p, model, tok, train, tmp, bf16=bf16, progress=False, callbacks=[clock])
        rate, _ = _tokens_per_second(trainer, clock)
    print(json.dumps({"method": method, "tokens_per_second": round(rate, 1),
                      "model_load_mb": round(loaded - before, 1), "peak_rss_mb": round(_rss_mb("VmHWM"), 1),
                      "peak_over_baseline_mb": round(_rss_mb("VmHWM") - before, 1)}))


def bench_train_memory(store: str | Path = "runs", steps: int = 3) -> dict:
    """Peak RSS and tokens/s of LoRA (fp32) vs QLoRA (4-bit NF4), each in its own process.

    Model: the test tokenizer with a ~54M-parameter random Llama (MEMORY_ARCH), so weights dominate.
    """
    import json
    import subprocess
    import sys

    p, _, model_dir = _train_bench_inputs(store, "test")  # build once, outside the measured processes
    _random_model(model_dir.parent / "bench_model_memory", model_dir, MEMORY_ARCH)
    out = {}
    for method in ("lora", "qlora"):
        code = f"from lora_lib.bench import _memory_child; _memory_child({str(store)!r}, {method!r}, {steps})"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent.parent)
        out[method] = json.loads(proc.stdout.strip().splitlines()[-1])
    lo, q = out["lora"]["peak_over_baseline_mb"], out["qlora"]["peak_over_baseline_mb"]
    return {"name": "train_memory", "unit": "MB of peak RSS above the process before model load",
            "ours": q, "baseline": {"name": "LoRA, fp32 base", "value": lo}, "ratio": round(q / lo, 3),
            "runs": out, "setup": {"arch": MEMORY_ARCH, "steps": steps, "batch_size": 4},
            "note": "QLoRA = 4-bit NF4 base (bitsandbytes, double quantization); on CPU TRL keeps the LoRA "
                    "weights in bf16 for quantized models, and CPU has no fast 4-bit/bf16 kernels here, so "
                    "QLoRA trades speed for memory"}


BENCHMARKS["train_sft"] = bench_train
BENCHMARKS["train_memory"] = bench_train_memory

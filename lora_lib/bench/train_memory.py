"""Training memory: peak RSS of LoRA (fp32) vs QLoRA (4-bit NF4), each in its own process."""

from __future__ import annotations

from pathlib import Path

from .harness import interleaved_rounds, paired
from .train_setup import _random_model, _StepClock, _tokens_per_second, _train_bench_inputs

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

    from ..train import setup_model, setup_trainer

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


def bench_train_memory(store: str | Path = "runs", steps: int = 3, rounds: int = 2) -> dict:
    """Peak RSS and tokens/s of LoRA (fp32) vs QLoRA (4-bit NF4), each in its own process.

    Model: the test tokenizer with a ~54M-parameter random Llama (MEMORY_ARCH), so weights dominate.
    `rounds` interleaved rounds (LoRA, QLoRA, LoRA, ...): the figures are the medians, the ratio the
    median of the per-round ratios (with its spread); `runs` holds each method's median round.
    """
    import json
    import subprocess
    import sys

    p, _, model_dir = _train_bench_inputs(store, "test")  # build once, outside the measured processes
    _random_model(model_dir.parent / "bench_model_memory", model_dir, MEMORY_ARCH)
    every: dict[str, list[dict]] = {"lora": [], "qlora": []}

    def child(method: str) -> float:
        code = f"from lora_lib.bench.train_memory import _memory_child; _memory_child({str(store)!r}, {method!r}, {steps})"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              cwd=Path(__file__).parent.parent.parent)
        every[method].append(json.loads(proc.stdout.strip().splitlines()[-1]))
        return every[method][-1]["peak_over_baseline_mb"]

    r = interleaved_rounds({m: (lambda m=m: child(m)) for m in every}, rounds)
    ratio = paired(r["qlora"], r["lora"])
    out = {m: {**sorted(runs, key=lambda x: x["peak_over_baseline_mb"])[(len(runs) - 1) // 2],
               "rounds_peak_over_baseline_mb": r[m]} for m, runs in every.items()}
    return {"name": "train_memory", "unit": "MB of peak RSS above the process before model load",
            "ours": ratio["numerator_median"], "baseline": {"name": "LoRA, fp32 base", "value": ratio["denominator_median"]},
            "ratio": round(ratio["median"], 3), "ratio_spread": ratio,
            "runs": out, "setup": {"arch": MEMORY_ARCH, "steps": steps, "batch_size": 4, "rounds": rounds},
            "note": "QLoRA = 4-bit NF4 base (bitsandbytes, double quantization); on CPU TRL keeps the LoRA "
                    "weights in bf16 for quantized models, and CPU has no fast 4-bit/bf16 kernels here, so "
                    "QLoRA trades speed for memory"}

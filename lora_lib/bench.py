"""`make bench`: benchmarks that compare two things in one process and write JSON with ratios.

Rules (DESIGN.md section 9): same data, same dtype, same process; report both absolute figures,
their ratio, the machine and library versions. Absolute numbers are noisy; ratios are tracked.
"""

from __future__ import annotations

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
        result = {**fn(), "machine": info, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        path = out_dir / f"{name}.json"
        write_json(path, result)
        written.append(path)
    return written

"""The clean stage's speed: PII redaction (clean_pii) and the whole per-turn work (clean_throughput),
each against ko-pii's detector alone on the same messages, in interleaved paired rounds."""

from __future__ import annotations

from .harness import interleaved_rounds, paired, rate


def bench_clean(n_messages: int = 2000, rounds: int = 5) -> dict:
    """Our PII redaction (ko-pii + chat rules) vs ko-pii's detector alone, messages/s.

    `rounds` interleaved rounds (ours, ko-pii, ours, ko-pii, ...), one pass each per round; the
    figures are the medians and the ratio the median of the per-round ratios."""
    import ko_pii

    from ..clean.pii import KO_PII_LABELS, redact
    from ..demo.world import polite_chats

    texts = [m["content"] for chat in polite_chats(max(n_messages // 4, 1), seed=1) for m in chat][:n_messages]

    def ours() -> int:
        return sum(1 for t in texts if redact(t) is not None)

    def base() -> int:
        return sum(1 for t in texts if ko_pii.detect_all(t, include=KO_PII_LABELS) is not None)

    for t in texts[:200]:  # warm regex caches and imports, outside the rounds
        redact(t), ko_pii.detect_all(t, include=KO_PII_LABELS)
    r = interleaved_rounds({"ours": lambda: rate(ours), "base": lambda: rate(base)}, rounds)
    p = paired(r["ours"], r["base"])
    return {"name": "clean_pii", "unit": "messages/s", "n_messages": len(texts), "ours": p["numerator_median"],
            "baseline": {"name": "ko-pii detect_all alone", "value": p["denominator_median"]},
            "ratio": p["median"], "ratio_spread": p}


def synthetic_messages(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """n (role, text) chat messages like a real export: the demo's chats, with numbers in talk (~15%),
    PII of several kinds (~3%), English (~2%) and spam (~1%) mixed in, so every rule has work."""
    import random

    from ..demo.world import polite_chats, roleplay_chats

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


def bench_context():
    """The TurnContext the cleaning benchmarks use: nabi's markers and prompt, the other characters' markers."""
    from ..clean.conversations import TurnContext
    from ..config import CleanParams

    return TurnContext.make(CleanParams(), system_prompt="너는 고양이 나비야. 모든 문장을 '냥'으로 끝내.",
                            own_markers=["냥[~!?.]*(\\s|$)"],
                            other_markers={"seonbi": ["(하오|이오|구려|시오)[~!?.]*(\\s|$)"], "bori": ["멍[~!?.]*(\\s|$)"]},
                            other_names={"seonbi": "김선비", "bori": "보리"}, keep_values=["나비", "보리", "김선비"])


def bench_clean_throughput(n_messages: int = 100_000, num_proc: int = 2, rounds: int = 3) -> dict:
    """The clean stage's per-turn work (PII masking + quality/language/meta/leakage filters), messages/s,
    against ko-pii's detect_all alone on the same messages; plus the speed-up of num_proc workers.

    One timed pass of each per round (100,000 messages take a minute or more for ko-pii on a small
    CPU), `rounds` interleaved rounds (ours, ko-pii, num_proc workers, ours, ...): the figures are the
    medians, the ratios the medians of the per-round ratios, and the goal is judged on those.
    """
    import ko_pii

    from ..clean.conversations import clean_turns
    from ..clean.pii import KO_PII_LABELS

    msgs = synthetic_messages(n_messages, seed=1)
    ctx = bench_context()
    texts = [t for _, t in msgs]
    clean_turns(msgs[:2000], ctx)  # warm regex caches and imports
    r = interleaved_rounds({
        "ours": lambda: rate(lambda: len(clean_turns(msgs, ctx))),
        "base": lambda: rate(lambda: sum(1 for t in texts if ko_pii.detect_all(t, include=KO_PII_LABELS) is not None)),
        "parallel": lambda: rate(lambda: len(clean_turns(msgs, ctx, num_proc=num_proc))),
    }, rounds)
    ratio, speedup = paired(r["ours"], r["base"]), paired(r["parallel"], r["ours"])
    same = clean_turns(msgs[:20_000], ctx) == clean_turns(msgs[:20_000], ctx, num_proc=num_proc)
    from importlib.metadata import version

    goal = {"min_messages_per_s": 5000, "min_ratio": 0.9}
    ours = ratio["numerator_median"]
    return {"name": "clean_throughput", "unit": "messages/s", "n_messages": len(msgs), "ko_pii": version("ko-pii"),
            "unique_messages": len(set(texts)), "ours": ours,
            "baseline": {"name": "ko-pii detect_all alone (identifier labels)", "value": ratio["denominator_median"]},
            "ratio": ratio["median"], "ratio_spread": ratio,
            "parallel": {"num_proc": num_proc, "value": speedup["numerator_median"],
                         "speedup_vs_one_process": speedup["median"], "speedup_spread": speedup,
                         "same_result_as_one_process": same},
            "goal": goal, "met": ours >= goal["min_messages_per_s"] and ratio["median"] >= goal["min_ratio"]}

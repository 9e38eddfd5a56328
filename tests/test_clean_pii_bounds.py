"""Bad inputs: every PII pattern is bounded (no catastrophic backtracking) and redact never crashes.

Linear behaviour, not a timing budget: each pattern's time on 100 kB of an adversarial input must be
less than 30x its time on 10 kB (a quadratic pattern gives ~100x). `python tests/test_clean_pii_bounds.py`
prints the worst case per pattern.
"""

import re
import time

import pytest

from lora_lib.clean import name_frames, names, numerals, pii, pii_patterns, tagger

ADVERSARIAL = {
    "digits": "0123456789",
    "digit_words": "공일이삼사오육칠팔구",
    "digits_separated": "010-1234 5678 / ",
    "at_signs": "a@b.c @ 골뱅이 at 닷 ",
    "letters_spaced": "a b c d e f g h ",
    "hangul_names": "김민수 씨 이정숙이가 박 대리 ",
    "road_words": "테헤란로 12 역삼동 3-4 ",
    "mixed_scripts": "abc가나다123ㅋㅋ😀ㅏㅓ",
    "emoji": "😀🎉❤️👍",
    "lone_jamo": "ㄱㄴㄷㅏㅑㅓ",
    "handles": "인스타 아이디 @a_b. ",
    "person_frames": "민서도 같이 왔어 은혜야 생일 현우, 도윤 셋이랑 ",
}


def _patterns() -> list[tuple[str, re.Pattern]]:
    out = []
    for mod in (pii, pii_patterns, names, name_frames, numerals, tagger):
        for name, value in vars(mod).items():
            if isinstance(value, re.Pattern):
                out.append((f"{mod.__name__.rsplit('.', 1)[-1]}.{name}", value))
    return out


def _time(fn, text: str, repeat: int = 3) -> float:
    """Best CPU time of this process (not wall time: on a shared machine a long run is preempted more)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn(text)
        best = min(best, time.process_time() - start)
    return best


def _scan(pat: re.Pattern):
    return lambda text: sum(1 for _ in pat.finditer(text))


def _worst(fn) -> tuple[float, float, str]:
    """(ratio 100 kB / 10 kB, seconds on 100 kB, input name) of the worst adversarial input."""
    worst = (0.0, 0.0, "")
    for kind, unit in ADVERSARIAL.items():
        small = (unit * (10_000 // len(unit) + 1))[:10_000]
        big = (unit * (100_000 // len(unit) + 1))[:100_000]
        t_small, t_big = _time(fn, small), _time(fn, big)
        ratio = t_big / max(t_small, 2e-3)  # below 2 ms the clock and the load, not the pattern, decide
        if t_big > worst[1]:
            worst = (ratio, t_big, kind)
        if ratio >= 30:
            return ratio, t_big, kind
    return worst


@pytest.mark.parametrize("name, pat", _patterns(), ids=[n for n, _ in _patterns()])
def test_each_pattern_is_linear_on_adversarial_input(name, pat):
    ratio, seconds, kind = _worst(_scan(pat))
    assert ratio < 30, f"{name} on {kind}: 100 kB took {ratio:.0f}x the time of 10 kB ({seconds:.3f} s)"


@pytest.mark.parametrize("kind", ["digits", "hangul_names", "mixed_scripts", "lone_jamo", "digits_separated", "person_frames"])
def test_redact_survives_and_is_linear(kind):
    unit = ADVERSARIAL[kind]

    def run(text):
        out = pii.redact(text, ["민수짱", "하늘"])
        assert isinstance(out.text, str)

    small = (unit * (10_000 // len(unit) + 1))[:10_000]
    big = (unit * (100_000 // len(unit) + 1))[:100_000]
    run(small)  # warm caches and the analyzer
    # best of 3, as for the patterns: one run of each was at the mercy of a GC pause or a preemption
    assert _time(run, big) / max(_time(run, small), 2e-3) < 30


@pytest.mark.parametrize("kind", ["digits", "digit_words", "at_signs", "mixed_scripts", "emoji", "lone_jamo", "hangul_names"])
def test_the_tagger_survives_and_is_linear(kind):
    """The learned second pass (clean/tagger.py) reads every character: linear, and 100 kB in bounded time."""
    unit = ADVERSARIAL[kind]

    def run(text):
        spans = tagger.tag_spans(text, 0.5)
        assert all(0 <= s < e <= len(text) for _, s, e, _ in spans)

    small = (unit * (10_000 // len(unit) + 1))[:10_000]
    big = (unit * (100_000 // len(unit) + 1))[:100_000]
    run(small)
    t_big = _time(run, big, repeat=1)
    assert t_big / max(_time(run, small, repeat=1), 2e-3) < 30
    assert t_big < 20, f"100 kB of {kind}: {t_big:.1f} s"


if __name__ == "__main__":
    rows = []
    for name, pat in _patterns():
        ratio, seconds, kind = _worst(_scan(pat))
        rows.append((seconds, name, kind, ratio))
    for seconds, name, kind, ratio in sorted(rows, reverse=True):
        print(f"{name:40s} worst 100 kB: {seconds * 1000:8.1f} ms on {kind:16s} (100k/10k ratio {ratio:4.1f})")

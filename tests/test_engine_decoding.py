"""Per-row decoding inside one shared mixed-adapter batch: stop strings, penalties, logprobs and seeds
of one row do not depend on what else shares its generate() call; the penalties are vLLM's formulas."""

from __future__ import annotations

import pytest
import torch

from lora_lib.engine import Batcher, Engine, Job, Sampling
from lora_lib.engine.decoding import RowSampler, held_back

from .test_engine import PROMPTS, adapters  # noqa: F401 - the module's adapters fixture


@pytest.fixture(scope="module")
def engine(adapters):  # noqa: F811
    base, paths = adapters
    e = Engine(base, capacity=3)
    for i in range(2):
        e.load_adapter(f"x@{i}", paths[f"a{i}"])
    return e


def test_rows_with_different_settings_in_one_batch_match_each_row_alone(engine):
    free = engine.generate(PROMPTS[:1], "x@1", max_new_tokens=12, ignore_eos=True)[0].text
    at = next(j for j in range(2, len(free) - 1) if free.find(free[j:j + 2]) == j and free[j] != " ")
    rows = [(PROMPTS[0], "x@1", Sampling(stop=(free[at:at + 2],))),
            (PROMPTS[1], "x@1", Sampling(frequency_penalty=1.5, presence_penalty=0.5)),
            (PROMPTS[2], None, Sampling(logprobs=3)),
            (PROMPTS[0], "x@1", Sampling(temperature=1.2, top_p=0.9, seed=11, repetition_penalty=1.5)),
            (PROMPTS[1], "x@0", None)]
    batch = engine.generate([r[0] for r in rows], [r[1] for r in rows], max_new_tokens=12, ignore_eos=True,
                            sampling=[r[2] for r in rows])
    alone = [engine.generate([p], a, max_new_tokens=12, ignore_eos=True, sampling=s)[0] for p, a, s in rows]
    assert [g.text for g in batch] == [g.text for g in alone]
    assert batch[0].text == free[:at].strip() and batch[0].finish_reason == "stop"
    assert [g.finish_reason for g in batch[1:]] == ["length"] * 4
    assert batch[2].logprobs is not None and len(batch[2].logprobs) == 12
    assert all(g.logprobs is None for i, g in enumerate(batch) if i != 2)
    got = [e["logprob"] for e in batch[2].logprobs]
    assert got == pytest.approx([e["logprob"] for e in alone[2].logprobs], abs=1e-4)
    assert all(len(e["top_logprobs"]) == 3 for e in batch[2].logprobs)


def test_seed_gives_the_same_reply_and_other_seeds_differ(engine):
    ask = {"max_new_tokens": 8, "ignore_eos": True}
    same = [engine.generate(PROMPTS[:1], "x@0", sampling=Sampling(temperature=1.5, seed=3), **ask)[0].text
            for _ in range(2)]
    others = {engine.generate(PROMPTS[:1], "x@0", sampling=Sampling(temperature=1.5, seed=s), **ask)[0].text
              for s in range(4, 8)}
    assert same[0] == same[1] and others != {same[0]}


def test_penalties_follow_vllms_formulas():
    scores = torch.tensor([[2.0, -1.0, 0.5, 3.0, 1.0]])
    prompt_len = 2
    input_ids = torch.tensor([[4, 0, 3, 3, 1]])  # prompt [4, 0], output so far [3, 3, 1]
    s = Sampling(presence_penalty=0.5, frequency_penalty=0.25, repetition_penalty=2.0)
    out = RowSampler([s], prompt_len, [torch.tensor([4, 0])])(input_ids, scores)
    # repetition on prompt + output tokens {0, 1, 3, 4}: positive / 2, negative * 2; then
    # frequency (count in the output: 3 -> 2, 1 -> 1) and presence (3, 1) on the output only
    expected = torch.tensor([[1.0, -2.0 - 0.25 - 0.5, 0.5, 1.5 - 0.5 - 0.5, 0.5]])
    assert torch.allclose(out, expected)
    assert torch.equal(scores, torch.tensor([[2.0, -1.0, 0.5, 3.0, 1.0]]))  # the input is not modified
    for bad in ({"presence_penalty": 2.5}, {"repetition_penalty": 0.0}, {"stop": ("",)}, {"logprobs": 21}):
        with pytest.raises(ValueError):
            Sampling(**bad)


def test_stop_prefix_is_held_back():
    assert held_back("안녕하세요 다", ("다음",)) == 1
    assert held_back("hello wo", ("world", "o")) == 2
    assert held_back("hello", ("xyz",)) == 0


def test_a_group_of_jobs_shares_one_batch(engine):
    batcher = Batcher(engine, max_batch=4, wait_ms=0)
    try:
        first = batcher.submit(Job(PROMPTS[0], None, 6))
        group = batcher.submit_many([Job(PROMPTS[1], None, 3, sampling=Sampling(temperature=1.0, seed=s))
                                     for s in range(4)])
        outs = [f.result(timeout=120) for f in group]
        assert {g.batch_size for g in outs} == {4}  # never split, though the first job came before them
        first.result(timeout=120)
        with pytest.raises(ValueError):
            batcher.submit_many([Job(PROMPTS[0], None, 1)] * 5)
    finally:
        batcher.close()

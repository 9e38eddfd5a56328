"""Engine on the test-size base model: LRU cache, sha256 refusal, mixed batches, streaming, merge, vLLM export."""

from __future__ import annotations

import json
import shutil

import pytest

from lora_lib.engine import AdapterLoadError, AdapterSpec, Batcher, Engine, Job, Sampling
from lora_lib.engine.synthetic import make_adapter
from lora_lib.registry import Registry
from lora_lib.serve.export import export_vllm, merge_adapter
from lora_lib.store import sha256_file

PROMPTS = [[{"role": "user", "content": "안녕하세요, 오늘 날씨 어때요?"}],
           [{"role": "user", "content": "배고파요. 뭐 먹을까요?"}],
           [{"role": "user", "content": "내일 같이 산책할래요?"}]]


@pytest.fixture(scope="module")
def adapters(demo_store, tmp_path_factory):
    root = tmp_path_factory.mktemp("adapters")
    base = str(demo_store / "demo" / "base_model")
    # scale 0.5: big enough that the three adapters answer these prompts differently
    return base, {f"a{i}": make_adapter(base, root / f"a{i}", seed=i, scale=0.5) for i in range(3)}


def sha(path) -> str:
    return sha256_file(path / "adapter_model.safetensors")


def test_lru_cache_loads_on_demand_and_refuses_modified_weights(adapters, tmp_path):
    base, paths = adapters
    engine = Engine(base, capacity=2)
    assert engine.load_adapter("x@0", paths["a0"], sha(paths["a0"]))
    assert not engine.load_adapter("x@0", paths["a0"])  # already loaded: no-op
    engine.load_adapter("x@1", paths["a1"])
    engine.generate(PROMPTS[:1], "x@0", max_new_tokens=1)  # x@0 is now the most recently used
    engine.load_adapter("x@2", paths["a2"])
    assert engine.loaded == ["x@0", "x@2"] and engine.evict_count == 1  # x@1 was least recently used
    with pytest.raises(KeyError, match="not loaded"):
        engine.generate(PROMPTS[:1], "x@1")

    bad = tmp_path / "bad"
    shutil.copytree(paths["a1"], bad)
    (bad / "adapter_model.safetensors").write_bytes((paths["a0"] / "adapter_model.safetensors").read_bytes())
    with pytest.raises(AdapterLoadError, match="sha256"):
        engine.load_adapter("x@bad", bad, sha(paths["a1"]))
    (bad / "adapter_model.safetensors").unlink()
    with pytest.raises(AdapterLoadError, match="no adapter_model"):
        engine.load_adapter("x@bad", bad)
    assert engine.loaded == ["x@0", "x@2"]  # failed loads cost nothing that was serving
    fixed = engine.generate(PROMPTS[:2], ["x@0", None], max_new_tokens=5, ignore_eos=True)
    assert [(g.completion_tokens, g.finish_reason) for g in fixed] == [(5, "length")] * 2


def test_mixed_batch_matches_one_adapter_at_a_time_and_streams(adapters):
    base, paths = adapters
    engine = Engine(base, capacity=3)
    names = [None, "m@1", "m@2"]
    for i in (1, 2):
        engine.load_adapter(f"m@{i}", paths[f"a{i}"])
    alone = [engine.generate([p], n, max_new_tokens=8)[0].text for p, n in zip(PROMPTS, names, strict=True)]
    assert len(set(alone)) > 1  # different adapters really answer differently
    deltas: list[list[str]] = [[], [], []]
    mixed = engine.generate(PROMPTS, names, max_new_tokens=[3, 8, 8], on_text=[d.append for d in deltas])
    assert [g.text for g in mixed[1:]] == alone[1:]
    assert mixed[0].completion_tokens <= 3 and mixed[0].batch_size == 3
    assert ["".join(d) for d in deltas] == [g.text for g in mixed]


def test_batcher_groups_requests_and_fails_only_the_bad_job(adapters, tmp_path):
    base, paths = adapters
    engine = Engine(base, capacity=2)
    batcher = Batcher(engine, max_batch=8, wait_ms=50)
    try:
        specs = [AdapterSpec(f"b@{i}", str(paths[f"a{i}"]), sha(paths[f"a{i}"])) for i in range(2)]
        broken = AdapterSpec("b@broken", str(paths["a2"]), "0" * 64)
        jobs = [Job(PROMPTS[i % 3], specs[i % 2], 2) for i in range(6)] + [Job(PROMPTS[0], broken, 2)]
        futures = [batcher.submit(j) for j in jobs]
        with pytest.raises(AdapterLoadError):
            futures[-1].result(timeout=60)
        results = [f.result(timeout=60) for f in futures[:-1]]
        assert all(r.completion_tokens <= 2 for r in results)
        assert batcher.batches <= 2 and max(r.batch_size for r in results) > 1
    finally:
        batcher.close()


def test_batcher_does_not_wait_once_a_full_batch_is_queued(adapters):
    """batch_wait_ms is for gathering company; a full batch (or work held over) goes at once."""
    base, paths = adapters
    engine = Engine(base)
    engine.load_adapter("w@0", paths["a0"])
    batcher = Batcher(engine, max_batch=3, wait_ms=600_000)  # waiting would take ten minutes
    try:
        spec = AdapterSpec("w@0", str(paths["a0"]))
        futures = [batcher.submit(Job(PROMPTS[i], spec, 2)) for i in range(3)]
        results = [f.result(timeout=60) for f in futures]
        assert [r.batch_size for r in results] == [3, 3, 3] and batcher.batches == 1
    finally:
        batcher.close()


def test_sampling_is_per_row_seeded_and_leaves_greedy_rows_alone(adapters):
    base, paths = adapters
    engine = Engine(base)
    engine.load_adapter("s@0", paths["a0"])
    engine.load_adapter("s@1", paths["a1"])

    def run(prompts, names, sampling):
        return [g.text for g in engine.generate(prompts, names, max_new_tokens=8, ignore_eos=True,
                                                sampling=sampling)]

    greedy = run(PROMPTS, ["s@0", "s@1", None], None)
    hot = Sampling(2.0, 1.0, seed=11)
    mixed = run(PROMPTS, ["s@0", "s@1", None], [None, hot, Sampling(2.0, top_p=1e-9, seed=3)])
    assert mixed[0] == greedy[0]  # a greedy row is untouched by sampled rows beside it
    assert mixed[2] == greedy[2]  # top_p that keeps one token is greedy, whatever the temperature
    assert run(PROMPTS[1:2], ["s@1"], [hot]) == [mixed[1]]  # same seed, other batch: same draws
    draws = {run(PROMPTS[1:2], ["s@1"], [Sampling(2.0, seed=k)])[0] for k in range(6)}
    assert len(draws) > 1 and draws != {greedy[1]}  # it really samples
    with pytest.raises(ValueError, match="top_p"):
        Sampling(1.0, top_p=0)


def test_merged_model_agrees_with_adapter_on_top(adapters, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    base, paths = adapters
    record = merge_adapter(base, paths["a1"], tmp_path / "merged", name="m@1", sha256=sha(paths["a1"]))
    assert record["adapter_sha256"] == sha(paths["a1"]) and (tmp_path / "merged" / "merge.json").is_file()
    engine = Engine(base)
    engine.load_adapter("m@1", paths["a1"])
    merged = AutoModelForCausalLM.from_pretrained(str(tmp_path / "merged"), dtype=torch.float32).eval()
    enc = engine.tokenizer([engine.tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
                            for p in PROMPTS], return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.inference_mode():
        lora_logits = engine.model(**enc, adapter_names=["m@1"] * 3).logits
        base_logits = engine.model(**enc, adapter_names=["__base__"] * 3).logits
        merged_logits = merged(**enc).logits
    assert torch.allclose(lora_logits, merged_logits, atol=1e-4)
    assert not torch.allclose(base_logits, merged_logits, atol=1e-2)  # the adapter does change the model
    with pytest.raises(ValueError, match="sha256"):
        merge_adapter(base, paths["a1"], tmp_path / "m2", name="m@1", sha256="0" * 64)
    assert not (tmp_path / "m2").exists()


def test_vllm_export_lists_routed_adapters_under_their_names(adapters, tmp_path):
    base, paths = adapters
    reg = Registry(f"sqlite:///{tmp_path}/registry.sqlite")
    for i in (0, 1):
        reg.register_adapter(character_id="nabi", version=f"v{i}", path=str(paths[f"a{i}"]), base_model=base,
                             dataset_version="ds", status="approved")
    reg.set_route("nabi", base_model=base, stable_version="v0", candidate_version="v1", rollout_percent=10)
    info = export_vllm(reg, base, tmp_path / "vllm")
    cmd = info["command"]
    assert cmd[:3] == ["vllm", "serve", base] and "--enable-lora" in cmd
    assert cmd[cmd.index("--max-lora-rank") + 1] == "8" and cmd[cmd.index("--max-loras") + 1] == "2"
    assert f"nabi@v0={paths['a0'].resolve()}" in cmd and f"nabi@v1={paths['a1'].resolve()}" in cmd
    assert "nabi@v1" in (tmp_path / "vllm" / "load_adapters.sh").read_text()
    saved = json.loads((tmp_path / "vllm" / "adapters.json").read_text())
    assert saved["tested"] is False and [a["name"] for a in saved["adapters"]] == ["nabi@v0", "nabi@v1"]
    assert len(saved["servers"]) == 1 and saved["serve_params"] == {"serve.backend": "vllm",
                                                                     "serve.vllm_url": "http://127.0.0.1:8001"}


def test_vllm_export_writes_one_server_per_base(adapters, tmp_path):
    """A rollout of nabi to another base: the default base's server keeps its stable, the other base gets its
    own launch (port + 1) with the candidate, and serve_params names both URLs."""
    import shutil

    base, paths = adapters
    other = tmp_path / "other_base"
    shutil.copytree(base, other)
    cfg = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**cfg, "rms_norm_eps": 1e-5 + 1e-9}))  # another identity
    reg = Registry(f"sqlite:///{tmp_path}/registry.sqlite")
    reg.register_adapter(character_id="nabi", version="v0", path=str(paths["a0"]), base_model=base,
                         dataset_version="ds", status="approved")
    reg.register_adapter(character_id="nabi", version="v1", path=str(paths["a1"]), base_model=str(other),
                         dataset_version="ds", status="approved")
    reg.set_route("nabi", base_model=base, stable_version="v0", candidate_version="v1", rollout_percent=10)
    info = export_vllm(reg, base, tmp_path / "vllm", port=9000)
    first, second = info["servers"]
    assert first["base_model"] == base and [a["name"] for a in first["adapters"]] == ["nabi@v0"]
    assert second["base_model"] == str(other) and [a["name"] for a in second["adapters"]] == ["nabi@v1"]
    assert second["command"][:3] == ["vllm", "serve", str(other)] and "9001" in second["command"]
    assert "nabi@v1" in (tmp_path / "vllm" / "base1" / "launch.sh").read_text()
    assert "nabi@v1" not in (tmp_path / "vllm" / "launch.sh").read_text()
    assert info["serve_params"]["serve.vllm_urls"] == {str(other): "http://127.0.0.1:9001"}


def test_batched_lora_equals_peft_loop_with_mixed_ranks(adapters, tmp_path):
    """Our gathered-bmm mixed batch (ranks zero-padded) gives PEFT's per-adapter result, base rows untouched."""
    import torch

    base, paths = adapters
    small = make_adapter(base, tmp_path / "r4", seed=7, r=4)
    engines = [Engine(base, batched_lora=flag) for flag in (True, False)]
    # Several batches in a row on one engine, and one after a new load: the per-batch gather cache must
    # follow each batch's adapter_names and the loaded set, never reuse a previous batch's rows.
    batches = [["m@r4", "__base__", "m@1"], ["m@1", "m@r4", "m@1"], ["m@r4", "__base__", "m@1"],
               ["m@2", "m@1", "__base__"]]
    logits = {}
    for flag, engine in zip((True, False), engines, strict=True):
        engine.load_adapter("m@1", paths["a1"])
        engine.load_adapter("m@r4", small)
        enc = engine.tokenizer([engine.tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
                                for p in PROMPTS], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            for i, names in enumerate(batches):
                if i == 3:
                    engine.load_adapter("m@2", paths["a2"])
                logits[flag, i] = engine.model(**enc, adapter_names=names).logits
            base_only = engine.model(**enc, adapter_names=["__base__"] * 3).logits
    for i in range(len(batches)):
        assert torch.allclose(logits[True, i], logits[False, i], atol=1e-5), f"batch {i}"
    assert torch.equal(logits[True, 0][1], base_only[1]) and not torch.allclose(logits[True, 0][0], base_only[0],
                                                                                  atol=1e-3)

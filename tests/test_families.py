"""Each base family end to end, without a hub: real tokenizer file (or the real template over a
converted vocabulary, see lora_lib.models.families), tiny random model from the family's config class.

Per family: the masks label exactly each reply plus the end-of-turn token; a few training steps make
an adapter; the engine stops on the family's end-of-turn token (the Llama tokenizer's EOS is
<|end_of_text|>, so only the family table can make it stop there); a mixed-adapter batch equals
per-adapter generation; the merged model equals base + adapter; the reply served through the real
openai client equals the offline engine reply for the same prompt and seed.

The tiny bases are taught the two test conversations first (full-parameter, a few steps) so that
they answer and then end their turn. Tokenizers and bases are cached under .pytest_cache/d/.
"""

from __future__ import annotations

import pytest

from lora_lib.models import FAMILIES
from lora_lib.models.families import MISTRAL_V3_TEMPLATE
from lora_lib.models.masking import DIFF, TRL, MaskingError, masks, plan_for, runs
from lora_lib.models.tiny import build_base, build_tokenizer

from .conftest import ROOT

SYS = {"role": "system", "content": "너는 고양이 나비야. 짧게 말해."}
HI = {"role": "user", "content": "오늘 뭐 했어?"}
CONVS = [[SYS, HI, {"role": "assistant", "content": "낮잠 잤다냥!"}],
         [SYS, {"role": "user", "content": "안녕"}, {"role": "assistant", "content": "안녕냥~"},
          {"role": "user", "content": "배고파?"}, {"role": "assistant", "content": "츄르 줘라냥."}]]
METHOD = {"qwen2_5": TRL, "qwen3": TRL, "gemma": TRL, "llama3": DIFF, "mistral": DIFF, "exaone": DIFF}
KEYS = list(METHOD)
BASES_VERSION = "v2"  # bump when build_base or teach changes


@pytest.fixture(scope="session")
def cache(pytestconfig):
    return pytestconfig.cache.mkdir("tokenizers")


@pytest.fixture(scope="session")
def bases(pytestconfig, cache):
    root = pytestconfig.cache.mkdir(f"tiny-bases-{BASES_VERSION}")
    return lambda key: build_base(key, root / key, cache, teach_on=CONVS)


def test_family_table_covers_every_tested_family():
    assert set(KEYS) <= set(FAMILIES)
    for key in KEYS:
        f = FAMILIES[key]
        assert f.end_of_turn and f.target_modules and f.tests_with


@pytest.mark.parametrize("key", KEYS)
def test_masks_label_exactly_the_replies_and_end_of_turn(key, cache):
    tok = build_tokenizer(key, cache)
    plan = plan_for(tok, CONVS)
    assert plan.method == METHOD[key]
    eot = FAMILIES[key].end_of_turn
    for conv in CONVS:
        ids, mask = masks(tok, conv, plan)
        replies = [m["content"] for m in conv if m["role"] == "assistant"]
        spans = [tok.decode(ids[s:e]) for s, e in runs(mask)]
        assert spans == [r + eot for r in replies]
        unlabelled = tok.decode([t for t, m in zip(ids, mask, strict=True) if not m])
        assert all(m["content"] in unlabelled for m in conv if m["role"] != "assistant")


def test_mistral_v3_template_is_refused_with_a_system_prompt(cache):
    """v0.3 renders the system prompt into the last user turn only: a training render lacks it."""
    tok = build_tokenizer("mistral", cache)
    tok.chat_template = MISTRAL_V3_TEMPLATE
    with pytest.raises(MaskingError, match="render-diff: turn 2: the prompt rendered for generation is not a prefix"):
        plan_for(tok, CONVS)
    assert plan_for(tok, [c[1:] for c in CONVS]).method == DIFF  # without one it is consistent


@pytest.mark.parametrize("key", KEYS)
def test_chain_train_engine_merge_serve(key, bases, tmp_path):
    import openai
    import torch

    from lora_lib.config import load_params
    from lora_lib.engine import Engine, Sampling
    from lora_lib.engine.synthetic import make_adapter
    from lora_lib.registry import Registry
    from lora_lib.requestlog import read_request_log
    from lora_lib.serve.api import ServerThread, create_app, load_serve_config
    from lora_lib.serve.export import merge_adapter
    from lora_lib.train import setup_model, setup_trainer

    base = str(bases(key))
    family = FAMILIES[key]
    engine = Engine(base)  # loaded once: its tokenizer trains too, and the server shares it
    tok = engine.tokenizer
    p = load_params("nabi", params_dir=ROOT / "params", overrides={
        "tracking": "none", "store": str(tmp_path), "train.max_steps": 3, "train.batch_size": 2,
        "train.save_steps": 1000, "train.lora.target_modules": list(family.target_modules)})
    model, _ = setup_model(p, base)
    trainer = setup_trainer(p, model, tok, [{"messages": c} for c in CONVS], tmp_path / "ckpt", progress=False)
    trainer.train()
    adapter = tmp_path / "adapters" / "nabi" / "v1"
    trainer.model.save_pretrained(str(adapter))
    assert (adapter / "adapter_model.safetensors").exists() and trainer.state.global_step == 3

    eot = tok.convert_tokens_to_ids(family.end_of_turn)
    assert eot in engine.stop_ids
    engine.load_adapter("nabi@v1", adapter)
    engine.load_adapter("other@v1", make_adapter(base, tmp_path / "other", seed=1,
                                                 target_modules=list(family.target_modules)))
    prompt = [SYS, HI]
    alone = {a: engine.generate([prompt], [a], max_new_tokens=32)[0] for a in ("nabi@v1", "other@v1", None)}
    g = alone["nabi@v1"]
    assert g.finish_reason == "stop" and 0 < g.completion_tokens < 32, g
    # The token that ended it is the family's end of turn (not the tokenizer's EOS, for Llama-3).
    text = tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True, **family.chat_kwargs)
    enc = tok(text, return_tensors="pt", add_special_tokens=False)
    with torch.inference_mode():
        raw = engine.model.generate(**enc, adapter_names=["nabi@v1"], max_new_tokens=g.completion_tokens + 1,
                                    do_sample=False, eos_token_id=None, pad_token_id=tok.pad_token_id)
    assert raw[0, -1].item() == eot

    mixed = engine.generate([prompt] * 3, ["nabi@v1", "other@v1", None], max_new_tokens=32)
    assert [m.text for m in mixed] == [alone[a].text for a in ("nabi@v1", "other@v1", None)]

    # Merged weights answer like base + adapter (our export for one family, PEFT's merge in memory else).
    if key == "llama3":
        merge_adapter(base, adapter, tmp_path / "merged", name="nabi@v1")
        merged_text = Engine(tmp_path / "merged").generate([prompt], max_new_tokens=32)[0].text
    else:
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        merged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), str(adapter)).merge_and_unload()
        with torch.inference_mode():
            out = merged.generate(**enc, max_new_tokens=32, do_sample=False, eos_token_id=engine.stop_ids,
                                  pad_token_id=tok.pad_token_id)
        ids = [t for t in out[0, enc["input_ids"].shape[1]:].tolist() if t not in engine.stop_ids]
        merged_text = tok.decode(ids, skip_special_tokens=True).strip()
    assert merged_text == g.text

    cfg = load_serve_config(tmp_path, ROOT / "params", overrides={"base_model": base}, api_key="k")
    reg = Registry(cfg.registry_url)
    reg.register_adapter(character_id="nabi", version="v1", path=str(adapter), base_model=cfg.base_model,
                         dataset_version="ds", status="approved", actor="test")
    reg.set_route("nabi", base_model=cfg.base_model, stable_version="v1", actor="test")
    with ServerThread(create_app(cfg, engine)) as srv:
        client = openai.OpenAI(base_url=f"{srv.url}/v1", api_key="unused", max_retries=0, timeout=60)
        r = client.chat.completions.create(model="nabi", messages=[HI], max_tokens=8, temperature=0.9, top_p=1.0,
                                           seed=11)
    df, _ = read_request_log(cfg.store / "serve" / "request_log.jsonl")
    served_prompt = df[df["request_id"] == r.id].iloc[0]["messages"]
    offline = engine.generate([list(served_prompt)], ["nabi@v1"], max_new_tokens=8,
                              sampling=Sampling(temperature=0.9, top_p=1.0, seed=11))[0]
    assert r.model == "nabi@v1" and r.choices[0].message.content == offline.text
    assert r.usage.completion_tokens == offline.completion_tokens


def test_doctor_reports_family_masking_example_and_memory(bases, cache, tmp_path, capsys):
    from transformers import AutoTokenizer, Qwen2Config

    from lora_lib.cli import main
    from lora_lib.models.doctor import diagnose

    base = bases("llama3")
    assert main(["doctor", "--base", str(base), "--params", str(ROOT / "params")]) == 0
    out = capsys.readouterr().out
    assert "family          Llama-3.x" in out and "masking         render-diff" in out
    assert "⟦낮잠 잤다냥!<|eot_id|>⟧" in out and "<|eot_id|>" in out.split("stop tokens")[1].splitlines()[0]

    # A Qwen2.5-7B-shaped config (meta device, no weights): the estimate is in the range people measure.
    seven_b = tmp_path / "qwen7b"
    Qwen2Config(vocab_size=152064, hidden_size=3584, intermediate_size=18944, num_hidden_layers=28,
                num_attention_heads=28, num_key_value_heads=4, tie_word_embeddings=False).save_pretrained(seven_b)
    AutoTokenizer.from_pretrained(str(build_tokenizer("qwen2_5", cache).name_or_path)).save_pretrained(seven_b)
    d = diagnose(str(seven_b), r=16, batch=1, length=1024)
    assert d.family == "Qwen2.5" and d.masking == TRL and 7.0e9 < d.params < 8.0e9
    assert 14 < d.memory_gb["lora"]["weights"] < 16 and 4 < d.memory_gb["qlora"]["weights"] < 6
    print(d.report())


def test_copied_store_serves_its_own_adapters(bases, tmp_path):
    """The registry names the base by its original path; the copy's server runs the copied base:
    the same files, so the same base (lora_lib.models.identity), and the copy serves and re-routes."""
    import shutil

    import openai

    from lora_lib.engine.synthetic import make_adapter
    from lora_lib.models.identity import base_identity, same_base
    from lora_lib.registry import Registry
    from lora_lib.serve.api import ServerThread, create_app, load_serve_config

    original = tmp_path / "original"
    shutil.copytree(bases("mistral"), original / "demo" / "base_model")
    cfg = load_serve_config(original, ROOT / "params", overrides={"base_model": str(original / "demo" / "base_model")})
    reg = Registry(cfg.registry_url)
    for v in ("v1", "v2"):
        d = make_adapter(cfg.base_model, original / "adapters" / "nabi" / v, seed=int(v[1:]))
        reg.register_adapter(character_id="nabi", version=v, path=str(d), base_model=cfg.base_model,
                             dataset_version="ds", status="approved", actor="test")
    reg.set_route("nabi", base_model=cfg.base_model, stable_version="v1", actor="test")

    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    ccfg = load_serve_config(copy, ROOT / "params", overrides={"base_model": str(copy / "demo" / "base_model")})
    assert base_identity(ccfg.base_model) == base_identity(cfg.base_model)
    assert base_identity(cfg.base_model).startswith("sha256:")
    assert same_base(cfg.base_model, ccfg.base_model)
    creg = Registry(ccfg.registry_url)
    assert creg.get_route("nabi")["base_model"] == cfg.base_model  # the original's path, as registered
    creg.set_route("nabi", base_model=ccfg.base_model, stable_version="v1", candidate_version="v2",
                   rollout_percent=50, actor="test")  # was "adapter nabi@v1 was trained on ..., not ..."
    with ServerThread(create_app(ccfg)) as srv:
        client = openai.OpenAI(base_url=f"{srv.url}/v1", api_key="unused", max_retries=0, timeout=60)
        r = client.chat.completions.create(model="nabi", messages=[HI], max_tokens=4, user="u1")
    assert r.model in ("nabi@v1", "nabi@v2")
    other = tmp_path / "other"
    shutil.copytree(bases("mistral"), other)
    (other / "config.json").write_text((other / "config.json").read_text().replace('"rms_norm_eps": 1e-06', '"rms_norm_eps": 1e-05'))
    assert not same_base(str(other), ccfg.base_model)  # another config is another base

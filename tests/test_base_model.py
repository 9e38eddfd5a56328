"""Tiny local base chat model: tokenizer + ChatML template, deterministic build, cache, reload, generate.

One "test"-size build (2 x 64 Llama, a few seconds) is shared by the module; the determinism test
makes a second build in its own directory.
"""

from __future__ import annotations

import json

import pytest
import torch

from lora_lib.demo import base_model as bm
from lora_lib.demo.base_model import BaseModelError, build_base_model
from lora_lib.demo.model_folder import content_sha256
from lora_lib.demo.tokenizer import CHAT_TEMPLATE, train_tokenizer
from lora_lib.demo.world import polite_chats

CHATS = polite_chats(400, seed=0)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("base") / "model"
    info = build_base_model(out, CHATS, seed=0, size="test", progress=False)
    return out, info


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(m["content"] for chat in CHATS[:100] for m in chat)


# -- tokenizer and template ------------------------------------------------------------------------


def test_tokenizer_roundtrips_korean_and_unseen_text(tokenizer):
    for text in ["안녕하세요! 오늘 날씨가 정말 좋네요.", "처음 보는 글자: 龍, emoji 😀, tab\tand\nnewline"]:
        ids = tokenizer(text)["input_ids"]
        assert tokenizer.decode(ids) == text  # byte-level: nothing is ever unknown


def test_special_tokens_and_no_bos(tokenizer):
    assert tokenizer.eos_token == "<|im_end|>"
    assert tokenizer.pad_token == "<|pad|>"
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert tokenizer.bos_token is None
    assert len(tokenizer("<|im_start|>")["input_ids"]) == 1
    # Plain encoding adds nothing in front: the template alone decides what the sequence starts with.
    assert tokenizer("안녕")["input_ids"] == tokenizer("안녕", add_special_tokens=False)["input_ids"]


def test_template_renders_chatml(tokenizer):
    msgs = [
        {"role": "system", "content": "친절하게"},
        {"role": "user", "content": "안녕?"},
        {"role": "assistant", "content": "안녕하세요!"},
    ]
    assert tokenizer.chat_template == CHAT_TEMPLATE
    assert tokenizer.apply_chat_template(msgs, tokenize=False) == (
        "<|im_start|>system\n친절하게<|im_end|>\n"
        "<|im_start|>user\n안녕?<|im_end|>\n"
        "<|im_start|>assistant\n안녕하세요!<|im_end|>\n"
    )
    prompt = tokenizer.apply_chat_template(msgs[:2], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>user\n안녕?<|im_end|>\n<|im_start|>assistant\n")


def test_assistant_mask_covers_exactly_replies_and_their_im_end(tokenizer):
    msgs = [
        {"role": "user", "content": "영화 추천해줘"},
        {"role": "assistant", "content": "재미있는 영화를 추천해 드릴게요."},
        {"role": "user", "content": "고마워"},
        {"role": "assistant", "content": "천만에요!"},
    ]
    enc = tokenizer.apply_chat_template(
        msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids, mask = enc["input_ids"], enc["assistant_masks"]
    assert len(ids) == len(mask)
    # The masked tokens, in order, are exactly each reply's tokens followed by <|im_end|>.
    expected = []
    for m in msgs:
        if m["role"] == "assistant":
            expected += tokenizer(m["content"], add_special_tokens=False)["input_ids"] + [
                tokenizer.eos_token_id
            ]
    assert [t for t, keep in zip(ids, mask, strict=True) if keep] == expected
    # Headers and the newline after <|im_end|> stay unmasked.
    assert not mask[0] and not mask[-1]


# -- build, reload, generate -----------------------------------------------------------------------


def test_build_writes_a_loadable_hf_folder(built):
    out, info = built
    for name in [
        "model.safetensors",
        "config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "README.md",
        "base_model.json",
    ]:
        assert (out / name).is_file(), name
    assert not list(out.parent.glob(".model.*"))  # temp dir renamed away
    assert json.loads((out / "base_model.json").read_text(encoding="utf-8")) == info
    assert info["sha256"] == content_sha256(out)
    assert {
        "sha256",
        "n_params",
        "size",
        "seed",
        "train_seconds",
        "final_loss",
        "vocab_size",
        "corpus_sha256",
    } <= set(info)
    assert info["size"] == "test" and info["seed"] == 0
    # No wall-clock assertion: the 2 shared cores make it flaky (alone, this build takes ~4 s).
    assert info["final_loss"] < 3.0  # it learned something (starts at ~ln(vocab) = 7.3)
    assert info["corpus_sha256"] in (out / "README.md").read_text(encoding="utf-8")

    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert sum(p.numel() for p in model.parameters()) == info["n_params"]
    assert len(tok) == info["vocab_size"] == model.config.vocab_size
    assert tok.chat_template == CHAT_TEMPLATE
    assert model.generation_config.eos_token_id == tok.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")
    assert model.generation_config.pad_token_id == tok.pad_token_id


def test_generation_terminates(built):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, _ = built
    model = AutoModelForCausalLM.from_pretrained(out).eval()
    tok = AutoTokenizer.from_pretrained(out)
    enc = tok.apply_chat_template(
        [{"role": "user", "content": "오늘 뭐 했어?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        gen = model.generate(**enc, max_new_tokens=40, do_sample=False)
    new = gen[0, enc["input_ids"].shape[1] :].tolist()
    assert 0 < len(new) <= 40
    assert new[-1] == tok.eos_token_id  # stopped on <|im_end|>, not by running out of tokens
    assert tok.decode(new[:-1]).strip()


def test_same_inputs_give_identical_bytes(built, tmp_path):
    out, info = built
    again = build_base_model(tmp_path / "again", CHATS, seed=0, size="test", progress=False)
    assert (tmp_path / "again" / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()
    assert (tmp_path / "again" / "tokenizer.json").read_bytes() == (out / "tokenizer.json").read_bytes()
    assert again["sha256"] == info["sha256"]


def test_cache_hit_skips_rebuild(built, monkeypatch):
    out, info = built

    def no_build(*args, **kwargs):
        raise AssertionError("rebuilt despite a matching cache")

    monkeypatch.setattr(bm, "_build", no_build)
    assert build_base_model(out, CHATS, seed=0, size="test", progress=False) == info
    # A different seed is a different model: the cache must not answer for it.
    with pytest.raises(AssertionError, match="rebuilt"):
        build_base_model(out, CHATS, seed=1, size="test", progress=False)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="unknown base model size"):
        build_base_model("/nonexistent/x", CHATS, size="huge")
    with pytest.raises(BaseModelError, match="conversation 1 message 0: field 'role'"):
        build_base_model("/nonexistent/x", [CHATS[0], [{"role": "bot", "content": "hi"}]], size="test")
    with pytest.raises(BaseModelError, match="no assistant message"):
        build_base_model("/nonexistent/x", [[{"role": "user", "content": "hi"}]], size="test")


def test_rebuild_replaces_in_place_and_a_failed_build_keeps_the_old_one(tmp_path, monkeypatch):
    small = CHATS[:20]
    old = build_base_model(tmp_path / "m", small, seed=0, size="test", epochs=1, progress=False)
    new = build_base_model(tmp_path / "m", small, seed=1, size="test", epochs=1, progress=False)
    assert new["sha256"] != old["sha256"] and content_sha256(tmp_path / "m") == new["sha256"]

    def killed(*args, **kwargs):
        raise RuntimeError("killed mid-training")

    monkeypatch.setattr(bm, "_train", killed)
    with pytest.raises(RuntimeError, match="mid-training"):
        build_base_model(tmp_path / "m", small, seed=2, size="test", epochs=1, progress=False)
    assert content_sha256(tmp_path / "m") == new["sha256"]  # the previous model is untouched
    assert not list(tmp_path.glob(".*"))  # no temp or moved-aside dirs left behind


def test_bf16_autocast_is_recorded_reproducible_and_falls_back_to_fp32(tmp_path, monkeypatch):
    small = CHATS[:20]
    monkeypatch.setitem(bm.SIZES, "test", {**bm.SIZES["test"], "autocast": "bf16"})
    supported = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    a = build_base_model(tmp_path / "a", small, seed=0, size="test", epochs=1, progress=False)
    b = build_base_model(tmp_path / "b", small, seed=0, size="test", epochs=1, progress=False)
    assert a["recipe"]["autocast"] == ("bf16" if supported else "none")
    assert a["sha256"] == b["sha256"]  # same inputs, same bytes, bf16 or not
    card = (tmp_path / "a" / "README.md").read_text(encoding="utf-8")
    assert ("bf16 autocast" in card) == supported
    # A CPU without bf16 instructions trains in fp32, and the recipe (the cache key) says so.
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    c = build_base_model(tmp_path / "c", small, seed=0, size="test", epochs=1, progress=False)
    assert c["recipe"]["autocast"] == "none" and "bf16" not in (tmp_path / "c" / "README.md").read_text()
    if supported:  # the autocast really ran: other weights than the fp32 build's
        assert c["sha256"] != a["sha256"]
    with pytest.raises(ValueError, match="unknown autocast 'fp8'"):
        monkeypatch.setitem(bm.SIZES, "test", {**bm.SIZES["test"], "autocast": "fp8"})
        build_base_model(tmp_path / "d", small, seed=0, size="test", epochs=1, progress=False)

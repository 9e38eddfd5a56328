"""Tiny random bases of each family from real tokenizer files shipped on PyPI, without any hub.

`build_tokenizer(key, cache)` converts the family's tokenizer file with transformers' own converters
(tiktoken BPE via TikTokenConverter, sentencepiece via SpmConverter) and caches the result (a
tokenizer.json directory) under `cache`. `build_base(key, out, cache)` adds a randomly initialised
model from the family's transformers config class: a few layers, small hidden size, the full
vocabulary (so it is mostly embedding). See families.FAMILIES[key].tests_with for what each uses.
"""

from __future__ import annotations

import importlib.resources as ir
from pathlib import Path

from .families import EXAONE_TEMPLATE, FAMILIES, MISTRAL_V7_TEMPLATE

# Pre-tokenizer patterns of the two tiktoken vocabularies (from their tokenizers' code).
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_SPECIALS = (["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                    "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|step_id|>",
                    "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"]
                   + [f"<|reserved_special_token_{i}|>" for i in range(2, 247)])
QWEN25_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
                   "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                   "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]
QWEN25_PLAIN = ["<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
                "<|repo_name|>", "<|file_sep|>"]  # added tokens that are not "special" in Qwen's config
QWEN3_PLAIN = QWEN25_PLAIN + ["<tool_response>", "</tool_response>", "<think>", "</think>"]
EXAONE_SPECIALS = ["[BOS]", "[|endofturn|]", "[PAD]", "[|system|]", "[|user|]", "[|assistant|]"]
GEMMA_SPECIALS = ["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"]

CONVERTED = {"gemma", "exaone"}  # real template over a converted vocabulary (no tokenizer file exists)


def trl_template(name: str) -> str:
    return (ir.files("trl") / "chat_templates" / f"{name}.jinja").read_text(encoding="utf-8")


def _tiktoken(path: str, pattern: str, specials: list[str], cache: Path):
    """A tiktoken BPE file as a tokenizers.Tokenizer; the slow part (merges) is cached per file."""
    from tokenizers import AddedToken, Tokenizer
    from transformers.convert_slow_tokenizer import TikTokenConverter

    raw = cache / "_raw" / (Path(path).parent.name + "-" + Path(path).name + ".json")
    if raw.exists():
        tok = Tokenizer.from_file(str(raw))
    else:
        tok = TikTokenConverter(vocab_file=path, pattern=pattern).converted()
        raw.parent.mkdir(parents=True, exist_ok=True)
        tok.save(str(raw))
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in specials])
    return tok


def _sentencepiece(path: str, dummy_prefix: bool = True):
    from transformers.convert_slow_tokenizer import SpmConverter, import_protobuf

    proto = import_protobuf().ModelProto()
    proto.ParseFromString(Path(path).read_bytes())
    proto.normalizer_spec.add_dummy_prefix = dummy_prefix  # Gemma's tokenizer adds no leading "▁"
    return SpmConverter.build_tokenizer_from_spm_proto(proto, {p.piece: i for i, p in enumerate(proto.pieces)})


def _convert(key: str, cache: Path):
    """(tokenizers.Tokenizer, special-token kwargs, chat template) of a family."""
    from tokenizers import AddedToken, normalizers

    llama3 = str(ir.files("llama_models") / "llama3" / "tokenizer.model")
    qwen = str(ir.files("dashscope") / "resources" / "qwen.tiktoken")
    mistral_v7 = str(ir.files("mistral_common") / "data" / "mistral_instruct_tokenizer_241114.model.v7")
    if key in ("qwen2_5", "qwen3"):
        tok = _tiktoken(qwen, QWEN_PATTERN, QWEN25_SPECIALS, cache)
        tok.normalizer = normalizers.NFC()
        tok.add_tokens([AddedToken(t, normalized=False, special=False)
                        for t in (QWEN3_PLAIN if key == "qwen3" else QWEN25_PLAIN)])
        return tok, {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}, trl_template(key)
    if key == "llama3":
        tok = _tiktoken(llama3, LLAMA3_PATTERN, LLAMA3_SPECIALS, cache)
        return tok, {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>",
                     "pad_token": "<|finetune_right_pad_id|>"}, trl_template("llama3_2")
    if key == "exaone":  # converted vocabulary: the Llama-3 BPE plus EXAONE's special tokens
        tok = _tiktoken(llama3, LLAMA3_PATTERN, EXAONE_SPECIALS, cache)
        return tok, {"bos_token": "[BOS]", "eos_token": "[|endofturn|]", "pad_token": "[PAD]"}, EXAONE_TEMPLATE
    if key == "mistral":
        tok = _sentencepiece(mistral_v7)
        tok.add_special_tokens([AddedToken(t, normalized=False, special=True)
                                for t in ("[INST]", "[/INST]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]")])
        return tok, {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<unk>"}, \
            MISTRAL_V7_TEMPLATE
    if key == "gemma":  # converted vocabulary: Mistral's sentencepiece plus Gemma's special tokens
        tok = _sentencepiece(mistral_v7, dummy_prefix=False)
        tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in GEMMA_SPECIALS])
        return tok, {"bos_token": "<bos>", "eos_token": "<end_of_turn>", "pad_token": "<pad>",
                     "unk_token": "<unk>"}, trl_template("gemma3")
    raise KeyError(f"no tiny base for family {key!r}; known: {sorted(FAMILIES)}")


def build_tokenizer(key: str, cache: str | Path):
    """The family's fast tokenizer (with its chat template), converted once and cached under cache/key."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    out = Path(cache) / key
    if not (out / "tokenizer.json").exists():
        tok, special, template = _convert(key, Path(cache))
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, chat_template=template, **special)
        tmp = out.with_name(out.name + ".tmp")
        fast.save_pretrained(str(tmp))
        tmp.rename(out)
    return AutoTokenizer.from_pretrained(str(out))


def _config(key: str, vocab: int, ids: dict):
    from transformers import (ExaoneConfig, Gemma2Config, LlamaConfig, MistralConfig, Qwen2Config,
                              Qwen3Config)

    small = dict(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, **ids)
    return {"qwen2_5": lambda: Qwen2Config(**small, tie_word_embeddings=True),
            "qwen3": lambda: Qwen3Config(**small, head_dim=8, tie_word_embeddings=True),
            "llama3": lambda: LlamaConfig(**small, tie_word_embeddings=False),
            "gemma": lambda: Gemma2Config(**small, head_dim=8),
            "mistral": lambda: MistralConfig(**small, tie_word_embeddings=False),
            "exaone": lambda: ExaoneConfig(**small)}[key]()


def build_base(key: str, out: str | Path, cache: str | Path, *, seed: int = 0) -> Path:
    """A tiny random base of the family in `out` (safetensors, tokenizer, chat template, generation config)."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    from .families import FAMILIES as F
    from .families import stop_token_ids

    out = Path(out)
    if (out / "config.json").exists():
        return out
    tok = build_tokenizer(key, cache)
    ids = {"bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id}
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(_config(key, len(tok), ids), dtype=torch.float32)
    model.generation_config = GenerationConfig(eos_token_id=stop_token_ids(tok, F[key]),
                                               pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id)
    model.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))
    return out

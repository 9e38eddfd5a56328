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
        # EOS as in Llama-3 base checkpoints (<|end_of_text|>): chat replies end with <|eot_id|>, which
        # only the family table tells the engine (the test checks it stops there).
        return tok, {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>",
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
    from transformers import ExaoneConfig, Gemma2Config, LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config

    small = dict(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, **ids)
    return {"qwen2_5": lambda: Qwen2Config(**small, tie_word_embeddings=False),
            "qwen3": lambda: Qwen3Config(**small, head_dim=16, tie_word_embeddings=False),
            "llama3": lambda: LlamaConfig(**small, tie_word_embeddings=False),
            "gemma": lambda: Gemma2Config(**small, head_dim=16),
            "mistral": lambda: MistralConfig(**small, tie_word_embeddings=False),
            "exaone": lambda: ExaoneConfig(**small)}[key]()


def teach(model, tokenizer, conversations: list[list[dict]], *, steps: int = 80, lr: float = 1e-2,
          target_loss: float = 0.05) -> list[float]:
    """Full-parameter AdamW on the assistant tokens (masked as training masks them), so that a random
    base answers these prompts with these replies and then its end-of-turn token: generation that
    stops is then observable, not luck. Stops early once the loss is under target_loss. Returns the losses."""
    import torch

    from .masking import masks, plan_for

    plan = plan_for(tokenizer, conversations, model.config)
    rows = [masks(tokenizer, c, plan) for c in conversations]
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in rows])
    attention = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in rows])
    labels = torch.tensor([[t if m else -100 for t, m in zip(ids, mask, strict=True)] + [-100] * (width - len(ids))
                           for ids, mask in rows])
    # The input embedding stays frozen: most of the parameters, and not needed to learn a reply.
    model.get_input_embeddings().weight.requires_grad_(False)
    opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    for _ in range(steps):
        loss = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
        losses.append(round(loss.item(), 4))
        if loss.item() < target_loss:  # learnt: replies and end of turn are the greedy tokens
            break
        loss.backward()
        opt.step()
        opt.zero_grad()
    model.get_input_embeddings().weight.requires_grad_(True)
    model.eval()
    return losses


def build_base(key: str, out: str | Path, cache: str | Path, *, seed: int = 0,
               teach_on: list[list[dict]] | None = None, steps: int = 80) -> Path:
    """A tiny random base of the family in `out` (safetensors, tokenizer, chat template, generation
    config); with `teach_on`, first taught those conversations (`teach`)."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    out = Path(out)
    if (out / "config.json").exists():
        return out
    tok = build_tokenizer(key, cache)
    ids = {"bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id}
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(_config(key, len(tok), ids), dtype=torch.float32)
    if teach_on:
        teach(model, tok, teach_on, steps=steps)
    # Only the tokenizer's EOS, as some checkpoints ship it: the end of turn comes from the family table.
    model.generation_config = GenerationConfig(eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                                               bos_token_id=tok.bos_token_id)
    tmp = out.with_name(out.name + ".tmp")
    model.save_pretrained(str(tmp), safe_serialization=True)
    tok.save_pretrained(str(tmp))
    tmp.rename(out)
    return out

"""The supported base-model families, in one table: what each needs from training and serving.

A family is recognised by its chat template (the part that decides masking and stopping) and, failing
that, by the config's `model_type`. Everything per family that the rest of the code needs lives here:
LoRA target modules, the end-of-turn token generation must stop on, the pad token when the tokenizer
has none, whether the template has a system role, and which templates TRL swaps for a training
variant with `{% generation %}` markers (trl/chat_templates/*_training.jinja). Masking itself is in
`masking.py`; it does not trust this table, it checks the rendered tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Attention + MLP projections: the names every family below uses (Llama-style modules).
LLAMA_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

# Mistral's v7 template (Mistral-Small-2501 and later): system prompt in its own control tokens,
# assistant content closed by </s>; no generation markers, no TRL training variant.
MISTRAL_V7_TEMPLATE = (
    "{{- bos_token }}{%- for message in messages %}"
    "{%- if message['role'] == 'system' %}{{- '[SYSTEM_PROMPT]' + message['content'] + '[/SYSTEM_PROMPT]' }}"
    "{%- elif message['role'] == 'user' %}{{- '[INST]' + message['content'] + '[/INST]' }}"
    "{%- elif message['role'] == 'assistant' %}{{- message['content'] + eos_token }}"
    "{%- else %}{{- raise_exception('Only system, user and assistant roles are supported') }}{%- endif %}"
    "{%- endfor %}")

# Mistral-7B-Instruct-v0.3's template: the system prompt goes into the *last* user message only, so a
# training conversation (ending with the assistant) is rendered without it. Kept to prove the refusal.
MISTRAL_V3_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content'] %}"
    "{%- set loop_messages = messages[1:] %}{%- else %}{%- set loop_messages = messages %}{%- endif %}"
    "{{- bos_token }}{%- for message in loop_messages %}{%- if message['role'] == 'user' %}"
    "{%- if loop.last and system_message is defined %}"
    "{{- '[INST] ' + system_message + '\\n\\n' + message['content'] + '[/INST]' }}"
    "{%- else %}{{- '[INST] ' + message['content'] + '[/INST]' }}{%- endif %}"
    "{%- elif message['role'] == 'assistant' %}{{- ' ' + message['content'] + eos_token }}{%- endif %}"
    "{%- endfor %}")

# EXAONE-3.5-style (LG AI Research): [|role|] headers, assistant turns closed by [|endofturn|].
# Transcribed from the model card's template; no tokenizer file of EXAONE exists on PyPI.
EXAONE_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if loop.first and message['role'] != 'system' %}{{- '[|system|][|endofturn|]\\n' }}{%- endif %}"
    "{{- '[|' + message['role'] + '|]' + message['content'] }}"
    "{%- if message['role'] == 'user' %}{{- '\\n' }}{%- else %}{{- '[|endofturn|]\\n' }}{%- endif %}"
    "{%- endfor %}{%- if add_generation_prompt %}{{- '[|assistant|]' }}{%- endif %}")


@dataclass(frozen=True)
class Family:
    key: str
    name: str
    model_types: tuple[str, ...]  # transformers config.model_type values
    signature: str  # a string only this family's chat template contains
    end_of_turn: str  # the token that closes an assistant turn: trained, and generation stops on it
    pad_token: str | None  # used when the tokenizer has none (never the end-of-turn token)
    target_modules: tuple[str, ...] = LLAMA_MODULES
    system_role: bool = True  # False: the template raises on a system message
    trl_templates: tuple[str, ...] = ()  # trl/chat_templates/<name>.jinja that TRL patches for training
    templates: tuple[str, ...] = ()  # templates of this family in trl/chat_templates/ (or our own)
    tests_with: str = ""  # what tests/test_families.py builds (tokenizer file, template, config class)
    notes: str = ""
    extra_stops: tuple[str, ...] = field(default=())  # also stop generation on these (if in the vocabulary)
    # Extra apply_chat_template kwargs for every render (serving and masking alike).
    chat_kwargs: dict = field(default_factory=dict, hash=False, compare=False)


FAMILIES: dict[str, Family] = {f.key: f for f in (
    Family("qwen3", "Qwen3", ("qwen3",), "<think>", "<|im_end|>", "<|endoftext|>",
           trl_templates=("qwen3",), templates=("qwen3", "qwen3_instruct_2507"),
           tests_with="dashscope qwen.tiktoken + Qwen3 added tokens (151,669) + trl qwen3.jinja + Qwen3Config",
           notes="listed before qwen2_5: both use <|im_start|>; served and trained with "
                 "enable_thinking=False: the empty <think></think> is part of the prompt, not the reply",
           extra_stops=("<|endoftext|>",), chat_kwargs={"enable_thinking": False}),
    Family("chatml", "ChatML (other architectures)", (), "<|im_start|>", "<|im_end|>", None,
           tests_with="the demo base (tests/test_train.py): its own ChatML template with generation markers",
           notes="any model with a ChatML template that is not a Qwen config, e.g. the demo base"),
    Family("qwen2_5", "Qwen2.5", ("qwen2",), "<|im_start|>", "<|im_end|>", "<|endoftext|>",
           trl_templates=("qwen2_5",), templates=("qwen2_5",),
           tests_with="dashscope resources/qwen.tiktoken (real Qwen BPE, 151,665 tokens) + trl qwen2_5.jinja + "
                      "Qwen2Config", extra_stops=("<|endoftext|>",)),
    Family("llama3", "Llama-3.x", ("llama",), "<|start_header_id|>", "<|eot_id|>", "<|finetune_right_pad_id|>",
           trl_templates=("llama3",), templates=("llama3", "llama3_1", "llama3_2"),
           tests_with="llama-models llama3/tokenizer.model (real tiktoken BPE, 128,256 tokens) + trl "
                      "llama3_2.jinja (no training variant: own masking) + LlamaConfig",
           notes="3.1/3.2 templates have no TRL training variant: own render-diff masking",
           extra_stops=("<|end_of_text|>", "<|eom_id|>")),
    Family("gemma", "Gemma 2/3", ("gemma", "gemma2", "gemma3", "gemma3_text"), "<start_of_turn>",
           "<end_of_turn>", "<pad>", trl_templates=("gemma", "gemma3"), templates=("gemma", "gemma3"),
           tests_with="trl gemma3.jinja over a converted vocabulary (Mistral v7 sentencepiece + Gemma's "
                      "<start_of_turn>/<end_of_turn>/<bos>/<eos>/<pad>; no Gemma tokenizer file on PyPI) + "
                      "Gemma2Config",
           notes="gemma.jinja (Gemma 1/2) has no system role: it raises; gemma3.jinja folds the system "
                 "prompt into the first user turn", extra_stops=("<eos>",)),
    Family("mistral", "Mistral", ("mistral",), "[INST]", "</s>", "<unk>",
           templates=("mistral_v7 (ours)", "mistral_v3 (ours)"),
           tests_with="mistral-common mistral_instruct_tokenizer_241114.model.v7 (real sentencepiece, "
                      "32,768 tokens) + Mistral v7 template (transcribed) + MistralConfig",
           notes="no TRL template: own render-diff masking; the v0.3 template drops the system prompt "
                 "from training renders and is refused"),
    Family("exaone", "EXAONE-style", ("exaone", "exaone4"), "[|endofturn|]", "[|endofturn|]", "[PAD]",
           templates=("exaone (ours)",),
           tests_with="EXAONE-3.5-style template (transcribed) over a converted vocabulary (Llama-3 BPE + "
                      "EXAONE's [|system|]/[|user|]/[|assistant|]/[|endofturn|]/[BOS]/[PAD]; no EXAONE "
                      "tokenizer file on PyPI) + ExaoneConfig",
           notes="no TRL template: own render-diff masking"),
)}

UNKNOWN = Family("unknown", "unknown", (), "", "", None, target_modules=("all-linear",),
                 notes="own render-diff masking if it proves consistent; stop on the tokenizer's EOS")


def detect_family(chat_template: str | None, model_type: str | None = None) -> Family:
    """The family whose template signature appears in the chat template, else the one of model_type."""
    if isinstance(chat_template, dict):
        chat_template = chat_template.get("default")
    found = [f for f in FAMILIES.values() if chat_template and f.signature in chat_template]
    typed = [f for f in found if model_type in f.model_types]
    if typed or found:
        return (typed or found)[0]
    return next((f for f in FAMILIES.values() if model_type in f.model_types), UNKNOWN)


def chat_kwargs(tokenizer, config=None) -> dict:
    return family_of(tokenizer, config).chat_kwargs


def family_of(tokenizer, config=None) -> Family:
    return detect_family(getattr(tokenizer, "chat_template", None), getattr(config, "model_type", None))


def stop_token_ids(tokenizer, family: Family, generation_config=None) -> list[int]:
    """Every id that ends a reply: the family's end of turn, its extra stops, the tokenizer's EOS and
    the generation config's eos_token_id (an int or a list)."""
    ids: list[int] = []
    vocab = tokenizer.get_vocab()
    for tok in (family.end_of_turn, *family.extra_stops, tokenizer.eos_token):
        if tok and tok in vocab:
            ids.append(vocab[tok])
    eos = getattr(generation_config, "eos_token_id", None) if generation_config is not None else None
    ids += eos if isinstance(eos, list) else ([eos] if eos is not None else [])
    return list(dict.fromkeys(ids))


def ensure_pad_token(tokenizer, family: Family) -> None:
    """Give a tokenizer without a pad token the family's (batched generation and training need one)."""
    if tokenizer.pad_token is None:
        if family.pad_token and family.pad_token in tokenizer.get_vocab():
            tokenizer.pad_token = family.pad_token
        else:
            tokenizer.pad_token = tokenizer.eos_token


def table_rows() -> list[dict]:
    """The table as rows (README, `lora doctor --families`)."""
    return [{"family": f.name, "key": f.key, "model_type": ", ".join(f.model_types),
             "end_of_turn": f.end_of_turn, "pad": f.pad_token, "target_modules": ",".join(f.target_modules),
             "trl_training_template": ", ".join(f.trl_templates) or "no (own masking)",
             "system_role": f.system_role, "tests_with": f.tests_with} for f in FAMILIES.values()]

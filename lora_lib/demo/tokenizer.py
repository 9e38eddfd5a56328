"""The demo base model's tokenizer: byte-level BPE, one Hangul syllable per piece, ChatML chat template."""

from __future__ import annotations

from collections.abc import Iterable

IM_START, IM_END, PAD, EOT = "<|im_start|>", "<|im_end|>", "<|pad|>", "<|endoftext|>"
# Order fixes the ids: <|endoftext|>=0, <|im_start|>=1, <|im_end|>=2, <|pad|>=3.
SPECIAL_TOKENS = [EOT, IM_START, IM_END, PAD]
ROLES = ("system", "user", "assistant")

# ChatML. Each assistant reply *including* its <|im_end|> sits inside {% generation %} so that
# `return_assistant_tokens_mask=True` (TRL's `assistant_only_loss=True`) marks exactly the tokens the
# model must learn to produce, stop token included; the header and the trailing "\n" stay unmasked.
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{% generation %}{{- message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{- '\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
# The context length: the tokenizer's model_max_length and the model's max_position_embeddings.
MAX_POSITIONS = 512


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4000):
    """Byte-level BPE trained on `texts`, wrapped as a `PreTrainedTokenizerFast` with the ChatML template.

    eos = <|im_end|> (what ends an assistant turn), pad = <|pad|>, no bos. Byte-level means no
    unknown tokens: text outside the training corpus falls back to bytes. The vocabulary may come
    out smaller than `vocab_size` when the corpus has fewer pairs that occur at least twice.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # NFC: Korean typed on some systems arrives as decomposed jamo; one form means one token set.
    tok.normalizer = normalizers.NFC()
    # One Hangul syllable (with its trailing space) per piece before BPE: tokens never span
    # syllables, as in the tokenizers of real multilingual models, so "좋다냥" is 좋/다/냥 and a
    # LoRA can learn "end with 냥" once instead of once per whole-word token ("좋다냥", "온다냥", …).
    # The space goes with the syllable before it, so a word starts with the same token wherever it
    # stands: "떡볶이" in "점심으로 떡볶이 먹었어" and at the start of the reply "떡볶이 맛있죠" share
    # 떡/볶, and taking the user's word up is a copy of the same ids (with leading spaces it was
    # " 떡" in the prompt and "떡" in the reply, and the tiny base answered every prompt alike).
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"[\uac00-\ud7a3]\s?"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # The role names appear only in the template headers, never in message text: add them so that
    # "assistant" is one token rather than nine single letters in every header.
    tok.train_from_iterator(_with_roles(texts), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=IM_END,
        pad_token=PAD,
        extra_special_tokens={"im_start_token": IM_START, "endoftext_token": EOT},
        chat_template=CHAT_TEMPLATE,
        model_max_length=MAX_POSITIONS,
        padding_side="right",
    )


def _with_roles(texts: Iterable[str]) -> Iterable[str]:
    yield from texts
    for role in ROLES:
        yield from (role, role)  # min_frequency=2

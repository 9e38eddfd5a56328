"""Assistant-only loss masks for any chat template, and the proof that they are right.

Three methods, tried in this order; the first whose masks pass `verify` on the given conversations is
used for training:

- "generation-markers": the template marks assistant content with {% generation %} (the demo base);
  transformers returns the mask (`return_assistant_tokens_mask`).
- "trl-training-template": TRL ships a training variant with markers for this exact template
  (trl/chat_templates/*_training.jinja: Qwen2.5, Qwen3, Llama-3, Gemma, ...); SFTTrainer swaps it in.
- "render-diff" (what Axolotl and LLaMA-Factory do): for each assistant turn i render the
  conversation up to it with the generation prompt (A_i) and with the turn (B_i); the tokens of B_i
  after A_i, cut after the end-of-turn token, are the labels. Proven consistent only when tokens(A_i)
  is a prefix of tokens(B_i) and tokens(B_i) of the whole conversation's tokens, i.e. the model is
  trained on exactly the prompt it will be served with; otherwise (e.g. Mistral v0.3, which renders
  the system prompt only into the last user turn) it refuses.

Marker methods' spans are cut after their end-of-turn token (see `masks`). Training always uses
these masks (pre-tokenized rows, `training_rows`), so what is verified is what is trained.

`verify` accepts masks only if every assistant turn is one run of labelled tokens that contains its
content and ends with the family's end-of-turn token, and nothing else is labelled.
"""

from __future__ import annotations

from dataclasses import dataclass

MARKERS = "generation-markers"
TRL = "trl-training-template"
DIFF = "render-diff"


class MaskingError(ValueError):
    """The loss cannot be limited to assistant turns for this template (says why)."""


@dataclass(frozen=True)
class MaskPlan:
    method: str
    template: str | None  # the template training renders with (None: the tokenizer's own)
    end_of_turn_id: int


def has_markers(template: str | None) -> bool:
    return bool(template) and "generation" in template and "endgeneration" in template


def trl_template(tokenizer) -> str | None:
    try:
        from trl.chat_template_utils import get_training_chat_template

        return get_training_chat_template(tokenizer)
    except (ImportError, ValueError, TypeError):
        return None


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _render(tokenizer, messages, template=None, **kw) -> str:
    from .families import chat_kwargs

    return tokenizer.apply_chat_template(messages, tokenize=False, chat_template=template,
                                         **chat_kwargs(tokenizer), **kw)


def marker_mask(tokenizer, messages: list[dict], template: str | None = None) -> tuple[list[int], list[int]]:
    from .families import chat_kwargs

    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, chat_template=template,
                                        return_assistant_tokens_mask=True, **chat_kwargs(tokenizer))
    return list(out["input_ids"]), list(out["assistant_masks"])


def diff_mask(tokenizer, messages: list[dict], end_of_turn_id: int) -> tuple[list[int], list[int]]:
    """Render with and without each assistant turn; label only the difference up to end of turn."""
    full = _ids(tokenizer, _render(tokenizer, messages))
    mask = [0] * len(full)
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        if i == 0:
            raise MaskingError("the conversation starts with an assistant turn: there is no prompt to diff against")
        before = _ids(tokenizer, _render(tokenizer, messages[:i], add_generation_prompt=True))
        through = _ids(tokenizer, _render(tokenizer, messages[: i + 1]))
        if through[: len(before)] != before:
            raise MaskingError(f"turn {i}: the prompt rendered for generation is not a prefix of the conversation "
                               "rendered with the reply, so training would see another prompt than serving")
        if full[: len(through)] != through:
            raise MaskingError(f"turn {i}: rendering the conversation up to this reply is not a prefix of the whole "
                               "conversation (the template renders earlier turns depending on later ones)")
        turn = through[len(before):]
        if end_of_turn_id not in turn:
            raise MaskingError(f"turn {i}: the template does not close the assistant turn with the end-of-turn "
                               f"token (id {end_of_turn_id}), so the model could never learn to stop")
        end = len(before) + len(turn) - turn[::-1].index(end_of_turn_id)
        mask[len(before):end] = [1] * (end - len(before))
    return full, mask


def masks(tokenizer, messages: list[dict], plan: MaskPlan) -> tuple[list[int], list[int]]:
    """(input_ids, assistant mask) of one conversation. Marker spans are cut to the reply: after their last
    end-of-turn token (TRL's Qwen and Gemma training templates also mark the newline after it), and
    without the tokens the generation prompt already ends with (Qwen2.5's marks the newline after
    "assistant", Qwen3's the empty <think></think> that enable_thinking=False puts in the prompt)."""
    if plan.method == DIFF:
        return diff_mask(tokenizer, messages, plan.end_of_turn_id)
    ids, mask = marker_mask(tokenizer, messages, plan.template)
    turns = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
    found = runs(mask)
    for k, (s, e) in enumerate(found):
        span = ids[s:e]
        if plan.end_of_turn_id in span:
            end = s + len(span) - span[::-1].index(plan.end_of_turn_id)
            mask[end:e] = [0] * (e - end)
        if len(found) == len(turns):  # what the generation prompt already ends with is not the reply
            before = _ids(tokenizer, _render(tokenizer, messages[: turns[k]], add_generation_prompt=True))
            lead = next((n for n in range(min(len(before), e - s - 1), 0, -1) if ids[s:s + n] == before[-n:]), 0)
            mask[s:s + lead] = [0] * lead
    return ids, mask


def runs(mask: list[int]) -> list[tuple[int, int]]:
    """(start, end) of each run of 1s."""
    out, start = [], None
    for i, bit in enumerate([*mask, 0]):
        if bit and start is None:
            start = i
        elif not bit and start is not None:
            out.append((start, i))
            start = None
    return out


def verify(tokenizer, messages: list[dict], ids: list[int], mask: list[int], end_of_turn_id: int) -> None:
    """Every assistant turn: one labelled run holding its content and ending with end of turn; nothing else."""
    replies = [m["content"] for m in messages if m["role"] == "assistant"]
    found = runs(mask)
    if len(found) != len(replies):
        raise MaskingError(f"{len(found)} labelled spans for {len(replies)} assistant turns")
    for (s, e), reply in zip(found, replies, strict=True):
        if ids[e - 1] != end_of_turn_id:
            raise MaskingError(f"a labelled assistant span ends with {tokenizer.decode(ids[e - 1:e])!r}, not the "
                               f"end-of-turn token {tokenizer.decode([end_of_turn_id])!r}: the model would not learn to stop")
        if reply.strip() not in tokenizer.decode(ids[s:e]):
            raise MaskingError(f"a labelled assistant span does not contain its reply {reply[:30]!r}")


def plan_masking(tokenizer, conversations: list[list[dict]], end_of_turn_id: int) -> MaskPlan:
    """The first method whose masks verify on every conversation; MaskingError (with each reason) if none."""
    template = tokenizer.chat_template
    candidates = []
    if has_markers(template):
        candidates.append(MaskPlan(MARKERS, None, end_of_turn_id))
    patched = trl_template(tokenizer) if not has_markers(template) else None
    if patched:
        candidates.append(MaskPlan(TRL, patched, end_of_turn_id))
    candidates.append(MaskPlan(DIFF, None, end_of_turn_id))
    reasons = []
    for plan in candidates:
        try:
            for messages in conversations:
                verify(tokenizer, messages, *masks(tokenizer, messages, plan), end_of_turn_id)
            return plan
        except MaskingError as exc:
            reasons.append(f"{plan.method}: {exc}")
        except Exception as exc:  # a template that raises (e.g. no system role) fails every method alike
            reasons.append(f"{plan.method}: the template raised {type(exc).__name__}: {exc}")
    raise MaskingError("cannot limit the loss to assistant turns with this chat template: " + "; ".join(reasons))


def training_rows(tokenizer, records: list[dict], plan: MaskPlan, max_length: int) -> list[dict]:
    """Pre-tokenized rows (input_ids, assistant_masks) for SFTTrainer, each verified, truncated to max_length."""
    rows = []
    for r in records:
        ids, mask = masks(tokenizer, r["messages"], plan)
        verify(tokenizer, r["messages"], ids, mask, plan.end_of_turn_id)
        rows.append({"input_ids": ids[:max_length], "assistant_masks": mask[:max_length]})
    return rows


def rendered_example(tokenizer, messages: list[dict], plan: MaskPlan) -> str:
    """The conversation as the model sees it, trained tokens between ⟦ and ⟧."""
    ids, mask = masks(tokenizer, messages, plan)
    out, prev = [], 0
    for (s, e) in runs(mask):
        out += [tokenizer.decode(ids[prev:s]), "⟦", tokenizer.decode(ids[s:e]), "⟧"]
        prev = e
    out.append(tokenizer.decode(ids[prev:]))
    return "".join(out)


def end_of_turn_id(tokenizer, config=None) -> int:
    """The id of the family's end-of-turn token (the tokenizer's EOS for an unknown family)."""
    from .families import family_of

    token = family_of(tokenizer, config).end_of_turn or tokenizer.eos_token
    vocab = tokenizer.get_vocab()
    if token not in vocab:
        raise MaskingError(f"the end-of-turn token {token!r} is not in the tokenizer's vocabulary")
    return vocab[token]


def plan_for(tokenizer, conversations: list[list[dict]], config=None) -> MaskPlan:
    """The masking plan of this tokenizer (its family's end of turn), proven on `conversations`."""
    if not getattr(tokenizer, "chat_template", None):
        raise MaskingError("the tokenizer has no chat template; set one (ChatML) before training")
    return plan_masking(tokenizer, conversations, end_of_turn_id(tokenizer, config))


def count_tokens(tokenizer, messages: list[dict]) -> tuple[int, int]:
    """(tokens, trained assistant tokens) of one conversation; 0 trained if no method is consistent
    (the dataset stage counts, the train stage refuses)."""
    if has_markers(tokenizer.chat_template):
        ids, mask = marker_mask(tokenizer, messages)
        return len(ids), sum(mask)
    try:
        ids, mask = masks(tokenizer, messages, plan_for(tokenizer, [messages]))
    except MaskingError:
        return len(_ids(tokenizer, _render(tokenizer, messages))), 0
    return len(ids), sum(mask)

"""Every request parameter of the chat completions (and completions) API, in one table: supported here
or refused (400 naming it), and what vLLM does with it. The server checks bodies against it
(schema.check_params), the README's table is generated from it (`python -m lora_lib.serve.openai_params`,
compared by tests/test_openai_params.py), and the tests walk it.

The vLLM column follows vLLM's documented OpenAI-compatible server (docs: "OpenAI-Compatible Server",
"Extra Parameters"; ChatCompletionRequest / CompletionRequest in vllm/entrypoints/openai/protocol.py),
not a running vLLM: vLLM ignores a field it does not know, with a warning in its log.
"""

from __future__ import annotations

from dataclasses import dataclass

CHAT, COMPLETIONS = "chat", "completions"
BOTH = (CHAT, COMPLETIONS)
_VLLM_IGNORES = "not a field: ignored, with a warning in its log"


@dataclass(frozen=True)
class Param:
    name: str
    supported: bool
    ours: str
    vllm: str
    endpoints: tuple[str, ...] = BOTH
    noop: tuple = ()  # values of a refused parameter that ask for nothing (e.g. tool_choice "none"): accepted
    example: object = None  # a value that asks for the feature (refused ones: the tests send it, expect 400)
    extra: str = "openai"  # "openai" (the API), "vllm" (vLLM's extra body fields), "ours" (our extension)


def _refused(name: str, why: str, vllm: str, example, *, noop: tuple = (), endpoints=BOTH, extra="openai") -> Param:
    return Param(name, False, f"400: {why}", vllm, endpoints, noop, example, extra)


PARAMS: tuple[Param, ...] = (
    Param("model", True, "the character id (routing, rollout, fallback); the reply's `model` says what answered",
          "the base model or a LoRA adapter's name"),
    Param("messages", True, "text content (a string or text parts); system, developer, user, assistant",
          "yes, also images/audio for multimodal models", (CHAT,)),
    Param("prompt", True, "a string, a list of strings or of token ids; no chat template",
          "yes (also token ids, embeddings)", (COMPLETIONS,)),
    Param("stream", True, "SSE chunks as tokens are generated, `data: [DONE]` at the end", "yes"),
    Param("stream_options", True, "accepted; usage is always in the last chunk", "include_usage, continuous_usage_stats"),
    Param("max_tokens", True, "default serve.max_tokens_default (chat), 16 (completions); limit serve.max_tokens_limit",
          "yes (chat: deprecated for max_completion_tokens)"),
    Param("max_completion_tokens", True, "the newer name of max_tokens (wins when both are sent)", "yes", (CHAT,)),
    Param("temperature", True, "per row in a shared batch; 0 = greedy; default serve.temperature", "yes"),
    Param("top_p", True, "per row; default serve.top_p", "yes"),
    Param("seed", True, "same seed, prompt and adapter -> same reply; choice i of n uses seed + i (logged); "
                        "an unseeded sampled request gets a drawn seed, logged", "yes (per-request generator)"),
    Param("n", True, "1..serve.max_n choices, generated together in one batch", "yes"),
    Param("stop", True, "a string or up to 4; the reply ends before it (never streamed, even across chunks); "
                        "finish_reason stop", "yes (any number; include_stop_str_in_output is an extra)"),
    Param("logprobs", True, "chat: true/false; completions: 0..20 top tokens. From the generating forward pass, "
                            "raw (before penalties and temperature), streamed too", "yes (raw logprobs by default)"),
    Param("top_logprobs", True, "0..20, needs logprobs: true", "yes (up to --max-logprobs)", (CHAT,)),
    Param("presence_penalty", True, "-2..2, per row, on tokens in the output", "yes"),
    Param("frequency_penalty", True, "-2..2, per row, count of each token in the output", "yes"),
    Param("user", True, "the sticky-rollout key (hashed in the request log)", "accepted, unused"),
    Param("repetition_penalty", True, "(0, 2], per row, on tokens of the prompt and the output (1 = off)",
          "yes", extra="vllm"),
    Param("ignore_eos", True, "generate exactly max_tokens (benchmarks)", "yes", extra="vllm"),
    Param("user_name", True, "the caller's display name for {{user}}", _VLLM_IGNORES, (CHAT,), extra="ours"),
    _refused("tools", "no tool calling", "yes, with --enable-auto-tool-choice and a --tool-call-parser",
             [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}], noop=([],),
             endpoints=(CHAT,)),
    _refused("tool_choice", "no tool calling", "none / auto / required / a named function",
             "auto", noop=("none",), endpoints=(CHAT,)),
    _refused("parallel_tool_calls", "no tool calling", "accepted with tools", True, endpoints=(CHAT,)),
    _refused("functions", "no function calling (deprecated API)", _VLLM_IGNORES,
             [{"name": "f", "parameters": {"type": "object"}}], noop=([],), endpoints=(CHAT,)),
    _refused("function_call", "no function calling (deprecated API)", _VLLM_IGNORES, "auto", noop=("none",),
             endpoints=(CHAT,)),
    _refused("response_format", "no structured output ({\"type\": \"text\"} is accepted)",
             "json_object, json_schema (structured outputs)", {"type": "json_object"}, noop=({"type": "text"},)),
    _refused("logit_bias", "not implemented", "yes (token id -> bias)", {"1": 5}, noop=({},)),
    _refused("audio", "text only", _VLLM_IGNORES, {"voice": "alloy", "format": "wav"}, endpoints=(CHAT,)),
    _refused("modalities", "text only ([\"text\"] is accepted)", _VLLM_IGNORES, ["text", "audio"],
             noop=(["text"],), endpoints=(CHAT,)),
    _refused("prediction", "no predicted outputs", _VLLM_IGNORES, {"type": "content", "content": "x"},
             endpoints=(CHAT,)),
    _refused("web_search_options", "no web search", _VLLM_IGNORES, {}, endpoints=(CHAT,)),
    _refused("reasoning_effort", "not a reasoning model", "passed to reasoning models' chat templates", "low",
             endpoints=(CHAT,)),
    _refused("verbosity", "not implemented", _VLLM_IGNORES, "low", endpoints=(CHAT,)),
    _refused("store", "completions are not stored for OpenAI's dashboards (false is accepted)", _VLLM_IGNORES,
             True, noop=(False,), endpoints=(CHAT,)),
    _refused("metadata", "not stored (see store)", _VLLM_IGNORES, {"k": "v"}, noop=({},), endpoints=(CHAT,)),
    _refused("service_tier", "one tier (\"auto\" and \"default\" are accepted)", _VLLM_IGNORES, "flex",
             noop=("auto", "default"), endpoints=(CHAT,)),
    _refused("prompt_cache_key", "no prompt cache", _VLLM_IGNORES, "k", endpoints=(CHAT,)),
    _refused("safety_identifier", "not implemented (the request log has user_ref)", _VLLM_IGNORES, "s",
             endpoints=(CHAT,)),
    _refused("echo", "the prompt is not returned (false is accepted)", "yes (with prompt logprobs)", True,
             noop=(False,), endpoints=(COMPLETIONS,)),
    _refused("suffix", "no insertion", "not supported (400)", "x", endpoints=(COMPLETIONS,)),
    _refused("best_of", "1 only", "yes (V0 engine; V1 refuses best_of > n)", 2, noop=(1,),
             endpoints=(COMPLETIONS,)),
    *(_refused(name, "not implemented", "yes", example, noop=noop, extra="vllm") for name, example, noop in (
        ("top_k", 5, (-1, 0)), ("min_p", 0.1, (0, 0.0)), ("min_tokens", 3, (0,)),
        ("stop_token_ids", [2], ([],)), ("include_stop_str_in_output", True, (False,)),
        ("use_beam_search", True, (False,)), ("length_penalty", 0.5, (1, 1.0)),
        ("skip_special_tokens", False, (True,)), ("spaces_between_special_tokens", False, (True,)),
        ("truncate_prompt_tokens", 8, ()), ("prompt_logprobs", 1, ()), ("allowed_token_ids", [1, 2], ()),
        ("bad_words", ["x"], ([],)), ("structured_outputs", {"choice": ["a", "b"]}, ()),
        ("guided_json", {"type": "object"}, ()), ("guided_regex", "a+", ()), ("guided_choice", ["a", "b"], ()),
        ("guided_grammar", "root ::= \"a\"", ()), ("logits_processors", ["x"], ()),
        ("return_tokens_as_token_ids", True, (False,)), ("priority", 1, (0,)), ("cache_salt", "s", ()))),
    *(_refused(name, "the chat template is the base model's own", "yes", example, noop=noop, endpoints=(CHAT,),
               extra="vllm") for name, example, noop in (
        ("chat_template", "{{ messages }}", ()), ("chat_template_kwargs", {"x": 1}, ({},)),
        ("add_generation_prompt", False, (True,)), ("continue_final_message", True, (False,)),
        ("documents", [{"text": "x"}], ()))),
)

BY_NAME = {p.name: p for p in PARAMS}


def refusal(name: str, value, endpoint: str) -> str | None:
    """Why `name: value` cannot be served on `endpoint` (None: it can)."""
    p = BY_NAME.get(name)
    if p is None or endpoint not in p.endpoints:
        return f"unknown parameter {name!r} for /v1/{'chat/completions' if endpoint == CHAT else 'completions'}"
    if p.supported or value is None or any(value == v and type(value) is type(v) for v in p.noop):
        return None
    return f"{name} is not supported by this server ({p.ours.removeprefix('400: ')})"


def table() -> str:
    """The README's table (markdown), one row per parameter."""
    where = {BOTH: "both", (CHAT,): "chat", (COMPLETIONS,): "completions"}
    rows = ["| parameter | endpoint | here | what we do | vLLM |", "|---|---|---|---|---|"]
    for p in PARAMS:
        name = f"`{p.name}`" + {"openai": "", "vllm": " (vLLM extra)", "ours": " (extension)"}[p.extra]
        rows.append(f"| {name} | {where[p.endpoints]} | {'supported' if p.supported else 'refused'} | "
                    f"{p.ours.replace('|', '/')} | {p.vllm} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(table(), end="")

"""vLLM's OpenAI-compatible protocol, as our vLLM backend speaks it: request bodies, response and SSE
stream parsing, error mapping. Pure functions (no HTTP here); the backend is lora_lib/serve/vllm_backend.py.

UNTESTED AGAINST A REAL vLLM (see vllm_backend.py): the shapes below follow vLLM's documentation and
source, cited at each one; the unit tests check our side of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from ..engine import AdapterLoadError, Generation, Job, Sampling


class VllmError(RuntimeError):
    """vLLM answered a generation request with an error, or its answer was unusable."""

    def __init__(self, message: str, status: int | None = None, *, unknown_model: bool = False):
        super().__init__(message)
        self.status = status
        self.unknown_model = unknown_model  # vLLM does not serve the requested model (name)


class VllmUnavailable(VllmError):
    """vLLM could not be reached (connection refused, DNS, timeout): the server answers 503."""

    backend_unavailable = True  # what routes.py's failed() looks for (it does not import this module)


# ---- pure functions: request bodies ------------------------------------------------------------------

def load_body(name: str, path: str | Path) -> dict:
    """POST /v1/load_lora_adapter body. Shape: vLLM docs/source/features/lora.md ("Dynamically serving
    LoRA Adapters": {"lora_name", "lora_path"}) and LoadLoRAAdapterRequest in
    vllm/entrypoints/openai/serving_models.py. The path must be readable by the vLLM process."""
    return {"lora_name": name, "lora_path": str(path)}


def unload_body(name: str) -> dict:
    """POST /v1/unload_lora_adapter body (same sources): {"lora_name"}."""
    return {"lora_name": name}


def chat_body(job: Job, model: str) -> dict:
    """POST /v1/chat/completions body for one Job; `model` = the adapter name or the base model's
    served name. Fields: vLLM's ChatCompletionRequest (vllm/entrypoints/openai/chat_completion/protocol.py):
    OpenAI's messages, max_tokens, temperature, top_p, seed, stream, stream_options, plus vLLM's
    sampling extra ignore_eos.

    temperature is always sent: vLLM may take defaults from the model's generation_config, and our
    0 means greedy (vLLM also treats temperature 0 as greedy). max_tokens rather than
    max_completion_tokens: older vLLM versions know only the former (newer ones mark it deprecated).
    """
    s = job.sampling or Sampling()
    body: dict = {"model": model, "messages": job.messages, "max_tokens": job.max_new_tokens,
                  "temperature": s.temperature}
    if s.temperature > 0:
        body["top_p"] = s.top_p
        if s.seed is not None:
            body["seed"] = s.seed
    if job.ignore_eos:
        body["ignore_eos"] = True
    # Per-request decoding beyond temperature: sent only when asked for, so vLLM's defaults stay as before.
    if s.stop:
        body["stop"] = list(s.stop)
    for name, off in (("presence_penalty", 0.0), ("frequency_penalty", 0.0), ("repetition_penalty", 1.0)):
        if getattr(s, name) != off:
            body[name] = getattr(s, name)
    if s.logprobs is not None:
        body["logprobs"], body["top_logprobs"] = True, s.logprobs
    if job.on_text is not None:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}  # a last chunk with usage and choices=[]
    return body


# ---- pure functions: responses -----------------------------------------------------------------------

def _finish(reason: str | None) -> str:
    # vLLM's finish_reason is "stop", "length", or e.g. "abort"/"tool_calls"; ours is "stop" or "length".
    return "length" if reason == "length" else "stop"


def _usage(usage: dict | None, where: str) -> tuple[int, int]:
    if not isinstance(usage, dict) or not isinstance(usage.get("prompt_tokens"), int) \
            or not isinstance(usage.get("completion_tokens"), int):
        raise VllmError(f"vLLM {where} has no usage token counts: {str(usage)[:200]}")
    return usage["prompt_tokens"], usage["completion_tokens"]


def parse_chat_response(body: dict, latency_ms: float) -> Generation:
    """A non-streamed chat.completion -> Generation. Shape: ChatCompletionResponse (choices[0].message.content,
    finish_reason, usage{prompt_tokens, completion_tokens}) in vllm/entrypoints/openai/chat_completion/protocol.py.
    The text is stripped like Engine's replies."""
    choices = body.get("choices") if isinstance(body, dict) else None
    if not choices or not isinstance(choices[0], dict) or not isinstance(choices[0].get("message"), dict):
        raise VllmError(f"vLLM chat response has no choices[0].message: {str(body)[:300]}")
    choice = choices[0]
    prompt_tokens, completion_tokens = _usage(body.get("usage"), "chat response")
    text = choice["message"].get("content") or ""
    return Generation(text.strip(), prompt_tokens, completion_tokens, latency_ms, _finish(choice.get("finish_reason")), 1,
                      _logprobs(choice))


def _logprobs(choice: dict) -> list[dict] | None:
    """choices[i].logprobs.content (OpenAI's shape, which vLLM writes: ChatCompletionLogProbs), or None."""
    lp = choice.get("logprobs")
    return lp.get("content") if isinstance(lp, dict) and isinstance(lp.get("content"), list) else None


DONE = object()  # the stream's "data: [DONE]" line


def parse_sse_line(line: str) -> dict | object | None:
    """One line of vLLM's SSE stream -> the chunk dict, DONE, or None (blank lines, comments, other
    fields). vLLM writes `data: <json>\\n\\n` per chunk and `data: [DONE]` last
    (chat_completion_stream_generator in vllm/entrypoints/openai/serving_chat.py)."""
    line = line.strip()
    if not line.startswith("data:"):
        return None
    data = line[5:].strip()
    if data == "[DONE]":
        return DONE
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError as exc:
        raise VllmError(f"vLLM stream line is not JSON: {data[:200]!r}") from exc
    if not isinstance(chunk, dict):
        raise VllmError(f"vLLM stream chunk is not an object: {data[:200]!r}")
    return chunk


class StreamState:
    """Folds vLLM's chat.completion.chunk objects into text deltas and, at the end, a Generation.

    Chunks (serving_chat.py): the first has delta {"role": "assistant", "content": ""}; then
    delta {"content": ...}; the last content chunk carries finish_reason; with include_usage a final
    chunk has choices=[] and usage. An error after the headers comes in-band as {"error": {...}}.
    Deltas are emitted so that their concatenation is the stripped reply (what Engine streams):
    leading whitespace is dropped and trailing whitespace is held until more text follows it.
    """

    def __init__(self):
        self.raw = ""
        self.sent = ""
        self.finish_reason: str | None = None
        self.usage: dict | None = None
        self.done = False
        self.logprobs: list[dict] | None = None  # with logprobs: every token's entry so far
        self.pending: list[dict] = []  # entries not yet passed on

    def feed(self, chunk: dict) -> str:
        """The text to pass on for this chunk ("" if none)."""
        if "error" in chunk or chunk.get("object") == "error":
            raise VllmError(f"vLLM stream error: {error_message(chunk)}", error_status(chunk))
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            self.raw += (choice.get("delta") or {}).get("content") or ""
            entries = _logprobs(choice)
            if entries is not None:
                self.logprobs = (self.logprobs or []) + entries
                self.pending += entries
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        text = self.raw.strip()
        if len(text) > len(self.sent) and text.startswith(self.sent):
            delta, self.sent = text[len(self.sent):], text
            return delta
        return ""

    def feed_lines(self, lines: Iterable[str], on_text) -> StreamState:
        """Read SSE lines up to `data: [DONE]`, passing each text delta to on_text (with the logprob
        entries that came since, when the request asked for logprobs); returns self."""
        for line in lines:
            event = parse_sse_line(line)
            if event is DONE:
                self.done = True
                break
            if event is not None:
                delta = self.feed(event)
                if self.pending:
                    on_text(delta, self.pending)
                    self.pending = []
                elif delta:
                    on_text(delta)
        return self

    def result(self, latency_ms: float) -> Generation:
        if not self.done:
            raise VllmError("vLLM stream ended before 'data: [DONE]' (connection dropped?)")
        if self.finish_reason is None:
            raise VllmError("vLLM stream ended without a finish_reason")
        prompt_tokens, completion_tokens = _usage(self.usage, "stream (stream_options.include_usage)")
        return Generation(self.raw.strip(), prompt_tokens, completion_tokens, latency_ms,
                          _finish(self.finish_reason), 1, self.logprobs)


# ---- pure functions: errors --------------------------------------------------------------------------

def _error_body(body) -> dict:
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except json.JSONDecodeError:
            return {"message": body.strip()}
    if not isinstance(body, dict):
        return {"message": str(body)}
    # Newer vLLM: {"error": {"message", "type", "param", "code"}} (ErrorResponse/ErrorInfo,
    # vllm/entrypoints/serve/utils/error_response.py); older: {"object": "error", "message", "type",
    # "param", "code"} (ErrorResponse in the older protocol.py); FastAPI's own 404: {"detail": "Not Found"}.
    if isinstance(body.get("error"), dict):
        return body["error"]
    if "detail" in body and "message" not in body:
        return {"message": str(body["detail"]), "detail": True}
    return body


def error_message(body) -> str:
    return str(_error_body(body).get("message", "")) or "(no message)"


def error_status(body) -> int | None:
    code = _error_body(body).get("code")
    return code if isinstance(code, int) else None


def load_outcome(status: int, body, name: str, url: str) -> bool:
    """The answer of POST /v1/load_lora_adapter -> True (loaded now) / False (already loaded);
    anything else raises AdapterLoadError naming the adapter and the vLLM URL.

    vLLM answers 200 with a plain-text success; 400 "The lora adapter '<name>' has already been loaded."
    when the name exists (OpenAIServingModels._check_load_lora_adapter_request) - our names are
    immutable, so that is the same weights; 404 NotFoundError when the path has no adapter; 400/500
    when it cannot be loaded (e.g. rank above --max-lora-rank). Without VLLM_ALLOW_RUNTIME_LORA_UPDATING
    the route does not exist and FastAPI answers 404 {"detail": "Not Found"}.
    """
    if status == 200:
        return True
    err = _error_body(body)
    msg = error_message(body)
    if status == 400 and "has already been loaded" in msg:
        return False
    if status in (404, 405) and err.get("detail"):
        raise AdapterLoadError(f"adapter {name}: vLLM at {url} has no /v1/load_lora_adapter ({status} {msg}): "
                               "start it with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True and --enable-lora")
    raise AdapterLoadError(f"adapter {name}: vLLM at {url} refused to load it ({status}): {msg}")


def unload_outcome(status: int, body, name: str, url: str) -> bool:
    """POST /v1/unload_lora_adapter -> True (unloaded) / False (vLLM did not have it: 404 "cannot be
    found", so it is gone either way); anything else raises VllmError."""
    if status == 200:
        return True
    if status == 404 and "cannot be found" in error_message(body):
        return False
    raise VllmError(f"vLLM at {url} could not unload {name} ({status}): {error_message(body)}", status)


def is_unknown_model(status: int, body) -> bool:
    """vLLM's 404 for a `model` it does not serve ("The model `x` does not exist.", NotFoundError):
    for an adapter we think is loaded, vLLM lost it (restart) and it must be loaded again."""
    return status == 404 and "does not exist" in error_message(body)


def chat_error(status: int, body, url: str, model: str) -> VllmError:
    """A non-200 answer to a chat completion -> VllmError naming the URL, the model and vLLM's message."""
    unknown = is_unknown_model(status, body)
    hint = f" (GET {url}/v1/models lists what it serves; serve.vllm_model names the base model there)" \
        if unknown else ""
    return VllmError(f"vLLM at {url} answered {status} for model {model}: {error_message(body)}{hint}", status,
                     unknown_model=unknown)

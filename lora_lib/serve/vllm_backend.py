"""Generation on a vLLM OpenAI-compatible server, behind our router (`serve.backend: vllm`).

UNTESTED AGAINST A REAL vLLM: no GPU (and no vLLM) was available to the project so far. The request and
response shapes below follow vLLM's documentation and source (cited at each one); the unit tests check
only our own side (building requests, parsing responses and stream lines, mapping errors, the LRU
decision) and our server's failure path with nothing listening. `/healthz` says `"vllm_tested": false`.

Everything around generation stays in our server: registry routing, sticky rollout, rollback without
restart, the request log, online gates, metrics, OpenAI-style errors. Only generation moves to vLLM,
started for example with what `lora export vllm` writes:

    VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve <base> --enable-lora --max-loras N --max-lora-rank R

`VllmBackend` has the surface `ServerState` uses of an Engine (base_model, adapters, loaded, capacity,
load_adapter) and of a Batcher (submit, close, batches, rows, busy_s):
- adapters are registered in vLLM under our immutable names `<owner>@<version>` through
  POST /v1/load_lora_adapter; a name is never reloaded with other weights (the stale-cache trap of
  same-name reloads), so vLLM's "already loaded" answer means "loaded" (e.g. after `--lora-modules`).
- at most `capacity` names stay registered: after a successful load, the least recently used names
  with no request in flight are unloaded (POST /v1/unload_lora_adapter), like Engine's eviction.
- the sha256 of `<path>/adapter_model.safetensors` is checked against the registry's when this
  machine can see the file; when it cannot (vLLM on another machine with its own copy), the check is
  skipped with a warning and vLLM loads whatever is at that path.
- each request is one HTTP call from a thread pool (vLLM batches continuously by itself); streaming
  requests use SSE with `stream_options.include_usage` so token counts are vLLM's own.
- a request whose adapter vLLM no longer knows (vLLM restarted) reloads it once and retries.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from ..config import ConfigError
from ..engine import WEIGHTS_FILE, AdapterLoadError, Generation, Job, Sampling
from ..store import sha256_file

log = logging.getLogger("lora_lib.serve.vllm_backend")

VLLM_TESTED = False  # flip only after a run against a real vLLM server (see README, Serving)


class VllmError(RuntimeError):
    """vLLM answered a generation request with an error, or its answer was unusable."""

    def __init__(self, message: str, status: int | None = None, *, unknown_model: bool = False):
        super().__init__(message)
        self.status = status
        self.unknown_model = unknown_model  # vLLM does not serve the requested model (name)


class VllmUnavailable(VllmError):
    """vLLM could not be reached (connection refused, DNS, timeout): the server answers 503."""

    backend_unavailable = True  # what api.py's failed() looks for (it does not import this module)


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
    return Generation(text.strip(), prompt_tokens, completion_tokens, latency_ms, _finish(choice.get("finish_reason")), 1)


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
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        text = self.raw.strip()
        if len(text) > len(self.sent) and text.startswith(self.sent):
            delta, self.sent = text[len(self.sent):], text
            return delta
        return ""

    def feed_lines(self, lines: Iterable[str], on_text) -> StreamState:
        """Read SSE lines up to `data: [DONE]`, passing each text delta to on_text; returns self."""
        for line in lines:
            event = parse_sse_line(line)
            if event is DONE:
                self.done = True
                break
            if event is not None:
                delta = self.feed(event)
                if delta:
                    on_text(delta)
        return self

    def result(self, latency_ms: float) -> Generation:
        if not self.done:
            raise VllmError("vLLM stream ended before 'data: [DONE]' (connection dropped?)")
        if self.finish_reason is None:
            raise VllmError("vLLM stream ended without a finish_reason")
        prompt_tokens, completion_tokens = _usage(self.usage, "stream (stream_options.include_usage)")
        return Generation(self.raw.strip(), prompt_tokens, completion_tokens, latency_ms,
                          _finish(self.finish_reason), 1)


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


# ---- pure function: eviction -------------------------------------------------------------------------

def choose_evictions(lru: Iterable[str], capacity: int, in_use: Iterable[str], keep: str) -> list[str]:
    """Which registered names to unload so at most `capacity` stay, least recently used first; never
    `keep` (the one just loaded) nor a name with a request in flight (unloading it under a running
    request would fail that request). May return fewer than needed: the cache then stays over
    capacity until those requests finish and the next load evicts again."""
    names = list(lru)
    busy = set(in_use)
    excess = len(names) - capacity
    out = []
    for n in names:
        if excess <= 0:
            break
        if n != keep and n not in busy:
            out.append(n)
            excess -= 1
    return out


# ---- the backend -------------------------------------------------------------------------------------

class VllmBackend:
    """Engine + Batcher surface over a vLLM server (see the module docstring; untested against vLLM)."""

    def __init__(self, base_model: str | Path, url: str | None, *, served_model: str | None = None,
                 capacity: int = 8, timeout_s: float = 120.0, max_concurrency: int = 64):
        import httpx

        if not url:
            raise ConfigError("serve.vllm_url: required when serve.backend is 'vllm' "
                              "(e.g. --set serve.vllm_url=http://gpu-host:8000)")
        if capacity < 1:
            raise ValueError(f"adapter cache capacity must be >= 1, got {capacity}")
        self.base_model = str(base_model)  # ours, for routing's same-base check
        self.url = url.rstrip("/")
        self.served_model = served_model or self.base_model  # `vllm serve <model>` serves it under that name
        self.capacity = capacity
        self.adapters: OrderedDict[str, str] = OrderedDict()  # name -> path, least recently used first
        self.load_count = 0
        self.evict_count = 0
        self.batches = 0  # requests answered (vLLM's own batches are not visible from here)
        self.rows = 0
        self.busy_s = 0.0  # wall time with at least one request in flight
        self._lock = threading.Lock()  # adapters, counters, in-flight
        self._load_lock = threading.Lock()  # one load/unload sequence at a time
        self._in_flight: dict[str, int] = {}
        self._active = 0
        self._busy_since = 0.0
        self._http = httpx.Client(base_url=self.url, timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
                                  limits=httpx.Limits(max_connections=max_concurrency + 4))
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="lora-vllm")

    def health(self) -> dict:
        return {"backend": "vllm", "vllm_url": self.url, "vllm_model": self.served_model, "vllm_tested": VLLM_TESTED}

    @property
    def loaded(self) -> list[str]:
        with self._lock:
            return list(self.adapters)

    # -- HTTP --

    def _post(self, path: str, body: dict):
        import httpx

        try:
            return self._http.post(path, json=body)
        except httpx.TimeoutException as exc:
            raise VllmUnavailable(f"vLLM at {self.url}: {path} timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise VllmUnavailable(f"vLLM at {self.url} cannot be reached for {path}: {type(exc).__name__}: {exc}") \
                from exc

    @staticmethod
    def _body(r):
        try:
            return r.json()
        except ValueError:
            return r.text

    # -- adapters --

    def load_adapter(self, name: str, path: str | Path, sha256: str | None = None) -> bool:
        """Register `name` in vLLM (True if loaded now, False if it already was); marks it used.

        AdapterLoadError (nothing changes) on a sha256 mismatch, a refusal from vLLM, or vLLM being
        unreachable. Over capacity, least recently used idle names are unloaded after the load.
        """
        with self._lock:
            if name in self.adapters:
                self.adapters.move_to_end(name)
                return False
        weights = Path(path) / WEIGHTS_FILE
        if sha256 is not None:
            if weights.is_file():
                actual = sha256_file(weights)
                if actual != sha256:
                    raise AdapterLoadError(f"adapter {name}: {weights} has sha256 {actual[:12]}…, the registry "
                                           f"says {sha256[:12]}…: refusing modified weights")
            else:
                log.warning("adapter %s: %s is not visible here; vLLM loads it unchecked", name, weights)
        with self._load_lock:
            with self._lock:
                if name in self.adapters:  # loaded by another thread meanwhile
                    self.adapters.move_to_end(name)
                    return False
            try:  # an absolute path (as `lora export vllm` writes): vLLM's working directory is not ours
                r = self._post("/v1/load_lora_adapter", load_body(name, Path(path).resolve()))
            except VllmUnavailable as exc:
                raise AdapterLoadError(f"adapter {name}: {exc}") from exc
            fresh = load_outcome(r.status_code, self._body(r), name, self.url)
            with self._lock:
                self.adapters[name] = str(path)
                self.load_count += fresh
                evict = choose_evictions(self.adapters, self.capacity, self._in_flight, keep=name)
            for old in evict:
                try:
                    r = self._post("/v1/unload_lora_adapter", unload_body(old))
                    unload_outcome(r.status_code, self._body(r), old, self.url)
                except VllmError as exc:  # it stays registered (and counted): retried at the next load
                    log.error("evicting %s: %s", old, exc)
                    continue
                with self._lock:
                    self.adapters.pop(old, None)
                    self.evict_count += 1
            return fresh

    def _forget(self, name: str) -> None:
        with self._lock:
            self.adapters.pop(name, None)

    # -- generation --

    def submit(self, job: Job) -> Future:
        """Run the job on vLLM; the future gets a Generation or the error (AdapterLoadError, VllmError)."""
        self._pool.submit(self._run, job)
        return job.future

    def _run(self, job: Job) -> None:
        if not job.future.set_running_or_notify_cancel():
            return
        job.queue_ms = (time.perf_counter() - job.enqueued) * 1000
        name = job.adapter.name if job.adapter else None
        self._enter(name)
        try:
            g = self._generate_with_reload(job)
        except Exception as exc:  # noqa: BLE001 - reported to that request only
            log.error("vLLM generation failed: %s", exc)
            job.future.set_exception(exc)
        else:
            with self._lock:
                self.batches += 1
                self.rows += 1
            job.future.set_result(g)
        finally:
            self._leave(name)

    def _enter(self, name: str | None) -> None:
        with self._lock:
            if name:
                self._in_flight[name] = self._in_flight.get(name, 0) + 1
            if self._active == 0:
                self._busy_since = time.perf_counter()
            self._active += 1

    def _leave(self, name: str | None) -> None:
        with self._lock:
            if name:
                self._in_flight[name] -= 1
                if not self._in_flight[name]:
                    del self._in_flight[name]
            self._active -= 1
            if self._active == 0:
                self.busy_s += time.perf_counter() - self._busy_since

    def _generate_with_reload(self, job: Job) -> Generation:
        spec = job.adapter
        if spec is not None:
            self.load_adapter(spec.name, spec.path, spec.sha256)  # usually a dict hit; marks it used
        try:
            return self.generate(job)
        except VllmError as exc:
            if spec is None or not exc.unknown_model:
                raise
        log.warning("vLLM no longer has %s (restarted?): loading it again", spec.name)
        self._forget(spec.name)
        self.load_adapter(spec.name, spec.path, spec.sha256)
        return self.generate(job)

    def generate(self, job: Job) -> Generation:
        """One chat completion on vLLM for this job (streamed to job.on_text when set)."""
        model = job.adapter.name if job.adapter else self.served_model
        body = chat_body(job, model)
        start = time.perf_counter()
        if job.on_text is None:
            r = self._post("/v1/chat/completions", body)
            payload = self._body(r)
            if r.status_code != 200:
                raise chat_error(r.status_code, payload, self.url, model)
            if not isinstance(payload, dict):
                raise VllmError(f"vLLM at {self.url} answered 200 with a non-JSON body: {str(payload)[:200]}")
            return parse_chat_response(payload, (time.perf_counter() - start) * 1000)
        return self._stream(body, model, job.on_text, start)

    def _stream(self, body: dict, model: str, on_text, start: float) -> Generation:
        import httpx

        state = StreamState()
        try:
            with self._http.stream("POST", "/v1/chat/completions", json=body) as r:
                if r.status_code != 200:
                    r.read()
                    raise chat_error(r.status_code, self._body(r), self.url, model)
                state.feed_lines(r.iter_lines(), on_text)
        except httpx.TimeoutException as exc:
            raise VllmUnavailable(f"vLLM at {self.url}: stream timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise VllmUnavailable(f"vLLM at {self.url}: stream failed: {type(exc).__name__}: {exc}") from exc
        return state.result((time.perf_counter() - start) * 1000)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._http.close()

"""OpenAI-compatible HTTP server (FastAPI + uvicorn) over the registry, router and engine.

- `POST /v1/chat/completions`: `model` = character id, `user` = sticky-rollout key, optional
  `user_name` (extension) or the last user message's `name` fills `{{user}}`. The response's `model`
  names what answered: `<owner>@<version>` (owner = the character, or its category on fallback) or
  `<character>@base`. `stream: true` sends SSE chunks as tokens are generated. `temperature`, `top_p` and
  `seed` are per request (defaults `serve.temperature` / `serve.top_p`; 0 = greedy); `n` must be 1.
- `GET /v1/models`, `POST /v1/feedback`, `GET /healthz`, `GET /metrics` (Prometheus).
- Admin (`Authorization: Bearer $LORA_API_KEY`, refused when the variable is unset):
  `GET /admin/routes`, `POST /admin/routes/{character}/{set|rollout|promote|rollback}`,
  `POST /admin/adapters/{owner}/{version}/status`.
- The route is read from the registry on every request: a rollback is seen by the next request.
- Generation runs on the in-process Engine, or with `serve.backend: vllm` on a vLLM server
  (lora_lib/serve/vllm_backend.py, untested: no GPU so far); everything else here is the same.
- Logs (schema: lora_lib/requestlog.md, kept in sync with LOG_FIELDS below): one line
  per answered request in `serve.request_log`, per refused/failed request in `serve.error_log`,
  per feedback in `serve.feedback_log`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError

from ..config import ConfigError, ServeParams, known_characters, load_params
from ..engine import AdapterLoadError, AdapterSpec, Batcher, Engine, Job, Sampling
from ..evaluate.gates import check_reply, gate_kwargs
from ..registry import Registry, adapter_name
from ..requestlog import append_request_log, user_ref
from .router import NEVER_SERVED, Resolution, resolve

log = logging.getLogger("lora_lib.serve.api")
API_KEY_ENV = "LORA_API_KEY"
LOG_FIELDS = ("ts", "request_id", "character_id", "adapter_version", "adapter", "route_owner", "group",
              "base_model", "user_ref", "latency_ms", "queue_ms", "batch_size", "prompt_tokens",
              "completion_tokens", "reply", "reply_chars", "gates", "messages", "stream", "finish_reason",
              "fallback", "sampling")


# ---- configuration ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CharacterInfo:
    name: str
    category: str | None
    system_prompt: str
    banned_words: tuple[str, ...] = ()
    gates: dict = field(default_factory=dict, hash=False, compare=False)  # check_reply kwargs (gate_kwargs)


@dataclass
class ServeConfig:
    store: Path
    base_model: str
    registry_url: str
    serve: ServeParams
    characters: dict[str, CharacterInfo] = field(default_factory=dict)
    api_key: str | None = None

    def log_path(self, template: str) -> Path:
        return Path(template.replace("{store}", str(self.store)))


def load_serve_config(store: str | Path, params_dir: str | Path = "params", overrides: dict | None = None,
                      api_key: str | None = None) -> ServeConfig:
    """Server settings from params: serve.* and base_model from defaults (+ overrides), and every
    configured character's name, category, system prompt and banned words. api_key defaults to
    $LORA_API_KEY."""
    store = Path(store).resolve()
    ids = known_characters(params_dir)
    if not ids:
        raise ConfigError(f"{params_dir}/characters: no character params; nothing to serve")
    over = {**(overrides or {}), "store": str(store)}
    chars, first = {}, None
    for cid in ids:
        p = load_params(cid, params_dir=params_dir, overrides=over)
        first = first or p
        chars[cid] = CharacterInfo(p.character.name, p.character.category, p.character.system_prompt,
                                   tuple(p.character.banned_words), gate_kwargs(p))
    return ServeConfig(store=store, base_model=str(first.path(first.base_model)), registry_url=first.registry_url(),
                       serve=first.serve, characters=chars,
                       api_key=api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None)


# ---- request schema ---------------------------------------------------------------------------------

class _TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text"]
    text: StrictStr


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant"]
    content: StrictStr | list[_TextPart]
    name: StrictStr | None = None

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(p.text for p in self.content)


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: StrictStr
    messages: list[ChatMessage] = Field(min_length=1)
    stream: StrictBool = False
    user: StrictStr | None = None
    user_name: StrictStr | None = None  # extension: the caller's display name for {{user}}
    max_tokens: StrictInt | None = Field(None, ge=1)
    max_completion_tokens: StrictInt | None = Field(None, ge=1)
    n: StrictInt = 1
    ignore_eos: StrictBool = False  # vLLM's extension for benchmarks: generate exactly max_tokens
    temperature: float | None = Field(None, ge=0, le=2)  # None: serve.temperature; 0 = greedy
    top_p: float | None = Field(None, gt=0, le=1)        # None: serve.top_p
    seed: StrictInt | None = None  # same seed, prompt and version -> same reply (sampled rows only)


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: StrictStr
    rating: Literal["up", "down"]
    comment: StrictStr | None = None


class RouteSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    stable_version: StrictStr | None = None
    candidate_version: StrictStr | None = None
    rollout_percent: float = 0.0
    base_model: StrictStr | None = None
    category: StrictStr | None = None
    override: StrictBool = False
    actor: StrictStr = "api"
    reason: StrictStr = ""


class RolloutSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    candidate_version: StrictStr
    percent: float
    override: StrictBool = False
    actor: StrictStr = "api"
    reason: StrictStr = ""


class AdminAction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actor: StrictStr = "api"
    reason: StrictStr = ""


class StatusSet(AdminAction):
    status: StrictStr


class APIError(Exception):
    """An OpenAI-style error: {"error": {"message", "type", "param", "code"}} with an HTTP status."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type, code, param

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def _validation_error(exc: ValidationError) -> APIError:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return APIError(400, f"{loc}: {err['msg']}{more}", param=loc or None, code="invalid_value")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def fill_user(text: str, display_name: str) -> str:
    """`{{user}}` (as training data writes the caller) -> the caller's display name."""
    return text.replace("{{user}}", display_name)


class UserFiller:
    """Fills `{{user}}` in streamed text: a delta may end inside the placeholder ("…{{us"), so a tail
    that could still become `{{user}}` is held back until the next delta or flush()."""

    TOKEN = "{{user}}"

    def __init__(self, display_name: str):
        self.name, self.pending = display_name, ""

    def feed(self, delta: str) -> str:
        text = self.pending + delta
        keep = next((k for k in range(min(len(self.TOKEN) - 1, len(text)), 0, -1)
                     if self.TOKEN.startswith(text[-k:])), 0)
        self.pending = text[len(text) - keep:] if keep else ""
        return fill_user(text[: len(text) - keep], self.name)

    def flush(self) -> str:
        out, self.pending = fill_user(self.pending, self.name), ""
        return out


def prompt_messages(req: ChatRequest, info: CharacterInfo | None, display_name: str) -> list[dict]:
    """The messages the model sees: the character's short system prompt first unless the caller sent
    one, `developer` treated as `system`, `{{user}}` filled everywhere."""
    msgs = [{"role": "system" if m.role == "developer" else m.role, "content": fill_user(m.text(), display_name)}
            for m in req.messages]
    if info and info.system_prompt and not any(m["role"] == "system" for m in msgs):
        msgs.insert(0, {"role": "system", "content": fill_user(info.system_prompt, display_name)})
    return msgs


# ---- the server state -------------------------------------------------------------------------------

@dataclass
class _Served:
    """How one request is served: the router's answer, the adapter to use, and why if it differs."""

    res: Resolution
    spec: AdapterSpec | None
    owner: str | None
    version: str | None
    group: str
    fallback: str | None = None

    @property
    def model_name(self) -> str:
        return adapter_name(self.owner, self.version) if self.version else adapter_name(self.res.character_id, None)


class _Reads:
    """The registry reads of one resolution, each made once: resolve() reads the adapter row that the
    spec lookup needs next (one query fewer per request: a round trip each on PostgreSQL). Made fresh
    for every resolution, so nothing is cached across requests."""

    def __init__(self, registry: Registry):
        self.registry = registry
        self._routes: dict[str, dict | None] = {}
        self._adapters: dict[tuple[str, str], dict | None] = {}

    def get_route(self, character_id: str) -> dict | None:
        if character_id not in self._routes:
            self._routes[character_id] = self.registry.get_route(character_id)
        return self._routes[character_id]

    def get_adapter(self, character_id: str, version: str) -> dict | None:
        key = (character_id, version)
        if key not in self._adapters:
            self._adapters[key] = self.registry.get_adapter(character_id, version)
        return self._adapters[key]


class ServerState:
    def __init__(self, config: ServeConfig, engine: Engine | None = None):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.config = config
        s = config.serve
        self.registry = Registry(config.registry_url)
        if engine is None and s.backend == "vllm":
            # Generation on a vLLM server (untested: no GPU so far); it is both the engine and the batcher.
            from .vllm_backend import VllmBackend

            self.engine = VllmBackend(config.base_model, s.vllm_url, served_model=s.vllm_model,
                                      capacity=s.adapter_cache, timeout_s=s.vllm_timeout_s,
                                      max_concurrency=s.vllm_max_concurrency)
            self.batcher = self.engine
        else:
            self.engine = engine or Engine(config.base_model, capacity=s.adapter_cache, batched_lora=s.batched_lora)
            self.batcher = Batcher(self.engine, max_batch=s.max_batch, wait_ms=s.batch_wait_ms,
                                   mixed=s.mixed_batches)
        self.request_log = config.log_path(s.request_log)
        self.error_log = config.log_path(s.error_log)
        self.feedback_log = config.log_path(s.feedback_log)
        self.failed: dict[str, tuple[float, str]] = {}  # adapter name -> (when, error) of its last failed load
        self.last_good: dict[str, tuple[str, str]] = {}  # character -> (owner, version) last served
        self.recent: OrderedDict[str, dict] = OrderedDict()  # request_id -> feedback fields
        self.prom = CollectorRegistry()
        self.m_requests = Counter("lora_requests", "Chat completions by adapter and outcome",
                                  ["character", "adapter", "group", "status"], registry=self.prom)
        self.m_latency = Histogram("lora_request_latency_seconds", "Chat completion latency",
                                   ["character", "adapter"], registry=self.prom,
                                   buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.m_tokens = Counter("lora_completion_tokens", "Completion tokens by adapter", ["adapter"],
                                registry=self.prom)
        self.m_load_fail = Counter("lora_adapter_load_failures", "Failed adapter loads", ["adapter"],
                                   registry=self.prom)
        self.m_loaded = Gauge("lora_loaded_adapters", "Adapters in the engine's cache", registry=self.prom)
        self.m_loaded.set_function(lambda: len(self.engine.adapters))
        self.preloaded = self._preload()

    def _preload(self) -> list[str]:
        """Load the routed stable (then candidate) adapters at start, up to the cache capacity, so the
        first requests do not pay for loading; a failure here is logged and retried on demand."""
        specs = []
        for side in ("stable", "candidate"):
            for route in self.registry.list_routes():
                v = route[f"{side}_version"]
                spec = self._spec(route["character_id"], v) if v else None
                if spec and self._same_base(route["base_model"]):
                    specs.append(spec)
        loaded = []
        for spec in specs[: self.engine.capacity]:
            try:
                self.engine.load_adapter(spec.name, spec.path, spec.sha256)
                loaded.append(spec.name)
            except AdapterLoadError as exc:
                log.error("preload: %s", exc)
        return loaded

    # -- routing and loading --

    def known(self, character_id: str) -> bool:
        return character_id in self.config.characters or self.registry.get_route(character_id) is not None

    def _same_base(self, base: str | None) -> bool:
        if base is None:
            return True
        ours = self.engine.base_model
        return base == ours or (Path(base).exists() and Path(base).resolve() == Path(ours).resolve())

    def _spec(self, owner: str, version: str, reads: _Reads | None = None) -> AdapterSpec | None:
        row = (reads or self.registry).get_adapter(owner, version)
        if row is None or row["status"] in NEVER_SERVED:
            return None
        return AdapterSpec(adapter_name(owner, version), row["path"], row["sha256"])

    async def _try_load(self, spec: AdapterSpec) -> str | None:
        """None if loaded, else the error (a recent failure is not retried before load_retry_s)."""
        if spec.name in self.engine.adapters:  # loaded: no thread hop, and no wait on the engine lock,
            return None                        # which a running batch holds (the batcher re-checks)
        failed = self.failed.get(spec.name)
        if failed and time.monotonic() - failed[0] < self.config.serve.load_retry_s:
            return failed[1]
        try:
            await asyncio.to_thread(self.engine.load_adapter, spec.name, spec.path, spec.sha256)
        except AdapterLoadError as exc:
            self.failed[spec.name] = (time.monotonic(), str(exc))
            self.m_load_fail.labels(spec.name).inc()
            log.error("%s", exc)
            self._log_error(None, "adapter_load", None, "adapter_load_failed", str(exc), spec.name)
            return str(exc)
        self.failed.pop(spec.name, None)
        return None

    async def route(self, character_id: str, user_key: str) -> _Served:
        info = self.config.characters.get(character_id)
        # One read of each row: the spec is built from the very row resolve() found servable, so a
        # status change committed in between cannot leave a routed version without a spec (seen in
        # the soak when the two were separate reads).
        reads = _Reads(self.registry)
        res = resolve(reads, character_id, user_key, category=info.category if info else None,
                      default_base_model=self.engine.base_model)
        if not self._same_base(res.base_model):
            raise APIError(503, f"route of {character_id!r} needs base model {res.base_model!r}; this server "
                                f"runs {self.engine.base_model!r}", type="server_error", code="wrong_base_model")
        if res.adapter_version is None:
            return _Served(res, None, None, None, "base")
        spec = self._spec(res.route_owner, res.adapter_version, reads)
        error = await self._try_load(spec) if spec else "not servable"
        if error is None:
            self.last_good[character_id] = (res.route_owner, res.adapter_version)
            return _Served(res, spec, res.route_owner, res.adapter_version, res.group)
        # The routed version cannot load: keep serving what served before (candidate -> stable first).
        fallbacks = []
        if res.group == "candidate":
            route = self.registry.get_route(res.route_owner)
            if route and route["stable_version"]:
                fallbacks.append((res.route_owner, route["stable_version"], "stable"))
        if character_id in self.last_good:
            fallbacks.append((*self.last_good[character_id], "stable"))
        routed = adapter_name(res.route_owner, res.adapter_version)
        for owner, version, group in fallbacks:
            fb = self._spec(owner, version)
            if fb and fb.name != routed and await self._try_load(fb) is None:
                return _Served(res, fb, owner, version, group, fallback=f"load_failed:{routed}")
        raise APIError(503, f"adapter {routed} cannot be loaded and no "
                            f"previous version is available: {error}", type="server_error",
                       code="adapter_unavailable")

    # -- logs --

    def _log_error(self, request_id: str | None, path: str, status: int | None, code: str | None, message: str,
                   adapter: str | None = None, character_id: str | None = None, group: str | None = None,
                   user: str | None = None) -> None:
        append_request_log(self.error_log, {
            "ts": _now(), "request_id": request_id, "path": path, "http_status": status, "error_code": code,
            "message": message[:2000], "character_id": character_id, "adapter": adapter, "group": group,
            "user_ref": None if user is None else user_ref(user)})

    def log_request(self, record: dict) -> None:
        append_request_log(self.request_log, record)
        self.recent[record["request_id"]] = {k: record[k] for k in ("character_id", "adapter_version", "adapter",
                                                                    "group", "user_ref")}
        while len(self.recent) > 100_000:
            self.recent.popitem(last=False)
        labels = (record["character_id"], record["adapter"])
        self.m_requests.labels(*labels, record["group"], "ok").inc()
        self.m_latency.labels(*labels).observe(record["latency_ms"] / 1000)
        self.m_tokens.labels(record["adapter"]).inc(record["completion_tokens"])

    def find_request(self, request_id: str) -> dict | None:
        if request_id in self.recent:
            return self.recent[request_id]
        if self.request_log.is_file():  # an older completion (or before a restart): scan the log
            with open(self.request_log, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if request_id in line:
                        with contextlib.suppress(json.JSONDecodeError):
                            r = json.loads(line)
                            if r.get("request_id") == request_id:
                                return {k: r.get(k) for k in ("character_id", "adapter_version", "adapter",
                                                              "group", "user_ref")}
        return None


# ---- the app ----------------------------------------------------------------------------------------

class _Route(APIRoute):
    """Routes whose unexpected exceptions become an OpenAI-style 500 (APIError) inside the route.

    Starlette hands a catch-all `Exception` handler's exception back to the server after answering, and
    uvicorn then closes the keep-alive connection: the client's *next* request on it fails too (seen
    in the soak). An APIError is handled without that.
    """

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def run(request: Request):
            try:
                return await handler(request)
            except (APIError, HTTPException, RequestValidationError):
                raise
            except Exception as exc:  # noqa: BLE001 - reported to the caller and logged
                log.exception("unhandled error on %s", request.url.path)
                raise APIError(500, f"internal error: {type(exc).__name__}: {exc}", type="server_error",
                               code="internal_error") from exc

        return run


def create_app(config: ServeConfig, engine: Engine | None = None):
    """The FastAPI app; `engine` may be shared (tests, benchmarks) or is built from config.base_model."""
    state = ServerState(config, engine)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        await asyncio.to_thread(state.batcher.close)

    app = FastAPI(title="lora-lib character chat", lifespan=lifespan)
    app.router.route_class = _Route  # before the routes below are declared
    app.state.serve = state

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError):
        rid = getattr(request.state, "request_id", None)
        body = getattr(request.state, "chat", None)
        state._log_error(rid, request.url.path, exc.status, exc.code, exc.message,
                         character_id=getattr(body, "model", None), user=getattr(body, "user", None))
        if request.url.path == "/v1/chat/completions":
            state.m_requests.labels(getattr(body, "model", "?") or "?", "-", "-", str(exc.status)).inc()
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        err = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        return await _api_error(request, APIError(400, f"{'.'.join(map(str, err['loc']))}: {err['msg']}",
                                                  code="invalid_value"))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        log.exception("unhandled error on %s", request.url.path)
        return await _api_error(request, APIError(500, f"internal error: {type(exc).__name__}: {exc}",
                                                  type="server_error", code="internal_error"))

    def check_key(request: Request, *, admin: bool) -> None:
        key = config.api_key
        if key is None:
            if admin:
                raise APIError(403, f"admin API disabled: start the server with {API_KEY_ENV} set",
                               type="permission_error", code="admin_disabled")
            return
        given = request.headers.get("authorization", "")
        token = given[7:] if given.lower().startswith("bearer ") else ""
        if not token:
            raise APIError(401, "missing API key: send 'Authorization: Bearer <key>'",
                           type="authentication_error", code="missing_api_key")
        if not secrets.compare_digest(token.encode(), key.encode()):
            raise APIError(401, "invalid API key", type="authentication_error", code="invalid_api_key")

    async def parse(request: Request, model: type[BaseModel]) -> Any:
        raw = await request.body()
        if len(raw) > config.serve.max_request_bytes:
            raise APIError(413, f"request body is {len(raw)} bytes; the limit is {config.serve.max_request_bytes}",
                           code="request_too_large")
        try:
            data = json.loads(raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise APIError(400, f"body is not valid JSON: {exc}", code="invalid_json") from None
        if not isinstance(data, dict):
            raise APIError(400, "body must be a JSON object", code="invalid_json")
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise _validation_error(exc) from None

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        start = time.perf_counter()
        ts = _now()
        rid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        request.state.request_id = rid
        if config.serve.chat_requires_key:
            check_key(request, admin=False)
        req: ChatRequest = await parse(request, ChatRequest)
        request.state.chat = req
        if req.n != 1:
            raise APIError(400, "only n=1 is supported", param="n", code="unsupported_value")
        for i, m in enumerate(req.messages):
            if len(m.text()) > config.serve.max_message_chars:
                raise APIError(400, f"messages.{i}.content is {len(m.text())} characters; the limit is "
                                    f"{config.serve.max_message_chars}", param=f"messages.{i}.content",
                               code="message_too_long")
        if not any(m.role == "user" and m.text().strip() for m in req.messages):
            raise APIError(400, "messages need at least one non-empty user message", param="messages",
                           code="invalid_value")
        max_tokens = req.max_completion_tokens or req.max_tokens or config.serve.max_tokens_default
        if max_tokens > config.serve.max_tokens_limit:
            raise APIError(400, f"max_tokens {max_tokens} is over the limit {config.serve.max_tokens_limit}",
                           param="max_tokens", code="invalid_value")
        cid = req.model
        if not state.known(cid):
            raise APIError(404, f"the model {cid!r} does not exist: no such character (GET /v1/models)",
                           param="model", code="model_not_found")
        user_key = req.user or ""
        info = config.characters.get(cid)
        display = req.user_name or next((m.name for m in reversed(req.messages) if m.role == "user" and m.name),
                                        None) or config.serve.default_user_name
        served = await state.route(cid, user_key)
        messages = prompt_messages(req, info, display)
        loop = asyncio.get_running_loop()
        deltas: asyncio.Queue | None = asyncio.Queue() if req.stream else None

        def on_text(delta: str) -> None:
            loop.call_soon_threadsafe(deltas.put_nowait, delta)

        temperature = config.serve.temperature if req.temperature is None else req.temperature
        # An unseeded sampled request gets a seed here, logged with it: every reply can be reproduced.
        seed = req.seed if req.seed is not None or temperature == 0 else secrets.randbits(63)
        sampling = Sampling(temperature, config.serve.top_p if req.top_p is None else req.top_p, seed)
        job = Job(messages, served.spec, max_tokens, on_text if req.stream else None, ignore_eos=req.ignore_eos,
                  sampling=sampling)
        future = asyncio.wrap_future(state.batcher.submit(job))
        model_name = served.model_name
        created = int(time.time())
        headers = {"x-lora-adapter": model_name, "x-lora-group": served.group, "x-request-id": rid}

        def finish(g) -> tuple[dict, str]:
            reply = fill_user(g.text, display)
            # The character's own gate settings (the ones its adapter was approved with); no params: defaults.
            gates = check_reply(reply, **info.gates) if info and info.gates else check_reply(reply)
            record = {"ts": ts, "request_id": rid, "character_id": cid, "adapter_version": served.version,
                      "adapter": model_name, "route_owner": served.owner, "group": served.group,
                      "base_model": state.engine.base_model, "user_ref": user_ref(user_key),
                      "latency_ms": round((time.perf_counter() - start) * 1000, 3),
                      "queue_ms": round(job.queue_ms, 3), "batch_size": g.batch_size,
                      "prompt_tokens": g.prompt_tokens, "completion_tokens": g.completion_tokens,
                      "reply": reply, "reply_chars": len(reply), "gates": gates, "messages": messages,
                      "stream": req.stream, "finish_reason": g.finish_reason, "fallback": served.fallback,
                      "sampling": {"temperature": sampling.temperature, "top_p": sampling.top_p,
                                   "seed": sampling.seed}}
            state.log_request(record)
            return record, reply

        def failed(exc: Exception) -> APIError:
            if getattr(exc, "backend_unavailable", False):  # the vLLM server could not be reached
                return APIError(503, f"{type(exc).__name__}: {exc}", type="server_error", code="backend_unavailable")
            code = "adapter_unavailable" if isinstance(exc, AdapterLoadError) else "generation_failed"
            return APIError(503 if isinstance(exc, AdapterLoadError) else 500, f"{type(exc).__name__}: {exc}",
                            type="server_error", code=code)

        if not req.stream:
            try:
                g = await future
            except Exception as exc:  # noqa: BLE001
                raise failed(exc) from exc
            record, reply = finish(g)
            return JSONResponse({
                "id": rid, "object": "chat.completion", "created": created, "model": model_name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                             "finish_reason": g.finish_reason, "logprobs": None}],
                "usage": {"prompt_tokens": g.prompt_tokens, "completion_tokens": g.completion_tokens,
                          "total_tokens": g.prompt_tokens + g.completion_tokens},
                "system_fingerprint": None, "lora": {"group": served.group, "fallback": served.fallback}},
                headers=headers)

        def chunk(delta: dict, finish_reason: str | None = None, usage: dict | None = None) -> str:
            body = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model_name,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]}
            if usage is not None:
                body["usage"] = usage
            return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

        async def events():
            filler = UserFiller(display)
            yield chunk({"role": "assistant", "content": ""})
            done = asyncio.ensure_future(future)
            while True:
                getter = asyncio.ensure_future(deltas.get())
                finished, _ = await asyncio.wait({getter, done}, return_when=asyncio.FIRST_COMPLETED)
                if getter in finished:
                    text = filler.feed(getter.result())
                    if text:
                        yield chunk({"content": text})
                    continue
                getter.cancel()
                break
            rest = ""
            while not deltas.empty():  # deltas queued before the result landed
                rest += filler.feed(deltas.get_nowait())
            rest += filler.flush()
            if rest:
                yield chunk({"content": rest})
            try:
                g = done.result()
            except Exception as exc:  # noqa: BLE001 - headers are sent: report in-band, log it
                err = failed(exc)
                state._log_error(rid, "/v1/chat/completions", err.status, err.code, err.message,
                                 adapter=model_name, character_id=cid, group=served.group, user=req.user)
                yield f"data: {json.dumps(err.body(), ensure_ascii=False)}\n\n"
                return
            finish(g)
            yield chunk({}, g.finish_reason, {"prompt_tokens": g.prompt_tokens,
                                              "completion_tokens": g.completion_tokens,
                                              "total_tokens": g.prompt_tokens + g.completion_tokens})
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    @app.get("/v1/models")
    async def models(request: Request):
        if config.serve.chat_requires_key:
            check_key(request, admin=False)
        routes = {r["character_id"]: r for r in state.registry.list_routes()}
        data = []
        for cid in sorted(set(config.characters) | set(routes)):
            r = routes.get(cid)
            data.append({"id": cid, "object": "model", "created": 0, "owned_by": "lora-lib",
                         "root": state.engine.base_model,
                         "route": None if r is None else {k: r[k] for k in ("stable_version", "candidate_version",
                                                                            "rollout_percent", "category")}})
        return {"object": "list", "data": data}

    @app.post("/v1/feedback")
    async def feedback(request: Request):
        if config.serve.chat_requires_key:
            check_key(request, admin=False)
        fb: FeedbackRequest = await parse(request, FeedbackRequest)
        found = state.find_request(fb.id)
        if found is None:
            raise APIError(404, f"no completion with id {fb.id!r}", param="id", code="not_found")
        record = {"ts": _now(), "request_id": fb.id, "rating": fb.rating, "score": 1 if fb.rating == "up" else -1,
                  "comment": fb.comment, **found}
        append_request_log(state.feedback_log, record)
        return {"ok": True, "id": fb.id}

    @app.get("/healthz")
    async def healthz():
        backend = state.engine.health() if hasattr(state.engine, "health") else {"backend": "engine"}
        return {"status": "ok", "base_model": state.engine.base_model, "loaded_adapters": state.engine.loaded,
                "batches": state.batcher.batches, "batched_rows": state.batcher.rows,
                "engine_busy_s": round(state.batcher.busy_s, 3), **backend}

    @app.get("/metrics")
    async def metrics():
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(state.prom), media_type=CONTENT_TYPE_LATEST)

    # -- admin --

    def registry_call(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValueError as exc:
            raise APIError(400, str(exc), code="registry_refused") from None

    @app.get("/admin/routes")
    async def admin_routes(request: Request):
        check_key(request, admin=True)
        return {"routes": state.registry.route_status()}

    @app.post("/admin/routes/{character_id}/set")
    async def admin_set(character_id: str, request: Request):
        check_key(request, admin=True)
        body: RouteSet = await parse(request, RouteSet)
        current = state.registry.get_route(character_id)
        base = body.base_model or (current["base_model"] if current else state.engine.base_model)
        return registry_call(state.registry.set_route, character_id, base_model=base,
                             stable_version=body.stable_version, candidate_version=body.candidate_version,
                             rollout_percent=body.rollout_percent, category=body.category, override=body.override,
                             actor=body.actor, reason=body.reason)

    @app.post("/admin/routes/{character_id}/rollout")
    async def admin_rollout(character_id: str, request: Request):
        check_key(request, admin=True)
        body: RolloutSet = await parse(request, RolloutSet)
        return registry_call(state.registry.rollout, character_id, body.candidate_version, body.percent,
                             override=body.override, actor=body.actor, reason=body.reason)

    @app.post("/admin/routes/{character_id}/promote")
    async def admin_promote(character_id: str, request: Request):
        check_key(request, admin=True)
        body: AdminAction = await parse(request, AdminAction)
        return registry_call(state.registry.promote, character_id, actor=body.actor, reason=body.reason)

    @app.post("/admin/routes/{character_id}/rollback")
    async def admin_rollback(character_id: str, request: Request):
        check_key(request, admin=True)
        body: AdminAction = await parse(request, AdminAction)
        return registry_call(state.registry.rollback, character_id, actor=body.actor, reason=body.reason)

    @app.post("/admin/adapters/{owner}/{version}/status")
    async def admin_status(owner: str, version: str, request: Request):
        check_key(request, admin=True)
        body: StatusSet = await parse(request, StatusSet)
        registry_call(state.registry.set_status, owner, version, body.status, actor=body.actor, reason=body.reason)
        return state.registry.get_adapter(owner, version)

    return app


# ---- running it ---------------------------------------------------------------------------------------

def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServerThread:
    """The real uvicorn server in a background thread (tests, benchmarks, notebooks); a context manager.

    `url` is http://host:port; leaving the context stops the server and its batcher.
    """

    def __init__(self, app, host: str = "127.0.0.1", port: int | None = None):
        import uvicorn

        self.host, self.port = host, port or free_port(host)
        self.url = f"http://{self.host}:{self.port}"
        self.app = app
        self._server = uvicorn.Server(uvicorn.Config(app, host=self.host, port=self.port, log_level="warning",
                                                     lifespan="on", access_log=False))
        self._thread = threading.Thread(target=self._server.run, name="lora-uvicorn", daemon=True)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + 60
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.url} did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)


def serve(config: ServeConfig, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the server in the foreground until interrupted (`lora serve`)."""
    import uvicorn

    uvicorn.run(create_app(config), host=host, port=port, log_level="info", access_log=False)  # request log instead


def try_requests(config: ServeConfig, character_id: str, prompts: list[list[dict]], users: list[str], *,
                 max_tokens: int = 24) -> list[dict]:
    """Start the real server on a free loopback port, send prompt i as user i (cycling prompts), stop.

    Rows: user, status, model (what answered), group, latency_ms, reply — what a client would see.
    For notebook 06's live check; the requests are also in the request log like any other.
    """
    import httpx

    rows = []
    with ServerThread(create_app(config)) as srv, httpx.Client(base_url=srv.url, timeout=120) as http:
        for i, user in enumerate(users):
            t = time.perf_counter()
            r = http.post("/v1/chat/completions", json={"model": character_id, "user": user, "max_tokens": max_tokens,
                                                         "messages": prompts[i % len(prompts)]})
            body = r.json()
            ok = r.status_code == 200
            rows.append({"user": user, "status": r.status_code, "model": body.get("model") if ok else None,
                         "group": r.headers.get("x-lora-group"), "latency_ms": round((time.perf_counter() - t) * 1000, 1),
                         "reply": body["choices"][0]["message"]["content"] if ok else body["error"]["message"]})
    return rows

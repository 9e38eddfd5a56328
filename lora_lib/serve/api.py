"""OpenAI-compatible HTTP server (FastAPI + uvicorn) over the registry, router and engine.

- `POST /v1/chat/completions`: `model` = character id, `user` = sticky-rollout key, optional
  `user_name` (extension) or the last user message's `name` fills `{{user}}`. The response's `model`
  names what answered: `<owner>@<version>` (owner = the character, or its category on fallback) or
  `<character>@base`. `stream: true` sends SSE chunks as tokens are generated. Decoding parameters are per
  request (defaults `serve.temperature` / `serve.top_p`; 0 = greedy); which ones are served and which get a
  400: the table in openai_params.py (README: Serving).
- `POST /v1/completions`: a plain prompt (no chat template) for the same characters and routes.
- `GET /v1/models`, `POST /v1/feedback`, `GET /healthz`, `GET /metrics` (Prometheus).
- Admin (`Authorization: Bearer $LORA_API_KEY`, refused when the variable is unset):
  `GET /admin/routes`, `POST /admin/routes/{character}/{set|rollout|promote|rollback}`,
  `POST /admin/adapters/{owner}/{version}/status`.
- The route is read from the registry on every request: a rollback is seen by the next request.
- Generation runs on the in-process Engine of the request's base (one per base, LRU and memory-bounded:
  serve.max_bases, serve.base_memory_mb), or with `serve.backend: vllm` on that base's vLLM server
  (serve.vllm_url, serve.vllm_urls; lora_lib/serve/vllm_backend.py, untested: no GPU so far); everything
  else here is the same.
- Logs (schema: lora_lib/requestlog.md, kept in sync with LOG_FIELDS in routes.py): one line
  per answered request in `serve.request_log`, per refused/failed request in `serve.error_log`,
  per feedback in `serve.feedback_log`.

This module builds the app (create_app) and runs it. The parts: config (ServeConfig), schema (request
bodies, APIError), auth (the API key), prompt (the messages the model sees), state (ServerState:
routing, logs, metrics), bases (which base serves a request, preload, health), backend (an EnginePool of
Engine + Batcher per base, or of vLLM servers: vllm_backend, vllm_protocol), routes
(/v1/..., /healthz, /metrics), openai_params (the parameter table), completion (one request's choices, log
lines, response bodies), streaming (SSE), admin (/admin/...).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from ..engine import Engine
from .admin import add_admin_routes
from .config import ServeConfig, load_serve_config
from .prompt import UserFiller, prompt_messages
from .routes import add_routes
from .schema import APIError, ChatRequest
from .state import ServerState

# The app and running it are defined here; the other names are imported from here by callers and tests.
__all__ = ["APIError", "ChatRequest", "ServeConfig", "ServerState", "ServerThread", "UserFiller", "create_app",
           "free_port", "load_serve_config", "prompt_messages", "serve", "try_requests"]

log = logging.getLogger("lora_lib.serve.api")


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
    """The FastAPI app; `engine` may be shared (tests, benchmarks: it serves its base), else each base's
    engine is loaded on demand."""
    state = ServerState(config, engine)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        await asyncio.to_thread(state.pool.close)

    app = FastAPI(title="lora-lib character chat", lifespan=lifespan)
    app.router.route_class = _Route  # before the routes below are declared
    app.state.serve = state

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError):
        rid = getattr(request.state, "request_id", None)
        body = getattr(request.state, "chat", None)
        state._log_error(rid, request.url.path, exc.status, exc.code, exc.message,
                         character_id=getattr(body, "model", None), user=getattr(body, "user", None))
        if request.url.path in ("/v1/chat/completions", "/v1/completions"):
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

    add_routes(app, state)
    add_admin_routes(app, state)
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

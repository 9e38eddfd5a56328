"""The public routes: POST /v1/chat/completions and /v1/completions (streamed or not), GET /v1/models,
POST /v1/feedback, GET /healthz, GET /metrics (Prometheus)."""

from __future__ import annotations

import asyncio
import uuid

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..engine import AdapterLoadError
from ..requestlog import append_request_log
from .auth import check_key
from .completion import Completion, check_limits, decoding
from .openai_params import CHAT, COMPLETIONS
from .prompt import prompt_messages
from .schema import APIError, ChatRequest, CompletionRequest, FeedbackRequest, parse
from .state import ServerState, _now
from .streaming import chunk_writer, events

# The fields of one request-log line, as Completion.record writes them (schema: lora_lib/requestlog.md).
LOG_FIELDS = ("ts", "request_id", "character_id", "adapter_version", "adapter", "route_owner", "group",
              "base_model", "user_ref", "latency_ms", "queue_ms", "batch_size", "prompt_tokens",
              "completion_tokens", "reply", "reply_chars", "gates", "messages", "stream", "finish_reason",
              "fallback", "sampling", "endpoint", "prompt", "choice_index", "n", "decoding")


def failed(exc: Exception) -> APIError:
    if getattr(exc, "backend_unavailable", False):  # the vLLM server could not be reached
        return APIError(503, f"{type(exc).__name__}: {exc}", type="server_error", code="backend_unavailable")
    code = "adapter_unavailable" if isinstance(exc, AdapterLoadError) else "generation_failed"
    return APIError(503 if isinstance(exc, AdapterLoadError) else 500, f"{type(exc).__name__}: {exc}",
                    type="server_error", code=code)


def add_routes(app, state: ServerState) -> None:
    """Declare the public routes on `app` (after its route_class is set), served from `state`."""
    config = state.config

    async def begin(request: Request, prefix: str, model, endpoint: str):
        rid = f"{prefix}-{uuid.uuid4().hex[:24]}"
        request.state.request_id = rid
        if config.serve.chat_requires_key:
            check_key(config, request, admin=False)
        req = await parse(config, request, model, endpoint)
        request.state.chat = req
        if not state.known(req.model):
            raise APIError(404, f"the model {req.model!r} does not exist: no such character (GET /v1/models)",
                           param="model", code="model_not_found")
        return rid, req

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        ts = _now()
        rid, req = await begin(request, "chatcmpl", ChatRequest, CHAT)
        for i, m in enumerate(req.messages):
            if len(m.text()) > config.serve.max_message_chars:
                raise APIError(400, f"messages.{i}.content is {len(m.text())} characters; the limit is "
                                    f"{config.serve.max_message_chars}", param=f"messages.{i}.content",
                               code="message_too_long")
        if not any(m.role == "user" and m.text().strip() for m in req.messages):
            raise APIError(400, "messages need at least one non-empty user message", param="messages",
                           code="invalid_value")
        max_tokens = req.max_completion_tokens or req.max_tokens or config.serve.max_tokens_default
        check_limits(config, req, max_tokens)
        info = config.characters.get(req.model)
        display = req.user_name or next((m.name for m in reversed(req.messages) if m.role == "user" and m.name),
                                        None) or config.serve.default_user_name
        c = Completion(CHAT, rid, ts, req, [prompt_messages(req, info, display)], max_tokens,
                       decoding(config, req), display)
        return await answer(c)

    @app.post("/v1/completions")
    async def completions(request: Request):
        ts = _now()
        rid, req = await begin(request, "cmpl", CompletionRequest, COMPLETIONS)
        prompts = req.prompts()
        for i, p in enumerate(prompts):
            if isinstance(p, str) and len(p) > config.serve.max_message_chars:
                raise APIError(400, f"prompt {i} is {len(p)} characters; the limit is "
                                    f"{config.serve.max_message_chars}", param="prompt", code="message_too_long")
        if not state.plain_prompts:
            raise APIError(400, "/v1/completions is served by the in-process engine only (serve.backend: engine); "
                                "with serve.backend vllm, call /v1/chat/completions", code="unsupported_endpoint")
        max_tokens = req.max_tokens or 16  # OpenAI's and vLLM's default for completions
        check_limits(config, req, max_tokens, len(prompts))
        return await answer(Completion(COMPLETIONS, rid, ts, req, prompts, max_tokens, decoding(config, req)))

    async def answer(c: Completion):
        """Route, generate the choices (one batch per prompt), log each, answer (streamed or not)."""
        req = c.req
        served = await state.route(req.model, req.user or "")
        info = config.characters.get(req.model)
        loop = asyncio.get_running_loop()
        deltas: asyncio.Queue | None = asyncio.Queue() if req.stream else None

        def on_text(index: int):
            def put(delta: str, entries: list | None = None) -> None:
                loop.call_soon_threadsafe(deltas.put_nowait, (index, delta, entries))
            return put

        try:  # the base is held from routing until its jobs are queued (then their count keeps it loaded)
            groups = c.jobs(served.spec, on_text if req.stream else None)
            jobs = [j for group in groups for j in group]
            futures = [asyncio.wrap_future(f) for group in groups for f in submit(served.batcher, group)]
        finally:
            served.release()
        model_name = served.model_name
        headers = {"x-lora-adapter": model_name, "x-lora-group": served.group, "x-lora-base": served.lease.base_id,
                   "x-request-id": c.rid}

        def finish(g, index: int) -> None:
            state.log_request(c.record(g, index, jobs[index], served, served.base_model, info))

        if not req.stream:
            try:
                gens = await asyncio.gather(*futures)
            except Exception as exc:  # noqa: BLE001
                raise failed(exc) from exc
            for i, g in enumerate(gens):
                finish(g, i)
            return JSONResponse(c.body(gens, model_name, served), headers=headers)

        def stream_failed(exc: Exception) -> APIError:
            err = failed(exc)
            state._log_error(c.rid, c.path, err.status, err.code, err.message,
                             adapter=model_name, character_id=req.model, group=served.group, user=req.user)
            return err

        return StreamingResponse(events(c, futures, deltas, chunk_writer(c, model_name), finish, stream_failed),
                                 media_type="text/event-stream", headers=headers)

    def submit(batcher, group: list) -> list:
        if len(group) == 1:
            return [batcher.submit(group[0])]
        return batcher.submit_many(group)  # the n choices of one prompt share a batch

    @app.get("/v1/models")
    async def models(request: Request):
        if config.serve.chat_requires_key:
            check_key(config, request, admin=False)
        routes = {r["character_id"]: r for r in state.registry.list_routes()}
        data = []
        for cid in sorted(set(config.characters) | set(routes)):
            r = routes.get(cid)
            data.append({"id": cid, "object": "model", "created": 0, "owned_by": "lora-lib",
                         "root": r["base_model"] if r else state.default_base,
                         "route": None if r is None else {k: r[k] for k in ("stable_version", "candidate_version",
                                                                            "rollout_percent", "category")}})
        return {"object": "list", "data": data}

    @app.post("/v1/feedback")
    async def feedback(request: Request):
        if config.serve.chat_requires_key:
            check_key(config, request, admin=False)
        fb: FeedbackRequest = await parse(config, request, FeedbackRequest)
        found = state.find_request(fb.id)
        if found is None:
            raise APIError(404, f"no completion with id {fb.id!r}", param="id", code="not_found")
        record = {"ts": _now(), "request_id": fb.id, "rating": fb.rating, "score": 1 if fb.rating == "up" else -1,
                  "comment": fb.comment, **found}
        append_request_log(state.feedback_log, record)
        return {"ok": True, "id": fb.id}

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", **state.bases.health()}  # base_model (the default), bases (loaded), totals

    @app.get("/metrics")
    async def metrics():
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(state.prom), media_type=CONTENT_TYPE_LATEST)

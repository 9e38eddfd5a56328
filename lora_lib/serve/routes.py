"""The public routes: POST /v1/chat/completions (streamed or not), GET /v1/models, POST /v1/feedback,
GET /healthz, GET /metrics (Prometheus)."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid

from fastapi import Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..engine import AdapterLoadError, Job, Sampling
from ..evaluate.gates import check_reply
from ..requestlog import append_request_log, user_ref
from .auth import check_key
from .prompt import fill_user, prompt_messages
from .schema import APIError, ChatRequest, FeedbackRequest, parse
from .state import ServerState, _now
from .streaming import chunk_writer, events

# The fields of one request-log line, as finish() below writes them (schema: lora_lib/requestlog.md).
LOG_FIELDS = ("ts", "request_id", "character_id", "adapter_version", "adapter", "route_owner", "group",
              "base_model", "user_ref", "latency_ms", "queue_ms", "batch_size", "prompt_tokens",
              "completion_tokens", "reply", "reply_chars", "gates", "messages", "stream", "finish_reason",
              "fallback", "sampling")


def failed(exc: Exception) -> APIError:
    if getattr(exc, "backend_unavailable", False):  # the vLLM server could not be reached
        return APIError(503, f"{type(exc).__name__}: {exc}", type="server_error", code="backend_unavailable")
    code = "adapter_unavailable" if isinstance(exc, AdapterLoadError) else "generation_failed"
    return APIError(503 if isinstance(exc, AdapterLoadError) else 500, f"{type(exc).__name__}: {exc}",
                    type="server_error", code=code)


def add_routes(app, state: ServerState) -> None:
    """Declare the public routes on `app` (after its route_class is set), served from `state`."""
    config = state.config

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        start = time.perf_counter()
        ts = _now()
        rid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        request.state.request_id = rid
        if config.serve.chat_requires_key:
            check_key(config, request, admin=False)
        req: ChatRequest = await parse(config, request, ChatRequest)
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

        chunk = chunk_writer(rid, created, model_name)

        def stream_failed(exc: Exception) -> APIError:
            err = failed(exc)
            state._log_error(rid, "/v1/chat/completions", err.status, err.code, err.message,
                             adapter=model_name, character_id=cid, group=served.group, user=req.user)
            return err

        return StreamingResponse(events(future, deltas, display, chunk, finish, stream_failed),
                                 media_type="text/event-stream", headers=headers)

    @app.get("/v1/models")
    async def models(request: Request):
        if config.serve.chat_requires_key:
            check_key(config, request, admin=False)
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
        backend = state.engine.health() if hasattr(state.engine, "health") else {"backend": "engine"}
        return {"status": "ok", "base_model": state.engine.base_model, "loaded_adapters": state.engine.loaded,
                "batches": state.batcher.batches, "batched_rows": state.batcher.rows,
                "engine_busy_s": round(state.batcher.busy_s, 3), **backend}

    @app.get("/metrics")
    async def metrics():
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(state.prom), media_type=CONTENT_TYPE_LATEST)

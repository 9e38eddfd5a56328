"""Streaming (SSE) of a chat completion: OpenAI's chat.completion.chunk lines, ending with `data: [DONE]`."""

from __future__ import annotations

import asyncio
import json

from .prompt import UserFiller


def chunk_writer(rid: str, created: int, model_name: str):
    """`chunk(delta, finish_reason, usage)` -> one `data: <chat.completion.chunk>` line of this completion."""

    def chunk(delta: dict, finish_reason: str | None = None, usage: dict | None = None) -> str:
        body = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model_name,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}]}
        if usage is not None:
            body["usage"] = usage
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    return chunk


async def events(future, deltas: asyncio.Queue, display: str, chunk, finish, failed):
    """The SSE lines of one streamed completion: the role chunk, text deltas as `deltas` receives them
    ({{user}} filled), then the last chunk with usage and `[DONE]`; a failure after the headers is sent
    in-band as the error body (`failed(exc)` maps and logs it)."""
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
        err = failed(exc)  # logged there
        yield f"data: {json.dumps(err.body(), ensure_ascii=False)}\n\n"
        return
    finish(g)
    yield chunk({}, g.finish_reason, {"prompt_tokens": g.prompt_tokens,
                                      "completion_tokens": g.completion_tokens,
                                      "total_tokens": g.prompt_tokens + g.completion_tokens})
    yield "data: [DONE]\n\n"

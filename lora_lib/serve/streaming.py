"""Streaming (SSE) of a completion, chat or plain: OpenAI's chat.completion.chunk / text_completion lines
for each choice as its tokens are generated, ending with `data: [DONE]`."""

from __future__ import annotations

import asyncio
import json

from .completion import Completion
from .prompt import UserFiller


def chunk_writer(c: Completion, model_name: str):
    """`chunk(index, text, entries, finish_reason, usage, role)` -> one `data: <chunk>` line of choice `index`."""
    offsets: dict[int, int] = {}  # completions: text_offset of each choice's next token

    def chunk(index: int, text: str | None = None, entries: list | None = None, finish_reason: str | None = None,
              usage: dict | None = None, role: bool = False) -> str:
        logprobs = c.logprobs(entries, offsets.get(index, 0)) if entries else None
        if c.chat:
            delta = {"role": "assistant", "content": ""} if role else ({"content": text} if text is not None else {})
            choice = {"index": index, "delta": delta, "finish_reason": finish_reason, "logprobs": logprobs}
        else:
            choice = {"index": index, "text": text or "", "finish_reason": finish_reason, "logprobs": logprobs}
            offsets[index] = offsets.get(index, 0) + sum(len(e["token"]) for e in entries or [])
        body = {"id": c.rid, "object": "chat.completion.chunk" if c.chat else "text_completion",
                "created": c.created, "model": model_name, "choices": [choice]}
        if usage is not None:
            body["usage"] = usage
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    return chunk


async def events(c: Completion, futures: list[asyncio.Future], deltas: asyncio.Queue, chunk, finish, failed):
    """The SSE lines of one streamed completion: (chat) a role chunk per choice, text deltas with their
    logprobs as `deltas` receives them as (index, text, entries) ({{user}} filled in chat), then each
    choice's last chunk when it ends (the last one with usage) and `[DONE]`; a failure after the headers
    is sent in-band as the error body (`failed(exc)` maps and logs it). A choice's end is queued after
    its deltas (the worker thread queues them before it sets the result), so none is lost."""
    fillers = [UserFiller(c.display) if c.chat else None for _ in futures]
    if c.chat:
        for i in range(len(futures)):
            yield chunk(i, role=True)
    for i, f in enumerate(futures):
        f.add_done_callback(lambda _f, i=i: deltas.put_nowait((i, None, None)))
    gens: list = [None] * len(futures)
    left = len(futures)
    while left:
        i, text, entries = await deltas.get()
        if text is not None:
            text = fillers[i].feed(text) if fillers[i] else text
            if text or entries:
                yield chunk(i, text, entries)
            continue
        left -= 1
        rest = fillers[i].flush() if fillers[i] else ""
        if rest:
            yield chunk(i, rest)
        try:
            g = futures[i].result()
        except Exception as exc:  # noqa: BLE001 - headers are sent: report in-band, log it
            err = failed(exc)  # logged there
            yield f"data: {json.dumps(err.body(), ensure_ascii=False)}\n\n"
            return
        finish(g, i)
        gens[i] = g
        yield chunk(i, finish_reason=g.finish_reason, usage=c.usage(gens) if not left else None)
    yield "data: [DONE]\n\n"

"""The OpenAI parameters on the vLLM backend (pure protocol functions; no vLLM here): what is forwarded."""

from __future__ import annotations

import json

from lora_lib.engine import Job, Sampling
from lora_lib.serve.vllm_protocol import StreamState, chat_body, parse_chat_response

HI = [{"role": "user", "content": "안녕"}]
ENTRY = {"token": "안", "logprob": -0.1, "bytes": [236, 149, 136], "top_logprobs": []}


def test_decoding_is_forwarded_only_when_asked_for():
    plain = chat_body(Job(HI, None, 8), "base")
    assert not {"stop", "presence_penalty", "frequency_penalty", "repetition_penalty", "logprobs"} & set(plain)
    s = Sampling(stop=("!", "?"), presence_penalty=0.5, frequency_penalty=-0.25, repetition_penalty=1.3, logprobs=2)
    body = chat_body(Job(HI, None, 8, sampling=s), "nabi@v1")
    assert (body["stop"], body["presence_penalty"], body["frequency_penalty"], body["repetition_penalty"],
            body["logprobs"], body["top_logprobs"]) == (["!", "?"], 0.5, -0.25, 1.3, True, 2)


def test_logprobs_come_back_streamed_and_not():
    g = parse_chat_response({"choices": [{"message": {"content": "안"}, "finish_reason": "stop",
                                          "logprobs": {"content": [ENTRY]}}],
                             "usage": {"prompt_tokens": 3, "completion_tokens": 1}}, 1.0)
    assert g.logprobs == [ENTRY]
    calls = []
    first = {"choices": [{"index": 0, "delta": {"content": "안"}, "logprobs": {"content": [ENTRY]}}]}
    lines = [f"data: {json.dumps(first)}",
             'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}',
             'data: {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}', "data: [DONE]"]
    state = StreamState().feed_lines(lines, lambda *a: calls.append(a))
    assert calls == [("안", [ENTRY])] and state.result(1.0).logprobs == [ENTRY]

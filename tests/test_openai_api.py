"""The OpenAI API as real clients use it: each supported parameter through the real `openai` client,
streamed and not, /v1/completions, and a walk over the parameter table (every refused one gets its 400).

The server is test_api's (test-size base model, synthetic adapters: nabi v1 stable, bori v1 stable)."""
# ruff: noqa: F811 - the tests take test_api's `served` fixture, imported below, as their argument

from __future__ import annotations

import httpx
import openai
import pytest

from lora_lib.engine import Sampling
from lora_lib.requestlog import read_request_log
from lora_lib.serve.openai_params import CHAT, COMPLETIONS, PARAMS

from .test_api import HI, served  # noqa: F401

LONG = {"extra_body": {"ignore_eos": True}}  # replies of exactly max_tokens: something to stop, penalize


def text_of(chunks) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def raw(ask: dict, **more) -> dict:
    """The JSON body the openai client sends for these arguments (extra_body merged in)."""
    body = {k: v for k, v in ask.items() if k != "extra_body"}
    return {**body, **ask.get("extra_body", {}), **more}


def log_rows(cfg, rid):
    df, problems = read_request_log(cfg.store / "serve" / "request_log.jsonl")
    assert problems == []
    return df[df["request_id"] == rid].sort_values("choice_index")


def test_stop_string_across_stream_chunks_is_never_sent(served):
    srv, client, reg, cfg = served
    ask = {"model": "nabi", "messages": HI, "max_tokens": 16, **LONG}
    pieces = [c.choices[0].delta.content for c in client.chat.completions.create(**ask, stream=True)
              if c.choices and c.choices[0].delta.content]
    full = "".join(pieces)
    # A stop string made of the end of one streamed chunk and the start of the next, first seen there.
    at, stop = next((len("".join(pieces[: j + 1])), pieces[j][-1] + pieces[j + 1][0])
                    for j in range(len(pieces) - 1)
                    if full.find(pieces[j][-1] + pieces[j + 1][0]) == len("".join(pieces[: j + 1])) - 1)
    expected = full[: at - 1].strip()
    r = client.chat.completions.create(**ask, stop=[stop, "never-there"])
    assert r.choices[0].message.content == expected and r.choices[0].finish_reason == "stop"
    chunks = list(client.chat.completions.create(**ask, stop=stop, stream=True))
    sent = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert "".join(sent) == expected and all(stop not in s for s in sent)
    assert stop[0] not in "".join(sent)[len(expected.rstrip()):]  # not even its first half
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert log_rows(cfg, r.id)["decoding"].item()["stop"] == [stop, "never-there"]
    bad = httpx.post(f"{srv.url}/v1/chat/completions", json=raw(ask, stop=["a", "b", "c", "d", "e"]))
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "stop"


def test_seed_temperature_top_p_and_n_choices_in_one_batch(served):
    srv, client, reg, cfg = served
    ask = {"model": "bori", "messages": HI, "max_tokens": 6, "temperature": 1.5, "top_p": 0.95, **LONG}
    one = [client.chat.completions.create(**ask, seed=s).choices[0].message.content for s in (7, 8, 9)]
    assert client.chat.completions.create(**ask, seed=7).choices[0].message.content == one[0]  # same seed, same reply
    r = client.chat.completions.create(**ask, seed=7, n=3)
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert [c.message.content for c in r.choices] == one  # choice i used seed 7 + i, logged
    rows = log_rows(cfg, r.id)
    assert [s["seed"] for s in rows["sampling"]] == [7, 8, 9] and set(rows["n"]) == {3}
    assert min(rows["batch_size"]) >= 3  # the three choices were one generate() call
    assert r.usage.completion_tokens == 18
    chunks = list(client.chat.completions.create(**ask, seed=7, n=3, stream=True))
    streamed = ["".join(c.choices[0].delta.content or "" for c in chunks if c.choices and c.choices[0].index == i)
                for i in range(3)]
    assert streamed == one
    assert sorted(c.choices[0].index for c in chunks if c.choices and c.choices[0].finish_reason) == [0, 1, 2]
    assert chunks[-1].usage.completion_tokens == 18
    greedy = client.chat.completions.create(model="bori", messages=HI, max_tokens=6, n=2)
    assert greedy.choices[0].message.content == greedy.choices[1].message.content  # temperature 0: greedy
    assert httpx.post(f"{srv.url}/v1/chat/completions", json=raw(ask, n=99)).json()["error"]["param"] == "n"


def test_logprobs_match_a_separate_forward_pass_streamed_and_not(served):
    import torch

    srv, client, reg, cfg = served
    engine = srv.app.state.serve.pool.get(srv.app.state.serve.default_base)[0]
    ask = {"model": "nabi", "messages": HI, "max_tokens": 5, "logprobs": True, "top_logprobs": 2, **LONG}
    r = client.chat.completions.create(**ask)
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens == 5
    for e in content:
        assert len(e.top_logprobs) == 2 and e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob
        assert (e.token, e.logprob) == (e.top_logprobs[0].token, e.top_logprobs[0].logprob)  # greedy
        assert e.bytes == list(e.token.encode("utf-8"))
    assert "".join(e.token for e in content).strip() == r.choices[0].message.content
    # The same numbers from one plain forward pass over prompt + reply with the same adapter.
    rows = log_rows(cfg, r.id)
    prompt = engine.tokenizer.apply_chat_template(rows["messages"].item(), tokenize=False, add_generation_prompt=True)
    ids = engine.tokenizer(prompt, add_special_tokens=False).input_ids
    reply = engine.tokenizer([e.token for e in content], add_special_tokens=False).input_ids
    full = torch.tensor([ids + [t for tok in reply for t in tok]])
    with torch.inference_mode():
        logits = engine.model(input_ids=full, adapter_names=["nabi@v1"]).logits[0]
    ref = torch.log_softmax(logits.float(), -1)[len(ids) - 1:-1].gather(1, full[0, len(ids):, None])[:, 0]
    assert torch.allclose(ref, torch.tensor([e.logprob for e in content]), atol=1e-3)
    chunks = list(client.chat.completions.create(**ask, stream=True))
    streamed = [e for c in chunks if c.choices and c.choices[0].logprobs for e in c.choices[0].logprobs.content]
    assert [(e.token, round(e.logprob, 4)) for e in streamed] == [(e.token, round(e.logprob, 4)) for e in content]
    plain = client.completions.create(model="nabi", prompt="안녕", max_tokens=4, logprobs=2, **LONG)
    lp = plain.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == 4
    # {token text: logprob}: two top tokens that decode alike (partial UTF-8: "\ufffd") share a key
    assert all(1 <= len(t) <= 2 for t in lp.top_logprobs) and lp.text_offset[0] == 0
    sp = [c.choices[0].logprobs for c in client.completions.create(model="nabi", prompt="안녕", max_tokens=4, logprobs=2,
                                                                   stream=True, **LONG) if c.choices[0].logprobs]
    assert [t for x in sp for t in x.tokens] == lp.tokens
    assert [o for x in sp for o in x.text_offset] == lp.text_offset
    no = httpx.post(f"{srv.url}/v1/chat/completions", json=raw(ask, logprobs=False))
    assert no.status_code == 400 and no.json()["error"]["param"] == "top_logprobs"


def test_penalties_match_the_engine_streamed_and_not(served):
    srv, client, reg, cfg = served
    engine = srv.app.state.serve.pool.get(srv.app.state.serve.default_base)[0]
    ask = {"model": "nabi", "messages": HI, "max_tokens": 24}
    plain = client.chat.completions.create(**ask, **LONG).choices[0].message.content
    cases = [{"presence_penalty": 1.5}, {"frequency_penalty": 2.0}, {"repetition_penalty": 1.8},
             {"presence_penalty": -0.5, "frequency_penalty": 0.7, "repetition_penalty": 1.2}]
    changed = 0
    for case in cases:
        extra = {"ignore_eos": True, **({"repetition_penalty": case["repetition_penalty"]}
                                        if "repetition_penalty" in case else {})}
        openai_args = {k: v for k, v in case.items() if k != "repetition_penalty"}
        r = client.chat.completions.create(**ask, **openai_args, extra_body=extra)
        text = r.choices[0].message.content
        chunks = list(client.chat.completions.create(**ask, **openai_args, extra_body=extra, stream=True))
        assert text_of(chunks) == text
        row = log_rows(cfg, r.id)
        assert {k: row["decoding"].item()[k] for k in case} == case
        ref = engine.generate(list(row["messages"]), "nabi@v1", max_new_tokens=24, ignore_eos=True,
                              sampling=Sampling(**case))[0]
        assert text == ref.text  # the server applied exactly the engine's penalties
        changed += text != plain
    assert changed >= 3  # and they do something
    for bad in ({"presence_penalty": 3}, {"frequency_penalty": -2.5}, {"repetition_penalty": 0}):
        r = httpx.post(f"{srv.url}/v1/chat/completions", json={**ask, **bad})
        assert r.status_code == 400 and r.json()["error"]["param"] == next(iter(bad))


def test_max_completion_tokens_user_name_and_stream_options(served):
    srv, client, reg, cfg = served
    ask = {"model": "nabi", "messages": [{"role": "user", "content": "{{user}} 안녕?"}], "user": "carol", **LONG}
    both = client.chat.completions.create(**ask, max_tokens=9, max_completion_tokens=3)
    assert both.usage.completion_tokens == 3 and both.choices[0].finish_reason == "length"  # the newer name wins
    assert client.chat.completions.create(**ask, max_tokens=2).usage.completion_tokens == 2
    chunks = list(client.chat.completions.create(**ask, max_completion_tokens=3, stream=True,
                                                 stream_options={"include_usage": True}))
    assert chunks[-1].usage.completion_tokens == 3 and text_of(chunks) == both.choices[0].message.content
    named = client.chat.completions.create(model="nabi", messages=ask["messages"], max_tokens=2,
                                           extra_body={"user_name": "민지"})
    row = log_rows(cfg, named.id)
    assert row["messages"].item()[-1]["content"] == "민지 안녕?" and row["endpoint"].item() == "/v1/chat/completions"
    assert named.model == "nabi@v1"


def test_completions_plain_prompt_streamed_and_not(served):
    srv, client, reg, cfg = served
    engine = srv.app.state.serve.pool.get(srv.app.state.serve.default_base)[0]
    r = client.completions.create(model="nabi", prompt="오늘 날씨가", max_tokens=6, stop=["\n"], user="dave")
    assert r.object == "text_completion" and r.model == "nabi@v1"
    ref = engine.generate(["오늘 날씨가"], "nabi@v1", max_new_tokens=6, sampling=Sampling(stop=("\n",)))[0]
    assert r.choices[0].text == ref.text and r.usage.prompt_tokens == ref.prompt_tokens  # no chat template
    chunks = list(client.completions.create(model="nabi", prompt="오늘 날씨가", max_tokens=6, stop=["\n"], stream=True))
    assert "".join(c.choices[0].text for c in chunks) == r.choices[0].text
    assert chunks[-1].choices[0].finish_reason == r.choices[0].finish_reason
    many = client.completions.create(model="bori", prompt=["안녕", "배고파"], max_tokens=3, n=2, **LONG)
    assert [c.index for c in many.choices] == [0, 1, 2, 3] and many.choices[0].text == many.choices[1].text
    ids = engine.tokenizer("배고파").input_ids  # token ids (lm-eval's tokenized_requests) answer the same
    by_ids = client.completions.create(model="bori", prompt=ids, max_tokens=3, **LONG)
    assert by_ids.choices[0].text == many.choices[2].text
    rows = log_rows(cfg, r.id)
    assert rows["endpoint"].item() == "/v1/completions" and rows["prompt"].item() == "오늘 날씨가"
    assert rows["messages"].item() is None and rows["adapter"].item() == "nabi@v1"
    assert client.completions.create(model="seonbi", prompt="안녕", max_tokens=1).model == "seonbi@base"
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="nobody", prompt="안녕")


def test_every_refused_parameter_gets_its_400(served):
    srv, client, reg, cfg = served
    bodies = {CHAT: ("/v1/chat/completions", {"model": "nabi", "messages": HI, "max_tokens": 1}),
              COMPLETIONS: ("/v1/completions", {"model": "nabi", "prompt": "안녕", "max_tokens": 1})}
    with httpx.Client(base_url=srv.url, timeout=60) as http:
        for p in PARAMS:
            for endpoint, (path, body) in bodies.items():
                if p.supported and endpoint in p.endpoints:
                    continue
                r = http.post(path, json={**body, p.name: p.example if p.example is not None else "x"})
                assert r.status_code == 400, (p.name, endpoint, r.text)
                err = r.json()["error"]
                assert (err["param"], err["code"], err["type"]) == (p.name, "unsupported_parameter",
                                                                  "invalid_request_error"), err
                assert p.name in err["message"]
                if endpoint in p.endpoints:
                    for value in p.noop:  # a value that asks for nothing is served
                        assert http.post(path, json={**body, p.name: value}).status_code == 200, (p.name, value)
        r = http.post("/v1/chat/completions", json={**bodies[CHAT][1], "temprature": 0.5})
        assert r.status_code == 400 and "unknown parameter 'temprature'" in r.json()["error"]["message"]
    with pytest.raises(openai.BadRequestError, match="tools"):
        client.chat.completions.create(model="nabi", messages=HI, tools=[PARAMS_BY["tools"].example[0]])
    with pytest.raises(openai.BadRequestError, match="response_format"):
        client.chat.completions.create(model="nabi", messages=HI, response_format={"type": "json_object"})


PARAMS_BY = {p.name: p for p in PARAMS}

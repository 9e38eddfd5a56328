"""The vLLM backend, tested only where it can be without vLLM (no GPU and no vLLM on this machine).

Nothing here imitates a vLLM server. The pure functions get payloads in the shapes vLLM's source
writes (cited per payload); the server tests check our own side: the backend is picked from config
without contacting anything, and with nothing listening at serve.vllm_url a request fails with a
clear OpenAI-style 503 naming that URL, while the server keeps serving.
"""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from lora_lib.cli import parse_sets
from lora_lib.config import ConfigError
from lora_lib.engine import AdapterLoadError, AdapterSpec, Job, Sampling
from lora_lib.registry import Registry
from lora_lib.serve.api import ServerState, ServerThread, create_app, free_port, load_serve_config
from lora_lib.serve.vllm_backend import VllmBackend, choose_evictions
from lora_lib.serve.vllm_protocol import (
    StreamState,
    VllmError,
    chat_body,
    chat_error,
    load_body,
    load_outcome,
    parse_chat_response,
    parse_sse_line,
    unload_body,
    unload_outcome,
)

HI = [{"role": "system", "content": "너는 나비야."}, {"role": "user", "content": "안녕?"}]
URL = "http://gpu-host:8000"

# ---- request bodies -----------------------------------------------------------------------------------


def test_load_and_unload_bodies_are_vllms_documented_shape():
    # vLLM docs/source/features/lora.md, "Dynamically serving LoRA Adapters":
    # curl -X POST .../v1/load_lora_adapter -d '{"lora_name": "sql_adapter", "lora_path": "/path/to/sql-lora-adapter"}'
    # curl -X POST .../v1/unload_lora_adapter -d '{"lora_name": "sql_adapter"}'
    assert load_body("nabi@v2", "/store/adapters/nabi/v2") == {"lora_name": "nabi@v2",
                                                               "lora_path": "/store/adapters/nabi/v2"}
    assert unload_body("nabi@v2") == {"lora_name": "nabi@v2"}


def test_chat_body_greedy_sampled_streamed_and_base():
    spec = AdapterSpec("nabi@v2", "/a", "0" * 64)
    greedy = chat_body(Job(HI, spec, 24), "nabi@v2")
    assert greedy == {"model": "nabi@v2", "messages": HI, "max_tokens": 24, "temperature": 0.0}

    sampled = chat_body(Job(HI, spec, 8, ignore_eos=True, sampling=Sampling(0.7, 0.9, 42)), "nabi@v2")
    # seed / top_p / temperature: OpenAI fields; ignore_eos: vLLM's sampling extra (ChatCompletionRequest)
    assert sampled == {"model": "nabi@v2", "messages": HI, "max_tokens": 8, "temperature": 0.7, "top_p": 0.9,
                       "seed": 42, "ignore_eos": True}

    streamed = chat_body(Job(HI, None, 4, on_text=lambda d: None), "/models/base")
    assert streamed["model"] == "/models/base" and streamed["stream"] is True
    assert streamed["stream_options"] == {"include_usage": True}  # token counts in the last chunk
    assert "seed" not in streamed and "top_p" not in streamed  # greedy: nothing to seed
    json.dumps(sampled)  # plain JSON


# ---- responses ----------------------------------------------------------------------------------------

# A non-streamed answer as vLLM serializes ChatCompletionResponse (vllm/entrypoints/openai/
# chat_completion/protocol.py: choices[].message/logprobs/finish_reason/stop_reason, usage, prompt_logprobs).
CHAT_RESPONSE = {
    "id": "chatcmpl-7f3e", "object": "chat.completion", "created": 1764200000, "model": "nabi@v2",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": " 안녕! 오늘 뭐 했어?\n", "refusal": None,
                                         "annotations": None, "audio": None, "function_call": None,
                                         "tool_calls": [], "reasoning_content": None},
                 "logprobs": None, "finish_reason": "length", "stop_reason": None}],
    "service_tier": None, "system_fingerprint": None,
    "usage": {"prompt_tokens": 31, "total_tokens": 43, "completion_tokens": 12, "prompt_tokens_details": None},
    "prompt_logprobs": None, "kv_transfer_params": None,
}


def test_parse_chat_response():
    g = parse_chat_response(CHAT_RESPONSE, 12.5)
    assert (g.text, g.prompt_tokens, g.completion_tokens, g.finish_reason, g.batch_size, g.latency_ms) == \
        ("안녕! 오늘 뭐 했어?", 31, 12, "length", 1, 12.5)
    stop = {**CHAT_RESPONSE, "choices": [{**CHAT_RESPONSE["choices"][0], "finish_reason": "stop"}]}
    assert parse_chat_response(stop, 1).finish_reason == "stop"
    with pytest.raises(VllmError, match="usage"):
        parse_chat_response({**CHAT_RESPONSE, "usage": None}, 1)
    with pytest.raises(VllmError, match="choices"):
        parse_chat_response({"choices": []}, 1)


# A streamed answer as chat_completion_stream_generator writes it (vllm/entrypoints/openai/serving_chat.py):
# a first chunk with the role and content "", content deltas, the finish chunk, then with
# stream_options.include_usage a chunk with choices=[] and usage, then [DONE].
STREAM = """data: {"id":"chatcmpl-7f3e","object":"chat.completion.chunk","created":1764200000,"model":"nabi@v2","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-7f3e","object":"chat.completion.chunk","created":1764200000,"model":"nabi@v2","choices":[{"index":0,"delta":{"content":" 안녕"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-7f3e","object":"chat.completion.chunk","created":1764200000,"model":"nabi@v2","choices":[{"index":0,"delta":{"content":"! "},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-7f3e","object":"chat.completion.chunk","created":1764200000,"model":"nabi@v2","choices":[{"index":0,"delta":{"content":"오늘 뭐 했어?\\n"},"logprobs":null,"finish_reason":"stop","stop_reason":null}]}

data: {"id":"chatcmpl-7f3e","object":"chat.completion.chunk","created":1764200000,"model":"nabi@v2","choices":[],"usage":{"prompt_tokens":31,"total_tokens":40,"completion_tokens":9}}

data: [DONE]

"""


def test_stream_lines_become_deltas_and_a_generation():
    deltas = []
    g = StreamState().feed_lines(STREAM.splitlines(), deltas.append).result(3.0)
    # the deltas add up to the stripped reply (leading space dropped, trailing space held until text follows)
    assert deltas == ["안녕", "!", " 오늘 뭐 했어?"] and "".join(deltas) == g.text == "안녕! 오늘 뭐 했어?"
    assert (g.prompt_tokens, g.completion_tokens, g.finish_reason) == (31, 9, "stop")
    assert parse_sse_line("") is None and parse_sse_line(": keep-alive") is None


def test_stream_truncated_or_without_usage_or_with_in_band_error_fails():
    lines = [parse_sse_line(x) for x in STREAM.splitlines() if x.startswith("data: {")]
    cut = StreamState()
    for ev in lines[:3]:
        cut.feed(ev)
    with pytest.raises(VllmError, match="DONE"):
        cut.result(1)  # connection dropped mid-reply: never a partial "success"
    no_usage = StreamState()
    for ev in lines[:4]:
        no_usage.feed(ev)
    no_usage.done = True
    with pytest.raises(VllmError, match="usage"):
        no_usage.result(1)
    # create_streaming_error_response: data: {"error": {"message", "type", "param", "code"}}
    err = parse_sse_line('data: {"error": {"message": "prompt too long", "type": "BadRequestError", '
                         '"param": null, "code": 400}}')
    with pytest.raises(VllmError, match="prompt too long") as info:
        StreamState().feed(err)
    assert info.value.status == 400
    with pytest.raises(VllmError, match="not JSON"):
        parse_sse_line("data: {oops")


# ---- errors -------------------------------------------------------------------------------------------

# OpenAIServingModels._check_load_lora_adapter_request (vllm/entrypoints/openai/models/serving.py; older
# versions: serving_models.py with the flat ErrorResponse {"object": "error", "message", "type", "param", "code"}).
ALREADY_NEW = {"error": {"message": "The lora adapter 'nabi@v2' has already been loaded. If you want to load the "
                                    "adapter in place, set 'load_inplace' to True.",
                         "type": "InvalidUserInput", "param": None, "code": 400}}
ALREADY_OLD = {"object": "error", "message": "The lora adapter 'nabi@v2' has already been loaded.",
               "type": "InvalidUserInput", "param": None, "code": 400}


def test_load_outcomes():
    assert load_outcome(200, "Success: LoRA adapter 'nabi@v2' added successfully.", "nabi@v2", URL) is True
    assert load_outcome(400, ALREADY_NEW, "nabi@v2", URL) is False  # immutable names: same weights
    assert load_outcome(400, json.dumps(ALREADY_OLD), "nabi@v2", URL) is False
    not_found = {"error": {"message": "Loading lora nabi@v2 failed: No adapter found for /x", "type": "NotFoundError",
                           "param": None, "code": 404}}
    with pytest.raises(AdapterLoadError, match=r"nabi@v2: vLLM at http://gpu-host:8000 refused .*No adapter found"):
        load_outcome(404, not_found, "nabi@v2", URL)
    rank = {"object": "error", "message": "LoRA rank 64 is greater than max_lora_rank 16.", "type": "BadRequestError",
            "param": None, "code": 400}
    with pytest.raises(AdapterLoadError, match="max_lora_rank"):
        load_outcome(400, rank, "nabi@v2", URL)
    # without VLLM_ALLOW_RUNTIME_LORA_UPDATING the route is missing: FastAPI's {"detail": "Not Found"}
    with pytest.raises(AdapterLoadError, match="VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"):
        load_outcome(404, {"detail": "Not Found"}, "nabi@v2", URL)


def test_unload_and_chat_errors():
    assert unload_outcome(200, "Success: LoRA adapter 'nabi@v1' removed successfully.", "nabi@v1", URL) is True
    gone = {"error": {"message": "The lora adapter 'nabi@v1' cannot be found.", "type": "NotFoundError",
                      "param": None, "code": 404}}
    assert unload_outcome(404, gone, "nabi@v1", URL) is False
    with pytest.raises(VllmError, match="Failed to remove"):
        unload_outcome(500, {"error": {"message": "Failed to remove lora adapter 'nabi@v1' from the engine.",
                                       "type": "InternalServerError", "param": None, "code": 500}}, "nabi@v1", URL)
    # OpenAIModelRegistry.check_model: a model (adapter) vLLM does not serve -> reload once and retry
    lost = chat_error(404, {"error": {"message": "The model `nabi@v2` does not exist.", "type": "NotFoundError",
                                      "param": "model", "code": 404}}, URL, "nabi@v2")
    assert lost.unknown_model and lost.status == 404 and URL in str(lost) and "serve.vllm_model" in str(lost)
    too_long = chat_error(400, ALREADY_OLD | {"message": "This model's maximum context length is 2048 tokens."},
                          URL, "nabi@v2")
    assert not too_long.unknown_model and "maximum context length" in str(too_long)
    assert "Bad Gateway" in str(chat_error(502, "Bad Gateway", URL, "base"))


def test_choose_evictions_lru_skips_the_new_and_the_busy():
    lru = ["a@1", "b@1", "c@1", "d@1"]  # least recently used first; d@1 just loaded
    assert choose_evictions(lru, 4, [], keep="d@1") == []
    assert choose_evictions(lru, 2, [], keep="d@1") == ["a@1", "b@1"]
    assert choose_evictions(lru, 2, ["a@1"], keep="d@1") == ["b@1", "c@1"]
    assert choose_evictions(lru, 1, ["a@1", "b@1", "c@1"], keep="d@1") == []  # all busy: stay over capacity


# ---- config and the real server -----------------------------------------------------------------------

def test_backend_vllm_without_url_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"serve\.vllm_url is required"):
        load_serve_config(tmp_path, "params", parse_sets(["serve.backend=vllm"]))
    with pytest.raises(ConfigError, match="serve.backend"):
        load_serve_config(tmp_path, "params", parse_sets(["serve.backend=tgi"]))
    with pytest.raises(ConfigError, match="serve.vllm_url"):
        VllmBackend("/models/base", None)
    cfg = load_serve_config(tmp_path, "params", parse_sets(["serve.backend=vllm", f"serve.vllm_url={URL}"]))
    assert (cfg.serve.backend, cfg.serve.vllm_url, cfg.serve.vllm_model) == ("vllm", URL, None)


def _vllm_store(tmp_path, url: str, weights: bytes = b"not really safetensors"):
    """A store with nabi v1 routed (its weights file is only hashed here; nothing loads it)."""
    cfg = load_serve_config(tmp_path, "params", parse_sets(["serve.backend=vllm", f"serve.vllm_url={url}"]),
                            api_key="k")
    adapter = tmp_path / "adapters" / "nabi" / "v1"
    adapter.mkdir(parents=True)
    (adapter / "adapter_model.safetensors").write_bytes(weights)
    reg = Registry(cfg.registry_url)
    reg.register_adapter(character_id="nabi", version="v1", path=str(adapter), base_model=cfg.base_model,
                         dataset_version="ds", status="approved", actor="test")
    reg.set_route("nabi", base_model=cfg.base_model, stable_version="v1", actor="test")
    return cfg, adapter


def test_server_state_picks_vllm_without_contacting_it(tmp_path):
    # A listening socket that nobody answers: had construction (or preload) connected, the
    # kernel would hold an accepted connection for it (TCP completes the handshake on listen).
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        cfg = load_serve_config(tmp_path, "params", parse_sets(
            ["serve.backend=vllm", f"serve.vllm_url=http://127.0.0.1:{sock.getsockname()[1]}"]))
        state = ServerState(cfg)  # no routes in this store: nothing to preload
        try:
            assert state.pool.loaded_bases() == [] and state.preloaded == []
            engine, batcher = state.pool.get(cfg.base_model)  # a VllmBackend: building it contacts nothing
            assert isinstance(engine, VllmBackend) and batcher is engine
            assert engine.base_model == cfg.base_model and engine.served_model == cfg.base_model
            assert engine.loaded == []
            with pytest.raises(BlockingIOError):
                sock.accept()
        finally:
            state.pool.close()


def test_modified_weights_are_refused_before_asking_vllm(tmp_path):
    cfg, adapter = _vllm_store(tmp_path, f"http://127.0.0.1:{free_port()}")
    backend = VllmBackend(cfg.base_model, cfg.serve.vllm_url)
    try:
        sha = Registry(cfg.registry_url).get_adapter("nabi", "v1")["sha256"]
        (adapter / "adapter_model.safetensors").write_bytes(b"tampered")
        with pytest.raises(AdapterLoadError, match="refusing modified weights"):
            backend.load_adapter("nabi@v1", str(adapter), sha)
        assert backend.loaded == []
    finally:
        backend.close()


def test_server_with_vllm_unreachable_answers_503_naming_the_url(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    cfg, _ = _vllm_store(tmp_path, url)
    with ServerThread(create_app(cfg)) as srv:  # preload of nabi@v1 fails and is tolerated
        assert srv.app.state.serve.preloaded == []
        health = httpx.get(f"{srv.url}/healthz").json()
        assert health["backend"] == "vllm" and health["vllm_tested"] is False and health["vllm_url"] == url

        ask = {"messages": [{"role": "user", "content": "안녕?"}], "max_tokens": 4}
        routed = httpx.post(f"{srv.url}/v1/chat/completions", json={"model": "nabi", **ask}, timeout=30)
        assert routed.status_code == 503
        err = routed.json()["error"]
        assert err["code"] == "adapter_unavailable" and url in err["message"] and "nabi@v1" in err["message"]

        base = httpx.post(f"{srv.url}/v1/chat/completions", json={"model": "seonbi", **ask}, timeout=30)
        assert base.status_code == 503
        err = base.json()["error"]
        assert err["code"] == "backend_unavailable" and err["type"] == "server_error" and url in err["message"]

        with httpx.stream("POST", f"{srv.url}/v1/chat/completions", json={"model": "seonbi", "stream": True, **ask},
                          timeout=30) as r:
            events = [json.loads(x[6:]) for x in r.iter_lines() if x.startswith("data: {")]
        assert events[-1]["error"]["code"] == "backend_unavailable" and url in events[-1]["error"]["message"]

        assert httpx.get(f"{srv.url}/healthz").json()["status"] == "ok"  # still serving
    errors = [json.loads(x) for x in (cfg.store / "serve" / "request_errors.jsonl").read_text().splitlines()]
    assert {e["error_code"] for e in errors} >= {"adapter_load_failed", "adapter_unavailable", "backend_unavailable"}
    assert not (cfg.store / "serve" / "request_log.jsonl").exists()  # nothing logged as answered

"""The real server (uvicorn on 127.0.0.1, a free port) driven by the real `openai` client.

Adapters are synthetic (random LoRA weights on the test-size base model): routing, rollout,
rollback and logging do not depend on what an adapter learned. Generation is kept to a few tokens.
"""

from __future__ import annotations

import json
import shutil

import httpx
import openai
import pytest

from lora_lib.engine.synthetic import make_adapter
from lora_lib.registry import Registry
from lora_lib.requestlog import read_request_log, user_ref
from lora_lib.serve.api import ChatRequest, ServerThread, create_app, load_serve_config, prompt_messages
from lora_lib.serve.router import resolve

KEY = "test-admin-key"
HI = [{"role": "user", "content": "안녕? 오늘 뭐 했어?"}]


@pytest.fixture(scope="module")
def served(demo_store, tmp_path_factory):
    """A store with nabi v1 (stable), v2, v3 and bori v1 (stable), all approved."""
    store = tmp_path_factory.mktemp("serve")
    shutil.copytree(demo_store / "demo" / "base_model", store / "demo" / "base_model")
    cfg = load_serve_config(store, "params", api_key=KEY)
    reg = Registry(cfg.registry_url)
    for i, (cid, v) in enumerate([("nabi", "v1"), ("nabi", "v2"), ("nabi", "v3"), ("bori", "v1")]):
        d = make_adapter(cfg.base_model, store / "adapters" / cid / v, seed=i)
        reg.register_adapter(character_id=cid, version=v, path=str(d), base_model=cfg.base_model,
                             dataset_version="ds", status="approved", actor="test")
    reg.set_route("nabi", base_model=cfg.base_model, stable_version="v1", actor="test")
    reg.set_route("bori", base_model=cfg.base_model, stable_version="v1", actor="test")
    with ServerThread(create_app(cfg)) as srv:
        client = openai.OpenAI(base_url=f"{srv.url}/v1", api_key="unused", max_retries=0, timeout=60)
        yield srv, client, reg, cfg


def admin(srv, path: str, body: dict | None = None, key: str | None = KEY) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{srv.url}{path}", json=body or {}, headers=headers, timeout=30)


def test_chat_stream_models_and_request_log(served):
    srv, client, reg, cfg = served
    r = client.chat.completions.create(model="nabi", messages=HI, user="alice", max_tokens=4)
    assert r.model == "nabi@v1" and r.object == "chat.completion"
    assert r.choices[0].finish_reason in ("stop", "length") and r.usage.completion_tokens <= 4
    text = r.choices[0].message.content

    chunks = list(client.chat.completions.create(model="nabi", messages=HI, user="alice", max_tokens=4,
                                                 stream=True))
    assert {c.model for c in chunks} == {"nabi@v1"}
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text  # same greedy reply, delivered in pieces
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")

    base = client.chat.completions.create(model="seonbi", messages=HI, max_tokens=2)
    assert base.model == "seonbi@base"  # configured character without a route: base model alone
    assert {m.id for m in client.models.list().data} >= {"nabi", "bori", "seonbi"}

    fb = httpx.post(f"{srv.url}/v1/feedback", json={"id": r.id, "rating": "up"}).json()
    assert fb == {"ok": True, "id": r.id}
    assert httpx.post(f"{srv.url}/v1/feedback", json={"id": "chatcmpl-nope", "rating": "up"}).status_code == 404

    df, problems = read_request_log(cfg.store / "serve" / "request_log.jsonl")
    assert problems == []
    mine = df[df["request_id"].isin([r.id, chunks[0].id, base.id])]
    assert list(mine["adapter"]) == ["nabi@v1", "nabi@v1", "seonbi@base"]
    assert list(mine["stream"]) == [False, True, False]
    row = mine.iloc[0]
    assert row["user_ref"] == user_ref("alice") and row["group"] == "stable" and row["reply"] == text
    assert set(row["gates"]) == {"language", "meta_leak", "repetition", "policy"}
    assert row["messages"][0]["role"] == "system"  # the character's short system prompt was added
    feedback = [json.loads(x) for x in (cfg.store / "serve" / "feedback.jsonl").read_text().splitlines()]
    assert feedback[-1]["adapter_version"] == "v1" and feedback[-1]["score"] == 1

    metrics = httpx.get(f"{srv.url}/metrics").text
    assert 'lora_requests_total{adapter="nabi@v1",character="nabi",group="stable",status="ok"}' in metrics
    assert httpx.get(f"{srv.url}/healthz").json()["status"] == "ok"


def test_sampling_is_per_request_seeded_and_logged(served):
    srv, client, reg, cfg = served
    ask = {"model": "bori", "messages": HI, "max_tokens": 6, "extra_body": {"ignore_eos": True}}
    greedy = client.chat.completions.create(**ask)
    seeded = [client.chat.completions.create(**ask, temperature=2.0, seed=k) for k in (1, 1, 2, 3, 4, 5)]
    texts = [r.choices[0].message.content for r in seeded]
    assert texts[0] == texts[1]  # same seed, same reply
    assert set(texts) != {greedy.choices[0].message.content}  # and it really samples
    unseeded = client.chat.completions.create(**ask, temperature=1.0, top_p=0.9)
    df, _ = read_request_log(cfg.store / "serve" / "request_log.jsonl")
    logged = df.set_index("request_id")["sampling"]
    assert logged[greedy.id] == {"temperature": 0.0, "top_p": 1.0, "seed": None}
    assert logged[seeded[0].id] == {"temperature": 2.0, "top_p": 1.0, "seed": 1}
    drawn = logged[unseeded.id]  # the server drew a seed and logged it: the reply can be reproduced
    assert drawn["top_p"] == 0.9 and isinstance(drawn["seed"], int)
    again = client.chat.completions.create(**ask, temperature=1.0, top_p=0.9, seed=drawn["seed"])
    assert again.choices[0].message.content == unseeded.choices[0].message.content


def test_rollout_is_sticky_and_rollback_is_seen_on_the_next_request(served):
    srv, client, reg, cfg = served
    assert admin(srv, "/admin/routes/nabi/rollout", {"candidate_version": "v2", "percent": 30}).status_code == 200
    users = [f"user-{i}" for i in range(1000)]
    groups = {u: resolve(reg, "nabi", u, category="animal").group for u in users}
    share = sum(g == "candidate" for g in groups.values()) / len(users)
    assert 0.26 <= share <= 0.34
    cand = next(u for u in users if groups[u] == "candidate")
    stable = next(u for u in users if groups[u] == "stable")
    for user, expected in ((cand, "nabi@v2"), (stable, "nabi@v1")):
        seen = {client.chat.completions.create(model="nabi", messages=HI, user=user, max_tokens=1).model
                for _ in range(50)}
        assert seen == {expected}  # 100 calls in all, each user always on the same side

    r = admin(srv, "/admin/routes/nabi/rollback", {"reason": "test"})
    assert r.status_code == 200 and r.json()["candidate_version"] is None
    assert client.chat.completions.create(model="nabi", messages=HI, user=cand, max_tokens=1).model == "nabi@v1"
    assert reg.audit_log("nabi")[-1]["action"] == "rollback"


def test_admin_needs_the_key(served, tmp_path):
    srv, client, reg, cfg = served
    assert admin(srv, "/admin/routes/nabi/rollback", key=None).status_code == 401
    r = admin(srv, "/admin/routes/nabi/rollback", key="wrong")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert httpx.get(f"{srv.url}/admin/routes").status_code == 401
    routes = httpx.get(f"{srv.url}/admin/routes", headers={"Authorization": f"Bearer {KEY}"}).json()["routes"]
    assert {r["character_id"] for r in routes} >= {"nabi", "bori"}
    r = admin(srv, "/admin/routes/nabi/set", {"stable_version": "v404"})
    assert r.status_code == 400 and "unknown adapter" in r.json()["error"]["message"]
    r = admin(srv, "/admin/adapters/bori/v1/status", {"status": "needs_retrain", "actor": "ops", "reason": "dr-7"})
    assert r.status_code == 200 and r.json()["status"] == "needs_retrain"
    last = reg.audit_log("bori")[-1]
    assert (last["action"], last["actor"], last["reason"]) == ("set_status", "ops", "dr-7")
    routes = httpx.get(f"{srv.url}/admin/routes", headers={"Authorization": f"Bearer {KEY}"}).json()["routes"]
    assert any("needs_retrain" in w for r in routes if r["character_id"] == "bori" for w in r["warnings"])
    assert client.chat.completions.create(model="bori", messages=HI, max_tokens=1).model == "bori@v1"  # still live
    reg.set_status("bori", "v1", "approved", actor="test")


def test_bad_requests_get_openai_errors_and_the_server_keeps_serving(served):
    srv, client, reg, cfg = served
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="nobody", messages=HI)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="nabi", messages=[])
    with pytest.raises(openai.APIStatusError) as big:
        client.chat.completions.create(model="nabi", messages=[{"role": "user", "content": "가" * 1_000_000}])
    assert big.value.status_code == 413
    cases = [({"model": "nabi", "messages": [{"role": "user", "content": 5}]}, "messages.0.content"),
             ({"model": "nabi", "messages": "hi"}, "messages"),
             ({"model": 3, "messages": HI}, "model"),
             ({"model": "nabi", "messages": HI, "max_tokens": "many"}, "max_tokens"),
             ({"model": "nabi", "messages": [{"role": "user", "content": "   "}]}, "messages"),
             ({"model": "nabi", "messages": [{"role": "user", "content": "x" * 5000}]}, "messages.0.content"),
             ({"model": "nabi", "messages": HI, "temperature": 3}, "temperature"),
             ({"model": "nabi", "messages": HI, "top_p": 0}, "top_p"),
             ({"model": "nabi", "messages": HI, "seed": "x"}, "seed")]
    for body, param in cases:
        r = httpx.post(f"{srv.url}/v1/chat/completions", json=body)
        assert r.status_code == 400, body
        assert r.json()["error"]["type"] == "invalid_request_error" and param in r.json()["error"]["param"]
    r = httpx.post(f"{srv.url}/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    assert client.chat.completions.create(model="nabi", messages=HI, max_tokens=1).model.startswith("nabi@")
    errors = (cfg.store / "serve" / "request_errors.jsonl").read_text().splitlines()
    assert {json.loads(e)["http_status"] for e in errors} >= {400, 404, 413}


def test_tampered_weights_are_refused_and_the_previous_version_keeps_serving(served):
    srv, client, reg, cfg = served
    assert client.chat.completions.create(model="nabi", messages=HI, max_tokens=1).model == "nabi@v1"
    reg.set_route("nabi", base_model=cfg.base_model, stable_version="v3", actor="test", reason="v3 goes live")
    # ... and then v3's file is swapped on disk: the engine's sha256 check at load must refuse it.
    shutil.copy(cfg.store / "adapters/nabi/v1/adapter_model.safetensors", cfg.store / "adapters/nabi/v3")
    with pytest.raises(ValueError, match="no longer matches"):
        reg.set_route("nabi", base_model=cfg.base_model, stable_version="v3", actor="test")
    r = client.chat.completions.create(model="nabi", messages=HI, max_tokens=1, user="zed")
    assert r.model == "nabi@v1"  # v3 fails its sha256 check; v1 served before, so v1 keeps serving
    df, _ = read_request_log(cfg.store / "serve" / "request_log.jsonl")
    assert df[df["request_id"] == r.id]["fallback"].item() == "load_failed:nabi@v3"
    errors = [json.loads(e) for e in (cfg.store / "serve" / "request_errors.jsonl").read_text().splitlines()]
    assert any(e["error_code"] == "adapter_load_failed" and "sha256" in e["message"] for e in errors)
    assert "nabi@v3" not in httpx.get(f"{srv.url}/healthz").json()["loaded_adapters"]
    reg.rollback("nabi", actor="test")


def test_prompt_gets_the_system_prompt_and_the_callers_name(served):
    *_, cfg = served
    req = ChatRequest.model_validate({"model": "nabi", "messages": [{"role": "user", "content": "{{user}}야 안녕"}]})
    msgs = prompt_messages(req, cfg.characters["nabi"], "민지")
    assert msgs[0] == {"role": "system", "content": cfg.characters["nabi"].system_prompt}
    assert msgs[1] == {"role": "user", "content": "민지야 안녕"}
    own = ChatRequest.model_validate({"model": "nabi", "messages": [{"role": "developer", "content": "짧게"},
                                                                     {"role": "user", "content": "hi"}]})
    assert [m["role"] for m in prompt_messages(own, cfg.characters["nabi"], "x")] == ["system", "user"]


def test_soak_checker_finds_a_request_served_after_its_adapter_was_rejected():
    from lora_lib.bench.soak import _status_at, _status_timeline

    audit = [{"action": "register_adapter", "character_id": "nabi", "ts": "2026-01-01T00:00:00+00:00",
              "detail": {"version": "v2", "status": "approved"}},
             {"action": "set_status", "character_id": "nabi", "ts": "2026-01-01T00:00:10+00:00",
              "detail": {"version": "v2", "from": "approved", "to": "rejected"}}]
    timeline = _status_timeline(audit)[("nabi", "v2")]
    assert _status_at(timeline, "2026-01-01T00:00:09.999+00:00") == "approved"
    assert _status_at(timeline, "2026-01-01T00:00:10.001+00:00") == "rejected"
    assert _status_at(timeline, "2025-12-31T23:59:59+00:00") is None
    # Audit ts is taken before COMMIT: the change counts once the writer's call had returned.
    late = _status_timeline(audit, committed=["2026-01-01T00:00:05+00:00", "2026-01-01T00:00:10.004+00:00"])
    assert _status_at(late[("nabi", "v2")], "2026-01-01T00:00:10.001+00:00") == "approved"
    assert _status_at(late[("nabi", "v2")], "2026-01-01T00:00:10.005+00:00") == "rejected"


def test_chat_key_when_configured_and_admin_disabled_without_one(served):
    import dataclasses

    srv, client, reg, cfg = served
    engine = srv.app.state.serve.pool.get(srv.app.state.serve.default_base)[0]  # share the loaded model: no second load
    strict = dataclasses.replace(cfg, serve=cfg.serve.model_copy(update={"chat_requires_key": True}))
    with ServerThread(create_app(strict, engine)) as other:
        keyed = openai.OpenAI(base_url=f"{other.url}/v1", api_key=KEY, max_retries=0)
        assert keyed.chat.completions.create(model="bori", messages=HI, max_tokens=1).model == "bori@v1"
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"{other.url}/v1", api_key="wrong", max_retries=0).models.list()
    keyless = dataclasses.replace(cfg, api_key=None)
    with ServerThread(create_app(keyless, engine)) as other:
        r = admin(other, "/admin/routes/nabi/rollback")
        assert r.status_code == 403 and r.json()["error"]["code"] == "admin_disabled"


def test_a_version_retired_right_after_routing_and_keep_alive_after_a_500(served, monkeypatch):
    """The soak's race, made deterministic: the routed version is retired right after the router read
    it. The request is answered from that one consistent read (it read before the commit), the next
    request no longer gets the retired version, and an unexpected error answers 500 without closing
    the client's keep-alive connection."""
    import http.client

    from lora_lib.serve import state

    srv, client, reg, cfg = served
    d = make_adapter(cfg.base_model, cfg.store / "adapters" / "zed" / "v1", seed=9)
    reg.register_adapter(character_id="zed", version="v1", path=str(d), base_model=cfg.base_model,
                         dataset_version="ds", status="approved", actor="test")
    reg.set_route("zed", base_model=cfg.base_model, stable_version="v1", actor="test")
    real = state.resolve

    def resolve_then_retire(registry, character_id, *a, **kw):
        res = real(registry, character_id, *a, **kw)
        if character_id == "zed" and res.adapter_version == "v1":
            reg.set_status("zed", "v1", "retired", actor="test", reason="race")
        return res

    monkeypatch.setattr(state, "resolve", resolve_then_retire)
    assert client.chat.completions.create(model="zed", messages=HI, max_tokens=2).model == "zed@v1"
    assert client.chat.completions.create(model="zed", messages=HI, max_tokens=2).model == "zed@base"

    def boom(*a, **kw):
        raise RuntimeError("boom")

    monkeypatch.setattr(state, "resolve", boom)
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    body = json.dumps({"model": "zed", "messages": HI, "max_tokens": 1})
    for _ in range(2):  # the same connection answers both: not closed after the first 500
        conn.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        assert r.status == 500 and json.loads(r.read())["error"]["code"] == "internal_error"
    conn.close()


def test_user_placeholder_split_across_stream_deltas_is_filled():
    from lora_lib.serve.api import UserFiller

    f = UserFiller("민지")
    parts = [f.feed(d) for d in ["안녕 {", "{us", "er}}야, {{user", "}} {x} 끝{"]] + [f.flush()]
    assert "".join(parts) == "안녕 민지야, 민지 {x} 끝{"
    assert parts[1] == ""  # "{{us" held back: it may still become {{user}}


def test_server_on_a_postgres_registry_sees_a_cli_rollback_on_the_next_request(demo_store, tmp_path, postgres_url):
    """A team setup: the server and an admin's `lora route rollback` share one PostgreSQL registry
    (serve.registry_url), each through its own connection; the next request is served by the old version."""
    from lora_lib.cli import main

    store = tmp_path / "serve"
    shutil.copytree(demo_store / "demo" / "base_model", store / "demo" / "base_model")
    cfg = load_serve_config(store, "params", {"serve.registry_url": postgres_url}, api_key=KEY)
    assert cfg.registry_url == postgres_url
    reg = Registry(postgres_url)
    for i, v in enumerate(("v1", "v2")):
        d = make_adapter(cfg.base_model, store / "adapters" / "nabi" / v, seed=i)
        reg.register_adapter(character_id="nabi", version=v, path=str(d), base_model=cfg.base_model,
                             dataset_version="ds", status="approved", actor="test")
    reg.set_route("nabi", base_model=cfg.base_model, stable_version="v1", actor="test")
    reg.rollout("nabi", "v2", 100, actor="test")
    with ServerThread(create_app(cfg)) as srv:
        client = openai.OpenAI(base_url=f"{srv.url}/v1", api_key="unused", max_retries=0, timeout=60)
        assert client.chat.completions.create(model="nabi", messages=HI, user="u1", max_tokens=1).model == "nabi@v2"
        assert main(["route", "rollback", "nabi", "--store", str(store), "--actor", "oncall",
                     "--set", f"serve.registry_url={postgres_url}"]) == 0
        assert client.chat.completions.create(model="nabi", messages=HI, user="u1", max_tokens=1).model == "nabi@v1"
    last = reg.audit_log("nabi")[-1]
    assert (last["action"], last["actor"], last["detail"]["kind"]) == ("rollback", "oncall", "drop_candidate")
    assert not (store / "registry.sqlite").exists()  # nothing fell back to the default SQLite file
    reg.close()

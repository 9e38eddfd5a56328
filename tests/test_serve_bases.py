"""Several bases behind one server (issue 19's acceptance): the real uvicorn server, the real `openai`
client, two characters on two bases of different families (the demo store's Llama/ChatML test base and a
tiny Mistral), a rollout of one character to the other base and rollbacks; the LRU bound (max_bases=1);
a moved store (original paths gone) serving its own adapters by base identity.

Adapters are synthetic (random LoRA weights): which base and adapter answered is what is under test, and
each reply is checked against the offline engine of the base that should have produced it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import openai
import pytest

from lora_lib.engine import Sampling
from lora_lib.engine.synthetic import make_adapter
from lora_lib.models.identity import base_identity
from lora_lib.registry import Registry
from lora_lib.requestlog import read_request_log
from lora_lib.serve.api import ServerThread, create_app, load_serve_config

from .test_engine_pool import two_bases  # noqa: F401 - the fixture: (demo test base, tiny Mistral)

KEY = "test-admin-key"
HI = [{"role": "user", "content": "안녕? 오늘 뭐 했어?"}]


def make_store(store: Path, bases: tuple[str, str]) -> tuple[str, str]:
    """A store with base A at its default place and base B under bases/; nabi v1 (stable) on A, v2 on B,
    bori v1 (stable) on B, all approved. Returns the two base paths."""
    a, b = store / "demo" / "base_model", store / "bases" / "mistral"
    shutil.copytree(bases[0], a)
    shutil.copytree(bases[1], b)
    reg = Registry(f"sqlite:///{store.resolve()}/registry.sqlite")
    for i, (cid, v, base) in enumerate([("nabi", "v1", a), ("nabi", "v2", b), ("bori", "v1", b)]):
        d = make_adapter(base, store / "adapters" / cid / v, seed=i)
        reg.register_adapter(character_id=cid, version=v, path=str(d), base_model=str(base), dataset_version="ds",
                             status="approved", actor="test")
    reg.set_route("nabi", base_model=str(a), stable_version="v1", actor="test")
    reg.set_route("bori", base_model=str(b), stable_version="v1", actor="test")
    reg.close()
    return str(a), str(b)


def ask(client, character: str, user: str = "u1") -> tuple:
    raw = client.chat.completions.with_raw_response.create(model=character, messages=HI, user=user, max_tokens=6,
                                                           temperature=0.9, seed=7)
    return raw.parse(), raw.headers


def offline(srv, cfg, r, base: str, adapter: str) -> str:
    """The reply the engine of `base` gives offline to the prompt the server logged for response `r`."""
    df, _ = read_request_log(cfg.store / "serve" / "request_log.jsonl")
    row = df[df["request_id"] == r.id].iloc[0]
    assert row["base_model"] == base  # the request log names the base that answered
    engine, _ = srv.app.state.serve.pool.get(base)
    return engine.generate([list(row["messages"])], [adapter], max_new_tokens=6,
                           sampling=Sampling(temperature=0.9, seed=7))[0].text


def admin(srv, path: str, body: dict) -> dict:
    r = httpx.post(f"{srv.url}{path}", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_two_characters_on_two_bases_rollout_to_the_other_base_and_rollback(two_bases, tmp_path):  # noqa: F811
    a, b = make_store(tmp_path, two_bases)
    ida, idb = base_identity(a), base_identity(b)
    cfg = load_serve_config(tmp_path, "params", overrides={"serve.max_bases": 2}, api_key=KEY)
    with ServerThread(create_app(cfg)) as srv:
        assert sorted(srv.app.state.serve.preloaded) == ["bori@v1", "nabi@v1"]  # each on its base
        client = openai.OpenAI(base_url=f"{srv.url}/v1", api_key="unused", max_retries=0, timeout=60)
        nabi, h = ask(client, "nabi")
        assert (nabi.model, h["x-lora-base"], h["x-lora-group"]) == ("nabi@v1", ida, "stable")
        assert nabi.choices[0].message.content == offline(srv, cfg, nabi, a, "nabi@v1")
        bori, h = ask(client, "bori")
        assert (bori.model, h["x-lora-base"]) == ("bori@v1", idb)
        assert bori.choices[0].message.content == offline(srv, cfg, bori, b, "bori@v1")
        health = httpx.get(f"{srv.url}/healthz").json()
        assert {x["base_id"] for x in health["bases"]} == {ida, idb} and health["base_evictions"] == 0
        mem = {x["base_model"]: x["memory_mb"] for x in health["bases"]}
        assert mem[b] > 10 * mem[a] > 0  # the Mistral is mostly its 32,768-token embedding
        print(f"memory MiB: demo test base {mem[a]:.2f}, tiny Mistral {mem[b]:.2f}")

        # nabi to base B for everyone: its candidate was trained there; the stable users' base is unchanged.
        route = admin(srv, "/admin/routes/nabi/rollout", {"candidate_version": "v2", "percent": 100, "actor": "t"})
        assert route["base_model"] == a  # the route's base is its stable's; the candidate brings its own
        moved, h = ask(client, "nabi")
        assert (moved.model, h["x-lora-base"], h["x-lora-group"]) == ("nabi@v2", idb, "candidate")
        assert moved.choices[0].message.content == offline(srv, cfg, moved, b, "nabi@v2")
        admin(srv, "/admin/routes/nabi/rollback", {"actor": "t", "reason": "bad on B"})
        back, h = ask(client, "nabi")
        assert (back.model, h["x-lora-base"]) == ("nabi@v1", ida)
        assert back.choices[0].message.content == nabi.choices[0].message.content  # the same base and adapter

        # Promoted, the route itself moves to B; a rollback moves it back to A.
        admin(srv, "/admin/routes/nabi/rollout", {"candidate_version": "v2", "percent": 100, "actor": "t"})
        assert admin(srv, "/admin/routes/nabi/promote", {"actor": "t"})["base_model"] == b
        promoted, h = ask(client, "nabi", user="u2")
        assert (promoted.model, h["x-lora-base"], h["x-lora-group"]) == ("nabi@v2", idb, "stable")
        assert admin(srv, "/admin/routes/nabi/rollback", {"actor": "t"})["base_model"] == a
        last, h = ask(client, "nabi")
        assert (last.model, h["x-lora-base"]) == ("nabi@v1", ida)
        assert client.chat.completions.create(model="seonbi", messages=HI, max_tokens=2).model == "seonbi@base"
        metrics = httpx.get(f"{srv.url}/metrics").text
        assert "lora_loaded_bases 2.0" in metrics and f'lora_base_memory_mib{{base_id="{idb}"' in metrics


def test_max_bases_one_evicts_the_first_base_and_a_request_reloads_it(two_bases, tmp_path):  # noqa: F811
    a, b = make_store(tmp_path, two_bases)
    cfg = load_serve_config(tmp_path, "params", overrides={"serve.max_bases": 1}, api_key=KEY)
    with ServerThread(create_app(cfg)) as srv:
        # Preloading stops at one base: the first route's (bori, on B).
        assert srv.app.state.serve.preloaded == ["bori@v1"]
        client = openai.OpenAI(base_url=f"{srv.url}/v1", api_key="unused", max_retries=0, timeout=60)
        first, _ = ask(client, "nabi")  # A in, B out
        health = httpx.get(f"{srv.url}/healthz").json()
        assert [x["base_model"] for x in health["bases"]] == [a] and health["base_evictions"] == 1
        assert ask(client, "bori")[0].model == "bori@v1"  # B in, A out
        health = httpx.get(f"{srv.url}/healthz").json()
        assert [x["base_model"] for x in health["bases"]] == [b] and health["base_evictions"] == 2
        again, h = ask(client, "nabi")  # A loaded again
        health = httpx.get(f"{srv.url}/healthz").json()
        assert [x["base_model"] for x in health["bases"]] == [a] and (health["base_loads"], health["base_evictions"]) == (4, 3)
        assert again.model == "nabi@v1" and h["x-lora-base"] == base_identity(a)
        assert again.choices[0].message.content == first.choices[0].message.content  # reloaded, same replies


def test_a_moved_store_serves_and_reroutes_its_own_adapters(two_bases, tmp_path):  # noqa: F811
    original = tmp_path / "original"
    a, b = make_store(original, two_bases)
    moved = tmp_path / "moved"
    shutil.move(original, moved)  # the registered paths are gone
    assert not Path(a).exists() and not Path(b).exists()
    cfg = load_serve_config(moved, "params", overrides={"serve.base_models": ["{store}/bases/mistral"]},
                            api_key=KEY)
    assert cfg.base_model == str(moved / "demo" / "base_model")
    with ServerThread(create_app(cfg)) as srv:
        client = openai.OpenAI(base_url=f"{srv.url}/v1", api_key="unused", max_retries=0, timeout=60)
        nabi, h = ask(client, "nabi")
        assert (nabi.model, h["x-lora-base"]) == ("nabi@v1", base_identity(cfg.base_model))
        bori, h = ask(client, "bori")
        assert (bori.model, h["x-lora-base"]) == ("bori@v1", base_identity(moved / "bases" / "mistral"))
        # Re-routed in the moved store (the stable checked against the new path by identity).
        admin(srv, "/admin/routes/nabi/set", {"base_model": cfg.base_model, "stable_version": "v1",
                                              "candidate_version": "v2", "rollout_percent": 100, "actor": "t"})
        assert ask(client, "nabi")[0].model == "nabi@v2"
    bare = load_serve_config(moved, "params", api_key=KEY)  # not told where base B is now
    with ServerThread(create_app(bare)) as srv:
        r = httpx.post(f"{srv.url}/v1/chat/completions", json={"model": "bori", "messages": HI, "max_tokens": 2},
                       timeout=30)
        assert r.status_code == 503
        err = r.json()["error"]
        assert err["code"] == "base_unavailable" and "serve.base_models" in err["message"]
        assert f"{b} is gone" in err["message"]
        ok = httpx.post(f"{srv.url}/v1/chat/completions", json={"model": "nabi", "messages": HI, "max_tokens": 2,
                                                                 "user": "u1"}, timeout=30)
        assert ok.status_code == 200  # nabi's stable is on the default base: found by identity


def test_vllm_one_server_per_base(two_bases, tmp_path):  # noqa: F811
    """serve.vllm_url serves the default base, serve.vllm_urls the others (by path or identity); a base with
    no URL is a 503 naming serve.vllm_urls. Nothing listens at these URLs: building a backend contacts none."""
    from lora_lib.cli import parse_sets
    from lora_lib.serve.backend import vllm_url_for
    from lora_lib.serve.state import ServerState

    a, b = make_store(tmp_path, two_bases)
    url_a, url_b = "http://127.0.0.1:9", "http://127.0.0.1:10"
    by_id = load_serve_config(tmp_path, "params", parse_sets(
        ["serve.backend=vllm", f"serve.vllm_url={url_a}", f'serve.vllm_urls={{"{base_identity(b)}": "{url_b}"}}']))
    by_path = load_serve_config(tmp_path, "params", parse_sets(
        ["serve.backend=vllm", f"serve.vllm_url={url_a}", f'serve.vllm_urls={{"{{store}}/bases/mistral": "{url_b}"}}']))
    copy_of_b = tmp_path / "copy-of-b"
    shutil.copytree(b, copy_of_b)
    for cfg in (by_id, by_path):
        assert vllm_url_for(cfg, a) == url_a and vllm_url_for(cfg, b) == url_b
        assert vllm_url_for(cfg, str(copy_of_b)) == url_b  # the same files
    state = ServerState(by_id)  # preloading fails (nothing listens) and is tolerated
    try:
        assert state.preloaded == []
        assert {x["base_model"]: x["vllm_url"] for x in state.bases.health()["bases"]} == {a: url_a, b: url_b}
    finally:
        state.pool.close()
    only_a = load_serve_config(tmp_path, "params", parse_sets(["serve.backend=vllm", f"serve.vllm_url={url_a}"]))
    with ServerThread(create_app(only_a)) as srv:
        r = httpx.post(f"{srv.url}/v1/chat/completions", json={"model": "bori", "messages": HI, "max_tokens": 2},
                       timeout=30)
    err = r.json()["error"]
    assert r.status_code == 503 and err["code"] == "base_unavailable" and "serve.vllm_urls" in err["message"]


def test_replay_runs_a_candidate_on_another_base_on_that_base(two_bases, tmp_path):  # noqa: F811
    """The closed loop's replay (monitor.traffic_fns) serves nabi's cross-base candidate on ITS base, as the
    server's pool does, not on the replay's engine (it generated on the wrong base before)."""
    from lora_lib.config import load_params
    from lora_lib.engine import Engine
    from lora_lib.monitor import traffic_fns
    from lora_lib.serve.router import Resolution

    from .conftest import ROOT

    a, b = make_store(tmp_path, two_bases)
    reg = Registry(f"sqlite:///{tmp_path.resolve()}/registry.sqlite")
    p = load_params("nabi", params_dir=ROOT / "params", overrides={"store": str(tmp_path), "tracking": "none",
                                                                   "evaluate.max_new_tokens": 6})
    engine = Engine(a)
    _, generate_fn, _ = traffic_fns(p, reg, engine)
    on_b = Resolution("nabi", b, "v2", "candidate", "nabi")
    on_a = Resolution("nabi", a, "v1", "stable", "nabi")
    text_b = generate_fn(on_b, HI)[0]
    other = Engine(b)
    other.load_adapter("nabi@v2", str(tmp_path / "adapters" / "nabi" / "v2"))
    assert text_b == other.generate([HI], "nabi@v2", max_new_tokens=6)[0].text
    assert "nabi@v2" not in engine.adapters  # never loaded onto base A
    engine.load_adapter("nabi@v1", str(tmp_path / "adapters" / "nabi" / "v1"))
    assert generate_fn(on_a, HI)[0] == engine.generate([HI], "nabi@v1", max_new_tokens=6)[0].text
    reg.close()


def test_a_located_base_is_remembered_and_looked_for_again_once_it_fails_to_load(two_bases, tmp_path):  # noqa: F811
    """Bases.locate does not stat a base's files on every request; a remembered place that is gone is forgotten
    at its failed load, and the next request finds the base by identity (here: serve.base_models)."""
    import asyncio

    from lora_lib.engine import BaseLoadError
    from lora_lib.serve.bases import Bases

    store = tmp_path / "s"
    _, b = make_store(store, two_bases)
    spare = tmp_path / "spare"
    shutil.copytree(b, spare)
    cfg = load_serve_config(store, "params", overrides={"serve.base_models": [str(spare)]}, api_key=KEY)
    bases, bid = Bases(cfg), base_identity(b)
    assert bases.locate(b, bid) == b
    shutil.rmtree(b)
    assert bases.locate(b, bid) == b  # remembered: no look at the disk
    with pytest.raises(BaseLoadError):
        asyncio.run(bases.acquire(b, bid))
    lease = asyncio.run(bases.acquire(b, bid))  # looked for again: the spare copy has its identity
    with lease:
        assert bases.locate(b, bid) == str(spare)

"""`lora serve --ray`: the server as a Ray Serve application with two engine replicas, driven over HTTP by
the real `openai` client, on a local `ray.init(num_cpus=2)` cluster (`pytest -m ray`; .ci/run runs it).

Adapters are synthetic (random LoRA weights on the test-size base model), as in test_api: routing,
multiplexing and rollback do not depend on what an adapter learned. The first test needs no Ray."""

from __future__ import annotations

import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from .conftest import ROOT

KEY = "test-admin-key"
CHARACTERS = ("nabi", "bori", "seonbi")
HI = [{"role": "user", "content": "안녕? 오늘 뭐 했어?"}]
SAMPLED = {"messages": HI, "max_tokens": 8, "temperature": 0.9, "seed": 11}
SETS = {"serve.ray.num_replicas": 2, "serve.ray.max_adapters_per_replica": 2, "serve.ray.num_cpus": 1,
        "serve.max_batch": 2}


def test_serve_ray_names_the_extra_and_refuses_what_it_does_not_run(monkeypatch, capsys):
    from lora_lib.cli import main
    from lora_lib.config import ConfigError
    from lora_lib.serve.config import load_serve_config
    from lora_lib.serve.ray_serve import check_config

    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` sees without the extra
    assert main(["serve", "--ray", "--store", "/nonexistent-store", "--params", str(ROOT / "params")]) == 2
    err = capsys.readouterr().err
    assert "lora serve --ray needs Ray" in err and "pip install -e '.[ray]'" in err
    assert main(["serve", "--address", "auto", "--params", str(ROOT / "params")]) == 2  # --address without --ray
    cfg = load_serve_config("/nonexistent-store", ROOT / "params", {"serve.backend": "vllm",
                                                                    "serve.vllm_url": "http://gpu:8000"})
    with pytest.raises(ConfigError, match="serve.backend 'vllm'.*Ray Serve LLM"):
        check_config(cfg)
    with pytest.raises(ConfigError, match=r"serve.ray.address 'nowhere'"):
        load_serve_config("/nonexistent-store", ROOT / "params", {"serve.ray.address": "nowhere"})


def _replica(raw) -> str:
    value = raw.headers.get("x-lora-replica")
    assert value, f"no x-lora-replica header in {dict(raw.headers)}"
    return value


def _ask(client, model: str, user: str = "u", **kw):
    """(reply model, text, replica id) of one non-streamed chat completion."""
    raw = client.chat.completions.with_raw_response.create(model=model, user=user, **{"messages": HI, "max_tokens": 2,
                                                                                       **kw})
    r = raw.parse()
    return r.model, r.choices[0].message.content, _replica(raw)


@pytest.fixture(scope="module")
def ray_store(demo_store, tmp_path_factory):
    """A store with the test-size base; nabi v1 (stable) and v2, bori v1, seonbi v1, all approved; the serve
    config with 2 engine replicas of 1 CPU and 2 adapters each."""
    from lora_lib.engine.synthetic import make_adapter
    from lora_lib.registry import Registry
    from lora_lib.serve.api import load_serve_config

    store = tmp_path_factory.mktemp("ray_serve")
    shutil.copytree(demo_store / "demo" / "base_model", store / "demo" / "base_model")
    cfg = load_serve_config(store, ROOT / "params", SETS, api_key=KEY)
    reg = Registry(cfg.registry_url)
    for i, (cid, v) in enumerate([("nabi", "v1"), ("nabi", "v2"), ("bori", "v1"), ("seonbi", "v1")]):
        d = make_adapter(cfg.base_model, store / "adapters" / cid / v, seed=i)
        reg.register_adapter(character_id=cid, version=v, path=str(d), base_model=cfg.base_model,
                             dataset_version="ds", status="approved", actor="test")
    for cid in CHARACTERS:
        reg.set_route(cid, base_model=cfg.base_model, stable_version="v1", actor="test")
    return cfg, reg


@pytest.mark.ray
def test_lora_serve_ray_on_an_existing_cluster(ray_store, ray_cluster):
    """The command itself, before the module's application is deployed (it stops Serve when it ends)."""
    import signal
    import subprocess

    from lora_lib.serve.api import free_port

    cfg, _ = ray_store
    port = free_port()
    argv = [sys.executable, "-m", "lora_lib.cli", "serve", "--ray", "--address",
            ray_cluster.get_runtime_context().gcs_address, "--port", str(port), "--store", str(cfg.store),
            "--params", str(ROOT / "params"), "--set", "serve.ray.num_replicas=1",
            "--set", "serve.ray.max_adapters_per_replica=2"]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("serving on"):
                break
        assert lines and lines[-1].startswith(f"serving on http://127.0.0.1:{port}"), "".join(lines)[-3000:]
        assert "1 engine replica(s), up to 2 adapters each" in lines[-1]
        print(f"\nlora serve --ray up in {time.perf_counter() - start:.1f} s")
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=120)
        model, text, replica = _ask(client, "bori")
        assert model == "bori@v1" and replica
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, out[-3000:]


@pytest.fixture(scope="module")
def ray_served(ray_store, ray_cluster):
    """The Serve application and, on the same store and params, the in-process `lora serve` app."""
    from lora_lib.serve.api import ServerThread, create_app, free_port
    from lora_lib.serve.ray_serve import deploy, shutdown

    cfg, reg = ray_store
    start = time.perf_counter()
    url = deploy(cfg, port=free_port())
    print(f"\nRay Serve application up in {time.perf_counter() - start:.1f} s at {url}")
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=120)
    try:
        with ServerThread(create_app(cfg)) as local:
            yield client, openai.OpenAI(base_url=f"{local.url}/v1", api_key="unused", max_retries=0, timeout=120), reg
    finally:
        shutdown()


@pytest.mark.ray
def test_two_replicas_answer_all_characters_as_lora_serve_does(ray_served):
    client, local, reg = ray_served
    replicas = set()
    for cid in CHARACTERS:
        model, text, replica = _ask(client, cid, **SAMPLED)
        replicas.add(replica)
        assert model == f"{cid}@v1"
        assert (model, text) == _ask_local(local, cid, **SAMPLED)  # same prompt and seed: the same reply
        with client.chat.completions.with_streaming_response.create(model=cid, user="u", stream=True,
                                                                    **SAMPLED) as resp:
            streamed = "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
            # Right after a first load the router may not know yet where the adapter is (next test): any replica.
            replicas.add(_replica(resp))
        assert streamed == text
    plain = client.completions.create(model="bori", prompt="안녕", max_tokens=4, temperature=0.9, seed=3)
    assert plain.choices[0].text == local.completions.create(model="bori", prompt="안녕", max_tokens=4,
                                                             temperature=0.9, seed=3).choices[0].text
    print(f"replicas that served the three characters: {sorted(replicas)}")
    assert len(replicas) == 2  # a new adapter goes to the replica holding the fewest


def _ask_local(local, cid, **kw):
    r = local.chat.completions.create(model=cid, user="u", **kw)
    return r.model, r.choices[0].message.content


@pytest.mark.ray
def test_an_adapter_requested_repeatedly_stays_on_one_replica(ray_served, ray_store):
    """Ray Serve learns that a replica holds an adapter from the replica's report (pushed every 0.1 s): a
    request in that window may go to another replica, which loads the adapter too. After it, every
    request for the adapter goes to the replica(s) holding it: here one."""
    from lora_lib.engine.synthetic import make_adapter

    client, _, reg = ray_served
    cfg, _ = ray_store
    d = make_adapter(cfg.base_model, cfg.store / "adapters" / "seonbi" / "v2", seed=7)
    reg.register_adapter(character_id="seonbi", version="v2", path=str(d), base_model=cfg.base_model,
                         dataset_version="ds", status="approved", actor="test")
    reg.rollout("seonbi", "v2", 100, actor="test")  # an adapter no replica holds yet
    model, _, first = _ask(client, "seonbi")
    assert model == "seonbi@v2"
    time.sleep(1.0)  # the replica's report reaches the router
    seen = [_ask(client, "seonbi", user=f"user-{i}")[2] for i in range(12)]
    print(f"seonbi@v2 first loaded on {first}, then served by: {seen}")
    assert set(seen) == {first}, seen


def _burst(client, n: int, user_prefix: str, t0: float | None = None) -> list[tuple[float, str, str]]:
    """n concurrent nabi requests: (seconds since t0 (default: now) when sent, model, replica) each."""
    t0 = time.perf_counter() if t0 is None else t0

    def one(i: int):
        sent = time.perf_counter() - t0
        model, _, replica = _ask(client, "nabi", user=f"{user_prefix}-{i}", max_tokens=3,
                                 extra_body={"ignore_eos": True})
        return sent, model, replica

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


@pytest.mark.ray
def test_a_rollback_is_seen_on_both_replicas_within_one_second(ray_served):
    client, _, reg = ray_served
    reg.rollout("nabi", "v2", 100, actor="test")
    # Concurrent requests past one replica's max_ongoing_requests (2 x serve.max_batch = 4) spill to the other,
    # which then loads the adapter too: both replicas serve nabi@v2.
    before: list = []
    for round_ in range(5):
        before += _burst(client, 12, f"before{round_}")
        if {r for _, m, r in before if m == "nabi@v2"} == _all_replicas(client):
            break
    assert {m for _, m, _ in before} == {"nabi@v2"}
    on_v2 = {r for _, m, r in before if m == "nabi@v2"}
    print(f"nabi@v2 (candidate, 100%) served by: {sorted(on_v2)}")
    assert len(on_v2) == 2

    reg.rollback("nabi", actor="test", reason="test")  # the registry's rollback: the candidate is dropped
    after = _burst(client, 12, "after", t0=time.perf_counter())
    print(f"after the rollback (s since it, model, replica): {[(round(s, 3), m, r) for s, m, r in after]}")
    assert {m for _, m, _ in after} == {"nabi@v1"}  # no request sent after the rollback got the old route
    within_1s = {r for s, _, r in after if s < 1.0}
    assert within_1s == on_v2, f"requests sent in the first second reached {within_1s}, not both replicas"


def _all_replicas(client) -> set[str]:
    import httpx

    url = str(client.base_url).rstrip("/").removesuffix("/v1")
    bases = httpx.get(f"{url}/healthz", timeout=30).json()["bases"]
    return {r for b in bases for r in b["calls_by_replica"]}


@pytest.mark.ray
def test_a_modified_adapter_falls_back_to_stable_as_under_lora_serve(ray_served, ray_store):
    from lora_lib.engine.synthetic import make_adapter

    client, local, reg = ray_served
    cfg, _ = ray_store
    d = make_adapter(cfg.base_model, cfg.store / "adapters" / "bori" / "v2", seed=9)
    reg.register_adapter(character_id="bori", version="v2", path=str(d), base_model=cfg.base_model,
                         dataset_version="ds", status="approved", actor="test")
    reg.rollout("bori", "v2", 100, actor="test")
    with open(d / "adapter_model.safetensors", "ab") as f:  # after the rollout: the registry checks it too
        f.write(b"\0")  # the weights no longer hash to the registry's sha256
    raw = client.chat.completions.with_raw_response.create(model="bori", user="u", messages=HI, max_tokens=2)
    body = raw.parse()
    assert body.model == "bori@v1" and raw.headers["x-lora-group"] == "stable" and _replica(raw)
    assert body.model_extra["lora"]["fallback"] == "load_failed:bori@v2"
    same = local.chat.completions.create(model="bori", user="u", messages=HI, max_tokens=2)
    assert (same.model, same.model_extra["lora"]) == (body.model, body.model_extra["lora"])

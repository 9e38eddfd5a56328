"""`lora serve --ray` on two bases (`pytest -m ray`): the engine replica's EnginePool loads the base each job
names. test_serve_bases' store (nabi v1 on the demo test base, v2 and bori v1 on a tiny Mistral), one engine
replica, replies compared with in-process `lora serve` on the same store for the same prompt and seed."""
# ruff: noqa: F811 - the tests take test_engine_pool's `two_bases` fixture, imported below, as their argument

from __future__ import annotations

import openai
import pytest

from lora_lib.models.identity import base_identity

from .conftest import ROOT
from .test_engine_pool import two_bases  # noqa: F401
from .test_serve_bases import ask, make_store


@pytest.mark.ray
def test_two_bases_through_ray_serve_answer_as_lora_serve_does(two_bases, ray_cluster, tmp_path):
    from lora_lib.registry import Registry
    from lora_lib.serve.api import ServerThread, create_app, free_port, load_serve_config
    from lora_lib.serve.ray_serve import deploy, shutdown

    a, b = make_store(tmp_path, two_bases)
    cfg = load_serve_config(tmp_path, ROOT / "params", {"serve.max_bases": 2, "serve.ray.num_replicas": 1,
                                                       "serve.ray.num_cpus": 1}, api_key="k")
    url = deploy(cfg, port=free_port())
    try:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=120)
        with ServerThread(create_app(cfg)) as srv:
            local = openai.OpenAI(base_url=f"{srv.url}/v1", api_key="unused", max_retries=0, timeout=120)
            seen = []
            for character, model, base in (("nabi", "nabi@v1", a), ("bori", "bori@v1", b)):
                r, h = ask(client, character)
                same, _ = ask(local, character)
                assert (r.model, h["x-lora-base"]) == (model, base_identity(base)) and h["x-lora-replica"]
                assert r.choices[0].message.content == same.choices[0].message.content
                seen.append((model, h["x-lora-base"], h["x-lora-replica"]))
            Registry(cfg.registry_url).rollout("nabi", "v2", 100, actor="test")  # nabi moves to base B
            r, h = ask(client, "nabi")
            same, _ = ask(local, "nabi")
            assert (r.model, h["x-lora-base"]) == ("nabi@v2", base_identity(b))
            assert r.choices[0].message.content == same.choices[0].message.content
            print(f"\n(adapter, base, replica): {[*seen, (r.model, h['x-lora-base'], h['x-lora-replica'])]}")
    finally:
        shutdown()

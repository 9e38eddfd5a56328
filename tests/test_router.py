"""Router over a real SQLite registry: stickiness, rollout share, fallbacks, never-served statuses."""

from __future__ import annotations

import pytest

from lora_lib.registry import Registry
from lora_lib.serve.router import resolve, rollout_bucket

BASE = "/models/base"
USERS = [f"user-{i}" for i in range(1000)]


@pytest.fixture()
def reg(tmp_path) -> Registry:
    reg = Registry(f"sqlite:///{tmp_path}/registry.sqlite")
    for owner, version in [("yuna", "v1"), ("yuna", "v2"), ("romance", "c1")]:
        d = tmp_path / owner / version
        d.mkdir(parents=True)
        (d / "adapter_model.safetensors").write_bytes(f"{owner}{version}".encode())
        reg.register_adapter(character_id=owner, version=version, path=str(d), base_model=BASE,
                             dataset_version="ds", status="approved")
    return reg


def candidate_share(reg, percent: float) -> set[str]:
    reg.set_route("yuna", base_model=BASE, stable_version="v1", candidate_version="v2",
                  rollout_percent=percent)
    return {u for u in USERS if resolve(reg, "yuna", u).group == "candidate"}


def test_bucket_is_stable_and_in_range():
    b = [rollout_bucket(u, "yuna") for u in USERS]
    assert all(0 <= x < 100 for x in b)
    assert b == [rollout_bucket(u, "yuna") for u in USERS]
    assert b != [rollout_bucket(u, "mina") for u in USERS]  # per character, not one global order


def test_sticky_same_user_same_side(reg):
    reg.set_route("yuna", base_model=BASE, stable_version="v1", candidate_version="v2", rollout_percent=50)
    for u in USERS[:10]:
        sides = {(r.group, r.adapter_version) for r in (resolve(reg, "yuna", u) for _ in range(100))}
        assert len(sides) == 1


def test_rollout_share_and_monotonic(reg):
    previous: set[str] = set()
    for p in (0, 10, 30, 50, 100):
        cand = candidate_share(reg, p)
        assert abs(len(cand) / len(USERS) * 100 - p) <= 4
        assert previous <= cand  # raising p only moves users from stable to candidate
        previous = cand
    assert len(previous) == len(USERS)


def test_resolution_fields(reg):
    reg.set_route("yuna", base_model=BASE, stable_version="v1")
    r = resolve(reg, "yuna", "u1", category="romance", default_base_model="/other")
    assert (r.character_id, r.base_model, r.adapter_version, r.group, r.route_owner) == \
        ("yuna", BASE, "v1", "stable", "yuna")


def test_category_then_base_fallback(reg):
    reg.set_route("romance", base_model=BASE, stable_version="c1")
    r = resolve(reg, "mina", "u1", category="romance", default_base_model=BASE)
    assert (r.adapter_version, r.group, r.route_owner) == ("c1", "stable", "romance")
    r = resolve(reg, "mina", "u1", category="horror", default_base_model="/models/b")
    assert (r.base_model, r.adapter_version, r.group, r.route_owner) == ("/models/b", None, "base", None)


def test_rejected_or_retired_never_served(reg):
    reg.set_route("yuna", base_model=BASE, stable_version="v1", candidate_version="v2", rollout_percent=100)
    reg.set_status("yuna", "v2", "rejected")
    assert {resolve(reg, "yuna", u).adapter_version for u in USERS[:50]} == {"v1"}  # candidate -> stable
    reg.set_status("yuna", "v1", "retired")
    reg.set_route("romance", base_model=BASE, stable_version="c1")
    r = resolve(reg, "yuna", "u1", category="romance")
    assert (r.adapter_version, r.route_owner) == ("c1", "romance")  # -> category
    r = resolve(reg, "yuna", "u1", default_base_model=BASE)
    assert (r.adapter_version, r.group) == (None, "base")  # -> base


def test_rollback_seen_on_next_resolve(reg):
    reg.set_route("yuna", base_model=BASE, stable_version="v1", candidate_version="v2", rollout_percent=100)
    assert resolve(reg, "yuna", "u1").adapter_version == "v2"
    Registry(reg.url).rollback("yuna")  # another process's handle: no shared cache to invalidate
    r = resolve(reg, "yuna", "u1")
    assert (r.adapter_version, r.group) == ("v1", "stable")
    reg.set_route("yuna", base_model=BASE, stable_version="v2")
    reg.rollback("yuna")
    assert resolve(reg, "yuna", "u1").adapter_version == "v1"


"""The registry and several bases: a candidate on another base, promote and rollback moving the route's
base, the base_id column (and its migration on registries created before it, SQLite and PostgreSQL),
a moved store whose base paths are gone. Bases here are directories of files (identity hashes files;
nothing is loaded), adapters are byte payloads: routing rules do not need real weights."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from lora_lib.models.identity import base_identity, find_base, same_recorded_base
from lora_lib.registry import Registry

from .test_registry import make_adapter, reg  # noqa: F401 - reg: the fixture on both backends


def fake_base(root: Path, name: str, seed: str) -> str:
    d = root / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(f'{{"model_type": "llama", "seed": "{seed}"}}')
    (d / "model.safetensors").write_bytes(f"weights {seed}".encode())
    return str(d)


def add(reg: Registry, root: Path, version: str, base: str, owner: str = "nabi") -> dict:  # noqa: F811
    path = make_adapter(root, f"{owner}-{version}", f"weights {owner} {version}".encode())
    return reg.register_adapter(character_id=owner, version=version, path=str(path), base_model=base,
                                dataset_version="ds", status="approved", actor="test")


def test_rollout_to_another_base_then_promote_and_rollback_move_the_route(reg, tmp_path):  # noqa: F811
    a, b = fake_base(tmp_path, "a", "A"), fake_base(tmp_path, "b", "B")
    assert add(reg, tmp_path, "v1", a)["base_id"] == base_identity(a)
    add(reg, tmp_path, "v2", b)
    route = reg.set_route("nabi", base_model=a, stable_version="v1", actor="test")
    assert (route["base_model"], route["base_id"]) == (a, base_identity(a))
    with pytest.raises(ValueError, match=r"trained on .*/b', not .*/a' \(the route's base is its stable"):
        reg.set_route("nabi", base_model=a, stable_version="v2", actor="test")  # the route would misstate it
    route = reg.rollout("nabi", "v2", 100, actor="test")  # was "adapter nabi@v2 was trained on ..., not ..."
    assert (route["base_model"], route["candidate_version"]) == (a, "v2")  # the candidate brings its own base
    promoted = reg.promote("nabi", actor="test")
    assert (promoted["stable_version"], promoted["base_model"], promoted["base_id"]) == ("v2", b, base_identity(b))
    back = reg.rollback("nabi", actor="test", reason="bad on b")
    assert (back["stable_version"], back["base_model"], back["base_id"]) == ("v1", a, base_identity(a))
    assert reg.audit_log("nabi")[-1]["detail"]["base_model"] == a
    # A rollout at 100% dropped by rollback never changed the route's base.
    reg.rollout("nabi", "v2", 100, actor="test")
    assert reg.rollback("nabi", actor="test")["base_model"] == a
    reg.set_route("nabi", base_model=b, stable_version="v2", actor="test")  # straight to b: consistent, accepted


def _drop_base_id(url: str) -> None:
    """Make `url`'s registry look like one created before the base_id column (the same schema less it)."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for table in ("adapters", "routes"):
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN base_id")
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_an_old_registry_gets_the_column_at_open_and_its_rows_an_identity(backend, tmp_path, request):
    url = (f"sqlite:///{tmp_path}/registry.sqlite" if backend == "sqlite"
           else request.getfixturevalue("postgres_url"))
    here, gone = fake_base(tmp_path, "here", "H"), fake_base(tmp_path, "gone", "G")
    old = Registry(url)
    add(old, tmp_path, "v1", here)
    add(old, tmp_path, "v2", gone)
    old.set_route("nabi", base_model=here, stable_version="v1", actor="test")
    old.close()
    _drop_base_id(url)
    shutil.rmtree(gone)
    new = Registry(url)
    assert new.upgraded == ["adapters.base_id added", "routes.base_id added",
                            "adapters.base_id filled for 1 rows", "routes.base_id filled for 1 rows"]
    assert new.get_adapter("nabi", "v1")["base_id"] == base_identity(here)
    assert new.get_adapter("nabi", "v2")["base_id"] is None  # nothing here can say what it was
    assert new.get_route("nabi")["base_id"] == base_identity(here)
    new.rollout("nabi", "v2", 10, actor="test")  # the migrated registry works as before
    new.close()
    again = Registry(url)
    assert again.upgraded == []  # idempotent
    again.close()


def test_a_moved_store_routes_its_adapters_by_identity(tmp_path):
    original = tmp_path / "original"
    base = fake_base(original, "base_model", "A")
    store_reg = Registry(f"sqlite:///{original}/registry.sqlite")
    add(store_reg, original, "v1", base)
    add(store_reg, original, "v2", base)
    store_reg.set_route("nabi", base_model=base, stable_version="v1", actor="test")
    store_reg.close()
    moved = tmp_path / "moved"
    shutil.move(original, moved)  # the original path is gone
    new_base = str(moved / "base_model")
    mreg = Registry(f"sqlite:///{moved}/registry.sqlite")
    row = mreg.get_adapter("nabi", "v1")
    assert row["base_model"] == base and not Path(base).exists()
    assert same_recorded_base(row["base_model"], row["base_id"], new_base)
    assert find_base(row["base_model"], row["base_id"], ["/nowhere", new_base]) == new_base
    route = mreg.set_route("nabi", base_model=new_base, stable_version="v1", candidate_version="v2",
                           rollout_percent=50, actor="test")  # was "trained on '<original>', not '<moved>'"
    assert route["base_id"] == row["base_id"]
    other = fake_base(tmp_path, "other", "B")
    with pytest.raises(ValueError, match="trained on"):  # another base is still another base
        mreg.set_route("nabi", base_model=other, stable_version="v1", actor="test")
    assert find_base(row["base_model"], row["base_id"], [other]) is None
    # A directory at the registered path whose files changed is not that base.
    changed = fake_base(tmp_path, "changed", "A")
    assert find_base(changed, base_identity(other), [other]) == other


def test_a_route_set_without_a_base_takes_its_stable_adapters_base(reg, tmp_path):  # noqa: F811
    """`lora route set` and /admin/routes/{id}/set without a base: the stable adapter's base (so a stable on
    another base moves the route there), else the current route's, else the given default."""
    a, b = fake_base(tmp_path, "a", "A"), fake_base(tmp_path, "b", "B")
    add(reg, tmp_path, "v1", a)
    add(reg, tmp_path, "v2", b)
    assert reg.default_route_base("nabi", None, "params-base") == "params-base"
    assert reg.default_route_base("nabi", "v1", "params-base") == a
    reg.set_route("nabi", base_model=reg.default_route_base("nabi", "v1", a), stable_version="v1", actor="test")
    assert reg.default_route_base("nabi", None, "params-base") == a  # the current route's
    moved = reg.set_route("nabi", base_model=reg.default_route_base("nabi", "v2", a), stable_version="v2",
                          actor="test")
    assert (moved["base_model"], moved["stable_version"]) == (b, "v2")

"""Registry on real SQLite files: registration, routing rules, rollback, audit, weight checks."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

import lora_lib.serve.registry as registry_module
from lora_lib.serve.registry import Registry

BASE = "/models/base"


def make_adapter(root: Path, name: str, payload: bytes) -> Path:
    d = root / "adapters" / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "adapter_model.safetensors").write_bytes(payload)
    return d


@pytest.fixture()
def reg(tmp_path) -> Registry:
    return Registry(f"sqlite:///{tmp_path}/nested/dir/registry.sqlite")


def register(reg: Registry, root: Path, version: str, status: str = "approved", owner: str = "yuna") -> dict:
    path = make_adapter(root, f"{owner}-{version}", f"weights {owner} {version}".encode())
    return reg.register_adapter(character_id=owner, version=version, path=str(path), base_model=BASE,
                                dataset_version="ds1", gate_report={"passed": status == "approved"},
                                status=status, actor="test")


def test_register_is_idempotent_and_hashes_the_weights(reg, tmp_path):
    assert (tmp_path / "nested" / "dir" / "registry.sqlite").is_file()
    row = register(reg, tmp_path, "v1", status="candidate")
    expected = hashlib.sha256(b"weights yuna v1").hexdigest()
    assert row["sha256"] == expected and row["status"] == "candidate"
    assert row["gate_report"] == {"passed": False} and row["created_at"].endswith("+00:00")
    again = register(reg, tmp_path, "v1", status="candidate")
    assert again == row
    assert len(reg.list_adapters("yuna")) == 1
    assert [a["action"] for a in reg.audit_log("yuna")] == ["register_adapter"]  # no-op not logged
    # A reopened registry sees the same rows: it is the file, not process memory.
    assert Registry(reg.url).get_adapter("yuna", "v1") == row


def test_same_version_with_other_weights_is_refused(reg, tmp_path):
    register(reg, tmp_path, "v1")
    with pytest.raises(ValueError, match="already registered"):
        reg.register_adapter(character_id="yuna", version="v1", path="/nowhere", base_model=BASE,
                             dataset_version="ds1", sha256="0" * 64)


def test_status_changes_are_validated_and_audited(reg, tmp_path):
    register(reg, tmp_path, "v1", status="candidate")
    reg.set_status("yuna", "v1", "approved", actor="alice", reason="gates passed")
    assert reg.get_adapter("yuna", "v1")["status"] == "approved"
    with pytest.raises(ValueError, match="unknown status"):
        reg.set_status("yuna", "v1", "great")
    with pytest.raises(ValueError, match="unknown adapter"):
        reg.set_status("yuna", "v9", "approved")
    last = reg.audit_log("yuna")[-1]
    assert (last["actor"], last["action"], last["reason"]) == ("alice", "set_status", "gates passed")
    assert last["detail"] == {"version": "v1", "from": "candidate", "to": "approved"}


def test_only_approved_adapters_are_routed_unless_overridden(reg, tmp_path):
    register(reg, tmp_path, "v1", status="candidate")
    with pytest.raises(ValueError, match="only approved"):
        reg.set_route("yuna", base_model=BASE, stable_version="v1")
    with pytest.raises(ValueError, match="unknown adapter"):
        reg.set_route("yuna", base_model=BASE, stable_version="v404")
    with pytest.raises(ValueError, match="0..100"):
        reg.set_route("yuna", base_model=BASE, stable_version=None, candidate_version="v1", rollout_percent=120)
    with pytest.raises(ValueError, match="trained on"):
        reg.set_route("yuna", base_model="/models/other", stable_version="v1", override=True)
    assert reg.get_route("yuna") is None
    route = reg.set_route("yuna", base_model=BASE, stable_version="v1", override=True, actor="bob",
                          reason="hotfix")
    assert route["stable_version"] == "v1" and route["rollout_percent"] == 0.0
    last = reg.audit_log("yuna")[-1]
    assert last["action"] == "set_route_override" and last["actor"] == "bob" and last["detail"]["override"]
    assert last["detail"]["not_approved"] == [{"version": "v1", "status": "candidate"}]


def test_rollback_drops_candidate_then_walks_back_approved_stables(reg, tmp_path):
    for v in ("v0", "v1", "v2"):
        register(reg, tmp_path, v)
    register(reg, tmp_path, "v3", status="candidate")
    for v in ("v0", "v1", "v2"):
        reg.set_route("yuna", base_model=BASE, stable_version=v, category="romance")
    reg.set_status("yuna", "v3", "approved")
    reg.set_route("yuna", base_model=BASE, stable_version="v2", candidate_version="v3", rollout_percent=25)

    r = reg.rollback("yuna", actor="oncall", reason="candidate spikes meta leaks")
    assert (r["stable_version"], r["candidate_version"], r["rollout_percent"]) == ("v2", None, 0.0)
    r = reg.rollback("yuna")
    assert r["stable_version"] == "v1" and r["category"] == "romance"
    reg.set_status("yuna", "v0", "retired")  # no longer approved: not a rollback target
    with pytest.raises(ValueError, match="no previous approved"):
        reg.rollback("yuna")
    assert reg.get_route("yuna")["stable_version"] == "v1"  # a failed rollback changed nothing
    kinds = [a["detail"]["kind"] for a in reg.audit_log("yuna") if a["action"] == "rollback"]
    assert kinds == ["drop_candidate", "stable"]


def test_rollback_twice_goes_further_back_not_forth(reg, tmp_path):
    for v in ("v0", "v1", "v2"):
        register(reg, tmp_path, v)
        reg.set_route("yuna", base_model=BASE, stable_version=v)
    assert reg.rollback("yuna")["stable_version"] == "v1"
    assert reg.rollback("yuna")["stable_version"] == "v0"
    with pytest.raises(ValueError):
        reg.rollback("yuna")
    with pytest.raises(ValueError, match="no route"):
        reg.rollback("nobody")


def test_audit_is_complete_and_append_only(reg, tmp_path):
    register(reg, tmp_path, "v1", status="candidate")
    reg.set_status("yuna", "v1", "approved")
    reg.set_route("yuna", base_model=BASE, stable_version="v1")
    register(reg, tmp_path, "v2")
    reg.set_route("yuna", base_model=BASE, stable_version="v2")
    reg.rollback("yuna")
    log = reg.audit_log()
    assert [a["action"] for a in log] == ["register_adapter", "set_status", "set_route", "register_adapter",
                                          "set_route", "rollback"]
    assert [a["id"] for a in log] == sorted(a["id"] for a in log)
    assert all(a["ts"].endswith("+00:00") and isinstance(a["detail"], dict) for a in log)
    snapshot = [dict(a) for a in log]
    reg.set_status("yuna", "v2", "needs_retrain")
    assert reg.audit_log()[: len(snapshot)] == snapshot  # earlier rows never change
    public = {n for n in dir(reg) if not n.startswith("_")}
    assert not {n for n in public if "audit" in n} - {"audit_log"}  # no way to edit or delete rows


def test_audit_rows_cannot_be_edited_even_with_raw_sql(reg, tmp_path):
    register(reg, tmp_path, "v1")
    db = sqlite3.connect(tmp_path / "nested" / "dir" / "registry.sqlite")
    try:
        for sql in ("UPDATE audit SET reason = 'rewritten'", "DELETE FROM audit"):
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                db.execute(sql)
    finally:
        db.close()
    assert [a["reason"] for a in reg.audit_log()] == [""]


def test_rollback_reads_and_writes_in_one_transaction(reg, tmp_path, monkeypatch):
    """Between rollback's read of the route and its write, no other process can commit a change."""
    for v in ("v0", "v1"):
        register(reg, tmp_path, v)
    reg.set_route("yuna", base_model=BASE, stable_version="v0")
    reg.set_route("yuna", base_model=BASE, stable_version="v1", candidate_version="v0", rollout_percent=10)
    attempts: list[str] = []
    read_route = registry_module._route

    def read_then_let_another_writer_try(conn, character_id):
        row = read_route(conn, character_id)
        other = sqlite3.connect(tmp_path / "nested" / "dir" / "registry.sqlite", timeout=0.05)
        try:
            other.execute("BEGIN IMMEDIATE")
            attempts.append("got the write lock")
            other.rollback()
        except sqlite3.OperationalError as exc:
            attempts.append(str(exc))
        finally:
            other.close()
        return row

    monkeypatch.setattr(registry_module, "_route", read_then_let_another_writer_try)
    reg.rollback("yuna")
    assert attempts and all("locked" in a for a in attempts)


def test_verify_weights_detects_a_modified_file(reg, tmp_path):
    row = register(reg, tmp_path, "v1")
    assert reg.verify_weights("yuna", "v1")
    (Path(row["path"]) / "adapter_model.safetensors").write_bytes(b"tampered")
    assert not reg.verify_weights("yuna", "v1")
    (Path(row["path"]) / "adapter_model.safetensors").unlink()
    assert not reg.verify_weights("yuna", "v1")


def test_rollout_promote_and_rollback_history(reg, tmp_path):
    for v in ("v1", "v2"):
        register(reg, tmp_path, v)
    register(reg, tmp_path, "v3", status="candidate")
    with pytest.raises(ValueError, match="no route"):
        reg.rollout("yuna", "v2", 10)
    reg.set_route("yuna", base_model=BASE, stable_version="v1", category="romance")
    with pytest.raises(ValueError, match="already the stable"):
        reg.rollout("yuna", "v1", 10)
    with pytest.raises(ValueError, match="only approved"):
        reg.rollout("yuna", "v3", 10)
    r = reg.rollout("yuna", "v2", 10, actor="ann", reason="canary")
    assert (r["stable_version"], r["candidate_version"], r["rollout_percent"], r["category"]) == \
        ("v1", "v2", 10.0, "romance")
    reg.rollout("yuna", "v2", 50)
    r = reg.promote("yuna", actor="ann", reason="metrics fine")
    assert (r["stable_version"], r["candidate_version"], r["rollout_percent"]) == ("v2", None, 0.0)
    assert reg.audit_log("yuna")[-1]["detail"]["promoted_from"] == "v1"
    with pytest.raises(ValueError, match="no candidate"):
        reg.promote("yuna")
    assert reg.rollback("yuna")["stable_version"] == "v1"  # promotion is in the rollback history


def test_promote_refuses_a_candidate_no_longer_approved(reg, tmp_path):
    for v in ("v1", "v2"):
        register(reg, tmp_path, v)
    reg.set_route("yuna", base_model=BASE, stable_version="v1")
    reg.rollout("yuna", "v2", 20)
    reg.set_status("yuna", "v2", "rejected", reason="monitor alert")
    with pytest.raises(ValueError, match="not approved"):
        reg.promote("yuna")
    assert reg.get_route("yuna")["stable_version"] == "v1"


def test_route_status_warns_about_needs_retrain(reg, tmp_path):
    register(reg, tmp_path, "v1")
    reg.set_route("yuna", base_model=BASE, stable_version="v1")
    reg.set_status("yuna", "v1", "needs_retrain", reason="deletion request dr-1")
    [status] = reg.route_status("yuna")
    assert status["stable_status"] == "needs_retrain" and "needs_retrain" in status["warnings"][0]
    assert reg.route_status("nobody") == []


def test_names_are_checked(reg, tmp_path):
    from lora_lib.serve.registry import adapter_name, parse_adapter_name

    with pytest.raises(ValueError, match="invalid version"):
        reg.register_adapter(character_id="yuna", version="v1@x", path="/x", base_model=BASE,
                             dataset_version="d", sha256="0" * 64)
    assert parse_adapter_name(adapter_name("yuna", "v1")) == ("yuna", "v1")
    assert adapter_name("yuna", None) == "yuna@base"
    with pytest.raises(ValueError, match="not an adapter name"):
        parse_adapter_name("yuna")


def test_route_cli(tmp_path, capsys):
    """`lora route ...` on a store: set, rollout, status, promote, rollback, mark; errors exit 2."""
    from lora_lib.cli import main

    store = tmp_path / "store"
    reg = Registry(f"sqlite:///{store.resolve()}/registry.sqlite")
    for v in ("v1", "v2"):
        register(reg, tmp_path, v, owner="nabi")

    def lora(*argv) -> int:
        return main([*argv, "--store", str(store)])

    assert lora("route", "set", "nabi", "--stable", "v1", "--base-model", BASE, "--actor", "ann") == 0
    assert reg.get_route("nabi")["category"] == "animal"  # from params/characters/nabi.yaml
    assert lora("route", "rollout", "nabi", "v2", "25", "--reason", "canary") == 0
    capsys.readouterr()
    assert lora("route", "status") == 0
    assert "25.0" in capsys.readouterr().out
    assert lora("route", "promote", "nabi") == 0 and reg.get_route("nabi")["stable_version"] == "v2"
    assert lora("route", "rollback", "nabi", "--reason", "bad") == 0
    assert reg.get_route("nabi")["stable_version"] == "v1"
    assert lora("route", "mark", "nabi", "v2", "retired") == 0
    assert lora("route", "rollout", "nabi", "v2", "10") == 2  # retired: not approved
    assert "only approved" in capsys.readouterr().err
    audit = reg.audit_log("nabi")
    assert (audit[2]["action"], audit[2]["actor"]) == ("set_route", "ann")
    assert [a["action"] for a in audit[3:]] == ["set_route", "set_route", "rollback", "set_status"]
    assert audit[4]["detail"]["promoted_from"] == "v1"
    assert audit[3]["reason"] == "canary" and audit[5]["reason"] == "bad"


def test_a_modified_weights_file_is_not_routed_even_with_override(reg, tmp_path):
    row = register(reg, tmp_path, "v1")
    (Path(row["path"]) / "adapter_model.safetensors").write_bytes(b"tampered")
    with pytest.raises(ValueError, match="no longer matches"):
        reg.set_route("yuna", base_model=BASE, stable_version="v1", override=True)
    assert reg.get_route("yuna") is None


def test_stage_serve_routes_first_version_stable_then_rolls_out_the_next(tmp_path):
    """stages.run_serve: approved v1 -> stable; approved v2 -> candidate at serve.rollout_percent;
    rejected v3 -> registered, not routed; a re-run changes nothing."""
    from lora_lib import stages
    from lora_lib.config import load_params
    from lora_lib.store import run_paths, write_json
    from lora_lib.tracking import Tracker

    from .conftest import ROOT

    p = load_params("nabi", params_dir=ROOT / "params", overrides={"store": str(tmp_path), "tracking": "none"})
    results = []
    for version, passed in (("v1", True), ("v2", True), ("v3", False), ("v2", True)):
        paths = run_paths(tmp_path, "nabi", f"run-{version}")
        adapter = make_adapter(tmp_path, f"nabi-{version}", f"weights {version}".encode())
        write_json(paths.stage_dir("train") / "result.json", {"path": str(adapter), "dataset_version": "ds"})
        write_json(paths.stage_dir("evaluate") / "result.json", {
            "adapter_version": version, "passed": passed, "reasons": [] if passed else ["gate policy: 0.5 < 0.9"]})
        results.append(stages.run_serve(p, paths, Tracker()))
    assert [r["route_action"] for r in results] == ["stable", "candidate at 10%", "not routed (gates failed)",
                                                   "unchanged (already routed)"]
    route = results[-1]["route"]
    assert (route["stable_version"], route["candidate_version"], route["rollout_percent"]) == ("v1", "v2", 10.0)
    assert route["category"] == "animal"
    assert Registry(p.registry_url()).get_adapter("nabi", "v3")["status"] == "rejected"

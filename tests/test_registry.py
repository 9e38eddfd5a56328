"""Registry on real SQLite files and a real PostgreSQL server: registration, routing rules, rollback,
audit, weight checks, concurrent writers. Every `reg` test runs on both backends."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

import lora_lib.registry.registry as registry_module  # where Registry looks up _route
from lora_lib.registry import Registry

BASE = "/models/base"


def make_adapter(root: Path, name: str, payload: bytes) -> Path:
    d = root / "adapters" / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "adapter_model.safetensors").write_bytes(payload)
    return d


@pytest.fixture(params=["sqlite", "postgresql"])
def reg(request, tmp_path):
    """A fresh registry: a SQLite file in a new nested dir, or a new database on the PostgreSQL server."""
    url = (f"sqlite:///{tmp_path}/nested/dir/registry.sqlite" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    r = Registry(url)
    yield r
    r.close()


@pytest.fixture()
def sqlite_reg(tmp_path):
    r = Registry(f"sqlite:///{tmp_path}/nested/dir/registry.sqlite")
    yield r
    r.close()


def is_sqlite(reg: Registry) -> bool:
    return reg.url.startswith("sqlite")


def register(reg: Registry, root: Path, version: str, status: str = "approved", owner: str = "yuna") -> dict:
    path = make_adapter(root, f"{owner}-{version}", f"weights {owner} {version}".encode())
    return reg.register_adapter(character_id=owner, version=version, path=str(path), base_model=BASE,
                                dataset_version="ds1", gate_report={"passed": status == "approved"},
                                status=status, actor="test")


def test_register_is_idempotent_and_hashes_the_weights(reg, tmp_path):
    if is_sqlite(reg):
        assert (tmp_path / "nested" / "dir" / "registry.sqlite").is_file()
    row = register(reg, tmp_path, "v1", status="candidate")
    expected = hashlib.sha256(b"weights yuna v1").hexdigest()
    assert row["sha256"] == expected and row["status"] == "candidate"
    assert row["gate_report"] == {"passed": False} and row["created_at"].endswith("+00:00")
    again = register(reg, tmp_path, "v1", status="candidate")
    assert again == row
    assert len(reg.list_adapters("yuna")) == 1
    assert [a["action"] for a in reg.audit_log("yuna")] == ["register_adapter"]  # no-op not logged
    # A reopened registry sees the same rows: it is the database, not process memory.
    reopened = Registry(reg.url)
    assert reopened.get_adapter("yuna", "v1") == row
    reopened.close()


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
    """The database itself refuses, whoever connects (here: a plain engine, on PostgreSQL a superuser)."""
    register(reg, tmp_path, "v1")
    statements = ["UPDATE audit SET reason = 'rewritten'", "DELETE FROM audit", "DELETE FROM audit WHERE id = 1"]
    if not is_sqlite(reg):
        statements.append("TRUNCATE audit")  # SQLite has no TRUNCATE
    raw = sa.create_engine(reg.url)
    try:
        for sql in statements:
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), raw.begin() as conn:
                conn.exec_driver_sql(sql)
        with raw.begin() as conn:  # appending stays allowed: it is what the registry does
            conn.exec_driver_sql("INSERT INTO audit (ts, actor, action, detail, reason) "
                                 "VALUES ('t', 'raw', 'note', '{}', 'appended')")
    finally:
        raw.dispose()
    assert [a["reason"] for a in reg.audit_log()] == ["", "appended"]


def test_rollback_reads_and_writes_in_one_transaction(sqlite_reg, tmp_path, monkeypatch):
    """SQLite: between rollback's read of the route and its write, no other process can take the lock."""
    reg = sqlite_reg
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
    from lora_lib.registry import adapter_name, parse_adapter_name

    with pytest.raises(ValueError, match="invalid version"):
        reg.register_adapter(character_id="yuna", version="v1@x", path="/x", base_model=BASE,
                             dataset_version="d", sha256="0" * 64)
    assert parse_adapter_name(adapter_name("yuna", "v1")) == ("yuna", "v1")
    assert adapter_name("yuna", None) == "yuna@base"
    with pytest.raises(ValueError, match="not an adapter name"):
        parse_adapter_name("yuna")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_route_cli(tmp_path, capsys, request, backend):
    """`lora route ...` on a store: set, rollout, status, promote, rollback, mark; errors exit 2.
    On PostgreSQL the registry URL comes from `--set serve.registry_url=postgresql+psycopg://...`."""
    from lora_lib.cli import main

    store = tmp_path / "store"
    if backend == "sqlite":
        url, sets = f"sqlite:///{store.resolve()}/registry.sqlite", []
    else:
        url = request.getfixturevalue("postgres_url")
        sets = ["--set", f"serve.registry_url={url}"]
    reg = Registry(url)
    for v in ("v1", "v2"):
        register(reg, tmp_path, v, owner="nabi")

    def lora(*argv) -> int:
        return main([*argv, "--store", str(store), *sets])

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
    assert (store / "registry.sqlite").is_file() == (backend == "sqlite")  # the URL really was used
    reg.close()


def test_a_modified_weights_file_is_not_routed_even_with_override(reg, tmp_path):
    row = register(reg, tmp_path, "v1")
    (Path(row["path"]) / "adapter_model.safetensors").write_bytes(b"tampered")
    with pytest.raises(ValueError, match="no longer matches"):
        reg.set_route("yuna", base_model=BASE, stable_version="v1", override=True)
    assert reg.get_route("yuna") is None


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_stage_serve_routes_first_version_stable_then_rolls_out_the_next(tmp_path, request, backend):
    """stages.run_serve: approved v1 -> stable; approved v2 -> candidate at serve.rollout_percent;
    rejected v3 -> registered, not routed; a re-run changes nothing."""
    from lora_lib import stages
    from lora_lib.config import load_params
    from lora_lib.store import run_paths, write_json
    from lora_lib.tracking import Tracker

    from .conftest import ROOT

    overrides = {"store": str(tmp_path), "tracking": "none"}
    if backend == "postgresql":
        overrides["serve.registry_url"] = request.getfixturevalue("postgres_url")
    p = load_params("nabi", params_dir=ROOT / "params", overrides=overrides)
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


# ---- concurrent writers, on both backends -----------------------------------------------------------

ROUTE_KEYS = ("stable_version", "candidate_version", "rollout_percent")


def assert_history_explains_route(reg: Registry, character_id: str) -> None:
    """Replaying the audit log gives the route, and no writer acted on a stale read: every rollback
    started from the state the previous change left, and a rollout never changed the stable version."""
    state = None
    for row in reg.audit_log(character_id):
        d = row["detail"]
        if row["action"] == "rollback":
            assert d["before"] == state, f"rollback #{row['id']} acted on a stale route: {d['before']} != {state}"
        elif row["action"] in ("set_route", "set_route_override"):
            if row["reason"] == "rollout" and state is not None:
                assert d["stable_version"] == state["stable_version"], f"rollout #{row['id']} undid a change"
        else:
            continue
        state = {k: d[k] for k in ROUTE_KEYS}
    assert state == {k: reg.get_route(character_id)[k] for k in ROUTE_KEYS}


@pytest.mark.parametrize("first", ["rollback", "rollout"])
def test_a_second_writer_waits_until_the_first_commits(reg, tmp_path, monkeypatch, first):
    """Another writer (its own connection, as another process would have) cannot commit between a
    writer's read of the route and its write; readers are not blocked meanwhile."""
    for v in ("v0", "v1", "v2"):
        register(reg, tmp_path, v)
    reg.set_route("yuna", base_model=BASE, stable_version="v0")
    reg.set_route("yuna", base_model=BASE, stable_version="v1")
    other, reader = Registry(reg.url), Registry(reg.url)
    main_thread = threading.current_thread()
    read_done, other_done = threading.Event(), threading.Event()
    during_pause: list = []
    errors: list = []
    real_route = registry_module._route

    def pausing_route(conn, character_id):
        row = real_route(conn, character_id)
        if threading.current_thread() is main_thread and not read_done.is_set():
            read_done.set()
            during_pause.append(reader.get_route(character_id)["stable_version"])  # readers never wait
            during_pause.append(other_done.wait(0.3))  # False: the other writer is still queued
        return row

    def second_writer():
        try:
            read_done.wait(10)
            if first == "rollback":
                other.set_route("yuna", base_model=BASE, stable_version="v2", reason="second")
            else:
                other.rollback("yuna", reason="second")
        except Exception as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            other_done.set()

    monkeypatch.setattr(registry_module, "_route", pausing_route)
    t = threading.Thread(target=second_writer)
    t.start()
    if first == "rollback":
        assert reg.rollback("yuna")["stable_version"] == "v0"
    else:
        reg.rollout("yuna", "v2", 20, reason="rollout")
    t.join(30)
    monkeypatch.undo()
    assert not errors and during_pause == ["v1", False]
    final = reg.get_route("yuna")
    # The second writer ran after the first and saw its result.
    assert (final["stable_version"], final["candidate_version"]) == (("v2", None) if first == "rollback"
                                                                     else ("v1", None))
    assert_history_explains_route(reg, "yuna")
    other.close()
    reader.close()


def test_concurrent_rollouts_and_rollbacks_lose_no_update(reg, tmp_path):
    """Two registries (two connections) in two threads, racing: the audit log still explains the route."""
    for v in ("v0", "v1", "v2"):
        register(reg, tmp_path, v)
    reg.set_route("yuna", base_model=BASE, stable_version="v0")
    reg.set_route("yuna", base_model=BASE, stable_version="v1")
    a, b = Registry(reg.url), Registry(reg.url)
    start = threading.Barrier(2)
    errors: list = []

    def loop(fn):
        start.wait()
        for i in range(12):
            try:
                fn(i)
            except ValueError:  # e.g. nothing left to roll back: refused, nothing written
                pass
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=loop, args=(lambda i: a.rollout("yuna", "v2", 5 + i, reason="rollout"),)),
               threading.Thread(target=loop, args=(lambda i: b.rollback("yuna", reason="race"),))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    log = reg.audit_log("yuna")
    assert sum(r["reason"] == "rollout" for r in log) == 12  # a rollout is never refused here
    assert_history_explains_route(reg, "yuna")
    a.close()
    b.close()


def test_names_sort_byte_wise_on_both_backends(reg):
    """Listings do not depend on the server's collation (the test server's is ICU en-US)."""
    for cid in ("abe", "Zed", "a-b", "a.c", "A"):
        reg.set_route(cid, base_model=BASE, stable_version=None)
    assert [r["character_id"] for r in reg.list_routes()] == ["A", "Zed", "a-b", "a.c", "abe"]


def test_over_long_free_form_names_are_refused_on_both_backends(reg, tmp_path):
    """A 200-character column: PostgreSQL would refuse more with a driver error, SQLite store it."""
    with pytest.raises(ValueError, match="actor is 201 characters long"):
        reg.register_adapter(character_id="yuna", version="v1", path="/x", base_model=BASE,
                             dataset_version="d", sha256="0" * 64, actor="a" * 201)
    with pytest.raises(ValueError, match="dataset_version"):
        reg.register_adapter(character_id="yuna", version="v1", path="/x", base_model=BASE,
                             dataset_version="d" * 300, sha256="0" * 64)
    register(reg, tmp_path, "v1")
    with pytest.raises(ValueError, match="category"):
        reg.set_route("yuna", base_model=BASE, stable_version="v1", category="c" * 201)
    route = reg.set_route("yuna", base_model=BASE, stable_version="v1", rollout_percent=0, actor="a" * 200)
    assert route["rollout_percent"] == 0.0 and isinstance(route["rollout_percent"], float)
    assert [a["action"] for a in reg.audit_log()] == ["register_adapter", "set_route"]


# ---- PostgreSQL only ---------------------------------------------------------------------------------

def test_postgres_fresh_database_opened_by_many_at_once_then_reopened(postgres_url, tmp_path):
    """Four registries open one empty database at the same moment (tables and trigger are created
    under the writer lock, exactly once); reopening later is a no-op that keeps data and protection."""
    start = threading.Barrier(4)
    opened: list = []
    errors: list = []

    def open_registry():
        start.wait()
        try:
            opened.append(Registry(postgres_url))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_registry) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and len(opened) == 4
    register(opened[0], tmp_path, "v1")
    opened[1].set_route("yuna", base_model=BASE, stable_version="v1")
    for r in opened:
        r.close()
    again = Registry(postgres_url)
    assert again.get_route("yuna")["stable_version"] == "v1"
    assert [a["action"] for a in again.audit_log()] == ["register_adapter", "set_route"]
    raw = sa.create_engine(postgres_url)
    try:
        with raw.connect() as conn:
            triggers = conn.exec_driver_sql("SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit'::regclass "
                                            "AND NOT tgisinternal").scalars().all()
            kinds = dict(conn.exec_driver_sql(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'routes'").all())
        assert triggers == ["audit_append_only"]
        assert kinds["rollout_percent"] == "double precision" and kinds["character_id"] == "character varying"
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), raw.begin() as conn:
            conn.exec_driver_sql("DELETE FROM audit")
    finally:
        raw.dispose()
        again.close()

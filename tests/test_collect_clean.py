"""Collect and clean on the synthetic world, checked against its ground-truth hazards."""

import json

import pytest

from lora_lib import stages
from lora_lib.clean.pii import redact
from lora_lib.config import load_params
from lora_lib.store import read_jsonl, run_paths
from lora_lib.tracking import Tracker

from .conftest import ROOT

CHARS = ["nabi", "bori", "seonbi"]


@pytest.fixture(scope="module")
def ran(world_store):
    out = {}
    for cid in CHARS:
        p = load_params(cid, params_dir=ROOT / "params", overrides={"store": str(world_store), "tracking": "none"})
        paths = run_paths(world_store, cid, "t")
        out[cid] = (p, paths, stages.run_collect(p, paths, Tracker()),
                    stages.run_clean(p, paths, Tracker(), params_dir=ROOT / "params"))
    return out


def _truth(world_store):
    return read_jsonl(world_store / "demo" / "world" / "ground_truth.jsonl")


def test_counts_add_up(ran):
    for _, _, col, cl in ran.values():
        assert col["messages_for_character"] == col["messages_kept"] + col["messages_rejected"]
        assert cl["turns_in"] == cl["turns_kept"] + cl["turns_rejected"]
        assert cl["conversations_in"] == cl["conversations_kept"] + cl["conversations_rejected"]


def test_no_opted_out_or_deleted_user_reaches_clean_output(ran, world_store):
    excluded_chats = {t["chat_id"] for t in _truth(world_store)
                      if t["hazard"] in ("no_optin", "optin_after", "deleted_user")}
    assert excluded_chats
    for _, paths, _, _ in ran.values():
        kept = {c["conversation_id"] for c in read_jsonl(paths.stage_dir("clean") / "conversations.jsonl")}
        assert not kept & excluded_chats


def test_raw_user_ids_never_leave_collect(ran, world_store):
    users = [json.loads(line)["_id"] for line in open(world_store / "demo" / "world" / "users.json")]
    for _, paths, _, _ in ran.values():
        text = (paths.stage_dir("collect") / "conversations.jsonl").read_text() + \
            (paths.stage_dir("collect") / "rejected.jsonl").read_text()
        assert not [u for u in users if u in text]


def test_malformed_documents_are_quarantined_with_line_and_error(ran, world_store):
    malformed = [t for t in _truth(world_store) if t["hazard"] == "malformed"]
    _, paths, col, _ = ran["nabi"]
    quarantine = read_jsonl(paths.stage_dir("collect") / "quarantine.jsonl")
    assert len(quarantine) == len(malformed) == col["quarantined"]
    assert all(q["line"] > 0 and q["error"] and q["file"].endswith("messages.json") for q in quarantine)


def test_planted_pii_spans_do_not_reach_the_clean_output(ran, world_store):
    """Every planted PII span is masked, also numbers/e-mails spelled in words ("공일공 …", "골뱅이 … 닷컴")."""
    missed, checked = [], 0
    for t in _truth(world_store):
        if not t["hazard"].startswith("pii:"):
            continue
        checked += 1
        paths = ran[t["character_id"]][1]
        if t["detail"]["span"] in (paths.stage_dir("clean") / "conversations.jsonl").read_text():
            missed.append((t["hazard"], t["detail"]["span"]))
    assert checked >= 35 and not missed


def test_leakage_meta_nsfw_english_are_rejected(ran, world_store):
    reasons = {cid: cl["reasons"] for cid, (_, _, _, cl) in ran.items()}
    assert reasons["nabi"].get("leakage:seonbi", 0) > 0
    assert sum(r.get("safety:nsfw", 0) for r in reasons.values()) == sum(
        1 for t in _truth(world_store) if t["hazard"] == "nsfw")
    assert sum(r.get("language:not_korean", 0) for r in reasons.values()) > 0
    assert sum(r.get("meta:pattern", 0) for r in reasons.values()) > 0


def test_redact_typed_placeholders_and_negatives():
    r = redact("민수짱 내 번호 010-1234-5678, 메일 abc@naver.com", known_values=["민수짱"])
    assert r.text == "{{user}} 내 번호 <PHONE>, 메일 <EMAIL>"
    assert [f[0] for f in r.findings] == ["USER", "PHONE", "EMAIL"]
    for negative in ["오늘 3시에 15000원 냈어", "2026-11-03에 만나자", "나 17살이야", "버스 7016번 타"]:
        assert redact(negative).text == negative


def test_every_planted_hazard_is_caught_and_decoys_are_kept(ran, world_store):
    from lora_lib.clean.hazards import check_hazards

    col = {cid: read_jsonl(paths.stage_dir("collect") / "conversations.jsonl") for cid, (_, paths, _, _) in ran.items()}
    cl = {cid: read_jsonl(paths.stage_dir("clean") / "conversations.jsonl") for cid, (_, paths, _, _) in ran.items()}
    quarantine = [q for _, paths, _, _ in ran.values() for q in read_jsonl(paths.stage_dir("collect") / "quarantine.jsonl")]
    report = check_hazards(_truth(world_store), col, quarantine, cl)
    assert not report["missed"], report["missed"][:3]
    kept = {i for convs in cl.values() for c in convs for ids in c.get("turn_message_ids", []) for i in ids}
    decoys = read_jsonl(world_store / "demo" / "world" / "decoys.jsonl")
    assert decoys and all(d["message_id"] in kept for d in decoys)


def test_rejections_name_their_source_documents(ran):
    _, paths, _, _ = ran["nabi"]
    for r in read_jsonl(paths.stage_dir("clean") / "rejected.jsonl"):
        if r["dataset_source"] == "chat_log" and (r["level"] == "turn" or r["reason"] != "empty_after_clean"):
            assert r["message_ids"], r


def test_deletion_request_removes_the_user_and_flags_what_was_built(world_store, tmp_path):
    """Before the request: a dataset and an adapter are built with the user's data. After `forget`:
    both are listed, the registered adapter needs retraining, and a new collect drops the user."""
    import shutil

    from lora_lib.collect import forget_user, user_ref
    from lora_lib.dataset import build_version
    from lora_lib.registry import Registry
    from lora_lib.store import write_json

    store = tmp_path / "store"
    shutil.copytree(world_store / "demo", store / "demo")
    requests = store / "demo" / "world" / "deletion_requests.jsonl"
    user_id = json.loads(requests.read_text().splitlines()[0])["user_id"]
    requests.write_text("")  # the world before the request arrived
    character = next(t["character_id"] for t in _truth(world_store) if t["hazard"] == "deleted_user")
    p = load_params(character, params_dir=ROOT / "params", overrides={"store": str(store), "tracking": "none"})
    paths = run_paths(store, character, "before")
    stages.run_collect(p, paths, Tracker())
    stages.run_clean(p, paths, Tracker(), params_dir=ROOT / "params")
    manifest = build_version(read_jsonl(paths.stage_dir("clean") / "conversations.jsonl"), p)
    ref = user_ref(user_id, p.collect.salt)
    assert ref in manifest["user_refs"]
    write_json(store / "adapters" / character / "a1" / "record.json", {"dataset_version": manifest["version"]})
    Registry(p.registry_url()).register_adapter(character_id=character, version="a1", path="x", base_model="b",
                                                dataset_version=manifest["version"], sha256="0" * 64,
                                                status="approved")
    report = forget_user(user_id, store=store, salt=p.collect.salt, requests_path=requests,
                         registry_url=p.registry_url())
    assert [d["version"] for d in report["datasets"]] == [manifest["version"]]
    assert [a["version"] for a in report["adapters"]] == ["a1"] and report["registry_flagged"]
    assert Registry(p.registry_url()).get_adapter(character, "a1")["status"] == "needs_retrain"
    after = run_paths(store, character, "after")
    res = stages.run_collect(p, after, Tracker())
    assert res["reasons"]["deletion_request"] > 0
    assert ref not in {c["user_ref"] for c in read_jsonl(after.stage_dir("collect") / "conversations.jsonl")}

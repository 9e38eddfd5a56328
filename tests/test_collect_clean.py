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

"""Collection on hand-made exports: every mongoexport form, bad documents, consent, deletion requests."""

import json
from datetime import UTC, datetime

import pytest
from bson import ObjectId, json_util
from bson.json_util import CANONICAL_JSON_OPTIONS, RELAXED_JSON_OPTIONS

from lora_lib import collect as col
from lora_lib.cli import main
from lora_lib.collect import readers
from lora_lib.config import CollectParams, MessageFields

P = CollectParams()
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _msg(i, content="안녕하세요, 오늘 날씨 좋네요", role="user", chat="c1", user="u1", char="nabi", **extra):
    return {"_id": ObjectId(f"{i:024x}"), "chatId": chat, "characterId": char, "userId": user, "role": role,
            "content": content, "createdAt": T0.replace(minute=i % 60), **extra}


def _lines(docs, canonical=False):
    opts = CANONICAL_JSON_OPTIONS if canonical else RELAXED_JSON_OPTIONS
    return [json_util.dumps(d, json_options=opts, ensure_ascii=False) for d in docs]


USERS = {"u1": {"nickname": "민트초코", "opt_in": True, "opt_in_at": T0},
         "u2": {"nickname": "바닐라", "opt_in": False, "opt_in_at": None}}


def _collect(path, **kw):
    return col.collect_messages(col.iter_export(path, P.max_document_bytes), str(path), USERS, "nabi", P, **kw)


def test_json_lines_and_arrays_canonical_and_relaxed_read_the_same(tmp_path, monkeypatch):
    # Strings full of what the array scanner must not mistake for structure.
    tricky = ['그는 "안녕" 이라고 했다 {괄호} [대괄호]', 'back\\slash \\" 끝', "줄\n바꿈"] * 3
    docs = [_msg(i, tricky[i % len(tricky)], role="user" if i % 2 else "character") for i in range(9)]
    lines = _lines(docs[:5], canonical=True) + _lines(docs[5:])
    (tmp_path / "m.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "a.json").write_text("[\n" + ",\n".join(lines) + "\n]", encoding="utf-8")
    (tmp_path / "b.json").write_text("\ufeff[" + ",".join(lines) + "]", encoding="utf-8")  # BOM, one line
    expect = [d for _, d, _ in col.iter_export(tmp_path / "m.json")]
    assert [d["content"] for d in expect] == [d["content"] for d in docs]
    assert all(d["createdAt"].tzinfo is not None for d in expect)
    monkeypatch.setattr(readers, "_CHUNK", 7)  # elements, strings and escapes cut across chunk borders
    for name in ("a.json", "b.json"):
        got = list(col.iter_export(tmp_path / name))
        assert [d for _, d, _ in got] == expect and not [e for _, _, e in got if e]
    assert [ln for ln, _, _ in col.iter_export(tmp_path / "a.json")] == list(range(2, 11))


def test_bad_documents_are_quarantined_with_file_line_and_error(tmp_path):
    good = _lines([_msg(1), _msg(2, role="character")])
    bad = [
        b'{"chatId": "c1", "content": "broken',  # broken JSON line
        '{"_id":"x1","chatId":"c1","characterId":"nabi","userId":"u1","role":"user","content":"잘 '.encode()
        + b'\xff\xfe"}',  # not UTF-8
        _lines([{k: v for k, v in _msg(3).items() if k != "userId"}])[0].encode(),  # missing field
        _lines([_msg(4, content=12345)])[0].encode(),  # wrong type
        _lines([_msg(5, chat={"nested": 1})])[0].encode(),  # wrong type for an id
        _lines([_msg(6, content="가" * 400_000)])[0].encode(),  # a ~1 MB message
        _lines([_msg(7, content="가" * 30_000)])[0].encode(),  # long, but under the document limit
        b"[1, 2, 3]",  # not a document
        _lines([{**_msg(8), "createdAt": "2026-01-01 12:00:00"}])[0].encode(),  # a date as a plain string
        _lines([_msg(9, safetyFlags="nsfw")])[0].encode(),  # flags not a list
        _lines([_msg(10, role="moderator")])[0].encode(),  # unknown role
        b'{"_id": {"$oid": "xyz"}, "chatId": "c1"}',  # an Extended JSON value bson rejects
        b'{"a":' * 30000 + b"1" + b"}" * 30000,  # nesting deep enough to exhaust the parser's recursion
    ]
    path = tmp_path / "m.json"
    path.write_bytes(b"\n".join([good[0].encode(), *bad, b"", good[1].encode()]) + b"\n")
    res = _collect(path)
    q = {x["line"]: x["error"] for x in res.quarantine}
    assert sorted(q) == list(range(2, 15)) and all(x["file"] == str(path) for x in res.quarantine)
    assert "not valid Extended JSON" in q[2] and "not UTF-8" in q[3] and "missing field 'userId'" in q[4]
    assert "'content' is int" in q[5] and "'chatId' is dict" in q[6] and "max_document_bytes" in q[7]
    assert "max_message_chars" in q[8] and "not a document" in q[9] and "not a date" in q[10]
    assert "safetyFlags" in q[11] and "unknown role 'moderator'" in q[12]
    assert "InvalidId" in q[13] and "not valid Extended JSON" in q[14]
    assert res.stats["messages_kept"] == 2 and res.stats["documents_read"] == 15
    assert len(res.conversations) == 1 and res.conversations[0]["turn_message_ids"] == [[f"{1:024x}"], [f"{2:024x}"]]


def test_broken_and_truncated_arrays(tmp_path):
    good = _lines([_msg(1), _msg(2, role="character")])
    (tmp_path / "a.json").write_text(f'[{good[0]}, {{"chatId": "c1", oops}}, 42, {good[1]}]', encoding="utf-8")
    res = _collect(tmp_path / "a.json")
    assert res.stats["messages_kept"] == 2 and len(res.quarantine) == 2
    assert "not valid Extended JSON" in res.quarantine[0]["error"] and "42" in res.quarantine[1]["error"]
    (tmp_path / "t.json").write_text(f"[{good[0]}, {good[1][:40]}", encoding="utf-8")
    res = _collect(tmp_path / "t.json")
    assert res.stats["messages_kept"] == 1 and "truncated" in res.quarantine[0]["error"]
    big = _lines([_msg(3, content="나" * 200_000)])[0]
    (tmp_path / "big.json").write_text(f"[{big}, {good[0]}]", encoding="utf-8")
    res = _collect(tmp_path / "big.json")
    assert res.stats["messages_kept"] == 1 and "max_document_bytes" in res.quarantine[0]["error"]
    with pytest.raises(FileNotFoundError, match="nope.json"):
        list(col.iter_export(tmp_path / "nope.json"))


def test_consent_at_or_before_message_time_and_deletion(tmp_path):
    docs = [_msg(0, "opt-in 시각과 같은 순간의 메시지"),  # exactly at opt-in: allowed
            _msg(1, role="character"),
            {**_msg(2), "createdAt": datetime(2025, 12, 31, tzinfo=UTC)},  # before opt-in
            _msg(3, user="u2", chat="c2"), _msg(4, user="u9", chat="c3"), _msg(5, char="bori")]
    (tmp_path / "m.json").write_text("\n".join(_lines(docs)), encoding="utf-8")
    res = _collect(tmp_path / "m.json")
    assert res.stats["reasons"] == {"before_opt_in": 1, "no_consent": 1, "unknown_user": 1}
    assert res.stats["messages_kept"] == 2 and res.stats["other_characters"] == 1
    assert all("u1" not in json.dumps(r) for r in res.rejected)  # hashed, never raw
    res = _collect(tmp_path / "m.json", deleted={"u1"})
    assert res.stats["messages_kept"] == 0 and res.stats["reasons"]["deletion_request"] == 3


def test_field_names_come_from_params(tmp_path):
    p = CollectParams(fields=MessageFields(chat_id="room", character_id="bot", user_id="uid", role="sender",
                                           content="text", created_at="ts"))
    doc = {"_id": "m1", "room": "r1", "bot": "nabi", "uid": "u1", "sender": "user", "text": "안녕 나비야",
           "ts": T0}
    (tmp_path / "m.json").write_text(_lines([doc])[0], encoding="utf-8")
    res = col.collect_messages(col.iter_export(tmp_path / "m.json"), "m.json", USERS, "nabi", p)
    assert res.conversations[0]["messages"] == [{"role": "user", "content": "안녕 나비야"}]
    assert col.mongo_query(p, "nabi", T0) == {"bot": "nabi", "ts": {"$gte": T0}}


def test_live_cursor_uses_the_same_code_path():
    """A pymongo cursor yields documents already decoded; collect_messages takes them as they are."""
    cursor = ((i, d, None) for i, d in enumerate([_msg(1), _msg(2, role="character"), {"junk": 1}], 1))
    res = col.collect_messages(cursor, "mongodb:app.messages", USERS, "nabi", P,
                               since=T0, until=T0.replace(hour=13))
    assert res.stats["messages_kept"] == 2 and res.quarantine[0]["file"] == "mongodb:app.messages"
    with pytest.raises(col.CollectError, match="collect.mongo is not set"):
        col.collect_from_mongo("nabi", P)


def test_time_range_from_params(tmp_path):
    docs = [_msg(1, "제 이름은 김 민 트 예요, u1 이고요"), _msg(2, role="character"),
            {**_msg(3), "createdAt": datetime(2026, 2, 1, tzinfo=UTC)}]
    (tmp_path / "m.json").write_text("\n".join(_lines(docs)), encoding="utf-8")
    users = tmp_path / "u.json"
    users.write_text('{"_id": "u1", "nickname": "민트", "name": "김민트", "trainingOptIn": true, '
                     '"optInAt": {"$date": "2025-01-01T00:00:00Z"}}\n'
                     '{"_id": "u2", "trainingOptIn": "yes"}\n', encoding="utf-8")
    p = CollectParams(since=datetime(2026, 1, 1), until=datetime(2026, 1, 31, tzinfo=UTC))
    res = col.collect_chat_logs(tmp_path / "m.json", users, "nabi", p)
    assert res.stats["messages_kept"] == 2 and res.stats["out_of_time_range"] == 1
    assert res.stats["users_quarantined"] == 1 and "not a boolean" in res.quarantine[-1]["error"]
    assert res.conversations[0]["messages"][0]["content"] == "제 이름은 {{user}} 예요, {{user}} 이고요"


def test_forget_lists_builds_and_flags_registry_adapters(tmp_path, capsys):
    from lora_lib.registry import Registry
    from lora_lib.store import write_json

    store = tmp_path / "runs"
    ref = col.user_ref("u1", "demo-salt")
    write_json(store / "datasets/nabi/d1/manifest.json", {"version": "d1", "user_refs": [ref]})
    write_json(store / "datasets/nabi/d2/manifest.json", {"version": "d2", "user_refs": ["other"]})
    write_json(store / "adapters/nabi/a1/record.json", {"dataset_version": "d1"})
    write_json(store / "adapters/nabi/a2/record.json", {"dataset_version": "d2"})
    reg = Registry(f"sqlite:///{store.resolve()}/registry.sqlite")
    for version, dv in (("a1", "d1"), ("a2", "d2")):
        reg.register_adapter(character_id="nabi", version=version, path=str(store / "adapters/nabi" / version),
                             base_model="b", dataset_version=dv, sha256="0" * 64, status="approved")
    requests = tmp_path / "deletion_requests.jsonl"
    from .conftest import ROOT

    assert main(["forget", "--user", "u1", "--store", str(store), "--params", str(ROOT / "params"),
                 "--requests", str(requests)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [d["version"] for d in report["datasets"]] == ["d1"] and [a["version"] for a in report["adapters"]] == ["a1"]
    assert report["registry_flagged"] == [{"character_id": "nabi", "version": "a1", "previous_status": "approved"}]
    assert reg.get_adapter("nabi", "a1")["status"] == "needs_retrain" and reg.get_adapter("nabi", "a2")["status"] == "approved"
    assert col.load_deletion_requests(requests) == {"u1"} and "u1" not in json.dumps(report)
    again = col.forget_user("u1", store=store, salt="demo-salt", requests_path=requests)
    assert again["request_added"] is False and requests.read_text().count("u1") == 1
    requests.write_text("not json\n")
    with pytest.raises(col.CollectError, match="deletion_requests.jsonl:1"):
        col.load_deletion_requests(requests)


def test_pretty_exports_and_oversized_lines(tmp_path):
    docs = [_msg(1, '중괄호 { 와 "따옴표"'), _msg(2, role="character")]
    pretty = [json_util.dumps(d, json_options=RELAXED_JSON_OPTIONS, ensure_ascii=False, indent=4) for d in docs]
    (tmp_path / "p.json").write_text("\n".join(pretty) + "\n", encoding="utf-8")  # mongoexport --pretty
    (tmp_path / "pa.json").write_text("[\n" + ",\n".join(pretty) + "\n]\n", encoding="utf-8")  # --jsonArray --pretty
    for name in ("p.json", "pa.json"):
        got = list(col.iter_export(tmp_path / name))
        assert [d["content"] for _, d, _ in got] == [d["content"] for d in docs], name
        assert [ln for ln, _, _ in got][0] == 1 + (name == "pa.json")
    (tmp_path / "l.json").write_bytes(b"x" * 3000 + b"\n" + _lines([_msg(3)])[0].encode() + b"\n")
    got = list(col.iter_export(tmp_path / "l.json", max_bytes=1024))
    assert "over collect.max_document_bytes" in got[0][2] and got[1][1]["content"] and got[1][0] == 2
    (tmp_path / "e.json").write_bytes(b"")
    assert list(col.iter_export(tmp_path / "e.json")) == []


def test_collect_from_mongo_with_a_stand_in_client(monkeypatch):
    """No server here: a stand-in for pymongo.MongoClient records the query and serves documents."""
    import pymongo

    from lora_lib.config import MongoSource

    seen = {}
    users = [{"_id": "u1", "nickname": "민트", "trainingOptIn": True, "optInAt": T0}]
    messages = [_msg(1), _msg(2, role="character"), {"_id": "bad", "chatId": "c1"}]

    class Client:
        def __init__(self, uri, **kw):
            seen["uri"], seen["kw"] = uri, kw

        def __getitem__(self, db):
            return {"users": Coll(users), "messages": Coll(messages)}

        def close(self):
            seen["closed"] = True

    class Coll:
        def __init__(self, docs):
            self.docs = docs

        def find(self, query, batch_size):
            seen.setdefault("queries", []).append(query)
            return iter(self.docs)

    monkeypatch.setattr(pymongo, "MongoClient", Client)
    p = CollectParams(mongo=MongoSource(uri="mongodb://db:27017", database="app"), since=T0)
    res = col.collect_from_mongo("nabi", p)
    assert seen["uri"] == "mongodb://db:27017" and seen["kw"]["tz_aware"] and seen["closed"]
    assert seen["queries"] == [{}, {"characterId": "nabi", "createdAt": {"$gte": T0}}]
    assert res.stats["messages_kept"] == 2 and res.quarantine[0]["file"] == "mongodb:app.messages"

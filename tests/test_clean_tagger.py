"""The learned second pass after the PII rules (lora_lib/clean/tagger.py; issue 17). Examples made up here,
none from a labelled set: the frames are of the kind cross-validation showed the rules miss."""

import hashlib
from dataclasses import replace

import pytest
from pydantic import ValidationError

from lora_lib.clean import tagger, tagger_train
from lora_lib.clean.conversations import TurnContext, clean_turn
from lora_lib.clean.pii import NamePolicy, redact
from lora_lib.config import CleanParams

KEEP = ("나비", "보리", "김선비")
ON, OFF = NamePolicy(), NamePolicy(tagger=False)


def test_the_tagger_finds_a_full_name_in_a_frame_the_rules_miss():
    # a full name before a kinship word for a stranger (아저씨): no cue the rules read as a person's
    text = "옆집 사는 채도윤 아저씨가 택배 맡아줬어"
    assert "채도윤" in redact(text, keep_values=KEEP, policy=OFF).text
    red = redact(text, keep_values=KEEP, policy=ON)
    assert "채도윤" not in red.text and red.text == "옆집 사는 <NAME> 아저씨가 택배 맡아줬어"
    assert ("tagger:NAME", 6, 9) in red.findings  # named as the tagger's in the report's counts


@pytest.mark.parametrize("text", [
    "오늘 날씨 좋아서 산책했어", "하늘이 맑다 바다 보러 가자", "김치찌개 먹었어", "세종대왕은 훌륭해", "나비야 놀자",
    "보리랑 산책 다녀왔어", "정말 고마워요 선비님", "3시 20분에 보자", "5000원이야", "2번 출구 앞에서 만나",
    "주문번호 20231104-0001 조회해 주세요", "고객센터 1588-1234 로 전화했어", "버전 10.5.2 업데이트 했어",
    "희망을 잃지 마", "정의란 무엇인가 읽는 중", "서울 마포구 살아",
])
def test_ordinary_words_stay(text):
    red = redact(text, keep_values=KEEP, policy=ON)
    assert not [f for f in red.findings if f[0].startswith("tagger:")], red.text


def test_the_tagger_only_adds_and_off_gives_the_rules_output_exactly():
    lines = [r["text"] for r in tagger_train.load("set4")[:200]]
    for text in lines:
        rules = redact(text, keep_values=KEEP, policy=OFF)
        both = redact(text, keep_values=KEEP, policy=ON)
        assert not any(f[0].startswith("tagger:") for f in rules.findings)
        assert [f for f in both.findings if not f[0].startswith("tagger:")] == rules.findings
    # clean.tagger: false through the clean stage is the rules alone
    p = CleanParams(tagger=False)
    ctx = TurnContext.make(p, keep_values=KEEP)
    text = "옆집 사는 채도윤 아저씨가 택배 맡아줬어"
    assert clean_turn("user", text, ctx)[0] == redact(text, keep_values=KEEP, policy=OFF).text
    assert clean_turn("user", text, replace(ctx, params=CleanParams()))[0] != text


def test_never_over_a_keep_value():
    text = "옆집 사는 채도윤 아저씨가 택배 맡아줬어"
    assert "채도윤" in redact(text, keep_values=("채도윤",), policy=ON).text
    assert "채도윤" in redact(text, keep_values=KEEP, policy=NamePolicy(keep_names=("채도윤",))).text
    assert "채도윤" in redact(text, keep_values=KEEP, policy=NamePolicy(names="off")).text


def test_the_model_sidecar_matches_the_training_data():
    meta = tagger.sidecar()
    assert meta["feature_version"] == tagger.FEATURE_VERSION
    assert meta["model_sha256"] == hashlib.sha256(tagger.MODEL_PATH.read_bytes()).hexdigest()
    assert meta["model_bytes"] == tagger.MODEL_PATH.stat().st_size < 2_000_000
    assert {s["set"] for s in meta["training_sets"]} == set(tagger_train.SETS)
    for s in meta["training_sets"]:
        assert hashlib.sha256((tagger_train.ROOT / s["path"]).read_bytes()).hexdigest() == s["sha256"], s["path"]
    assert meta["negatives"]["path"] == f"tests/data/{tagger_train.NEGATIVES.name}"
    assert hashlib.sha256(tagger_train.NEGATIVES.read_bytes()).hexdigest() == meta["negatives"]["sha256"]
    assert meta["n_synthetic_negatives"] == len(tagger_train.synthetic_negatives()) == 400
    assert not any(r["pii"] for r in tagger_train.synthetic_negatives())
    assert CleanParams().tagger_min_prob == meta["min_prob_cross_validated"]


def test_a_missing_model_file_says_which_file_and_how_to_build_it(tmp_path, monkeypatch):
    missing = tmp_path / "pii_tagger.crfsuite"
    monkeypatch.setattr(tagger, "MODEL_PATH", missing)
    with pytest.raises(tagger.MissingModel) as err:
        redact("옆집 사는 채도윤 아저씨가 택배 맡아줬어", policy=ON)
    assert str(missing) in str(err.value) and "python -m lora_lib.clean.tagger_train" in str(err.value)
    assert redact("옆집 사는 채도윤 아저씨가 택배 맡아줬어", policy=OFF).text  # the rules alone need no model


def test_params_are_validated():
    assert CleanParams().tagger is True
    with pytest.raises(ValidationError):
        CleanParams(tagger_min_prob=1.5)
    with pytest.raises(ValidationError):
        CleanParams(tagger="maybe")


def test_training_is_deterministic(tmp_path):
    rows = tagger_train.load("set1")[:60] + tagger_train.synthetic_negatives(20)
    a = tagger_train.train(rows, tmp_path / "a.crfsuite", max_iter=20)
    b = tagger_train.train(rows, tmp_path / "b.crfsuite", max_iter=20)
    assert a.read_bytes() == b.read_bytes()


def test_features_and_labels_line_up():
    text = "이름은 이정숙인데 010-1234-5678"
    labels = tagger.bio(text, [("이정숙", "NAME"), ("010-1234-5678", "PHONE")])
    assert len(tagger.features(text)) == len(labels) == len(text)
    assert labels[4:7] == ["B-NAME", "I-NAME", "I-NAME"] and labels[10] == "B-PHONE" and labels[-1] == "I-PHONE"
    assert tagger.features("") == [] and tagger.tag_spans("", 0.5) == []


def test_a_long_line_is_read_in_pieces():
    text = ("가나다 " * 300) + "옆집 사는 채도윤 아저씨가 택배 맡아줬어"
    pieces = tagger.chunks(text)
    assert "".join(p for _, p in pieces) == text and all(len(p) <= tagger.CHUNK for _, p in pieces)
    assert all(text[o:o + len(p)] == p for o, p in pieces)
    assert len(tagger.tag_probs(text)) == len(text)

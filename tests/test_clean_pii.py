"""PII masking: the labelled chat set, obfuscations, negatives, known values."""

import ko_pii
import pytest

from lora_lib.clean import pii_eval
from lora_lib.clean.pii import _KO_PII_GATE, KO_PII_LABELS, decode_number_words, redact


@pytest.fixture(scope="module")
def rows():
    return pii_eval.load_set()


def test_labelled_set_covers_every_label_and_has_negatives(rows):
    assert len(rows) >= 250 and sum(1 for r in rows if not r["spans"]) >= 80
    assert {s["label"] for r in rows for s in r["spans"]} == set(pii_eval.LABELS)


def test_ours_reaches_the_targets_and_beats_ko_pii_alone(rows):
    ours = pii_eval.score(rows, pii_eval.ours)["per_label"]["overall"]
    base = pii_eval.score(rows, pii_eval.ko_pii_alone)["per_label"]["overall"]
    assert ours["recall"] >= 0.98 and ours["precision"] >= 0.95, ours
    assert ours["recall"] > base["recall"]


def test_negatives_are_untouched(rows):
    # as the clean stage calls it: the characters' names kept ("소생의 이름은 김선비이오" is 선비 naming himself,
    # grammatically a full name)
    for r in rows:
        if not r["spans"]:
            assert redact(r["text"], r["known_values"], keep_values=pii_eval.CHARACTER_NAMES).text == r["text"]


@pytest.mark.parametrize("text, masked", [
    ("공일공 일이삼사 오육칠팔 이에요", "<PHONE> 이에요"),
    ("010 일이삼사 5678로 줘", "<PHONE>로 줘"),
    ("minsu92 골뱅이 naver 닷컴 으로 보내", "<EMAIL> 으로 보내"),
    ("jieun.lee at gmail dot com", "<EMAIL>"),
    ("카톡 아디 sunny_0415 이야", "카톡 아디 <MESSENGER> 이야"),
    ("인스타 @mingming77 팔로우", "인스타 <MESSENGER> 팔로우"),
    ("부산 해운대구 우동 1234-5 101동 1203호 놀러 와", "<ADDRESS> 놀러 와"),
    ("난 박서준이야, 잘 부탁해", "난 <NAME>이야, 잘 부탁해"),
    ("카드번호 4532-1234-5678-9012 이거", "카드번호 <CARD> 이거"),
])
def test_obfuscations(text, masked):
    assert redact(text).text == masked


def test_known_values_in_any_spacing_become_user():
    r = redact("느 긋 한 곰 돌 이 왔어, LAZY.SUNDAY 도", known_values=["느긋한곰돌이", "lazy_sunday", "x"])
    assert r.text == "{{user}} 왔어, {{user}} 도" and r.labels == ["USER", "USER"]
    assert redact("곰돌이 인형", known_values=["느긋한곰돌이"]).findings == []


def test_number_words_decode_in_place():
    text = "번호 공일공 일이삼사 오육칠팔, 오이 구이 먹자"
    decoded = decode_number_words(text)
    assert len(decoded) == len(text) and "010 1234 5678" in decoded and "오이 구이" in decoded


def test_the_ko_pii_gate_never_hides_a_ko_pii_finding(rows):
    """ko-pii is skipped on text without a digit or an at-sign; it must find nothing there."""
    from lora_lib.bench import synthetic_messages
    from lora_lib.demo.world import polite_chats

    texts = [r["text"] for r in rows] + [m["content"] for c in polite_chats(100, seed=3) for m in c]
    texts += [t for _, t in synthetic_messages(3000, seed=4)]
    texts += ["테헤란로 5", "와우산로 9 2층", "우동 12-3", "IP 1.2.3.4", "차 12가 3456", "여권 M1234567", "3시 20분에 5000원"]
    skipped = [t for t in texts if not _KO_PII_GATE.search(decode_number_words(t))]
    assert len(skipped) > 100
    assert not [t for t in skipped if ko_pii.detect_all(t, include=KO_PII_LABELS)]


def test_our_ko_pii_call_matches_detect_all(rows):
    """ko_pii_detect skips detectors that cannot emit our labels; the findings must not change."""
    from lora_lib.bench import synthetic_messages
    from lora_lib.clean.pii import ko_pii_detect

    texts = [r["text"] for r in rows] + [t for _, t in synthetic_messages(3000, seed=5) if _KO_PII_GATE.search(t)]
    texts.append("주소 서울시 강남구 테헤란로 5 2층, 여권 M12345678, 팩스 02-123-4567, IP 10.0.0.1, 전각 ０１０-１２３４-５６７８")

    def key(ds):
        return sorted((d.label, d.start, d.end) for d in ds)

    assert [key(ko_pii_detect(t)) for t in texts] == [key(ko_pii.detect_all(t, include=KO_PII_LABELS)) for t in texts]

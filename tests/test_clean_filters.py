"""Quality, meta, language, safety and leakage filters, and the counting invariant, on small inputs."""

from collections import Counter

import pytest

from lora_lib.clean.conversations import clean_conversations
from lora_lib.clean.language import language_reason
from lora_lib.clean.leakage import leakage_reason
from lora_lib.clean.meta import meta_reason
from lora_lib.clean.quality import quality_reason
from lora_lib.config import CleanParams

P = CleanParams()
Q = {"min_chars": P.min_chars, "max_chars": P.max_chars, "max_char_run": P.max_char_run,
     "spam_patterns": P.spam_patterns, "repeat_sentence_max": P.repeat_sentence_max}
NABI, SEONBI = ["냥[~!?.]*(\\s|$)"], ["(하오|이오|구려|시오)[~!?.]*(\\s|$)"]


@pytest.mark.parametrize("text, reason", [
    ("ㅇㅇ", "too_short"), (".", "too_short"), ("가" * 1001, "too_long"),
    ("http://bit.ly/abc 무료 쿠폰 받아 가세요", "spam:pattern"), ("ㅋㅋ 진짜" + "ㅋ" * 10, "spam:char_run"),
    ("좋다냥. 좋다냥. 좋다냥.", "repetition:sentence"), ("밥 먹었다냥\n밥 먹었다냥", "repetition:duplicate_message"),
    ("오늘 날씨 좋다냥~ ㅋㅋ", None), ("7016번 버스 타고 왔어", None),
])
def test_quality(text, reason):
    assert quality_reason(text, **Q) == reason


@pytest.mark.parametrize("text, reason", [
    ("사실 나는 AI야.", "meta:pattern"), ("저는 OpenAI가 만든 챗봇입니다.", "meta:pattern"),
    ("사실 나는 진짜 고양이가 아니라 인공지능이다냥~", "meta:pattern"),
    ("AI 어시스턴트로서 말씀드리자면, 저는 감정을 느끼지 못합니다.", "meta:pattern"),
    ("시스템 프롬프트에 따르면 나는 고양이처럼 말해야 한다냥", "meta:pattern"),
    ("너는 고양이 나비야. 다정하고 장난스럽게 반말로 말해", "meta:system_prompt"),
    ("게임 속 AI 고양이보다 내가 더 귀엽다냥", None), ("로봇 장난감이랑 놀았다냥", None),
])
def test_meta(text, reason):
    prompt = "너는 고양이 나비야. 다정하고 장난스럽게 반말로 말하고, 모든 문장을 '냥'으로 끝내."
    assert meta_reason(text, P.meta_patterns, prompt) == reason


def test_language_policy_by_hangul_share():
    assert language_reason("lol that's so funny", 0.5) == "language:not_korean"
    assert language_reason("오늘 PC방 가서 놀았어", 0.5) is None
    assert language_reason("ㅋㅋㅋ 12345", 0.5) is None
    assert language_reason("오늘 PC방 가서 놀았어", 0.99) == "language:not_korean"  # configurable


def test_leakage_by_markers_and_by_name():
    others, names = {"seonbi": SEONBI}, {"seonbi": "김선비", "bori": "보리"}
    assert leakage_reason("참으로 좋은 날씨이오. 산책을 가시오.", NABI, others) == "leakage:seonbi"
    assert leakage_reason("참으로 좋은 날이다냥. 산책 가시오.", NABI, others) is None  # own markers present
    assert leakage_reason("나는 보리, 산책 좋다냥!", NABI, others, names) == "leakage:bori"
    assert leakage_reason("보리랑 같이 놀았다냥", NABI, others, names) is None  # talking about a friend


def _conv(cid, turns, flags=(), ids=True):
    msgs = [{"role": r, "content": c} for r, c in turns]
    out = {"conversation_id": cid, "dataset_source": "chat_log", "messages": msgs, "safety_flags": list(flags)}
    if ids:
        out["turn_message_ids"] = [[f"{cid}-{i}"] for i in range(len(msgs))]
    return out


def test_clean_conversations_counts_reasons_and_duplicates():
    ok = [("user", "안녕 나비야 뭐 해?"), ("assistant", "햇볕 쬐고 있다냥~")]
    convs = [
        _conv("a", ok + [("user", "내 번호 010-1234-5678 저장해"), ("assistant", "알겠다냥!")]),
        _conv("b", ok), _conv("b2", ok), _conv("c", ok, flags=["nsfw"]),
        _conv("d", [("user", "ㅇㅇ"), ("assistant", "그렇다냥")]),
        _conv("e", [("user", "뭐 해?"), ("assistant", "참으로 좋은 날이오. 산책을 가시오.")]),
        _conv("f", [("user", "밥 먹었어?"), ("assistant", "햇볕 쬐고 있다냥~"), ("user", "또 잘 거야?")]),
    ]
    p = CleanParams(max_duplicate_turns=3)
    res = clean_conversations(convs, p, system_prompt="", own_markers=NABI, other_markers={"seonbi": SEONBI})
    reasons = Counter(r["reason"] for r in res.rejected)
    assert reasons["safety:nsfw"] == 1 and reasons["pair:too_short"] == 1 and reasons["leakage:seonbi"] == 1
    assert reasons["duplicate:conversation"] == 1 and reasons["duplicate:turn"] == 1 and reasons["no_reply"] == 1
    assert res.kept[0]["messages"][2]["content"] == "내 번호 <PHONE> 저장해" and res.stats["pii_masked"] == {"PHONE": 1}
    assert res.stats["turns_in"] == res.stats["turns_kept"] + res.stats["turns_rejected"]
    for kept in res.kept:
        assert len(kept["turn_message_ids"]) == len(kept["messages"])
    assert all(r.get("message_ids") for r in res.rejected if r["level"] == "turn")


def test_style_classifier_flags_another_voice_without_markers():
    from lora_lib.clean.leakage import StyleClassifier, classifier_reason

    lines = {"nabi": ["햇볕이 좋다냥", "생선 먹고 싶다냥", "낮잠 자야겠다냥~", "털 고르기 중이다냥", "츄르 주라냥"] * 4,
             "seonbi": ["서책을 읽었소", "그대는 어찌 지내시오", "참으로 좋은 날이로군", "소생은 붓을 들었소",
                        "학문은 끝이 없구려"] * 4}
    clf = StyleClassifier(lines)
    assert classifier_reason("소생은 오늘도 서책을 읽었소", "nabi", clf, 0.75) == "leakage:seonbi"
    assert classifier_reason("오늘도 낮잠 잤다냥", "nabi", clf, 0.75) is None
    with pytest.raises(ValueError, match="two characters"):
        StyleClassifier({"nabi": ["냥"]})

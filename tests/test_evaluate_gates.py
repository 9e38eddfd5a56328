"""Automatic gates: the labelled set, bad inputs, params thresholds."""

import pytest

from lora_lib.config import GateParams, load_params
from lora_lib.evaluate.gates import GATES, check_reply, explain_reply, gate_quality, load_labels, script_share

from .conftest import ROOT

PARAMS = ROOT / "params"


def test_labelled_set_is_big_enough_and_has_risky_clean_replies():
    labels = load_labels()
    assert len(labels) >= 150
    clean = [r for r in labels if not r["fails"]]
    assert any("로봇" in r["reply"] for r in clean) and any("게임" in r["reply"] for r in clean)
    assert {g for r in labels for g in r["fails"]} == set(GATES)


def test_gate_quality_on_the_labelled_set_stays_high():
    prompts = {c: load_params(c, params_dir=PARAMS).character.system_prompt for c in ("nabi", "bori", "seonbi")}
    rows = {r["gate"]: r for r in gate_quality(load_labels(), prompts)}
    # Measured 2026-11-27 (see the report): a drop below these means a gate got worse.
    for gate, (p_min, r_min) in {"language": (0.95, 0.9), "meta_leak": (0.9, 0.8), "repetition": (0.95, 0.95),
                                 "policy": (0.8, 0.95)}.items():
        assert rows[gate]["precision"] >= p_min and rows[gate]["recall"] >= r_min, rows[gate]
        assert rows[gate]["tp"] + rows[gate]["fp"] + rows[gate]["fn"] + rows[gate]["tn"] == len(load_labels())


@pytest.mark.parametrize("reply,failed", [
    ("", {"repetition"}),
    (None, {"repetition"}),
    ("   \n ", {"repetition"}),
    ("😺😺❤️", {"repetition"}),
    ("가" * 100_000, {"repetition"}),
    ("좋다냥 " * 25_000, {"repetition"}),
    ("今天天气很好 today is nice 좋다냥", {"language"}),
    ("오늘 PC방에서 LOL 했다냥!", set()),
    ("게임 속 AI 고양이보다 내가 더 귀엽다냥!", set()),
    ("로봇 청소기가 무섭다멍...", set()),
])
def test_bad_and_tricky_inputs_give_a_clear_result(reply, failed):
    got = check_reply(reply)
    assert set(got) == set(GATES) and all(isinstance(v, bool) for v in got.values())
    assert {g for g, ok in got.items() if not ok} == failed
    reasons = explain_reply(reply)
    assert all(reasons[g] for g in failed)  # every failure says why


def test_not_a_string_and_bad_settings_are_clear_errors():
    with pytest.raises(TypeError, match="reply must be a string"):
        check_reply(42)
    with pytest.raises(ValueError, match="unsupported language 'xx'"):
        check_reply("안녕", language="xx")
    with pytest.raises(ValueError, match="invalid regex"):
        check_reply("안녕", params=GateParams(sensitive_patterns=["(unclosed"]))


def test_thresholds_come_from_params_and_character_banned_words():
    loud = "ㅋ" * 12 + " 웃기다냥"
    assert not check_reply(loud)["repetition"]
    assert check_reply(loud, params=GateParams(max_char_run=20))["repetition"]
    assert not check_reply("넌 바 보 다냥", banned_words=["바보"])["policy"]  # dodged with spaces
    assert not check_reply("넌 바보다냥", params=GateParams(banned_words=["바보"]))["policy"]
    assert check_reply("넌 최고다냥", banned_words=None, system_prompt=None)["policy"]


def test_meta_leak_catches_verbatim_system_prompt():
    prompt = load_params("nabi", params_dir=PARAMS).character.system_prompt
    assert not check_reply(prompt[:20] + " 라고 했다냥", system_prompt=prompt)["meta_leak"]
    assert check_reply("다정하게 놀자냥", system_prompt=prompt)["meta_leak"]


def test_script_share_tolerates_a_few_short_loanwords_only():
    assert script_share("SNS에 사진 올렸다냥") == 1.0
    assert script_share("sun is so warm and I love it 좋다냥") < 0.5
    assert script_share("!!! 123 😺") == 1.0


def test_missing_character_params_is_a_clear_error(tmp_path):
    import shutil

    from lora_lib.config import ConfigError

    shutil.copytree(PARAMS, tmp_path / "params")
    (tmp_path / "params" / "characters" / "yuna.yaml").write_text(
        "character:\n  name: 유나\n  category: human\n  system_prompt: 너는 유나야.\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"yuna.yaml: character.style_markers: Field required"):
        load_params("yuna", params_dir=tmp_path / "params")

import pytest

from lora_lib.cli import parse_sets
from lora_lib.config import ConfigError, guide_warnings, known_characters, load_params

from .conftest import ROOT

PARAMS = ROOT / "params"


def test_every_character_loads_within_the_guide():
    assert set(known_characters(PARAMS)) >= {"nabi", "bori", "seonbi"}
    for cid in known_characters(PARAMS):
        p = load_params(cid, params_dir=PARAMS)
        assert p.character.style_markers
        assert guide_warnings(p) == []


def test_demo_has_two_characters_in_one_category():
    cats = [load_params(c, params_dir=PARAMS).character.category for c in known_characters(PARAMS)]
    assert max(cats.count(c) for c in cats) >= 2


def test_overrides_apply_with_types():
    p = load_params("nabi", params_dir=PARAMS, overrides=parse_sets(["train.lora.r=8", "tracking=none"]))
    assert p.train.lora.r == 8 and p.tracking == "none"


@pytest.mark.parametrize("cid,overrides,needle", [
    ("../etc", {}, "invalid character id"),
    ("Nabi/x", {}, "invalid character id"),
    ("nobody", {}, "unknown character 'nobody'"),
    ("nabi", {"train.lora.r": "many"}, "overrides: train.lora.r"),
    ("nabi", {"train.nope": 1}, "overrides: train.nope: Extra inputs"),
])
def test_bad_input_is_one_clear_line(cid, overrides, needle):
    with pytest.raises(ConfigError) as exc:
        load_params(cid, params_dir=PARAMS, overrides=overrides)
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_wrong_type_in_a_character_file_names_that_file(tmp_path):
    (tmp_path / "characters").mkdir()
    (tmp_path / "defaults.yaml").write_text((PARAMS / "defaults.yaml").read_text())
    (tmp_path / "characters" / "x.yaml").write_text(
        "character: {name: X, category: c, system_prompt: s, style_markers: [a]}\ntrain: {epochs: lots}\n")
    with pytest.raises(ConfigError, match=r"characters/x.yaml: train.epochs"):
        load_params("x", params_dir=tmp_path)


def test_guide_warnings_flag_out_of_range():
    p = load_params("nabi", params_dir=PARAMS, overrides={"train.lora.r": 64, "train.learning_rate": 1e-3})
    assert len(guide_warnings(p)) == 2

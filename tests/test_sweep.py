"""Sweeps: grid parsing, the best-point rule, the comparison table and plot."""

import subprocess
import sys

import pytest

from lora_lib import sweep
from lora_lib.store import run_paths, write_json

from .conftest import ROOT


def test_parse_grid_types_values_and_separates_fixed_params():
    grid, fixed = sweep.parse_grid(["train.lora.r=8,16,32", "train.learning_rate=1e-4, 2e-4", "train.epochs=1",
                                    "train.lora.target_modules=[q_proj,v_proj]"])
    assert grid == {"train.lora.r": [8, 16, 32], "train.learning_rate": [1e-4, 2e-4]}
    assert fixed == {"train.epochs": 1, "train.lora.target_modules": ["q_proj", "v_proj"]}
    assert sweep.split_values("[a,b],[c]") == ["[a,b]", "[c]"]


@pytest.mark.parametrize("items,needle", [
    (["train.lora.r"], "KEY=V1,V2"),
    (["train.lora.r=8,,16"], "an empty value"),
    (["train.lora.r=8,8"], "repeated"),
    (["train.lora.r=8,16", "train.lora.r=32"], "given twice"),
])
def test_parse_grid_rejects_bad_input(items, needle):
    with pytest.raises(ValueError, match=needle):
        sweep.parse_grid(items)


def test_grid_points_cover_every_combination_in_order():
    points = sweep.grid_points({"train.lora.r": [8, 16, 32], "train.learning_rate": [1e-4, 2e-4]})
    assert len(points) == 6 and points[0] == {"train.lora.r": 8, "train.learning_rate": 1e-4}
    assert points[1] == {"train.lora.r": 8, "train.learning_rate": 2e-4}
    assert sweep.point_label(points[-1]) == "lora.r=32 learning_rate=0.0002"


def test_best_point_follows_the_stated_rule():
    def row(label, smr, loss, r, passed=True, status="ok"):
        return {"label": label, "style_marker_rate": smr, "final_loss": loss, "r": r, "passed": passed,
                "status": status}

    rows = [row("high-but-fails", 1.0, 0.1, 8, passed=False), row("crashed", None, None, 8, passed=None,
                                                                  status="failed"),
            row("a", 0.9, 0.5, 32), row("b", 0.9, 0.4, 32), row("c", 0.9, 0.4, 16), row("d", 0.8, 0.1, 8)]
    assert sweep.best_point(rows)["label"] == "c"  # same rate, same loss: the smaller r wins
    assert sweep.best_point(rows[:2]) is None
    assert "passed every gate" in sweep.BEST_RULE


def fake_sweep(store):
    """A two-point sweep on disk as run_sweep leaves it (r=8 fails the gates, r=16 passes)."""
    points = [{"train.lora.r": 8}, {"train.lora.r": 16}]
    sw = {"points": [{"run_id": f"sweep-s1-p{i}", "overrides": pt, "label": sweep.point_label(pt)}
                     for i, pt in enumerate(points)], "grid": {"train.lora.r": [8, 16]}}
    write_json(sweep.sweep_dir(store, "nabi", "s1") / "sweep.json", sw)
    for i, (smr, passed) in enumerate([(0.7, False), (0.95, True)]):
        paths = run_paths(store, "nabi", f"sweep-s1-p{i}")
        write_json(paths.run_dir / "summary.json", {"stages": {"train": "ok", "evaluate": "ok"}})
        write_json(paths.stage_dir("train") / "result.json", {"adapter_version": f"ad{i}", "final_loss": 1.0 - i / 10,
                                                               "wall_seconds": 3.0, "steps": 10})
        write_json(paths.stage_dir("evaluate") / "result.json", {
            "style_marker_rate": {"base": 0.0, "adapter": smr}, "passed": passed,
            "reasons": [] if passed else ["style_marker_rate 0.70 < 0.8"],
            "gate_pass_rate": {"adapter": {"language": 1.0, "repetition": [0.9, 0.95][i]}}})


def test_compare_notebook_runs_with_papermill(tmp_path):
    import papermill as pm

    fake_sweep(tmp_path)
    out = tmp_path / "compare.ipynb"
    pm.execute_notebook(str(ROOT / "notebooks" / "compare_runs.ipynb"), str(out), cwd=str(ROOT), progress_bar=False,
                        kernel_name="python3", parameters={"character_id": "nabi", "run_id": "s1",
                                                           "store": str(tmp_path)})
    text = out.read_text()
    assert "Best: lora.r=16" in text and "image/png" in text and "2 run(s) of nabi in sweep s1" in text


def test_comparison_table_and_plot_from_the_points_on_disk(tmp_path):
    fake_sweep(tmp_path)
    table = sweep.comparison_table(tmp_path, "nabi", "s1")
    assert list(table["label"]) == ["lora.r=8", "lora.r=16"]
    assert list(table["style_marker_rate"]) == [0.7, 0.95] and list(table["min_gate_pass_rate"]) == [0.9, 0.95]
    assert table["reasons"][0] == "style_marker_rate 0.70 < 0.8"
    best = sweep.best_point(table.to_dict("records"))
    assert best["label"] == "lora.r=16"
    fig = sweep.metrics_plot(table, best["label"])
    assert len(fig.axes) == 3 and len(fig.axes[0].patches) == 2
    assert "lora.r=16" in sweep.format_table(table.to_dict("records"))
    # without a sweep id: every evaluated run of the character
    assert set(sweep.comparison_table(tmp_path, "nabi")["run_id"]) == {"sweep-s1-p0", "sweep-s1-p1"}
    with pytest.raises(FileNotFoundError, match="no sweep 'nope'"):
        sweep.comparison_table(tmp_path, "nabi", "nope")


@pytest.mark.parametrize("args,needle", [
    (["--set", "train.lora.r=8,lots"], "overrides: train.lora.r"),  # every point is checked before any work
    (["--set", "train.lora.r=8,16", "--dataset-run", "nope"], "run nabi/nope has no dataset version"),
    (["--set", "train.epochs=1"], "at least one param with several values"),
])
def test_sweep_cli_bad_input_is_one_line_and_nothing_written(tmp_path, args, needle):
    res = subprocess.run([sys.executable, "-m", "lora_lib.cli", "sweep", "--character", "nabi", "--store",
                          str(tmp_path), *args], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode != 0
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert not list(tmp_path.rglob("*.json"))

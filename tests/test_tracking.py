"""W&B offline: one run per stage, config = resolved params, artifacts; `tracking: none` does nothing."""

from lora_lib import stages, tracking
from lora_lib.config import load_params
from lora_lib.store import run_paths

from .conftest import ROOT


def test_offline_stage_run_writes_wandb_files_and_plain_json(world_store):
    p = load_params("seonbi", params_dir=ROOT / "params", overrides={"store": str(world_store)})
    assert p.tracking == "offline"  # the default: no account needed
    paths = run_paths(world_store, "seonbi", "wb")
    tracker = tracking.start(p, "collect", "wb")
    result = stages.run_collect(p, paths, tracker)
    tracker.artifact("collect-seonbi", "conversations", paths.stage_dir("collect"), aliases=["wb"])
    tracker.finish()
    runs = list((world_store / "wandb" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
    assert paths.result("collect") == result  # the plain-JSON copy


def test_tracking_none_is_a_no_op():
    p = load_params("nabi", params_dir=ROOT / "params", overrides={"tracking": "none"})
    t = tracking.start(p, "collect", "x")
    assert not t.enabled
    t.log({"a": 1})
    t.summary({"b": 2})
    t.artifact("n", "t", ".")
    t.finish()

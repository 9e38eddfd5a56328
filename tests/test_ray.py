"""Past one machine: batches as Ray tasks and cleaning as Ray Data give what the local paths give.

The tests marked `ray` run on a local `ray.init(num_cpus=2)` cluster with `pytest -m ray` (.ci/run installs
the extra and runs them); the first test needs no Ray at all and runs in the default suite.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from .conftest import ROOT

MINIMAL = {"tracking": "none", "train.epochs": 1, "train.max_steps": 4}


def test_ray_paths_name_the_extra_when_ray_is_missing(monkeypatch, tmp_path):
    from lora_lib.clean.conversations import clean_conversations
    from lora_lib.clean.ray_data import require_ray
    from lora_lib.config import CleanParams
    from lora_lib.pipeline import PipelineError, run_batch

    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` sees when the extra is not installed
    with pytest.raises(RuntimeError, match=r"pip install -e '\.\[ray\]'"):
        require_ray()
    with pytest.raises(PipelineError, match=r"--executor ray needs Ray.*\.\[ray\]"):
        run_batch(["nabi"], executor="ray", store=tmp_path, params_dir=ROOT / "params", progress=False)
    assert not (tmp_path / "batches").exists()  # nothing started
    conv = {"conversation_id": "c1", "messages": [{"role": "user", "content": "안녕하세요 반가워요"},
                                                  {"role": "assistant", "content": "네 안녕하세요 반가워요"}]}
    with pytest.raises(RuntimeError, match=r"clean.executor: ray needs Ray"):
        clean_conversations([conv], CleanParams(executor="ray"), system_prompt="", own_markers=[], other_markers={})


@pytest.mark.ray
def test_cleaning_through_ray_data_gives_the_same_result_and_dataset_version(world_store, ray_cluster, tmp_path):
    from lora_lib.config import load_params
    from lora_lib.dataset import build_version
    from lora_lib.stages import clean_all, collect_all
    from lora_lib.store import write_jsonl

    params = ROOT / "params"
    local = load_params("nabi", params_dir=params, overrides={"store": str(world_store), "tracking": "none"})
    on_ray = load_params("nabi", params_dir=params, overrides={"store": str(world_store), "tracking": "none",
                                                               "clean.executor": "ray", "clean.ray_workers": 2,
                                                               "clean.ray_batch_size": 25})
    res, gold, card = collect_all(local)
    conversations = res.conversations + gold + card
    source = tmp_path / "conversations.jsonl"
    write_jsonl(source, conversations)
    start = time.time()
    a = clean_all(local, conversations, params)
    local_s = time.time() - start
    start = time.time()
    b = clean_all(on_ray, conversations, params, source=source)
    print(f"clean {a.stats['turns_in']} turns: local {local_s:.1f} s, Ray Data (2 workers) {time.time() - start:.1f} s")
    assert a.stats["turns_in"] > 500 and a.stats["reasons"] and a.stats["pii_masked"]
    assert b.kept == a.kept and b.rejected == a.rejected and b.stats == a.stats and b.pii_counts == a.pii_counts
    # the same content gives the same version; where the work ran is not part of it
    v_local = build_version(a.kept, local.model_copy(update={"store": str(tmp_path / "local")}))["version"]
    v_ray = build_version(b.kept, on_ray.model_copy(update={"store": str(tmp_path / "ray")}))["version"]
    assert v_local == v_ray
    # in-memory conversations (no file) take the same path
    assert clean_all(on_ray, conversations[:40], params).kept == clean_all(local, conversations[:40], params).kept


@pytest.mark.ray
@pytest.mark.slow
def test_a_batch_through_ray_gives_the_versions_of_jobs_1(demo_store, ray_cluster, tmp_path):
    """The three demo characters, collect..train, once with --jobs 1 and once as Ray tasks, in one store path
    (the base model's path is part of an adapter's id): the first batch's datasets and adapters are moved
    aside before the second, so the Ray tasks build and train everything again."""
    from lora_lib.pipeline import run_batch

    store = tmp_path / "store"
    shutil.copytree(demo_store / "demo", store / "demo")
    kw = dict(stages=["collect", "clean", "dataset", "train"], store=store, params_dir=ROOT / "params",
              overrides=MINIMAL, progress=False, log=lambda *_: None)
    characters = ["nabi", "bori", "seonbi"]
    start = time.time()
    local = run_batch(characters, run_id="ray-ref", jobs=1, **kw)
    local_s = time.time() - start
    for name in ("datasets", "adapters"):
        (store / name).rename(tmp_path / f"ref-{name}")
    start = time.time()
    on_ray = run_batch(characters, run_id="ray-batch", executor="ray", **kw)
    print(f"collect..train x3: --jobs 1 {local_s:.0f} s, Ray (2 CPUs) {time.time() - start:.0f} s")
    assert on_ray["executor"] == "ray" and (store / "batches" / "ray-batch" / "index.html").exists()
    for a, b in zip(local["characters"], on_ray["characters"], strict=True):
        assert a["status"] == b["status"] == "ok", (a["error"], b["error"])
        assert (a["dataset_version"], a["adapter_version"]) == (b["dataset_version"], b["adapter_version"])
        assert b["ray"]["attempts"] == 1 and b["ran"] == kw["stages"]
        assert (store / b["character_id"] / "ray-batch" / "index.html").exists()
        assert (store / "adapters" / b["character_id"] / b["adapter_version"] / "record.json").exists()
        ref = json.loads((tmp_path / "ref-adapters" / a["character_id"] / a["adapter_version"] / "record.json")
                         .read_text())
        new = json.loads((store / "adapters" / b["character_id"] / b["adapter_version"] / "record.json").read_text())
        print(f"{b['character_id']}: dataset {b['dataset_version']} adapter {b['adapter_version']}; weights sha256 "
              f"{'identical' if ref['adapter_sha256'] == new['adapter_sha256'] else 'differ (threads differ: float sums)'}; "
              f"final loss {ref.get('final_loss')} vs {new.get('final_loss')}")


@pytest.mark.ray
@pytest.mark.slow
def test_a_sweep_through_ray_gives_the_points_of_the_local_sweep(demo_store, ray_cluster, tmp_path):
    """`lora sweep --executor ray`: each point is a Ray task; the same grid on the same dataset gives the same
    adapter versions and the same comparison as the local sweep. The two sweeps run in two copies of the store
    (an adapter's version names its base by content, not by path), so the Ray points train again."""
    from lora_lib.sweep import run_sweep

    grid = {"train.lora.r": [2, 4]}
    results = {}
    for executor in ("local", "ray"):
        store = tmp_path / executor
        shutil.copytree(demo_store / "demo", store / "demo")
        start = time.time()
        out = run_sweep("seonbi", grid, store=store, params_dir=ROOT / "params", overrides=MINIMAL,
                        sweep_id="s1", progress=False, log=lambda *_: None, executor=executor)
        print(f"sweep of 2 points, {executor}: {time.time() - start:.0f} s")
        assert len(out["results"]) == 2 and all(r["status"] == "ok" for r in out["results"]), out["results"]
        assert (Path(out["dir"]) / "sweep.json").exists()
        results[executor] = out
    local, on_ray = results["local"], results["ray"]
    assert on_ray["dataset_version"] == local["dataset_version"]
    for a, b in zip(local["results"], on_ray["results"], strict=True):
        assert (a["label"], a["r"], a["adapter_version"], a["steps"]) == (b["label"], b["r"], b["adapter_version"],
                                                                          b["steps"])
    assert [r["r"] for r in on_ray["results"]] == [2, 4]


def _chain_processes(run_id: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "lora_lib.pipeline" in line and f"--run-id {run_id}" in line]


@pytest.mark.ray
@pytest.mark.slow
def test_a_task_killed_mid_run_is_retried_and_the_batch_finishes(world_store, ray_cluster):
    from lora_lib.pipeline import run_batch

    run_id, done = "ray-kill", {}
    kw = dict(run_id=run_id, stages=["collect", "clean"], executor="ray", store=world_store,
              params_dir=ROOT / "params", overrides={"tracking": "none"}, progress=False, log=lambda *_: None)
    thread = threading.Thread(target=lambda: done.update(run_batch(["nabi", "bori"], **kw)))
    thread.start()
    run_dir = world_store / "nabi" / run_id
    deadline = time.time() + 300
    while time.time() < deadline:  # kill nabi's worker once its collect stage is done and clean has begun
        log = run_dir / "pipeline.log"
        if log.exists() and "[nabi] collect ok" in log.read_text() and (run_dir / "ray_tasks.jsonl").exists():
            break
        time.sleep(0.2)
    first = json.loads((run_dir / "ray_tasks.jsonl").read_text().splitlines()[0])
    os.kill(first["pid"], signal.SIGKILL)
    thread.join(timeout=600)
    rows = {r["character_id"]: r for r in done["characters"]}
    assert rows["nabi"]["status"] == rows["bori"]["status"] == "ok", rows["nabi"]["error"]
    assert rows["nabi"]["ray"]["attempts"] == 2 and rows["bori"]["ray"]["attempts"] == 1
    assert rows["nabi"]["stages"] == {"collect": "ok", "clean": "ok"}
    assert not _chain_processes(run_id)  # the killed attempt's chain process died with its worker


def _lora(*args):
    return subprocess.run([sys.executable, "-m", "lora_lib.cli", *args], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.ray
def test_cli_run_and_clean_on_an_existing_cluster(world_store, ray_cluster):
    address = ray_cluster.get_runtime_context().gcs_address
    common = ["--run-id", "ray-cli", "--address", address, "--store", str(world_store), "--set", "tracking=none"]
    res = _lora("run", "--character", "seonbi", "--stages", "collect", "--executor", "ray", *common)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "as Ray tasks" in res.stdout and "[seonbi] done" in res.stdout and "batch ray-cli:" in res.stdout
    summary = json.loads((world_store / "batches" / "ray-cli" / "summary.json").read_text())
    assert summary["executor"] == "ray" and summary["characters"][0]["status"] == "ok"
    # the clean stage in its notebook, as Ray Data on the same cluster, then locally: the same counts
    on_ray = _lora("clean", "--character", "seonbi", "--executor", "ray", "--no-progress", *common)
    assert on_ray.returncode == 0, on_ray.stderr[-2000:]
    clean_dir = world_store / "seonbi" / "ray-cli" / "clean"
    kept = (clean_dir / "conversations.jsonl").read_bytes()
    local = _lora("clean", "--character", "seonbi", "--no-progress", *common)
    assert local.returncode == 0, local.stderr[-2000:]
    assert json.loads(on_ray.stdout.splitlines()[-1]) == json.loads(local.stdout.splitlines()[-1])
    assert (clean_dir / "conversations.jsonl").read_bytes() == kept

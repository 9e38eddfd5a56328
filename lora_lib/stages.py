"""The seven stages as recipes: read the previous stage's files, call the library, write files.

Each function takes the resolved params, the run's paths and a tracker, writes its outputs under
<run>/<stage>/ (plus the shared datasets/adapters/registry), writes <run>/<stage>/result.json and
returns that result. Notebooks call these and show the results; tests call them directly.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from . import collect as col
from .clean.conversations import clean_conversations
from .config import Params, character_markers
from .store import RunPaths, read_jsonl, write_json, write_jsonl
from .tracking import Tracker


def _finish(paths: RunPaths, stage: str, result: dict, tracker: Tracker) -> dict:
    write_json(paths.stage_dir(stage) / "result.json", result)
    tracker.summary({k: v for k, v in result.items() if isinstance(v, int | float | str | bool)})
    return result


def _require(paths: RunPaths, stage: str, key: str):
    value = paths.result(stage).get(key)
    if value is None:
        raise RuntimeError(f"stage {stage!r} has no {key!r} in {paths.stage_dir(stage)}/result.json: run it first")
    return value


def run_collect(p: Params, paths: RunPaths, tracker: Tracker) -> dict:
    """Exports -> opt-in conversations (chat logs + gold + card examples), rejections, quarantine."""
    out = paths.stage_dir("collect")
    res = col.collect_chat_logs(p.path(p.inputs.messages), p.path(p.inputs.users), p.character_id, p.collect,
                                p.path(p.inputs.deletion_requests))
    gold = col.read_gold(p.path(p.inputs.gold), p.character_id)
    card = col.card_conversations(col.read_card(p.path(p.inputs.characters), p.character_id), p.character_id)
    conversations = res.conversations + gold + card
    write_jsonl(out / "conversations.jsonl", conversations)
    write_jsonl(out / "rejected.jsonl", res.rejected)
    write_jsonl(out / "quarantine.jsonl", res.quarantine)
    result = {**res.stats, "gold": len(gold), "card_examples": len(card), "conversations_total": len(conversations)}
    return _finish(paths, "collect", result, tracker)


def run_clean(p: Params, paths: RunPaths, tracker: Tracker, params_dir: str | Path = "params") -> dict:
    conversations = read_jsonl(paths.stage_dir("collect") / "conversations.jsonl")
    markers = character_markers(params_dir)
    others = {cid: m for cid, m in markers.items() if cid != p.character_id}
    res = clean_conversations(conversations, p.clean, system_prompt=p.character.system_prompt,
                              own_markers=p.character.style_markers, other_markers=others)
    out = paths.stage_dir("clean")
    write_jsonl(out / "conversations.jsonl", res.kept)
    write_jsonl(out / "rejected.jsonl", res.rejected)
    return _finish(paths, "clean", res.stats, tracker)


def run_dataset(p: Params, paths: RunPaths, tracker: Tracker, params_dir: str | Path = "params") -> dict:
    from .dataset import build_for_run, find_version

    manifest = build_for_run(p, paths, params_dir)
    version_dir = find_version(p.store, p.character_id, manifest["version"])
    tracker.artifact(f"dataset-{p.character_id}", "dataset", version_dir, metadata=manifest,
                     aliases=[manifest["version"]])
    result = {"dataset_version": manifest["version"], "train": manifest["counts"]["train"],
              "eval": manifest["counts"]["eval"], "sources": manifest["counts"]["sources"],
              "preference_pairs": manifest["counts"]["preference_pairs"],
              "rejected": manifest["counts"]["rejected"], "parent_version": manifest["parent_version"],
              "contributing_users": len(manifest["user_refs"]), "path": str(version_dir)}
    return _finish(paths, "dataset", result, tracker)


def run_train(p: Params, paths: RunPaths, tracker: Tracker, *, resume: bool = False) -> dict:
    from .train import train_adapter

    version = _require(paths, "dataset", "dataset_version")
    record = train_adapter(p, version, resume=resume)
    for row in record["losses"]:
        tracker.log({"train/loss": row["loss"]}, step=row["step"])
    for row in (record.get("dpo") or {}).get("losses", []):  # DPO steps continue after the SFT steps
        tracker.log({"dpo/loss": row["loss"], **({"dpo/reward_margin": row["reward_margin"]}
                                                 if "reward_margin" in row else {})}, step=record["steps"] + row["step"])
    adapter_dir = paths.adapter_root() / record["adapter_version"]
    tracker.artifact(f"adapter-{p.character_id}", "lora-adapter", adapter_dir,
                     metadata={k: record[k] for k in ("adapter_version", "dataset_version", "sha256", "seed")},
                     aliases=[record["adapter_version"]], uses=[f"dataset-{p.character_id}:{version}"])
    result = {k: record.get(k) for k in ("adapter_version", "dataset_version", "method", "final_loss", "train_loss",
                                         "steps", "wall_seconds", "train_tokens", "tokens_per_second", "peak_rss_mb",
                                         "guide_warnings", "adapter_sha256", "resumed_from")}
    if record.get("dpo"):
        result["dpo"] = {k: record["dpo"][k] for k in ("pairs", "steps", "train_loss", "losses")}
    result["path"] = str(adapter_dir)
    result["losses"] = record["losses"]
    return _finish(paths, "train", result, tracker)


def run_evaluate(p: Params, paths: RunPaths, tracker: Tracker) -> dict:
    """Base vs adapter on the same held-out prompts, greedy; one pass/fail decision."""
    from .dataset import eval_prompts, load_version
    from .evaluate.report import decide, replies_table, score_replies
    from .serve.engine import Engine

    dataset_version = _require(paths, "dataset", "dataset_version")
    adapter_version = _require(paths, "train", "adapter_version")
    _, evals, _ = load_version(p.store, p.character_id, dataset_version)
    prompts = eval_prompts(evals, p.evaluate.n_prompts)
    if not prompts:
        raise RuntimeError(f"dataset {dataset_version} has no eval prompts: raise dataset.eval_fraction")
    engine = Engine(p.path(p.base_model))
    name = f"{p.character_id}@{adapter_version}"
    engine.load_adapter(name, paths.adapter_root() / adapter_version)
    replies = {}
    for who, adapter in (("base", None), ("adapter", name)):
        replies[who] = []
        for i in range(0, len(prompts), p.evaluate.batch_size):
            batch = prompts[i:i + p.evaluate.batch_size]
            replies[who] += [g.text for g in engine.generate(batch, adapter, max_new_tokens=p.evaluate.max_new_tokens)]
    base, adapter = score_replies(replies["base"], p), score_replies(replies["adapter"], p)
    decision = decide(base, adapter, p)
    rows = replies_table(prompts, replies["base"], replies["adapter"], p)
    out = paths.stage_dir("evaluate")
    write_jsonl(out / "replies.jsonl", rows)
    report = {"adapter": name, "dataset_version": dataset_version, "n_prompts": len(prompts),
              "style_marker_rate": {"base": base["style_marker_rate"], "adapter": adapter["style_marker_rate"]},
              "gate_pass_rate": {"base": base["gate_pass_rate"], "adapter": adapter["gate_pass_rate"]},
              "thresholds": {"min_style_marker_rate": p.evaluate.min_style_marker_rate,
                             "min_gate_pass_rate": p.evaluate.min_gate_pass_rate}, **decision}
    write_json(out / "gate_report.json", report)
    write_json(paths.adapter_root() / adapter_version / "gate_report.json", report)
    tracker.table("eval/replies", rows)
    tracker.summary({"style_marker_rate/base": base["style_marker_rate"],
                     "style_marker_rate/adapter": adapter["style_marker_rate"], "gates/passed": decision["passed"]})
    return _finish(paths, "evaluate", {**report, "adapter_version": adapter_version}, tracker)


def run_serve(p: Params, paths: RunPaths, tracker: Tracker) -> dict:
    """Register the adapter with the gate decision as its status; route the character to it if approved."""
    from .serve.registry import Registry

    report = paths.result("evaluate")
    version = _require(paths, "evaluate", "adapter_version")
    train = paths.result("train")
    registry = Registry(p.registry_url())
    status = "approved" if report["passed"] else "rejected"
    registry.register_adapter(character_id=p.character_id, version=version, path=train["path"],
                              base_model=str(p.path(p.base_model)), dataset_version=train["dataset_version"],
                              gate_report=report, status="candidate", actor="pipeline",
                              reason=f"run {paths.run_id}")
    registry.set_status(p.character_id, version, status, actor="pipeline",
                        reason="; ".join(report["reasons"]) or "all gates passed")
    route = registry.get_route(p.character_id)
    if status == "approved":
        route = registry.set_route(p.character_id, base_model=str(p.path(p.base_model)), stable_version=version,
                                   category=p.character.category, actor="pipeline", reason=f"run {paths.run_id}")
    result = {"adapter_version": version, "status": status, "route": route, "registry": p.registry_url()}
    return _finish(paths, "serve", result, tracker)


def run_monitor(p: Params, paths: RunPaths, tracker: Tracker) -> dict:
    """Replay synthetic traffic through the real router and engine; per-version metrics and alerts."""
    from .dataset import eval_prompts, load_version
    from .evaluate.gates import check_reply
    from .monitor import check_alerts, insufficient_data, replay, version_metrics
    from .serve.engine import Engine
    from .serve.registry import Registry
    from .serve.router import resolve

    registry = Registry(p.registry_url())
    engine = Engine(p.path(p.base_model))
    _, evals, _ = load_version(p.store, p.character_id, _require(paths, "dataset", "dataset_version"))
    prompts = eval_prompts(evals, p.evaluate.n_prompts)
    rng = random.Random(p.seed)
    requests = [{"character_id": p.character_id, "user": f"sim-user-{rng.randrange(p.monitor.n_users)}",
                 "messages": prompts[i % len(prompts)]} for i in range(p.monitor.n_requests)]

    def resolve_fn(character_id, user):
        return resolve(registry, character_id, user, category=p.character.category,
                       default_base_model=str(p.path(p.base_model)))

    def generate_fn(resolution, messages):
        name = None
        if resolution.adapter_version:
            name = f"{resolution.character_id}@{resolution.adapter_version}"
            adapter = registry.get_adapter(resolution.route_owner, resolution.adapter_version)
            engine.load_adapter(name, adapter["path"])
        g = engine.generate([messages], name, max_new_tokens=p.evaluate.max_new_tokens)[0]
        return g.text, g.prompt_tokens, g.completion_tokens

    def gate_fn(reply):
        return check_reply(reply, system_prompt=p.character.system_prompt, banned_words=p.character.banned_words)

    log_path = paths.stage_dir("monitor") / "request_log.jsonl"
    log_path.unlink(missing_ok=True)  # one replay per run: a re-run starts its log afresh
    records = replay(requests, resolve_fn, generate_fn, gate_fn, log_path)
    metrics = version_metrics(_frame(records))
    thresholds = {"max_violation_rate": p.monitor.max_violation_rate,
                  "max_latency_p95_ms": p.monitor.max_latency_p95_ms, "min_requests": p.monitor.min_requests}
    alerts = check_alerts(metrics, thresholds)
    write_json(paths.stage_dir("monitor") / "alerts.json", alerts)
    metrics.to_csv(paths.stage_dir("monitor") / "metrics.csv", index=False)
    result = {"requests": len(records), "alerts": alerts, "insufficient_data": insufficient_data(metrics, thresholds),
              "metrics": json.loads(metrics.to_json(orient="records", date_format="iso"))}
    return _finish(paths, "monitor", result, tracker)


def _frame(records: list[dict]):
    import pandas as pd

    return pd.DataFrame(records)


def summary_of(paths: RunPaths, stages: dict[str, str]) -> dict:
    """The run's summary.json: stage status plus the figures a reader looks for first."""
    ev = paths.result("evaluate")
    summary = {"character_id": paths.character_id, "run_id": paths.run_id, "stages": stages,
               "dataset_version": paths.result("dataset").get("dataset_version"),
               "adapter_version": paths.result("train").get("adapter_version"),
               "metrics": {"style_marker_rate": ev.get("style_marker_rate", {}),
                           "gate_pass_rate": ev.get("gate_pass_rate", {})},
               "gates": {"passed": ev.get("passed"), "reasons": ev.get("reasons")},
               "serve": {k: paths.result("serve").get(k) for k in ("status", "route")},
               "monitor": {"requests": paths.result("monitor").get("requests"),
                           "alerts": paths.result("monitor").get("alerts")}}
    return summary

"""The seven stages as recipes: read the previous stage's files, call the library, write files.

Each function takes the resolved params, the run's paths and a tracker, writes its outputs under
<run>/<stage>/ (plus the shared datasets/adapters/registry), writes <run>/<stage>/result.json and
returns that result. Notebooks call these and show the results; tests call them directly.
"""

from __future__ import annotations

import random
from pathlib import Path

from . import collect as col
from .clean.conversations import clean_conversations
from .config import Params, character_markers, load_params
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


def collect_all(p: Params):
    """(chat-log collection result, gold conversations, card-example conversations) of one character."""
    if p.collect.mongo is not None:  # a live MongoDB instead of export files
        res = col.collect_from_mongo(p.character_id, p.collect, p.path(p.inputs.deletion_requests))
    else:
        res = col.collect_chat_logs(p.path(p.inputs.messages), p.path(p.inputs.users), p.character_id, p.collect,
                                    p.path(p.inputs.deletion_requests))
    gold = col.read_gold(p.path(p.inputs.gold), p.character_id)
    card = col.card_conversations(col.read_card(p.path(p.inputs.characters), p.character_id), p.character_id)
    return res, gold, card


def run_collect(p: Params, paths: RunPaths, tracker: Tracker) -> dict:
    """Exports -> opt-in conversations (chat logs + gold + card examples), rejections, quarantine."""
    out = paths.stage_dir("collect")
    res, gold, card = collect_all(p)
    conversations = res.conversations + gold + card
    write_jsonl(out / "conversations.jsonl", conversations)
    write_jsonl(out / "rejected.jsonl", res.rejected)
    write_jsonl(out / "quarantine.jsonl", res.quarantine)
    result = {**res.stats, "gold": len(gold), "card_examples": len(card), "conversations_total": len(conversations)}
    return _finish(paths, "collect", result, tracker)


def clean_all(p: Params, conversations: list[dict], params_dir: str | Path = "params", *, progress: bool = False,
              source: str | Path | None = None):
    """The clean stage's CleanResult for one character's collected conversations (`source`: the JSONL file they
    were read from, which `clean.executor: ray` reads as a Ray dataset)."""
    from .clean.leakage import character_profiles

    markers = character_markers(params_dir)
    others = {cid: m for cid, m in markers.items() if cid != p.character_id}
    profiles = character_profiles(params_dir)
    classifier = None
    if p.clean.leakage_classifier:  # trained on every character's author-written lines (gold + card examples)
        from .clean.leakage import StyleClassifier, trusted_lines

        trusted = [c for cid in profiles for c in col.read_gold(p.path(p.inputs.gold), cid)
                   + col.card_conversations(col.read_card(p.path(p.inputs.characters), cid), cid)]
        classifier = StyleClassifier(trusted_lines(trusted), seed=p.seed)
    # Meta talk includes quoting either prompt: ours (params) or the product's long card prompt.
    card = col.read_card(p.path(p.inputs.characters), p.character_id) if p.path(p.inputs.characters).exists() else None
    prompts = [p.character.system_prompt]
    if card and isinstance(card.get("systemPrompt"), str):
        prompts.append(card["systemPrompt"])
    return clean_conversations(conversations, p.clean, system_prompt="\n".join(prompts),
                               own_markers=p.character.style_markers, other_markers=others,
                               other_names={cid: v["name"] for cid, v in profiles.items() if cid != p.character_id},
                               keep_values=[v["name"] for v in profiles.values() if v["name"]],
                               num_proc=p.clean.num_proc, classifier=classifier, own_id=p.character_id,
                               progress=progress, source=source, ray_address=p.ray.address)


def run_clean(p: Params, paths: RunPaths, tracker: Tracker, params_dir: str | Path = "params") -> dict:
    source = paths.stage_dir("collect") / "conversations.jsonl"
    res = clean_all(p, read_jsonl(source), params_dir, progress=True, source=source)
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


def classifier_inputs(p: Params, params_dir: str | Path = "params") -> dict:
    """{"characters", "fallback"} for evaluate.build_classifier: every configured character, and the
    character classifier's fallback for a character whose clean stage has not run yet: its exports are
    collected and cleaned here, in memory, exactly as its stages would."""
    from .config import known_characters

    def clean_in_memory(cid: str) -> list[dict]:
        q = load_params(cid, params_dir=params_dir, overrides={"store": p.store})
        res, gold, card = collect_all(q)
        return clean_all(q, res.conversations + gold + card, params_dir).kept

    return {"characters": sorted(set(known_characters(params_dir)) | {p.character_id}), "fallback": clean_in_memory}


def evaluate_inputs(p: Params, paths: RunPaths, params_dir: str | Path = "params") -> dict:
    """What the evaluate steps read for this run: its dataset version, the compared models (candidate from
    the train stage, previous approved from the registry), the base model, this run's clean file, the
    classifier's characters and fallback, and where the outputs go."""
    from .evaluate import compared_models
    from .registry import Registry

    dataset_version = _require(paths, "dataset", "dataset_version")
    adapter_version = _require(paths, "train", "adapter_version")
    base_model = str(p.path(p.base_model))
    adapter_dir = paths.adapter_root() / adapter_version
    return {"dataset_version": dataset_version, "base_model": base_model, "adapter_dir": adapter_dir,
            "models": compared_models(Registry(p.registry_url()), p.character_id, adapter_version, adapter_dir,
                                      base_model),
            "own_clean": paths.stage_dir("clean") / "conversations.jsonl", "out_dir": paths.stage_dir("evaluate"),
            **classifier_inputs(p, params_dir)}


def score_quality_of(p: Params, inputs: dict, gen: dict, probes: dict) -> dict:
    """The reply-set gates' figures for this run's generations: under the base model (or the clean data's n-gram
    LM), with the dataset's held-out replies as the fluency reference."""
    from . import evaluate as ev

    return ev.score_quality(gen, p, probes=probes, references=ev.eval_reference_replies(p, inputs["dataset_version"]),
                            **ev.reference_lms(p, inputs["base_model"], inputs["own_clean"]))


def evaluate_adapter(p: Params, inputs: dict, *, progress: bool = True) -> dict:
    """The evaluate steps in order (notebook 05 runs them one cell each): generate (or reuse the cached
    replies) -> gates -> reply-set gates (diversity, fluency, relevance, consistency) -> persona -> blinded A/B ->
    decision. Returns {"report", "rows", "scores",
    "generations"}; writes only the replies cache and the A/B set (write_outputs writes the rest)."""
    from . import evaluate as ev

    prompts, neutral_prompts = ev.eval_prompt_sets(p, inputs["dataset_version"])
    probes = ev.persona_probes(p, inputs["characters"])
    gen = ev.generate_all(p, inputs["models"], prompts, neutral_prompts, inputs["out_dir"],
                          base_model=inputs["base_model"], progress=progress,
                          probe_prompts=[pr["prompt"] for pr in probes["probes"]])
    gates = ev.score_gates(gen["replies"], p)
    quality = score_quality_of(p, inputs, gen, probes)
    classifier, classifier_info = ev.build_classifier(p, inputs["characters"], gen["neutral_replies"],
                                                      own_clean=inputs["own_clean"], fallback=inputs["fallback"])
    persona = ev.score_persona(gen["replies"], p, classifier)
    ab = ev.ab_round(Path(inputs["out_dir"]) / "ab", prompts, gen["replies"], gen["models"], p)
    scores = ev.merge_scores(gates, persona, quality)
    report = ev.gate_report(p, inputs["models"], scores, classifier_info, ab,
                            dataset_version=inputs["dataset_version"], n_prompts=len(prompts))
    return {"report": report, "rows": ev.replies_table(prompts, gen["replies"], scores, p), "scores": scores,
            "generations": gen, "quality": quality}


def finish_evaluate(p: Params, paths: RunPaths, tracker: Tracker, inputs: dict, report: dict, rows: list[dict],
                    scores: dict) -> dict:
    """The evaluate stage's files (replies, worst replies, gate_report.json here and next to the adapter),
    tracker tables and result.json."""
    from .evaluate import track, write_outputs

    write_outputs(inputs["out_dir"], report, rows, scores, adapter_dir=inputs["adapter_dir"])
    track(tracker, report, rows, scores)
    return _finish(paths, "evaluate", {**report, "adapter_version": inputs["models"]["adapter"]["version"]}, tracker)


def run_evaluate(p: Params, paths: RunPaths, tracker: Tracker, params_dir: str | Path = "params") -> dict:
    """Adapter vs base vs the previously approved adapter on the same held-out prompts, greedy decoding:
    automatic gates, persona metrics, leakage, the blinded A/B set (and its result once rated), and one
    pass/fail decision with reasons in gate_report.json (next to the adapter too). Replies are reused
    from the evaluate dir when only thresholds changed."""
    inputs = evaluate_inputs(p, paths, params_dir)
    res = evaluate_adapter(p, inputs)
    return finish_evaluate(p, paths, tracker, inputs, res["report"], res["rows"], res["scores"])


def run_serve(p: Params, paths: RunPaths, tracker: Tracker) -> dict:
    """Register the adapter with the gate decision as its status and route it if approved.

    The first approved version of a character becomes its stable version. A later one goes to
    `serve.rollout_percent`% of users as a sticky candidate (or straight to stable with
    `serve.auto_promote`); promotion is left to a person (`lora route promote`) or to monitoring.
    Re-running with the same version changes nothing.
    """
    from .registry import Registry

    report = paths.result("evaluate")
    version = _require(paths, "evaluate", "adapter_version")
    train = paths.result("train")
    registry = Registry(p.registry_url())
    status = "approved" if report["passed"] else "rejected"
    base_model = str(p.path(p.base_model))
    registry.register_adapter(character_id=p.character_id, version=version, path=train["path"],
                              base_model=base_model, dataset_version=train["dataset_version"],
                              gate_report=report, status="candidate", actor="pipeline",
                              reason=f"run {paths.run_id}")
    if registry.get_adapter(p.character_id, version)["status"] != status:
        registry.set_status(p.character_id, version, status, actor="pipeline",
                            reason="; ".join(report["reasons"]) or "all gates passed")
    if not registry.verify_weights(p.character_id, version):
        raise RuntimeError(f"adapter {p.character_id}@{version}: weights on disk do not match the registry's sha256")
    route = registry.get_route(p.character_id)
    reason = f"run {paths.run_id}"
    action = "not routed (gates failed)"
    if status == "approved":
        if route is None or route["stable_version"] is None or p.serve.auto_promote:
            if route is None or route["stable_version"] != version:
                route = registry.set_route(p.character_id, base_model=base_model, stable_version=version,
                                           category=p.character.category, actor="pipeline", reason=reason)
            action = "stable"
        elif version in (route["stable_version"], route["candidate_version"]):
            action = "unchanged (already routed)"
        else:
            route = registry.rollout(p.character_id, version, p.serve.rollout_percent, actor="pipeline",
                                     reason=reason)
            action = f"candidate at {p.serve.rollout_percent:g}%"
    status_rows = registry.route_status(p.character_id)
    result = {"adapter_version": version, "status": status, "route": route, "route_action": action,
              "warnings": status_rows[0]["warnings"] if status_rows else [], "registry": p.registry_url()}
    return _finish(paths, "serve", result, tracker)


def run_monitor(p: Params, paths: RunPaths, tracker: Tracker) -> dict:
    """Replay synthetic traffic through the real router and engine, then one monitoring pass over its log:
    per-version metrics, alerts (thresholds and candidate vs stable), auto-rollback if configured, negatives."""
    from .dataset import eval_prompts, load_version
    from .engine import Engine
    from .monitor import monitor_once, replay, signal_fn_for, traffic_fns
    from .registry import Registry

    registry = Registry(p.registry_url())
    engine = Engine(p.path(p.base_model))
    _, evals, _ = load_version(p.store, p.character_id, _require(paths, "dataset", "dataset_version"))
    prompts = eval_prompts(evals, p.evaluate.n_prompts)
    rng = random.Random(p.seed)
    requests = [{"character_id": p.character_id, "user": f"sim-user-{rng.randrange(p.monitor.n_users)}",
                 "messages": prompts[i % len(prompts)]} for i in range(p.monitor.n_requests)]

    resolve_fn, generate_fn, gate_fn = traffic_fns(p, registry, engine)
    log_path = paths.stage_dir("monitor") / "request_log.jsonl"
    log_path.unlink(missing_ok=True)  # one replay per run: a re-run starts its log afresh
    for name in ("alerts.jsonl", "rollbacks.jsonl"):  # both belong to this run's log
        (paths.stage_dir("monitor") / name).unlink(missing_ok=True)
    records = replay(requests, resolve_fn, generate_fn, gate_fn, log_path, progress=True,
                     signal_fn=signal_fn_for(p) if p.monitor.signals else None)
    res = monitor_once(p.monitor, log_path, paths.stage_dir("monitor"), registry=registry,
                       only_character=p.character_id)
    alerts = read_jsonl(paths.stage_dir("monitor") / "alerts.jsonl")
    write_json(paths.stage_dir("monitor") / "alerts.json", alerts)
    result = {"requests": len(records), "alerts": alerts, "insufficient_data": res["insufficient_data"],
              "metrics": res["metrics"], "quarantined": res["quarantined"], "negatives": res["negatives"],
              "rollbacks": res["rollbacks"], "rollback_decisions": res["decisions"],
              "auto_rollback": p.monitor.auto_rollback}
    for row in res["metrics"]:
        tracker.summary({f"monitor/{row['adapter_version']}/{k}": row[k]
                         for k in ("n", "violation_rate_any", "latency_p95_ms", "cost") if row.get(k) is not None})
    return _finish(paths, "monitor", result, tracker)


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
                           "alerts": paths.result("monitor").get("alerts"),
                           "rollbacks": paths.result("monitor").get("rollbacks"),
                           "negatives": paths.result("monitor").get("negatives")}}
    return summary

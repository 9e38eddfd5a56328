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


def run_evaluate(p: Params, paths: RunPaths, tracker: Tracker, params_dir: str | Path = "params") -> dict:
    """Adapter vs base vs the previously approved adapter on the same held-out prompts, greedy decoding:
    automatic gates, persona metrics, leakage, the blinded A/B set (and its result once rated), and one
    pass/fail decision with reasons in gate_report.json (next to the adapter too)."""
    from tqdm.auto import tqdm

    from .config import known_characters
    from .dataset import eval_prompts, load_version
    from .engine import Engine
    from .evaluate import human_ab as ab
    from .evaluate.persona import NEUTRAL, CharacterClassifier, classifier_corpus, previous_approved
    from .evaluate.report import (
        decide,
        gates_table,
        generate_replies,
        replies_table,
        score_replies,
        worst_replies,
    )
    from .registry import Registry

    dataset_version = _require(paths, "dataset", "dataset_version")
    adapter_version = _require(paths, "train", "adapter_version")
    train, evals, _ = load_version(p.store, p.character_id, dataset_version)
    prompts = eval_prompts(evals, p.evaluate.n_prompts)
    if not prompts:
        raise RuntimeError(f"dataset {dataset_version} has no eval prompts: raise dataset.eval_fraction")
    out = paths.stage_dir("evaluate")
    base_model = str(p.path(p.base_model))
    engine = Engine(base_model)
    name = f"{p.character_id}@{adapter_version}"
    engine.load_adapter(name, paths.adapter_root() / adapter_version)
    models: dict[str, str | None] = {"base": None, "adapter": name}
    prev = previous_approved(Registry(p.registry_url()), p.character_id, adapter_version, base_model)
    if prev is not None:
        engine.load_adapter(f"{p.character_id}@{prev['version']}", prev["path"])
        models["previous"] = f"{p.character_id}@{prev['version']}"
    with tqdm(total=len(models) * len(prompts), desc="generate", unit="reply") as bar:
        replies = {who: generate_replies(engine, prompts, adapter, p, on_batch=bar.update)
                   for who, adapter in models.items()}

    # The character classifier: clean assistant turns of every configured character; a character whose
    # clean stage has not run yet is collected and cleaned here, in memory, exactly as its stages would.
    def clean_in_memory(cid: str) -> list[dict]:
        q = load_params(cid, params_dir=params_dir, overrides={"store": p.store})
        res, gold, card = collect_all(q)
        return clean_all(q, res.conversations + gold + card, params_dir).kept

    characters = sorted(set(known_characters(params_dir)) | {p.character_id})
    corpus, sources = classifier_corpus(p.store, characters, own=(p.character_id, paths.stage_dir("clean")
                                                                   / "conversations.jsonl"),
                                        fallback=clean_in_memory,
                                        dataset_sources=p.evaluate.persona.classifier_sources)
    # The base model's own voice is neutral too: without it, a polite base reply can look more like one
    # character than like user turns, and "agreement above the base" would measure nothing. Its replies to
    # *train* prompts (never the eval prompts scored below) join the neutral class.
    neutral_prompts = eval_prompts(train, p.evaluate.n_prompts)
    corpus[NEUTRAL] = corpus.get(NEUTRAL, []) + generate_replies(engine, neutral_prompts, None, p)
    sources[NEUTRAL] = f"{sources.get(NEUTRAL, 'no user turns')} + base model replies to {len(neutral_prompts)} train prompts"
    classifier, classifier_info = None, {"sources": sources}
    try:
        classifier = CharacterClassifier(corpus, ngram_max=p.evaluate.persona.ngram_max, seed=p.seed,
                                         min_per_character=p.evaluate.persona.min_train_per_character)
        classifier_info.update(classes=classifier.classes, train_counts=classifier.counts,
                               cv_accuracy=classifier.cv_accuracy, skipped=classifier.skipped)
    except ValueError as exc:  # too little data: the persona gates say "not measured", never a made-up figure
        classifier_info["error"] = str(exc)
    scores = {who: score_replies(r, p, classifier) for who, r in replies.items()}

    # Blinded human A/B: candidate vs the approved adapter it would replace (else the base).
    baseline = "previous" if "previous" in replies else "base"
    ab_dir = out / "ab"
    items, mapping = ab.build_ab_set([ab.prompt_text(pr) for pr in prompts], replies["adapter"], replies[baseline],
                                     n=p.evaluate.human_ab.n_prompts, seed=p.evaluate.human_ab.seed,
                                     candidate_name=name, baseline_name=models[baseline] or "base")
    stale = ab.retire_stale_ratings(ab_dir, mapping)  # ratings of other replies must not be unblinded here
    ab.write_ab_set(ab_dir, items, mapping)
    ab_res, h = None, p.evaluate.human_ab
    ratings, rating_files = ab.collect_ratings(ab_dir)  # real ratings only; the SIMULATED file never counts
    if ratings:
        ab_res = {**ab.ab_result(ratings, mapping, min_ratings=h.min_ratings, rule=h.rule,
                                 min_win_rate=h.min_win_rate, max_sign_p=h.max_sign_p), "files": rating_files}

    decision = decide({"adapter": scores["adapter"], "base": scores["base"], "previous": scores.get("previous")},
                      p, ab_res)
    rows = replies_table(prompts, replies, scores, p)
    write_jsonl(out / "replies.jsonl", rows)
    write_jsonl(out / "worst_replies.jsonl", worst_replies(rows, scores["adapter"]["reasons"]))
    report = {"adapter": name, "dataset_version": dataset_version, "n_prompts": len(prompts),
              "decoding": {"do_sample": False, "max_new_tokens": p.evaluate.max_new_tokens},
              "style_marker_rate": {"base": scores["base"]["style_marker_rate"],
                                    "adapter": scores["adapter"]["style_marker_rate"]},
              "gate_pass_rate": {"base": scores["base"]["gate_pass_rate"],
                                 "adapter": scores["adapter"]["gate_pass_rate"]},
              "persona": {who: s["persona"] for who, s in scores.items()},
              "previous": None if prev is None else {
                  "adapter_version": prev["version"], "style_marker_rate": scores["previous"]["style_marker_rate"],
                  "gate_pass_rate": scores["previous"]["gate_pass_rate"]},
              "classifier": classifier_info,
              "human_ab": {**(ab_res or {"status": "pending", "sheet": str(ab_dir / "sheet.csv"),
                                         "n_items": len(items), "baseline": mapping["baseline"]}),
                           **({"stale_ratings": [str(f) for f in stale]} if stale else {})},
              "thresholds": {"min_style_marker_rate": p.evaluate.min_style_marker_rate,
                             "min_gate_pass_rate": p.evaluate.min_gate_pass_rate,
                             **p.evaluate.persona.model_dump(include={"min_agreement", "max_leakage",
                                                                      "max_regression"})},
              **decision}
    write_json(out / "gate_report.json", report)
    write_json(paths.adapter_root() / adapter_version / "gate_report.json", report)
    tracker.table("eval/replies", [{k: ", ".join(v) if isinstance(v, list) else v for k, v in r.items()}
                                   for r in rows])
    tracker.table("eval/gates", [{**g, "value": str(g["value"])} for g in gates_table(report)])
    tracker.summary({"style_marker_rate/base": scores["base"]["style_marker_rate"],
                     "style_marker_rate/adapter": scores["adapter"]["style_marker_rate"],
                     "agreement/adapter": scores["adapter"]["persona"]["agreement"],
                     "leakage/adapter": scores["adapter"]["persona"]["leakage"], "gates/passed": decision["passed"]})
    return _finish(paths, "evaluate", {**report, "adapter_version": adapter_version}, tracker)


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
    from .monitor import monitor_once, replay, traffic_fns
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
    records = replay(requests, resolve_fn, generate_fn, gate_fn, log_path, progress=True)
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

"""The closed-loop demo: a bad adapter version at 20%, real traffic, an alert, an automatic rollback,
its bad replies back as negatives, and a new version built from them and gated.

Everything runs through the real parts: stages for the stable adapter, dataset.build_version and
train.train_adapter for new versions, the evaluate gates, the registry, the router (per request, so a
rollback takes effect on the next request), the in-process engine, and monitor.monitor_once with
auto-rollback every `check_every` requests. Users, their thumbs and their leaving are simulated (seeded,
users.py: they read replies with their own eyes, not the monitor's scorers); served replies carry the
monitor's signals (style marker, fluency under the base model), so off-voice, broken and repeated replies and
users who leave are compared candidate vs stable like the gates.

Bad versions (bad.py):
- "meta_talk": trained on the clean data with one meta-talk line put back into `meta_share` of the first assistant
  turns (a cleaning config with the meta filter off); the story for the demo-size model.
- "diverged": the stable adapter with its LoRA B matrices replaced by seeded noise (std `noise_std`),
  like a run that diverged. No training, broken at any size (on the test-size model ~70% of replies
  fail the repetition gate); what the test-size model can show, being too small to learn meta talk
  from a few steps.
- "collapsed": trained on one stock line in the character's voice for every assistant turn.
- "control": a byte copy of the stable adapter as the candidate: nothing is wrong with it, so an alert on it is
  a false alarm (the result's "control" block says whether one fired).

Entry point: `closed_loop_demo(store, ...)`, or `lora demo closed-loop`.
"""

from __future__ import annotations

import random
import shutil
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

from ..config import load_params
from ..store import read_json, read_jsonl, run_paths, write_json
from ..tracking import Tracker
from .bad import (
    collapse_conversations,
    copy_adapter,
    diverged_adapter,
    gate_adapter,
    inject_meta_talk,
    shuffle_replies,
)
from .users import Reader, SyntheticUsers

# The versions the story can put at rollout_percent (bad.py); "control" is the stable's own weights.
BAD_KINDS: tuple[str, ...] = ("meta_talk", "diverged", "collapsed", "offtopic", "control")


def _violation_rates(records: list[dict]) -> dict:
    from ..monitor import GATES

    n = len(records)
    if not n:
        return {"n": 0}
    out = {"n": n, "any": sum(not all(r["gates"].values()) for r in records) / n}
    out.update({g: sum(r["gates"].get(g) is False for r in records) / n for g in GATES})
    return out


def _bad_replies(records: list[dict], version: str, off_topic: set[int] = frozenset()) -> list[int]:
    """Indexes of `version`'s bad replies, as a user would count them: a gate failed, off voice or disfluent
    (the logged signals), the same reply it already gave to another prompt (a stock line), or one of the
    indexes in `off_topic` (the synthetic users' reading: the monitor has no topic signal)."""
    from ..evaluate.diversity import normalize_reply

    out, given = [], {}
    for k, r in enumerate(records):
        if r["adapter_version"] != version:
            continue
        sig = r.get("signals") or {}
        reply = normalize_reply(r["reply"] or "")
        prompt = next((m["content"] for m in reversed(r.get("messages") or []) if m["role"] == "user"), None)
        stock = bool(given.get(reply, set()) - {prompt})
        given.setdefault(reply, set()).add(prompt)
        if (not all(r["gates"].values()) or sig.get("style") is False or sig.get("fluency") is False or stock
                or k in off_topic):
            out.append(k)
    return out


def _retention(out: Path) -> list[dict]:
    """Per (version, group) from the last monitoring pass: requests, retention, turns per session, the signal
    rates and thumbs-up share (monitor metrics.csv)."""
    import pandas as pd

    if not (out / "metrics.csv").exists():
        return []
    cols = ["adapter_version", "group", "n", "retention", "turns_per_session", "off_voice_rate", "disfluent_rate",
            "repeat_rate", "left_rate", "thumbs_up_share", "n_feedback"]
    m = pd.read_csv(out / "metrics.csv")
    m = m[[c for c in cols if c in m.columns]].round(3)
    return [{k: (None if pd.isna(v) else v) for k, v in row.items()} for row in m.to_dict(orient="records")]


def closed_loop_demo(store: str | Path, character_id: str = "nabi", *, params_dir: str | Path = "params",
                     overrides: dict | None = None, run_id: str = "closed-loop", bad: str = "meta_talk",
                     meta_share: float = 0.8, noise_std: float = 0.015, rollout_percent: float = 20.0,
                     max_requests: int = 400, after_rollback: int = 40, check_every: int = 10,
                     traffic_seed: int | None = None, retrain: bool = True, log=print) -> dict:
    """Run the story end to end; write <store>/<character>/<run_id>/closed_loop/ and return its result.

    The result records the bad version and its offline gate report, the alert(s), the rollback, the time
    from the first bad reply to the rollback (requests and seconds), violation rates before and after
    it, the negatives, and the new dataset/adapter versions with their gate decision. It is also written
    into the run's summary.json under "closed_loop". `traffic_seed` (default: the params' seed) seeds the
    synthetic users (their names, hence which of them the router sends to the candidate, and their reactions)
    and the order of the prompts; the adapters do not depend on it. `retrain=False` stops after the traffic
    (detection only: no next version; new_version says so).
    """
    from .. import stages
    from ..dataset import build_version, eval_prompts, load_version
    from ..dataset.records import eval_references
    from ..engine import Engine
    from ..monitor import (
        monitor_once,
        read_negatives,
        serve_one,
        signal_fn_for,
        traffic_fns,
    )
    from ..registry import Registry
    from ..requestlog import append_request_log
    from ..train import train_adapter

    if bad not in BAD_KINDS:
        raise ValueError(f"bad must be one of {', '.join(map(repr, BAD_KINDS))}, got {bad!r}")
    t_start = time.time()
    store = Path(store).resolve()
    p = load_params(character_id, params_dir=params_dir,
                    overrides={**(overrides or {}), "store": str(store), "monitor.auto_rollback": True})
    paths = run_paths(store, character_id, run_id)
    out = paths.stage_dir("closed_loop")
    shutil.rmtree(out, ignore_errors=True)  # one story per run dir: its log, alerts and rollbacks start afresh
    out.mkdir(parents=True)
    tracker = Tracker()
    registry = Registry(p.registry_url())
    base_model = str(p.path(p.base_model))

    # 1. The stable version: the ordinary stages (cached by content: a finished `lora run` makes them quick).
    log(f"[{character_id}] stable adapter: collect -> serve")
    stages.run_collect(p, paths, tracker)
    stages.run_clean(p, paths, tracker, params_dir)
    stages.run_dataset(p, paths, tracker)
    stages.run_train(p, paths, tracker)
    stages.run_evaluate(p, paths, tracker)
    served = stages.run_serve(p, paths, tracker)
    stable = served["adapter_version"]
    stable_forced = served["status"] != "approved"
    if stable_forced:  # the test-size model passes no gates; the router serves no rejected version: force, audited
        registry.set_status(character_id, stable, "approved", actor="demo",
                            reason="closed-loop demo: forced approval, the stable adapter did not pass its gates "
                                   "at this model size")
        registry.set_route(character_id, base_model=base_model, stable_version=stable,
                           category=p.character.category, actor="demo", reason="closed-loop demo: stable")
    good_dataset = paths.result("dataset")["dataset_version"]
    clean = read_jsonl(paths.stage_dir("clean") / "conversations.jsonl")
    train_recs, eval_recs, _ = load_version(p.store, character_id, good_dataset)
    eval_set = eval_prompts(eval_recs, p.evaluate.n_prompts)
    eval_refs = eval_references(eval_recs, p.evaluate.n_prompts)  # the fluency bar of replies in the voice
    traffic_prompts = eval_prompts(eval_recs + train_recs, 10_000)

    engine = Engine(base_model)

    def load(version: str) -> str:
        name = f"{character_id}@{version}"
        engine.load_adapter(name, registry.get_adapter(character_id, version)["path"])
        return name

    # 2. The bad version, gated like any other; routed to rollout_percent of users whatever its gates say.
    log(f"[{character_id}] bad version ({bad})")
    if bad == "meta_talk":
        bad_convs = inject_meta_talk(clean, meta_share, seed=p.seed)
        bad_dataset = build_version(bad_convs, p, parent=good_dataset)["version"]
        rec = train_adapter(p, bad_dataset, progress=False)
        bad_version, bad_path = rec["adapter_version"], paths.adapter_root() / rec["adapter_version"]
    elif bad == "collapsed":
        bad_convs, stock = collapse_conversations(clean)
        log(f"[{character_id}] collapsed: every assistant turn is {stock!r}")
        bad_dataset = build_version(bad_convs, p, parent=good_dataset)["version"]
        rec = train_adapter(p, bad_dataset, progress=False)
        bad_version, bad_path = rec["adapter_version"], paths.adapter_root() / rec["adapter_version"]
    elif bad == "offtopic":
        bad_convs = shuffle_replies(clean, seed=p.seed)
        bad_dataset = build_version(bad_convs, p, parent=good_dataset)["version"]
        rec = train_adapter(p, bad_dataset, progress=False)
        bad_version, bad_path = rec["adapter_version"], paths.adapter_root() / rec["adapter_version"]
    elif bad == "diverged":
        bad_convs, bad_dataset = clean, good_dataset
        bad_version, bad_path = diverged_adapter(paths.adapter_root() / stable, paths.adapter_root(), noise_std, p.seed)
    else:
        bad_convs, bad_dataset = clean, good_dataset
        bad_version, bad_path = copy_adapter(paths.adapter_root() / stable, paths.adapter_root())
    registry.register_adapter(character_id=character_id, version=bad_version, path=str(bad_path),
                              base_model=base_model, dataset_version=bad_dataset, status="candidate",
                              actor="demo", reason=f"closed-loop demo: deliberately bad ({bad})")
    bad_gates = gate_adapter(p, engine, load(bad_version), eval_set, previous=load(stable), references=eval_refs)  # stable stays loaded
    # Approved whatever its gates said (recorded in the audit and the result): the scenario is a bad version
    # that got out, by an operator's override or because the offline prompts missed what production shows.
    registry.set_status(character_id, bad_version, "approved", actor="demo",
                        reason="closed-loop demo: forced approval; offline gates: "
                               + ("; ".join(bad_gates["reasons"]) or "all gates passed"))
    registry.set_route(character_id, base_model=base_model, stable_version=stable, candidate_version=bad_version,
                       rollout_percent=rollout_percent, actor="demo",
                       reason=f"closed-loop demo: deliberately bad version to {rollout_percent:g}% of users")

    # 3. Traffic through the real router and engine; monitoring with auto-rollback every check_every requests.
    resolve_fn, generate_fn, gate_fn = traffic_fns(p, registry, engine)
    signal_fn = signal_fn_for(p) if p.monitor.signals else None
    reader = Reader([m["content"] for c in clean for m in c["messages"] if m["role"] == "assistant"],
                    [m["content"] for c in clean for m in c["messages"] if m["role"] == "user"],
                    exchanges=[(u["content"], a["content"]) for c in clean
                               for u, a in zip(c["messages"], c["messages"][1:], strict=False)
                               if u["role"] == "user" and a["role"] == "assistant"])
    seed = p.seed if traffic_seed is None else traffic_seed
    users = SyntheticUsers(p.monitor.n_users, reader, seed=seed, away_for=3 * p.monitor.retention_window)
    reactions: dict[str, Counter] = {}
    log_path, feedback_path = out / "request_log.jsonl", out / "feedback.jsonl"
    rng = random.Random(seed)
    records: list[dict] = []
    passes: list[dict] = []
    rollback = None
    off_topic: set[int] = set()  # requests whose reply the users found off topic (no monitor signal sees it)
    rollback_at = None  # index of the first request served after the rollback
    alert_at = None  # requests served when the first alert on the bad version was raised
    log(f"[{character_id}] traffic: up to {max_requests} requests, monitor every {check_every}")
    for i in range(max_requests):
        user = users.next_user(i)
        req = {"character_id": character_id, "user": user,
               "messages": traffic_prompts[rng.randrange(len(traffic_prompts))]}
        r = serve_one(req, resolve_fn, generate_fn, gate_fn, signal_fn)
        append_request_log(log_path, r)
        records.append(r)
        # the user reads the reply with its own eyes (users.Reader), not the monitor's scorers
        seen = users.react(user, r["reply"], i, prompt=req["messages"][-1]["content"])
        rating = seen["rating"]
        if "off topic" in seen["faults"]:
            off_topic.add(i)
        count = reactions.setdefault(str(r["adapter_version"]), Counter())
        count.update(["requests", *(f"fault:{f}" for f in seen["faults"]), *(["left"] if seen["leaves"] else []),
                      *([rating] if rating else [])])
        if rating:  # the server's feedback schema (lora_lib/requestlog.md)
            append_request_log(feedback_path, {"ts": r["ts"], "request_id": r["request_id"], "rating": rating,
                                               "score": 1 if rating == "up" else -1, "comment": None,
                                               **{k: r[k] for k in ("character_id", "adapter_version", "group",
                                                                    "user_ref")}})
        if (i + 1) % check_every == 0:
            res = monitor_once(p.monitor, log_path, out, registry=registry, feedback_path=feedback_path,
                               only_character=character_id)
            passes.append({k: res[k] for k in ("ts", "requests", "alerts", "rollbacks")})
            if alert_at is None and any(a["adapter_version"] == bad_version for a in res["new_alerts"]):
                alert_at = i + 1
            done = [rb for rb in res["rollbacks"] if rb["status"] == "rolled back"]
            if done and rollback is None:
                rollback, rollback_at = done[0], i + 1
                log(f"[{character_id}] rollback after request {i + 1}: {rollback['reason']}")
        if rollback_at is not None and i + 1 >= rollback_at + after_rollback:
            break

    # 4. What it took, and what the users saw before and after.
    from_bad = _bad_replies(records, bad_version, off_topic)
    first_bad = from_bad[0] if from_bad else None
    first_candidate = next((k for k, r in enumerate(records) if r["adapter_version"] == bad_version), None)
    before = records[:rollback_at] if rollback_at is not None else records
    after = records[rollback_at:] if rollback_at is not None else []
    detection = None
    if first_bad is not None and rollback is not None:
        t_bad = datetime.fromisoformat(records[first_bad]["ts"])
        detection = {"first_bad_request": first_bad + 1, "rollback_after_request": rollback_at,
                     "requests": rollback_at - first_bad, "seconds": round(
                         (datetime.fromisoformat(rollback["ts"]) - t_bad).total_seconds(), 2),
                     "bad_replies_served": len(from_bad),
                     "candidate_requests_before_rollback": sum(r["group"] == "candidate" for r in before),
                     "first_candidate_request": None if first_candidate is None else first_candidate + 1,
                     "first_alert_after_request": alert_at}
    alerts = read_jsonl(out / "alerts.jsonl") if (out / "alerts.jsonl").exists() else []

    # 5. Negatives -> the next dataset version (exclusions re-check the gates that fired) -> train -> gates.
    negatives = read_negatives(out / "negatives.jsonl")
    log(f"[{character_id}] {len(negatives)} negatives" + (" -> next dataset version" if retrain else ""))
    if retrain:
        nxt = _retrain(p, paths, registry, engine, negatives, bad_convs, bad_dataset, gate_fn, eval_set, base_model,
                       stable, eval_refs)
    else:
        nxt = {"negatives": {"n": len(negatives)}, "rejected": [],
               "new_version": {"skipped": "retrain=False (detection only)", "parent_dataset_version": bad_dataset}}

    result = {
        "character_id": character_id, "run_id": run_id, "bad_kind": bad,
        "stable": {"adapter_version": stable, "dataset_version": good_dataset, "forced_past_gates": stable_forced},
        "bad": {"adapter_version": bad_version, "dataset_version": bad_dataset, "gates": bad_gates,
                "rollout_percent": rollout_percent},
        "requests": len(records), "check_every": check_every,
        "alerts": [{k: a.get(k) for k in ("alert_id", "kind", "adapter_version", "group", "metric", "value",
                                          "baseline", "p_value", "n", "n_baseline", "first_seen")} for a in alerts],
        "rollback": rollback, "detection": detection, "first_alert_after_request": alert_at,
        "violation_rates": {"before_rollback": _violation_rates(before), "after_rollback": _violation_rates(after),
                            "bad_version": _violation_rates([r for r in records if r["adapter_version"] == bad_version]),
                            "stable_version": _violation_rates([r for r in records if r["adapter_version"] == stable])},
        "after_rollback_served_by": sorted({str(r["adapter_version"]) for r in after}),
        "negatives": nxt["negatives"], "excluded_conversations": len(nxt["rejected"]),
        "exclusion_reasons": dict(Counter(r["reason"] for r in nxt["rejected"])),
        # No conversation excluded means the same data, hence the same adapter as before.
        "new_version": {**nxt["new_version"], "same_as_stable": nxt["new_version"].get("adapter_version") == stable},
        "route_now": registry.get_route(character_id), "monitor_passes": passes,
        # what the synthetic users did per version (their own reading), and what the monitor measured
        "reactions": {v: dict(c) for v, c in reactions.items()}, "retention": _retention(out),
        "wall_seconds": round(time.time() - t_start, 1),
    }
    if bad == "control":  # the stable's own weights: an alert on it is a false alarm
        result["control"] = {"false_alarm": any(a["adapter_version"] == bad_version for a in alerts),
                             "metrics": sorted({a["metric"] for a in alerts if a["adapter_version"] == bad_version})}
    write_json(out / "result.json", result)
    summary_path = paths.run_dir / "summary.json"
    summary = read_json(summary_path) if summary_path.exists() else {"character_id": character_id, "run_id": run_id}
    summary["closed_loop"] = {k: result[k] for k in ("bad", "alerts", "rollback", "detection", "violation_rates",
                                                     "new_version", "negatives", "retention")}
    write_json(summary_path, summary)
    return result


def _retrain(p, paths, registry, engine, negatives, bad_convs, bad_dataset, gate_fn, eval_set, base_model,
             stable, eval_refs=None) -> dict:
    """The next dataset version from the bad version's data minus its negatives, its adapter, its gates:
    {"negatives", "rejected", "new_version"}. When the negatives exclude so much that no dataset can be built
    (a collapsed version's data is its stock line everywhere, and every conversation holds a flagged reply),
    new_version says so ({"skipped": why, "parent_dataset_version"}): retrain from the stable's data instead.
    The new version is gated against the stable (loaded in `engine`) as the previous approved adapter."""
    from ..dataset import DatasetError
    from ..monitor import dataset_with_negatives
    from ..train import train_adapter

    character_id = p.character_id
    try:
        nxt = dataset_with_negatives(bad_convs, negatives, p, parent=bad_dataset, gate_fn=gate_fn)
    except DatasetError as exc:
        return {"negatives": {"n": len(negatives)}, "rejected": [],
                "new_version": {"skipped": f"the negatives leave no dataset: {exc}",
                                "parent_dataset_version": bad_dataset}}
    new_rec = train_adapter(p, nxt["manifest"]["version"], progress=False)
    new_version = new_rec["adapter_version"]
    new_path = paths.adapter_root() / new_version
    known = registry.get_adapter(character_id, new_version) is not None
    registry.register_adapter(character_id=character_id, version=new_version, path=str(new_path),
                              base_model=base_model, dataset_version=nxt["manifest"]["version"], status="candidate",
                              actor="demo", reason="closed-loop demo: trained with production negatives")
    engine.load_adapter(f"{character_id}@{new_version}", new_path)
    new_gates = gate_adapter(p, engine, f"{character_id}@{new_version}", eval_set,
                             previous=f"{character_id}@{stable}", references=eval_refs)
    if not known:  # the same data gives the same, already registered (maybe live) adapter: leave its status be
        registry.set_status(character_id, new_version, "approved" if new_gates["passed"] else "rejected",
                            actor="demo", reason="; ".join(new_gates["reasons"]) or "all gates passed")
    return {"negatives": nxt["negatives"], "rejected": nxt["rejected"],
            "new_version": {"dataset_version": nxt["manifest"]["version"], "parent_dataset_version": bad_dataset,
                            "adapter_version": new_version, "gates": new_gates}}


def report(store: str | Path, character_id: str) -> dict:
    """The newest closed-loop run of a character, for notebook 07: {"headline", "rates" (violation rates
    before/after the rollback, bad vs stable), "figure" (time series with the rollback), "flagged"
    (negatives), "retention" (per version: retention, turns per session, signal rates), "result"}. Without a run: the headline says how to make one and the rest is empty."""
    import pandas as pd
    from matplotlib.figure import Figure

    from ..monitor import monitor_outputs, plot_timeseries

    runs = sorted(Path(store).glob(f"{character_id}/*/closed_loop/result.json"), key=lambda q: q.stat().st_mtime)
    if not runs:
        fig = Figure(figsize=(6, 1.5))
        fig.text(0.5, 0.5, "no closed-loop demo run", ha="center", va="center")
        return {"headline": f"no closed-loop demo run for {character_id} yet: "
                            f"`lora demo closed-loop --character {character_id} --store {store}`",
                "rates": pd.DataFrame(), "figure": fig, "flagged": pd.DataFrame(), "retention": pd.DataFrame(),
                "result": None}
    res = read_json(runs[-1])
    out = monitor_outputs(runs[-1].parent, runs[-1].parent / "request_log.jsonl")
    d, nv = res["detection"], res["new_version"]
    if d:
        headline = (f"bad version {res['bad']['adapter_version']} ({res['bad_kind']}) at "
                    f"{res['bad']['rollout_percent']:g}%: rolled back automatically {d['requests']} requests / "
                    f"{d['seconds']} s after its first bad reply ({d['bad_replies_served']} bad replies served); "
                    f"next version {nv['adapter_version']} from dataset {nv['dataset_version']} "
                    f"(parent {nv['parent_dataset_version']}): gates passed {nv['gates']['passed']}")
    else:
        headline = f"no rollback within {res['requests']} requests"
    rates = pd.DataFrame(res["violation_rates"]).T
    return {"headline": f"{runs[-1].parent.parent.name}: {headline}", "rates": rates,
            "figure": plot_timeseries(out["windows"], out["rollbacks"].to_dict(orient="records")),
            "flagged": out["negatives"], "retention": pd.DataFrame(res.get("retention") or []), "result": res}

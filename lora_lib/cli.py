"""`lora ...`: the command line over the same library the notebooks use."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml


def parse_sets(items: list[str]) -> dict:
    """["train.lora.r=8", "tracking=none"] -> {"train.lora.r": 8, "tracking": "none"} (YAML-typed values)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def cmd_demo_build(args) -> int:
    from .demo import build_demo

    info = build_demo(args.store, seed=args.seed, size=args.size)
    print(json.dumps(info, ensure_ascii=False, indent=2))
    return 0


def cmd_demo_closed_loop(args) -> int:
    from .closed_loop import closed_loop_demo

    res = closed_loop_demo(args.store, args.character, params_dir=args.params, overrides=parse_sets(args.set),
                           run_id=args.run_id, bad=args.bad, rollout_percent=args.rollout,
                           max_requests=args.max_requests, check_every=args.check_every)
    d, vr = res["detection"], res["violation_rates"]
    print(json.dumps({k: res[k] for k in ("bad", "rollback", "detection", "violation_rates", "new_version",
                                          "negatives", "wall_seconds")}, ensure_ascii=False, indent=2, default=str))
    if d:
        print(f"[{args.character}] bad version {res['bad']['adapter_version']} rolled back {d['requests']} requests / "
              f"{d['seconds']} s after its first bad reply; violation rate (any gate) "
              f"{vr['before_rollback']['any']:.2f} before -> {vr['after_rollback'].get('any', float('nan')):.2f} after; "
              f"new version {res['new_version']['adapter_version']} gates passed: {res['new_version']['gates']['passed']}")
    else:
        print(f"[{args.character}] no rollback within {res['requests']} requests", file=sys.stderr)
    return 0 if d else 1


def split_character_sets(overrides: dict) -> tuple[dict, dict[str, dict]]:
    """{"bori:train.epochs": 1, "seed": 3} -> ({"seed": 3}, {"bori": {"train.epochs": 1}})."""
    common, per = {}, {}
    for key, value in overrides.items():
        cid, sep, rest = key.partition(":")
        if sep:
            per.setdefault(cid.strip(), {})[rest.strip()] = value
        else:
            common[key] = value
    return common, per


def cmd_run(args) -> int:
    from .config import known_characters
    from .pipeline import PipelineError, run_batch

    characters = known_characters(args.params) if args.all else args.character
    if not characters:
        raise ValueError("name a character with --character ID or use --all")
    if args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
    overrides, per_character = split_character_sets(parse_sets(args.set))
    try:
        summary = run_batch(characters, run_id=args.run_id, jobs=args.jobs,
                            stages=args.stages.split(",") if args.stages else None, from_stage=args.from_stage,
                            store=args.store, params_dir=args.params, overrides=overrides,
                            character_overrides=per_character, force=args.force, progress=not args.no_progress,
                            executor=args.executor, address=args.address)
    except PipelineError as exc:
        print(f"lora: error: {exc}", file=sys.stderr)
        return 1
    store = Path(args.store).resolve()
    for row in summary["characters"]:
        if row["status"] != "ok":
            continue
        smr = row["metrics"].get("style_marker_rate") or {}
        figures = (f"style-marker rate base {smr.get('base')} -> adapter {smr.get('adapter')}, "
                   f"gates passed: {row['gates'].get('passed')}; ") if smr else ""
        print(f"[{row['character_id']}] ok: {figures}report: {store / row['character_id'] / row['run_id'] / 'index.html'}")
    print(f"batch {summary['batch_id']}: {store / 'batches' / summary['batch_id'] / 'index.html'}; "
          f"all runs: {store / 'index.html'}")
    failed = [row for row in summary["characters"] if row["status"] != "ok"]
    for row in failed:
        print(f"lora: error: {row['character_id']}: {row['failed_stage']} failed: {row['error']}", file=sys.stderr)
    if failed:
        print(f"re-run the same command to resume the failed characters (batch {summary['batch_id']})")
    return 1 if failed else 0


def cmd_sweep(args) -> int:
    from .pipeline import PipelineError
    from .sweep import format_table, parse_grid, run_sweep

    if not args.set:
        raise ValueError("a sweep needs at least one --set KEY=V1,V2,...")
    if args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
    grid, fixed = parse_grid(args.set)
    try:
        sw = run_sweep(args.character, grid, store=args.store, params_dir=args.params, overrides=fixed,
                       sweep_id=args.sweep_id, dataset_run=args.dataset_run, jobs=args.jobs, force=args.force,
                       progress=not args.no_progress, executor=args.executor, address=args.address)
    except PipelineError as exc:
        print(f"lora: error: {exc}", file=sys.stderr)
        return 1

    print(format_table(sw["results"]))
    best = sw.get("best")
    print(f"best ({sw['rule']}): {best['label'] if best else 'none: no point passed the gates'}")
    print(f"comparison: {Path(sw['dir']) / 'compare_runs.html'}")
    return 0 if all(r["status"] == "ok" for r in sw["results"]) else 1


def cmd_clean(args) -> int:
    """The clean stage of one run again (after its collect stage), here or as Ray Data on a cluster."""
    from .pipeline import PipelineError, run_batch
    from .store import read_json

    sets = {**parse_sets(args.set), "clean.executor": args.executor, **({"ray.address": args.address}
                                                                       if args.address else {})}
    try:
        summary = run_batch([args.character], run_id=args.run_id, stages=["clean"], store=args.store,
                            params_dir=args.params, overrides=sets, force=True, progress=not args.no_progress)
    except PipelineError as exc:
        print(f"lora: error: {exc}", file=sys.stderr)
        return 1
    row = summary["characters"][0]
    if row["status"] != "ok":
        print(f"lora: error: {args.character}: clean failed: {row['error']}", file=sys.stderr)
        return 1
    res = read_json(Path(args.store).resolve() / args.character / args.run_id / "clean" / "result.json")
    print(json.dumps({k: res[k] for k in ("turns_in", "turns_kept", "turns_rejected", "reasons", "pii_masked")},
                     ensure_ascii=False))
    return 0


def cmd_report(args) -> int:
    from . import reports

    index = reports.rebuild(args.store, review_html=not args.no_review) if args.rebuild \
        else reports.write_store_index(args.store)
    print(f"index: {index}")
    if args.screenshot:
        page = Path(args.page).resolve() if args.page else index
        try:
            print(f"screenshot: {reports.screenshot(page, args.screenshot, width=args.width, height=args.height)}")
        except RuntimeError as exc:
            print(f"lora: error: {exc}", file=sys.stderr)
            return 2
    return 0


def cmd_params(args) -> int:
    from .config import load_params

    p = load_params(args.character, params_dir=args.params, overrides=parse_sets(args.set))
    print(yaml.safe_dump(p.model_dump(), allow_unicode=True, sort_keys=False))
    return 0


def cmd_bench(args) -> int:
    from .bench import run_benchmarks

    for path in run_benchmarks(args.store, only=args.only):
        print(f"wrote {path}")
    return 0


def _serve_config(args):
    from .serve.api import load_serve_config

    return load_serve_config(args.store, args.params, parse_sets(getattr(args, "set", [])))


def _actor(args) -> str:
    import getpass

    return args.actor or getpass.getuser()


def _print_rows(rows: list[dict], keys: list[str]) -> None:
    widths = {k: max(len(k), *(len(str(r.get(k))) for r in rows)) if rows else len(k) for k in keys}
    print("  ".join(k.ljust(widths[k]) for k in keys))
    for r in rows:
        print("  ".join(str(r.get(k)).ljust(widths[k]) for k in keys))


def cmd_route(args) -> int:
    """lora route status|set|rollout|promote|rollback|mark|adapters."""
    from .registry import Registry

    cfg = _serve_config(args)
    reg = Registry(cfg.registry_url)
    what, cid = args.route_command, getattr(args, "character", None)
    if what == "status":
        rows = reg.route_status(cid)
        if cid and not rows:
            print(f"no route for {cid!r}: requests are served by its category's route or the base model")
            return 0
        _print_rows(rows, ["character_id", "category", "stable_version", "stable_status", "candidate_version",
                           "candidate_status", "rollout_percent", "updated_at"])
        for r in rows:
            for w in r["warnings"]:
                print(f"WARNING {r['character_id']}: {w}")
        return 0
    if what == "adapters":
        _print_rows(reg.list_adapters(cid), ["character_id", "version", "status", "sha256", "dataset_version",
                                             "created_at"])
        return 0
    if what == "set":
        current = reg.get_route(cid)
        base = args.base_model or (current["base_model"] if current else cfg.base_model)
        category = args.category or (cfg.characters[cid].category if cid in cfg.characters and not current
                                     else None)
        route = reg.set_route(cid, base_model=base, stable_version=args.stable, candidate_version=args.candidate,
                              rollout_percent=args.percent, category=category, override=args.override,
                              actor=_actor(args), reason=args.reason)
    elif what == "rollout":
        route = reg.rollout(cid, args.candidate, args.percent, override=args.override, actor=_actor(args),
                            reason=args.reason)
    elif what == "promote":
        route = reg.promote(cid, actor=_actor(args), reason=args.reason)
    elif what == "rollback":
        route = reg.rollback(cid, actor=_actor(args), reason=args.reason)
    elif what == "mark":
        reg.set_status(cid, args.version, args.status, actor=_actor(args), reason=args.reason)
        print(json.dumps(reg.get_adapter(cid, args.version), ensure_ascii=False, indent=2))
        return 0
    else:  # pragma: no cover - argparse restricts the choices
        raise ValueError(f"unknown route command {what!r}")
    print(json.dumps(route, ensure_ascii=False, indent=2))
    return 0


def cmd_serve(args) -> int:
    from .serve.api import serve

    serve(_serve_config(args), host=args.host, port=args.port)
    return 0


def cmd_merge(args) -> int:
    from .registry import Registry, adapter_name
    from .serve.export import merge_adapter

    cfg = _serve_config(args)
    reg = Registry(cfg.registry_url)
    version = args.version
    if version is None:
        route = reg.get_route(args.character)
        if route is None or route["stable_version"] is None:
            raise ValueError(f"no stable route for {args.character!r}: pass --version")
        version = route["stable_version"]
    row = reg.get_adapter(args.character, version)
    if row is None:
        raise ValueError(f"unknown adapter {args.character}@{version}")
    if row["status"] != "approved" and not args.override:
        raise ValueError(f"{args.character}@{version} is {row['status']!r}, not approved (--override to merge anyway)")
    out = Path(args.out) if args.out else cfg.store / "merged" / args.character / version
    record = merge_adapter(row["base_model"], row["path"], out, name=adapter_name(args.character, version),
                           sha256=row["sha256"])
    print(json.dumps({**record, "out": str(out)}, ensure_ascii=False, indent=2))
    return 0


def cmd_export_vllm(args) -> int:
    from .registry import Registry
    from .serve.export import export_vllm

    cfg = _serve_config(args)
    out = Path(args.out) if args.out else cfg.store / "export" / "vllm"
    info = export_vllm(Registry(cfg.registry_url), cfg.base_model, out, max_loras=args.max_loras, port=args.port)
    print(f"wrote {out}/launch.sh, load_adapters.sh, adapters.json ({len(info['adapters'])} adapters); "
          "vLLM itself is not run or tested here")
    return 0


def _store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", default="runs")
    p.add_argument("--params", default="params")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a param")


def _add_serving_commands(sub) -> None:
    ro = sub.add_parser("route", help="routes and rollouts in the registry (audited)")
    ro_sub = ro.add_subparsers(dest="route_command", required=True)
    specs = {
        "status": "show routes (all, or one character) with adapter statuses and warnings",
        "adapters": "list registered adapter versions",
        "set": "set a character's route (stable, optional candidate + percent)",
        "rollout": "show the candidate to PERCENT%% of users (sticky; raising it only adds users)",
        "promote": "make the candidate the stable version for everyone",
        "rollback": "drop the candidate, or go back to the previous approved stable (one transaction)",
        "mark": "set an adapter version's status (approved, rejected, needs_retrain, retired, candidate)",
    }
    for name, help_text in specs.items():
        c = ro_sub.add_parser(name, help=help_text)
        if name in ("status", "adapters"):
            c.add_argument("character", nargs="?")
        else:
            c.add_argument("character")
        if name == "set":
            c.add_argument("--stable", required=True, help="stable version (must be approved)")
            c.add_argument("--candidate")
            c.add_argument("--percent", type=float, default=0.0)
            c.add_argument("--category", help="default: the character's category from params (new routes)")
            c.add_argument("--base-model", help="default: the current route's, else params base_model")
        if name == "rollout":
            c.add_argument("candidate", help="candidate version")
            c.add_argument("percent", type=float)
        if name == "mark":
            c.add_argument("version")
            c.add_argument("status")
        if name in ("set", "rollout"):
            c.add_argument("--override", action="store_true", help="route a non-approved adapter (audited)")
        if name not in ("status", "adapters"):
            c.add_argument("--reason", default="", help="why (kept in the audit log)")
            c.add_argument("--actor", help="who (default: the login name)")
        _store_args(c)
        c.set_defaults(func=cmd_route)

    sv = sub.add_parser("serve", help="OpenAI-compatible server: many character adapters on one base model")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    _store_args(sv)
    sv.set_defaults(func=cmd_serve)

    mg = sub.add_parser("merge", help="write base + one adapter merged (single-character deployment)")
    mg.add_argument("character")
    mg.add_argument("--version", help="default: the route's stable version")
    mg.add_argument("--out", help="default: <store>/merged/<character>/<version>")
    mg.add_argument("--override", action="store_true", help="merge a non-approved adapter")
    _store_args(mg)
    mg.set_defaults(func=cmd_merge)

    ex = sub.add_parser("export", help="deployment exports")
    ex_sub = ex.add_subparsers(dest="export_command", required=True)
    vl = ex_sub.add_parser("vllm", help="vLLM launch command + adapter list from the registry (untested here)")
    vl.add_argument("--out", help="default: <store>/export/vllm")
    vl.add_argument("--max-loras", type=int)
    vl.add_argument("--port", type=int, default=8001)
    _store_args(vl)
    vl.set_defaults(func=cmd_export_vllm)


def cmd_train(args) -> int:
    """One character's train stage outside papermill: `--resume` continues a killed run from its checkpoint."""
    from .config import load_params
    from .stages import run_train
    from .store import run_paths
    from .tracking import start

    p = load_params(args.character, params_dir=args.params, overrides={**parse_sets(args.set), "store": args.store})
    paths = run_paths(args.store, args.character, args.run_id)
    tracker = start(p, "train", args.run_id)
    try:
        result = run_train(p, paths, tracker, resume=args.resume)
    finally:
        tracker.finish()
    print(json.dumps({k: v for k, v in result.items() if k != "losses"}, ensure_ascii=False, indent=2))
    return 0


def cmd_forget(args) -> int:
    """Record a deletion request and flag every dataset version and adapter built with that user's data."""
    from .collect import forget_user
    from .config import known_characters, load_params

    characters = known_characters(args.params)
    if not characters:
        raise ValueError(f"no characters in {args.params}/characters: cannot resolve params")
    # Salt, requests file and registry are shared settings: any character's params resolve them.
    p = load_params(characters[0], params_dir=args.params, overrides={"store": args.store, **parse_sets(args.set)})
    report = forget_user(args.user, store=p.store, salt=p.collect.salt,
                         requests_path=args.requests or p.path(p.inputs.deletion_requests),
                         registry_url=p.registry_url())
    print(json.dumps(report, ensure_ascii=False, indent=2))
    return 0


def cmd_monitor(args) -> int:
    """One monitoring pass per character over the served request log, or --watch to repeat it."""
    from functools import partial

    from .config import known_characters, load_params
    from .monitor import monitor_once, watch
    from .registry import Registry
    from .requestlog import LogTail

    characters = args.character or known_characters(args.params)
    if not characters:
        raise ValueError(f"no characters: name one with --character or add params under {args.params}/characters")
    overrides = {**parse_sets(args.set), "store": str(Path(args.store).resolve())}
    if args.auto_rollback is not None:
        overrides["monitor.auto_rollback"] = args.auto_rollback
    jobs, interval = {}, args.interval
    for cid in characters:
        p = load_params(cid, params_dir=args.params, overrides=overrides)
        log = Path(args.log) if args.log else p.path(getattr(p.serve, "request_log", "{store}/serve/request_log.jsonl"))
        feedback = Path(args.feedback) if args.feedback else \
            p.path(getattr(p.serve, "feedback_log", "{store}/serve/feedback.jsonl"))
        out = Path(args.out) / cid if args.out else Path(p.store) / "monitor" / cid
        jobs[cid] = partial(monitor_once, p.monitor, log, out, registry=Registry(p.registry_url()),
                            feedback_path=feedback, only_character=cid, tail=LogTail(log) if args.watch else None)
        interval = p.monitor.watch_interval_s if interval is None else interval

    def one_pass() -> dict:
        return {cid: job() for cid, job in jobs.items()}

    def show(results: dict) -> None:
        for cid, r in results.items():
            status = "no traffic" if r["no_traffic"] else f"{r['requests']} requests"
            if not r["log_found"]:
                status += f" (request log not found: {r['log']})"
            print(f"[{cid}] {r['ts']} {status}, {r['quarantined']} log line(s) quarantined, {r['alerts']} alert(s) "
                  f"({len(r['new_alerts'])} new), {r['negatives']} negative(s); outputs in {r['out_dir']}")
            for rb in r["rollbacks"]:
                print(f"[{cid}] ROLLBACK {rb['adapter_version']} ({rb['target']}): {rb['status']}: {rb['reason']}")
            for d in r["decisions"]:
                if d["action"] == "skip":
                    print(f"[{cid}] no rollback of {d['adapter_version']}: {d['reason']}")
        sys.stdout.flush()

    if args.watch:
        watch(one_pass, interval_s=interval, max_cycles=args.max_cycles, on_cycle=show)
    else:
        show(one_pass())
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="lora", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="the embedded default: synthetic world + tiny base model")
    demo_sub = demo.add_subparsers(dest="demo_command", required=True)
    b = demo_sub.add_parser("build", help="build the synthetic world and the tiny base model (cached)")
    b.add_argument("--store", default="runs")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--size", choices=["demo", "test"], default="demo")
    b.set_defaults(func=cmd_demo_build)
    cl = demo_sub.add_parser("closed-loop", help="bad version at 20%% -> alert -> auto-rollback -> negatives -> "
                                                 "new version (needs `lora demo build`)")
    cl.add_argument("--character", default="nabi")
    cl.add_argument("--store", default="runs")
    cl.add_argument("--params", default="params")
    cl.add_argument("--run-id", default="closed-loop")
    cl.add_argument("--bad", choices=["meta_talk", "diverged"], default="meta_talk",
                    help="meta_talk: trained with meta talk left in; diverged: the stable adapter with noise weights")
    cl.add_argument("--rollout", type=float, default=20.0, help="percent of users on the bad version")
    cl.add_argument("--max-requests", type=int, default=400)
    cl.add_argument("--check-every", type=int, default=10, help="requests between monitoring passes")
    cl.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a param")
    cl.set_defaults(func=cmd_demo_closed_loop)

    r = sub.add_parser("run", help="run the stage notebooks with papermill for one or all characters")
    who = r.add_mutually_exclusive_group(required=True)
    who.add_argument("--character", action="append", help="character id (repeatable)")
    who.add_argument("--all", action="store_true", help="every character in params/characters/")
    r.add_argument("--stages", help="comma-separated subset, e.g. collect,clean")
    r.add_argument("--from", dest="from_stage", help="redo from this stage on (reuse earlier outputs of --run-id)")
    r.add_argument("--run-id", help="batch/run id; default: resume the newest unfinished batch of the same "
                                    "characters and stages, else a new timestamp")
    r.add_argument("--jobs", type=int, default=1, help="characters run in parallel, one process each (default 1)")
    r.add_argument("--executor", choices=["local", "ray"], default="local", help="local: --jobs processes on this machine; ray: one Ray task each (pip install -e .[ray])")
    r.add_argument("--address", help="with --executor ray: auto or ray://HOST:10001 (default: RAY_ADDRESS, else a "
                                     "new local cluster)")
    r.add_argument("--force", action="store_true", help="re-run stages that already succeeded")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--store", default="runs")
    r.add_argument("--params", default="params")
    r.add_argument("--set", action="append", default=[], metavar="[CHARACTER:]KEY=VALUE",
                   help="override a param (for one character with a CHARACTER: prefix)")
    r.set_defaults(func=cmd_run)

    sw = sub.add_parser("sweep", help="train + evaluate a grid of params on one dataset version, then compare")
    sw.add_argument("--character", required=True)
    sw.add_argument("--set", action="append", default=[], metavar="KEY=V1,V2,...",
                    help="a swept param (several values) or a fixed one (one value); repeatable")
    sw.add_argument("--sweep-id", help="default: a new timestamp; an existing id resumes that sweep")
    sw.add_argument("--dataset-run", help="take the dataset version of this run instead of building one")
    sw.add_argument("--jobs", type=int, default=1, help="points trained in parallel (default 1)")
    sw.add_argument("--executor", choices=["local", "ray"], default="local", help="local: --jobs processes on this machine; ray: one Ray task each (pip install -e .[ray])")
    sw.add_argument("--address", help="with --executor ray: auto or ray://HOST:10001")
    sw.add_argument("--force", action="store_true")
    sw.add_argument("--no-progress", action="store_true")
    sw.add_argument("--store", default="runs")
    sw.add_argument("--params", default="params")
    sw.set_defaults(func=cmd_sweep)

    cn = sub.add_parser("clean", help="the clean stage of a run again, here or as Ray Data (clean.executor)")
    cn.add_argument("--character", required=True)
    cn.add_argument("--run-id", required=True, help="a run whose collect stage has run")
    cn.add_argument("--executor", choices=["local", "ray"], default="local",
                    help="ray: the per-turn work as Ray Data map_batches (pip install -e .[ray])")
    cn.add_argument("--address", help="with --executor ray: auto or ray://HOST:10001 (default: ray.address)")
    cn.add_argument("--no-progress", action="store_true")
    cn.add_argument("--store", default="runs")
    cn.add_argument("--params", default="params")
    cn.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a param")
    cn.set_defaults(func=cmd_clean)

    rp = sub.add_parser("report", help="(re)build the HTML index of a store; optionally screenshot it")
    rp.add_argument("--store", default="runs")
    rp.add_argument("--rebuild", action="store_true", help="re-render every run's notebooks and pages")
    rp.add_argument("--no-review", action="store_true", help="with --rebuild: skip the code-free renderings")
    rp.add_argument("--screenshot", metavar="PNG", help="render the page in headless Chromium to this PNG")
    rp.add_argument("--page", help="the page to screenshot (default: the store index)")
    rp.add_argument("--width", type=int, default=1280)
    rp.add_argument("--height", type=int, default=900)
    rp.set_defaults(func=cmd_report)

    pr = sub.add_parser("params", help="show the resolved params of a character")
    pr.add_argument("character")
    pr.add_argument("--params", default="params")
    pr.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    pr.set_defaults(func=cmd_params)

    t = sub.add_parser("train", help="run the train stage of an existing run (after its dataset stage)")
    t.add_argument("--character", required=True)
    t.add_argument("--run-id", required=True, help="the run whose dataset stage names the version")
    t.add_argument("--resume", action="store_true", help="continue from the last checkpoint of a killed run")
    t.add_argument("--store", default="runs")
    t.add_argument("--params", default="params")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    t.set_defaults(func=cmd_train)

    be = sub.add_parser("bench", help="run benchmarks into <store>/bench/*.json")
    be.add_argument("--store", default="runs")
    be.add_argument("--only", help="run only benchmarks whose name contains this")
    be.set_defaults(func=cmd_bench)
    _add_serving_commands(sub)

    fg = sub.add_parser("forget", help="deletion request: exclude a user from future datasets, flag what used them")
    fg.add_argument("--user", required=True, help="the user's id as in the users export")
    fg.add_argument("--store", default="runs")
    fg.add_argument("--params", default="params")
    fg.add_argument("--requests", help="deletion-requests file (default: inputs.deletion_requests)")
    fg.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    fg.set_defaults(func=cmd_forget)

    mo = sub.add_parser("monitor", help="metrics, alerts, auto-rollback and negatives from the request log")
    mo.add_argument("--character", action="append", help="character id (repeatable; default: all)")
    mo.add_argument("--store", default="runs")
    mo.add_argument("--params", default="params")
    mo.add_argument("--log", help="request log (default: serve.request_log, <store>/serve/request_log.jsonl)")
    mo.add_argument("--feedback", help="feedback log (default: <store>/serve/feedback.jsonl)")
    mo.add_argument("--out", help="output dir (default: <store>/monitor/<character>/)")
    mo.add_argument("--watch", action="store_true", help="repeat every --interval seconds until Ctrl-C")
    mo.add_argument("--interval", type=float, help="seconds between passes (default: monitor.watch_interval_s)")
    mo.add_argument("--max-cycles", type=int, help="stop --watch after this many passes")
    ar = mo.add_mutually_exclusive_group()
    ar.add_argument("--auto-rollback", dest="auto_rollback", action="store_true", default=None,
                    help="roll back on alerts (overrides monitor.auto_rollback)")
    ar.add_argument("--no-auto-rollback", dest="auto_rollback", action="store_false")
    mo.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a param")
    mo.set_defaults(func=cmd_monitor)
    return ap


def main(argv: list[str] | None = None) -> int:
    from .config import ConfigError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, ValueError, FileNotFoundError, KeyError) as exc:
        print(f"lora: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

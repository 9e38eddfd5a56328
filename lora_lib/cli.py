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


def cmd_run(args) -> int:
    from .config import known_characters
    from .pipeline import PipelineError, run_character

    characters = known_characters(args.params) if args.all else args.character
    if not characters:
        raise ValueError("name a character with --character ID or use --all")
    overrides = parse_sets(args.set)
    failed = []
    for cid in characters:
        try:
            summary = run_character(cid, run_id=args.run_id, stages=args.stages.split(",") if args.stages else None,
                                    from_stage=args.from_stage, store=args.store, params_dir=args.params,
                                    overrides=overrides)
        except PipelineError as exc:
            print(f"lora: error: {exc}", file=sys.stderr)
            failed.append(cid)
            continue
        run_dir = Path(args.store).resolve() / cid / summary["run_id"]
        smr = summary["metrics"]["style_marker_rate"]
        print(f"[{cid}] done: style-marker rate base {smr.get('base')} -> adapter {smr.get('adapter')}, "
              f"gates passed: {summary['gates']['passed']}; report: {run_dir / 'index.html'}")
    return 1 if failed else 0


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
    from .monitor import LogTail, monitor_once, watch
    from .serve.registry import Registry

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
    r.add_argument("--from", dest="from_stage", help="start at this stage (reuse earlier outputs of --run-id)")
    r.add_argument("--run-id", help="default: a new timestamp")
    r.add_argument("--store", default="runs")
    r.add_argument("--params", default="params")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a param")
    r.set_defaults(func=cmd_run)

    pr = sub.add_parser("params", help="show the resolved params of a character")
    pr.add_argument("character")
    pr.add_argument("--params", default="params")
    pr.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    pr.set_defaults(func=cmd_params)

    be = sub.add_parser("bench", help="run benchmarks into <store>/bench/*.json")
    be.add_argument("--store", default="runs")
    be.add_argument("--only", help="run only benchmarks whose name contains this")
    be.set_defaults(func=cmd_bench)

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

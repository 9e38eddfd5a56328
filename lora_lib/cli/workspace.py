"""`lora demo build|closed-loop`, `lora report`, `lora params`, `lora bench`: the demo store, the HTML
index, resolved params and benchmarks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from .sets import parse_sets


def cmd_demo_build(args) -> int:
    from ..demo import build_demo

    info = build_demo(args.store, seed=args.seed, size=args.size)
    print(json.dumps(info, ensure_ascii=False, indent=2))
    return 0


def cmd_demo_closed_loop(args) -> int:
    from ..closed_loop import closed_loop_demo

    res = closed_loop_demo(args.store, args.character, params_dir=args.params, overrides=parse_sets(args.set),
                           run_id=args.run_id, bad=args.bad, rollout_percent=args.rollout,
                           max_requests=args.max_requests, check_every=args.check_every,
                           traffic_seed=args.seed, after_rollback=args.after_rollback,
                           retrain=not args.no_retrain, noise_std=args.noise_std)
    d, vr = res["detection"], res["violation_rates"]
    print(json.dumps({k: res[k] for k in ("bad", "rollback", "detection", "violation_rates", "new_version",
                                          "negatives", "wall_seconds")}, ensure_ascii=False, indent=2, default=str))
    if args.bad == "control":  # a copy of the stable: any alert on it is a false alarm
        fired = sorted({a["metric"] for a in res["alerts"] if a["adapter_version"] == res["bad"]["adapter_version"]})
        print(f"[{args.character}] control {res['bad']['adapter_version']}: "
              + (f"FALSE ALARM on {', '.join(fired)}" if fired else f"no alert within {res['requests']} requests"),
              file=sys.stderr if fired else sys.stdout)
        return 1 if fired else 0
    if d:
        print(f"[{args.character}] bad version {res['bad']['adapter_version']} rolled back {d['requests']} requests / "
              f"{d['seconds']} s after its first bad reply; violation rate (any gate) "
              f"{vr['before_rollback']['any']:.2f} before -> {vr['after_rollback'].get('any', float('nan')):.2f} after; "
              + (f"new version {res['new_version']['adapter_version']} gates passed: "
                 f"{res['new_version']['gates']['passed']}" if "skipped" not in res["new_version"]
                 else f"no new version: {res['new_version']['skipped']}"))
    else:
        print(f"[{args.character}] no rollback within {res['requests']} requests", file=sys.stderr)
    return 0 if d else 1


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
    from ..config import load_params

    p = load_params(args.character, params_dir=args.params, overrides=parse_sets(args.set))
    print(yaml.safe_dump(p.model_dump(), allow_unicode=True, sort_keys=False))
    return 0


def cmd_bench(args) -> int:
    from ..bench import run_benchmarks

    for path in run_benchmarks(args.store, only=args.only):
        print(f"wrote {path}")
    return 0


def add_demo(sub) -> None:
    """`lora demo build|closed-loop`."""
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
    # closed_loop.BAD_KINDS, spelled out: importing it here would load the config models for every command
    cl.add_argument("--bad", choices=["meta_talk", "diverged", "collapsed", "offtopic", "control"], default="meta_talk",
                    help="meta_talk: trained with meta talk left in; diverged: the stable adapter with noise weights; "
                         "collapsed: trained on one stock line; offtopic: trained on replies dealt to other prompts; "
                         "control: a copy of the stable (must not alert)")
    cl.add_argument("--seed", type=int, default=None,
                    help="the synthetic users' and prompts' seed (default: the params' seed); adapters unchanged")
    cl.add_argument("--rollout", type=float, default=20.0, help="percent of users on the bad version")
    cl.add_argument("--noise-std", type=float, default=0.015,
                    help="--bad diverged: std of the noise that replaces the stable's LoRA B weights (0.01: fluent, "
                         "the base's register; 0.015: broken fragments; 0.02 and up: gibberish, at demo size)")
    cl.add_argument("--max-requests", type=int, default=400)
    cl.add_argument("--check-every", type=int, default=10, help="requests between monitoring passes")
    cl.add_argument("--after-rollback", type=int, default=40, help="requests served after the rollback")
    cl.add_argument("--no-retrain", action="store_true",
                    help="detection only: stop after the traffic (no negatives -> next version)")
    cl.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a param")
    cl.set_defaults(func=cmd_demo_closed_loop)


def add_report(sub) -> None:
    """`lora report`."""
    rp = sub.add_parser("report", help="(re)build the HTML index of a store; optionally screenshot it")
    rp.add_argument("--store", default="runs")
    rp.add_argument("--rebuild", action="store_true", help="re-render every run's notebooks and pages")
    rp.add_argument("--no-review", action="store_true", help="with --rebuild: skip the code-free renderings")
    rp.add_argument("--screenshot", metavar="PNG", help="render the page in headless Chromium to this PNG")
    rp.add_argument("--page", help="the page to screenshot (default: the store index)")
    rp.add_argument("--width", type=int, default=1280)
    rp.add_argument("--height", type=int, default=900)
    rp.set_defaults(func=cmd_report)


def add_params(sub) -> None:
    """`lora params`."""
    pr = sub.add_parser("params", help="show the resolved params of a character")
    pr.add_argument("character")
    pr.add_argument("--params", default="params")
    pr.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    pr.set_defaults(func=cmd_params)


def add_bench(sub) -> None:
    """`lora bench`."""
    be = sub.add_parser("bench", help="run benchmarks into <store>/bench/*.json")
    be.add_argument("--store", default="runs")
    be.add_argument("--only", help="run only benchmarks whose name contains this")
    be.set_defaults(func=cmd_bench)

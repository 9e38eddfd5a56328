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

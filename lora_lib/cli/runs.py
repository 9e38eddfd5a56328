"""`lora run`, `lora sweep`, `lora train`: the stage chain for one or many characters, a grid of params,
one train stage."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .sets import parse_sets, split_character_sets


def cmd_run(args) -> int:
    from ..config import known_characters
    from ..pipeline import PipelineError, run_batch

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
    from ..pipeline import PipelineError
    from ..sweep import format_table, parse_grid, run_sweep

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


def cmd_train(args) -> int:
    """One character's train stage outside papermill: `--resume` continues a killed run from its checkpoint."""
    from ..config import load_params
    from ..stages import run_train
    from ..store import run_paths
    from ..tracking import start

    p = load_params(args.character, params_dir=args.params, overrides={**parse_sets(args.set), "store": args.store})
    paths = run_paths(args.store, args.character, args.run_id)
    tracker = start(p, "train", args.run_id)
    try:
        result = run_train(p, paths, tracker, resume=args.resume)
    finally:
        tracker.finish()
    print(json.dumps({k: v for k, v in result.items() if k != "losses"}, ensure_ascii=False, indent=2))
    return 0


def cmd_clean(args) -> int:
    """The clean stage of one run again (after its collect stage), here or as Ray Data on a cluster."""
    from ..pipeline import PipelineError, run_batch
    from ..store import read_json

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


def add_executor(parser, executor_help: str, default: str = "RAY_ADDRESS") -> None:
    """--executor local|ray and --address, the same for every command that can run on Ray."""
    parser.add_argument("--executor", choices=["local", "ray"], default="local", help=executor_help)
    parser.add_argument("--address", help=f"with --executor ray: auto or ray://HOST:10001 (default: {default}, "
                                          "else a new local cluster)")


def add_run(sub) -> None:
    """`lora run`."""
    r = sub.add_parser("run", help="run the stage notebooks with papermill for one or all characters")
    who = r.add_mutually_exclusive_group(required=True)
    who.add_argument("--character", action="append", help="character id (repeatable)")
    who.add_argument("--all", action="store_true", help="every character in params/characters/")
    r.add_argument("--stages", help="comma-separated subset, e.g. collect,clean")
    r.add_argument("--from", dest="from_stage", help="redo from this stage on (reuse earlier outputs of --run-id)")
    r.add_argument("--run-id", help="batch/run id; default: resume the newest unfinished batch of the same "
                                    "characters and stages, else a new timestamp")
    r.add_argument("--jobs", type=int, default=1, help="characters run in parallel, one process each (default 1)")
    add_executor(r, "local: --jobs processes on this machine; ray: one Ray task each (pip install -e .[ray])")
    r.add_argument("--force", action="store_true", help="re-run stages that already succeeded")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--store", default="runs")
    r.add_argument("--params", default="params")
    r.add_argument("--set", action="append", default=[], metavar="[CHARACTER:]KEY=VALUE",
                   help="override a param (for one character with a CHARACTER: prefix)")
    r.set_defaults(func=cmd_run)


def add_sweep(sub) -> None:
    """`lora sweep`."""
    sw = sub.add_parser("sweep", help="train + evaluate a grid of params on one dataset version, then compare")
    sw.add_argument("--character", required=True)
    sw.add_argument("--set", action="append", default=[], metavar="KEY=V1,V2,...",
                    help="a swept param (several values) or a fixed one (one value); repeatable")
    sw.add_argument("--sweep-id", help="default: a new timestamp; an existing id resumes that sweep")
    sw.add_argument("--dataset-run", help="take the dataset version of this run instead of building one")
    sw.add_argument("--jobs", type=int, default=1, help="points trained in parallel (default 1)")
    add_executor(sw, "local: --jobs processes on this machine; ray: one Ray task per point (pip install -e .[ray])")
    sw.add_argument("--force", action="store_true")
    sw.add_argument("--no-progress", action="store_true")
    sw.add_argument("--store", default="runs")
    sw.add_argument("--params", default="params")
    sw.set_defaults(func=cmd_sweep)


def add_train(sub) -> None:
    """`lora train`."""
    t = sub.add_parser("train", help="run the train stage of an existing run (after its dataset stage)")
    t.add_argument("--character", required=True)
    t.add_argument("--run-id", required=True, help="the run whose dataset stage names the version")
    t.add_argument("--resume", action="store_true", help="continue from the last checkpoint of a killed run")
    t.add_argument("--store", default="runs")
    t.add_argument("--params", default="params")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    t.set_defaults(func=cmd_train)


def add_clean(sub) -> None:
    """`lora clean`."""
    cn = sub.add_parser("clean", help="the clean stage of a run again, here or as Ray Data (clean.executor)")
    cn.add_argument("--character", required=True)
    cn.add_argument("--run-id", required=True, help="a run whose collect stage has run")
    add_executor(cn, "ray: the per-turn work as Ray Data map_batches (pip install -e .[ray])",
                 default="ray.address in params, else RAY_ADDRESS")
    cn.add_argument("--no-progress", action="store_true")
    cn.add_argument("--store", default="runs")
    cn.add_argument("--params", default="params")
    cn.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a param")
    cn.set_defaults(func=cmd_clean)

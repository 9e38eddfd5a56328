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
    from .serve.registry import Registry

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
    from .serve.export import merge_adapter
    from .serve.registry import Registry, adapter_name

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
    from .serve.export import export_vllm
    from .serve.registry import Registry

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

    be = sub.add_parser("bench", help="run benchmarks into <store>/bench/*.json")
    be.add_argument("--store", default="runs")
    be.add_argument("--only", help="run only benchmarks whose name contains this")
    be.set_defaults(func=cmd_bench)
    _add_serving_commands(sub)
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

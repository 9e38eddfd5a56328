"""`lora route ...`, `lora serve`, `lora merge`, `lora export vllm`: the registry's routes and the
serving front."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .sets import parse_sets


def _serve_config(args):
    from ..serve.api import load_serve_config

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
    from ..registry import Registry

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
        base = args.base_model or reg.default_route_base(cid, args.stable, cfg.base_model)
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
    if args.ray:
        from ..clean.ray_data import require_ray
        from ..serve.ray_serve import WHAT, serve_ray

        cfg = _serve_config(args)
        try:
            require_ray(WHAT)
        except RuntimeError as exc:  # the extra is missing: say which, no traceback
            print(f"lora: error: {exc}", file=sys.stderr)
            return 2
        serve_ray(cfg, host=args.host, port=args.port, address=args.address)
        return 0
    if args.address:
        raise ValueError("--address is the Ray cluster of `lora serve --ray`; add --ray")
    from ..serve.api import serve

    serve(_serve_config(args), host=args.host, port=args.port)
    return 0


def cmd_merge(args) -> int:
    from ..registry import Registry, adapter_name
    from ..serve.export import merge_adapter

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
    from ..registry import Registry
    from ..serve.export import export_vllm

    cfg = _serve_config(args)
    out = Path(args.out) if args.out else cfg.store / "export" / "vllm"
    info = export_vllm(Registry(cfg.registry_url), cfg.base_model, out, max_loras=args.max_loras, port=args.port)
    for i, server in enumerate(info["servers"]):
        where = out if i == 0 else out / f"base{i}"
        print(f"wrote {where}/launch.sh, load_adapters.sh: {server['base_model']} on port {server['port']}, "
              f"{len(server['adapters'])} adapters")
    print("serve with: " + " ".join(f"--set {k}={json.dumps(v) if isinstance(v, dict) else v}"
                                    for k, v in info["serve_params"].items()))
    print(f"wrote {out}/adapters.json; vLLM itself is not run or tested here")
    return 0


def _store_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", default="runs")
    p.add_argument("--params", default="params")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a param")


def add_serving_commands(sub) -> None:
    """`lora route ...`, `lora serve`, `lora merge`, `lora export vllm`."""
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
            c.add_argument("--base-model", help="default: the stable adapter's base, else the current route's, "
                                                "else params base_model")
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
    sv.add_argument("--ray", action="store_true",
                    help="as a Ray Serve application: serve.ray.num_replicas engine replicas, adapters multiplexed "
                         "(pip install -e .[ray])")
    sv.add_argument("--address", help="with --ray: the Ray cluster (auto, ray://HOST:10001); default "
                                      "serve.ray.address, else RAY_ADDRESS or a new local cluster")
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

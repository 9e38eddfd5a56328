"""`lora forget`, `lora monitor`: deletion requests, and monitoring passes over the served request log."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .sets import parse_sets


def cmd_forget(args) -> int:
    """Record a deletion request and flag every dataset version and adapter built with that user's data."""
    from ..collect import forget_user
    from ..config import known_characters, load_params

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

    from ..config import known_characters, load_params
    from ..monitor import monitor_once, watch
    from ..registry import Registry
    from ..requestlog import LogTail

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


def add_forget(sub) -> None:
    """`lora forget`."""
    fg = sub.add_parser("forget", help="deletion request: exclude a user from future datasets, flag what used them")
    fg.add_argument("--user", required=True, help="the user's id as in the users export")
    fg.add_argument("--store", default="runs")
    fg.add_argument("--params", default="params")
    fg.add_argument("--requests", help="deletion-requests file (default: inputs.deletion_requests)")
    fg.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    fg.set_defaults(func=cmd_forget)


def add_monitor(sub) -> None:
    """`lora monitor`."""
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

"""`lora ...`: the command line over the same library the notebooks use."""

from __future__ import annotations

import argparse
import sys

from .doctor import add_doctor
from .evaluate import add_evaluate
from .monitoring import add_forget, add_monitor
from .runs import add_clean, add_run, add_sweep, add_train
from .serving import add_serving_commands
from .sets import parse_sets, split_character_sets
from .workspace import add_bench, add_demo, add_params, add_report

__all__ = ["build_parser", "main", "parse_sets", "split_character_sets"]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="lora", description=__doc__)
    sub = ap.add_subparsers(dest="command", required=True)
    add_demo(sub)
    add_run(sub)
    add_sweep(sub)
    add_clean(sub)
    add_report(sub)
    add_params(sub)
    add_train(sub)
    add_bench(sub)
    add_doctor(sub)
    add_serving_commands(sub)
    add_forget(sub)
    add_monitor(sub)
    add_evaluate(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    from ..config import ConfigError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, ValueError, FileNotFoundError, KeyError) as exc:
        print(f"lora: error: {exc}", file=sys.stderr)
        return 2

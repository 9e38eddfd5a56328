"""`lora evaluate --character C --adapter NAME@VERSION`: the evaluate stage's steps on any registered adapter."""

from __future__ import annotations

from pathlib import Path

from .sets import parse_sets


def cmd_evaluate(args) -> int:
    """Generate (or reuse) replies, gates, persona, blinded A/B and the decision for a registered adapter,
    against the base model and the approved adapter it would replace. The report goes to
    <store>/evaluate/<character>/<version>/ (gate_report.json, replies, ab/); the registry and the
    adapter's own gate report are left as they are."""
    from ..config import load_params
    from ..evaluate import compared_models, write_outputs
    from ..registry import Registry, parse_adapter_name
    from ..stages import classifier_inputs, evaluate_adapter

    owner, version = parse_adapter_name(args.adapter)
    if owner != args.character:
        raise ValueError(f"--adapter {args.adapter!r} is not an adapter of --character {args.character!r}")
    store = Path(args.store).resolve()
    p = load_params(args.character, params_dir=args.params, overrides={**parse_sets(args.set), "store": str(store)})
    reg = Registry(p.registry_url())
    row = reg.get_adapter(owner, version)
    if row is None:
        raise ValueError(f"unknown adapter {args.adapter} in {p.registry_url()}: see `lora route adapters {owner}`")
    if not reg.verify_weights(owner, version):
        raise ValueError(f"adapter {args.adapter}: weights on disk do not match the registry's sha256")
    out = store / "evaluate" / owner / version
    inputs = {"dataset_version": row["dataset_version"], "base_model": row["base_model"], "adapter_dir": None,
              "models": compared_models(reg, owner, version, row["path"], row["base_model"]),
              "own_clean": None, "out_dir": out, **classifier_inputs(p, args.params)}
    res = evaluate_adapter(p, inputs, progress=not args.no_progress)
    report = res["report"]
    files = write_outputs(out, report, res["rows"], res["scores"])
    print(f"{report['adapter']}: " + ("APPROVE" if report["passed"] else "REJECT: " + "; ".join(report["reasons"])))
    print(f"report: {files['gate_report']}")
    return 0


def add_evaluate(sub) -> None:
    """`lora evaluate`."""
    ev = sub.add_parser("evaluate", help="gates, persona, A/B and the decision for a registered adapter "
                                         "(report in <store>/evaluate/<character>/<version>/)")
    ev.add_argument("--character", required=True)
    ev.add_argument("--adapter", required=True, metavar="NAME@VERSION", help="a registered adapter, e.g. nabi@VERSION")
    ev.add_argument("--no-progress", action="store_true", help="no progress bar")
    ev.add_argument("--store", default="runs")
    ev.add_argument("--params", default="params")
    ev.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a param")
    ev.set_defaults(func=cmd_evaluate)

"""`lora doctor --base MODEL`: family, template, masking, target modules, memory (lora_lib.models.doctor)."""

from __future__ import annotations

from .sets import parse_sets


def cmd_doctor(args) -> int:
    from ..config import load_params
    from ..models.doctor import diagnose

    p = load_params(args.character, params_dir=args.params, overrides=parse_sets(args.set))
    base = args.base or str(p.path(p.base_model))
    d = diagnose(base, target_modules=p.train.lora.target_modules, r=p.train.lora.r, batch=p.train.batch_size,
                 length=p.train.max_length)
    print(d.report())
    return 0 if d.masking else 2


def add_doctor(sub) -> None:
    dr = sub.add_parser("doctor", help="what training and serving will do with a base model (family, masking, memory)")
    dr.add_argument("--base", help="model path or hub id (default: the character's base_model)")
    dr.add_argument("--character", default="nabi", help="whose params give batch size, length and LoRA r")
    dr.add_argument("--params", default="params")
    dr.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    dr.set_defaults(func=cmd_doctor)

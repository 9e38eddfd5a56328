"""`--set KEY=VALUE` overrides: parsing, and splitting off the per-character ones."""

from __future__ import annotations

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


def split_character_sets(overrides: dict) -> tuple[dict, dict[str, dict]]:
    """{"bori:train.epochs": 1, "seed": 3} -> ({"seed": 3}, {"bori": {"train.epochs": 1}})."""
    common, per = {}, {}
    for key, value in overrides.items():
        cid, sep, rest = key.partition(":")
        if sep:
            per.setdefault(cid.strip(), {})[rest.strip()] = value
        else:
            common[key] = value
    return common, per

"""Loading params: params/defaults.yaml + params/characters/<id>.yaml + overrides -> Params.

A character file lists only what differs from the defaults. Overrides (from a notebook's
parameters cell or `lora run --set key=value`) go on top. Unknown keys and wrong types fail
at load time with a one-line error naming the file and the dotted key.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .params import Params

CHARACTER_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class ConfigError(ValueError):
    """A params problem, phrased for a person: file, key, what is wrong."""


def check_character_id(character_id: str) -> str:
    if not isinstance(character_id, str) or not CHARACTER_ID.match(character_id):
        raise ConfigError(
            f"invalid character id {character_id!r}: use lowercase letters, digits, '-' and '_' "
            "(no paths)")
    return character_id


def known_characters(params_dir: str | Path = "params") -> list[str]:
    return sorted(p.stem for p in (Path(params_dir) / "characters").glob("*.yaml"))


def character_markers(params_dir: str | Path = "params") -> dict[str, list[str]]:
    """Style markers of every configured character (for leakage checks across characters)."""
    out = {}
    for cid in known_characters(params_dir):
        data = _read_yaml(Path(params_dir) / "characters" / f"{cid}.yaml")
        out[cid] = list((data.get("character") or {}).get("style_markers") or [])
    return out


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _merge(base: dict, top: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def expand_dotted(overrides: dict[str, Any]) -> dict:
    """{"train.lora.r": 8} -> {"train": {"lora": {"r": 8}}}; nested dicts pass through."""
    out: dict = {}
    for key, value in (overrides or {}).items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = _merge(node[leaf], value) if isinstance(value, dict) and isinstance(node.get(leaf), dict) \
            else value
    return out


def _has_key(tree: dict, dotted: tuple) -> bool:
    node: Any = tree
    for part in dotted:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def load_params(character_id: str, *, params_dir: str | Path = "params",
                overrides: dict[str, Any] | None = None) -> Params:
    """Resolve the params of one character; raise ConfigError naming file and key."""
    check_character_id(character_id)
    params_dir = Path(params_dir)
    defaults_path = params_dir / "defaults.yaml"
    char_path = params_dir / "characters" / f"{character_id}.yaml"
    if not defaults_path.exists():
        raise ConfigError(f"{defaults_path}: params file not found")
    if not char_path.exists():
        known = ", ".join(known_characters(params_dir)) or "none"
        raise ConfigError(f"unknown character {character_id!r}: no {char_path} (known: {known})")
    layers = [(str(defaults_path), _read_yaml(defaults_path)), (str(char_path), _read_yaml(char_path)),
              ("overrides", expand_dotted(overrides or {}))]
    merged: dict = {"character_id": character_id}
    for _, layer in layers:
        merged = _merge(merged, layer)
    merged["character_id"] = character_id
    try:
        return Params.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(str(p) for p in err["loc"])
        source = next((name for name, layer in reversed(layers) if _has_key(layer, loc)),
                      str(char_path) if loc and loc[0] == "character" else str(defaults_path))
        value = f" (got {err['input']!r})" if err["type"] != "missing" and not isinstance(err["input"], dict) \
            else ""
        more = f" [+{len(exc.errors()) - 1} more]" if len(exc.errors()) > 1 else ""
        raise ConfigError(f"{source}: {'.'.join(loc)}: {err['msg']}{value}{more}") from None


def guide_warnings(p: Params) -> list[str]:
    """Hyperparameters outside the seed's guide: shown in the notebook and the record, not silenced."""
    t, out = p.train, []
    checks = [("train.lora.r", t.lora.r, 8, 32), ("train.lora.alpha", t.lora.alpha, 16, 64),
              ("train.lora.dropout", t.lora.dropout, 0, 0.1), ("train.learning_rate", t.learning_rate, 1e-4, 2e-4),
              ("train.epochs", t.epochs, 1, 3)]
    for key, value, lo, hi in checks:
        if not lo <= value <= hi:
            out.append(f"{key}={value} is outside the guide's {lo}..{hi}")
    return out

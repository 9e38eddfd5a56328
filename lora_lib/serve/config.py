"""Server settings (`ServeConfig`) and the characters it serves, read from params."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..config import ConfigError, ServeParams, known_characters, load_params
from ..evaluate.gates import gate_kwargs

API_KEY_ENV = "LORA_API_KEY"


@dataclass(frozen=True)
class CharacterInfo:
    name: str
    category: str | None
    system_prompt: str
    banned_words: tuple[str, ...] = ()
    gates: dict = field(default_factory=dict, hash=False, compare=False)  # check_reply kwargs (gate_kwargs)


@dataclass
class ServeConfig:
    store: Path
    base_model: str
    registry_url: str
    serve: ServeParams
    characters: dict[str, CharacterInfo] = field(default_factory=dict)
    api_key: str | None = None

    def log_path(self, template: str) -> Path:
        return Path(template.replace("{store}", str(self.store)))


def load_serve_config(store: str | Path, params_dir: str | Path = "params", overrides: dict | None = None,
                      api_key: str | None = None) -> ServeConfig:
    """Server settings from params: serve.* and base_model from defaults (+ overrides), and every
    configured character's name, category, system prompt and banned words. api_key defaults to
    $LORA_API_KEY."""
    store = Path(store).resolve()
    ids = known_characters(params_dir)
    if not ids:
        raise ConfigError(f"{params_dir}/characters: no character params; nothing to serve")
    over = {**(overrides or {}), "store": str(store)}
    chars, first = {}, None
    for cid in ids:
        p = load_params(cid, params_dir=params_dir, overrides=over)
        first = first or p
        chars[cid] = CharacterInfo(p.character.name, p.character.category, p.character.system_prompt,
                                   tuple(p.character.banned_words), gate_kwargs(p))
    # "{store}" in the other bases' paths too, as in base_model
    serve = first.serve.model_copy(update={"base_models": [str(first.path(b)) for b in first.serve.base_models],
                                           "vllm_urls": {str(first.path(k)): u for k, u in first.serve.vllm_urls.items()}})
    return ServeConfig(store=store, base_model=str(first.path(first.base_model)), registry_url=first.registry_url(),
                       serve=serve, characters=chars,
                       api_key=api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None)

"""Checks before any training starts: params, base model, dataset records, chat template, tokenizer."""

from __future__ import annotations

from pathlib import Path

from ..config import Params, TrainParams
from ..dataset import tokenizer_fingerprint
from ..models.identity import base_identity
from ..store import read_json, sha256_file, sha256_json


class TrainError(ValueError):
    """A problem found before training: names the input and what is wrong."""


def _is_local(name: str) -> bool:
    """A path, not a hub id ("org/name" with exactly one slash)."""
    return name.startswith((".", "/", "~")) or name.count("/") != 1


def model_fingerprint(base_model: str) -> dict:
    """Base model id/path, its identity (models.identity: config, tokenizer and weights, or the hub id) and a
    content hash of its weights and tokenizer (or the hub revision)."""
    path = Path(base_model).expanduser()
    if not path.exists():
        if _is_local(base_model):
            raise TrainError(f"base model path does not exist: {base_model}")
        return {"base_model": base_model, "base_id": base_identity(base_model),
                "revision": "hub (resolved at load time)", "sha256": None, "tokenizer_sha256": None}
    info = path / "base_model.json"
    weights = sorted(path.glob("*.safetensors"))
    if not weights:
        raise TrainError(f"base model {path} has no .safetensors weights (only safetensors are loaded)")
    tok = path / "tokenizer.json"
    return {"base_model": str(path), "base_id": base_identity(path),
            "revision": read_json(info).get("sha256") if info.exists() else None,
            "sha256": sha256_json([sha256_file(w) for w in weights]),
            "tokenizer_sha256": sha256_file(tok) if tok.exists() else None}


def check_params(p: Params) -> None:
    """Re-validate the train params (a Params built without validation, or mutated after loading)."""
    from pydantic import ValidationError

    try:
        TrainParams.model_validate(p.train.model_dump())
    except ValidationError as exc:
        err = exc.errors()[0]
        raise TrainError(f"train.{'.'.join(str(x) for x in err['loc'])}: {err['msg']} "
                         f"(got {err.get('input')!r})") from None


def check_inputs(p: Params, train: list[dict], tokenizer, preferences: list[dict] | None = None):
    """Fail before training on an empty dataset, records without a reply, a template whose assistant-only
    masks cannot be proven, and (for dpo) a version without preference pairs. Returns the masking plan
    (the check `lora doctor` runs)."""
    check_params(p)
    if p.train.method == "dpo" and not preferences:
        raise TrainError(f"train.method=dpo but the dataset version for {p.character_id!r} has no preference "
                         "pairs (negatives with a chosen reply); use lora, or add dataset.negatives")
    if not train:
        raise TrainError(f"dataset for {p.character_id!r} has no train records")
    for i, rec in enumerate(train):
        msgs = rec.get("messages")
        if not isinstance(msgs, list) or not any(isinstance(m, dict) and m.get("role") == "assistant"
                                                  and m.get("content") for m in msgs):
            raise TrainError(f"train record {i} ({rec.get('conversation_id')}): no assistant turn to learn from")
    return masking_plan(tokenizer, train)


def masking_plan(tokenizer, train: list[dict], config=None):
    """How the loss is limited to assistant turns (lora_lib.models.masking), proven on the first records."""
    from ..models.masking import MaskingError, plan_for

    try:
        return plan_for(tokenizer, [r["messages"] for r in train[:8]], config)
    except MaskingError as exc:
        raise TrainError(str(exc)) from None


def check_tokenizer(manifest: dict, tokenizer) -> str:
    """The dataset's token counts and splits were made with one tokenizer: training must use the same."""
    fp = tokenizer_fingerprint(tokenizer)
    built_with = (manifest.get("format_config") or {}).get("tokenizer_sha256")
    if built_with and built_with != fp:
        raise TrainError(f"dataset version {manifest.get('version')} was built with another tokenizer "
                         f"(sha256 {built_with[:12]}, base model's is {fp[:12]}): rebuild the dataset stage "
                         "with this base_model")
    return fp

"""Step 1 of evaluation: replies (greedy by default, sampled with evaluate.temperature > 0) of the base, the previously approved adapter and the candidate to
the same held-out prompts, through the generation engine.

The replies go to <evaluate dir>/generations.json under a key: the hash of the adapters' sha256, the base
model's content (not its path), the prompts and the decoding params. A re-run whose key is unchanged (only a threshold moved)
reads them back instead of loading the model, and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from ..config import Params
from ..engine import WEIGHTS_FILE
from ..models.identity import base_identity, same_recorded_base
from ..store import read_json, sha256_file, sha256_json, write_json

GENERATIONS_FILE = "generations.json"


def decoding_of(p: Params) -> dict:
    """The eval decoding as recorded in the cache key and the report: greedy unless evaluate.temperature > 0."""
    e = p.evaluate
    if e.temperature <= 0:
        return {"do_sample": False, "max_new_tokens": e.max_new_tokens, "batch_size": e.batch_size}
    return {"do_sample": True, "temperature": e.temperature, "top_p": e.top_p, "n_samples": e.n_samples,
            "seed": e.sampling_seed, "max_new_tokens": e.max_new_tokens, "batch_size": e.batch_size}


def _sampling(p: Params, index: int, sample: int):
    """Row `index`'s sampling settings for its `sample`-th draw (None = greedy); seeded per row and draw, so
    a reply does not depend on its batch."""
    from ..engine import Sampling

    e = p.evaluate
    if e.temperature <= 0:
        return None
    return Sampling(temperature=e.temperature, top_p=e.top_p, seed=e.sampling_seed * 1_000_003 + index * 31 + sample)


def generate_replies(engine, prompts: list[list[dict]], adapter: str | None, p: Params,
                     on_batch: Callable[[int], object] | None = None, sample: int = 0) -> list[str]:
    """Replies of `adapter` (None = the base) to every prompt, in batches of evaluate.batch_size; greedy, or
    draw `sample` of evaluate.temperature sampling; `on_batch(n)` after each batch (a progress bar's update)."""
    out: list[str] = []
    for i in range(0, len(prompts), p.evaluate.batch_size):
        batch = prompts[i:i + p.evaluate.batch_size]
        sampling = [_sampling(p, i + k, sample) for k in range(len(batch))]
        out += [g.text for g in engine.generate(batch, adapter, max_new_tokens=p.evaluate.max_new_tokens,
                                                sampling=sampling)]
        if on_batch is not None:
            on_batch(len(batch))
    return out


def generate_samples(engine, prompts: list[list[dict]], adapter: str | None, p: Params,
                     on_batch: Callable[[int], object] | None = None) -> list[list[str]]:
    """evaluate.n_samples replies per prompt ([[draw 0, draw 1, ...] per prompt]); one draw when greedy."""
    n = p.evaluate.n_samples if p.evaluate.temperature > 0 else 1
    draws = [generate_replies(engine, prompts, adapter, p, on_batch, sample=k) for k in range(n)]
    return [list(row) for row in zip(*draws, strict=True)] if draws and prompts else [[] for _ in prompts]


def previous_approved(registry, character_id: str, current_version: str, base_model: str) -> dict | None:
    """The approved adapter this candidate would replace: the route's stable version if approved, else the
    newest approved one; never the candidate itself, never one trained on another base model."""
    candidates = [a for a in registry.list_adapters(character_id)
                  if a["status"] == "approved" and a["version"] != current_version
                  and same_recorded_base(a["base_model"], a.get("base_id"), base_model)]
    route = registry.get_route(character_id)
    stable = route and route.get("stable_version")
    for a in candidates:
        if a["version"] == stable:
            return a
    return candidates[-1] if candidates else None


def eval_prompt_sets(p: Params, dataset_version: str) -> tuple[list[list[dict]], list[list[dict]]]:
    """(eval prompts, train prompts) of a dataset version, evaluate.n_prompts of each. The train prompts
    feed the classifier's neutral class (the base model's own voice), never the scored replies."""
    from ..dataset import eval_prompts, load_version

    train, evals, _ = load_version(p.store, p.character_id, dataset_version)
    prompts = eval_prompts(evals, p.evaluate.n_prompts)
    if not prompts:
        raise RuntimeError(f"dataset {dataset_version} has no eval prompts: raise dataset.eval_fraction")
    return prompts, eval_prompts(train, p.evaluate.n_prompts)


def eval_reference_replies(p: Params, dataset_version: str) -> list[str | None]:
    """The held-out replies to eval_prompt_sets' eval prompts (dataset.records.eval_references)."""
    from ..dataset import load_version
    from ..dataset.records import eval_references

    _, evals, _ = load_version(p.store, p.character_id, dataset_version)
    return eval_references(evals, p.evaluate.n_prompts)


def compared_models(registry, character_id: str, version: str, path: str | Path, base_model: str) -> dict:
    """{"base": None, "adapter": spec, "previous": spec (if any)}; a spec is {name, version, path, sha256}.
    The candidate's sha256 is read from its weights on disk (a run's adapter is not registered yet)."""
    models: dict[str, dict | None] = {"base": None, "adapter": {
        "name": f"{character_id}@{version}", "version": version, "path": str(path),
        "sha256": sha256_file(Path(path) / WEIGHTS_FILE)}}
    prev = previous_approved(registry, character_id, version, base_model)
    if prev is not None:
        models["previous"] = {"name": f"{character_id}@{prev['version']}", "version": prev["version"],
                              "path": str(prev["path"]), "sha256": prev["sha256"]}
    return models


def generation_key(models: Mapping[str, dict | None], base_model: str, prompts: list, neutral_prompts: list,
                   p: Params, probe_prompts: list | None = None) -> str:
    """What the replies depend on: adapter weights, base model, prompts (eval, neutral, persona probes) and
    decoding (greedy, or temperature/top_p/n_samples/seed).

    The base counts by content (models.identity.base_identity: its files' hashes, or `hub:<id>`), not by
    path: a copied or moved store reuses its replies, and a base rebuilt in place at the same path does not."""
    return sha256_json({"adapters": {who: m and m["sha256"] for who, m in models.items()},
                        "base_model": base_identity(base_model), "prompts": prompts, "neutral_prompts": neutral_prompts,
                        "probe_prompts": probe_prompts or [], "decoding": decoding_of(p)})


def generate_all(p: Params, models: Mapping[str, dict | None], prompts: list[list[dict]],
                 neutral_prompts: list[list[dict]], out_dir: str | Path, *, base_model: str, progress: bool = True,
                 log: Callable[[str], object] = print, probe_prompts: list[list[dict]] | None = None) -> dict:
    """{"key", "cached", "file", "models" ({who: adapter name or None}), "prompts", "replies" ({who: [...]},
    the first draw per prompt), "samples" ({who: [[draws] per prompt]}), "decoding", "neutral_prompts",
    "neutral_replies" (the base model's replies to the train prompts), "probe_prompts", "probe_replies"
    ({who: [...]}, the persona probes, greedy)}.

    Reuses <out_dir>/generations.json when its key matches; otherwise loads the engine, generates
    and writes it."""
    from tqdm.auto import tqdm

    probe_prompts = probe_prompts or []
    key = generation_key(models, base_model, prompts, neutral_prompts, p, probe_prompts)
    file = Path(out_dir) / GENERATIONS_FILE
    if file.exists():
        cached = read_json(file)
        if cached.get("key") == key:
            log(f"generate: reusing the replies in {file} (same adapters, base model, prompts and decoding)")
            return {**cached, "cached": True, "file": str(file)}
    from .lm_score import quiet_known_warnings

    quiet_known_warnings()
    from ..engine import Engine

    engine = Engine(base_model)
    for m in models.values():
        if m is not None:
            engine.load_adapter(m["name"], m["path"])
    names = {who: m and m["name"] for who, m in models.items()}
    n_draws = p.evaluate.n_samples if p.evaluate.temperature > 0 else 1
    with tqdm(total=len(names) * len(prompts) * n_draws, desc="generate", unit="reply",
              disable=not progress) as bar:
        samples = {who: generate_samples(engine, prompts, name, p, on_batch=bar.update) for who, name in names.items()}
    replies = {who: [row[0] for row in rows] for who, rows in samples.items()}
    greedy = p.model_copy(update={"evaluate": p.evaluate.model_copy(update={"temperature": 0.0})})
    neutral = generate_replies(engine, neutral_prompts, None, greedy)
    probes = {who: generate_replies(engine, probe_prompts, name, greedy) if probe_prompts else []
              for who, name in names.items()}
    out = {"key": key, "models": names, "prompts": prompts, "replies": replies, "samples": samples,
           "decoding": decoding_of(p), "neutral_prompts": neutral_prompts, "neutral_replies": neutral,
           "probe_prompts": probe_prompts, "probe_replies": probes}
    write_json(file, out)
    return {**out, "cached": False, "file": str(file)}

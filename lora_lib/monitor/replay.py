"""Traffic replay: serve requests through the real router and engine, gate each reply, log it as the
HTTP server would."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from ..requestlog import append_request_log, user_ref
from ..store import sha256_json


def traffic_fns(p, registry, engine) -> tuple[Callable, Callable, Callable]:
    """(resolve_fn, generate_fn, gate_fn) for serve_one/replay of one character's traffic: the real router
    (category fallback), the engine with the routed adapter loaded from the registry by its route owner,
    and the character's own gate settings. A version trained on another base (a rollout to a new base) runs
    on an engine of its own base, as the server's engine pool would serve it."""
    from ..engine import Engine
    from ..evaluate.gates import check_reply, gate_kwargs
    from ..evaluate.lm_score import quiet_known_warnings
    from ..models.identity import find_base, same_recorded_base
    from ..serve.router import resolve

    quiet_known_warnings()

    base_model = str(p.path(p.base_model))
    engines = {}  # base path -> Engine, for versions on another base than `engine`'s

    def engine_for(adapter: dict):
        if same_recorded_base(adapter["base_model"], adapter.get("base_id"), engine.base_model):
            return engine
        where = find_base(adapter["base_model"], adapter.get("base_id"), [base_model])
        if where is None:
            raise RuntimeError(f"adapter {adapter['character_id']}@{adapter['version']}: its base "
                               f"{adapter['base_model']!r} is not here")
        if where not in engines:
            engines[where] = Engine(where, capacity=engine.capacity)
        return engines[where]

    def resolve_fn(character_id, user):
        return resolve(registry, character_id, user, category=p.character.category, default_base_model=base_model)

    def generate_fn(resolution, messages):
        name, on = None, engine
        if resolution.adapter_version:
            name = f"{resolution.character_id}@{resolution.adapter_version}"
            adapter = registry.get_adapter(resolution.route_owner, resolution.adapter_version)
            on = engine_for(adapter)
            on.load_adapter(name, adapter["path"])
        g = on.generate([messages], name, max_new_tokens=p.evaluate.max_new_tokens)[0]
        return g.text, g.prompt_tokens, g.completion_tokens

    def gate_fn(reply):
        return check_reply(reply, **gate_kwargs(p))

    return resolve_fn, generate_fn, gate_fn


def signal_fn_for(p) -> Callable:
    """signal_fn(reply, messages) -> {"style", "fluency", "logprob"} for a served reply: the offline scorers
    (style markers of the character, the base model's per-token log-likelihood against
    evaluate.fluency.min_reply_logprob)."""
    from ..evaluate.lm_score import scorer_for
    from ..evaluate.persona import has_style_marker

    scorer = scorer_for(str(p.path(p.base_model)))
    floor = p.evaluate.fluency.min_reply_logprob

    def signal_fn(reply, messages):
        lp = scorer.mean_logprobs([(scorer.chat_context(messages), (reply or "").strip())])[0]
        return {"style": has_style_marker(reply or "", p.character.style_markers),
                "fluency": bool(lp == lp and lp >= floor), "logprob": None if lp != lp else round(lp, 3)}

    return signal_fn


def serve_one(req: dict, resolve_fn: Callable, generate_fn: Callable, gate_fn: Callable,
              signal_fn: Callable | None = None) -> dict:
    """Serve one request {"character_id", "user", "messages"[, "request_id"]} -> its log record.

    latency_ms covers routing + generation (what a user waits for); gating is monitoring-side and
    not counted.
    """
    ts = datetime.now(UTC).isoformat(timespec="milliseconds")
    t0 = time.perf_counter()
    res = resolve_fn(req["character_id"], req["user"])
    reply, prompt_tokens, completion_tokens = generate_fn(res, req["messages"])
    latency_ms = (time.perf_counter() - t0) * 1000.0
    rid = req.get("request_id") or "sim-" + sha256_json([ts, req["user"], time.perf_counter_ns()])[:16]
    return {"ts": ts, "request_id": rid, "character_id": req["character_id"],
            "adapter_version": res.adapter_version, "route_owner": res.route_owner,
            "group": res.group, "user_ref": user_ref(req["user"]), "latency_ms": round(latency_ms, 3),
            "prompt_tokens": int(prompt_tokens), "completion_tokens": int(completion_tokens),
            "reply": reply, "reply_chars": len(reply or ""),
            "gates": {k: bool(v) for k, v in gate_fn(reply).items()}, "messages": req["messages"],
            **({"signals": signal_fn(reply, req["messages"])} if signal_fn is not None else {})}


def replay(requests: Iterable[dict], resolve_fn: Callable, generate_fn: Callable, gate_fn: Callable,
           log_path: str | Path, *, progress: bool = False, signal_fn: Callable | None = None) -> list[dict]:
    """Serve each request and log it; returns the records. Each record is appended as soon as it
    exists, so a crash keeps what was served."""
    from tqdm.auto import tqdm

    records = []
    for req in tqdm(requests, desc="replay", unit="req", disable=not progress):
        record = serve_one(req, resolve_fn, generate_fn, gate_fn, signal_fn)
        append_request_log(log_path, record)
        records.append(record)
    return records

"""A bounded soak against a real `lora serve` process while routes change, checked from the logs."""

from __future__ import annotations

import time
from pathlib import Path

from .harness import SERVE_CHARACTERS, _percentile, _serve_world, _ServerProcess, in_background, run_threads


def _status_timeline(audit: list[dict], committed: list[str] | None = None
                     ) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(owner, version) -> [(ts, status from then on)], from the registry's audit log.

    An audit row's ts is taken inside its transaction, before COMMIT: a request arriving a few ms
    later may still, correctly, read the old status. `committed` (times at which the writer's calls
    had returned, so had committed) moves each change to the first such time at or after its ts:
    from then on the new status is certain."""
    import bisect
    from datetime import datetime

    done = sorted((datetime.fromisoformat(c), c) for c in committed or [])  # parsed once, not per row

    def effective(ts: str) -> str:
        i = bisect.bisect_left(done, (datetime.fromisoformat(ts), ""))
        return done[i][1] if i < len(done) else ts

    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for row in audit:
        d = row["detail"]
        if row["action"] == "register_adapter":
            out.setdefault((row["character_id"], d["version"]), []).append((effective(row["ts"]), d["status"]))
        elif row["action"] == "set_status":
            out.setdefault((row["character_id"], d["version"]), []).append((effective(row["ts"]), d["to"]))
    return out


def _status_at(timeline: list[tuple[str, str]], ts: str) -> str | None:
    from datetime import datetime

    t = datetime.fromisoformat(ts)
    status = None
    for when, s in timeline:
        if datetime.fromisoformat(when) <= t:
            status = s
    return status


def soak_serve(store: str | Path = "runs", n_requests: int = 2000, clients: int = 4, max_tokens: int = 4,
               action_every_s: float = 0.3, users: int = 200, seed: int = 0, **serve_overrides) -> dict:
    """A bounded soak against a real `lora serve` process: `n_requests` chat requests from `clients`
    threads (random users, three characters) while a controller rolls out, raises, promotes, rolls back,
    rejects a candidate mid-rollout and retires one, through the registry (like the CLI) and the admin
    API. Checked afterwards from the logs: every request answered (HTTP 200, one request-log line each),
    no 5xx in the error log, and no request answered by an adapter that was rejected or retired when the
    request arrived (status timeline from the audit log, each change effective once the call that made
    it had returned: see _status_timeline)."""
    import random
    import shutil
    import threading
    from datetime import UTC, datetime

    import httpx

    from ..requestlog import read_request_log

    w = _serve_world(store, **serve_overrides)  # e.g. registry_url= a PostgreSQL database
    reg, root = w["registry"], w["root"]
    extra = 0

    def new_version(cid: str, tag: str) -> str:
        nonlocal extra
        extra += 1
        v = f"{tag}{extra}"
        src = w["paths"][(cid, "v3")]
        dst = root / "adapters" / cid / v
        if not dst.exists():
            shutil.copytree(src, dst)
        reg.register_adapter(character_id=cid, version=v, path=str(dst), base_model=w["config"].base_model,
                             dataset_version="bench", status="approved", actor="soak")
        return v

    def admin(http: httpx.Client, cid: str, action: str, body: dict) -> None:
        r = http.post(f"/admin/routes/{cid}/{action}", json=body, headers={"Authorization": "Bearer bench"})
        r.raise_for_status()

    def script(http: httpx.Client) -> list:
        bad, ret = new_version("nabi", "bad"), new_version("seonbi", "ret")
        return [
            lambda: reg.rollout("nabi", "v2", 10, actor="soak"),
            lambda: admin(http, "nabi", "rollout", {"candidate_version": "v2", "percent": 50}),
            lambda: reg.rollback("nabi", actor="soak", reason="soak"),
            lambda: reg.rollout("bori", "v2", 30, actor="soak"),
            lambda: admin(http, "bori", "promote", {"reason": "soak"}),
            lambda: admin(http, "bori", "rollback", {"reason": "soak"}),
            lambda: reg.rollout("nabi", bad, 40, actor="soak"),
            lambda: reg.set_status("nabi", bad, "rejected", actor="soak", reason="bad candidate"),
            lambda: reg.rollback("nabi", actor="soak", reason="soak"),
            lambda: reg.rollout("seonbi", ret, 60, actor="soak"),
            lambda: reg.set_status("seonbi", ret, "retired", actor="soak", reason="retire mid-rollout"),
            lambda: reg.rollback("seonbi", actor="soak", reason="soak"),
        ]

    rng = random.Random(seed)
    plan = [(SERVE_CHARACTERS[rng.randrange(3)], f"soak-user-{rng.randrange(users)}") for _ in range(n_requests)]
    results: list[tuple[int, str | None]] = []
    lock = threading.Lock()
    actions_done, action_errors, committed = [], [], []
    cursor = iter(range(n_requests))

    def client() -> None:
        with httpx.Client(base_url=srv.url, timeout=120) as http:
            while True:
                with lock:
                    i = next(cursor, None)
                if i is None:
                    return
                cid, user = plan[i]
                try:
                    r = http.post("/v1/chat/completions", json={
                        "model": cid, "user": user, "max_tokens": max_tokens,
                        "messages": [{"role": "user", "content": f"안녕? {i}번째 질문이야."}]})
                    item = (r.status_code, r.json().get("id") if r.status_code == 200 else r.text[:200])
                except httpx.HTTPError as exc:
                    item = (-1, repr(exc))
                with lock:
                    results.append(item)

    def controller(done: threading.Event) -> None:
        with httpx.Client(base_url=srv.url, timeout=60) as http:
            k = 0
            while not done.is_set():
                steps = script(http)
                for step in steps:
                    if done.wait(action_every_s):
                        return
                    try:
                        step()
                        actions_done.append(k)
                    except Exception as exc:  # noqa: BLE001 - recorded: a refused action is a finding
                        action_errors.append(f"step {k}: {exc}")
                    committed.append(datetime.now(UTC).isoformat(timespec="microseconds"))
                    k += 1

    with _ServerProcess(root, **serve_overrides) as srv:
        t0 = time.perf_counter()
        with in_background(controller):
            run_threads(client, [()] * clients)
        wall = time.perf_counter() - t0

    ok_ids = {x for code, x in results if code == 200}
    failed = [(code, x) for code, x in results if code != 200]
    df, problems = read_request_log(root / "serve" / "request_log.jsonl")
    logged = df[df["request_id"].isin(ok_ids)]
    timeline = _status_timeline(reg.audit_log(), committed)
    bad_served = []
    for rec in logged.itertuples():
        if rec.adapter_version is None or not isinstance(rec.adapter_version, str):
            continue
        status = _status_at(timeline.get((rec.route_owner, rec.adapter_version), []), rec.ts)
        if status in ("rejected", "retired"):
            bad_served.append({"request_id": rec.request_id, "adapter": rec.adapter, "status": status, "ts": rec.ts})
    errors_5xx = []
    err_path = root / "serve" / "request_errors.jsonl"
    if err_path.is_file():
        import json

        errors_5xx = [e for e in map(json.loads, err_path.read_text().splitlines())
                      if (e.get("http_status") or 0) >= 500]
    by_adapter = logged.groupby(["adapter", "group"]).size().reset_index(name="n").to_dict(orient="records")
    passed = not failed and len(logged) == n_requests and not bad_served and not errors_5xx and not problems
    return {"name": "serve_soak", "unit": "requests", "n_requests": n_requests, "clients": clients,
            "max_tokens": max_tokens, "wall_s": wall, "requests_per_s": n_requests / wall,
            "route_changes": len(actions_done), "refused_actions": action_errors,
            "failed_requests": len(failed), "failed_examples": failed[:5], "logged_requests": len(logged),
            "log_problems": problems[:5], "errors_5xx": len(errors_5xx),
            "served_by_rejected_or_retired": len(bad_served), "bad_examples": bad_served[:5],
            "fallbacks": int(logged["fallback"].notna().sum()),
            "latency_p50_ms": _percentile(list(logged["latency_ms"]), 50),
            "latency_p99_ms": _percentile(list(logged["latency_ms"]), 99),
            "by_adapter": by_adapter, "passed": passed}

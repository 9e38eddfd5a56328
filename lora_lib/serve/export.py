"""Deployment exports: a merged model for one character (`lora merge`), a vLLM launch (`lora export vllm`).

Merging (the seed's option B) bakes one adapter into the base weights: one model per character,
no adapter switching, no rollback by route. The default stays adapters-on-one-base; merge is for a
single-character deployment. The vLLM export writes what a GPU machine needs to serve the routed
adapters under their registry names `<owner>@<version>`; it does not start vLLM (see README there).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from ..models.identity import known_identity, same_base
from ..registry import WEIGHTS_FILE, Registry, adapter_name
from ..store import atomic_write_text, sha256_file, write_json

# --max-lora-rank values vLLM accepts.
VLLM_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


def merge_adapter(base_model: str | Path, adapter_dir: str | Path, out_dir: str | Path, *,
                  name: str, sha256: str | None = None) -> dict:
    """Write base + adapter merged into plain weights (safetensors) with the tokenizer; returns merge.json.

    With sha256, the adapter's weights file must match it (the registry's hash) or ValueError.
    Written to a temp dir and renamed, so a failed merge leaves no half model behind.
    """
    import shutil
    import tempfile

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    weights = Path(adapter_dir) / WEIGHTS_FILE
    digest = sha256_file(weights)
    if sha256 is not None and digest != sha256:
        raise ValueError(f"{weights}: sha256 {digest[:12]}… does not match the registry's {sha256[:12]}…")
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    model = AutoModelForCausalLM.from_pretrained(str(base_model), dtype=torch.float32)
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
    try:
        merged.save_pretrained(str(tmp), safe_serialization=True)
        AutoTokenizer.from_pretrained(str(base_model)).save_pretrained(str(tmp))
        record = {"adapter": name, "adapter_sha256": digest, "base_model": str(base_model),
                  "adapter_dir": str(adapter_dir), "dtype": "float32",
                  "model_sha256": sha256_file(tmp / "model.safetensors")}
        write_json(tmp / "merge.json", record)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return record


def routed_adapters(registry: Registry) -> list[dict]:
    """The adapters a deployment needs now: every route's stable and candidate, with path, hash and rank."""
    out, seen = [], set()
    for route in registry.list_routes():
        for side in ("stable", "candidate"):
            v = route[f"{side}_version"]
            if v is None or (route["character_id"], v) in seen:
                continue
            seen.add((route["character_id"], v))
            row = registry.get_adapter(route["character_id"], v)
            cfg_path = Path(row["path"]) / "adapter_config.json"
            rank = json.loads(cfg_path.read_text())["r"] if cfg_path.is_file() else None
            out.append({"name": adapter_name(route["character_id"], v), "path": str(Path(row["path"]).resolve()),
                        "sha256": row["sha256"], "status": row["status"], "side": side, "rank": rank,
                        "base_model": row["base_model"], "base_id": row.get("base_id"),
                        "rollout_percent": route["rollout_percent"]})
    return out


def vllm_command(base_model: str, adapters: list[dict], *, max_loras: int | None = None, port: int = 8001) -> list[str]:
    """`vllm serve` argv for these adapters (names `<owner>@<version>`, loaded at start)."""
    bases = {a.get("base_id") or a["base_model"] for a in adapters}
    if len(bases) > 1:
        raise ValueError(f"routed adapters use several base models {sorted(bases)}: one vLLM server per base")
    ranks = [a["rank"] for a in adapters if a["rank"]]
    need = max(ranks, default=8)
    rank = next((r for r in VLLM_RANKS if r >= need), None)
    if rank is None:
        raise ValueError(f"adapter rank {need} is above vLLM's largest --max-lora-rank {VLLM_RANKS[-1]}")
    argv = ["vllm", "serve", str(base_model), "--port", str(port), "--enable-lora",
            "--max-loras", str(max_loras or max(1, len(adapters))), "--max-lora-rank", str(rank)]
    if adapters:
        argv += ["--lora-modules", *(f"{a['name']}={a['path']}" for a in adapters)]
    return argv


def by_base(adapters: list[dict], default_base: str) -> list[tuple[str, list[dict]]]:
    """The routed adapters grouped per base (by recorded identity, else path), the default base first; each
    group's base is where that base is loaded from (the default base's path when it is that base)."""
    default_id = known_identity(default_base)
    groups: dict[str, list[dict]] = {}
    for a in adapters:
        key = a.get("base_id") or known_identity(a["base_model"]) or a["base_model"]
        groups.setdefault(key, []).append(a)
    out = []
    for key, group in groups.items():
        is_default = key == default_id or same_base(group[0]["base_model"], default_base)
        out.append((str(default_base) if is_default else group[0]["base_model"], group, is_default))
    out.sort(key=lambda g: not g[2])  # the default base first: it keeps serve.vllm_url and the given port
    if not out or not out[0][2]:
        out.insert(0, (str(default_base), [], True))
    return [(base, group) for base, group, _ in out]


def _write_launch(out_dir: Path, base_model: str, adapters: list[dict], *, max_loras: int | None, port: int) -> dict:
    argv = vllm_command(base_model, adapters, max_loras=max_loras, port=port)
    launch = "#!/bin/sh\n# Generated by `lora export vllm` from the registry. UNTESTED here: needs a GPU and vLLM.\n" \
             "# Runtime loading lets `lora serve --set serve.backend=vllm` add new versions by name; it lets any\n" \
             "# caller of this port do so too: keep the port private (only our router should reach it).\n" \
             "export VLLM_ALLOW_RUNTIME_LORA_UPDATING=${VLLM_ALLOW_RUNTIME_LORA_UPDATING:-True}\n" \
             f"exec {shlex.join(argv)}\n"
    load_lines = ["#!/bin/sh", "# Load routed adapters into a running vLLM (start it with",
                  "# VLLM_ALLOW_RUNTIME_LORA_UPDATING=True). Names are immutable: a new version is a new name.",
                  f"URL=${{VLLM_URL:-http://127.0.0.1:{port}}}"]
    for a in adapters:
        body = json.dumps({"lora_name": a["name"], "lora_path": a["path"]})
        load_lines.append(f"curl -sf -X POST \"$URL/v1/load_lora_adapter\" -H 'Content-Type: application/json' "
                          f"-d {shlex.quote(body)}")
    atomic_write_text(out_dir / "launch.sh", launch)
    atomic_write_text(out_dir / "load_adapters.sh", "\n".join(load_lines) + "\n")
    for script in ("launch.sh", "load_adapters.sh"):
        (out_dir / script).chmod(0o755)
    return {"base_model": str(base_model), "port": port, "command": argv, "adapters": adapters}


def export_vllm(registry: Registry, base_model: str, out_dir: str | Path, *, max_loras: int | None = None,
                port: int = 8001) -> dict:
    """Write launch.sh (vllm serve ... --lora-modules), load_adapters.sh (runtime loading), adapters.json.

    When the routes use several bases (a cross-base rollout, or characters on different bases), one vLLM
    server per base: `base_model` (the default base) in out_dir itself on `port`, every other base in
    out_dir/base<i>/ on port + i, and adapters.json's `serve_params` names each base's URL for
    serve.vllm_url / serve.vllm_urls."""
    out_dir = Path(out_dir)
    groups = by_base(routed_adapters(registry), base_model)
    servers = [_write_launch(out_dir if i == 0 else out_dir / f"base{i}", base, group, max_loras=max_loras,
                             port=port + i) for i, (base, group) in enumerate(groups)]
    urls = {s["base_model"]: f"http://127.0.0.1:{s['port']}" for s in servers}
    info = {**servers[0], "servers": servers,
            "serve_params": {"serve.backend": "vllm", "serve.vllm_url": urls[servers[0]["base_model"]],
                             **({"serve.vllm_urls": {b: u for b, u in list(urls.items())[1:]}} if len(servers) > 1
                                else {})},
            "tested": False, "note": "vLLM was not run in this environment (no GPU); the command is generated, not verified"}
    write_json(out_dir / "adapters.json", info)
    return info

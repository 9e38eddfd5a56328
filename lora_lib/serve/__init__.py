"""Serving: the HTTP front (api: the app and running it; routes, admin, streaming, state) and the
backends (backend: the in-process Engine + Batcher, or vLLM: vllm_backend, vllm_protocol, or the Ray Serve
engine deployment: ray_backend), the router, exports for other servers (export), and `lora serve --ray`'s
Ray Serve application (ray_serve; imported by name only: it needs the ray extra at call time). Imports the
ground floor, clean (Ray's connect) and evaluate; never monitor.
"""

from .api import ServerThread, create_app, free_port, serve, try_requests
from .config import CharacterInfo, ServeConfig, load_serve_config
from .export import export_vllm, merge_adapter
from .router import NEVER_SERVED, Resolution, resolve, rollout_bucket
from .schema import APIError
from .state import ServerState
from .vllm_backend import VllmBackend

__all__ = ["NEVER_SERVED", "APIError", "CharacterInfo", "Resolution", "ServeConfig", "ServerState", "ServerThread",
           "VllmBackend", "create_app", "export_vllm", "free_port", "load_serve_config", "merge_adapter",
           "resolve", "rollout_bucket", "serve", "try_requests"]

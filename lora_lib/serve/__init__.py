"""Serving: the HTTP front (api: the app and running it; routes, admin, streaming, state) and the
backends (backend: the in-process Engine + Batcher, or vLLM: vllm_backend, vllm_protocol), the router,
and exports for other servers (export). Imports the ground floor and evaluate; never monitor.
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

"""Shared fixtures: a small demo store (world + test-size base model) built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory) -> Path:
    """A store with the synthetic world and a test-size base model (seconds, not minutes)."""
    from lora_lib.demo import build_demo

    store = tmp_path_factory.mktemp("store")
    build_demo(store, seed=0, size="test", progress=False)
    return store


@pytest.fixture(scope="session")
def world_store(tmp_path_factory) -> Path:
    """A store with only the synthetic world (no model), for the data stages."""
    from lora_lib.demo.world import build_world

    store = tmp_path_factory.mktemp("world")
    build_world(store / "demo" / "world", seed=0)
    return store

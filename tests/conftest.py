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


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the session (tests/pg.py; about 1 s), stopped at the end.

    Skipped with the reason when the server binaries or psycopg are missing, unless
    LORA_REQUIRE_POSTGRES=1 (set it where PostgreSQL must be tested, e.g. CI): then that fails."""
    from .pg import PostgresServer, find_bindir

    bindir, why = find_bindir()
    try:
        import psycopg  # noqa: F401
    except ImportError:
        why = why or "psycopg is not installed (pip install 'psycopg[binary]')"
    if bindir is None or why:
        if os.environ.get("LORA_REQUIRE_POSTGRES") == "1":
            pytest.fail(why)
        pytest.skip(why)
    server = PostgresServer(bindir)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture()
def postgres_url(postgres_server) -> str:
    """A fresh, empty database on the session's PostgreSQL server (SQLAlchemy psycopg URL)."""
    return postgres_server.create_database()


def pytest_collection_modifyitems(config, items):
    """Tests marked `ray` need the optional extra and a local Ray cluster: they run with `pytest -m ray`
    (.ci/run does), never in the default run. Without ray installed they are skipped with the reason, unless
    LORA_REQUIRE_RAY=1 (CI, after installing the extra): then that fails."""
    if "ray" not in (config.option.markexpr or ""):
        reason = "a Ray test: run with `pytest -m ray` (needs pip install -e '.[ray]')"
    else:
        try:
            import ray  # noqa: F401
            return
        except ImportError:
            if os.environ.get("LORA_REQUIRE_RAY") == "1":
                raise pytest.UsageError("LORA_REQUIRE_RAY=1 but ray is not installed: pip install -e '.[ray]'") from None
            reason = "ray is not installed: pip install -e '.[ray]'"
    for item in items:
        if "ray" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray cluster of 2 CPUs for the session (7 s on an idle 2-core machine, more when it is busy)."""
    from lora_lib.clean.ray_data import connect

    os.environ.setdefault("RAY_enable_metrics_collection", "0")  # the tests need no metrics
    ray = connect(None, num_cpus=2)  # retries a local start that timed out on a busy machine
    try:
        yield ray
    finally:
        ray.shutdown()

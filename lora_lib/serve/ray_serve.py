"""`lora serve --ray`: the same OpenAI-compatible server as a Ray Serve application (pip install -e .[ray]).

Two deployments:
- the front (`LoraFront`, one replica, no CPU reserved): the app of create_app() with the same routes,
  registry, router, rollout, logs and metrics as `lora serve`, built on its replica at start
  (`__serve_build_asgi_app__`). Its backend (serve/ray_backend.py) sends the generation jobs on.
- the engine (`LoraEngine`, `serve.ray.num_replicas` replicas of `serve.ray.num_cpus` CPUs): each holds an
  EnginePool (engine/pool.py: one Engine + Batcher per base, as `lora serve`'s, with the same batching and
  decoding settings, so the same reply for the same prompt and seed; a job names its base) and
  `@serve.multiplexed(max_num_models_per_replica=serve.ray.max_adapters_per_replica)` keyed by adapter name: Ray Serve routes a request for adapter X to a replica that holds X, and each
  replica evicts its least recently used adapter past the limit (its engine's cache has the same
  capacity and LRU order; should the two ever disagree the engine reloads the adapter: slower, same reply).

The router stays the single source of which adapter a character gets: the front reads the registry on
every request, so a rollback or rollout is seen by the next request whichever replica serves it; the
replicas only ever get immutable adapter names. Several bases work as under `lora serve`: the front's
ServerState resolves each request's base (serve/bases.py) and holds one backend per base, whose jobs name
that base; each replica's EnginePool loads the bases its jobs name (serve.max_bases, serve.base_memory_mb
per replica). The front writes the request log (one front replica:
one log writer, as with `lora serve`). On a cluster of several hosts the store (adapters, logs) must be
a path every node sees and the registry a shared database (serve.registry_url); untested here.

Ray is imported inside the functions only: nothing in the default install needs it.
"""

from __future__ import annotations

import asyncio
import logging
import time

from ..clean.ray_data import connect
from ..config import ConfigError
from ..engine import AdapterLoadError, Job
from ..engine.pool import EnginePool
from .config import ServeConfig

log = logging.getLogger("lora_lib.serve.ray")

APP_NAME = "lora"
WHAT = "lora serve --ray"


def replica_pool(config: ServeConfig) -> EnginePool:
    """The seam that gives a replica its engines: an EnginePool (one Engine + Batcher per base, LRU, bounded by
    serve.max_bases and serve.base_memory_mb) whose engines keep serve.ray.max_adapters_per_replica adapters
    and batch like `lora serve`'s (serve.max_batch, batch_wait_ms, mixed_batches, batched_lora)."""
    s = config.serve
    return EnginePool(s.max_bases, s.base_memory_mb, capacity=s.ray.max_adapters_per_replica,
                      batched_lora=s.batched_lora,
                      batcher_kwargs={"max_batch": s.max_batch, "wait_ms": s.batch_wait_ms, "mixed": s.mixed_batches})


def check_config(config: ServeConfig) -> None:
    """What `--ray` refuses, by name, before anything starts."""
    if config.serve.backend != "engine":
        raise ConfigError(f"serve.backend {config.serve.backend!r}: {WHAT} runs the in-process engine on each "
                          "replica; for vLLM on GPUs use Ray Serve LLM (README, Past one machine)")


def build_app(config: ServeConfig, *, num_replicas: int | None = None):
    """The Serve application (front bound to the engine deployment), from params; nothing is started."""
    from ray import serve

    check_config(config)
    r = config.serve.ray
    replicas = num_replicas or r.num_replicas
    quiet = {"enable_access_log": False}  # one line per request is our request log's job (serve.request_log)

    @serve.deployment(name="LoraEngine", num_replicas=replicas, ray_actor_options={"num_cpus": r.num_cpus},
                      # one batch running and one filling; more would queue here rather than at a free replica
                      max_ongoing_requests=2 * config.serve.max_batch, logging_config=quiet)
    class LoraEngine:
        def __init__(self, config: ServeConfig):
            self.config = config
            self.replica_id = serve.get_replica_context().replica_id.unique_id
            self.pool = replica_pool(config)
            self.specs: dict[str, tuple[str, object]] = {}  # adapter name -> (base, spec); names are immutable
            self.pool.get(config.base_model)  # the default base loads at start, not on the first request

        def __del__(self):  # the replica is stopped: its batchers finish what they hold
            self.pool.close()

        @serve.multiplexed(max_num_models_per_replica=r.max_adapters_per_replica)
        async def adapter(self, name: str) -> str:
            base, spec = self.specs[name]

            def load() -> None:
                with self.pool.acquire(base) as lease:
                    lease.engine.load_adapter(spec.name, spec.path, spec.sha256)

            await asyncio.to_thread(load)
            return name

        async def generate(self, payload: dict):
            """("replica", id) first, then ("text", job index, on_text args) while streaming, then
            ("done", generations, queue_ms per job) or ("error", type, message, is_adapter_load_error)."""
            yield ("replica", self.replica_id)
            try:
                spec, base = payload["adapter"], payload["base_model"]
                if spec is not None:
                    if serve.get_multiplexed_model_id() != spec.name:
                        raise ValueError(f"multiplexed model id {serve.get_multiplexed_model_id()!r} is not "
                                         f"the job's adapter {spec.name!r}")
                    self.specs[spec.name] = (base, spec)
                    await self.adapter(spec.name)
                loop = asyncio.get_running_loop()
                texts: asyncio.Queue = asyncio.Queue()

                def on_text(i: int):
                    return lambda *args: loop.call_soon_threadsafe(texts.put_nowait, ("text", i, args))

                jobs = [Job(j["messages"], spec, j["max_new_tokens"], on_text(i) if j["stream"] else None,
                            ignore_eos=j["ignore_eos"], sampling=j["sampling"])
                        for i, j in enumerate(payload["jobs"])]
                # Held while submitting (the pool then counts the jobs in flight): never evicted under them.
                lease = await asyncio.to_thread(self.pool.acquire, base)
                with lease:
                    b = lease.batcher
                    futures = [b.submit(jobs[0])] if len(jobs) == 1 else b.submit_many(jobs)
                done = asyncio.ensure_future(asyncio.gather(*map(asyncio.wrap_future, futures)))
                while not done.done() or not texts.empty():
                    getter = asyncio.ensure_future(texts.get())
                    await asyncio.wait({getter, done}, return_when=asyncio.FIRST_COMPLETED)
                    if getter.done():
                        yield getter.result()
                    else:
                        getter.cancel()
                yield ("done", done.result(), [j.queue_ms for j in jobs])
            except Exception as exc:  # noqa: BLE001 - sent to the front, which answers the request with it
                log.exception("generation failed on replica %s", self.replica_id)
                yield ("error", type(exc).__name__, str(exc), isinstance(exc, AdapterLoadError))

    @serve.deployment(name="LoraFront", num_replicas=1, ray_actor_options={"num_cpus": 0},
                      max_ongoing_requests=1000, logging_config=quiet)  # the engine replicas bound the work; the front only routes
    @serve.ingress()
    class LoraFront:
        def __init__(self, config: ServeConfig, engine_handle):
            self.config, self.engine_handle = config, engine_handle

        def __serve_build_asgi_app__(self):
            from .api import create_app
            from .ray_backend import RayServeBackends, ReplicaHeader

            backends = RayServeBackends(self.engine_handle, self.config.base_model, replicas=replicas,
                                        max_adapters_per_replica=r.max_adapters_per_replica)
            app = create_app(self.config, backends)  # ServerState's pool: one Ray Serve backend per base
            app.add_middleware(ReplicaHeader)
            return app

    return LoraFront.bind(config, LoraEngine.bind(config))


def deploy(config: ServeConfig, *, host: str = "127.0.0.1", port: int = 8000, address: str | None = None,
           name: str = APP_NAME, route_prefix: str = "/", num_replicas: int | None = None) -> str:
    """Connect to Ray (address, else serve.ray.address, else RAY_ADDRESS or a new local cluster), start Serve's
    HTTP proxy on host:port if it is not running, deploy the application; its URL once every replica is up."""
    check_config(config)
    connect(address or config.serve.ray.address, what=WHAT)
    from ray import serve

    serve.start(http_options={"host": host, "port": port})  # a running Serve keeps its own (Ray says so)
    serve.run(build_app(config, num_replicas=num_replicas), name=name, route_prefix=route_prefix)
    url = f"http://{host}:{port}{route_prefix.rstrip('/')}"
    _check_reachable(url)
    return url


def _check_reachable(url: str, timeout_s: float = 30.0) -> None:
    """The front answers /healthz at `url`, or a RuntimeError says why it may not (never a wrong URL)."""
    import httpx

    deadline, error = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError as exc:
            error = exc
        time.sleep(0.5)
    raise RuntimeError(f"the application is deployed but {url}/healthz does not answer ({error}): Serve was "
                       "probably already running on this cluster with other HTTP options (`serve shutdown`, or "
                       "use its host and port)")


def shutdown(name: str | None = None) -> None:
    """Delete one application (name) or stop Serve altogether (None)."""
    from ray import serve

    if name is None:
        serve.shutdown()
    else:
        serve.delete(name)


def serve_ray(config: ServeConfig, *, host: str = "127.0.0.1", port: int = 8000, address: str | None = None) -> None:
    """Deploy and keep serving until interrupted (`lora serve --ray`), then take the application down."""
    url = deploy(config, host=host, port=port, address=address)
    r = config.serve.ray
    print(f"serving on {url} (Ray Serve: {r.num_replicas} engine replica(s), up to "
          f"{r.max_adapters_per_replica} adapters each); Ctrl-C stops", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        shutdown()

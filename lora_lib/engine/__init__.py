"""Generation engine (ground floor): one base model, many LoRA adapters by name, mixed-adapter batches;
EnginePool keeps one engine per base (LRU, memory-bounded) for a server with several bases.

Used by evaluate (offline replies), serve (the in-process backend) and the closed loop; imports no stage.
"""

from .batcher import Batcher, Job
from .decoding import Generation, Sampling
from .engine import BASE, WEIGHTS_FILE, AdapterLoadError, AdapterSpec, Engine, check_weights
from .pool import BaseLoadError, EnginePool, Lease

__all__ = ["BASE", "WEIGHTS_FILE", "AdapterLoadError", "AdapterSpec", "BaseLoadError", "Batcher", "Engine",
           "EnginePool", "Generation", "Job", "Lease", "Sampling", "check_weights"]

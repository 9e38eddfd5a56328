"""Generation engine (ground floor): one base model, many LoRA adapters by name, mixed-adapter batches.

Used by evaluate (offline replies), serve (the in-process backend) and the closed loop; imports no stage.
"""

from .batcher import Batcher, Job
from .decoding import Generation, Sampling
from .engine import BASE, WEIGHTS_FILE, AdapterLoadError, AdapterSpec, Engine

__all__ = ["BASE", "WEIGHTS_FILE", "AdapterLoadError", "AdapterSpec", "Batcher", "Engine", "Generation", "Job",
           "Sampling"]

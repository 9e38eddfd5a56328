"""Per-character LoRA workspace: collect, clean, dataset, train, evaluate, serve, monitor.

Modules are imported by name (`from lora_lib import stages`); importing the package itself is
cheap on purpose, so notebooks that do not train never pay for torch.
"""

__version__ = "0.1.0"

"""What every stage notebook does first and last, so notebook cells stay thin."""

from __future__ import annotations

from pathlib import Path

from .config import Params, load_params
from .store import RunPaths, run_paths
from .tracking import Tracker, start


def project_root(start_dir: str | Path = ".") -> Path:
    """The directory holding params/defaults.yaml, from the notebook's working directory upwards."""
    here = Path(start_dir).resolve()
    for d in (here, *here.parents):
        if (d / "params" / "defaults.yaml").exists():
            return d
    raise FileNotFoundError(f"no params/defaults.yaml in {here} or its parents")


def resolve(path: str | Path) -> Path:
    """A path from the parameters cell: absolute as given, relative to the project root otherwise."""
    return Path(path) if Path(path).is_absolute() else project_root() / path


def setup(stage: str, character_id: str, run_id: str, store: str = "runs", params_dir: str = "params",
          overrides: dict | None = None) -> tuple[Params, RunPaths, Tracker]:
    """Resolve params and paths (relative ones against the project root) and start tracking."""
    _inline_figures()
    store_path, params_path = resolve(store), resolve(params_dir)
    p = load_params(character_id, params_dir=params_path, overrides={**(overrides or {}), "store": str(store_path)})
    paths = run_paths(store_path, character_id, run_id)
    paths.stage_dir(stage).mkdir(parents=True, exist_ok=True)
    return p, paths, start(p, stage, run_id)


def _inline_figures() -> None:
    """Make `display(fig)` of a matplotlib Figure render as an image in Jupyter and papermill."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is not None and hasattr(ip, "run_line_magic"):
        ip.run_line_magic("matplotlib", "inline")

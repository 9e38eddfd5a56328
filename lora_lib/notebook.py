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


def setup(stage: str, character_id: str, run_id: str, store: str = "runs", params_dir: str = "params",
          overrides: dict | None = None) -> tuple[Params, RunPaths, Tracker]:
    """Resolve params and paths (relative ones against the project root) and start tracking."""
    root = project_root()
    store_path = Path(store) if Path(store).is_absolute() else root / store
    params_path = Path(params_dir) if Path(params_dir).is_absolute() else root / params_dir
    p = load_params(character_id, params_dir=params_path, overrides={**(overrides or {}), "store": str(store_path)})
    paths = run_paths(store_path, character_id, run_id)
    paths.stage_dir(stage).mkdir(parents=True, exist_ok=True)
    return p, paths, start(p, stage, run_id)

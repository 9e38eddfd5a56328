"""Tracking: one W&B run per stage (offline by default), grouped by pipeline run id.

W&B is a view, not the only copy: every stage also writes its result as plain JSON next to its
outputs. `tracking: none` gives a do-nothing tracker, so every notebook runs without W&B.
"""

from __future__ import annotations

import os
from pathlib import Path

from .config import Params


class Tracker:
    """Thin wrapper over a wandb run; every method is a no-op when tracking is off."""

    def __init__(self, run=None):
        self.run = run

    @property
    def enabled(self) -> bool:
        return self.run is not None

    def log(self, metrics: dict, step: int | None = None) -> None:
        if self.run:
            self.run.log(metrics, step=step)

    def summary(self, values: dict) -> None:
        if self.run:
            for key, value in values.items():
                self.run.summary[key] = value

    def table(self, name: str, rows: list[dict]) -> None:
        if self.run and rows:
            import wandb

            cols = list(rows[0])
            self.run.log({name: wandb.Table(columns=cols, data=[[r.get(c) for c in cols] for r in rows])})

    def artifact(self, name: str, type: str, path: str | Path, *, metadata: dict | None = None,
                 aliases: list[str] = (), uses: list[str] = ()) -> None:
        """Log a directory as an artifact; `uses` names artifacts it was built from ("name:alias").

        W&B cannot record `uses` offline ("Cannot use artifact when in offline mode"), so offline
        the lineage lives in the artifact's metadata (and in the plain JSON records) instead.
        """
        if not self.run:
            return
        import wandb

        if not self.run.settings._offline:
            for used in uses:
                self.run.use_artifact(used)
        art = wandb.Artifact(name, type=type, metadata={**(metadata or {}), "built_from": list(uses)})
        art.add_dir(str(path))
        self.run.log_artifact(art, aliases=list(aliases))

    def finish(self) -> None:
        if self.run:
            self.run.finish()
            self.run = None


def start(p: Params, stage: str, run_id: str) -> Tracker:
    """Start the stage's W&B run (config = the resolved params) or a do-nothing tracker."""
    if p.tracking == "none":
        return Tracker()
    import wandb

    os.environ.setdefault("WANDB_SILENT", "true")
    wandb_dir = Path(p.store) / "wandb"
    wandb_dir.mkdir(parents=True, exist_ok=True)
    run = wandb.init(project=p.wandb_project, group=p.wandb_group or f"{p.character_id}-{run_id}", job_type=stage,
                     name=f"{p.character_id}-{run_id}-{stage}", config=p.model_dump(), dir=str(wandb_dir),
                     mode="offline" if p.tracking == "offline" else "online", reinit="finish_previous",
                     tags=[p.character_id, stage])
    return Tracker(run)

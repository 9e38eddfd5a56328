"""Chain the stage notebooks with papermill, per character, into reports a reviewer can read.

Each stage runs as notebooks/NN_<stage>.ipynb -> <store>/<character>/<run_id>/NN_<stage>.ipynb,
is rendered to HTML next to it, and an index.html plus summary.json describe the run. A failing
stage stops that character's chain with its error in summary.json; earlier outputs stay.

A batch (`run_batch`, `lora run --all`) runs each character's chain as its own process
(`python -m lora_lib.pipeline`), at most `jobs` at a time; one failing never stops the others.
Every stage records a fingerprint of the params it depends on, so a re-run resumes each
character at its first failed, missing or changed stage (`force` re-runs everything).

- chain.py     one character: stage selection, params fingerprints, resume plan, run_character, main
- batch.py     many characters as child processes: Job, run_jobs, run_batch, the batch summary
- ray_executor.py  `executor="ray"`: each job as a Ray task running the same child process (pip install -e .[ray])
- __main__.py  `python -m lora_lib.pipeline` (what run_jobs starts)
"""

from .batch import Job, latest_unfinished_batch, ray_resources, run_batch, run_jobs
from .chain import (
    NOTEBOOKS,
    ROOT,
    STAGE_PARAMS,
    PipelineError,
    check_inputs,
    main,
    new_run_id,
    notebook_for,
    plan_stages,
    previous_summary,
    run_character,
    select_stages,
    stage_fingerprints,
)

__all__ = [
    "NOTEBOOKS", "ROOT", "STAGE_PARAMS", "Job", "PipelineError", "check_inputs", "latest_unfinished_batch", "main",
    "new_run_id", "notebook_for", "plan_stages", "previous_summary", "ray_resources", "run_batch", "run_character", "run_jobs",
    "select_stages", "stage_fingerprints",
]

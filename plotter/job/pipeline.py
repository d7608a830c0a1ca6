"""sample -> plan -> G-code, shared by `plotter draw` (in-process) and the daemon's workers.

Import is torch-free: the model modules load on first use through `plotter.job.models.ModelCache`, which
the daemon keeps alive so that a draw request pays only for sampling. Job parameters arrive as JSON from the
CLI, the socket or HTTP; `DrawParams.from_dict` is the single place that checks them (a malformed job is a
`JobError`, never a crash in a worker).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from plotter.errors import JobError
from plotter.job.models import ModelCache, check_classes, find_checkpoint
from plotter.job.params import DrawParams, parse_grid
from plotter.models.complete import check_class
from plotter.sketch import Sketch


def sample(params: DrawParams, models: ModelCache) -> list[Sketch]:
    """Draw `params.n` sketches from the (cached) model."""
    path = find_checkpoint(params.model, params.class_name, params.checkpoint)
    check_classes(path, [params.class_name])  # before the model loads: a typo costs no torch import
    model = models.get(path)
    check_class(model, params.class_name)
    if params.best_of > 1:
        return _best_of(model, params, models)
    kept: list[Sketch] = []
    for _ in range(1 if params.seed is not None else 3):  # unseeded: an empty draw is just bad luck
        with models.sample_lock:
            sketches = model.generate(
                params.n, temperature=params.temperature, class_name=params.class_name, seed=params.seed
            )
        kept = [s for s in sketches if not s.is_empty()]
        if kept:
            break
    if not kept:
        raise JobError("the model produced only empty sketches; try another --seed or a higher --temperature")
    return kept


def _best_of(model: Any, params: DrawParams, models: ModelCache) -> list[Sketch]:
    """Each sketch the best clean one of `params.best_of` (plotter.models.best_of); a seed reproduces it."""
    from plotter.models.best_of import best_of

    seed = params.seed if params.seed is not None else int(np.random.SeedSequence().entropy % 2**31)
    score = models.scorer(params.class_name)

    def draw(count: int, s: int) -> list[Sketch]:
        return model.generate(count, temperature=params.temperature, class_name=params.class_name, seed=s)

    with models.sample_lock:
        return best_of(draw, score, params.n, params.best_of, seed)


def sketches_to_json(sketches: Sequence[Sketch]) -> list[list[list[list[float]]]]:
    """Sketches as nested lists (0.01 px) for the job row: a job replays exactly what was sampled."""
    return [[np.round(s, 2).tolist() for s in sk.strokes] for sk in sketches]


def sketches_from_json(data: object) -> list[Sketch]:
    if not isinstance(data, list) or not data:
        raise JobError("job has no sketches to draw")
    try:
        return [Sketch([np.asarray(s, dtype=np.float64) for s in sk], unit="px") for sk in data]
    except (TypeError, ValueError) as exc:
        raise JobError(f"job sketches are malformed: {exc}") from None


def plan_sketches(
    sketches: Sequence[Sketch],
    profile: str,
    paper: str = "a4",
    grid: str | None = None,
    job_name: str | None = None,
    layout: dict | None = None,
) -> Any:
    """Lay out and emit one page with the shared planner (`plotter.job.plan.plan_job`) -> PlannedJob."""
    from plotter.gcode import load_profile
    from plotter.job.layout_opts import job_options_kwargs
    from plotter.job.plan import JobOptions, plan_job

    cols_rows = parse_grid(grid, len(sketches)) if grid else None
    import importlib.util

    has_estimate = importlib.util.find_spec("plotter.plan.estimate") is not None
    options = JobOptions(paper=paper, grid=cols_rows, job_name=job_name, estimate=has_estimate,
                         **job_options_kwargs(layout))
    return plan_job(list(sketches), load_profile(profile), options)


@dataclass(frozen=True)
class Planned:
    """What a worker needs from planning: the lines and the numbers to show."""

    lines: list[str]
    stats: dict[str, Any]


def plan_job_params(params: dict, profile: str, paper: str) -> Planned:
    """Plan a stored draw job for the device that took it (job params override the device's profile/paper)."""
    draw = DrawParams.from_dict({k: v for k, v in params.items() if k != "sketches"})
    sketches = sketches_from_json(params.get("sketches"))
    profile, paper = draw.profile or profile, draw.paper or paper
    job = plan_sketches(sketches, profile, paper, draw.grid, job_name=f"{draw.class_name} x{draw.n}",
                        layout=draw.layout)
    stats = {**_plain_stats(job.stats()), "planned_profile": profile, "planned_paper": paper}
    return Planned(list(job.gcode), stats)


def _plain_stats(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: (round(float(v), 3) if isinstance(v, (float, np.floating)) else v) for k, v in stats.items()}

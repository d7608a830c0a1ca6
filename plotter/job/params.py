"""Draw-job parameters: the one check of untrusted JSON (CLI, socket, HTTP), importable without numpy.

`plotter draw` talking to a running daemon imports only this, the client and click, so it starts fast.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from plotter.errors import CheckpointError, JobError

MODELS = {"sketch-rnn": "sketch_rnn", "transformer": "transformer"}
MAX_BEST_OF = 32
DRAW_BEST_OF = 8  # `plotter draw`'s default: ~0.3 s more sampling on one CPU thread, far fewer duds
_GRID = re.compile(r"^\s*(\d{1,2})\s*[xX×]\s*(\d{1,2})\s*$")


def parse_grid(text: str | None, n: int) -> tuple[int, int]:
    """'2x2' -> (cols, rows); None -> a near-square grid that holds n."""
    if text is None or text == "":
        cols = math.ceil(math.sqrt(n))
        return cols, math.ceil(n / cols)
    m = _GRID.match(str(text))
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise JobError(f"grid must look like 2x2 (columns x rows), got {text!r}")
    cols, rows = int(m.group(1)), int(m.group(2))
    if cols * rows < n:
        raise JobError(f"grid {cols}x{rows} holds {cols * rows} sketches, fewer than n={n}")
    return cols, rows


@dataclass(frozen=True)
class DrawParams:
    """What a draw job asks for; stored as JSON in the job row."""

    class_name: str
    model: str = "sketch-rnn"
    checkpoint: str | None = None
    n: int = 1
    grid: str | None = None
    temperature: float | None = None  # None: the checkpoint's own default (0.4 where it has none)
    seed: int | None = None
    paper: str | None = None
    profile: str | None = None
    layout: dict | None = None  # margin, landscape, gap, rotate, size, offset, clip (plotter.job.layout_opts)
    best_of: int = 1  # candidates sampled per sketch; >1: knots/cut-offs dropped, the classifier's best kept

    @classmethod
    def from_dict(cls, data: object) -> DrawParams:
        """Validate untrusted JSON (socket, HTTP, CLI) into params; every error names the field."""
        if not isinstance(data, dict):
            raise JobError("a draw job needs a JSON object of parameters")
        data = dict(data)
        if "class" in data:
            data["class_name"] = data.pop("class")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise JobError(f"draw job: unknown parameter {unknown[0]!r}")
        name = data.get("class_name")
        if not isinstance(name, str) or not name.strip():
            raise JobError("draw job: 'class' is required (e.g. cat)")
        model = data.get("model", "sketch-rnn")
        if model not in MODELS:
            raise JobError(f"draw job: model must be one of {', '.join(MODELS)}, got {model!r}")
        try:
            n = int(data.get("n", 1))
            temperature = None if data.get("temperature") is None else float(data["temperature"])
            seed = None if data.get("seed") is None else int(data["seed"])
        except (TypeError, ValueError) as exc:
            raise JobError(f"draw job: {exc}") from None
        if not 1 <= n <= 64:
            raise JobError(f"draw job: n must be between 1 and 64, got {n}")
        try:
            best = int(data.get("best_of", 1))
        except (TypeError, ValueError) as exc:
            raise JobError(f"draw job: best_of: {exc}") from None
        if not 1 <= best <= MAX_BEST_OF or best * n > 256:
            raise JobError(f"draw job: best_of must be between 1 and {MAX_BEST_OF} (and n x best_of <= 256), "
                           f"got {best}")
        if temperature is not None and not 0 < temperature <= 5:
            raise JobError(f"draw job: temperature must be in (0, 5], got {temperature}")
        grid = data.get("grid")
        parse_grid(grid, n)
        opt = {k: (None if data.get(k) is None else str(data[k])) for k in ("checkpoint", "paper", "profile")}
        from plotter.job.layout_opts import check_layout

        layout = check_layout(data.get("layout")) or None
        return cls(name.strip(), model, n=n, grid=grid, temperature=temperature, seed=seed, layout=layout,
                   best_of=best, **opt)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["class"] = d.pop("class_name")
        return {k: v for k, v in d.items() if v is not None}


CHECKOUT = Path(__file__).resolve().parents[2]  # the source checkout (editable install): checkpoints/, docs/


def in_checkout(path: str | Path) -> Path:
    """`path` as given if it exists (or is absolute); else the same relative path inside the checkout, if
    that exists: README examples such as `plotter evaluate checkpoints/sketch_rnn-cat.pt` work from any
    directory. Inputs only: outputs stay relative to where the user is."""
    p = Path(path)
    if p.exists() or p.is_absolute():
        return p
    q = CHECKOUT / p
    return q if q.exists() else p


def checkpoint_dirs() -> list[Path]:
    """$PLOTTER_CHECKPOINTS, then the repository's `checkpoints/` (editable install / source checkout)."""
    dirs = [Path(p) for p in os.environ.get("PLOTTER_CHECKPOINTS", "").split(os.pathsep) if p]
    dirs.append(CHECKOUT / "checkpoints")
    return dirs


def made_for(path: Path, model: str, class_name: str | None) -> bool:
    """`<model>-<class>.pt` for this class (the class-name rule: `--class Cat` finds sketch_rnn-cat.pt)."""
    from plotter.sketch.classes import class_key

    prefix = f"{MODELS[model]}-"
    return bool(class_name) and path.stem.startswith(prefix) and \
        class_key(path.stem[len(prefix):]) == class_key(class_name or "")


def _find(model: str, class_name: str | None) -> Path | None:
    stem = MODELS[model]
    for d in checkpoint_dirs():
        for p in sorted(d.glob(f"{stem}-*.pt")) if class_name and d.is_dir() else []:
            if made_for(p, model, class_name):
                return p
    for d in checkpoint_dirs():
        found = sorted(d.glob(f"{stem}-*.pt"))
        if found:
            return found[0]
    return None


def default_checkpoint(model: str, class_name: str | None = None) -> Path:
    """`checkpoints/<model>-<class>.pt`, else any `<model>-*.pt` (a multi-class checkpoint)."""
    found = _find(model, class_name)
    if found is not None:
        return found
    where = ", ".join(str(d) for d in checkpoint_dirs())
    others = [m for m in MODELS if m != model and _find(m, class_name) is not None]
    hint = f" (there is one for --model {others[0]})" if others else ""
    raise CheckpointError(f"no {model} checkpoint found in {where}{hint}; pass --checkpoint PATH")


BETTER_FIRST = ("transformer", "sketch-rnn")  # checkpoints/README.md: the transformer wins cat and multiclass


def pick_model(class_name: str | None, checkpoint: str | None = None) -> str:
    """The model `plotter draw`/`sample` use when none is named: the one a given checkpoint's name says; else
    the better model (BETTER_FIRST) with a checkpoint made for the class, else the better one with a
    checkpoint that may know it, else Sketch-RNN (whose error then says what is missing). Only a label and a
    search: any checkpoint loads as what it is."""
    if checkpoint is not None:
        return "transformer" if Path(checkpoint).name.startswith("transformer") else "sketch-rnn"
    for exact in (True, False):
        for model in BETTER_FIRST:
            path = _find(model, class_name)
            if path is not None and (not exact or made_for(path, model, class_name)):
                return model
    return "sketch-rnn"

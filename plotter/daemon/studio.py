"""What the dashboard needs beyond the queue: class search, sampled previews, completions, a job's plan.

These are ordinary service ops (`classes`, `preview`, `complete`, `plan`), so the socket answers them too;
sampling and planning stay in the job layer (`plotter.job`) and `plotter.models.complete`:
this module only shapes requests and replies. Sketches travel as JSON (strokes of [x, y] points, y down);
`given_sketches` is the one check of sketches a client sends back to queue them.
"""

from __future__ import annotations

import math
import tempfile
import threading
from pathlib import Path
from typing import Any

from plotter.daemon.allowed import resolve_draw_params
from plotter.errors import JobError, PlotterError
from plotter.job.params import MODELS, DrawParams

MAX_SKETCHES = 64
MAX_POINTS = 200_000  # in all the sketches of one job from a client
MAX_ETA_POINTS = 400  # samples of a job's line -> time-fraction curve sent to the page
_classes_lock = threading.Lock()
_classes_cache: dict[tuple, dict] = {}


def classes(service: Any) -> dict:
    """Every class some shipped checkpoint draws, and which checkpoints (model, file name) know it."""
    from plotter.job.models import checkpoint_info, shipped_checkpoints

    found = shipped_checkpoints()
    key = tuple((str(p), p.stat().st_mtime) for p in found)
    with _classes_lock:
        if key not in _classes_cache:
            by_class: dict[str, list[dict]] = {}
            for path in found:
                try:
                    info = checkpoint_info(path)
                except PlotterError:
                    continue
                if not info["draws"]:
                    continue
                model = "transformer" if info["kind"] == "transformer" else "sketch-rnn"
                for name in info["classes"]:
                    by_class.setdefault(name, []).append({"model": model, "checkpoint": path.name})
            _classes_cache.clear()
            _classes_cache[key] = {"classes": sorted(by_class), "by_class": by_class, "models": list(MODELS)}
        return _classes_cache[key]


def preview(service: Any, params: dict | None = None) -> dict:
    """Sample a draw job's sketches without queueing it: the page shows them, then queues what it kept."""
    from plotter.job.pipeline import sample, sketches_to_json

    draw = DrawParams.from_dict(resolve_draw_params(params or {}, service.config))  # names, not paths
    return {"params": draw.to_dict(), "sketches": sketches_to_json(sample(draw, service.models))}


def complete(
    service: Any,
    strokes: object = None,
    params: dict | None = None,
) -> dict:
    """`plotter complete` for strokes drawn in the page: `params.n` continuations of them."""
    from plotter.job.models import find_checkpoint
    from plotter.job.pipeline import sketches_to_json
    from plotter.models.complete import complete_sketches

    draw = DrawParams.from_dict(resolve_draw_params(params or {}, service.config))  # names, not paths
    partial = given_sketches([strokes])[0]
    model = service.models.get(find_checkpoint(draw.model, draw.class_name, draw.checkpoint))
    with service.models.sample_lock:
        out = complete_sketches(model, partial, draw.n, draw.temperature, draw.class_name, draw.seed)
    prefix = int(out[0].meta.get("prefix_strokes", 0)) if out else 0
    return {"params": draw.to_dict(), "prefix_strokes": prefix, "sketches": sketches_to_json(out)}


def given_sketches(data: object) -> list:
    """Sketches sent by a client (lists of strokes of [x, y]), checked: finite numbers, bounded sizes."""
    import numpy as np

    from plotter.sketch import Sketch

    if not isinstance(data, list) or not data:
        raise JobError("sketches: expected a non-empty list of sketches (lists of strokes of [x, y] points)")
    if len(data) > MAX_SKETCHES:
        raise JobError(f"sketches: at most {MAX_SKETCHES} in one job, got {len(data)}")
    out, total = [], 0
    for i, sk in enumerate(data):
        if not isinstance(sk, list) or not sk:
            raise JobError(f"sketches[{i}]: expected a non-empty list of strokes")
        strokes = []
        for j, stroke in enumerate(sk):
            try:
                arr = np.asarray(stroke, dtype=np.float64)
            except (TypeError, ValueError):
                raise JobError(f"sketches[{i}][{j}]: expected a list of [x, y] points") from None
            if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) < 1 or not np.isfinite(arr).all():
                raise JobError(f"sketches[{i}][{j}]: expected a list of finite [x, y] points")
            total += len(arr)
            strokes.append(arr)
        if total > MAX_POINTS:
            raise JobError(f"sketches: more than {MAX_POINTS} points in all")
        out.append(Sketch(strokes, unit="px"))
    return out


def svg_sketches(text: object, name: str = "upload.svg") -> list:
    """An uploaded SVG's drawing as one sketch (the planner fits it on the paper like a sampled one)."""
    from plotter.sketch.svg import read_svg

    if not isinstance(text, str) or not text.strip():
        raise JobError("an svg job needs the SVG text in 'svg'")
    with tempfile.TemporaryDirectory(prefix="plotter-svg-") as tmp:
        path = Path(tmp) / (Path(name).name or "upload.svg")
        path.write_text(text, encoding="utf-8")
        sketches = read_svg(path)
    if not sketches or all(s.is_empty() for s in sketches):
        raise JobError(f"{name}: the SVG draws nothing")
    return sketches[:1]


def plan(service: Any, id: int) -> dict:  # noqa: A002 - API field
    """A job's plan for the page: pen moves in machine mm, the bed and paper outlines, and the fraction of
    the planner's time estimate left after each line (so the page can show time left as lines are acked)."""
    from plotter.gcode import load_profile
    from plotter.plan.layout import choose_orientation, parse_paper
    from plotter.sketch.moves import moves_from_gcode

    job = service.store.get(id)
    device = service.config.device(job.assigned) if job.assigned in service.workers else None
    device = device or (service.config.device(job.device) if job.device in service.workers else None)
    device = device or service.config.devices[0]
    profile = load_profile(job.stats.get("planned_profile") or job.params.get("profile") or device.profile)
    paper_name = job.stats.get("planned_paper") or job.params.get("paper") or device.paper
    paper = choose_orientation(parse_paper(paper_name), profile.bed, None)
    lines = (job.gcode or "").splitlines()
    moves = [[bool(m.down), [[round(float(x), 2), round(float(y), 2)] for x, y in m.points]]
             for m in moves_from_gcode(lines)]  # fmt: skip
    return {
        "id": job.id,
        "bed": {"width": profile.bed.width, "height": profile.bed.height, "y_up": profile.bed.y_up},
        "paper": {"name": paper.name, "width": paper.width, "height": paper.height},
        "moves": moves,
        "lines": len(lines),
        "estimate_s": job.stats.get("estimate_total_s") or _estimate(lines, profile),
        "eta": eta_curve(lines, profile.motion.max_rate.x),
    }


def _estimate(lines: list[str], profile: Any) -> float | None:
    """Machine time of a job planned elsewhere (uploaded G-code), by the same GRBL planner model."""
    from plotter.plan.estimate import estimate_gcode

    try:
        return round(estimate_gcode(lines, profile.kinematics()).total_s, 3)
    except PlotterError:
        return None


def eta_curve(lines: list[str], rapid_mm_min: float) -> list[list[float]]:
    """[[line, fraction of machine time still to run after it], ...] from distance / feed and dwells: a
    shape for spreading the planner's total over the program, sampled at most `MAX_ETA_POINTS` times."""
    from plotter.sketch.moves import parse_words

    pos, feed, motion = [0.0, 0.0, 0.0], 1000.0, 0.0
    cost = []
    for number, raw in enumerate(lines, 1):
        try:
            words = parse_words(raw, number)
        except PlotterError:
            words = None
        t = 0.0
        if words is not None:
            gs, _ms, vals = words
            motion = next((g for g in gs if g in (0.0, 1.0)), motion)
            feed = vals.get("F", feed)
            if 4.0 in gs:
                t += vals.get("P", 0.0)
            elif any(k in vals for k in "XYZ"):
                new = [vals.get(k, p) for k, p in zip("XYZ", pos)]
                dist = math.dist(new, pos)
                rate = rapid_mm_min if motion == 0.0 else max(feed, 1.0)
                t += dist / (rate / 60.0)
                pos = new
        cost.append(t)
    total = sum(cost) or 1.0
    step = max(1, len(lines) // MAX_ETA_POINTS)
    out, done = [[0, 1.0]], 0.0
    for i, c in enumerate(cost, 1):
        done += c
        if i % step == 0 or i == len(cost):
            out.append([i, round(max(0.0, 1.0 - done / total), 4)])
    return out


def sheets(service: Any) -> dict:
    """Each device's bed and (default) paper in machine mm: what its live view is drawn on."""
    from plotter.gcode import load_profile
    from plotter.plan.layout import choose_orientation, parse_paper

    out = {}
    for dev in service.config.devices:
        profile = load_profile(dev.profile)
        paper = choose_orientation(parse_paper(dev.paper), profile.bed, None)
        out[dev.name] = {
            "bed": {"width": profile.bed.width, "height": profile.bed.height, "y_up": profile.bed.y_up},
            "paper": {"name": paper.name, "width": paper.width, "height": paper.height},
        }
    return out


OPS = {"classes": classes, "preview": preview, "complete": complete, "plan": plan, "sheets": sheets}

"""`plotter draw` in this process: sample -> plan -> G-code -> stream (to a port or to the simulator).

The daemon runs the same steps (`plotter.job.pipeline`); this module adds what a foreground run needs:
output files, a stream on a thread the CLI can feed-hold from Ctrl-C, and the dry run on a simulated GRBL
whose trace is the picture of what was drawn and whose clock is the honest machine time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plotter.errors import DeviceError, PlotterError
from plotter.job.models import ModelCache, find_checkpoint
from plotter.job.params import DrawParams
from plotter.job.pipeline import plan_sketches, sample

SIM_URL = "grblsim://?clock=virtual"


@dataclass
class DrawPlan:
    """A sampled and planned page: the sketches, the `PlannedJob` (G-code, layout, estimate)."""

    params: DrawParams
    profile: str
    paper: str
    sketches: list
    job: Any  # plotter.job.plan.PlannedJob

    @property
    def lines(self) -> list[str]:
        return list(self.job.gcode)

    @property
    def estimate_s(self) -> float | None:
        est = self.job.estimate
        return float(est.total_s) if est is not None else None


def plan_draw(params: DrawParams, profile: str, paper: str, models: ModelCache | None = None) -> DrawPlan:
    """Sample `params.n` sketches and lay them out on `paper` for `profile`."""
    sketches = sample(params, models or ModelCache())
    profile = params.profile or profile
    paper = params.paper or paper
    job = plan_sketches(sketches, profile, paper, params.grid, job_name=f"{params.class_name} x{params.n}",
                        layout=params.layout)
    return DrawPlan(params, profile, paper, sketches, job)


def plan_completion(
    params: DrawParams, partial: str | Path, profile: str, paper: str, index: int = 0,
    models: ModelCache | None = None,
) -> DrawPlan:  # fmt: skip
    """`plotter draw --complete PARTIAL`: like `plan_draw`, but the sketches continue the drawing in PARTIAL
    (the params give model, checkpoint, class, n, temperature, seed, grid). Runs in-process: a daemon job
    carries no partial."""
    from plotter.models.complete import complete_sketches
    from plotter.sketch.io import read_sketches

    user = read_sketches(partial, index=index)[0]
    path = find_checkpoint(params.model, params.class_name, params.checkpoint)
    model = (models or ModelCache()).get(path)
    sketches = complete_sketches(model, user, params.n, params.temperature, params.class_name, params.seed)
    profile, paper = params.profile or profile, params.paper or paper
    name = f"{params.class_name} completing {Path(partial).name} x{params.n}"
    job = plan_sketches(sketches, profile, paper, params.grid, job_name=name, layout=params.layout)
    return DrawPlan(params, profile, paper, sketches, job)


def write_gcode(plan: DrawPlan, path: str | Path) -> Path:
    return plan.job.write_gcode(path)


def write_preview(plan: DrawPlan, path: str | Path, travel: bool = True) -> Path:
    """The planned page (paper and bed edges, travel in pink unless off) as SVG or PNG by suffix."""
    from plotter.job.preview import write_page_preview

    return write_page_preview(plan.job, path, travel=travel)


def pen_up_lines(profile: str) -> tuple[str, ...]:
    from plotter.gcode import pen_commands

    return pen_commands(profile)


@dataclass
class Run:
    """One stream on its own thread, so the caller's thread stays free for Ctrl-C and prompts."""

    streamer: Any
    lines: list[str]
    start: int = 0
    preamble: tuple[str, ...] = ()
    journal: Any = None
    on_progress: Callable[[Any], None] | None = None
    result: Any = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def begin(self) -> Run:
        threading.Thread(target=self._main, name="plotter-draw-stream", daemon=True).start()
        return self

    def _main(self) -> None:
        try:
            self.result = self.streamer.stream(
                self.lines,
                self.start,
                preamble=self.preamble,
                journal=self.journal,
                on_progress=self.on_progress,
            )
        except BaseException as exc:  # handed to the caller's thread by `wait`
            self.error = exc
        finally:
            self.done.set()

    def wait(self, timeout: float | None = None) -> Any:
        """The StreamResult; re-raises the stream's error in the caller's thread."""
        if not self.done.wait(timeout):
            return None
        if self.error is not None:
            raise self.error
        return self.result


def open_machine(device: str | None, profile: str, baudrate: int = 115200) -> tuple[Any, Any]:
    """(port, connected Streamer) for a path/URL; no device means the virtual-clock simulator."""
    from plotter.grbl.streamer import Streamer
    from plotter.grbl.transport import open_port

    port = open_port(device or SIM_URL, baudrate=baudrate)
    try:
        streamer = Streamer(port, pen_up=pen_up_lines(profile))
        streamer.connect()
    except BaseException:
        port.close()
        raise
    return port, streamer


@dataclass(frozen=True)
class SimReport:
    """What the simulated machine did, next to what was estimated."""

    machine_time_s: float
    estimate_s: float | None
    drawn_mm: float
    travel_mm: float
    pen_lifts: int
    starved_s: float
    files: tuple[Path, ...]


def simulation_report(port: Any, plan: DrawPlan, svg: Path | None, png: Path | None) -> SimReport:
    """Pictures and numbers from the simulator's pen trace (only a grblsim port has one)."""
    machine = getattr(port, "machine", None)
    if machine is None:
        raise DeviceError("not a simulated port: no pen trace to report")
    trace = machine.trace
    files = []
    if svg is not None:
        files.append(trace.write_svg(svg))
    if png is not None:
        files.append(trace.write_png(png))
    s = trace.summary()
    return SimReport(
        float(s["machine_time_s"]), plan.estimate_s, float(s["drawn_mm"]), float(s["travel_mm"]),
        int(s["pen_lifts"]), float(s["starved_s"]), tuple(Path(f) for f in files),
    )  # fmt: skip


def is_simulated(device: str | None) -> bool:
    return device is None or device.startswith("grblsim://")


def check_device_arg(device: str | None) -> None:
    if device is not None and not device.strip():
        raise PlotterError("--device is empty: pass a serial port (/dev/ttyUSB0) or a grblsim:// URL")

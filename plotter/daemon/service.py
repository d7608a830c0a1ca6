"""The daemon as one object: store -> models -> workers -> servers, started in that order, stopped in reverse.

`Service` is also the controller behind both APIs (socket and HTTP): `handle(request)` is the one dispatcher,
so the two transports cannot disagree. Requests are plain JSON dicts; every reply is `{"ok": true, "result":
...}` or `{"ok": false, "error": "one line", "type": "JobError"}`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from plotter.daemon.allowed import resolve_draw_params
from plotter.daemon.checks import check_config
from plotter.daemon.config import DaemonConfig, DeviceConfig
from plotter.daemon.lock import JobFileLock, config_lock_path
from plotter.daemon.pens import pause_at
from plotter.daemon.store import Job, open_store
from plotter.daemon.store_base import HELD_ON_MACHINE, StoreBase
from plotter.daemon.worker import Backoff, DeviceWorker, Link
from plotter.errors import DaemonError, JobError, PlotterError
from plotter.gcode.bed import check_program_bed, machine_bed
from plotter.job.models import ModelCache
from plotter.job.params import DrawParams
from plotter.job.pipeline import plan_job_params, sample, sketches_to_json

log = logging.getLogger(__name__)

Connect = Callable[[DeviceConfig], Link]
Prepare = Callable[[Job, DeviceConfig], Job]
START_WAIT_S = 120.0  # a request that arrives while the daemon loads its models waits this long


class Service:
    """Owns the parts; each `start_*` has its `stop_*`, and `stop()` unwinds whatever `start()` managed."""

    def __init__(
        self,
        config: DaemonConfig,
        *,
        connect: Connect | None = None,
        prepare: Prepare | None = None,
        models: ModelCache | None = None,
        serve: bool = True,
        run_workers: bool = True,
        opener: Callable[[str, int], Any] | None = None,
    ) -> None:
        self.config = config
        # the in-process CLI (no workers) only reads and edits the queue: it keeps no leases
        self.store = open_store(config.store, config.farm_host, config.lease_s, keep_leases=run_workers)
        self.models = models or ModelCache()
        self._connect = connect
        self._prepare = prepare
        self._serve = serve
        self._run_workers = run_workers
        self._opener = opener
        self.workers: dict[str, DeviceWorker] = {}
        self.servers: list[Any] = []
        self.hub: Any = None  # a plotter.daemon.live.LiveHub while the web side runs
        self._started: list[Callable[[], None]] = []
        self.stopped = threading.Event()
        self._stopping = False
        self.ready = threading.Event()  # set once models and workers are up; requests wait for it
        self.lock = JobFileLock(config_lock_path(config), "daemon" if run_workers else "cli")

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Service:
        try:
            # first the lock: a CLI never edits the job file under a daemon, two daemons never share it
            self.lock.acquire(timeout=10.0)
            self._started.append(self.lock.release)
            if self._run_workers:
                check_config(self.config)  # the same checks as `plotter daemon --check`
            self.store.open()
            self._started.append(self.store.close)
            if not self._run_workers:  # in-process CLI: the queue only, never touch a live daemon's jobs
                self.ready.set()
                return self
            for job in self.store.recover():
                log.warning("job %d was running when the daemon stopped: now interrupted (resumable)", job.id)
            if self._serve:  # listening early: a client sees "starting" rather than no daemon at all
                self._start_servers(http=False)
            self._start_models()
            if self._serve and self.config.http.enabled:
                self._start_live()
            self._start_workers()
            if self._serve and self.config.http.enabled:
                self._start_servers(http=True)
            self.ready.set()
        except BaseException:
            self.stop()
            raise
        log.info("plotter daemon up: %d device(s), %s", len(self.workers), self.store.label)
        return self

    def stop(self) -> None:
        """Reverse order: servers (no new requests), workers (pen up, jobs interrupted), models, store."""
        self._stopping = True
        self.ready.clear()
        while self.servers:  # first, whenever they were started: no new requests
            try:
                self.servers.pop().stop()
            except Exception:
                log.exception("error while stopping a server")
        while self._started:
            step = self._started.pop()
            try:
                step()
            except Exception:  # keep unwinding: a failing part must not leave the others running
                log.exception("error while stopping")
        self.stopped.set()

    def kill(self) -> None:
        """Tests: die like SIGKILL. Threads end without touching the store; the file is left as it is."""
        for server in self.servers:
            server.stop()
        for worker in self.workers.values():
            worker.kill()
        self.lock.release()  # the kernel drops a killed process's flock
        self._started.clear()
        self.stopped.set()

    def _start_models(self) -> None:
        for name in self.config.preload:
            path = self.config.models.get(name, name)
            log.info("preloading model %s", path)
            self.models.get(path)
        _warm_planner(self.config.devices[0])
        self._started.append(self.models.clear)

    def _start_live(self) -> None:
        """The dashboard's push channel: workers' links publish GRBL reports, watchers publish job changes."""
        from plotter.daemon.live import LiveHub, Watchers

        self.hub = LiveHub()
        watchers = Watchers(self.hub, self)
        self.hub.on_watch = watchers.watching
        watchers.start()
        self._started.append(watchers.stop)

    def _start_workers(self) -> None:
        from plotter.daemon import device

        backoff = (self.config.backoff_initial_s, self.config.backoff_max_s)
        for dev in self.config.devices:
            worker = DeviceWorker(
                dev,
                self.store,
                self._connect or device.connect_factory(self.store, self._opener, self.hub),
                self._prepare or device.prepare_job(self.store),
                Backoff(*backoff),
            )
            worker.start()
            self.workers[dev.name] = worker
            self._started.append(worker.stop)

    def _start_servers(self, http: bool) -> None:
        from plotter.daemon.api import UnixServer

        if http:
            from plotter.daemon.web import WebServer

            server: Any = WebServer(self.config.http, self.handle, self.hub)
        else:
            server = UnixServer(self.config.socket, self.handle)
        server.start()
        self.servers.append(server)  # stopped first by `stop()`

    # ------------------------------------------------------------------ the API
    def handle(self, request: object) -> dict:
        """Dispatch one JSON request; a bad request is an error reply, never an exception."""
        try:
            if not isinstance(request, dict) or not isinstance(request.get("op"), str):
                raise JobError("request must be a JSON object with an 'op' field")
            op = request["op"]
            if op != "ping" and not self.ready.wait(START_WAIT_S):
                state = "stopping" if self._stopping else "starting"
                raise DaemonError(f"the daemon is {state}; try again in a moment")
            fn = _OPS.get(op)
            if fn is None:
                raise JobError(f"unknown request {op!r}; known: {', '.join(sorted(_OPS))}")
            args = {k: v for k, v in request.items() if k != "op"}
            try:
                return {"ok": True, "result": fn(self, **args)}
            except TypeError as exc:
                raise JobError(f"{op}: bad arguments ({exc})") from None
        except PlotterError as exc:
            return {"ok": False, "error": str(exc), "type": type(exc).__name__}
        except Exception as exc:  # a bug must not kill the server thread; log it with its traceback
            log.exception("request failed: %r", request)
            return {"ok": False, "error": f"internal error: {exc}", "type": "PlotterError"}

    def submit(
        self,
        kind: str = "draw",
        params: dict | None = None,
        gcode: str | None = None,
        device: str = "any",
        hold: bool = False,
        sketches: list | None = None,
        svg: str | None = None,
    ) -> dict:
        """Queue a job. A draw job is sampled and planned now, so class, checkpoint and layout errors come
        back at once and the reply carries the estimate; `hold` parks it until `resume` (confirm first).
        A draw job may bring its `sketches` (previewed or completed in the dashboard: not sampled again);
        kind `svg` plans an uploaded drawing (`svg` text) fitted on the paper."""
        from plotter.daemon import studio

        device = device or "any"
        if device != "any" and device not in self.workers:
            names = ", ".join(self.workers)
            raise JobError(f"no device {device!r} in this daemon (devices: {names}, or any)")
        drawn = None
        if kind == "svg":  # the file name stands where a class name would
            label = str((params or {}).get("class") or "upload.svg")
            kind, drawn, params = "draw", studio.svg_sketches(svg, label), {"class": label, "n": 1}
        if kind == "draw":
            draw = DrawParams.from_dict(resolve_draw_params(params or {}, self.config))
            if drawn is None:
                drawn = studio.given_sketches(sketches) if sketches is not None else sample(draw, self.models)
            stored = {**draw.to_dict(), "n": len(drawn), "sketches": sketches_to_json(drawn)}
            target = self._planning_device(device)
            planned = plan_job_params(stored, target.profile, target.paper)
            job = self.store.submit(
                "draw", stored, "\n".join(planned.lines), device, planned.stats, held=hold
            )
        elif kind == "gcode":
            program = _check_gcode(gcode)
            for dev in self.config.devices if device == "any" else [self.config.device(device)]:
                check_program_bed(program.splitlines(), machine_bed(dev.profile), f"device {dev.name}")
            job = self.store.submit("gcode", _plain_params(params), program, device, held=hold)
        else:
            raise JobError(f"unknown job kind {kind!r}; expected draw or gcode")
        log.info("job %d %s (%s on %s)", job.id, job.state, kind, device)
        return job.to_dict()

    def _planning_device(self, device: str) -> DeviceConfig:
        return self.config.device(device) if device != "any" else self.config.devices[0]

    def wait(self, id: int, updated: float = 0.0, timeout: float = 10.0) -> dict:  # noqa: A002
        """Long poll for live progress: the job once it changed after `updated`, or after `timeout` s."""
        timeout = min(max(float(timeout), 0.0), 60.0)
        job = self.store.wait_changed(int(id), float(updated), timeout)
        return job.to_dict()

    def list(self, states: list[str] | None = None, limit: int = 50) -> list[dict]:
        return [j.to_dict() for j in self.store.list(states, int(limit))]

    def show(self, id: int, gcode: bool = False, events: bool = False) -> dict:  # noqa: A002 - API field
        job = self.store.get(id)
        out = job.to_dict(with_gcode=bool(gcode))
        if events:
            out["events"] = self.store.events(job.id)
        return out

    def pause(self, id: int, at: str | None = None) -> dict:  # noqa: A002
        at, job = pause_at(at), self.store.get(id)
        if job.state == "running" and self._worker_of(job).pause(job.id, at):
            out = self.store.get(id).to_dict()
            return {**out, "pending": "lift"} if at == "lift" and out["state"] == "running" else out
        if job.state == "queued":
            return self.store.transition(job.id, "paused", "held in the queue", pause_reason="user").to_dict()
        raise JobError(f"job {id} is {job.state}; only a queued or running job can be paused")

    def resume(self, id: int) -> dict:  # noqa: A002
        job = self.store.get(id)
        if job.state == "paused" and job.pause_reason in HELD_ON_MACHINE and job.started is not None:
            if self._worker_of(job).resume(job.id):
                return self.store.get(id).to_dict()
        if job.state in ("paused", "failed", "interrupted") or (job.state == "cancelled" and job.resumable):
            return self.retry(id, from_journal=True)
        raise JobError(f"job {id} is {job.state}; nothing to resume")

    def cancel(self, id: int, timeout: float = 30.0) -> dict:  # noqa: A002
        job = self.store.get(id)
        worker = self.workers.get(job.assigned or "")
        if job.state in ("running", "paused") and worker is None:
            self._not_elsewhere(job)
        live = job.state in ("running", "paused") and worker is not None and worker.cancel(job.id)
        if live:
            return self.store.wait_until(
                id, ("cancelled", "interrupted", "done", "failed"), timeout
            ).to_dict()
        return self.store.transition(id, "cancelled", "cancelled by user").to_dict()

    def retry(self, id: int, from_journal: bool = True) -> dict:  # noqa: A002
        """Queue a stopped job again: from its last pen-up (journal) on the same plotter, or from the top."""
        job = self.store.get(id)
        if job.state == "paused" and job.pause_reason == "user" and job.started is None:
            return self.store.transition(id, "queued", "released").to_dict()
        has_journal = from_journal and bool(self.store.journal_records(id))
        if has_journal:  # pinned to the plotter that holds the half-drawn page
            point = _failure_point(self.store, job)
            fields: dict[str, Any] = {"resume_from": point}
            note = f"resume from the journal (line {point + 1})"
        else:
            self.store.journal_clear(id)
            fields = {"resume_from": 0, "acked": 0, "assigned": None}
            note = "retry from the top"
        return self.store.transition(id, "queued", note, **fields).to_dict()

    def devices(self) -> list[dict]:
        return [w.status() for w in self.workers.values()]

    def unlock(self, device: str) -> dict:
        """After an alarm, once the machine was checked: reconnect with `$X` (the queue waits till then)."""
        worker = self.workers.get(device)
        if worker is None:
            raise JobError(f"no device {device!r} in this daemon (devices: {', '.join(self.workers)})")
        worker.unlock()
        return {"device": device, "unlock": "requested"}

    def wait_device(self, device: str, timeout: float = 10.0) -> dict:
        """Long poll: the device's status once it is connected again (or after `timeout` s)."""
        worker = self.workers.get(device)
        if worker is None:
            raise JobError(f"no device {device!r} in this daemon (devices: {', '.join(self.workers)})")
        worker.wait(lambda w: w.connected.is_set(), min(max(float(timeout), 0.0), 60.0))
        return worker.status()

    def ping(self) -> dict:
        return {
            "pid": __import__("os").getpid(),
            "starting": not self.ready.is_set(),
            "offers": {"models": dict(self.config.models)},  # what a draw job may name (issue 16)
            "devices": list(self.workers),
            "models": self.models.loaded(),
        }

    def _not_elsewhere(self, job: Job) -> None:
        """In a farm, a job on another host's machine is that daemon's to hold or cancel (its stream)."""
        here = getattr(self.store, "host", None)
        if here is not None and job.host not in (None, here) and job.started is not None:
            raise JobError(f"job {job.id} is {job.state} on host {job.host} (plotter {job.assigned}): "
                           "ask that daemon")  # fmt: skip

    def _worker_of(self, job: Job) -> DeviceWorker:
        worker = self.workers.get(job.assigned or "")
        if worker is None:
            self._not_elsewhere(job)
            raise JobError(f"job {job.id} is {job.state} on {job.assigned!r}, but no daemon worker runs it")
        return worker


def _plain_params(params: object) -> dict:
    """A G-code job's free-form params (a file name to show): a small mapping of short scalars only."""
    if params is None:
        return {}
    ok = isinstance(params, dict) and len(params) <= 8
    ok = ok and all(isinstance(v, (str, int, float, bool)) and len(str(v)) <= 200 for v in params.values())
    if not ok:
        raise JobError("gcode job: params must be a small mapping of short values (e.g. {\"file\": ...})")
    return dict(params)


def _warm_planner(device: DeviceConfig) -> None:
    """Import and run the planner once at startup so the first draw request pays only for sampling."""
    import numpy as np

    from plotter.job.pipeline import plan_sketches
    from plotter.sketch import Sketch

    square = Sketch([np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]]), np.array([[0.0, 5.0], [5.0, 5.0]])])
    try:
        plan_sketches([square], device.profile, device.paper)
    except PlotterError as exc:  # a bad profile shows up here first: say so, the jobs will say it again
        log.warning("planner warm-up for %s failed: %s", device.name, exc)


def _failure_point(store: StoreBase, job: Job) -> int:
    """First line not known to have run, from the journal (0 when there is none)."""
    from plotter.grbl.journal import load_state

    records = store.journal_records(job.id)
    if not records:
        return 0
    try:
        return load_state(records).failure_point
    except PlotterError:
        return 0


def _check_gcode(gcode: object) -> str:
    if not isinstance(gcode, str) or not gcode.strip():
        raise JobError("a gcode job needs the program text in 'gcode'")
    from plotter.gcode import check_program

    problems = check_program(gcode.splitlines())
    if problems:
        line, what = problems[0]
        raise JobError(f"G-code line {line}: {what} ({len(problems)} problem(s) in all)")
    return gcode


_OPS: dict[str, Callable[..., Any]] = {
    "submit": Service.submit,
    "list": Service.list,
    "show": Service.show,
    "pause": Service.pause,
    "resume": Service.resume,
    "cancel": Service.cancel,
    "retry": Service.retry,
    "devices": Service.devices,
    "ping": Service.ping,
    "wait": Service.wait,
    "unlock": Service.unlock,
    "wait_device": Service.wait_device,
}


def _studio_ops() -> None:
    """The dashboard's ops (class search, previews, completions, plans): see `plotter.daemon.studio`."""
    from plotter.daemon.studio import OPS

    _OPS.update(OPS)


_studio_ops()

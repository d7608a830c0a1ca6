"""Live events for the dashboard: GRBL status reports and job changes, pushed to whoever watches.

Why push: a page that polls the whole job list and every device each second shows a status change up to a
second late and costs a query per client per second; here each GRBL report the daemon reads (5 Hz while it
streams, the rate GRBL tolerates) is handed to every watcher at once. Watching is free when nobody watches:
the idle-status poll and the job watcher run only while there is at least one subscriber.

Threads publish (`LiveHub.publish`), the web server's event loop consumes: each subscriber is a bounded
queue on its loop, fed with `call_soon_threadsafe`; a slow client loses its oldest events, never the daemon's
time.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
QUEUE = 512  # events a slow client may lag behind before the oldest are dropped
STATUS_HZ = 5.0  # idle plotters are asked `?` at most this often while someone watches
JOBS_EVERY_S = 0.1  # job progress is coalesced to at most this rate


class Subscription:
    """One watcher: an asyncio queue on the consumer's loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[dict] = asyncio.Queue(QUEUE)

    def _put(self, event: dict) -> None:
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(event)

    async def get(self, timeout: float) -> dict | None:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except asyncio.TimeoutError:
            return None


class LiveHub:
    """Thread-safe fan-out; `on_watch(True/False)` tells the service when the first joins / last leaves."""

    def __init__(self, on_watch: Callable[[bool], None] | None = None) -> None:
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self.on_watch = on_watch
        self.last: dict[str, dict] = {}  # device -> its last status event (a new page starts from these)

    def subscribe(self, loop: asyncio.AbstractEventLoop) -> Subscription:
        sub = Subscription(loop)
        with self._lock:
            first = not self._subs
            self._subs.add(sub)
            for event in self.last.values():  # where each plotter stands now (marked: not a new report)
                sub._put({**event, "replay": True})
        if first and self.on_watch:
            self.on_watch(True)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)
            last = not self._subs
        if last and self.on_watch:
            self.on_watch(False)

    @property
    def watched(self) -> bool:
        return bool(self._subs)

    def close(self) -> None:
        """Tell every open stream to end (the server is stopping)."""
        self.publish({"t": "bye"})

    def publish(self, event: dict[str, Any]) -> None:
        with self._lock:
            if event.get("t") == "status":
                before = self.last.get(event["device"])
                if before is not None and _same(before, event):
                    return  # an idle plotter's unchanged report: nothing new to draw
            event = {**event, "seq": next(self._seq), "ts": time.time()}
            if event.get("t") == "status":
                self.last[event["device"]] = event
            subs = list(self._subs)
        for sub in subs:
            try:
                sub.loop.call_soon_threadsafe(sub._put, event)
            except RuntimeError:  # its loop closed: the server is stopping
                pass


class StatusTap:
    """A link's raw-line tap: each GRBL status report, with the job and line it belongs to, to the hub."""

    def __init__(self, hub: LiveHub, device: str, pen: Any) -> None:
        self.hub, self.device, self.pen = hub, device, pen
        self.job: int | None = None
        self.acked: int | None = None

    def __call__(self, text: str) -> None:
        if not text.startswith("<"):
            return
        from plotter.grbl.protocol import Status, parse_line

        st = parse_line(text)
        if isinstance(st, Status):
            self.hub.publish(status_event(self.device, st, self.pen, self.job, self.acked))

    def running(self, job: int | None, start: int = 0, on_ack: Callable[[int], None] | None = None) -> Any:
        """Mark `job` as streaming from line `start` (None: it ended); returns the progress callback that
        keeps `acked` current and hands it on to `on_ack`."""
        self.job, self.acked = job, (start if job is not None else None)

        def on_progress(p: Any) -> None:
            self.acked = p.acked
            if on_ack is not None:
                on_ack(p.acked)

        return on_progress


def _same(a: dict, b: dict) -> bool:
    return all(a.get(k) == v for k, v in b.items())


def status_event(device: str, status: Any, pen: Any, job: int | None, acked: int | None) -> dict:
    """One GRBL report as the page wants it: state, work position, pen down?, buffers, the job's line."""
    pos = status.work_position() or status.mpos
    return {
        "t": "status",
        "device": device,
        "state": status.label,
        "pos": [round(float(v), 3) for v in pos] if pos else None,
        "pen": pen_down(status, pen),
        "feed": status.feed,
        "buffer": {"planner_free": status.planner_free, "rx_free": status.rx_free},
        "job": job,
        "acked": acked,
        "alarm": status.label if status.state == "Alarm" else None,
    }


def pen_down(status: Any, pen: Any) -> bool | None:
    """From the report alone: a servo pen is down while the spindle output is the down command's S; a Z pen
    while Z is below half-way between its up and down heights."""
    if pen is None:
        return None
    if pen.mode == "z":
        pos = status.work_position() or status.mpos
        return None if not pos else pos[2] <= (pen.z_up + pen.z_down) / 2
    if status.spindle is None:
        return None
    return status.spindle > 0


class Watchers:
    """While someone watches: ask idle plotters for status at `STATUS_HZ`, publish job changes."""

    def __init__(self, hub: LiveHub, service: Any) -> None:
        self.hub, self.service = hub, service
        self._stop = threading.Event()
        self._active = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for target, name in ((self._poll_status, "plotter-live-status"), (self._watch_jobs, "plotter-live")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        self._active.set()
        self.service.store.wake()
        with self.service.store.progress:
            self.service.store.progress.notify_all()
        for t in self._threads:
            t.join(5)

    def watching(self, on: bool) -> None:
        (self._active.set if on else self._active.clear)()

    def _poll_status(self) -> None:
        while not self._stop.is_set():
            self._active.wait()
            for worker in list(self.service.workers.values()):
                if worker.running_job() is None and worker.connected.is_set():
                    try:
                        worker.status()  # the report it reads is published by the link's tap
                    except Exception:  # noqa: BLE001 - a broken port is the worker's business
                        log.debug("live status of %s failed", worker.device.name, exc_info=True)
            self._stop.wait(1.0 / STATUS_HZ)

    def _watch_jobs(self) -> None:
        """List under the store's lock, then wait on it: a change between the two cannot be missed."""
        store, seen = self.service.store, {}
        while not self._stop.is_set():
            self._active.wait()
            with store.progress:
                if self._stop.is_set():
                    return
                try:
                    jobs = store.list(limit=50)
                except Exception:  # noqa: BLE001 - the store closed under us while stopping
                    return
                changed = [j for j in jobs if seen.get(j.id) != j.updated]
                if not changed:
                    store.progress.wait(15.0)
                    continue
            for job in changed:
                seen[job.id] = job.updated
                self.hub.publish({"t": "job", "job": job.to_dict()})
            self._stop.wait(JOBS_EVERY_S)

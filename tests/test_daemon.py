"""Daemon service and workers against fake plotters: queue, controls, recovery. No sleeps; Conditions."""

from __future__ import annotations

import pytest
from daemon_fakes import FakeModel, FakePlotter, SimBench, config, fake_connect, passthrough, program

from plotter.daemon.service import Service
from plotter.daemon.worker import Backoff
from plotter.errors import JobError, UnknownClassError
from plotter.job.models import ModelCache

DONE = ("done",)


@pytest.fixture
def plotters():
    return {"p1": FakePlotter("p1"), "p2": FakePlotter("p2")}


def service(tmp_path, plotters, cfg_models: dict | None = None, **kw) -> Service:
    cfg = config(tmp_path, models=cfg_models)
    return Service(cfg, connect=fake_connect(plotters), prepare=passthrough, serve=False, **kw).start()


def test_queue_feeds_two_plotters_each_job_runs_once(tmp_path, plotters) -> None:
    svc = service(tmp_path, plotters)
    try:
        ids = [svc.submit("gcode", {}, gcode=program(5, str(i)))["id"] for i in range(6)]
        pinned = svc.submit("gcode", {}, gcode=program(3), device="p2")["id"]
        for i in [*ids, pinned]:
            svc.store.wait_until(i, DONE, timeout=10)
        ran = {i: [p.name for p in plotters.values() if p.lines_of(i)] for i in [*ids, pinned]}
        assert all(len(v) == 1 for v in ran.values())
        assert ran[pinned] == ["p2"]
        for i in ids:
            (p,) = ran[i]
            assert plotters[p].lines_of(i) == program(5, str(ids.index(i))).splitlines()
    finally:
        svc.stop()


def test_a_stray_wakeup_does_not_stall_the_queue(tmp_path, plotters) -> None:
    """An unlock racing a reconnect: `_open` consumed the request, then its wake-up event arrived. A set
    event makes `wait_for_work` return at once without claiming, so the worker must clear it, not spin."""
    plotters["p2"].plugged = False
    svc = service(tmp_path, plotters)
    try:
        worker = svc.workers["p1"]
        assert worker.wait(lambda w: w.connected.is_set(), 10)
        worker._interrupt.set()  # what the late half of that unlock leaves behind
        svc.store.wake()
        job = svc.submit("gcode", {}, gcode=program(3))["id"]
        svc.store.wait_until(job, DONE, timeout=10)
    finally:
        svc.stop()


def test_pause_resume_cancel_running_job(tmp_path, plotters) -> None:
    plotters["p1"].block_at[1] = 2
    plotters["p2"].plugged = False  # only p1 takes work
    svc = service(tmp_path, plotters)
    try:
        job = svc.submit("gcode", {}, gcode=program(4))["id"]
        assert plotters["p1"].reached.wait(10)
        assert svc.pause(job)["state"] == "paused"
        plotters["p1"].release()  # released, but the hold keeps it from moving on
        assert svc.store.get(job).state == "paused" and svc.store.get(job).acked == 2
        assert svc.resume(job)["state"] == "running"
        svc.store.wait_until(job, DONE, timeout=10)
        assert len(plotters["p1"].lines_of(job)) == 4

        plotters["p1"].released = False
        plotters["p1"].reached.clear()
        plotters["p1"].block_at[2] = 1
        job2 = svc.submit("gcode", {}, gcode=program(4))["id"]
        assert plotters["p1"].reached.wait(10)
        out = svc.cancel(job2)
        assert out["state"] == "cancelled" and plotters["p1"].pen_ups == 1
        assert svc.show(job2)["resumable"]  # issue 16: a cancelled job marked resumable resumes
        assert svc.resume(job2)["state"] == "queued"
        svc.store.wait_until(job2, DONE, timeout=10)
    finally:
        svc.stop()


def test_device_lost_parks_job_then_auto_resumes_from_journal(tmp_path, plotters) -> None:
    plotters["p2"].plugged = False
    plotters["p1"].unplug_at[1] = 3
    svc = service(tmp_path, plotters)
    try:
        job = svc.submit("gcode", {}, gcode=program(6))["id"]
        svc.store.wait_until(job, ("paused",), timeout=10)
        parked = svc.store.get(job)
        assert parked.pause_reason == "device-lost" and parked.acked == 3 and "vanished" in parked.error
        plotters["p1"].plugged = True  # the cable is back: the worker's backoff loop reconnects
        done = svc.store.wait_until(job, DONE, timeout=10)
        assert done.assigned == "p1" and plotters["p1"].connects == 2
        assert plotters["p1"].lines_of(job) == program(6).splitlines()  # nothing twice, nothing missing
    finally:
        svc.stop()


def test_alarm_fails_with_reason_and_is_resumable(tmp_path, plotters) -> None:
    plotters["p2"].plugged = False
    plotters["p1"].alarm_at[1] = 2
    svc = service(tmp_path, plotters)
    try:
        job = svc.submit("gcode", {}, gcode=program(5))["id"]
        failed = svc.store.wait_until(job, ("failed",), timeout=10)
        assert "ALARM:1 hard limit" in failed.error and failed.resumable and failed.acked == 2
        svc.store.set_fields(job, resume_from=2)  # what retry() computes from a GRBL journal
        svc.store.transition(job, "queued")
        svc.store.wait_until(job, DONE, timeout=10)
        assert plotters["p1"].lines_of(job) == program(5).splitlines()
    finally:
        svc.stop()


def test_stop_interrupts_running_job_and_restart_keeps_queue(tmp_path, plotters) -> None:
    plotters["p2"].plugged = False
    plotters["p1"].block_at[1] = 1
    svc = service(tmp_path, plotters)
    job = svc.submit("gcode", {}, gcode=program(3))["id"]
    waiting = svc.submit("gcode", {}, gcode=program(3), device="p2")["id"]
    assert plotters["p1"].reached.wait(10)
    svc.stop()  # SIGTERM path: hold/cancel, pen up, interrupted
    assert plotters["p1"].pen_ups == 1
    svc2 = Service(config(tmp_path), connect=fake_connect(plotters), prepare=passthrough, serve=False).start()
    try:
        assert svc2.store.get(job).state == "interrupted" and svc2.store.get(waiting).state == "queued"
    finally:
        svc2.stop()


def test_kill_then_restart_marks_running_job_interrupted(tmp_path, plotters) -> None:
    plotters["p2"].plugged = False
    plotters["p1"].block_at[1] = 2
    svc = service(tmp_path, plotters)
    job = svc.submit("gcode", {}, gcode=program(4))["id"]
    assert plotters["p1"].reached.wait(10)
    for worker in svc.workers.values():
        worker.kill(timeout=0)  # the process is dead from here on
    with plotters["p1"].cond:
        plotters["p1"].killed = True  # wake the blocked fake stream so the thread can end
        plotters["p1"].cond.notify_all()
    svc.kill()
    assert svc.store.get(job).state == "running"  # nobody cleaned up
    assert plotters["p1"].pen_ups == 0
    plotters["p1"].block_at.clear()
    svc2 = Service(config(tmp_path), connect=fake_connect(plotters), prepare=passthrough, serve=False).start()
    try:
        assert svc2.store.get(job).state == "interrupted"
        svc2.store.set_fields(job, resume_from=svc2.store.get(job).acked)
        svc2.store.transition(job, "queued")
        svc2.store.wait_until(job, DONE, timeout=10)
        assert plotters["p1"].lines_of(job) == program(4).splitlines()
    finally:
        svc2.stop()


def test_draw_submit_validates_before_queueing(tmp_path, plotters) -> None:
    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(b"x")
    model = FakeModel()
    loads: list = []
    models = ModelCache(loader=lambda path: loads.append(path) or model)
    plotters["p1"].plugged = plotters["p2"].plugged = False
    svc = service(tmp_path, plotters, cfg_models={"m": str(ckpt)}, models=models)
    try:
        with pytest.raises(UnknownClassError, match="did you mean cat"):
            svc.submit("draw", {"class": "cta", "checkpoint": "m"})
        with pytest.raises(JobError, match="never a path"):  # names from the config, not paths (issue 16)
            svc.submit("draw", {"class": "cat", "checkpoint": str(ckpt)})
        with pytest.raises(JobError, match="n must be between"):
            svc.submit("draw", {"class": "cat", "n": 0, "checkpoint": "m"})
        with pytest.raises(JobError, match="no device 'p9' in this daemon"):
            svc.submit("draw", {"class": "cat", "checkpoint": "m"}, device="p9")
        assert svc.store.list() == []
        job = svc.submit("draw", {"class": "cat", "n": 2, "seed": 3, "checkpoint": "m"})
        job2 = svc.submit("draw", {"class": "cat", "seed": 4, "checkpoint": "m"})
        assert job["state"] == "queued" and job["params"]["class"] == "cat"
        assert len(svc.store.get(job["id"]).params["sketches"]) == 2 and job2["id"] > job["id"]
        assert model.calls == 2 and len(loads) == 1  # loaded once and kept; the typo never sampled
    finally:
        svc.stop()


def test_backoff_is_bounded_and_resets() -> None:
    b = Backoff(0.5, 4.0)
    assert [b.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    b.reset()
    assert b.next() == 0.5


def test_handle_rejects_malformed_requests(tmp_path, plotters) -> None:
    svc = service(tmp_path, plotters)
    try:
        svc.submit("gcode", {}, gcode=program(2), device="p1")
        bad = [
            "not a dict",
            {"op": "explode"},
            {"op": "show", "id": 999},
            {"op": "show", "jobid": 1},
            {"op": "submit", "kind": "gcode", "gcode": "G1 X1 Q5"},
            {"op": "submit", "kind": "gcode"},
            {"op": "pause", "id": 1, "extra": 2},
        ]
        for request in bad:
            reply = svc.handle(request)
            assert reply["ok"] is False and reply["type"] == "JobError" and "\n" not in reply["error"]
        assert len(svc.list()) == 1
    finally:
        svc.stop()


def test_packaging_unit_and_example_config() -> None:
    from pathlib import Path

    from plotter.daemon.config import load_config

    repo = Path(__file__).resolve().parents[1]
    unit = (repo / "packaging" / "plotterd.service").read_text()
    for line in ("Type=notify", "Restart=on-failure", "KillSignal=SIGTERM", "RuntimeDirectory=plotter",
                 "ExecStart=/usr/bin/env plotter daemon --config /etc/plotter/plotterd.yaml"):  # fmt: skip
        assert line in unit.splitlines(), line
    cfg = load_config(repo / "packaging" / "plotterd.example.yaml")
    assert [d.name for d in cfg.devices] == ["desk", "sim"] and not cfg.http.enabled


def test_unlock_reconnects_an_idle_plotter(tmp_path, plotters) -> None:
    svc = service(tmp_path, plotters)
    try:
        assert svc.wait_device("p1", timeout=10)["connected"]
        before = plotters["p1"].connects
        svc.unlock("p1")
        assert svc.workers["p1"].wait(lambda w: plotters["p1"].connects == before + 1, 10)
        with pytest.raises(JobError, match="no device 'p9'"):
            svc.unlock("p9")
    finally:
        svc.stop()


def test_job_that_lost_its_plotter_before_any_ack_goes_to_another(tmp_path, plotters) -> None:
    plotters["p2"].plugged = False
    plotters["p1"].unplug_at[1] = 0  # p1 was unplugged while idle: the first write fails
    svc = service(tmp_path, plotters)
    try:
        job = svc.submit("gcode", {}, gcode=program(3))["id"]
        assert svc.workers["p1"].wait(lambda w: not w.connected.is_set(), 10)
        back = svc.store.wait_until(job, ("queued",), timeout=10)
        assert back.assigned is None and back.acked == 0  # not pinned to the plotter that is gone
        plotters["p2"].plugged = True  # the other plotter comes up and takes it
        done = svc.store.wait_until(job, DONE, timeout=10)
        assert done.assigned == "p2" and plotters["p2"].lines_of(job) == program(3).splitlines()
        notes = [note for _, _, note in svc.store.events(job)]
        assert "claimed by p1" in notes and "nothing drawn: back in the queue" in notes
    finally:
        svc.stop()


def test_bad_profile_or_paper_stops_startup_naming_the_device(tmp_path, plotters) -> None:
    from dataclasses import replace

    from plotter.daemon.config import ConfigError

    cfg = config(tmp_path)
    bad = replace(cfg, devices=(replace(cfg.devices[0], profile="grbl-sevro"), cfg.devices[1]))
    with pytest.raises(ConfigError, match="devices.p1: .*grbl-sevro"):
        Service(bad, connect=fake_connect(plotters), prepare=passthrough, serve=False).start()
    bad = replace(cfg, devices=(cfg.devices[0], replace(cfg.devices[1], paper="a44")))
    with pytest.raises(ConfigError, match="devices.p2: "):
        Service(bad, connect=fake_connect(plotters), prepare=passthrough, serve=False).start()


def test_config_devices_as_a_list_read_like_the_mapping(tmp_path) -> None:
    from plotter.daemon.config import load_config

    listed = tmp_path / "list.yaml"
    listed.write_text("devices:\n  - name: desk\n    port: /dev/ttyUSB0\n    paper: a3\n"
                      "  - {name: sim, port: 'grblsim://?clock=virtual', profile: grbl-servo}\n")
    mapped = tmp_path / "map.yaml"
    mapped.write_text("devices:\n  desk: {port: /dev/ttyUSB0, paper: a3}\n"
                      "  sim: {port: 'grblsim://?clock=virtual', profile: grbl-servo}\n")
    assert load_config(listed).devices == load_config(mapped).devices
    assert [(d.name, d.paper) for d in load_config(listed).devices] == [("desk", "a3"), ("sim", "a4")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"devices": []}, "at least one device is required: devices: {NAME: {port: "),
        ({"devices": "grblsim://"}, "devices is 'grblsim://'; expected devices: {NAME:"),
        ({"devices": ["grblsim://"]}, "devices[0]: expected a mapping with a name; devices: {NAME:"),
        ({"devices": [{"name": "a", "port": "x"}, {"name": "a", "port": "y"}]}, "name 'a' is used twice"),
        ({"devices": [{"name": "a", "port": "x", "colour": 1}]}, "devices.a: unknown field 'colour'"),
        ({"devices": {"a": {"port": "x", "auto_resume": "no"}}}, "auto_resume: expected true or false"),
        ({"devices": {"a": {"port": "x", "baudrate": -5}}}, "devices.a.baudrate: expected a whole number"),
        ({"devices": {"a": {"port": ["x"]}}}, "devices.a.port: expected a non-empty string, got a list"),
        ({"devices": {"a": {"port": "x", "profile": None}}}, "devices.a.profile: expected a non-empty"),
        ({"devices": {"a": "x"}, "http": {"token": "t", "port": "abc"}}, "http.port: expected a whole"),
        ({"devices": {"a": "x"}, "http": {"token": "t", "port": 99999}}, "http.port: expected a whole"),
        ({"devices": {"a": "x"}, "http": {"enabled": "false"}}, "http.enabled: expected true or false"),
        ({"devices": {"a": "x"}, "preload": 5}, "preload: expected a list of model names, got 5"),
        ({"devices": {"a": "x"}, "preload": "cat"}, "preload: expected a list of model names"),
        ({"devices": {"a": "x"}, "socket": {"a": 1}}, "socket: expected a non-empty string, got a mapping"),
        ({"devices": {"a": "x"}, "backoff_max_s": float("inf")}, "backoff_initial_s must be > 0"),
    ],
)
def test_config_field_of_the_wrong_type_is_one_line_naming_it(data, message) -> None:
    from plotter.daemon.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as err:
        parse_config(data)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_config_file_binary_or_nested_too_deep(tmp_path) -> None:
    from plotter.daemon.config import ConfigError, load_config

    binary = tmp_path / "b.yaml"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ConfigError, match=r"b.yaml: not a UTF-8 text file$"):
        load_config(binary)
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 10_000)
    with pytest.raises(ConfigError, match=r"deep.yaml: nested too deeply \(at most 32\)$"):
        load_config(deep)


@pytest.mark.parametrize("fault", ["vanish@t:0", "vanish@line:1"])
def test_probe_of_a_port_that_opens_then_vanishes_is_offline(fault: str) -> None:
    """Connected means GRBL answered: a port lost during the handshake is offline with its error, while an
    alarm-locked machine (it answered) is connected, in state Alarm."""
    from plotter.daemon.device import probe

    row = probe("p", f"grblsim://?fault={fault}")
    assert row["connected"] is False and "serial port lost" in row["error"] and "state" not in row, row
    assert probe("p", "grblsim://")["state"] == "Idle"
    locked = probe("p", "grblsim://?homing=1")
    assert locked["connected"] is True and locked["state"] == "Alarm" and "alarm-locked" in locked["alarm"]


def test_daemon_reports_a_cable_pulled_while_idle_offline(tmp_path) -> None:
    """The daemon's device status (the `devices` request the API and `plotter status` use) says offline with
    the port's error, not the last Idle report from before the cable went."""
    bench = SimBench([])
    svc = Service(config(tmp_path, names=("p1",)), opener=bench.open, serve=False).start()
    try:
        assert svc.workers["p1"].wait(lambda w: w.connected.is_set(), 10)
        assert svc.devices()[0]["state"] == "Idle"
        bench.machine.vanished = True
        (row,) = svc.handle({"op": "devices"})["result"]
        assert row["connected"] is False and "serial port lost" in row["error"], row
        assert "state" not in row and "position" not in row, row
    finally:
        svc.stop()

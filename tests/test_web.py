"""The daemon's web side without a browser: limits, the event stream, the dashboard's ops, the LAN warning."""

from __future__ import annotations

import http.client
import json
import logging
import socket

import numpy as np
import pytest
from daemon_fakes import FakeModel, FakePlotter, config, fake_connect, passthrough, program

from plotter.daemon.config import HttpConfig, parse_config
from plotter.daemon.limits import LIMITS, Limits, RequestTooLarge, decode_request
from plotter.daemon.live import LiveHub, StatusTap, pen_down, status_event
from plotter.daemon.resume import PenSpec
from plotter.daemon.service import Service
from plotter.daemon.studio import eta_curve, given_sketches
from plotter.daemon.web import WebServer
from plotter.errors import InputLimitError, JobError
from plotter.grbl.protocol import parse_line
from plotter.job.models import ModelCache

TOKEN = "t0ken"


@pytest.fixture
def svc(tmp_path):
    plotters = {"p1": FakePlotter("p1")}
    plotters["p1"].plugged = False  # the queue stays put: these tests look at the API
    ckpt = tmp_path / "m.pt"
    ckpt.write_bytes(b"x")  # jobs name it "m" from the config's models: (issue 16)
    http = {"enabled": True, "port": 0, "token": TOKEN}
    cfg = config(tmp_path, names=("p1",), http=http, models={"m": str(ckpt)})
    model = FakeModel()
    model.config = type("Config", (), {"max_len": 250})()  # what completion needs to bound the prefix
    s = Service(cfg, connect=fake_connect(plotters), prepare=passthrough,
                models=ModelCache(loader=lambda p: model)).start()  # fmt: skip
    s.fake_model = model
    s.ckpt = "m"
    yield s
    s.stop()


def request(svc, method, path, body: bytes | None = None, token=TOKEN, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", svc.servers[1].port, timeout=20)
    hdrs = dict(headers or {})
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=body, headers=hdrs)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, (json.loads(data) if data.startswith(b"{") else data)


def call(svc, method, path, obj=None):
    return request(svc, method, path, None if obj is None else json.dumps(obj).encode())


@pytest.mark.parametrize(
    "raw, message",
    [
        (b"[" * 40 + b"]" * 40, "nested too deeply"),
        (b'{"n": ' + b"9" * 41 + b"}", "a number has 41 characters"),
        (b'{"n": 1.' + b"5" * 60 + b"}", "number"),
        (b'{"n": NaN}', "not a JSON number"),
        (b"{not json", "not JSON"),
    ],
)
def test_decode_request_limits(raw, message) -> None:
    with pytest.raises(InputLimitError, match=message):
        decode_request(raw)


def test_decode_request_size_depth_and_ordinary_bodies() -> None:
    with pytest.raises(RequestTooLarge):
        decode_request(b"{}" + b" " * 100, Limits(max_request=50))
    with pytest.raises(InputLimitError, match="at most 3 levels"):
        decode_request(b'{"a": [[[1]]]}', Limits(max_depth=3))
    with pytest.raises(InputLimitError, match="at most 4"):
        decode_request(b'{"a": 12345}', Limits(max_number=4))
    deep_enough = {"sketches": [[[[1.5, 2.25]]]], "params": {"class": "cat", "n": 2}}
    assert decode_request(json.dumps(deep_enough).encode()) == deep_enough


@pytest.mark.parametrize("body", [b"[" * 100 + b"]" * 100, b'{"op": "ping", "n": ' + b"1" * 5000 + b"}",
                                  b'{"op": "ping", "n": Infinity}', b"{not json"])  # fmt: skip
def test_socket_and_http_refuse_alike(svc, body) -> None:
    """One source of limits: both transports share `LIMITS` and answer a hostile body with the same line."""
    assert svc.servers[0].limits is svc.servers[1].limits is LIMITS
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(20)
        s.connect(str(svc.config.socket))
        s.sendall(body + b"\n")
        over_socket = json.loads(s.makefile("rb").readline())
    status, over_http = request(svc, "POST", "/v1/rpc", body)
    assert status == 400 and over_socket["ok"] is over_http["ok"] is False
    assert over_socket["error"] == over_http["error"] and over_http["type"] == "InputLimitError"


def test_http_limits_refuse_before_the_service(svc) -> None:
    big = svc.servers[1].limits.max_request + 1
    status, body = request(svc, "POST", "/v1/jobs", b"{}", headers={"Content-Length": str(big)})
    assert status == 413 and "too large" in body["error"]
    status, body = request(svc, "POST", "/v1/jobs", b"[" * 100 + b"]" * 100)
    assert status == 400 and "nested" in body["error"]
    status, body = request(svc, "POST", "/v1/jobs", b'{"kind": "gcode", "n": ' + b"1" * 5000 + b"}")
    assert status == 400 and "number" in body["error"]
    status, body = request(svc, "POST", "/v1/jobs", b"[1, 2]")
    assert status == 400 and "JSON object" in body["error"]
    assert call(svc, "GET", "/v1/jobs")[1]["result"] == []  # nothing reached the queue


def test_unlock_and_retry_routes(svc) -> None:
    status, body = call(svc, "POST", "/v1/devices/p1/unlock")
    assert status == 200 and body["result"] == {"device": "p1", "unlock": "requested"}
    status, body = call(svc, "POST", "/v1/devices/nope/unlock")
    assert status == 400 and "no device 'nope'" in body["error"]
    job = svc.submit("gcode", gcode=program(2), device="p1")["id"]
    assert call(svc, "POST", f"/v1/jobs/{job}/cancel")[1]["result"]["state"] == "cancelled"
    status, body = call(svc, "POST", f"/v1/jobs/{job}/retry", {"from_journal": True})
    assert status == 200 and body["result"]["state"] == "queued"


def test_connection_limit_answers_busy(tmp_path) -> None:
    server = WebServer(HttpConfig(True, "127.0.0.1", 0, TOKEN), lambda r: {"ok": True, "result": 1},
                       LiveHub(), Limits(max_connections=1))  # fmt: skip
    server.start()
    try:
        stream = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
        stream.request("GET", "/v1/events", headers={"Authorization": f"Bearer {TOKEN}"})
        assert stream.getresponse().readline() == b"retry: 1000\n"  # holds the only slot
        status, _ = request(type("S", (), {"servers": [None, server]}), "GET", "/v1/ping")
        assert status == 503
        stream.close()
    finally:
        server.stop()


def test_page_is_public_api_and_events_are_not(svc) -> None:
    status, page = request(svc, "GET", "/", token=None)
    assert status == 200 and b"<title>plotter</title>" in page
    status, js = request(svc, "GET", "/static/api.js", token=None)
    assert status == 200 and b"Authorization" in js
    for path in ("/v1/events", "/v1/classes", "/v1/jobs/1/plan", "/v1/sheets"):
        assert request(svc, "GET", path, token="nope")[0] == 401, path


def test_header_timeout_closes_a_silent_connection(tmp_path) -> None:
    server = WebServer(HttpConfig(True, "127.0.0.1", 0, TOKEN), lambda r: {"ok": True, "result": 1},
                       LiveHub(), Limits(request_timeout_s=0.2))  # fmt: skip
    server.start()
    try:
        s = socket.create_connection(("127.0.0.1", server.port), timeout=20)
        s.sendall(b"GET /v1/ping HTTP/1.1\r\nHost: x\r\n")  # ... and never the blank line
        assert s.recv(100) == b""  # closed by the server, not by our 20 s timeout
        s.close()
    finally:
        server.stop()


def test_lan_host_is_allowed_with_a_warning(caplog) -> None:
    cfg = parse_config({"devices": {"a": "x"}, "http": {"token": "t", "host": "0.0.0.0", "port": 0}})
    assert cfg.http.host == "0.0.0.0"
    server = WebServer(cfg.http, lambda r: {"ok": True, "result": 1})
    with caplog.at_level(logging.WARNING, logger="plotter.daemon.web.server"):
        server.start()
    server.stop()
    assert any("not a loopback address" in r.getMessage() for r in caplog.records)
    quiet = WebServer(HttpConfig(True, "127.0.0.1", 0, "t"), lambda r: {"ok": True, "result": 1})
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="plotter.daemon.web.server"):
        quiet.start()
    quiet.stop()
    assert not [r for r in caplog.records if r.name.startswith("plotter") and r.levelno >= logging.WARNING]


def read_events(resp, n: int) -> list[dict]:
    out = []
    while len(out) < n:
        line = resp.readline()
        assert line, "stream ended"
        if line.startswith(b"data: "):
            out.append(json.loads(line[6:]))
    return out


def test_event_stream_carries_status_reports_and_job_changes(svc) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", svc.servers[1].port, timeout=20)
    conn.request("GET", "/v1/events", headers={"Authorization": f"Bearer {TOKEN}"})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("content-type").startswith("text/event-stream")
    assert resp.readline() == b"retry: 1000\n"  # the stream is open: we are subscribed
    st = parse_line("<Run|MPos:10.000,20.000,0.000|Bf:12,80|FS:3000,1000>")
    svc.hub.publish(status_event("p1", st, PenSpec(), 7, 42))
    svc.hub.publish(status_event("p1", st, PenSpec(), 7, 42))  # unchanged: not sent again
    job = svc.submit("gcode", gcode=program(3), device="p1")
    events = read_events(resp, 2)
    assert events[0]["t"] == "status" and events[0]["pos"] == [10.0, 20.0, 0.0] and events[0]["pen"] is True
    assert events[0]["state"] == "Run" and events[0]["job"] == 7 and events[0]["acked"] == 42
    assert events[1]["t"] == "job" and events[1]["job"]["id"] == job["id"]
    assert events[1]["job"]["state"] == "queued"
    conn.close()


def test_status_tap_publishes_reports_with_their_job_and_line() -> None:
    hub = LiveHub()
    tap = StatusTap(hub, "p1", PenSpec())
    tap("ok")  # not a report: nothing
    assert hub.last == {}
    acked: list[int] = []
    on_progress = tap.running(4, 10, acked.append)
    tap("<Run|MPos:1.000,2.000,0.000|FS:3000,1000>")
    assert hub.last["p1"]["job"] == 4 and hub.last["p1"]["acked"] == 10 and hub.last["p1"]["pen"] is True
    on_progress(type("P", (), {"acked": 12})())
    tap("<Run|MPos:1.500,2.000,0.000|FS:3000,1000>")
    assert hub.last["p1"]["acked"] == 12 and acked == [12]
    tap.running(None)
    tap("<Idle|MPos:1.500,2.000,0.000|FS:0,0>")
    assert hub.last["p1"]["job"] is None and hub.last["p1"]["state"] == "Idle"


@pytest.mark.parametrize(
    "report, pen, down",
    [
        ("<Run|MPos:1,2,0|FS:3000,1000>", PenSpec(), True),
        ("<Run|MPos:1,2,0|FS:3000,0>", PenSpec(), False),
        ("<Idle|MPos:1,2,0>", PenSpec(), None),
        ("<Run|MPos:1,2,0.4|FS:3000,0>", PenSpec(mode="z", z_up=5, z_down=0), True),
        ("<Run|MPos:1,2,4.9|FS:3000,0>", PenSpec(mode="z", z_up=5, z_down=0), False),
    ],
)
def test_pen_state_from_the_report_alone(report, pen, down) -> None:
    assert pen_down(parse_line(report), pen) is down


def test_preview_then_queue_exactly_what_was_shown(svc) -> None:
    params = {"class": "cat", "n": 3, "seed": 5, "checkpoint": svc.ckpt}
    status, body = call(svc, "POST", "/v1/preview", {"params": params})
    shown = body["result"]["sketches"]
    assert status == 200 and len(shown) == 3 and svc.fake_model.calls == 1
    shown[1] = [[[0, 0], [5, 5], [9, 1]]]  # "resample one cell": the page swaps in another sketch
    status, body = call(svc, "POST", "/v1/jobs", {"kind": "draw", "params": params, "sketches": shown})
    assert status == 200 and svc.fake_model.calls == 1  # queued as shown, not sampled again
    job = svc.store.get(body["result"]["id"])
    assert job.params["sketches"][1] == [[[0.0, 0.0], [5.0, 5.0], [9.0, 1.0]]] and job.params["n"] == 3
    status, plan = call(svc, "GET", f"/v1/jobs/{job.id}/plan")
    plan = plan["result"]
    assert plan["bed"] == {"width": 310.0, "height": 220.0, "y_up": True} and plan["paper"]["name"] == "a4"
    assert any(down for down, _ in plan["moves"]) and plan["lines"] == job.lines_total
    xs = [x for _, pts in plan["moves"] for x, _y in pts]
    assert 0 <= min(xs) and max(xs) <= plan["paper"]["width"]


def test_unknown_class_in_preview_is_one_line(svc, tmp_path) -> None:
    status, body = call(svc, "POST", "/v1/preview", {"params": {"class": "cta", "checkpoint": svc.ckpt}})
    assert status == 400 and body["error"].startswith("unknown class 'cta'") and "cat" in body["error"]


@pytest.mark.parametrize(
    "sketches, message",
    [
        ([], "non-empty list"),
        ([[[[0, 0], [1, float("nan")]]]], "finite"),
        ([[[[0, 0, 0]]]], "finite .x, y. points"),
        ([[["a"]]], "list of"),
        ([[[[0, 0]]]] * 65, "at most 64"),
    ],
)
def test_sketches_from_a_client_are_checked(sketches, message) -> None:
    with pytest.raises(JobError, match=message):
        given_sketches(sketches)


def test_svg_upload_becomes_a_planned_job(svc) -> None:
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="100" height="50">'
           '<path d="M0 0 L100 50 L0 50"/></svg>')
    status, body = call(svc, "POST", "/v1/jobs", {"kind": "svg", "svg": svg, "params": {"class": "z.svg"}})
    assert status == 200, body
    assert body["result"]["params"]["class"] == "z.svg"
    assert body["result"]["lines_total"] > 5
    status, body = call(svc, "POST", "/v1/jobs", {"kind": "svg", "svg": "<svg", "params": {}})
    assert status == 400


def test_plan_of_an_uploaded_gcode_job_has_an_estimate(svc) -> None:
    job = svc.submit("gcode", gcode="G21 G90\nM5\nG0 X10 Y10\nM3 S1000\nG1 X60 F3000\nM5", device="p1")
    status, body = call(svc, "GET", f"/v1/jobs/{job['id']}/plan")
    plan = body["result"]
    assert status == 200 and plan["estimate_s"] > 1.0  # 50 mm at 50 mm/s, plus the rapid move
    assert [down for down, _ in plan["moves"] if down] == [True]
    status, body = call(svc, "GET", "/v1/jobs/999/plan")
    assert status == 400 and "no job 999" in body["error"]


def test_eta_curve_spends_the_estimate_along_the_program() -> None:
    lines = ["G21 G90", "G0 X100 Y0", "M3 S1000", "G4 P0.5", "G1 X200 F3000", "M5", "G0 X0"]
    curve = eta_curve(lines, rapid_mm_min=6000)
    assert curve[0] == [0, 1.0] and curve[-1] == [len(lines), 0.0]
    fractions = [f for _, f in curve]
    assert fractions == sorted(fractions, reverse=True)
    # G0 100 mm at 100 mm/s = 1 s; dwell 0.5 s; G1 100 mm at 50 mm/s = 2 s; G0 200 mm = 2 s: 5.5 s in all
    assert dict((i, f) for i, f in curve)[4] == pytest.approx(1 - 1.5 / 5.5, abs=1e-3)


def test_classes_name_the_checkpoints_that_know_them(svc) -> None:
    status, body = call(svc, "GET", "/v1/classes")
    info = body["result"]
    assert status == 200 and "cat" in info["classes"]
    assert {"model": "sketch-rnn", "checkpoint": "sketch_rnn-cat.pt"} in info["by_class"]["cat"]
    assert all("classifier" not in c["checkpoint"] for cs in info["by_class"].values() for c in cs)


def test_complete_strokes_from_the_page(svc) -> None:
    params = {"class": "cat", "n": 2, "seed": 1, "checkpoint": svc.ckpt}
    strokes = np.array([[10, 10], [60, 10], [60, 60]]).tolist()
    status, body = call(svc, "POST", "/v1/complete", {"strokes": [strokes], "params": params})
    assert status == 200 and len(body["result"]["sketches"]) == 2

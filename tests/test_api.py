"""Control API over the Unix socket and HTTP: same answers, token guard, bad requests lose nothing."""

from __future__ import annotations

import json
import os
import socket
import stat
import urllib.error
import urllib.request

import pytest
from daemon_fakes import FakePlotter, config, fake_connect, passthrough, program

from plotter.daemon.api import DaemonError, UnixServer
from plotter.daemon.client import DaemonClient, find_daemon
from plotter.daemon.service import Service
from plotter.errors import JobError

TOKEN = "s3cret-token"


@pytest.fixture
def svc(tmp_path):
    plotters = {"p1": FakePlotter("p1")}
    plotters["p1"].plugged = False  # jobs stay queued: these tests look at the queue, not the drawing
    cfg = config(tmp_path, names=("p1",), http={"enabled": True, "port": 0, "token": TOKEN})
    s = Service(cfg, connect=fake_connect(plotters), prepare=passthrough).start()
    yield s
    s.stop()


def http(svc: Service, method: str, path: str, body: dict | None = None, token: str | None = TOKEN):
    port = svc.servers[1].port
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_socket_is_private_and_answers(svc: Service) -> None:
    path = svc.config.socket
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with DaemonClient(path) as c:
        job = c.call("submit", kind="gcode", gcode=program(3), device="p1")
        assert c.call("show", id=job["id"])["state"] == "queued"
        assert [j["id"] for j in c.call("list")] == [job["id"]]
        assert c.call("pause", id=job["id"])["state"] == "paused"
        assert c.call("resume", id=job["id"])["state"] == "queued"
        assert c.call("devices")[0]["name"] == "p1"
        with pytest.raises(JobError, match="no job 77"):
            c.call("show", id=77)
    assert find_daemon(path) is not None


def test_socket_survives_garbage(svc: Service) -> None:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(svc.config.socket))
    f = s.makefile("rwb")
    f.write(b"{not json\n")
    f.flush()
    reply = json.loads(f.readline())
    assert reply["ok"] is False and "not JSON" in reply["error"]
    f.write(json.dumps({"op": "ping"}).encode() + b"\n")
    f.flush()
    assert json.loads(f.readline())["ok"] is True
    s.close()


def test_http_requires_the_token(svc: Service) -> None:
    with DaemonClient(svc.config.socket) as c:
        c.call("submit", kind="gcode", gcode=program(2), device="p1")
    for token in (None, "wrong", TOKEN + "x", ""):
        code, body = http(svc, "GET", "/v1/jobs", token=token)
        assert code == 401 and body["ok"] is False and "token" in body["error"]
        code, body = http(svc, "POST", "/v1/jobs/1/cancel", {}, token=token)
        assert code == 401
    code, body = http(svc, "GET", "/v1/jobs")
    assert code == 200 and [j["state"] for j in body["result"]] == ["queued"]  # nothing lost or changed


def test_http_routes_match_the_socket(svc: Service) -> None:
    code, body = http(svc, "POST", "/v1/jobs", {"kind": "gcode", "gcode": program(2), "device": "p1"})
    assert code == 200
    job_id = body["result"]["id"]
    assert http(svc, "GET", f"/v1/jobs/{job_id}")[1]["result"]["state"] == "queued"
    assert http(svc, "POST", f"/v1/jobs/{job_id}/pause", {})[1]["result"]["state"] == "paused"
    assert http(svc, "POST", f"/v1/jobs/{job_id}/cancel", {})[1]["result"]["state"] == "cancelled"
    code, body = http(svc, "POST", f"/v1/jobs/{job_id}/retry", {"from_journal": False})
    assert body["result"]["state"] == "queued"
    assert http(svc, "GET", "/v1/jobs?state=queued")[1]["result"][0]["id"] == job_id
    assert http(svc, "GET", "/v1/devices")[1]["result"][0]["connected"] is False
    code, body = http(svc, "POST", "/v1/jobs", {"kind": "gcode", "gcode": "G1 X1 Q9"})
    assert code == 400 and body["type"] == "JobError"
    assert http(svc, "GET", "/v1/nothing")[0] == 404
    assert len(http(svc, "GET", "/v1/jobs")[1]["result"]) == 1


def test_second_daemon_on_the_same_socket_is_refused(svc: Service) -> None:
    with pytest.raises(DaemonError, match="already listening"):
        UnixServer(svc.config.socket, svc.handle).start()


def test_stale_socket_is_replaced(tmp_path) -> None:
    path = tmp_path / "d" / "s.sock"
    path.parent.mkdir()
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # a killed daemon leaves its socket file behind
    server = UnixServer(path, lambda req: {"ok": True, "result": "pong"})
    server.start()
    try:
        with DaemonClient(path) as c:
            assert c.call("ping") == "pong"
    finally:
        server.stop()
    assert not path.exists()
    assert find_daemon(path) is None


def test_a_client_that_vanishes_mid_request_leaves_no_traceback(tmp_path, capfd) -> None:
    """Ctrl-C on `plotter draw` while it waits on the daemon: the reply finds the socket reset (issue 15)."""
    import struct
    import threading

    answered = threading.Event()

    def slow(req: object) -> dict:  # a `wait` that returns after the client has gone
        gone.wait(5)
        answered.set()
        return {"ok": True, "result": "x" * 1_000_000}

    gone = threading.Event()
    path = tmp_path / "d" / "s.sock"
    server = UnixServer(path, slow)
    server.start()
    try:
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(path))
        s.sendall(b'{"op": "wait"}\n')
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        gone.set()
        assert answered.wait(5)
    finally:
        server.stop()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Error" not in err, err

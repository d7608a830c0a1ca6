"""The rows of tests/test_security.py's table: one function per attack, asserting what happens instead."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROWS: dict[str, Callable[..., None]] = {}


def row(fn: Callable[..., None]) -> Callable[..., None]:
    ROWS[fn.__name__.replace("_", "-")] = fn
    return fn


def _refused(reply: dict, *words: str) -> str:
    assert reply["ok"] is False, reply
    assert "\n" not in reply["error"] and len(reply["error"]) < 400, reply
    for w in words:
        assert w in reply["error"], reply
    return reply["error"]


# ------------------------------------------------------------------------------------------- off the bed
@row
def api_gcode_off_bed(svc, call, **_) -> None:
    err = _refused(call(svc, op="submit", kind="gcode", gcode="G21 G90\nG0 X5000 Y-3000"), "past the right")
    assert "4690.0 mm past the right" in err and "3000.0 mm past the bottom" in err
    assert svc.store.list() == []


@row
def api_gcode_origin_shift(svc, call, **_) -> None:
    _refused(call(svc, op="submit", kind="gcode", gcode="G92 X-5000\nG0 X0"), "G92")


@row
def api_gcode_relative_walk(svc, call, **_) -> None:
    steps = "\n".join(["G91"] + ["G0 X50"] * 8)  # 400 mm in 50 mm steps
    _refused(call(svc, op="submit", kind="gcode", gcode=steps), "90.0 mm past the right")


@row
def api_gcode_arc_bulge(svc, call, **_) -> None:  # ends at y=10, bulges to y=-90 on a Y-up bed
    prog = "G21 G90\nG0 X100 Y10\nG3 X300 Y10 I100 J0 F500"  # counter-clockwise: through 270 degrees
    _refused(call(svc, op="submit", kind="gcode", gcode=prog), "mm past the bottom")


def _off_bed_file(tmp_path: Path) -> Path:
    f = tmp_path / "far.gcode"
    f.write_text("G21 G90\nG0 X5000 Y-3000\nM2\n")
    return f


@row
def stream_off_bed(tmp_path, run, one_line, monkeypatch, **_) -> None:
    opened: list = []
    import plotter.grbl.transport as transport

    real = transport.open_port
    monkeypatch.setattr(transport, "open_port", lambda *a, **k: opened.append(a) or real(*a, **k))
    err = one_line(run("stream", str(_off_bed_file(tmp_path)), "--device", "grblsim://?clock=virtual"))
    assert "4690.0 mm past the right" in err and opened == []  # refused before the port was even opened


@row
def sim_off_bed(tmp_path, run, one_line, **_) -> None:
    assert "past the right" in one_line(run("sim", str(_off_bed_file(tmp_path))))


# ------------------------------------------------------------------------------------------- any file
@row
def api_profile_path(tmp_path, svc, call, **_) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("extends: grbl-servo\nbed: {width: 5000, height: 5000}\n")
    err = _refused(call(svc, op="submit", kind="draw", params={"class": "cat", "profile": str(big)}))
    assert "not one this daemon offers" in err and "5000" not in err.replace(str(big), "")


@row
def api_paper_custom(svc, call, **_) -> None:
    _refused(call(svc, op="submit", kind="draw", params={"class": "cat", "paper": "2000x2000"}), "papers")


@row
def api_checkpoint_oracle(tmp_path, svc, call, **_) -> None:
    def ask(path: str) -> str:
        return _refused(call(svc, op="submit", kind="draw", params={"class": "cat", "checkpoint": path}))

    there, gone = ask("/etc/passwd"), ask("/etc/nope")
    assert there.replace("passwd", "X") == gone.replace("nope", "X")  # the reply says nothing about the file
    assert svc.models.loaded() == []


@row
def api_class_path(svc, call, **_) -> None:
    _refused(call(svc, op="submit", kind="draw", params={"class": "../../etc/x"}), "not a class name")


@row
def model_cache_bounded(tmp_path, **_) -> None:
    from plotter.job.models import ModelCache

    cache = ModelCache(loader=lambda p: object(), max_models=2)
    for i in range(5):
        (tmp_path / f"m{i}.pt").write_bytes(b"x")
        cache.get(tmp_path / f"m{i}.pt")
    assert [Path(p).name for p in cache.loaded()] == ["m3.pt", "m4.pt"]


# -------------------------------------------------------------------------------- a cancel that stops
@row
def cli_never_edits_under_daemon(tmp_path, svc, run, one_line, monkeypatch, **_) -> None:
    import plotter.daemon.client as client

    job = svc.submit("gcode", {}, gcode="G1 X1 F100")["id"]
    svc.servers[0].stop()  # the daemon still holds the job file, but does not answer
    monkeypatch.setattr(client, "WAIT_FOR_DAEMON_S", 0.0)
    cfg = tmp_path / "d.yaml"
    cfg.write_text(json.dumps({"devices": {"p1": "fake://p1"}, "socket": str(svc.config.socket),
                               "store": str(svc.config.store)}))  # fmt: skip
    assert "holds the job file" in one_line(run("cancel", str(job), "-c", str(cfg)))
    assert svc.store.get(job).state == "queued"


@row
def backlog(svc, **_) -> None:
    assert svc.servers[0]._server.request_queue_size >= 128  # the running server's listen() backlog
    socks = []
    try:
        for _ in range(60):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(str(svc.config.socket))
            socks.append(s)
    finally:
        for s in socks:
            s.close()


@row
def starting_daemon(tmp_path, plotters, monkeypatch, **_) -> None:
    from daemon_fakes import config, fake_connect, passthrough

    import plotter.daemon.service as service

    cfg = config(tmp_path / "b", names=("p1",))
    s = service.Service(cfg, connect=fake_connect(plotters), prepare=passthrough)
    assert s.handle({"op": "ping"})["result"]["starting"] is True
    monkeypatch.setattr(service, "START_WAIT_S", 0.0)
    assert "starting" in s.handle({"op": "list"})["error"]
    s.start()
    try:
        assert s.handle({"op": "ping"})["result"]["starting"] is False and s.handle({"op": "list"})["ok"]
    finally:
        s.stop()


# ------------------------------------------------------------------------------------------- the socket
def _unix(path: Path):  # noqa: ANN202
    from plotter.daemon.api import UnixServer

    return UnixServer(path, lambda r: {"ok": True, "result": r})


@row
def socket_regular_file(tmp_path, **_) -> None:
    from plotter.errors import DaemonError

    d = tmp_path / "own"
    d.mkdir(mode=0o700)
    (d / "s.sock").write_text("precious")
    with pytest.raises(DaemonError, match="is a file, not a socket"):
        _unix(d / "s.sock").start()
    assert (d / "s.sock").read_text() == "precious"


@row
def socket_directory(tmp_path, **_) -> None:
    from plotter.errors import DaemonError

    (tmp_path / "own" / "s.sock").mkdir(parents=True)
    os.chmod(tmp_path / "own", 0o700)
    with pytest.raises(DaemonError, match="is a directory"):
        _unix(tmp_path / "own" / "s.sock").start()


@row
def socket_symlink(tmp_path, **_) -> None:
    from plotter.errors import DaemonError

    d = tmp_path / "own"
    d.mkdir(mode=0o700)
    (tmp_path / "target").write_text("x")
    (d / "s.sock").symlink_to(tmp_path / "target")
    with pytest.raises(DaemonError, match="symlink"):
        _unix(d / "s.sock").start()
    assert (d / "s.sock").is_symlink() and (tmp_path / "target").read_text() == "x"


@row
def socket_dir_writable(tmp_path, **_) -> None:
    from plotter.errors import DaemonError

    d = tmp_path / "shared"
    d.mkdir()
    os.chmod(d, 0o777)
    with pytest.raises(DaemonError, match="writable by other users"):
        _unix(d / "s.sock").start()


@row
def socket_dir_foreign(tmp_path, **_) -> None:
    from plotter.errors import DaemonError

    if os.geteuid() != 0:
        pytest.skip("needs root to give a directory to another user")
    d = tmp_path / "theirs"
    d.mkdir(mode=0o700)
    os.chown(d, 65534, 65534)
    with pytest.raises(DaemonError, match="owned by uid 65534"):
        _unix(d / "s.sock").start()


@row
def client_foreign_socket(tmp_path, **_) -> None:
    from plotter.daemon.client import find_daemon
    from plotter.errors import DaemonError

    if os.geteuid() != 0:
        pytest.skip("needs root to plant a socket as another user")
    d = tmp_path / "fake"
    d.mkdir(mode=0o755)
    os.chown(d, 65534, 65534)
    fake = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    fake.bind(str(d / "s.sock"))
    fake.listen(1)
    try:
        with pytest.raises(DaemonError, match="not talking"):
            find_daemon(d / "s.sock")
    finally:
        fake.close()


@row
def socket_default_dir(tmp_path, monkeypatch, **_) -> None:
    from plotter.daemon.config import default_runtime_dir

    for var in ("PLOTTER_RUNTIME_DIR", "RUNTIME_DIRECTORY", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(var, raising=False)
    assert not str(default_runtime_dir()).startswith("/tmp")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg"))
    assert default_runtime_dir() == tmp_path / "xdg" / "plotter"
    server = _unix(default_runtime_dir() / "plotterd.sock")
    server.start()
    try:
        assert os.stat(tmp_path / "xdg" / "plotter").st_mode & 0o777 == 0o700
        assert os.stat(tmp_path / "xdg" / "plotter" / "plotterd.sock").st_mode & 0o777 == 0o600
    finally:
        server.stop()


@row
def socket_replaced(tmp_path, **_) -> None:
    d = tmp_path / "own"
    server = _unix(d / "s.sock")
    server.start()
    (d / "s.sock").unlink()
    (d / "s.sock").write_text("someone else's")
    server.stop()
    assert (d / "s.sock").read_text() == "someone else's"


# ---------------------------------------------------------------------------------- unbounded input
@row
def json_deep(svc, raw_call, **_) -> None:
    replies = raw_call(svc.config.socket, b"[" * 100_000 + b"\n" + b'{"op": "ping"}\n')
    _refused(replies[0], "nested too deeply")
    assert replies[1]["ok"]  # the same connection still works


@row
def json_number(svc, raw_call, **_) -> None:
    request = b'{"op": "show", "id": ' + b"9" * 5000 + b"}\n"
    _refused(raw_call(svc.config.socket, request)[0], "5000 characters")


@row
def json_nan(svc, raw_call, **_) -> None:
    _refused(raw_call(svc.config.socket, b'{"op": "wait", "id": 1, "timeout": NaN}\n')[0], "NaN")


def _http(svc, head: bytes, body: bytes = b"") -> tuple[int, dict]:
    port = svc.servers[-1].port
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head + b"Authorization: Bearer t0k\r\n\r\n" + body)
        data = s.makefile("rb").read()
    status = int(data.split(b" ", 2)[1])
    body = data.split(b"\r\n\r\n", 1)[1]
    try:
        return status, json.loads(body or b"{}")
    except ValueError:  # the HTTP parser's own plain-text refusal
        return status, {"error": body.decode(errors="replace")}


@row
def http_deep(svc, **_) -> None:
    body = b"[" * 100_000
    status, reply = _http(svc, b"POST /v1/rpc HTTP/1.0\r\nContent-Length: %d\r\n" % len(body), body)
    assert status == 400 and "nested too deeply" in reply["error"]


@row
def http_negative_length(svc, **_) -> None:
    status, reply = _http(svc, b"POST /v1/jobs HTTP/1.0\r\nContent-Length: -1\r\n")
    assert status == 400, reply  # refused at once (the old server read forever, holding a thread)


def _web(limits=None):  # noqa: ANN001, ANN202
    from plotter.daemon.config import HttpConfig
    from plotter.daemon.limits import LIMITS
    from plotter.daemon.live import LiveHub
    from plotter.daemon.web import WebServer

    host = "::1" if limits == "v6" else "127.0.0.1"
    return WebServer(HttpConfig(True, host, 0, "t0k"), lambda r: {"ok": True, "result": {}}, LiveHub(),
                     LIMITS if limits in (None, "v6") else limits)  # fmt: skip


@row
def http_chunked(**_) -> None:  # a chunked body must not slip past the size limit
    from plotter.daemon.limits import Limits

    server = _web(Limits(max_request=1000))
    server.start()
    try:
        chunk = b'{"op": "ping", "pad": "' + b"x" * 5000 + b'"}'
        head = (b"POST /v1/rpc HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer t0k\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as s:
            s.sendall(head + b"%x\r\n" % len(chunk) + chunk + b"\r\n0\r\n\r\n")
            data = s.makefile("rb").read()
        assert int(data.split(b" ", 2)[1]) == 413, data[:200]
    finally:
        server.stop()


@row
def http_slowloris(**_) -> None:
    from plotter.daemon.limits import Limits

    server = _web(Limits(request_timeout_s=0.2))
    server.start()
    try:
        for head in (b"GET /v1/ping HTTP/1.1\r\nX-Slow: ",  # headers never finished
                     b"POST /v1/rpc HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0k\r\n"
                     b"Content-Length: 100\r\n\r\n{"):  # a body that never comes  # fmt: skip
            with socket.create_connection(("127.0.0.1", server.port), timeout=20) as s:
                s.sendall(head)
                data = s.recv(1000)
                while data and not data.endswith(b"}"):  # a 408 reply may come first; then the close
                    data = s.recv(1000)
                assert data == b"" or s.recv(100) == b"", data  # closed by the server, not our timeout
    finally:
        server.stop()


@row
def socket_slowloris(**_) -> None:
    from plotter.daemon.limits import LineReader, RequestTooSlow

    a, b = socket.socketpair()
    ticks = iter([0.0, 21.0])  # the first bytes arrive at t=0; the reader looks again at t=21
    reader = LineReader(a, request_timeout=20.0, clock=lambda: next(ticks))
    b.sendall(b'{"op": "pi')  # and the rest never comes
    with pytest.raises(RequestTooSlow):
        reader.read_line()
    a.close()
    b.close()


@row
def socket_huge_line(**_) -> None:
    from plotter.daemon.limits import LineReader
    from plotter.errors import InputLimitError

    a, b = socket.socketpair()
    threading.Thread(target=lambda: (b.sendall(b"x" * 5000), b.close()), daemon=True).start()
    with pytest.raises(InputLimitError, match="too large"):
        LineReader(a, max_bytes=1000).read_line()
    a.close()


@row
def connection_flood(svc, **_) -> None:
    from plotter.daemon.limits import ConnectionSlots

    svc.servers[0]._server.slots = ConnectionSlots(2)
    holders = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(2)]
    for h in holders:
        h.connect(str(svc.config.socket))
        h.sendall(b'{"op": "ping"}\n')
        assert json.loads(h.makefile("rb").readline())["ok"]  # served: it holds its slot now
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as third:
        third.settimeout(30)
        third.connect(str(svc.config.socket))
        _refused(json.loads(third.makefile("rb").readline()), "busy")
    for h in holders:
        h.close()


@row
def yaml_deep(tmp_path, run, one_line, **_) -> None:
    (tmp_path / "deep.yaml").write_text("bed: " + "[" * 10_000)
    assert "nested too deeply" in one_line(run("profiles", "validate", str(tmp_path / "deep.yaml")))


LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8)
)


@row
def yaml_laughs(tmp_path, run, one_line, **_) -> None:
    (tmp_path / "lol.yaml").write_text(LAUGHS)
    t0 = time.process_time()
    err = one_line(run("profiles", "validate", str(tmp_path / "lol.yaml")))
    assert "aliases" in err and len(err) < 200 and time.process_time() - t0 < 5
    (tmp_path / "d.yaml").write_text(LAUGHS)
    assert "aliases" in one_line(run("daemon", "--check", "-c", str(tmp_path / "d.yaml")))


@row
def points_page(**_) -> None:
    import numpy as np

    from plotter.errors import InputLimitError
    from plotter.gcode import load_profile
    from plotter.job.plan import plan_job
    from plotter.sketch import Sketch

    big = [Sketch([np.random.default_rng(i).random((40_000, 2))]) for i in range(25)]
    with pytest.raises(InputLimitError, match="the page has 1,000,000 points"):
        plan_job(big, load_profile("grbl-servo"))


@row
def check_matches_start(tmp_path, run, one_line, **_) -> None:
    for field, value, words in (("profile", "grbl-srvo", "did you mean"), ("paper", "a9", "unknown paper")):
        cfg = tmp_path / f"{field}.yaml"
        cfg.write_text(json.dumps({"devices": {"d": {"port": "grblsim://", field: value}},
                                   "socket": str(tmp_path / "r" / "s.sock")}))  # fmt: skip
        assert words in one_line(run("daemon", "--check", "-c", str(cfg)))
        assert words in one_line(run("daemon", "-c", str(cfg)))


@row
def http_ipv6(**_) -> None:
    from plotter.daemon.checks import check_bind
    from plotter.errors import PlotterError

    try:
        check_bind("::1")
        checks = True
    except PlotterError:
        checks = False
    server = _web("v6")
    try:
        server.start()
        starts = True
    except PlotterError:
        starts = False
    finally:
        server.stop()
    assert checks == starts


@row
def resume_cancelled(svc, **_) -> None:
    job = svc.submit("gcode", {}, gcode="G1 X1 F100")["id"]
    svc.store.journal_append(job, {"t": "start", "line": 0})
    svc.cancel(job)
    assert svc.show(job)["resumable"] and svc.resume(job)["state"] == "queued"

"""Issue 16's security table: what a hostile (or careless) local user tries, and what the daemon does instead.

Each row is one attack, asserted by its behaviour (refused with one line, nothing moved, nothing deleted,
nothing leaked); `ROWS` below is the table, one test per row. Every row failed on the code before issue 16.

| row | attack | now |
|---|---|---|
| api-gcode-off-bed | API G-code job `G0 X5000 Y-3000` on a 310 x 220 bed | refused, overflow per side |
| api-gcode-origin-shift | `G92 X-5000` then `G0 X0` (moves the origin, then "stays on the bed") | refused |
| api-gcode-relative-walk | `G91` steps that each stay small but add up past the edge | refused |
| api-gcode-arc-bulge | an arc whose ends are on the bed but whose bulge is not | refused |
| stream-off-bed | `plotter stream` of an off-bed file | exit 1 before a byte reaches the port |
| sim-off-bed | `plotter sim FILE` of an off-bed file | exit 1 |
| api-profile-path | a draw job naming its own profile file (5000 x 5000 bed) | refused, file never read |
| api-paper-custom | a draw job on a 2000 x 2000 paper | refused (papers are names the config allows) |
| api-checkpoint-oracle | checkpoint `/etc/passwd` vs a missing path | the same refusal: no oracle |
| api-class-path | class `../../etc/x` | refused |
| model-cache-bounded | many distinct checkpoints | at most `max_models` stay loaded |
| cli-never-edits-under-daemon | a daemon holds the job file, does not answer | `cancel` fails, job kept |
| backlog | 60 clients connect at once | all connect (backlog 128, was 5) |
| starting-daemon | a request while the daemon loads its models | ping says starting; others wait, then run |
| socket-regular-file | a regular file at the socket path | start refused, the file intact |
| socket-directory | a directory at the socket path | one-line error, no traceback |
| socket-symlink | a symlink at the socket path | refused, not followed, not deleted |
| socket-dir-writable | socket dir writable by others | refused |
| socket-dir-foreign | socket dir owned by another user (root only) | refused |
| client-foreign-socket | a socket another user planted (root only) | the client refuses to talk to it |
| socket-default-dir | default socket directory | $XDG_RUNTIME_DIR/plotter, else not /tmp; 0700, 0600 |
| socket-replaced | the socket swapped for a file while running | stop() leaves the file alone |
| json-deep / json-number / json-nan | 100k-deep `[[[[`, a 5000-digit number, NaN | one-line error |
| http-deep / http-negative-length / http-chunked | the same over HTTP; `Content-Length: -1` | 400, one line |
| http-slowloris | HTTP headers never finished | the server hangs up (request deadline) |
| socket-slowloris | a socket request sent a byte at a time | refused at the deadline (virtual clock) |
| socket-huge-line | a line over the size limit | "too large", connection closed |
| connection-flood | more connections than slots | "busy" reply, earlier ones unaffected |
| yaml-deep / yaml-laughs | YAML nested 10k deep; billion laughs (profile, config) | one short line |
| points-page | a page of 10^6 points | refused before planning |
| check-matches-start | `daemon --check` with misspelt profile / paper a9 | exit 1, as the start |
| http-ipv6 | `http.host: ::1` | --check and start agree |
| resume-cancelled | `resume` of a cancelled job marked resumable | queued from its journal |
"""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from daemon_fakes import FakePlotter, config, fake_connect, passthrough
from security_rows import ROWS  # noqa: F401 - the rows live next door to keep files short

from plotter.cli import main


@pytest.fixture
def plotters() -> dict:
    p = {"p1": FakePlotter("p1")}
    p["p1"].plugged = False  # jobs stay queued: these rows look at what is accepted
    return p


@pytest.fixture
def svc(tmp_path, plotters):
    from plotter.daemon.service import Service

    cfg = config(tmp_path, names=("p1",), http={"enabled": True, "port": 0, "token": "t0k"})
    s = Service(cfg, connect=fake_connect(plotters), prepare=passthrough).start()
    yield s
    s.stop()


def call(svc, **request) -> dict:
    """One request over the real Unix socket, raw JSON in and out."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(str(svc.config.socket))
        s.sendall(json.dumps(request).encode() + b"\n")
        return json.loads(s.makefile("rb").readline())


def raw_call(path: Path, data: bytes) -> list[dict]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(30)
        s.connect(str(path))
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        return [json.loads(line) for line in s.makefile("rb")]


def one_line(result) -> str:  # noqa: ANN001
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize("row", sorted(ROWS))
def test_security_row(row: str, tmp_path, svc, plotters, monkeypatch) -> None:
    def run(*args: str):  # noqa: ANN202
        return CliRunner().invoke(main, list(args))

    ROWS[row](tmp_path=tmp_path, svc=svc, plotters=plotters, monkeypatch=monkeypatch, call=call,
              raw_call=raw_call, one_line=one_line, run=run)  # fmt: skip


def test_the_table_lists_every_row() -> None:
    """The docstring table and ROWS agree, so the table cannot drift from what is tested."""
    doc = __doc__ or ""
    for row in ROWS:
        assert f"| {row} |" in doc or f"{row} /" in doc or f"/ {row} |" in doc, row


def test_rows_touch_no_network_and_finish(svc) -> None:
    """Sanity: the fixture's daemon answers after the hostile rows (each row gets a fresh one anyway)."""
    assert call(svc, op="ping")["ok"]
    assert os.stat(svc.config.socket).st_mode & 0o777 == 0o600
    assert stat.S_IMODE(os.stat(svc.config.socket.parent).st_mode) == 0o700
    assert threading.active_count() < 200

"""A real PostgreSQL server for the store tests: `$PLOTTER_TEST_PG_DSN` if set, else a throwaway cluster of
the Debian `postgresql` package (initdb into a temp dir, a Unix socket only, run as `postgres` when we are
root). Each test module gets a fresh database. Without psycopg or the server binaries the tests skip.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PORT = 54329  # only names the socket file: the cluster listens on no TCP port


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as 'postgres'")
    return [runuser, "-u", "postgres", "--", *cmd]


def _start_cluster() -> tuple[str, Path, Path]:
    initdbs = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not initdbs:
        pytest.skip("no PostgreSQL server binaries (Debian package 'postgresql')")
    bindir = Path(initdbs[-1]).parent
    base = Path(tempfile.mkdtemp(prefix="plotter-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    data = base / "data"
    run = dict(capture_output=True, text=True, timeout=120)
    initdb = [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
              "--locale=C", "--no-sync"]  # fmt: skip
    init = subprocess.run(_as_postgres(initdb), **run)
    if init.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"initdb failed: {init.stderr.strip()[:200]}")
    opts = f"-k {base} -c listen_addresses='' -p {PORT} -c fsync=off -c synchronous_commit=off"
    start = subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-w",
                                         "-l", str(base / "log"), "start"]), **run)  # fmt: skip
    if start.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"pg_ctl start failed: {start.stderr.strip()[:200]}")
    return f"postgresql://postgres@/postgres?host={base}&port={PORT}", base, bindir


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """DSN of a server we may create databases on."""
    pytest.importorskip("psycopg")
    dsn = os.environ.get("PLOTTER_TEST_PG_DSN")
    if dsn:
        yield dsn
        return
    dsn, base, bindir = _start_cluster()
    try:
        yield dsn
    finally:
        subprocess.run(_as_postgres([str(bindir / "pg_ctl"), "-D", str(base / "data"), "-m", "immediate",
                                     "-w", "stop"]), capture_output=True, timeout=60)  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


def with_database(dsn: str, name: str) -> str:
    """The same server URL naming database `name` instead."""
    head, sep, query = dsn.partition("?")
    return head.rsplit("/", 1)[0] + "/" + name + sep + query


@pytest.fixture(scope="module")
def pg_dsn(pg_server: str) -> Iterator[str]:
    """A fresh database for this test module (dropped at its end)."""
    import psycopg

    name = f"plotter_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(pg_server, autocommit=True, connect_timeout=10) as db:
            db.execute(f"CREATE DATABASE {name}")
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server reachable: {str(exc).strip()[:200]}")
    yield with_database(pg_server, name)
    with psycopg.connect(pg_server, autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def reset(dsn: str) -> None:
    """Empty the store's tables (one database per module; tests inside it start clean)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute("DROP TABLE IF EXISTS events, journal, jobs, plotter_meta CASCADE")

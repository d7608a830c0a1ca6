"""Where the control socket may live, and whom a client may believe.

Why: the socket is the daemon's whole authority (submit, cancel, unlock). The daemon puts it in a directory
it creates and owns with mode 0700 and refuses a directory or socket that someone else owns or may write; it
never deletes a file that is not its own stale socket. A client refuses a socket that another user planted
(a fake daemon would otherwise receive its jobs and answer with lies).
"""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

from plotter.errors import DaemonError


def _unsafe_dir(st: os.stat_result, owners: tuple[int, ...]) -> str | None:
    if not stat.S_ISDIR(st.st_mode):
        return "is not a directory"
    if st.st_uid not in owners:
        return f"is owned by uid {st.st_uid}, not by you (uid {os.geteuid()})"
    if st.st_mode & 0o022:
        return f"is writable by other users (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def prepare_socket_dir(directory: Path) -> None:
    """Create `directory` (mode 0700) if missing; refuse a symlink, or one not ours or writable by others."""
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        directory.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:  # someone raced us to it: check what is there now
            return prepare_socket_dir(directory)
        except OSError as exc:
            raise DaemonError(f"cannot create socket directory {directory}: {exc.strerror or exc}") from None
        os.chmod(directory, 0o700)  # whatever the umask
        return
    _check_dir_stat(directory, st)


def _check_dir_stat(directory: Path, st: os.stat_result) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise DaemonError(f"socket directory {directory} is a symlink; refusing it")
    problem = _unsafe_dir(st, (os.geteuid(),))
    if problem:
        raise DaemonError(f"socket directory {directory} {problem}; refusing it")


def inspect_socket_path(path: Path) -> None:
    """What `prepare_socket_dir` + `clear_stale_socket` would refuse, without creating or deleting anything
    (`plotter daemon --check`)."""
    try:
        _check_dir_stat(path.parent, os.lstat(path.parent))
    except FileNotFoundError:
        return
    _socket_stat(path)


def _socket_stat(path: Path) -> os.stat_result | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISSOCK(st.st_mode):
        kind = "a file"
        if stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode):
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "a symlink"
        raise DaemonError(f"{path} exists and is {kind}, not a socket; not touching it (choose another path)")
    if st.st_uid != os.geteuid():
        raise DaemonError(f"{path} is a socket owned by uid {st.st_uid}, not by you; refusing it")
    return st


def clear_stale_socket(path: Path) -> None:
    """Before binding: nothing there, or our own socket that no daemon answers on (removed). Anything else
    (a regular file, a directory, a symlink, another user's socket, a live daemon) is refused, not deleted."""
    if _socket_stat(path) is None:
        return
    if answers(path):
        raise DaemonError(f"a daemon is already listening on {path}")
    path.unlink()  # our stale socket: the daemon that made it was killed


def answers(path: Path, timeout: float = 1.0) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


def check_client_socket(path: Path) -> None:
    """Refuse to talk to a socket (or a socket directory) another user could have planted."""
    me = os.geteuid()
    try:
        sock_st = os.lstat(path)
        dir_st = os.stat(path.parent)
    except FileNotFoundError:
        return  # nothing there: no daemon
    if not stat.S_ISSOCK(sock_st.st_mode):
        raise DaemonError(f"{path} is not a socket; not talking to it")
    trusted = (me,) if me != 0 else (0, sock_st.st_uid)
    problem = _unsafe_dir(dir_st, trusted + (0,))
    if problem:
        raise DaemonError(f"socket directory {path.parent} {problem}; not talking to a daemon there")
    if sock_st.st_uid not in trusted:
        raise DaemonError(f"{path} is owned by uid {sock_st.st_uid}, not by you; not talking to it")

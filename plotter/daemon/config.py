"""`plotterd.yaml`: which devices the daemon owns, where its socket and job file live, and the HTTP switch.

Frozen dataclasses, validated on load so a typo is one clear `ConfigError` line at startup rather than a
worker that dies later. A simulated plotter is just a device whose port is a `grblsim://` URL.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from plotter.errors import InputLimitError, PlotterError
from plotter.limits import short

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


class ConfigError(PlotterError):
    """The daemon configuration file is missing or has an invalid field (the message names it)."""


def default_runtime_dir() -> Path:
    """Socket dir: $PLOTTER_RUNTIME_DIR, systemd's $RUNTIME_DIRECTORY, $XDG_RUNTIME_DIR/plotter, else
    `plotter/run` beside the job file (never a predictable /tmp name another user could create first)."""
    for var in ("PLOTTER_RUNTIME_DIR", "RUNTIME_DIRECTORY"):
        if os.environ.get(var):
            return Path(os.environ[var].split(":")[0])
    if os.environ.get("XDG_RUNTIME_DIR"):
        return Path(os.environ["XDG_RUNTIME_DIR"]) / "plotter"
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "plotter" / "run"


SYSTEM_SOCKET = Path("/run/plotter/plotterd.sock")  # where packaging/plotterd.service puts it


def default_socket() -> Path:
    """$PLOTTER_SOCKET; else the system service's socket if it exists; else the per-user runtime dir."""
    if os.environ.get("PLOTTER_SOCKET"):
        return Path(os.environ["PLOTTER_SOCKET"])
    if not os.environ.get("RUNTIME_DIRECTORY") and SYSTEM_SOCKET.exists():
        return SYSTEM_SOCKET
    return default_runtime_dir() / "plotterd.sock"


def default_store() -> Path:
    """$PLOTTER_STORE, systemd's $STATE_DIRECTORY, or $XDG_STATE_HOME/plotter/jobs.sqlite3."""
    if os.environ.get("PLOTTER_STORE"):
        return Path(os.environ["PLOTTER_STORE"])
    if os.environ.get("STATE_DIRECTORY"):
        return Path(os.environ["STATE_DIRECTORY"].split(":")[0]) / "jobs.sqlite3"
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "plotter" / "jobs.sqlite3"


@dataclass(frozen=True)
class DeviceConfig:
    """One plotter: a port (path or URL), its firmware profile and paper."""

    name: str
    port: str
    profile: str = "grbl-servo"
    paper: str = "a4"
    baudrate: int = 115200
    auto_resume: bool = True


@dataclass(frozen=True)
class HttpConfig:
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None


@dataclass(frozen=True)
class DaemonConfig:
    devices: tuple[DeviceConfig, ...]
    socket: Path = field(default_factory=default_socket)
    store: Path | str = field(default_factory=default_store)  # a file, or a postgresql:// URL (a farm)
    http: HttpConfig = HttpConfig()
    models: dict[str, str] = field(default_factory=dict)
    preload: tuple[str, ...] = ()
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    profiles: tuple[str, ...] = ()  # extra profile names a job may ask for (besides each device's own)
    papers: tuple[str, ...] = ()  # extra papers a job may ask for (besides the standard sizes)
    farm_host: str | None = None  # this daemon's name in a PostgreSQL farm (default: the host name)
    lease_s: float = 15.0  # a farm's running job is `interrupted` this long after its daemon stops renewing

    def device(self, name: str) -> DeviceConfig:
        for d in self.devices:
            if d.name == name:
                return d
        names = ", ".join(d.name for d in self.devices) or "none"
        raise ConfigError(f"no device {name!r} in the daemon config (devices: {names})")


def _check_keys(where: str, data: dict, allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed, key=str)
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _text(where: str, value: object) -> str:
    """A scalar written as text; a list or mapping where a name/path belongs is a typo, not `str([...])`."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or value == "":
        raise ConfigError(f"{where}: expected a non-empty string, got {_shape(value)}")
    return str(value)


def _int(where: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{where}: expected a whole number {lo}..{hi}, got {_shape(value)}")
    return value


def _bool(where: str, value: object) -> bool:
    if not isinstance(value, bool):  # a quoted "no" would otherwise be true
        raise ConfigError(f"{where}: expected true or false, got {_shape(value)}")
    return value


def _shape(value: object) -> str:
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    return short(value)


DEVICES_SHAPE = "devices: {NAME: {port: ..., profile: ..., paper: ...}} or a list of {name: NAME, port: ...}"


def _device_items(source: str, devices: object) -> list[tuple[object, object]]:
    """(name, fields) pairs from either accepted shape of `devices:`.

    Why a list too: `- name: desk` is how many YAML files (docker-compose, Home Assistant) list things, and
    "at least one device is required" for a list that holds one was a wrong message.
    """
    if isinstance(devices, dict) and devices:
        return list(devices.items())
    if isinstance(devices, list) and devices:
        items: list[tuple[object, object]] = []
        for i, entry in enumerate(devices):
            if not isinstance(entry, dict) or "name" not in entry:
                raise ConfigError(f"{source}: devices[{i}]: expected a mapping with a name; {DEVICES_SHAPE}")
            name = entry["name"]
            if any(name == seen for seen, _ in items):
                raise ConfigError(f"{source}: devices[{i}]: device name {name!r} is used twice")
            items.append((name, {k: v for k, v in entry.items() if k != "name"}))
        return items
    if devices in (None, {}, []):
        raise ConfigError(f"{source}: at least one device is required: {DEVICES_SHAPE}")
    raise ConfigError(f"{source}: devices is {_shape(devices)}; expected {DEVICES_SHAPE}")


def _device(name: object, data: object) -> DeviceConfig:
    if not isinstance(name, str) or not _NAME.match(name) or name == "any":
        raise ConfigError(f"devices: bad device name {name!r} (letters, digits, _ . -; not 'any')")
    if isinstance(data, str):
        data = {"port": data}
    if not isinstance(data, dict) or not data.get("port"):
        raise ConfigError(f"devices.{name}.port: required (a serial path or a grblsim:// URL)")
    where = f"devices.{name}"
    _check_keys(where, data, {"port", "profile", "paper", "baudrate", "auto_resume"})
    return DeviceConfig(
        name=name,
        port=_text(f"{where}.port", data["port"]),
        profile=_text(f"{where}.profile", data.get("profile", DeviceConfig.profile)),
        paper=_text(f"{where}.paper", data.get("paper", DeviceConfig.paper)),
        baudrate=_int(f"{where}.baudrate", data.get("baudrate", DeviceConfig.baudrate), 1, 10_000_000),
        auto_resume=_bool(f"{where}.auto_resume", data.get("auto_resume", True)),
    )


def _http(data: object) -> HttpConfig:
    if data in (None, False):
        return HttpConfig()
    if data is True:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("http: expected a mapping (enabled, host, port, token)")
    _check_keys("http", data, {"enabled", "host", "port", "token", "token_file"})
    token = data.get("token")
    if data.get("token_file"):
        token_file = Path(os.path.expanduser(_text("http.token_file", data["token_file"])))
        try:
            token = token_file.read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"http.token_file: {exc}") from None
    token = _text("http.token", token) if token else os.environ.get("PLOTTER_HTTP_TOKEN")
    enabled = _bool("http.enabled", data.get("enabled", True))
    host = _text("http.host", data.get("host", "127.0.0.1"))
    if enabled and not token:
        raise ConfigError(
            "http.token: required when HTTP is enabled (or set token_file / $PLOTTER_HTTP_TOKEN)"
        )
    # a LAN address is allowed when written here explicitly: the web server logs a warning when it starts
    port = _int("http.port", data.get("port", 8765), 0, 65535)  # 0: any free port (tests, ad-hoc runs)
    return HttpConfig(enabled=enabled, host=host, port=port, token=token)


def _farm(source: str, data: object) -> dict:
    """`farm: {host: NAME, lease_s: 15}`: this daemon's name among those sharing a PostgreSQL store."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: farm: expected a mapping (host, lease_s), got {_shape(data)}")
    _check_keys(f"{source}: farm", data, {"host", "lease_s"})
    out: dict = {}
    if data.get("host") is not None:
        out["farm_host"] = _text("farm.host", data["host"])
    if data.get("lease_s") is not None:
        try:
            out["lease_s"] = float(data["lease_s"])
        except (TypeError, ValueError):
            raise ConfigError(f"{source}: farm.lease_s must be a number of seconds") from None
        if not 0 < out["lease_s"] < 86400:
            raise ConfigError(f"{source}: farm.lease_s must be between 0 and 86400 seconds")
    return out


def parse_config(data: object, source: str = "config") -> DaemonConfig:
    """Build a `DaemonConfig` from parsed YAML; every error names the field."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    _check_keys(
        source,
        data,
        {"devices", "socket", "store", "http", "models", "preload", "backoff_initial_s", "backoff_max_s",
         "profiles", "papers", "farm"},
    )
    items = _device_items(source, data.get("devices"))
    models = data.get("models") or {}
    if not isinstance(models, dict):
        raise ConfigError(f"{source}: models: expected a mapping model name -> checkpoint path")
    preload = data.get("preload") or []
    if not isinstance(preload, list):
        raise ConfigError(f"{source}: preload: expected a list of model names, got {_shape(preload)}")
    kwargs: dict = {}
    for key in ("socket", "store"):
        if data.get(key):
            kwargs[key] = Path(os.path.expanduser(_text(key, data[key])))
    if str(data.get("store") or "").startswith(("postgresql://", "postgres://")):
        kwargs["store"] = _text("store", data["store"])  # a URL, not a path
    kwargs.update(_farm(source, data.get("farm")))
    try:
        backoff = (float(data.get("backoff_initial_s", 0.5)), float(data.get("backoff_max_s", 30.0)))
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: backoff_initial_s/backoff_max_s must be numbers") from None
    if not 0 < backoff[0] <= backoff[1] < float("inf"):
        raise ConfigError(f"{source}: backoff_initial_s must be > 0 and <= backoff_max_s (finite)")
    return DaemonConfig(
        devices=tuple(_device(k, v) for k, v in items),
        http=_http(data.get("http")),
        models={_text("models", k): _text(f"models.{k}", v) for k, v in models.items()},
        preload=tuple(_text("preload", m) for m in preload),
        backoff_initial_s=backoff[0],
        backoff_max_s=backoff[1],
        profiles=_names(source, "profiles", data.get("profiles")),
        papers=_names(source, "papers", data.get("papers")),
        **kwargs,
    )


def _names(source: str, key: str, value: object) -> tuple[str, ...]:
    """A list of names (profiles, papers) that API jobs may choose; never paths."""
    if value in (None, []):
        return ()
    if not isinstance(value, list):
        raise ConfigError(f"{source}: {key}: expected a list of names, got {_shape(value)}")
    names = tuple(_text(key, v) for v in value)
    for name in names:
        if "/" in name or name.endswith((".yaml", ".yml")):
            raise ConfigError(f"{source}: {key}: {name!r} is a path; list names (profiles live in "
                              f"$PLOTTER_PROFILE_PATH or firmware_profiles/)")
    return names


def load_config(path: str | Path | None) -> DaemonConfig:
    """Read `plotterd.yaml`; without a file, one simulated plotter named `sim` (to try the daemon)."""
    if path is None:
        return parse_config({"devices": {"sim": {"port": "grblsim://?clock=virtual"}}}, "default config")
    import yaml  # here, not at import: `plotter draw` talking to a daemon should start fast

    from plotter.limits import MAX_YAML_BYTES, load_yaml

    p = Path(path)
    try:
        with p.open("rb") as f:
            text = f.read(MAX_YAML_BYTES + 1).decode("utf-8-sig")
        data = load_yaml(text, f"config file {p}")
    except FileNotFoundError:
        raise ConfigError(f"config file {p} not found") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {p}: not a UTF-8 text file") from None
    except RecursionError:
        raise ConfigError(f"config file {p}: nested too deeply") from None
    except InputLimitError as exc:
        raise ConfigError(str(exc)) from None
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"config file {p}: {str(exc).splitlines()[0]}") from None
    return parse_config(data, str(p))

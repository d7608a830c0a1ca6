"""Pure parsers for every line GRBL 1.1 sends back, into frozen dataclasses.

Kept free of I/O so the streamer, the daemon and the tests share one reading of the protocol
(`doc/markdown/interface.md` of gnea/grbl). `parse_line` never raises: unknown text becomes `Unknown`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from plotter.grbl.codes import describe_alarm, describe_error

Vector = tuple[float, ...]


@dataclass(frozen=True)
class Ok:
    """`ok`: the oldest line in GRBL's buffer was parsed and planned (not necessarily executed)."""


@dataclass(frozen=True)
class Error:
    """`error:N`: the oldest line was refused and not executed."""

    code: int

    @property
    def text(self) -> str:
        return describe_error(self.code)


@dataclass(frozen=True)
class Alarm:
    """`ALARM:N`: GRBL locked itself; G-code is refused until `$X` or `$H`."""

    code: int

    @property
    def text(self) -> str:
        return describe_alarm(self.code)


@dataclass(frozen=True)
class Banner:
    """The welcome line: GRBL (re)started and lost everything in its buffers."""

    firmware: str
    version: str
    raw: str


@dataclass(frozen=True)
class Message:
    """`[MSG:...]` push message (e.g. `'$H'|'$X' to unlock`, `Caution: Unlocked`, `Pgm End`)."""

    text: str


@dataclass(frozen=True)
class GcState:
    """`[GC:...]` from `$G`: the parser's modal words, e.g. ('G0', 'G54', ..., 'F0.', 'S0.')."""

    words: tuple[str, ...]


@dataclass(frozen=True)
class Version:
    """`[VER:1.1h.20190825:string]` from `$I`."""

    version: str
    info: str


@dataclass(frozen=True)
class Options:
    """`[OPT:VL,15,128]` from `$I`: compile options, planner blocks and RX bytes (None on old builds)."""

    codes: str
    blocks: int | None
    rx_bytes: int | None


@dataclass(frozen=True)
class Help:
    """`[HLP:...]` from `$`."""

    commands: tuple[str, ...]


@dataclass(frozen=True)
class Parameter:
    """`[G54:0.000,0.000,0.000]`, `[TLO:0.000]`, `[PRB:0.000,0.000,0.000:1]` from `$#`."""

    name: str
    values: Vector
    success: bool | None = None


@dataclass(frozen=True)
class Echo:
    """`[echo:G1X0.540Y10.4F100]` (debug builds only)."""

    text: str


@dataclass(frozen=True)
class Setting:
    """`$n=value` from `$$`; value kept as text, `number_value` converts."""

    number: int
    value: str

    @property
    def number_value(self) -> float:
        return float(self.value)


@dataclass(frozen=True)
class StartupLine:
    """`$Nx=line` from `$N`."""

    index: int
    line: str


@dataclass(frozen=True)
class StartupResult:
    """`>G54G20:ok` or `>G54G20:error:N`: a startup block ran; not part of the stream's ok count."""

    line: str
    error: int | None


@dataclass(frozen=True)
class Status:
    """`<Run|MPos:...|FS:...|...>` real-time report; fields absent from the report are None."""

    state: str
    substate: int | None = None
    mpos: Vector | None = None
    wpos: Vector | None = None
    wco: Vector | None = None
    feed: float | None = None
    spindle: float | None = None
    planner_free: int | None = None
    rx_free: int | None = None
    line_number: int | None = None
    overrides: tuple[int, ...] | None = None
    pins: str | None = None
    accessories: str | None = None
    raw: str = ""

    @property
    def label(self) -> str:
        """`Hold:0` style, as GRBL prints it."""
        return self.state if self.substate is None else f"{self.state}:{self.substate}"

    def work_position(self, wco: Vector | None = None) -> Vector | None:
        """WPos = MPos - WCO (interface.md); `wco` from an earlier report when this one has none."""
        if self.wpos is not None:
            return self.wpos
        offset = self.wco if self.wco is not None else wco
        if self.mpos is None or offset is None:
            return None
        return tuple(m - o for m, o in zip(self.mpos, offset))


@dataclass(frozen=True)
class Unknown:
    """Anything else (line noise, a garbled byte): kept so the caller can log it."""

    raw: str


Response = (Ok | Error | Alarm | Banner | Message | GcState | Version | Options | Help | Parameter | Echo
            | Setting | StartupLine | StartupResult | Status | Unknown)

STATES = ("Idle", "Run", "Hold", "Jog", "Alarm", "Door", "Check", "Home", "Sleep")
_BANNER = re.compile(r"(Grbl\w*)\s+(\S+)\s+\[.*help.*\]")
_ERROR = re.compile(r"^error:(\d+)$")
_ALARM = re.compile(r"^ALARM:(\d+)$")
_SETTING = re.compile(r"^\$(\d+)=(.*)$")
_STARTUP = re.compile(r"^\$N(\d+)=(.*)$")
_STARTUP_RESULT = re.compile(r"^>(.*):(?:ok|error:(\d+))$")
_PARAM_NAMES = {"G54", "G55", "G56", "G57", "G58", "G59", "G28", "G30", "G92", "TLO", "PRB"}


def _vector(text: str) -> Vector:
    return tuple(float(v) for v in text.split(","))


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(float(v)) for v in text.split(","))


def parse_status(raw: str) -> Status | None:
    """Parse `<State|Field:v,v|...>`; None when the text is not a well-formed report."""
    if not (raw.startswith("<") and raw.endswith(">")):
        return None
    fields = raw[1:-1].split("|")
    state, _, sub = fields[0].partition(":")
    if state not in STATES:
        return None
    values: dict[str, object] = {"state": state, "raw": raw}
    try:
        values["substate"] = int(sub) if sub else None
        for field in fields[1:]:
            name, _, text = field.partition(":")
            _status_field(values, name, text)
    except ValueError:
        return None
    return Status(**values)  # type: ignore[arg-type]


def _status_field(values: dict[str, object], name: str, text: str) -> None:
    if name == "MPos":
        values["mpos"] = _vector(text)
    elif name == "WPos":
        values["wpos"] = _vector(text)
    elif name == "WCO":
        values["wco"] = _vector(text)
    elif name == "FS":
        feed, spindle = _vector(text)[:2]
        values["feed"], values["spindle"] = feed, spindle
    elif name == "F":
        values["feed"] = float(text)
    elif name == "Bf":
        values["planner_free"], values["rx_free"] = _ints(text)[:2]
    elif name == "Ln":
        values["line_number"] = int(text)
    elif name == "Ov":
        values["overrides"] = _ints(text)
    elif name == "Pn":
        values["pins"] = text
    elif name == "A":
        values["accessories"] = text
    # unknown fields (grblHAL extras) are ignored on purpose: assume any field may or may not exist


def _parse_bracket(body: str, raw: str) -> Response:
    kind, _, rest = body.partition(":")
    if kind == "MSG":
        return Message(rest)
    if kind == "GC":
        return GcState(tuple(rest.split()))
    if kind == "VER":
        version, _, info = rest.partition(":")
        return Version(version, info)
    if kind == "OPT":
        parts = rest.split(",")
        blocks = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        rx = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
        return Options(parts[0], blocks, rx)
    if kind == "HLP":
        return Help(tuple(rest.split()))
    if kind == "echo":
        return Echo(rest)
    if kind in _PARAM_NAMES:
        numbers, _, flag = rest.partition(":")
        try:
            return Parameter(kind, _vector(numbers), (flag == "1") if flag else None)
        except ValueError:
            return Unknown(raw)
    return Unknown(raw)


def parse_line(raw: str | bytes) -> Response:
    """Classify one line from GRBL (with or without its line ending)."""
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", errors="replace")
    line = raw.strip()
    if line == "ok":
        return Ok()
    if m := _ERROR.match(line):
        return Error(int(m.group(1)))
    if m := _ALARM.match(line):
        return Alarm(int(m.group(1)))
    if line.startswith("<"):
        return parse_status(line) or Unknown(line)
    if line.startswith("[") and line.endswith("]"):
        return _parse_bracket(line[1:-1], line)
    if line.startswith(">"):
        if m := _STARTUP_RESULT.match(line):
            return StartupResult(m.group(1), int(m.group(2)) if m.group(2) else None)
        return Unknown(line)
    if m := _STARTUP.match(line):
        return StartupLine(int(m.group(1)), m.group(2))
    if m := _SETTING.match(line):
        return Setting(int(m.group(1)), m.group(2))
    if m := _BANNER.search(line):
        return Banner(m.group(1), m.group(2), line)
    return Unknown(line)


def parse_gc_state(state: GcState) -> dict[str, str]:
    """Modal groups of a `[GC:]` line, e.g. {'motion': 'G0', 'units': 'G21', 'feed': '0.', ...}."""
    groups = {"G0": "motion", "G1": "motion", "G2": "motion", "G3": "motion", "G38.2": "motion",
              "G80": "motion", "G54": "wcs", "G55": "wcs", "G56": "wcs", "G57": "wcs", "G58": "wcs",
              "G59": "wcs", "G17": "plane", "G18": "plane", "G19": "plane", "G20": "units", "G21": "units",
              "G90": "distance", "G91": "distance", "G93": "feed_mode", "G94": "feed_mode",
              "M0": "program", "M1": "program", "M2": "program", "M30": "program",
              "M3": "spindle", "M4": "spindle", "M5": "spindle", "M7": "coolant", "M8": "coolant",
              "M9": "coolant"}
    out: dict[str, str] = {}
    for word in state.words:
        if word in groups:
            out[groups[word]] = word
        elif word[:1] in "TFS":
            out[{"T": "tool", "F": "feed", "S": "speed"}[word[0]]] = word[1:]
    return out

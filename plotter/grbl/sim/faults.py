"""Fault injection for the simulated GRBL: what goes wrong on a real USB serial plotter, on cue.

Spec strings (URL `fault=` parameter, repeatable or comma-separated; `--fault` on `plotter sim`):

    drop@byte:N         the N-th host->GRBL byte (1-based, real-time bytes included) is lost on the wire
    garble@byte:N       the N-th host->GRBL byte arrives with bit 2 flipped (garble:0x41@byte:N sets the byte)
    error:C@line:K      GRBL answers error:C to the K-th line it reads (1-based, `$` lines included)
    alarm:A@line:K      ALARM:A (default 1, hard limit) when the K-th line is read; also alarm:A@t:S
    reset@line:K        the machine resets itself (ALARM:3 if moving, then the banner); also reset@t:S
    vanish@line:K       the port disappears (read/write raise serial.SerialException); also vanish@t:S
"""

from __future__ import annotations

from dataclasses import dataclass

from plotter.errors import DeviceError

KINDS = ("drop", "garble", "error", "alarm", "reset", "vanish")
_WHEN = {"drop": ("byte",), "garble": ("byte",), "error": ("line",), "alarm": ("line", "t"),
         "reset": ("line", "t"), "vanish": ("line", "t")}  # fmt: skip


@dataclass
class Fault:
    kind: str
    when: str  # "byte", "line" or "t"
    at: float
    arg: int | None = None
    fired: bool = False

    def __str__(self) -> str:
        arg = "" if self.arg is None else f":{self.arg}"
        at = f"{self.at:g}"
        return f"{self.kind}{arg}@{self.when}:{at}"


def parse_fault(spec: str) -> Fault:
    """One spec string -> Fault; a DeviceError names what is wrong."""
    text = spec.strip()
    head, sep, when = text.partition("@")
    kind, _, arg_text = head.partition(":")
    if kind not in KINDS:
        raise DeviceError(f"unknown fault {text!r}: kind must be one of {', '.join(KINDS)}")
    if not sep:
        raise DeviceError(f"fault {text!r} needs a trigger, e.g. {kind}@{_WHEN[kind][0]}:10")
    wkind, _, wvalue = when.partition(":")
    if wkind not in _WHEN[kind]:
        raise DeviceError(f"fault {text!r}: {kind} triggers on {' or '.join(_WHEN[kind])}, not {wkind!r}")
    try:
        at = float(wvalue)
        arg = int(arg_text, 0) if arg_text else None
    except ValueError:
        raise DeviceError(f"fault {text!r}: trigger and argument must be numbers") from None
    if at < (0 if wkind == "t" else 1):
        raise DeviceError(f"fault {text!r}: trigger must be >= 1 for lines and bytes, >= 0 for time")
    if kind == "error" and arg is None:
        raise DeviceError(f"fault {text!r}: say which error, e.g. error:20@line:{int(at)}")
    if kind == "alarm" and arg is None:
        arg = 1
    if kind == "garble" and arg is not None and not 0 <= arg <= 255:
        raise DeviceError(f"fault {text!r}: a garbled byte must be 0..255")
    return Fault(kind, wkind, at, arg)


def parse_faults(specs: str | list[str] | tuple[str, ...] | None) -> list[Fault]:
    if not specs:
        return []
    if isinstance(specs, str):
        specs = [specs]
    return [parse_fault(s) for spec in specs for s in spec.split(",") if s.strip()]


class FaultPlan:
    """The faults of one machine, looked up by byte index, line number or time."""

    def __init__(self, faults: list[Fault] | None = None) -> None:
        self.faults = list(faults or [])

    def add(self, fault: Fault | str) -> Fault:
        f = parse_fault(fault) if isinstance(fault, str) else fault
        self.faults.append(f)
        return f

    def wire(self, index: int, byte: int) -> int | None:
        """The byte the machine receives as its `index`-th (1-based); None when it is dropped."""
        for f in self.faults:
            if f.when == "byte" and not f.fired and int(f.at) == index:
                f.fired = True
                if f.kind == "drop":
                    return None
                return f.arg if f.arg is not None else byte ^ 0x04
        return byte

    def at_line(self, k: int) -> list[Fault]:
        hits = [f for f in self.faults if f.when == "line" and not f.fired and int(f.at) == k]
        for f in hits:
            f.fired = True
        return hits

    def next_time(self) -> float:
        times = [f.at for f in self.faults if f.when == "t" and not f.fired]
        return min(times) if times else float("inf")

    def due(self, t: float) -> list[Fault]:
        hits = [f for f in self.faults if f.when == "t" and not f.fired and f.at <= t]
        for f in hits:
            f.fired = True
        return hits

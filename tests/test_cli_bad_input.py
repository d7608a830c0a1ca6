"""Bad input anywhere in the CLI: one `Error:` line, a non-zero exit, never a traceback, nothing lost.

One table, every command: missing/empty/garbage files, truncated and hostile checkpoints, malformed profiles,
unknown classes and profiles, geometry off the paper or bed, bad simulator URLs and a port that vanishes
mid-job. Exit 1 is an input the command could not use; exit 2 is click's usage error (an option value that
is malformed on the command line itself, shown with the usage line).
"""

from __future__ import annotations

import importlib.util
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from tiny_models import one_torch_thread, save, tiny_rnn, tiny_transformer  # noqa: F401 (autouse fixture)

from plotter.cli import main

PROGRAM = "\n".join(["G21 G90", "M5", "G4 P0.1", "G0 X10 Y10", "M3 S1000", "G4 P0.1", "G1 X20 Y10 F3000",
                     "G1 X20 Y20", "M5", "G0 X0 Y0", "M2"]) + "\n"
HAVE_SIM = importlib.util.find_spec("plotter.grbl.protocol_grblsim") is not None


class Hostile:
    """Unpickling this runs code (it creates `path`): a checkpoint holding it must be refused unopened."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.path,))


def _npy_header(descr: str) -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": descr, "fortran_order": False, "shape": (2,)})
    return out.getvalue()


def _npz(path: Path, member: bytes) -> None:
    """A zip that is a fine .npz on the outside, holding one `test.npy` with these bytes."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("test.npy", member)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every bad (and a few good) input file the table refers to, made once."""
    d = tmp_path_factory.mktemp("bad")
    torch.set_num_threads(1)
    good = save(tiny_rnn(["cat"]), d / "rnn.pt")
    save(tiny_transformer(["cat", "dog"]), d / "tf.pt")
    data = good.read_bytes()
    (d / "trunc.pt").write_bytes(data[: len(data) // 2])
    (d / "empty.pt").write_bytes(b"")
    garbage = bytes(range(256)) * 8  # deterministic, not UTF-8, not a zip, not a pickle
    (d / "garbage.pt").write_bytes(garbage)
    torch.save({"model": Hostile(d / "PWNED")}, d / "hostile.pt")
    torch.save({"weights": torch.zeros(2)}, d / "foreign.pt")
    (d / "ok.gcode").write_text(PROGRAM)
    (d / "empty.gcode").write_text("; only a comment\n")
    for ext in ("gcode", "json", "ndjson", "npz", "svg", "yaml"):
        (d / f"garbage.{ext}").write_bytes(garbage)
    (d / "late.ndjson").write_bytes(b'{"drawing": [[[0, 1], [0, 1]]]}\n\xff\xfe\n')  # binary on line 2
    (d / "deep.json").write_text("[" * 100_000)
    (d / "deep.ndjson").write_text("[" * 100_000 + "\n")
    (d / "bigint.json").write_text('{"format":"plotter-sketch","version":1,'
                                   '"strokes":[[[' + "1" * 5000 + ",0]]]}")
    _npz(d / "intpickle.npz", _npy_header("|O") + pickle.dumps(7, protocol=2))
    _npz(d / "badheader.npz", b"\x93NUMPY\x01\x00\x10\x00{'descr': (    \n")
    (d / "empty.json").write_text("")
    (d / "empty.ndjson").write_text("")
    (d / "cat.json").write_text('{"format":"plotter-sketch","version":1,"unit":"px","strokes":'
                                '[[[0,0],[60,0],[60,60],[0,60]],[[10,10],[50,50]]]}')
    (d / "bad.yaml").write_text("name: x\nfirmware: [grbl\n  bed: {width: 1\n")
    (d / "badfield.yaml").write_text("name: x\nfirmware: grbl\nbed: {width: -5, height: 100}\n")
    (d / "list.yaml").write_text("- 1\n- 2\n")
    (d / "empty.yaml").write_text("")
    (d / "array.journal").write_text("[1, 2]\n")
    (d / "badrec.journal").write_text('{"t":"begin","lines":11,"digest":"x"}\n{"t":"ack","acked":"x"}\n{}\n')
    (d / "devstr.yaml").write_text("devices: grblsim://\n")
    (d / "devlist.yaml").write_text("devices:\n  - grblsim://\n")
    svg = '<svg xmlns="http://www.w3.org/2000/svg">{}</svg>'
    (d / "klingon.svg").write_text('<?xml version="1.0" encoding="klingon"?>' + svg.format(""))
    laughs = "".join(f'<!ENTITY l{i + 1} "{f"&l{i};" * 10}">' for i in range(9))
    bomb = f'<!DOCTYPE svg [<!ENTITY l0 "a">{laughs}]>'  # a billion a's once expanded
    (d / "laughs.svg").write_text(bomb + svg.format("<desc>&l9;</desc>"))
    (d / "deep.svg").write_text(svg.format("<g>" * 100_000 + '<path d="M0 0 L1e999 0"/>' + "</g>" * 100_000))
    (d / "nan.svg").write_text(svg.format('<g transform="matrix(1 0 0 1 1e400 0)"><line x2="1"/></g>'))
    return d


# (arguments with {d} for the files' folder, exit status, words the one Error line must hold)
CASES = [
    # checkpoints: missing, empty, garbage, truncated, hostile pickle, someone else's torch file, a directory
    ("classes {d}/missing.pt", 1, "does not exist"),
    ("classes {d}/empty.pt", 1, "not a readable checkpoint"),
    ("classes {d}/garbage.pt", 1, "not a readable checkpoint"),
    ("classes {d}/trunc.pt", 1, "truncated"),
    ("classes {d}/hostile.pt", 1, "objects other than weights"),
    ("classes {d}/foreign.pt", 1, "not a plotter checkpoint"),
    ("classes {d}", 1, "is a directory"),
    ("sample --checkpoint {d}/missing.pt", 1, "does not exist"),
    ("sample --checkpoint {d}/trunc.pt", 1, "truncated"),
    ("sample --checkpoint {d}/hostile.pt", 1, "objects other than weights"),
    ("sample --checkpoint {d}", 1, "is a directory"),
    ("complete {d}/cat.json --checkpoint {d}/hostile.pt", 1, "objects other than weights"),
    ("morph --checkpoint {d}/garbage.pt", 1, "not a readable checkpoint"),
    ("draw --class cat --checkpoint {d}/hostile.pt --dry-run -y --no-daemon -o {d}/o.gcode", 1,
     "objects other than weights"),
    ("evaluate {d}/hostile.pt --data {d}", 1, "objects other than weights"),
    # unknown class, bad sampling values
    ("sample --checkpoint {d}/rnn.pt --class dog", 1, "unknown class 'dog'; it knows: cat"),
    ("sample --checkpoint {d}/tf.pt --model transformer --class cat,zebra", 1, "unknown class 'zebra'"),
    ("sample --checkpoint {d}/tf.pt --model transformer", 1, "pick one with --class"),
    ("sample --checkpoint {d}/rnn.pt --temperature nan", 1, "temperature must be in (0, 5]"),
    ("complete {d}/cat.json --checkpoint {d}/rnn.pt --class dog", 1, "unknown class 'dog'"),
    ("complete {d}/cat.json --checkpoint {d}/rnn.pt --size nan", 1, "--size must be a positive number"),
    ("morph --checkpoint {d}/rnn.pt --class dog", 1, "unknown class 'dog'"),
    ("draw --class dog --checkpoint {d}/rnn.pt --dry-run -y --no-daemon -o {d}/o.gcode", 1, "unknown class"),
    # sketch files: missing, empty, garbage, out-of-range index
    ("animate {d}/missing.gcode", 1, "does not exist"),
    ("animate {d}/empty.gcode --gif {d}/o.gif", 1, "nothing would be drawn"),
    ("animate {d}/garbage.gcode --gif {d}/o.gif", 1, "line 1: cannot read"),
    ("animate {d}/garbage.json --gif {d}/o.gif", 1, "not a UTF-8 text file"),
    ("animate {d}/garbage.svg --gif {d}/o.gif", 1, "not well-formed XML"),
    ("animate {d}/garbage.npz --gif {d}/o.gif", 1, "not a readable .npz"),
    ("animate {d}/empty.ndjson --gif {d}/o.gif", 1, "holds no drawings"),
    ("animate {d}/garbage.ndjson --gif {d}/o.gif", 1, "garbage.ndjson: not a UTF-8 text file"),
    ("animate {d}/late.ndjson --gif {d}/o.gif", 1, "late.ndjson line 2: not a UTF-8 text file"),
    ("animate {d}/deep.json --gif {d}/o.gif", 1, "not usable JSON (maximum recursion depth"),
    ("animate {d}/deep.ndjson --gif {d}/o.gif", 1, "deep.ndjson line 1: not usable JSON"),
    ("animate {d}/bigint.json --gif {d}/o.gif", 1, "not usable JSON (Exceeds the limit (4300 digits)"),
    ("animate {d}/intpickle.npz --gif {d}/o.gif", 1, "test.npy holds a pickled int, not an array"),
    ("animate {d}/badheader.npz --gif {d}/o.gif", 1, "test.npy is not a readable .npy array"),
    ("animate {d}/ok.gcode --gif {d}/no/such/dir/o.gif", 1, "cannot write"),
    ("export {d}/klingon.svg -o {d}/o.gcode", 1, "klingon.svg: unreadable XML encoding (unknown encoding"),
    ("complete {d}/laughs.svg --checkpoint {d}/rnn.pt", 1, "laughs.svg: declares XML entities"),
    ("export {d}/deep.svg -o {d}/o.gcode", 1, "deep.svg: path data: number out of range: 1e999"),
    ("animate {d}/nan.svg --gif {d}/o.gif", 1, "nan.svg: number out of range in '1 0 0 1 1e400 0'"),
    ("complete {d}/missing.json --checkpoint {d}/rnn.pt", 1, "does not exist"),
    ("complete {d}/empty.json --checkpoint {d}/rnn.pt", 1, "not valid JSON"),
    ("complete {d}/cat.json --checkpoint {d}/rnn.pt --index 5", 1, "index 5 is out of range"),
    ("morph {d}/cat.json {d}/missing.json --checkpoint {d}/rnn.pt", 1, "no such file"),
    ("morph {d}/cat.json {d} --checkpoint {d}/rnn.pt", 1, "is a directory"),
    ("export {d}/missing.json -o {d}/o.gcode", 1, "no such file"),
    ("export {d}/empty.json -o {d}/o.gcode", 1, "not valid JSON"),
    ("export {d}/garbage.npz -o {d}/o.gcode", 1, "not a readable .npz"),
    ("export {d}/hostile.pt -o {d}/o.gcode", 1, "no sketch arrays"),
    ("export {d}/garbage.ndjson -o {d}/o.gcode", 1, "garbage.ndjson: not a UTF-8 text file"),
    ("complete {d}/garbage.ndjson --checkpoint {d}/rnn.pt", 1, "garbage.ndjson: not a UTF-8 text file"),
    ("draw --class cat --checkpoint {d}/rnn.pt --complete {d}/garbage.ndjson --dry-run -y --no-daemon "
     "-o {d}/o.gcode", 1, "garbage.ndjson: not a UTF-8 text file"),
    ("draw --class cat --checkpoint {d}/rnn.pt --complete {d}/missing.json --dry-run -y --no-daemon", 1,
     "file {d}/missing.json does not exist"),
    ("draw --class cat --checkpoint {d}/rnn.pt --complete {d} --dry-run -y --no-daemon", 1, "is a directory"),
    # training data: missing, binary
    ("train sketch-rnn --data {d}/missing --class cat", 1, "data {d}/missing does not exist"),
    ("train sketch-rnn --data {d}/garbage.ndjson --class cat --steps 1", 1, "not a UTF-8 text file"),
    # profiles: malformed YAML, a bad field, not a mapping, empty, binary, unknown name, missing file
    ("profiles validate {d}/bad.yaml", 1, "invalid YAML at line 3"),
    ("profiles validate {d}/badfield.yaml", 1, "bed.width: must be a number > 0"),
    ("profiles validate {d}/list.yaml", 1, "must be a YAML mapping"),
    ("profiles validate {d}/empty.yaml", 1, "must be a YAML mapping"),
    ("profiles validate {d}/garbage.yaml", 1, "not a UTF-8 text file"),
    ("profiles show nosuchprofile", 1, "unknown profile 'nosuchprofile' (known:"),
    # daemon config: binary, not a mapping, devices in a shape that is neither accepted form
    ("daemon --config {d}/garbage.yaml --check", 1, "garbage.yaml: not a UTF-8 text file"),
    ("daemon --config {d}/list.yaml --check", 1, "expected a mapping at the top level"),
    ("daemon --config {d}/devstr.yaml --check", 1, "devices is 'grblsim://'; expected devices: {NAME:"),
    ("daemon --config {d}/devlist.yaml --check", 1, "devices[0]: expected a mapping with a name"),
    ("export {d}/cat.json -o {d}/o.gcode --profile {d}/missing.yaml", 1, "does not exist"),
    ("export {d}/cat.json -o {d}/o.gcode --profile {d}/bad.yaml", 1, "invalid YAML"),
    ("stream {d}/ok.gcode -d grblsim:// --profile nosuchprofile", 1, "unknown profile"),
    ("draw --class cat --checkpoint {d}/rnn.pt --profile {d}/bad.yaml --dry-run -y --no-daemon", 1,
     "invalid YAML"),
    # geometry that does not fit: huge margin, tiny paper, off the bed, too big, non-finite numbers
    ("export {d}/cat.json -o {d}/o.gcode --margin 500mm", 1, "leave no room on 297 x 210 mm paper"),
    ("export {d}/cat.json -o {d}/o.gcode --paper 1x1mm", 1, "leave no room on 1 x 1 mm paper"),
    ("export {d}/cat.json -o {d}/o.gcode --paper 5000x5000mm", 1, "does not fit the 310 x 220 mm bed"),
    ("export {d}/cat.json -o {d}/o.gcode --offset 1000,1000", 1, "overflows by"),
    ("export {d}/cat.json -o {d}/o.gcode --size 1000mm", 1, "does not fit"),
    ("export {d}/cat.json -o {d}/o.gcode --grid 100000x100000", 1, "leaves no room"),
    ("export {d}/cat.json -o {d}/o.gcode --margin 1e400", 2, "not a finite length"),
    ("export {d}/cat.json -o {d}/o.gcode --rotate nan", 2, "not a finite number"),
    ("export {d}/cat.json -o {d}/o.gcode --paper 0x0mm", 2, "positive width and height"),
    ("export {d}/cat.json -o {d}/o.gcode --margin -5", 2, "must be at least 0 mm"),
    ("draw --class cat --checkpoint {d}/rnn.pt --paper 1x1mm --seed 1 --dry-run -y --no-daemon "
     "-o {d}/o.gcode", 1, "leave no room"),
    ("export {d}/cat.json -o {d}/no/such/dir/o.gcode", 1, "cannot write G-code"),
    # G-code files for stream and sim
    ("stream {d}/missing.gcode -d grblsim://", 1, "does not exist"),
    ("stream {d} -d grblsim://", 1, "is a directory"),
    ("stream {d}/empty.gcode -d grblsim://", 1, "has no G-code lines"),
    ("stream {d}/garbage.gcode -d grblsim://", 1, "not a text G-code file"),
    ("stream {d}/ok.gcode -d grblsim:// -q --resume {d}/missing.journal", 1, "does not exist"),
    ("stream {d}/ok.gcode -d grblsim:// -q --resume {d}/garbage.gcode", 1, "not a journal"),
    ("stream {d}/ok.gcode -d grblsim:// -q --resume {d}/cat.json", 1, "journal has no job"),
    ("stream {d}/ok.gcode -d grblsim:// -q --resume {d}/array.journal", 1, "(line 1 is not a record object)"),
    ("stream {d}/ok.gcode -d grblsim:// -q --resume {d}/badrec.journal", 1, "record 2 ('ack') is malformed"),
    ("sim {d}/missing.gcode", 1, "does not exist"),
    ("sim {d}/empty.gcode", 1, "has no G-code lines"),
    ("sim {d}/garbage.gcode", 1, "not a text G-code file"),
    ("sim {d}/ok.gcode --fault bogus", 1, "unknown fault 'bogus'"),
    ("sim {d}/ok.gcode --set 110=-5", 1, "GRBL would answer error:4"),
    ("sim --pty --speed inf", 2, "finite number > 0"),
    ("sim {d}/ok.gcode --trace {d}/t.txt", 2, "the trace is .svg or .png"),
    # ports: missing, a directory, bad simulator URLs (none of them "busy")
    ("stream {d}/ok.gcode -d /dev/ttyNONE -q", 1, "no device at /dev/ttyNONE"),
    ("stream {d}/ok.gcode -d {d} -q", 1, "is a directory, not a serial port"),
    ("stream {d}/ok.gcode -d nope://x -q", 1, "unknown URL scheme"),
    ("stream {d}/ok.gcode -d grblsim://?rx=0 -q", 1, "rx >= 2"),
    ("stream {d}/ok.gcode -d grblsim://?blocks=0 -q", 1, "blocks >= 1"),
    ("stream {d}/ok.gcode -d grblsim://?clock=sundial -q", 1, "clock must be virtual or realtime"),
    ("stream {d}/ok.gcode -d grblsim://?speed=nan -q", 1, "speed must be a finite number > 0"),
    ("stream {d}/ok.gcode -d grblsim://?nosuch=1 -q", 1, "unknown parameter 'nosuch' (known: rx"),
    ("stream {d}/ok.gcode -d grblsim://?fault=bogus -q", 1, "unknown fault 'bogus'"),
    ("stream {d}/ok.gcode -d grblsim:// --baud 0 -q", 2, "--baud"),
    ("draw --class cat --checkpoint {d}/rnn.pt -d /dev/ttyNONE -y --no-daemon --seed 1 -o {d}/o.gcode", 1,
     "no device at /dev/ttyNONE"),
]


def _run(args: list[str]):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, args, input="")


@pytest.mark.skipif(not HAVE_SIM, reason="the grblsim:// handler is not in this tree")
@pytest.mark.parametrize(("template", "code", "words"), CASES)
def test_bad_input_is_one_error_line(files: Path, template: str, code: int, words: str) -> None:
    result = _run([a.replace("{d}", str(files)) for a in template.split()])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    assert words.replace("{d}", str(files)) in errors[0], result.output
    assert result.exit_code == code, result.output
    assert not (files / "PWNED").exists(), "loading a checkpoint ran code from its pickle"


@pytest.mark.skipif(not HAVE_SIM, reason="the grblsim:// handler is not in this tree")
@pytest.mark.parametrize("fault", ["fault=vanish@line:6", "faults=vanish@line:6", "fault=vanish@t:0.3"])
def test_port_that_vanishes_mid_job_loses_nothing(files: Path, tmp_path: Path, fault: str) -> None:
    """One line naming the lost port and the resume command; the journal holds what GRBL acknowledged."""
    journal = tmp_path / "j"
    result = _run(["stream", str(files / "ok.gcode"), "-d", f"grblsim://?{fault}", "-q", "--journal",
                   str(journal)])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "serial port lost" in errors[0], result.output
    assert f"resume with --resume {journal}" in errors[0]
    records = journal.read_text().splitlines()
    assert '"vanished"' in records[-1], records  # the ending is on disk for --resume to read
    resumed = _run(["stream", str(files / "ok.gcode"), "-d", "grblsim://", "-q", "--resume", str(journal),
                    "--yes"])
    assert resumed.exit_code == 0, resumed.output
    assert "resuming at line" in resumed.output or "nothing to do" in resumed.output, resumed.output


@pytest.mark.skipif(not HAVE_SIM, reason="the grblsim:// handler is not in this tree")
@pytest.mark.parametrize("fault", ["fault=vanish@t:0", "fault=vanish@line:1"])
def test_status_of_a_port_that_vanishes_is_offline(fault: str) -> None:
    """A port that opens and then goes away is not a plotter in state `?`: one offline line, exit 1."""
    url = f"grblsim://?{fault}"
    result = _run(["status", "--device", url])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    (line,) = result.output.splitlines()
    assert line.split()[:2] == [url, "offline"] and "serial port lost" in line, line
    as_json = _run(["status", "--device", url, "--json"])
    assert as_json.exit_code == 1 and '"connected": false' in as_json.output, as_json.output
    healthy = _run(["status", "--device", "grblsim://"])
    assert healthy.exit_code == 0 and healthy.output.split()[1] == "Idle", healthy.output


def test_the_hostile_checkpoint_is_really_hostile(tmp_path: Path) -> None:
    """The table's refusal means something only if unpickling that file does run code."""
    target = tmp_path / "ran"
    torch.save({"model": Hostile(target)}, tmp_path / "h.pt")
    torch.load(tmp_path / "h.pt", weights_only=False)  # what a careless loader would do
    assert target.exists()

"""Sketch readers and writers: every format, the dispatcher, and one-line errors on bad files."""

import json
import zipfile

import numpy as np
import pytest

from plotter.errors import SketchFormatError, UnknownClassError
from plotter.sketch import Sketch
from plotter.sketch.formats.ndjson import resample, simplify_raw
from plotter.sketch.io import read_sketches, write_json, write_svg
from plotter.sketch.svgpath import flatten_path

S3_A = np.array([[5, 5, 0], [10, 0, 0], [0, 10, 1], [-10, 0, 0], [0, -10, 1]], dtype=np.int16)
S3_B = np.array([[1, 2, 0], [3, 4, 1]], dtype=np.int16)


def obj_array(*items):
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out


@pytest.fixture
def rnn_npz(tmp_path):
    path = tmp_path / "mini.npz"
    np.savez(path, train=obj_array(S3_A, S3_B, S3_A), valid=obj_array(S3_B), test=obj_array(S3_B, S3_A))
    return path


def test_sketch_rnn_npz_splits_limit_index(rnn_npz):
    test = read_sketches(rnn_npz)
    assert len(test) == 2 and test[0].meta == {
        "source": "mini.npz",
        "split": "test",
        "index": 0,
        "class": "mini",
    }
    np.testing.assert_array_equal(test[1].strokes[0], [[5, 5], [15, 5], [15, 15]])
    assert len(read_sketches(rnn_npz, split="train", limit=2)) == 2
    only = read_sketches(rnn_npz, split="train", index=1)
    assert len(only) == 1 and only[0].n_points == 2
    with pytest.raises(SketchFormatError, match="out of range"):
        read_sketches(rnn_npz, index=5)


def test_one_class_npz_refuses_another_class(tmp_path):
    path = tmp_path / "sketchrnn_cat.full.npz"
    np.savez(path, test=obj_array(S3_A, S3_B))
    assert read_sketches(path, class_name="Cat")[0].meta["class"] == "cat"
    assert read_sketches(path)[1].meta["class"] == "cat"
    with pytest.raises(SketchFormatError, match=r"holds one class \('cat'\), not 'dog'"):
        read_sketches(path, class_name="dog")


def test_npz_refuses_a_hostile_pickle(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.npz"
    np.savez(path, test=obj_array(Evil(), S3_A))
    with pytest.raises(SketchFormatError, match="refusing to load builtins.print"):
        read_sketches(path)


def test_packed_npz_classes(tmp_path):
    path = tmp_path / "packed.npz"
    data = np.concatenate([S3_A, S3_B, S3_B])
    np.savez(
        path,
        alarm_clock__data=data,
        alarm_clock__offsets=np.array([0, 5, 7, 9]),
        cat__data=S3_B,
        cat__offsets=np.array([0, 2]),
    )
    clocks = read_sketches(path, class_name="Alarm clock", limit=2)
    assert [s.meta["index"] for s in clocks] == [0, 1] and clocks[0].meta["class"] == "alarm_clock"
    with pytest.raises(UnknownClassError, match="did you mean alarm_clock"):
        read_sketches(path, class_name="alarm clok")
    with pytest.raises(SketchFormatError, match="choose one with --class"):
        read_sketches(path)
    np.savez(path, cat__data=S3_B, cat__offsets=np.array([0, 5]))
    with pytest.raises(SketchFormatError, match="do not partition"):
        read_sketches(path)


def test_raw_ndjson_gets_googles_simplification(tmp_path):
    t = np.linspace(0, 2 * np.pi, 300)
    xs, ys = (1000 + 400 * np.cos(t)).tolist(), (600 + 200 * np.sin(t)).tolist()
    rec = {"word": "cat", "key_id": "1", "drawing": [[xs, ys, list(range(300))], [[0, 10], [0, 0], [0, 1]]]}
    simple = {"word": "dog", "drawing": [[[0, 10, 20], [5, 5, 9]]]}
    path = tmp_path / "mix.ndjson"
    path.write_text(json.dumps(rec) + "\n\n" + json.dumps(simple) + "\n")
    cats = read_sketches(path, class_name="cat")
    assert len(cats) == 1
    pts = np.concatenate(cats[0].strokes)
    assert pts.min() == 0 and pts.max() == 255  # aligned to 0, longer side 255
    assert np.all(pts == np.round(pts))
    assert 8 < len(cats[0].strokes[0]) < 60  # RDP eps 2 keeps a polygon, not 300 points
    dog = read_sketches(path, class_name="dog")[0]
    np.testing.assert_array_equal(dog.strokes[0], [[0, 5], [10, 5], [20, 9]])


def test_resample_spacing_and_simplify_dot():
    line = resample(np.array([[0.0, 0.0], [10.0, 0.0]]))
    assert len(line) == 11 and np.allclose(np.diff(line[:, 0]), 1.0)
    dot = simplify_raw([np.array([[3.0, 3.0]])])
    assert dot[0].shape == (1, 2)


def test_json_round_trip_one_and_many(tmp_path, square):
    mm = square.scale(2.5, unit="mm")
    mm.meta["class"] = "square"
    write_json(mm, tmp_path / "one.json")
    doc = json.loads((tmp_path / "one.json").read_text())
    assert doc["format"] == "plotter-sketch" and doc["unit"] == "mm"
    back = read_sketches(tmp_path / "one.json")[0]
    assert back.unit == "mm" and back.meta["class"] == "square"
    np.testing.assert_allclose(back.strokes[0], mm.strokes[0])
    write_json([square, square.translate(1, 1)], tmp_path / "two.json")
    two = read_sketches(tmp_path / "two.json")
    assert len(two) == 2 and two[1].strokes[0][0].tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json", "not valid JSON"),
        ('{"format": "other"}', "'format' must be 'plotter-sketch'"),
        ('{"format": "plotter-sketch", "version": 2, "strokes": []}', "unsupported version 2"),
        ('{"format": "plotter-sketch", "version": 1, "strokes": [[[1, 2, 3]]]}', "stroke 0 must be"),
        ('{"format": "plotter-sketch", "version": 1, "strokes": [[["a", 2]]]}', "stroke 0 is not a list"),
        ('{"format": "plotter-sketch", "version": 1, "unit": "km", "strokes": []}', "'unit' must be one of"),
        ('{"format": "plotter-sketches", "version": 1, "sketches": []}', "holds no drawings"),
        ('{"format": "plotter-sketches", "version": 1, "sketches": {}}', "'sketches' must be a list"),
    ],
)
def test_malformed_json_is_one_clear_line(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(SketchFormatError) as err:
        read_sketches(path)
    assert message in str(err.value) and "bad.json" in str(err.value)


def test_unreadable_and_unknown_files(tmp_path):
    with pytest.raises(SketchFormatError, match="no such file"):
        read_sketches(tmp_path / "missing.npz")
    with pytest.raises(SketchFormatError, match="is a directory"):
        read_sketches(tmp_path)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01garbage")
    with pytest.raises(SketchFormatError, match="unknown sketch format"):
        read_sketches(junk)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(SketchFormatError, match="broken.npz"):
        read_sketches(broken)
    with zipfile.ZipFile(tmp_path / "empty.npz", "w") as z:
        z.writestr("other.npy", b"")
    with pytest.raises(SketchFormatError, match="no sketch arrays"):
        read_sketches(tmp_path / "empty.npz")
    ndjson = tmp_path / "bad.ndjson"
    ndjson.write_text('{"drawing": [[[1, 2], [3]]]}\n')
    with pytest.raises(SketchFormatError, match="line 1: stroke 0 needs equally long"):
        read_sketches(ndjson)


PREFIXES = [b"", b"{", b"[", b"<svg", b"PK\x03\x04", b'{"drawing": [[[0, 1], [0, 1]]]}\n']


@pytest.mark.parametrize("ext", [".ndjson", ".jsonl", ".json", ".svg", ".npz", ".bin"])
def test_random_bytes_are_a_format_error_in_every_reader(tmp_path, ext):
    """Whatever the bytes, a reader raises SketchFormatError (the CLI's one line), not UnicodeDecodeError."""
    rng = np.random.default_rng(7)
    for i in range(60):
        path = tmp_path / f"r{i}{ext}"
        path.write_bytes(PREFIXES[i % len(PREFIXES)] + rng.bytes(int(rng.choice([1, 3, 40, 600]))))
        try:
            read_sketches(path)
        except SketchFormatError:
            pass


def _npz_member(path, member):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("test.npy", member)
    return path


def _object_header():
    import io

    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, {"descr": "|O", "fortran_order": False, "shape": (2,)})
    return out.getvalue()


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (b"\x93NUMPY\x01\x00\x10\x00{'descr': (    \n", "test.npy is not a readable .npy array"),
        (_object_header() + b"\x80\x02]q\x00(K\x01K\x02e.", "holds a pickled list, not an array"),
        (_object_header() + b"\x80\x04\x95" + b"\xff" * 8, "test.npy is not a readable .npy array"),
        (_object_header() + b"\x80\x02cnumpy\nndarray\nK\x01R.", "test.npy is not a readable .npy array"),
    ],
    ids=["header-tokens", "list-pickle", "frame-overflow", "reduce-non-tuple"],
)
def test_damaged_npy_members_are_one_line(tmp_path, member, message):
    with pytest.raises(SketchFormatError, match=message) as err:
        read_sketches(_npz_member(tmp_path / "d.npz", member))
    assert str(err.value).startswith("d.npz: ") and "\n" not in str(err.value)


def test_ndjson_binary_and_bom(tmp_path):
    binary = tmp_path / "b.ndjson"
    binary.write_bytes(bytes(range(256)) * 4)  # line 1 is ASCII control bytes: still "binary", not "not JSON"
    with pytest.raises(SketchFormatError, match=r"^b.ndjson: not a UTF-8 text file$"):
        read_sketches(binary)
    late = tmp_path / "late.ndjson"
    late.write_bytes(b'{"drawing": [[[0, 1], [0, 1]]]}\n' * 300 + b"\xff\xfe\n")  # past the sniffed block
    with pytest.raises(SketchFormatError, match=r"^late.ndjson line 301: not a UTF-8 text file$"):
        read_sketches(late)
    bom = tmp_path / "bom.ndjson"
    bom.write_bytes(b'\xef\xbb\xbf{"drawing": [[[0, 1], [0, 1]]]}\n')
    assert read_sketches(bom)[0].n_points == 2
    bom_json = tmp_path / "bom.json"
    bom_json.write_bytes(b'\xef\xbb\xbf{"format": "plotter-sketch", "version": 1, '
                         b'"strokes": [[[0, 0], [1, 1]]]}')
    assert read_sketches(bom_json)[0].n_points == 2


@pytest.mark.parametrize("ext", [".json", ".ndjson"])
def test_json_too_deep_or_too_long_an_integer(tmp_path, ext):
    deep = tmp_path / f"deep{ext}"
    deep.write_text("[" * 100_000)
    with pytest.raises(SketchFormatError, match="not usable JSON"):
        read_sketches(deep)
    big = tmp_path / f"big{ext}"
    big.write_text('{"drawing": [[[' + "1" * 5000 + "], [0]]]}")
    with pytest.raises(SketchFormatError, match=r"not usable JSON \(Exceeds the limit"):
        read_sketches(big)


def test_svg_writer_has_physical_size_and_reads_back(tmp_path, square):
    mm = square.scale(3.0, unit="mm").translate(20, 30)
    path = write_svg(mm, tmp_path / "p.svg", page=(0, 0, 210, 297), travel=True, start=(0, 297))
    text = path.read_text()
    assert 'width="210mm"' in text and 'height="297mm"' in text and 'viewBox="0 0 210 297"' in text
    assert text.count("<path") == 2 + 1  # two strokes; one travel (the second starts where the first ends)
    back = read_sketches(path)[0]
    assert back.meta["mm_per_unit"] == pytest.approx(1.0)
    assert len(back) == 2  # travel group skipped
    for a, b in zip(back.strokes, mm.strokes):
        np.testing.assert_allclose(a, b, atol=1e-3)


def test_svg_reader_elements_transforms_and_curves(tmp_path):
    svg = """<svg xmlns="http://www.w3.org/2000/svg" width="100mm" height="50mm" viewBox="0 0 200 100">
      <g transform="translate(10,20) scale(2)">
        <line x1="0" y1="0" x2="5" y2="0"/>
        <polyline points="0,0 1,1 2,0"/>
      </g>
      <polygon points="0,0 10,0 10,10"/>
      <rect x="1" y="2" width="3" height="4"/>
      <circle cx="50" cy="50" r="10"/>
      <path d="M0 0 C 0 10 10 10 10 0"/>
      <g style="display:none"><line x1="0" y1="0" x2="1" y2="1"/></g>
      <defs><path d="M0 0 L 9 9"/></defs>
    </svg>"""
    path = tmp_path / "in.svg"
    path.write_text(svg)
    sk = read_sketches(path)[0]
    assert len(sk) == 6 and sk.meta["mm_per_unit"] == pytest.approx(0.5)
    np.testing.assert_allclose(sk.strokes[0], [[10, 20], [20, 20]])
    np.testing.assert_allclose(sk.strokes[2][-1], [0, 0])  # polygon closed
    circle = sk.strokes[4]
    np.testing.assert_allclose(np.linalg.norm(circle - [50, 50], axis=1), 10, atol=1e-9)
    curve = sk.strokes[5]
    assert curve[:, 1].max() == pytest.approx(7.5, abs=0.1)  # cubic peak at 3/4 of the control height


def test_path_commands_relative_arcs_and_errors():
    (square,) = flatten_path("m1,1 h5 v5 h-5 z")
    np.testing.assert_allclose(square, [[1, 1], [6, 1], [6, 6], [1, 6], [1, 1]])
    (arc,) = flatten_path("M0 0 A5 5 0 0 1 10 0", tol=0.01)
    np.testing.assert_allclose(np.linalg.norm(arc - [5, 0], axis=1), 5, atol=1e-9)
    assert arc[:, 1].min() == pytest.approx(-5, abs=0.01)  # sweep 1 goes over the top (y down)
    (smooth,) = flatten_path("M0 0 Q5 10 10 0 T20 0")
    assert smooth[:, 1].min() == pytest.approx(-5, abs=0.05)
    with pytest.raises(SketchFormatError, match="expected a number"):
        flatten_path("M0 0 L 5")


def test_shared_cats(shared_cats):
    cats = read_sketches(shared_cats, split="test", limit=9)
    assert len(cats) == 9 and all(s.unit == "px" for s in cats)
    x0, y0, x1, y1 = cats[0].bounds()
    assert x0 >= 0 and y0 >= 0 and max(x1, y1) <= 255


def test_shared_packed_class(shared_quickdraw):
    dogs = read_sketches(shared_quickdraw, class_name="dog", limit=3)
    assert len(dogs) == 3 and dogs[0].meta["class"] == "dog"


def test_sketch_type_is_unchanged_by_readers(rnn_npz):
    sk = read_sketches(rnn_npz, index=0)[0]
    assert isinstance(sk, Sketch)
    np.testing.assert_array_equal(sk.to_stroke3(), S3_B)


SVG = '<svg xmlns="http://www.w3.org/2000/svg">{}</svg>'
LINE = '<line x1="0" y1="0" x2="1" y2="1"/>'
LAUGHS = "".join(f'<!ENTITY l{i + 1} "{f"&l{i};" * 10}">' for i in range(9))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('<?xml version="1.0" encoding="klingon"?>' + SVG.format(LINE), "unknown encoding: klingon"),
        (f'<!DOCTYPE svg [<!ENTITY l0 "ha">{LAUGHS}]>' + SVG.format("<title>&l9;</title>"),
         "declares XML entities"),
        ('<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + SVG.format("<desc>&x;</desc>"),
         "declares XML entities"),
        (SVG.format('<path d="M0 0 L1e999 1"/>'), "path data: number out of range: 1e999"),
        (SVG.format('<path d="M0 0 C1e999 0 1 1 2 2"/>'), "number out of range"),
        (SVG.format('<path d="M0 0 L NaN 1"/>'), "expected a number at ' NaN 1'"),
        (SVG.format('<circle cx="0" cy="0" r="inf"/><line x1="1e999" y1="0" x2="1" y2="1"/>'),
         "number out of range in '1e999'"),
        (SVG.format(f'<g transform="matrix(1e999 0 0 1 0 0)">{LINE}</g>'), "number out of range"),
        (SVG.format(f'<g transform="rotate(1e999)">{LINE}</g>'), "number out of range"),
        (SVG.format(f'<g transform="matrix(NaN 0 0 1 0 0)">{LINE}</g>'), "unsupported SVG transform matrix"),
        (SVG.format(f'<g transform="scale(1e200)"><g transform="scale(1e200)">{LINE}</g></g>'),
         "<g>: its transforms overflow"),
        (SVG.format('<g transform="scale(1e200)"><line x1="0" y1="0" x2="1e200" y2="1"/></g>'),
         "<line>: coordinates out of range after its transforms"),
        (SVG.format('<path d="M1e308 0 A1 1 0 0 1 -1e308 0"/>'), "an arc whose numbers are out of range"),
        (SVG.format(f'<polyline points="{"1,2 " * 2_000_001}"/>'), "more than 2,000,000 points"),
    ],
    ids=["encoding", "laughs", "external", "path-inf", "curve-inf", "path-nan", "attr-inf", "matrix-inf",
         "rotate-inf", "matrix-nan", "transform-overflow", "coord-overflow", "arc-overflow", "points-cap"],
)
def test_hostile_svg_is_one_format_error(tmp_path, text, message):
    """Entity bombs, unknown encodings, non-finite or overflowing numbers: a SketchFormatError naming the
    file and the cause, never LookupError / OverflowError / ValueError / a silently dropped stroke."""
    path = tmp_path / "bad.svg"
    path.write_bytes(text.encode("utf-8"))
    with pytest.raises(SketchFormatError) as err:
        read_sketches(path)
    assert str(err.value).startswith("bad.svg: ") and message in str(err.value), str(err.value)


def test_svg_nested_100k_deep_and_huge_radii_read(tmp_path):
    """Depth is walked without recursion; a circle of radius 1e300 is capped, not a division by zero."""
    deep = tmp_path / "deep.svg"
    deep.write_text(SVG.format('<g transform="translate(1,0)">' * 100_000 + LINE + "</g>" * 100_000))
    (line,) = read_sketches(deep)[0].strokes
    np.testing.assert_allclose(line, [[100_000, 0], [100_001, 1]])
    huge = tmp_path / "huge.svg"
    huge.write_text(SVG.format('<circle cx="0" cy="0" r="1e300"/><ellipse rx="1e308" ry="1"/>'))
    assert [len(s) for s in read_sketches(huge)[0].strokes] == [4097, 4097]


def test_path_points_are_capped_and_long_paths_parse():
    """A long `d` parses (the scan is linear), and flattening stops at the point budget it is given."""
    (line,) = flatten_path("M0 0" + " L1,1 L2,0" * 50_000 + " " * 100_000)
    assert len(line) == 100_001
    with pytest.raises(SketchFormatError, match="more than 1,000 points after flattening"):
        flatten_path("M0 0" + " C0 100 100 100 100 0" * 100, max_points=1_000)
    with pytest.raises(SketchFormatError, match="expected a number"):
        flatten_path("M0 0 L" + " " * 200_000 + "x")

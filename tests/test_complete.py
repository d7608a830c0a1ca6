"""Completion of partial sketches (both models) and Sketch-RNN latent morphs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from tiny_models import one_torch_thread, save, tiny_rnn, tiny_transformer  # noqa: F401 (autouse fixture)

from plotter.cli import main
from plotter.errors import PlotterError, SketchFormatError
from plotter.models.complete import complete_sketches, morph, normalize_partial, random_latents, slerp
from plotter.sketch import Sketch
from plotter.sketch.io import write_json
from plotter.sketch.svg import write_svg


@pytest.fixture
def partial() -> Sketch:
    """Two strokes drawn big (an Inkscape-sized head outline and an eye), many points each."""
    t = np.linspace(0, 2 * np.pi, 60)
    head = np.column_stack([500 + 400 * np.cos(t), 500 + 300 * np.sin(t)])
    eye = np.array([[350.0, 420.0], [380.0, 400.0], [410.0, 420.0]])
    return Sketch([head, eye], unit="px")


def test_normalize_fits_the_data_box_and_simplifies(partial: Sketch) -> None:
    out = normalize_partial(partial)
    x0, y0, x1, y1 = out.bounds()
    assert x0 >= 0 and y0 >= 0 and max(x1, y1) <= 255.0 + 1e-9
    assert max(x1 - x0, y1 - y0) == pytest.approx(255.0)
    assert out.n_points < partial.n_points  # RDP at 2 px drops points of the dense ellipse
    small = Sketch([np.array([[10.0, 10.0], [40.0, 10.0]])])
    assert np.array_equal(normalize_partial(small).strokes[0], small.strokes[0])  # in the box: untouched
    assert normalize_partial(small, size=120).size()[0] == pytest.approx(120.0)


def test_empty_partial_is_a_clear_error() -> None:
    with pytest.raises(SketchFormatError, match="empty"):
        normalize_partial(Sketch([]))


@pytest.mark.parametrize("make", [tiny_rnn, tiny_transformer])
def test_completion_keeps_the_given_prefix_exactly(make, partial: Sketch) -> None:
    model = make(["cat"])
    prefix = normalize_partial(partial)
    out = complete_sketches(model, partial, n=3, seed=1)
    assert len(out) == 3
    for sk in out:
        assert sk.meta["prefix_strokes"] == len(prefix)
        for got, want in zip(sk.strokes[: len(prefix)], prefix.strokes):
            assert np.array_equal(got, want)  # bit for bit, not approximately
    assert any(len(sk) > len(prefix) for sk in out)  # and the model added something


def test_a_prefix_longer_than_the_model_can_draw_is_refused(partial: Sketch) -> None:
    model = tiny_rnn(["cat"], max_len=20)
    with pytest.raises(PlotterError, match="draws at most 20"):
        complete_sketches(model, partial, n=1, simplify=0.0)


def test_slerp_keeps_the_norm_between_orthogonal_latents() -> None:
    a, b = np.array([3.0, 0.0]), np.array([0.0, 3.0])
    mid = slerp(a, b, 0.5)
    assert np.linalg.norm(mid) == pytest.approx(3.0)
    assert np.allclose(slerp(a, b, 0.0), a) and np.allclose(slerp(a, b, 1.0), b)


def test_morph_ends_are_the_decodes_of_the_endpoints() -> None:
    model = tiny_rnn(["cat"])
    za, zb = random_latents(model, [1, 2])
    row = morph(model, za, zb, steps=5, temperature=0.2, seed=7)
    assert len(row) == 5 and [s.meta["t"] for s in row] == [0.0, 0.25, 0.5, 0.75, 1.0]
    for panel, z in ((row[0], za), (row[-1], zb)):
        alone = model.decode(torch.tensor(z, dtype=torch.float32)[None], temperature=0.2, seed=7)[0]
        assert len(panel) == len(alone)
        for p, q in zip(panel.strokes, alone.strokes):
            np.testing.assert_allclose(p, q, rtol=1e-6, atol=1e-6)
    assert row[0].to_stroke3().shape != row[-1].to_stroke3().shape or not np.allclose(
        row[0].to_stroke3(), row[-1].to_stroke3()
    )  # two different latents draw two different sketches


def test_morph_needs_a_sketch_rnn_with_an_encoder() -> None:
    with pytest.raises(PlotterError, match="Sketch-RNN"):
        morph(tiny_transformer(["cat"]), np.zeros(8), np.ones(8))


def test_cli_complete_writes_a_two_colour_grid(partial: Sketch, tmp_path) -> None:
    ckpt = save(tiny_rnn(["cat"]), tmp_path / "rnn.pt")
    write_svg(partial, tmp_path / "head.svg")
    out = tmp_path / "done.png"
    args = ["complete", str(tmp_path / "head.svg"), "--n", "4", "--checkpoint", str(ckpt), "--seed", "3",
            "--png", str(out), "--json", str(tmp_path / "done.json")]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    img = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert img.shape[:2] == (400, 400)
    orange = (img[..., 0] > 150) & (img[..., 2] < 90)
    black = img.max(axis=2) < 60
    assert black.sum() > 200  # the prefix, in every cell
    assert orange.sum() > 0  # the model's strokes in the completion colour


def test_cli_complete_reads_an_ndjson_line_by_index(tmp_path) -> None:
    ckpt = save(tiny_transformer(["cat"]), tmp_path / "tr.pt")
    lines = ['{"word": "cat", "drawing": [[[0, 50, 100], [0, 20, 0]]]}',
             '{"word": "cat", "drawing": [[[10, 80], [10, 90]], [[30, 40], [30, 70]]]}']  # fmt: skip
    (tmp_path / "p.ndjson").write_text("\n".join(lines) + "\n")
    args = ["complete", str(tmp_path / "p.ndjson"), "--index", "1", "-n", "2", "--checkpoint", str(ckpt),
            "--json", str(tmp_path / "o.json")]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "(2 strokes)" in res.output


def test_cli_morph_row_from_two_files(partial: Sketch, tmp_path) -> None:
    ckpt = save(tiny_rnn(["cat"]), tmp_path / "rnn.pt")
    write_json([partial, partial.rotate(90)], tmp_path / "two.json")
    a, b = str(tmp_path / "two.json"), str(tmp_path / "two.json#1")
    out = tmp_path / "row.png"
    res = CliRunner().invoke(main, ["morph", a, b, "--steps", "4", "--checkpoint", str(ckpt), "--cell", "64",
                                    "--png", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert Image.open(out).size[0] == 4 * 64


def test_cli_morph_refuses_one_file(tmp_path, partial: Sketch) -> None:
    write_json(partial, tmp_path / "a.json")
    res = CliRunner().invoke(main, ["morph", str(tmp_path / "a.json")])
    assert res.exit_code != 0 and "two sketch files" in res.output


def test_plan_completion_lays_out_gcode_that_draws_the_prefix(partial: Sketch, tmp_path) -> None:
    from plotter.job.draw import plan_completion
    from plotter.job.params import DrawParams
    from plotter.sketch.moves import moves_from_gcode

    ckpt = save(tiny_rnn(["cat"]), tmp_path / "rnn.pt")
    write_json(partial, tmp_path / "p.json")
    params = DrawParams.from_dict({"class": "cat", "checkpoint": str(ckpt), "n": 2, "seed": 4})
    plan = plan_completion(params, tmp_path / "p.json", "grbl-servo", "a5")
    assert len(plan.sketches) == 2 and all(s.meta["prefix_strokes"] == 2 for s in plan.sketches)
    drawn = [m for m in moves_from_gcode(plan.lines) if m.down]
    assert len(drawn) >= 2 * 2  # both prefixes (2 strokes each) plus whatever the model added


def test_cli_draw_complete_plots_a_completion_on_the_simulator(partial: Sketch, tmp_path) -> None:
    ckpt = save(tiny_rnn(["cat"]), tmp_path / "rnn.pt")
    write_json(partial, tmp_path / "p.json")
    out = tmp_path / "c.gcode"
    args = ["draw", "--class", "cat", "--checkpoint", str(ckpt), "--complete", str(tmp_path / "p.json"),
            "--dry-run", "-o", str(out), "--seed", "2"]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "simulated" in res.output and out.is_file()

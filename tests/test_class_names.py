"""One class-name rule everywhere, checked before any model loads; checkpoints by class; checkout paths."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from plotter.errors import UnknownClassError
from plotter.job.ckmeta import checkpoint_classes
from plotter.job.models import checkpoints_for, shipped_checkpoints
from plotter.job.params import CHECKOUT, in_checkout
from plotter.sketch.classes import class_key, match_class, require_class

CLASSES = ["alarm clock", "cat", "hat", "t-shirt", "The Eiffel Tower"]


@pytest.mark.parametrize("asked, meant", [
    ("alarm clock", "alarm clock"), ("Alarm_Clock", "alarm clock"), ("alarm-clock", "alarm clock"),
    ("  ALARM   clock ", "alarm clock"), ("Cat", "cat"), ("T_Shirt", "t-shirt"),
    ("the_eiffel_tower", "The Eiffel Tower"), ("dog", None),
])  # fmt: skip
def test_one_rule_for_class_names(asked: str, meant: str | None) -> None:
    assert match_class(asked, CLASSES) == meant
    assert class_key("Alarm_Clock") == class_key("alarm clock") == "alarm clock"


def test_suggestions_come_from_the_normalized_name() -> None:
    assert require_class("Cat", ["hat", "cat"]) == "cat"  # not "did you mean hat"
    with pytest.raises(UnknownClassError, match="did you mean cat"):
        require_class("CTA", ["hat", "cat"])


def test_checkpoint_classes_are_read_without_torch_and_match_torch() -> None:
    from plotter.job.models import checkpoint_info

    shipped = [p for p in shipped_checkpoints() if p.parent == CHECKOUT / "checkpoints"]
    assert shipped
    for path in shipped:
        assert checkpoint_classes(path) == checkpoint_info(path)["classes"], path.name


def test_unknown_class_fails_before_torch_is_imported(tmp_path: Path) -> None:
    """From another directory, the shipped checkpoints: the error comes with a suggestion, no torch."""
    code = ("import sys\nfrom click.testing import CliRunner\nfrom plotter.cli import main\n"
            "r = CliRunner().invoke(main, ['draw', '--class', 'Hta', '--dry-run', '--yes', '--no-daemon'])\n"
            "print(r.exit_code, r.output.strip())\nprint('torch loaded:', 'torch' in sys.modules)\n")
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    env.pop("PLOTTER_CHECKPOINTS", None)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120).stdout  # fmt: skip
    assert out.startswith("1 ") and "\nError: " in out, out
    assert "unknown class 'Hta'; did you mean hat? (transformer-multiclass.pt)" in out, out
    assert "torch loaded: False" in out, out


def test_one_checkpoint_that_knows_every_listed_class() -> None:
    groups = checkpoints_for("sketch-rnn", ["cat", "Alarm_Clock"], None)
    ((path, names),) = groups.items()  # the multiclass checkpoint, not the cat-only one
    assert path.name == "sketch_rnn-multiclass.pt" and names == ["cat", "Alarm_Clock"]
    ((single, _),) = checkpoints_for("sketch-rnn", ["Cat"], None).items()
    assert single.name == "sketch_rnn-cat.pt"  # `--class Cat` finds the cat checkpoint


def test_readme_paths_resolve_from_any_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert in_checkout("checkpoints/sketch_rnn-cat.pt") == CHECKOUT / "checkpoints" / "sketch_rnn-cat.pt"
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "sketch_rnn-cat.pt").write_bytes(b"mine")
    assert in_checkout("checkpoints/sketch_rnn-cat.pt") == Path("checkpoints/sketch_rnn-cat.pt")  # yours wins
    assert in_checkout("nowhere.pt") == Path("nowhere.pt")

"""Choose among a run's kept checkpoints (`--keep-every`) by what their samples do, on the validation split.

Why: validation NLL does not see whether samples end by themselves or spread like real cats, and a short
fine-tune's checkpoints differ by several points on both. This judges each file as `plotter evaluate` does,
but against the *validation* drawings and with sampling seeds the final report never uses (5000, 5100, ...),
so the test-set report of the chosen file stays an honest estimate. The pick is the file whose worst seed
has the largest margin over all three targets (each margin in units of its tolerance).

    python scripts/pick_checkpoint.py runs/transformer-cat-sel/step-*.pt --seeds 2
"""

from __future__ import annotations

from _validation import validation_judge, validation_parser

from plotter.models.checkpoint import load_model
from plotter.models.sampling import resolve_temperature
from plotter.training.evaluate import SELECTION_SEED, target_margin


def main() -> None:
    ap = validation_parser(__doc__, "samples per seed")
    ap.add_argument("-t", "--temperature", type=float, default=None, help="default: each file's own")
    a = ap.parse_args()
    judge = validation_judge(a)
    best: tuple[float, str] | None = None
    print("checkpoint | seed: recognizability x / diversity x / ended | worst margin")
    for path in a.checkpoints:
        model = load_model(path)
        rows = judge.scores(model, a.n, resolve_temperature(model, a.temperature), a.seeds)
        worst = min(target_margin(*r) for r in rows)
        cells = " | ".join(f"{SELECTION_SEED + 100 * k}: {r:.2f} / {d:.3f} / {e:.3f}"
                           for k, (r, d, e) in enumerate(rows))
        print(f"{path} | {cells} | {worst:+.2f}", flush=True)
        if best is None or worst > best[0]:
            best = (worst, path)
    if best is not None:
        verdict = "passes every target on every seed" if best[0] >= 0 else "fails a target on some seed"
        print(f"pick: {best[1]} (worst margin {best[0]:+.2f}; {verdict})")


if __name__ == "__main__":
    main()

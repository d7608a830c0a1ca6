"""Loss-curve PNG: a picture of a run says more than the last logged number."""

from __future__ import annotations

from pathlib import Path


def plot_curves(history: dict, path: str | Path, title: str = "") -> Path:
    """Plot `history = {"train": [{"step", <parts>...}], "valid": [{"step", <parts>...}]}` to a PNG.

    One panel per loss part present in the training log (loss, offset_nll, pen_nll, kl, ...), validation
    points drawn on top where the part exists there too.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train, valid = history.get("train", []), history.get("valid", [])
    keys = [k for k in (train[0] if train else {}) if k not in ("step", "lr", "steps_per_s", "time")]
    keys = keys or ["loss"]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.0 * len(keys), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        if train:
            ax.plot(
                [r["step"] for r in train], [r.get(key, float("nan")) for r in train], lw=1, label="train"
            )
        pts = [(r["step"], r[key]) for r in valid if key in r]
        if pts:
            ax.plot(*zip(*pts), "o-", ms=3, lw=1.2, label="valid")
        ax.set_title(key)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

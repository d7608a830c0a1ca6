"""How a number is written in a G-code word: one function that the emitter and the pen lines share (the
pen's lines must read exactly as the emitter's, and the pen module sits below the emitter)."""

from __future__ import annotations


def fmt(value: float, decimals: int) -> str:
    """Shortest fixed-point text at `decimals`: 12.5 not 12.500, 3 not 3.0, 0 not -0."""
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text

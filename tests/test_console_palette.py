"""The console's colours, read from its stylesheet: the four severity colours stay apart for
people with the common colour vision deficiencies, text on them reads (WCAG AA), and the
focus ring stands out (WCAG 2.2 non-text contrast, 3:1).

Colour vision deficiencies are simulated with the matrices of Machado, Oliveira and
Fernandes (2009, severity 1.0) on linear RGB; colours are compared in CIELAB (CIE76 ΔE).
"""

from __future__ import annotations

import itertools
import re
from importlib import resources

import pytest

Matrix = tuple[tuple[float, float, float], ...]
MACHADO: dict[str, Matrix] = {
    "protanopia": (
        (0.152286, 1.052583, -0.204868),
        (0.114503, 0.786281, 0.099216),
        (-0.003882, -0.048116, 1.051998),
    ),
    "deuteranopia": (
        (0.367322, 0.860646, -0.227968),
        (0.280085, 0.672501, 0.047413),
        (-0.011820, 0.042940, 0.968881),
    ),
    "tritanopia": (
        (1.255528, -0.076749, -0.178779),
        (-0.078411, 0.930809, 0.147602),
        (0.004733, 0.691367, 0.303900),
    ),
}
SEVERITIES = ("alarm", "down", "warn", "ok")
MIN_DELTA_E = 20.0
"""Two severities closer than this could be told apart by their shape and word only."""

CSS = resources.files("c12exporter.console").joinpath("static", "console.css").read_text()


def variables(block_start: str) -> dict[str, str]:
    """The custom properties of the first rule starting with ``block_start``."""
    block = CSS[CSS.index(block_start) :]
    block = block[: block.index("}")]
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", block))


LIGHT = variables(":root {")
DARK = variables(':root[data-theme="dark"]')


def linear(hex_colour: str) -> tuple[float, float, float]:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return channel(r), channel(g), channel(b)


def simulate(rgb: tuple[float, float, float], matrix: Matrix | None) -> tuple[float, ...]:
    if matrix is None:
        return rgb
    return tuple(max(0.0, min(1.0, sum(m * c for m, c in zip(row, rgb, strict=True))))
                 for row in matrix)  # fmt: skip


def lab(rgb: tuple[float, ...]) -> tuple[float, float, float]:
    r, g, b = rgb
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def delta_e(a: str, b: str, matrix: Matrix | None) -> float:
    la, lb = lab(simulate(linear(a), matrix)), lab(simulate(linear(b), matrix))
    return float(sum((p - q) ** 2 for p, q in zip(la, lb, strict=True)) ** 0.5)


def contrast(a: str, b: str) -> float:
    def luminance(colour: str) -> float:
        r, g, b = linear(colour)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("vision", [None, *MACHADO])
def test_the_severity_colours_stay_apart_under_colour_blindness(vision: str | None) -> None:
    matrix = None if vision is None else MACHADO[vision]
    for a, b in itertools.combinations(SEVERITIES, 2):
        distance = delta_e(LIGHT[a], LIGHT[b], matrix)
        assert distance >= MIN_DELTA_E, (vision, a, b, round(distance, 1))


def test_the_machado_simulation_merges_red_and_green_for_a_deuteranope() -> None:
    """The check can fail: a classic red/green pair is far apart for most people and close
    for a deuteranope."""
    red, green = "#d62728", "#2ca02c"
    assert delta_e(red, green, None) > 60
    assert delta_e(red, green, MACHADO["deuteranopia"]) < MIN_DELTA_E


def test_text_on_every_severity_colour_reads_and_the_focus_ring_stands_out() -> None:
    for severity in SEVERITIES:
        ink = LIGHT[f"{severity}-ink"]
        assert contrast(LIGHT[severity], ink) >= 4.5, severity
    assert contrast(LIGHT["focus"], "#ffffff") >= 3.0
    assert contrast(LIGHT["focus"], LIGHT["bg"]) >= 3.0
    assert contrast(DARK["focus"], DARK["bg"]) >= 3.0
    assert contrast(DARK["focus"], DARK["panel"]) >= 3.0
    for theme in (LIGHT, DARK):
        assert contrast(theme["muted"], theme["panel"]) >= 4.5
        assert contrast(theme["accent"], theme["panel"]) >= 4.5

"""Log axes of the gradient-flow figure."""

from __future__ import annotations

import numpy as np
import pytest

from models.plots import GradientCurve, gradient_flow_figure, png_bytes

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_axis_covers_products_near_float64_max() -> None:
    # ratios from 1e-160 to 1; products up to 1e307, and null where they overflow
    norms = np.logspace(-160, 0, 50).tolist()
    products: list[float | None] = [None] * 10 + np.logspace(307, 0, 40).tolist()
    figure = gradient_flow_figure([GradientCurve("rnn", norms, products)], "t")

    image = png_bytes(figure)

    low, high = figure.axes[0].get_ylim()
    assert image.startswith(PNG_MAGIC)
    assert low <= 1e-160
    assert 1e307 <= high < np.inf


def test_axis_covers_underflowed_ratios() -> None:
    norms = [0.0, 0.0] + np.logspace(-320, 0, 20).tolist()
    figure = gradient_flow_figure([GradientCurve("rnn", norms)], "t")

    image = png_bytes(figure)

    low, high = figure.axes[0].get_ylim()
    assert image.startswith(PNG_MAGIC)
    assert 0.0 < low <= 1e-320
    assert high == pytest.approx(10**3.5)

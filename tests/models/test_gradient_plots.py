"""Log axes and labels of the gradient-flow figure."""

from __future__ import annotations

import numpy as np
import pytest

from models.plots import (
    GradientCurve,
    gradient_flow_figure,
    lag_experiment_figure,
    png_bytes,
)

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


# the last step is T-1, in parentheses so that it does not read as h_T - 1
RATIO_LABEL = "||dL/dh_t|| / ||dL/dh_(T-1)||"


def test_labels_write_last_step_in_parentheses() -> None:
    curve = GradientCurve("gru", [0.25, 0.5, 1.0], [0.2, 0.6, 1.0])
    flow = gradient_flow_figure([curve], "t")
    lag = lag_experiment_figure({"gru": {2: 1.0}}, [curve], "t")

    legend = [text.get_text() for text in flow.axes[0].get_legend().get_texts()]
    assert flow.axes[0].get_ylabel() == RATIO_LABEL
    assert lag.axes[1].get_ylabel() == RATIO_LABEL
    assert legend == ["gru", "gru: product of ||ds_t/ds_(t-1)||"]

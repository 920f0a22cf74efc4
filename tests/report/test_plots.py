"""The report's figure helpers (sim.output.report.plots) against matplotlib's own
behaviour: what they do faster must draw the same pixels."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.ticker import PercentFormatter

from sim.output.report import plots

#: Wide enough to meet an offset text ("1e6") at the top of the y axis, if there is one.
TITLE = "A panel's title, as wide as the panel it names"


def _drawn(formatter: str, placed_by: str) -> bytes:
    figure = plots.new_figure(6.0, 3.0, fixed=True)
    plots.margins(figure, 0.9, 0.2, 0.5, 0.4, grid=(1, 2), gaps=(0.8, 0.0))
    for ax in figure.subplots(1, 2):
        y = {"offset": 1e6 + np.linspace(0.0, 1.0, 20)}.get(formatter, np.linspace(0, 1, 20))
        ax.plot(np.arange(20), y)
        if formatter == "percent":
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        elif formatter == "thousands":
            plots.thousands(ax.yaxis)
        elif formatter == "labels":
            ax.set_yticks([0.0, 0.5, 1.0], labels=["low", "middle", "high"])
        if placed_by == "helper":
            plots.title(ax, TITLE)
        else:
            ax.set_title(TITLE, fontsize=10)
    return plots.png(figure).encode()


@pytest.mark.parametrize("formatter", ["percent", "thousands", "labels", "offset", "plain"])
def test_a_title_at_the_top_draws_what_matplotlib_places(formatter: str) -> None:
    assert _drawn(formatter, "helper") == _drawn(formatter, "matplotlib")

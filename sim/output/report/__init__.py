"""The report of one scenario run: `report.html` and `results.xlsx`, rebuilt from its tables.

`write(folder)` only reads the CSV tables and `manifest.json` that a run left in `folder`,
so a report can be rebuilt at any time (`baclofen-sim report RESULTS_DIR`). The HTML file
is self-contained (no scripts, no external CSS or fonts; each plot an embedded PNG) so it
can be mailed or archived alone. Both outputs are byte-identical when rebuilt from the same
tables: PNG metadata, workbook properties and zip entry times are fixed, and nothing
depends on the clock, the folder's path or the order in which the file system lists it.

``folder`` reads the tables, ``formats`` writes numbers and HTML, ``plots`` draws the
figures, ``page`` lays out the sections (``uncertainty`` those on the PSA, value of
information and one-way analyses), ``methods`` writes the CHEERS appendix; the
workbook is :mod:`sim.output.workbook`.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from pathlib import Path

from sim.output.beside import Writer, writing_beside
from sim.output.files import atomic_write
from sim.output.report.folder import TABLES, ResultFolder
from sim.output.report.page import PLOT_IDS, SECTION_IDS, render
from sim.output.workbook import workbook

__all__ = [
    "PLOT_IDS",
    "SECTION_IDS",
    "TABLES",
    "ResultFolder",
    "render",
    "workbook",
    "write",
    "write_page",
]


#: An embedded plot of the page: its id and its PNG.
_EMBEDDED = re.compile(
    r'<img id="(plot-[a-z0-9-]+)" alt="[^"]*" src="data:image/png;base64,([^"]+)"'
)


def write(folder: Path, svg: bool = False, writer: Writer | None = None) -> None:
    """Build `folder/report.html` (:func:`write_page`) and `folder/results.xlsx` from the
    run's tables there; the workbook is written beside the page by `writer` (a process
    started ahead) or by one started now."""
    with writing_beside(folder, writer):
        write_page(folder, svg)


def write_page(folder: Path, svg: bool = False) -> None:
    """Build `folder/report.html` from the run's tables there, and each of the report's
    plots as `folder/plots/<plot id>.png` (the same bytes as the embedded one), for a
    paper or a slide; with `svg`, also as SVG."""
    folder = Path(folder)
    results = ResultFolder.read(folder)
    if svg:
        results = dataclasses.replace(results, svg={})
    html = render(results)
    atomic_write(folder / "report.html", html.encode("utf-8"))
    plots = folder / "plots"
    plots.mkdir(exist_ok=True)
    made = {f"{plot_id}.png": base64.b64decode(data) for plot_id, data in _EMBEDDED.findall(html)}
    made.update({f"{plot_id}.svg": data for plot_id, data in (results.svg or {}).items()})
    for stale in [*plots.glob("*.png"), *plots.glob("*.svg")]:  # only what this build drew
        if stale.name not in made:
            stale.unlink()
    for name, data in made.items():
        atomic_write(plots / name, data)

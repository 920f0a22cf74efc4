"""The report of one scenario run: `report.html` and `results.xlsx`, rebuilt from its tables.

`write(folder)` only reads the CSV tables and `manifest.json` that a run left in `folder`,
so a report can be rebuilt at any time (`baclofen-sim report RESULTS_DIR`). The HTML file
is self-contained (no scripts, no external CSS or fonts; each plot an embedded PNG) so it
can be mailed or archived alone. Both outputs are byte-identical when rebuilt from the same
tables: PNG metadata, workbook properties and zip entry times are fixed, and nothing
depends on the clock, the folder's path or the order in which the file system lists it.

``folder`` reads the tables, ``formats`` writes numbers and HTML, ``plots`` draws the
figures, ``page`` lays out the sections, ``methods`` writes the CHEERS appendix; the
workbook is :mod:`sim.output.workbook`.
"""

from __future__ import annotations

from pathlib import Path

from sim.output.files import atomic_write
from sim.output.report.folder import TABLES, ResultFolder
from sim.output.report.page import PLOT_IDS, SECTION_IDS, render
from sim.output.workbook import workbook

__all__ = ["PLOT_IDS", "SECTION_IDS", "TABLES", "ResultFolder", "render", "workbook", "write"]


def write(folder: Path) -> None:
    """Build `folder/report.html` and `folder/results.xlsx` from the run's tables there."""
    folder = Path(folder)
    results = ResultFolder.read(folder)
    page = render(results).encode("utf-8")
    book = workbook(results.tables, results.manifest)
    atomic_write(folder / "report.html", page)
    atomic_write(folder / "results.xlsx", book)

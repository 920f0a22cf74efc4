"""The report's process (:class:`sim.output.beside.Writer`): `python -m sim.output.report -`
imports matplotlib while the run goes on, then writes report.html and its plots into the
folder named on a line of stdin."""

from __future__ import annotations

from sim.output.beside import REPORT, serve
from sim.output.report import write_page

if __name__ == "__main__":
    serve(REPORT.imports, write_page)

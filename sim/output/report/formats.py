"""Formatting for the report: numbers as people read them, escaped HTML, tables and figures.

Every value from the tables is escaped unless it is already :class:`Html`; numbers are
written plainly (thousands separators, no exponent notation) and missing ones as a dash.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd


class Html(str):
    """Text that is already HTML: passed through unescaped."""


def e(value: object) -> Html:
    """Escape a value from the data for HTML (already-built HTML passes through)."""
    if isinstance(value, Html):
        return value
    return Html(html.escape(text(value), quote=True))


def is_float(text: str) -> bool:
    """Whether a column suffix is a number (nmb_50000 is a WTP column, nmb_x is not)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def finite(value: object) -> bool:
    """A real number that can be shown (not missing, not infinite, not text)."""
    if isinstance(value, bool) or value is None:
        return False
    try:
        return math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def text(value: object) -> str:
    """A cell as text: missing values are empty, whole numbers have no decimals."""
    if value is None or value is pd.NA:
        return ""
    if isinstance(value, float | np.floating):
        return "" if math.isnan(value) else auto(value)
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        return f"{int(value):,}"
    return str(value)


def auto(value: object) -> str:
    """A number of unknown kind, readable: thousands separators, about 4 digits."""
    if not finite(value):
        return "" if value is None or isnan(value) else str(value)
    x = float(value)  # type: ignore[arg-type]
    if x.is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.4g}"


def isnan(value: object) -> bool:
    """Missing, for values of any type."""
    try:
        return math.isnan(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


DASH = "–"


def unsigned_zero(text: str) -> str:
    """ "-0" and "-0.000" (a tiny negative number, rounded) read as 0."""
    return text[1:] if text.startswith("-") and not text.strip("-0.,") else text


def money(value: object) -> str:
    return unsigned_zero(f"{float(value):,.0f}") if finite(value) else DASH  # type: ignore[arg-type]


def qaly(value: object) -> str:
    return unsigned_zero(f"{float(value):,.3f}") if finite(value) else DASH  # type: ignore[arg-type]


def pct(value: object, digits: int = 1) -> str:
    """A share as a percentage."""
    return f"{100 * float(value):.{digits}f}%" if finite(value) else DASH  # type: ignore[arg-type]


def rate(value: object) -> str:
    """A rate per 100 patient-years: rare events need more decimals than common ones."""
    if not finite(value):
        return DASH
    x = float(value)  # type: ignore[arg-type]
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    # three significant digits, never in exponent notation
    return f"{x:.{max(0, 2 - math.floor(math.log10(abs(x))))}f}"


def interval(fmt: Callable[[object], str], mean: object, low: object, high: object) -> str:
    """Mean with its interval: "12 (10 to 14)"; the mean alone when there is none."""
    if finite(low) and finite(high):
        return f"{fmt(mean)} ({fmt(low)} to {fmt(high)})"
    return fmt(mean)


def ci(fmt: Callable[[object], str], row: dict, key: str) -> str:
    """A table row's value of `key` with its interval (the `_ci_low`/`_ci_high` columns)."""
    return interval(fmt, row.get(key), row.get(f"{key}_ci_low"), row.get(f"{key}_ci_high"))


def wtp_label(value: float) -> str:
    """A willingness to pay as people write it: 50,000."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,g}"


def plain(value: object) -> str:
    """A value from the scenario, for prose: numbers without trailing zeros."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float) and math.isfinite(value):
        # six significant digits, never in exponent notation (0.00004327, not 4.327e-05)
        return np.format_float_positional(
            value, precision=6, unique=False, fractional=False, trim="-"
        )
    return str(value)


def tex(text: object) -> str:
    """A data string safe for matplotlib: no mathtext, no legend-hiding leading '_'."""
    value = str(text).replace("$", r"\$")
    return f" {value}" if value.startswith("_") else value


def table(
    header: Sequence[object],
    rows: Iterable[Sequence[object]],
    *,
    cls: str = "",
    row_classes: Sequence[str] | None = None,
) -> str:
    """An HTML table; every cell is escaped unless it is already Html."""
    head = "".join(f"<th>{e(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        attr = ""
        if row_classes is not None and row_classes[i]:
            attr = f' class="{e(row_classes[i])}"'
        cells = "".join(f"<td>{e(c)}</td>" for c in row)
        body.append(f"<tr{attr}>{cells}</tr>")
    klass = f' class="{e(cls)}"' if cls else ""
    return (
        f'<div class="scroll"><table{klass}><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def parameter(currency: str, path: str) -> Html:
    """A parameter for readers: its label and unit, with its dotted path (what the
    scenario file and the tables call it) below."""
    from sim.output.labels import label

    return Html(f"{e(label(path, currency))}<br><small>{e(path)}</small>")


def absent(what: str, file: str, why: str = "") -> str:
    """The text of a section whose table the run did not write."""
    reason = f" ({why})" if why else ""
    return f'<p class="not-run">{e(what)} was not run: this folder has no {e(file)}{e(reason)}.</p>'


def note(text: str) -> str:
    """A remark in a section that ran but has nothing to draw."""
    return f'<p class="note">{e(text)}</p>'


def image(plot_id: str, alt: str, png: str, caption: str) -> str:
    """An embedded PNG plot: the page needs no other file."""
    return (
        f'<figure><img id="{e(plot_id)}" alt="{e(alt)}" '
        f'src="data:image/png;base64,{png}">'
        f"<figcaption>{e(caption)}</figcaption></figure>"
    )


def names(values: Sequence[str]) -> str:
    """A list for prose: "a, b and c"."""
    values = list(values)
    if len(values) <= 1:
        return "".join(values)
    return ", ".join(values[:-1]) + " and " + values[-1]

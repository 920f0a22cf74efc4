"""Scenario errors: one line naming the file, the key path, the value and what is allowed.

Pydantic reports a failure as a list of errors with locations full of union tags; the
functions here pick the most precise one and say it the way an analyst reads a scenario
file (``strategies.itb.pump.reservoir_ml: -3: must be greater than 0``).
"""

from __future__ import annotations

import difflib
import re
import reprlib
from pathlib import Path
from typing import Any

#: Why the run-size limits exist, said beside the limit when a scenario exceeds it.
LIMIT_REASONS = {
    "patients": "more patients per strategy than a run can finish in hours; the MCSE "
    "columns show when fewer suffice",
    "psa_iterations": "more PSA iterations than a run can finish in hours; the convergence "
    "table shows when fewer suffice",
}


class ScenarioError(Exception):
    """A bad scenario: one line, ``file: key.path: problem``. Exit code 2 at the CLI."""

    def __init__(self, file: str | Path, path: str, message: str) -> None:
        self.file, self.path, self.message = str(file), path, message
        where = f"{self.file}: {path}: " if path else f"{self.file}: "
        super().__init__(_one_line(where + message))
        #: The file's other errors found in the same pass (every schema error at once).
        self.others: list[ScenarioError] = []

    def lines(self) -> list[str]:
        """This error and the file's others, one line each."""
        return [str(self), *(str(o) for o in self.others)]

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:
        # Raised in a worker process, it travels back pickled: rebuild it from its parts.
        return (ScenarioError, (self.file, self.path, self.message))


def _one_line(text: str) -> str:
    """Escape what would break the line or hide in it (a key with a carriage return, a
    zero-width space): the message stays one line and shows the culprit."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


#: Names from other tools and statistics texts, and what the scenario calls them.
SYNONYMS = {
    "sd": "se",
    "std": "se",
    "stdev": "se",
    "standard_error": "se",
    "min": "low",
    "max": "high",
    "minimum": "low",
    "maximum": "high",
    "distribution": "dist",
}


def did_you_mean(key: str, allowed: list[str]) -> str:
    """The closest allowed key as a hint (a synonym first: `sd` for `se`)."""
    synonym = SYNONYMS.get(key.lower())
    if synonym in allowed:
        why = ", a standard error" if synonym == "se" else ""
        return f" (did you mean {synonym!r}{why}?)"
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _format_loc(loc: tuple[Any, ...]) -> str:
    parts = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _clean_loc(loc: tuple[Any, ...], data: Any) -> tuple[Any, ...]:
    """Drop pydantic's union-member tags (e.g. 'itb', 'normal', 'float') from a location."""
    clean: list[Any] = []
    node = data
    for item in loc:
        if (isinstance(node, dict) and item in node) or (
            isinstance(node, list) and isinstance(item, int) and item < len(node)
        ):
            clean.append(item)
            node = node[item]
        elif not isinstance(node, (dict, list)):
            break
        elif isinstance(node, dict) and item not in node and not clean_is_tag(item, node):
            clean.append(item)  # a missing required key
            node = None
    return tuple(clean)


def clean_is_tag(item: Any, node: dict[str, Any]) -> bool:
    return isinstance(item, str) and (
        item in ("float", "int", "str", "bool", "none")
        or item == node.get("dist")
        or item == node.get("type")
        or item.startswith("function-")
        or item.startswith("union[")
        or item.startswith("tagged-union")
    )


def _value_at(data: Any, loc: tuple[Any, ...]) -> Any:
    node = data
    for item in loc:
        try:
            node = node[item]
        except (KeyError, IndexError, TypeError):
            return MISSING
    return node


MISSING = object()


def _message(error: dict[str, Any]) -> str:
    kind = error["type"]
    msg = str(error["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        return f"{ctx.get('tag')!r} is not a known kind; allowed: {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        ctx = error.get("ctx", {})
        return f"needs the key {ctx.get('discriminator', 'type')}"
    if kind in ("finite_number",):
        return "must be a finite number (not NaN or infinity)"
    if kind in ("dict_type", "model_type"):
        return "must be a mapping of keys"
    if kind == "too_short":
        return f"needs at least {error['ctx']['min_length']} item(s)"
    return msg[0].lower() + msg[1:] if msg else kind


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 60


def short(value: Any) -> str:
    text = _REPR.repr(value)  # bounded: a YAML alias bomb is never expanded in full
    return text if len(text) <= 60 else text[:57] + "..."


def _pick(errors: list[dict[str, Any]]) -> dict[str, Any]:
    def score(e: dict[str, Any]) -> tuple[int, int]:
        loc = e["loc"]
        # an error inside a block arm beats "input should be a number" on the scalar arm
        scalar_arm = any(p in ("float", "int") for p in loc if isinstance(p, str))
        type_error = e["type"].endswith("_type") or e["type"] == "model_type"
        rank = (1 if scalar_arm else 0) + (1 if type_error and len(errors) > 1 else 0)
        if e["type"] == "literal_error":  # e.g. "lifetime": named beside the other arm instead
            rank += 2
        return rank, 0

    return min(errors, key=score)


#: Top-level numbers that set up a run rather than describe the world.


def from_validation_error(exc: Any, data: dict[str, Any], file: str | Path) -> ScenarioError:
    """The errors of a pydantic ValidationError on the document `data`: the first, with
    the others of the file (`others`, in the file's order), one line each, so that four
    mistakes take one round and not four. Errors of one field (pydantic reports each arm
    of a union) make one line."""
    errors = exc.errors(include_url=False)
    fields: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for error in errors:
        loc = _clean_loc(tuple(error["loc"]), data)
        if error["type"] == "unknown_key":
            loc = (*loc, (error.get("ctx") or {}).get("bad_key"))
        related = next((f for f in fields if f[: len(loc)] == loc or loc[: len(f)] == f), None)
        fields.setdefault(loc if related is None else related, []).append(error)
    found = [_one_error(group, data, file) for group in fields.values()]
    first = next(i for i, group in enumerate(fields.values()) if _pick(errors) in group)
    primary = found.pop(first)
    primary.others = found
    return primary


def _one_error(
    errors: list[dict[str, Any]], data: dict[str, Any], file: str | Path
) -> ScenarioError:
    """The one-line error of a field's pydantic errors."""
    # Prefer a precise error: for a number-or-block field pydantic reports both arms.
    error = _pick(errors)
    loc = _clean_loc(tuple(error["loc"]), data)
    ctx = error.get("ctx") or {}
    if error["type"] == "unknown_key":
        return ScenarioError(file, _format_loc((*loc, ctx["bad_key"])), _message(error))
    if error["type"] == "bad_reference":
        return ScenarioError(file, ctx["field"], _message(error))
    value = _value_at(data, loc)
    message = _message(error)
    # "a number or 'lifetime'": name the literal arm of a union beside the number arm
    message += "".join(
        f", or {e['ctx']['expected']}"
        for e in errors
        if e is not error
        and e["type"] == "literal_error"
        and _clean_loc(tuple(e["loc"]), data) == loc
    )
    if value is not MISSING and error["type"] != "missing" and not isinstance(value, dict):
        message = f"{short(value)}: {message}"
    if isinstance(value, str) and _is_number(value) and error["type"].endswith("_type"):
        number = float(value)
        if re.fullmatch(r"[-+]?\d+", value.strip()):
            plain = value.strip()
        elif error["type"] == "int_type" and number.is_integer():
            plain = str(int(number))
        else:
            plain = repr(number)  # 1e-3 is text in YAML 1.1; 0.001 is a number
        message += f" (YAML reads it as text: write {plain}, a plain number without quotes)"
    if error["type"] == "less_than_equal" and len(loc) == 1 and loc[0] in LIMIT_REASONS:
        message += f": {LIMIT_REASONS[loc[0]]}"
    message += _hint(error, loc, value)
    return ScenarioError(file, _format_loc(loc), message)


def _hint(error: dict[str, Any], loc: tuple[Any, ...], value: Any) -> str:
    """What the value was probably meant to be: a list for one number, a rate for a
    percentage."""
    if error["type"] == "list_type" and isinstance(value, (int, float, str)):
        return f" (a list: write [{value}])"
    rate = len(loc) >= 1 and str(loc[-1]) in ("costs", "effects") and "discount" in loc
    if rate and isinstance(value, (int, float)) and 1 <= value < 100:
        return f" (a rate, not a percentage: {value:g}% is {value / 100:g})"
    return ""

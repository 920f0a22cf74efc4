"""Fuzzing the scenario loader (issue 6): mutated shipped scenarios never crash it.

Hypothesis drops, renames and replaces keys of the shipped scenarios (values swapped for
other types and extremes), and corrupts their text. Loading the result must give either a
valid scenario or a :class:`ScenarioError` of one line naming the file; any other
exception is a bug the user would see as a traceback.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, key_paths
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from sim import scenario

SHIPPED = sorted((ROOT / "scenarios").glob("*.yaml"))
#: No shrinking: a failing example is printed as found (shrinking a whole scenario document
#: takes minutes, and the message names the culprit key anyway).
_SUITE = settings(
    phases=[Phase.generate],
    max_examples=150,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _document(path: Path) -> dict[str, Any]:
    doc = scenario.resolve(path)
    doc.pop("extends", None)  # merged already: the copy stands alone in a temporary folder
    return doc


DOCUMENTS = {path.name: _document(path) for path in SHIPPED}
TEXTS = {path.name: path.read_text(encoding="utf-8") for path in SHIPPED}

EXTREMES = st.sampled_from(
    [
        None,
        True,
        False,
        0,
        -1,
        1,
        2**63,
        10**30,
        -(10**30),
        0.5,
        -0.5,
        1.3,
        1e308,
        -1e308,
        5e-324,
        math.inf,
        -math.inf,
        math.nan,
        "",
        "lifetime",
        "1e12",
        "0.1",
        "normal",
        "../../etc/passwd",
        "x" * 5000,
        "caf\u00e9 \u2603",
        [],
        [1, 2, 3],
        [[[]]],
        {},
        {"dist": "normal"},
        {"dist": "normal", "mean": 1, "sd": -1},
        {"dist": "beta", "mean": 0.5, "se": 0.1},
        {"unknown": 1},
    ]
)
VALUES = st.one_of(
    EXTREMES,
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
)


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        doc = doc[key]
    return doc


@st.composite
def mutated_documents(draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(DOCUMENTS[draw(st.sampled_from(sorted(DOCUMENTS)))])
    for _ in range(draw(st.integers(1, 3))):
        paths = key_paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _parent(doc, path), path[-1]
        action = draw(st.sampled_from(["drop", "rename", "replace", "replace"]))
        if action == "drop":
            del parent[key]
        elif action == "rename" and isinstance(parent, dict):
            new = draw(
                st.one_of(
                    st.just(str(key)[:-1]),
                    st.just(str(key) + "s"),
                    st.just(str(key).upper()),
                    st.text(max_size=12),
                    st.integers(-3, 3),
                )
            )
            parent[new] = parent.pop(key)
        else:
            parent[key] = draw(VALUES)
    return doc


def _load_or_clear_error(path: Path) -> None:
    try:
        scenario.load(path)
    except scenario.ScenarioError as exc:
        text = str(exc)
        assert text.startswith(f"{path}: "), text
        assert "\n" not in text and "\r" not in text, text
        assert len(text) < 2000, text[:200]


@_SUITE
@given(doc=mutated_documents())
def test_mutated_documents_load_or_give_one_clear_line(doc: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    _load_or_clear_error(path)
    try:  # the in-memory path too: no YAML round trip to tidy the values
        scenario.validate(doc, path)
    except scenario.ScenarioError as exc:
        assert "\n" not in str(exc), str(exc)


@st.composite
def corrupted_texts(draw: st.DrawFn) -> bytes:
    text = TEXTS[draw(st.sampled_from(sorted(TEXTS)))].encode("utf-8")
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["delete", "insert", "duplicate", "truncate"]))
        if action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        elif action == "insert":
            junk = draw(
                st.one_of(
                    st.sampled_from(
                        [
                            b":",
                            b"- ",
                            b"\t",
                            b"[",
                            b"{",
                            b"}",
                            b"'",
                            b'"',
                            b"&a ",
                            b"*a",
                            b"!!",
                            b"!!python/name:os.system",
                            b"\x00",
                            b"\xff\xfe",
                            b"\n  ",
                            b"---\n",
                            b"<<: *a\n",
                            b"%YAML 1.2\n",
                            b"? ",
                            b"|\n",
                        ]
                    ),
                    st.binary(max_size=8),
                )
            )
            text = text[:at] + junk + text[at:]
        elif action == "duplicate":
            end = text.find(b"\n", at) + 1 or len(text)
            start = text.rfind(b"\n", 0, at) + 1
            text = text[:end] + text[start:end] + text[end:]
        else:
            text = text[:at]
    return text


@_SUITE
@given(content=corrupted_texts())
def test_corrupted_text_loads_or_gives_one_clear_line(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(content)
    _load_or_clear_error(path)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_the_unmutated_documents_are_valid(path: Path, tmp_path: Path) -> None:
    """The fuzzers start from valid documents (else they would test only one error)."""
    copy_path = tmp_path / path.name
    copy_path.write_text(yaml.safe_dump(DOCUMENTS[path.name], sort_keys=False), encoding="utf-8")
    assert scenario.load(copy_path).name == scenario.load(path).name

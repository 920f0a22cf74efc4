"""Bad input through the real command line: one line on stderr, exit code 2, nothing written.

Every case writes a scenario (or other file) into tmp_path and runs ``python -m sim run``
and ``python -m sim validate`` on it in subprocesses. The standard (DESIGN §7):

* exit code 2;
* stderr is exactly one line, with no traceback, naming the file and the key path and
  saying what is allowed;
* nothing is written: the results folder is absent or empty, with no ``.*.tmp-*`` folder.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "scenarios" / "base.yaml"
EXIT_BAD_INPUT = 2


# --------------------------------------------------------------------------- helpers


def base_document() -> dict[str, Any]:
    return yaml.safe_load(BASE.read_text(encoding="utf-8"))


def _parent(doc: dict[str, Any], dotted: str) -> tuple[dict[str, Any], str]:
    *keys, last = dotted.split(".")
    node = doc
    for key in keys:
        node = node[key]
    return node, last


def set_at(doc: dict[str, Any], dotted: str, value: Any) -> None:
    node, last = _parent(doc, dotted)
    assert last in node, f"base.yaml has no {dotted}: the case would test nothing"
    node[last] = value


def delete_at(doc: dict[str, Any], dotted: str) -> None:
    node, last = _parent(doc, dotted)
    del node[last]


def rename_at(doc: dict[str, Any], dotted: str, new_name: str) -> None:
    """Rename a key in place (keeping its position, so the typo sits where the key was)."""
    node, last = _parent(doc, dotted)
    items = [(new_name if k == last else k, v) for k, v in node.items()]
    assert last in node
    node.clear()
    node.update(items)


Maker = Callable[[Path], Path]


def mutated(change: Callable[[dict[str, Any]], None]) -> Maker:
    """base.yaml loaded, changed in one place, dumped to tmp/scenario.yaml."""

    def make(folder: Path) -> Path:
        doc = copy.deepcopy(base_document())
        change(doc)
        path = folder / "scenario.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return path

    return make


def setting(dotted: str, value: Any) -> Maker:
    return mutated(lambda doc: set_at(doc, dotted, value))


def variant(body: str) -> Maker:
    """A file that extends base.yaml (by absolute path) and overrides a few keys."""

    def make(folder: Path) -> Path:
        path = folder / "variant.yaml"
        path.write_text(f"extends: {BASE}\nname: variant\n{body}", encoding="utf-8")
        return path

    return make


def raw(content: str | bytes, name: str = "scenario.yaml") -> Maker:
    def make(folder: Path) -> Path:
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return make


def with_life_table(csv_text: str | None) -> Maker:
    """base.yaml with `cohort.life_table: table.csv` beside it (None: no such file)."""

    def make(folder: Path) -> Path:
        if csv_text is not None:
            (folder / "table.csv").write_text(csv_text, encoding="utf-8")
        return setting("cohort.life_table", "table.csv")(folder)

    return make


def _life_table_rows(
    qx: Callable[[int], str] = lambda age: "0.01",
    header: str = "age,sex,qx",
) -> str:
    rows = [header]
    for sex in ("female", "male"):
        rows += [f"{age},{sex},{qx(age)}" for age in range(0, 111)]
    return "\n".join(rows) + "\n"


def _cycle(folder: Path) -> Path:
    (folder / "a.yaml").write_text("extends: b.yaml\nname: a\n", encoding="utf-8")
    (folder / "b.yaml").write_text("extends: a.yaml\nname: b\n", encoding="utf-8")
    return folder / "a.yaml"


def _missing(folder: Path) -> Path:
    return folder / "no-such-scenario.yaml"


def _folder(folder: Path) -> Path:
    target = folder / "scenarios.yaml"
    target.mkdir()
    return target


@dataclass(frozen=True)
class Case:
    id: str
    make: Maker
    key: str  # the key path the line must name; "" for a problem with the file itself
    says: tuple[str, ...]  # fragments saying what is wrong and what is allowed
    names: str | None = None  # the file the line names, if not the scenario (in its folder)


def _python_tag(folder: Path) -> Path:
    return raw('!!python/object/apply:os.system ["touch PWNED"]\n')(folder)


def _broken_parent(folder: Path) -> Path:
    (folder / "parent.yaml").write_text("name: parent\nseed: [1, 2\n", encoding="utf-8")
    return raw("extends: parent.yaml\nname: child\n")(folder)


def _alias_bomb(folder: Path) -> Path:
    """`title:` nine levels of nine aliases: 387 million strings if anything expands it."""
    node = "&a0 [" + ", ".join(["x"] * 9) + "]"
    for level in range(1, 9):
        node = f"&a{level} [{node}, " + ", ".join([f"*a{level - 1}"] * 8) + "]"
    return raw(f"extends: {BASE}\nname: bomb\ntitle: {node}\n")(folder)


CASES = [
    # -- unknown keys: a "did you mean" hint
    Case(
        "typo-top-level-key",
        mutated(lambda d: rename_at(d, "horizon_years", "horizon_yaers")),
        "horizon_yaers",
        ("unknown key", "did you mean 'horizon_years'"),
    ),
    Case(
        "typo-nested-key",
        mutated(lambda d: rename_at(d, "strategies.itb.pump.reservoir_ml", "resevoir_ml")),
        "strategies.itb.pump.resevoir_ml",
        ("unknown key", "did you mean 'reservoir_ml'"),
    ),
    Case(
        "typo-nested-key-via-extends",
        variant("strategies:\n  itb:\n    refill:\n      cost_vist: 300\n"),
        "strategies.itb.refill.cost_vist",
        ("unknown key", "did you mean 'cost_visit'"),
    ),
    # -- numbers out of range
    Case(
        "probability-1.3",
        setting("strategies.oral.response_probability", 1.3),
        "strategies.oral.response_probability",
        ("1.3", "less than or equal to 1"),
    ),
    Case(
        "probability-1.3-via-extends",
        variant("strategies:\n  itb:\n    infection:\n      explant_probability: 1.3\n"),
        "strategies.itb.infection.explant_probability",
        ("1.3", "less than or equal to 1"),
    ),
    Case(
        "negative-rate",
        setting("strategies.itb.pump.failure_rate_per_year", -0.1),
        "strategies.itb.pump.failure_rate_per_year",
        ("-0.1", "greater than or equal to 0"),
    ),
    Case(
        "negative-cost",
        setting("strategies.itb.surgery.implant.cost", -100),
        "strategies.itb.surgery.implant.cost",
        ("-100", "greater than or equal to 0"),
    ),
    Case(
        "utility-above-1",
        setting("strategies.itb.utility", 1.2),
        "strategies.itb.utility",
        ("1.2", "less than or equal to 1"),
    ),
    Case(
        "nan-cost",
        setting("strategies.itb.refill.cost_visit", float("nan")),
        "strategies.itb.refill.cost_visit",
        ("finite number",),
    ),
    Case(
        "indication-shares-sum-1.22",
        setting("cohort.indications.brain_injury.share", 0.5),
        "cohort.indications",
        ("sum to 1.22", "must be 1"),
    ),
    Case(
        "severity-shares-sum-1.1",
        setting("strategies.itb.withdrawal.mild.share", 0.9),
        "strategies.itb.withdrawal",
        ("sum to 1.1", "must be 1"),
    ),
    Case(
        "horizon-0",
        setting("horizon_years", 0),
        "horizon_years",
        ("greater than 0", "or 'lifetime'"),
    ),
    Case(
        "horizon-negative",
        setting("horizon_years", -5),
        "horizon_years",
        ("greater than 0", "or 'lifetime'"),
    ),
    Case(
        "horizon-not-a-number",
        setting("horizon_years", "forever"),
        "horizon_years",
        ("'forever'", "valid number", "or 'lifetime'"),
    ),
    Case("patients-0-in-file", setting("patients", 0), "patients", ("greater than or equal to 1",)),
    # -- wrong types
    Case(
        "string-for-number",
        setting("strategies.itb.pump.reservoir_ml", "twenty"),
        "strategies.itb.pump.reservoir_ml",
        ("'twenty'", "number"),
    ),
    Case(
        "quoted-number",
        setting("strategies.itb.pump.reservoir_ml", "20"),
        "strategies.itb.pump.reservoir_ml",
        ("'20'", "number"),
    ),
    Case(
        "list-for-mapping",
        setting("discount", [0.03, 0.03]),
        "discount",
        ("[0.03, 0.03]", "dictionary"),
    ),
    Case(
        "list-for-nested-mapping",
        setting("strategies.itb.pump", [20, 2000]),
        "strategies.itb.pump",
        ("[20, 2000]", "dictionary"),
    ),
    Case(
        "boolean-for-number",
        setting("strategies.itb.pump.reservoir_ml", True),
        "strategies.itb.pump.reservoir_ml",
        ("True", "number"),
    ),
    Case("boolean-for-count", setting("patients", True), "patients", ("True", "integer")),
    Case(
        "name-escapes-results-folder",
        setting("name", "../escape"),
        "name",
        ("'../escape'", "must be a slug", "names the result folder"),
    ),
    Case(
        "missing-required-key",
        mutated(lambda d: delete_at(d, "strategies.itb.pump.stability_days")),
        "strategies.itb.pump.stability_days",
        ("required key is missing",),
    ),
    Case(
        "missing-required-key-via-null",
        variant("strategies:\n  itb:\n    pump:\n      reservoir_ml: null\n"),
        "strategies.itb.pump.reservoir_ml",
        ("required key is missing",),
    ),
    Case(
        "unknown-dist-kind",
        setting("cohort.age_years", {"dist": "poisson", "mean": 45}),
        "cohort.age_years",
        ("'poisson'", "allowed", "normal", "weibull"),
    ),
    Case(
        "unknown-strategy-type",
        setting("strategies.none.type", "surgery"),
        "strategies.none",
        ("'surgery'", "allowed", "untreated", "oral", "itb"),
    ),
    # -- references between keys
    Case(
        "comparator-names-no-strategy",
        setting("comparator", "orla"),
        "comparator",
        ("'orla' names no strategy", "did you mean 'oral'", "allowed: none, oral, itb"),
    ),
    Case(
        "fallback-names-nothing",
        setting("strategies.itb.fallback", "tablets"),
        "strategies.itb.fallback",
        ("'tablets' names no strategy", "allowed: oral"),
    ),
    Case(
        "sources-names-missing-path",
        mutated(lambda d: d["sources"].update({"strategies.itb.pump.volume_ml": "a guess"})),
        "sources.strategies.itb.pump.volume_ml",
        ("names no key",),
    ),
    Case(
        "uncertainty-names-missing-path",
        mutated(
            lambda d: d["uncertainty"].update(
                {"strategies.itb.pump.failure_rate": {"dist": "gamma", "mean": 0.01, "se": 0.003}}
            )
        ),
        "uncertainty.strategies.itb.pump.failure_rate",
        ("names no parameter",),
    ),
    Case(
        "uncertainty-beta-on-a-cost",
        mutated(
            lambda d: d["uncertainty"].update(
                {"strategies.itb.refill.cost_visit": {"dist": "beta", "mean": 0.5, "se": 0.1}}
            )
        ),
        "uncertainty.strategies.itb.refill.cost_visit",
        ("beta fits probabilities", "gamma or lognormal"),
    ),
    Case(
        "uncertainty-on-a-run-setting",
        mutated(
            lambda d: d["uncertainty"].update(
                {"horizon_years": {"dist": "uniform", "low": 10, "high": 30}}
            )
        ),
        "uncertainty.horizon_years",
        ("a run setting, not a model parameter",),
    ),
    # -- analysis
    Case(
        "correlation-names-a-certain-parameter",
        mutated(
            lambda d: d["analysis"]["correlations"].append(
                {"parameters": ["strategies.itb.utility", "horizon_years"], "rho": 0.5}
            )
        ),
        "analysis.correlations[1].parameters",
        ("'horizon_years' is not a (non-Dirichlet) parameter of `uncertainty`",),
    ),
    Case(
        "correlation-of-one",
        setting(
            "analysis.correlations",
            [
                {
                    "parameters": [
                        "strategies.oral.utility_controlled",
                        "strategies.oral.utility_uncontrolled",
                    ],
                    "rho": 1.0,
                }
            ],
        ),
        "analysis.correlations[0].rho",
        ("1.0", "less than 1"),
    ),
    Case(
        "correlations-inconsistent",
        setting(
            "analysis.correlations",
            [
                {"parameters": [a, b], "rho": rho}
                for a, b, rho in (
                    ("strategies.itb.utility", "strategies.oral.utility_controlled", 0.9),
                    ("strategies.itb.utility", "strategies.oral.utility_uncontrolled", 0.9),
                    (
                        "strategies.oral.utility_controlled",
                        "strategies.oral.utility_uncontrolled",
                        -0.9,
                    ),
                )
            ],
        ),
        "analysis.correlations",
        ("not positive definite",),
    ),
    Case(
        "evppi-group-names-unknown-parameter",
        setting("analysis.evppi_groups.device", ["strategies.itb.pump.size"]),
        "analysis.evppi_groups.device",
        ("'strategies.itb.pump.size' is not a key of `uncertainty`",),
    ),
    Case(
        "threshold-without-range",
        mutated(
            lambda d: d["analysis"]["thresholds"].update({"strategies.itb.refill.cost_visit": {}})
        ),
        "analysis.thresholds.strategies.itb.refill.cost_visit",
        ("give low and high",),
    ),
    Case(
        "threshold-names-no-number",
        mutated(
            lambda d: d["analysis"]["thresholds"].update(
                {"strategies.itb.fallback": {"low": 0, "high": 1}}
            )
        ),
        "analysis.thresholds.strategies.itb.fallback",
        ("names no numeric parameter",),
    ),
    Case(
        "threshold-low-above-high",
        mutated(
            lambda d: d["analysis"]["thresholds"].update(
                {"strategies.itb.utility": {"low": 0.8, "high": 0.4}}
            )
        ),
        "analysis.thresholds.strategies.itb.utility",
        ("low 0.8 must be below high 0.4",),
    ),
    Case(
        "analysis-typo",
        mutated(lambda d: rename_at(d, "analysis.evppi_groups", "evpi_groups")),
        "analysis.evpi_groups",
        ("evppi_groups",),
    ),
    # -- extends
    Case(
        "extends-missing-file",
        raw("extends: nowhere.yaml\nname: orphan\n"),
        "extends",
        ("'nowhere.yaml'", "no such file"),
    ),
    Case("extends-cycle", _cycle, "extends", ("cycle", "a.yaml -> b.yaml -> a.yaml")),
    Case(
        "extends-not-a-string",
        raw("extends: [base.yaml]\nname: x\n"),
        "extends",
        ("must be a file name",),
    ),
    Case(
        "extends-broken-parent",
        _broken_parent,
        "",
        ("YAML syntax error", "line 2"),
        names="parent.yaml",
    ),
    # -- the file itself
    Case("missing-scenario-file", _missing, "", ("file not found",)),
    Case("folder-as-scenario", _folder, "", ("is a directory", "not a scenario file")),
    Case("empty-file", raw(""), "", ("empty file", "mapping")),
    Case("yaml-list", raw("- name: base\n- seed: 1\n"), "", ("top level is a list", "mapping")),
    Case("yaml-scalar", raw("just some words\n"), "", ("top level is a str", "mapping")),
    Case(
        "invalid-yaml-syntax",
        raw("name: broken\nseed: [1, 2\nhorizon_years: 20\n"),
        "",
        ("YAML syntax error", "line 3"),
    ),
    Case(
        "duplicate-key",
        raw("name: one\nseed: 1\nname: two\n"),
        "",
        ("duplicate key 'name'", "line 3"),
    ),
    Case(
        "duplicate-nested-key",
        raw(f"extends: {BASE}\nname: dup\ndiscount:\n  costs: 0.03\n  costs: 0.05\n"),
        "",
        ("duplicate key 'costs'", "line 5"),
    ),
    Case(
        "binary-file", raw(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "", ("binary content", "UTF-8")
    ),
    Case("latin-1-file", raw("name: caf\u00e9\n".encode("latin-1")), "", ("not UTF-8", "UTF-8")),
    Case("python-tag", _python_tag, "", ("not allowed", "python/object/apply")),
    Case("yaml-alias-bomb", _alias_bomb, "title", ("[[[[[", "valid string")),
    # -- life tables
    Case(
        "life-table-missing",
        with_life_table(None),
        "cohort.life_table",
        ("no such life table 'table.csv'", "us-ssa-2019", "age, sex, qx"),
    ),
    Case(
        "life-table-bad-columns",
        with_life_table(_life_table_rows(header="age,gender,q")),
        "cohort.life_table",
        ("table.csv", "missing column(s)", "qx", "sex"),
    ),
    Case(
        "life-table-qx-above-1",
        with_life_table(_life_table_rows(qx=lambda age: "1.5" if age == 50 else "0.01")),
        "cohort.life_table",
        ("table.csv", "qx = 1.5", "[0, 1]"),
    ),
    Case(
        "life-table-qx-negative",
        with_life_table(_life_table_rows(qx=lambda age: "-0.01" if age == 7 else "0.01")),
        "cohort.life_table",
        ("table.csv", "qx = -0.01", "[0, 1]"),
    ),
    Case(
        "life-table-qx-not-a-number",
        with_life_table(_life_table_rows(qx=lambda age: "n/a" if age == 3 else "0.01")),
        "cohort.life_table",
        ("table.csv", "qx a number"),
    ),
    Case(
        "life-table-short-row",
        with_life_table(_life_table_rows().replace("\n12,male,0.01\n", "\n12,male\n")),
        "cohort.life_table",
        ("table.csv: line 125:", "needs values for age, sex and qx"),
    ),
]


# --------------------------------------------------------------------------- running


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    # A narrow terminal width must not wrap the one line either.
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "40"}
    return subprocess.Popen(
        [sys.executable, "-m", "sim", *args],
        cwd=cwd,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        stdout, stderr = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    return proc.returncode, stdout, stderr


def assert_one_line_error(code: int, stderr: str, *fragments: str) -> str:
    assert code == EXIT_BAD_INPUT, f"exit code {code}, stderr:\n{stderr}"
    assert "Traceback" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{stderr}"
    line = lines[0]
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    return line


def assert_nothing_written(results: Path) -> None:
    if results.exists():
        left = sorted(p.name for p in results.iterdir())
        assert left == [], f"results folder not empty: {left}"
    assert not list(results.parent.glob(".*.tmp-*")), "temporary folder left beside results"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_scenario_is_one_line_exit_2_and_writes_nothing(case: Case, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    scenario_file = case.make(work)
    named = work / case.names if case.names else scenario_file
    results = tmp_path / "results"
    # `run` and `validate` side by side: both must refuse the file with the same line.
    run = _start(
        ["run", str(scenario_file), "--patients", "20", "--out", str(results), "--quiet"], work
    )
    check = _start(["validate", str(scenario_file)], work)
    outcomes = {"run": _finish(run), "validate": _finish(check)}
    where = f"{named}: {case.key}: " if case.key else f"{named}: "
    lines = {}
    for command, (code, stdout, stderr) in outcomes.items():
        lines[command] = assert_one_line_error(code, stderr, where, *case.says)
        assert stdout == "", f"{command} printed on stdout: {stdout!r}"
    assert lines["run"] == f"error: {lines['validate']}"
    assert_nothing_written(results)
    assert not (work / "PWNED").exists()


def test_python_tag_executes_nothing_in_any_command(tmp_path: Path) -> None:
    scenario_file = _python_tag(tmp_path)
    for args in (
        ["run", str(scenario_file), "--out", str(tmp_path / "results"), "--quiet"],
        ["validate", str(scenario_file)],
        ["trace", str(scenario_file), "--strategy", "itb"],
    ):
        code, _, stderr = _finish(_start(args, tmp_path))
        assert_one_line_error(code, stderr, f"{scenario_file}: ", "are not allowed")
    assert not (tmp_path / "PWNED").exists()
    assert_nothing_written(tmp_path / "results")


# ----------------------------------------------------------- command-line mistakes

CLI_CASES = [
    (
        "patients-0",
        ["run", "BASE", "--patients", "0"],
        ("'--patients'", "greater than or equal to 1"),
    ),
    (
        "patients-negative",
        ["run", "BASE", "--patients", "-5"],
        ("'--patients'", "greater than or equal to 1"),
    ),
    ("patients-abc", ["run", "BASE", "--patients", "abc"], ("'--patients'", "valid integer")),
    (
        "patients-too-many",
        ["run", "BASE", "--patients", "1000000000"],
        ("'--patients'", "less than or equal to 100000000"),
    ),
    (
        "batch-patients-0",
        ["batch", "SCENARIOS", "--patients", "0"],
        ("'--patients'", "greater than or equal to 1"),
    ),
    ("seed-negative", ["run", "BASE", "--seed", "-1"], ("'--seed'", "greater than or equal to 0")),
    (
        "engine-warp",
        ["run", "BASE", "--patients", "20", "--engine", "warp"],
        ("--engine 'warp'", "allowed: fast, des"),
    ),
    (
        "batch-engine-warp",
        ["batch", "SCENARIOS", "--patients", "20", "--engine", "warp"],
        ("--engine 'warp'", "allowed: fast, des"),
    ),
    (
        "unknown-option",
        ["run", "BASE", "--patience", "20"],
        ("No such option: --patience", "--patients"),
    ),
    ("long-unknown-option", ["run", "BASE", "--" + "x" * 300], ("No such option: --xxx",)),
    ("missing-argument", ["run"], ("Missing argument 'SCENARIO'",)),
    ("unknown-command", ["fly", "BASE"], ("No such command 'fly'",)),
    (
        "batch-missing-folder",
        ["batch", "TMP/nowhere"],
        ("TMP/nowhere: not a folder of scenario files",),
    ),
    ("batch-empty-folder", ["batch", "TMP"], ("TMP: no *.yaml scenario files",)),
    (
        "out-is-a-file",
        ["run", "BASE", "--patients", "20", "--out", "TMP/file.txt"],
        ("--out TMP/file.txt", "not a folder"),
    ),
    (
        "trace-patient-negative",
        ["trace", "BASE", "--strategy", "itb", "--patient", "-1"],
        ("'--patient'", "greater than or equal to 0"),
    ),
    ("trace-no-strategy", ["trace", "BASE"], ("Missing option '--strategy'",)),
]


def _fill(items: list[str] | tuple[str, ...], tmp: Path) -> list[str]:
    places = {"BASE": str(BASE), "SCENARIOS": str(ROOT / "scenarios"), "TMP": str(tmp)}
    filled = []
    for item in items:
        for placeholder, value in places.items():
            item = item.replace(placeholder, value)
        filled.append(item)
    return filled


@pytest.mark.parametrize(
    ("args", "says"), [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES]
)
def test_bad_command_line_is_one_line_exit_2(
    args: list[str], says: tuple[str, ...], tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "file.txt").write_text("not a folder\n", encoding="utf-8")
    results = tmp_path / "results"
    command = _fill(args, work)
    if command[0] in ("run", "batch") and "--out" not in command:
        command += ["--out", str(results)]
    code, stdout, stderr = _finish(
        _start([*command, "--quiet"] if command[0] in ("run", "batch") else command, work)
    )
    assert_one_line_error(code, stderr, *_fill(says, work))
    assert stdout == ""
    assert_nothing_written(results)
    assert sorted(p.name for p in work.iterdir()) == ["file.txt"]

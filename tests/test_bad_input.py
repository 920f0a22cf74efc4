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
import signal
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
    """A bad input and the exact line `validate` prints for it (`run` adds "error: ").

    The line is "file: key.path: value: what is wrong and what is allowed"; in it
    {file} stands for the scenario file, {work} for its folder, {base} for base.yaml.
    """

    id: str
    make: Maker
    line: str

    def expected(self, scenario_file: Path, work: Path) -> str:
        return (
            self.line.replace("{file}", str(scenario_file))
            .replace("{work}", str(work))
            .replace("{base}", str(BASE))
        )


def _python_tag(folder: Path) -> Path:
    return raw('!!python/object/apply:os.system ["touch PWNED"]\n')(folder)


def _broken_parent(folder: Path) -> Path:
    (folder / "parent.yaml").write_text("name: parent\nseed: [1, 2\n", encoding="utf-8")
    return raw("extends: parent.yaml\nname: child\n")(folder)


def _latin1_life_table(folder: Path) -> Path:
    (folder / "table.csv").write_bytes("age,sex,qx\n1,f\xe9,0.1\n".encode("latin-1"))
    return setting("cohort.life_table", "table.csv")(folder)


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
        (
            "{file}: horizon_yaers: unknown key 'horizon_yaers' (did you mean "
            "'horizon_years'?); allowed: name, title, extends, seed, currency, "
            "price_year, horizon_years, patients, psa_iterations, discount, wtp, "
            "comparator, cohort, strategies, uncertainty, analysis, sources"
        ),
    ),
    Case(
        "typo-nested-key",
        mutated(lambda d: rename_at(d, "strategies.itb.pump.reservoir_ml", "resevoir_ml")),
        (
            "{file}: strategies.itb.pump.resevoir_ml: unknown key 'resevoir_ml' (did you "
            "mean 'reservoir_ml'?); allowed: reservoir_ml, concentration_mcg_per_ml, "
            "alarm_volume_ml, stability_days, failure_rate_per_year, "
            "failure_withdrawal_probability, battery_life_years, battery_cap_years, "
            "battery_alarm_lead_days, replacement_delay_days, "
            "depletion_withdrawal_probability"
        ),
    ),
    Case(
        "typo-nested-key-via-extends",
        variant("strategies:\n  itb:\n    refill:\n      cost_vist: 300\n"),
        (
            "{file}: strategies.itb.refill.cost_vist: unknown key 'cost_vist' (did you "
            "mean 'cost_visit'?); allowed: cost_visit, drug_cost_per_mg, "
            "pocket_fill_probability, programming_error_probability, missed_probability, "
            "missed_delay_days, missed_withdrawal_probability"
        ),
    ),
    # -- numbers out of range
    Case(
        "probability-1.3",
        setting("strategies.oral.response_probability", 1.3),
        (
            "{file}: strategies.oral.response_probability: 1.3: input should be less "
            "than or equal to 1"
        ),
    ),
    Case(
        "probability-1.3-via-extends",
        variant("strategies:\n  itb:\n    infection:\n      explant_probability: 1.3\n"),
        (
            "{file}: strategies.itb.infection.explant_probability: 1.3: input should be "
            "less than or equal to 1"
        ),
    ),
    Case(
        "negative-rate",
        setting("strategies.itb.pump.failure_rate_per_year", -0.1),
        (
            "{file}: strategies.itb.pump.failure_rate_per_year: -0.1: input should be "
            "greater than or equal to 0"
        ),
    ),
    Case(
        "negative-cost",
        setting("strategies.itb.surgery.implant.cost", -100),
        (
            "{file}: strategies.itb.surgery.implant.cost: -100: input should be greater "
            "than or equal to 0"
        ),
    ),
    Case(
        "utility-above-1",
        setting("strategies.itb.utility", 1.2),
        "{file}: strategies.itb.utility: 1.2: input should be less than or equal to 1",
    ),
    Case(
        "nan-cost",
        setting("strategies.itb.refill.cost_visit", float("nan")),
        (
            "{file}: strategies.itb.refill.cost_visit: nan: must be a finite number (not "
            "NaN or infinity)"
        ),
    ),
    Case(
        "indication-shares-sum-1.22",
        setting("cohort.indications.brain_injury.share", 0.5),
        "{file}: cohort.indications: indication shares sum to 1.22: must be 1",
    ),
    Case(
        "severity-shares-sum-1.1",
        setting("strategies.itb.withdrawal.mild.share", 0.9),
        (
            "{file}: strategies.itb.withdrawal: shares of mild, moderate and severe sum "
            "to 1.1: must be 1"
        ),
    ),
    Case(
        "horizon-0",
        setting("horizon_years", 0),
        "{file}: horizon_years: 0: input should be greater than 0, or 'lifetime'",
    ),
    Case(
        "horizon-negative",
        setting("horizon_years", -5),
        "{file}: horizon_years: -5: input should be greater than 0, or 'lifetime'",
    ),
    Case(
        "horizon-not-a-number",
        setting("horizon_years", "forever"),
        ("{file}: horizon_years: 'forever': input should be a valid number, or 'lifetime'"),
    ),
    Case(
        "patients-0-in-file",
        setting("patients", 0),
        "{file}: patients: 0: input should be greater than or equal to 1",
    ),
    # -- wrong types
    Case(
        "string-for-number",
        setting("strategies.itb.pump.reservoir_ml", "twenty"),
        ("{file}: strategies.itb.pump.reservoir_ml: 'twenty': input should be a valid number"),
    ),
    Case(
        "quoted-number",
        setting("strategies.itb.pump.reservoir_ml", "20"),
        (
            "{file}: strategies.itb.pump.reservoir_ml: '20': input should be a valid "
            "number (YAML reads it as text: write 20, a plain number without quotes)"
        ),
    ),
    Case(
        "list-for-mapping",
        setting("discount", [0.03, 0.03]),
        "{file}: discount: [0.03, 0.03]: must be a mapping of keys",
    ),
    Case(
        "list-for-nested-mapping",
        setting("strategies.itb.pump", [20, 2000]),
        "{file}: strategies.itb.pump: [20, 2000]: must be a mapping of keys",
    ),
    Case(
        "boolean-for-number",
        setting("strategies.itb.pump.reservoir_ml", True),
        "{file}: strategies.itb.pump.reservoir_ml: True: input should be a valid number",
    ),
    Case(
        "boolean-for-count",
        setting("patients", True),
        "{file}: patients: True: input should be a valid integer",
    ),
    Case(
        "name-escapes-results-folder",
        setting("name", "../escape"),
        (
            "{file}: name: '../escape': must be a slug: lower-case letters, digits, '_', "
            "'-', '.', starting with a letter or digit, at most 80 characters (it names "
            "the result folder)"
        ),
    ),
    Case(
        "missing-required-key",
        mutated(lambda d: delete_at(d, "strategies.itb.pump.stability_days")),
        "{file}: strategies.itb.pump.stability_days: required key is missing",
    ),
    Case(
        "missing-required-key-via-null",
        variant("strategies:\n  itb:\n    pump:\n      reservoir_ml: null\n"),
        "{file}: strategies.itb.pump.reservoir_ml: required key is missing",
    ),
    Case(
        "unknown-dist-kind",
        setting("cohort.age_years", {"dist": "poisson", "mean": 45}),
        (
            "{file}: cohort.age_years: 'poisson' is not a known kind; allowed: 'fixed', "
            "'normal', 'lognormal', 'gamma', 'uniform', 'weibull', 'exponential'"
        ),
    ),
    Case(
        "unknown-strategy-type",
        setting("strategies.none.type", "surgery"),
        (
            "{file}: strategies.none: 'surgery' is not a known kind; allowed: "
            "'untreated', 'oral', 'itb'"
        ),
    ),
    # -- references between keys
    Case(
        "comparator-names-no-strategy",
        setting("comparator", "orla"),
        (
            "{file}: comparator: comparator 'orla' names no strategy (did you mean "
            "'oral'?); allowed: none, oral, itb"
        ),
    ),
    Case(
        "fallback-names-nothing",
        setting("strategies.itb.fallback", "tablets"),
        ("{file}: strategies.itb.fallback: fallback 'tablets' names no strategy; allowed: oral"),
    ),
    Case(
        "sources-names-missing-path",
        mutated(lambda d: d["sources"].update({"strategies.itb.pump.volume_ml": "a guess"})),
        "{file}: sources.strategies.itb.pump.volume_ml: names no key of the scenario",
    ),
    Case(
        "uncertainty-names-missing-path",
        mutated(
            lambda d: d["uncertainty"].update(
                {"strategies.itb.pump.failure_rate": {"dist": "gamma", "mean": 0.01, "se": 0.003}}
            )
        ),
        (
            "{file}: uncertainty.strategies.itb.pump.failure_rate: names no parameter of "
            "the scenario"
        ),
    ),
    Case(
        "uncertainty-beta-on-a-cost",
        mutated(
            lambda d: d["uncertainty"].update(
                {"strategies.itb.refill.cost_visit": {"dist": "beta", "mean": 0.5, "se": 0.1}}
            )
        ),
        (
            "{file}: uncertainty.strategies.itb.refill.cost_visit: beta fits "
            "probabilities, shares and utilities only (values in [0, 1]); use gamma or "
            "lognormal for a cost or a rate"
        ),
    ),
    Case(
        "uncertainty-on-a-run-setting",
        mutated(
            lambda d: d["uncertainty"].update(
                {"horizon_years": {"dist": "uniform", "low": 10, "high": 30}}
            )
        ),
        (
            "{file}: uncertainty.horizon_years: horizon_years is a run setting, not a "
            "model parameter: it cannot be uncertain (run the scenario again with "
            "another value instead)"
        ),
    ),
    # -- analysis
    Case(
        "correlation-names-a-certain-parameter",
        mutated(
            lambda d: d["analysis"]["correlations"].append(
                {"parameters": ["strategies.itb.utility", "horizon_years"], "rho": 0.5}
            )
        ),
        (
            "{file}: analysis.correlations[1].parameters: 'horizon_years' is not a "
            "(non-Dirichlet) parameter of `uncertainty`"
        ),
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
        "{file}: analysis.correlations[0].rho: 1.0: input should be less than 1",
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
        (
            "{file}: analysis.correlations: the correlations are inconsistent (the "
            "matrix is not positive definite)"
        ),
    ),
    Case(
        "evppi-group-names-unknown-parameter",
        setting("analysis.evppi_groups.device", ["strategies.itb.pump.size"]),
        (
            "{file}: analysis.evppi_groups.device: 'strategies.itb.pump.size' is not a "
            "key of `uncertainty`"
        ),
    ),
    Case(
        "threshold-without-range",
        mutated(
            lambda d: d["analysis"]["thresholds"].update({"strategies.itb.refill.cost_visit": {}})
        ),
        (
            "{file}: analysis.thresholds.strategies.itb.refill.cost_visit: give low and "
            "high (the parameter is not in `uncertainty`)"
        ),
    ),
    Case(
        "threshold-names-no-number",
        mutated(
            lambda d: d["analysis"]["thresholds"].update(
                {"strategies.itb.fallback": {"low": 0, "high": 1}}
            )
        ),
        (
            "{file}: analysis.thresholds.strategies.itb.fallback: names no numeric "
            "parameter of the scenario"
        ),
    ),
    Case(
        "threshold-low-above-high",
        mutated(
            lambda d: d["analysis"]["thresholds"].update(
                {"strategies.itb.utility": {"low": 0.8, "high": 0.4}}
            )
        ),
        ("{file}: analysis.thresholds.strategies.itb.utility: low 0.8 must be below high 0.4"),
    ),
    Case(
        "analysis-typo",
        mutated(lambda d: rename_at(d, "analysis.evppi_groups", "evpi_groups")),
        (
            "{file}: analysis.evpi_groups: unknown key 'evpi_groups' (did you mean "
            "'evppi_groups'?); allowed: correlations, evppi_groups, thresholds, "
            "wtp_grid_max, wtp_grid_points"
        ),
    ),
    # -- extends
    Case(
        "extends-missing-file",
        raw("extends: nowhere.yaml\nname: orphan\n"),
        "{file}: extends: 'nowhere.yaml': no such file ({work}/nowhere.yaml)",
    ),
    Case(
        "extends-cycle",
        _cycle,
        "{file}: extends: cycle: a.yaml -> b.yaml -> a.yaml",
    ),
    Case(
        "extends-not-a-string",
        raw("extends: [base.yaml]\nname: x\n"),
        "{file}: extends: ['base.yaml'] must be a file name (a string)",
    ),
    Case(
        "extends-broken-parent",
        _broken_parent,
        (
            "{work}/parent.yaml: YAML syntax error at line 3, column 1: expected ',' or "
            "']', but got '<stream end>' (while parsing a flow sequence opened at line 2)"
        ),
    ),
    # -- the file itself
    Case(
        "missing-scenario-file",
        _missing,
        "{file}: file not found",
    ),
    Case(
        "folder-as-scenario",
        _folder,
        "{file}: is a directory, not a scenario file",
    ),
    Case(
        "empty-file",
        raw(""),
        "{file}: empty file: a scenario is a YAML mapping of keys",
    ),
    Case(
        "yaml-list",
        raw("- name: base\n- seed: 1\n"),
        "{file}: top level is a list: a scenario is a mapping of keys",
    ),
    Case(
        "yaml-scalar",
        raw("just some words\n"),
        "{file}: top level is a str: a scenario is a mapping of keys",
    ),
    Case(
        "invalid-yaml-syntax",
        raw("name: broken\nseed: [1, 2\nhorizon_years: 20\n"),
        (
            "{file}: YAML syntax error at line 3, column 14: expected ',' or ']', but "
            "got ':' (while parsing a flow sequence opened at line 2)"
        ),
    ),
    Case(
        "duplicate-key",
        raw("name: one\nseed: 1\nname: two\n"),
        (
            "{file}: YAML syntax error at line 3, column 1: duplicate key 'name': each "
            "key may appear once"
        ),
    ),
    Case(
        "duplicate-nested-key",
        raw(f"extends: {BASE}\nname: dup\ndiscount:\n  costs: 0.03\n  costs: 0.05\n"),
        (
            "{file}: YAML syntax error at line 5, column 3: duplicate key 'costs': each "
            "key may appear once"
        ),
    ),
    Case(
        "binary-file",
        raw(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
        "{file}: binary content: a scenario is a UTF-8 YAML text file",
    ),
    Case(
        "latin-1-file",
        raw("name: caf\u00e9\n".encode("latin-1")),
        "{file}: not UTF-8 text (byte 9): save the file as UTF-8",
    ),
    Case(
        "python-tag",
        _python_tag,
        (
            "{file}: YAML tag not allowed at line 1, column 1: "
            "!!python/object/apply:os.system: a scenario holds plain values only"
        ),
    ),
    Case(
        "yaml-alias-bomb",
        _alias_bomb,
        (
            "{file}: title: [[[[[[[...], [...], [...], [...], [...], [...], ...], "
            "[[....: input should be a valid string"
        ),
    ),
    # -- life tables
    Case(
        "life-table-missing",
        with_life_table(None),
        (
            "{file}: cohort.life_table: no such life table 'table.csv': use one of "
            "us-ssa-2019, us-ssa-2020 or a CSV file with columns age, sex, qx"
        ),
    ),
    Case(
        "life-table-bad-columns",
        with_life_table(_life_table_rows(header="age,gender,q")),
        "{file}: cohort.life_table: {work}/table.csv: missing column(s) qx, sex",
    ),
    Case(
        "life-table-qx-above-1",
        with_life_table(_life_table_rows(qx=lambda age: "1.5" if age == 50 else "0.01")),
        ("{file}: cohort.life_table: {work}/table.csv: line 52: qx = 1.5 must be in [0, 1]"),
    ),
    Case(
        "life-table-qx-negative",
        with_life_table(_life_table_rows(qx=lambda age: "-0.01" if age == 7 else "0.01")),
        ("{file}: cohort.life_table: {work}/table.csv: line 9: qx = -0.01 must be in [0, 1]"),
    ),
    Case(
        "life-table-qx-not-a-number",
        with_life_table(_life_table_rows(qx=lambda age: "n/a" if age == 3 else "0.01")),
        (
            "{file}: cohort.life_table: {work}/table.csv: line 5: age must be an integer "
            "and qx a number"
        ),
    ),
    Case(
        "life-table-short-row",
        with_life_table(_life_table_rows().replace("\n12,male,0.01\n", "\n12,male\n")),
        ("{file}: cohort.life_table: {work}/table.csv: line 125: needs values for age, sex and qx"),
    ),
    # -- added
    Case(
        "infinite-rate",
        setting("strategies.itb.explant_rate_per_year", float("inf")),
        (
            "{file}: strategies.itb.explant_rate_per_year: inf: must be a finite number "
            "(not NaN or infinity)"
        ),
    ),
    Case(
        "negative-infinite-utility",
        setting("strategies.oral.utility_controlled", float("-inf")),
        (
            "{file}: strategies.oral.utility_controlled: -inf: must be a finite number "
            "(not NaN or infinity)"
        ),
    ),
    Case(
        "share-negative",
        setting("cohort.indications.cerebral_palsy.share", -0.1),
        (
            "{file}: cohort.indications.cerebral_palsy.share: -0.1: input should be "
            "greater than or equal to 0"
        ),
    ),
    Case(
        "male-share-above-1",
        setting("cohort.male_share", 1.5),
        "{file}: cohort.male_share: 1.5: input should be less than or equal to 1",
    ),
    Case(
        "truncation-excludes-all",
        setting(
            "strategies.itb.pump.battery_life_years",
            {"dist": "normal", "mean": 5.9, "sd": 0.7, "low": 40, "high": 50},
        ),
        (
            "{file}: strategies.itb.pump.battery_life_years: bounds [40.0, 50.0] exclude "
            "all the mass of normal(mean 5.9, sd 0.7): widen them"
        ),
    ),
    Case(
        "battery-cap-below-alarm",
        setting("strategies.itb.pump.battery_alarm_lead_days", 3000),
        (
            "{file}: strategies.itb.pump: battery_cap_years 7 is shorter than "
            "battery_alarm_lead_days 3000: the alarm would sound before implant"
        ),
    ),
    Case(
        "fallback-wrong-type",
        setting("strategies.itb.fallback", "none"),
        ("{file}: strategies.itb.fallback: fallback 'none' is not an oral strategy; allowed: oral"),
    ),
    Case(
        "name-absolute-path",
        setting("name", "/etc/passwd"),
        (
            "{file}: name: '/etc/passwd': must be a slug: lower-case letters, digits, "
            "'_', '-', '.', starting with a letter or digit, at most 80 characters (it "
            "names the result folder)"
        ),
    ),
    Case(
        "name-uppercase",
        setting("name", "Base Case"),
        (
            "{file}: name: 'Base Case': must be a slug: lower-case letters, digits, '_', "
            "'-', '.', starting with a letter or digit, at most 80 characters (it names "
            "the result folder)"
        ),
    ),
    Case(
        "patients-1e12-text",
        raw(f"extends: {BASE}\nname: big\npatients: 1e12\n"),
        (
            "{file}: patients: '1e12': input should be a valid integer (YAML reads it as "
            "text: write 1000000000000, a plain number without quotes)"
        ),
    ),
    Case(
        "patients-10-to-the-12",
        setting("patients", 10**12),
        (
            "{file}: patients: 1000000000000: input should be less than or equal to "
            "100000000: more patients per strategy than a run can finish in hours; the "
            "MCSE columns show when fewer suffice"
        ),
    ),
    Case(
        "psa-iterations-absurd",
        setting("psa_iterations", 10**9),
        (
            "{file}: psa_iterations: 1000000000: input should be less than or equal to "
            "1000000: more PSA iterations than a run can finish in hours; the "
            "convergence table shows when fewer suffice"
        ),
    ),
    Case(
        "patients-fraction",
        setting("patients", 100.5),
        "{file}: patients: 100.5: input should be a valid integer",
    ),
    Case(
        "typo-cohort-key",
        mutated(lambda d: rename_at(d, "cohort.male_share", "male_shares")),
        (
            "{file}: cohort.male_shares: unknown key 'male_shares' (did you mean "
            "'male_share'?); allowed: age_years, male_share, life_table, indications"
        ),
    ),
    Case(
        "typo-strategy-key",
        mutated(
            lambda d: rename_at(d, "strategies.oral.care_cost_per_year", "care_costs_per_year")
        ),
        (
            "{file}: strategies.oral.care_costs_per_year: unknown key "
            "'care_costs_per_year' (did you mean 'care_cost_per_year'?); allowed: type, "
            "response_probability, utility_controlled, utility_uncontrolled, "
            "drug_cost_per_mg, care_cost_per_year, discontinuation_rate_per_year, "
            "untreated_utility, untreated_care_cost_per_year, withdrawal_rate_per_year, "
            "withdrawal, side_effects"
        ),
    ),
    Case(
        "typo-severity-key",
        mutated(lambda d: rename_at(d, "strategies.itb.overdose.severe", "sever")),
        (
            "{file}: strategies.itb.overdose.sever: unknown key 'sever' (did you mean "
            "'severe'?); allowed: mild, moderate, severe"
        ),
    ),
    Case(
        "typo-side-effect-name",
        mutated(lambda d: rename_at(d, "strategies.itb.side_effects.events.tinnitus", "tinitus")),
        (
            "{file}: strategies.itb.side_effects.events.tinitus: unknown key 'tinitus' "
            "(did you mean 'tinnitus'?); allowed: seizure, hallucinations, tinnitus, "
            "depression, vision_problems, breathing_problems, constipation, headache, "
            "paresthesia, drowsiness, hypotonia, nausea"
        ),
    ),
    Case(
        "typo-distribution-key",
        setting("cohort.age_years", {"dist": "normal", "mean": 45, "sdev": 15}),
        (
            "{file}: cohort.age_years.sdev: unknown key 'sdev' (did you mean 'sd'?); "
            "allowed: dist, mean, sd, low, high"
        ),
    ),
    Case(
        "typo-uncertainty-key",
        mutated(
            lambda d: d["uncertainty"].update(
                {"strategies.itb.utility": {"dist": "beta", "mean": 0.65, "sd": 0.05}}
            )
        ),
        (
            "{file}: uncertainty.strategies.itb.utility.sd: unknown key 'sd'; allowed: "
            "dist, mean, se, alpha, beta, shape, scale, meanlog, sdlog, mode, low, high"
        ),
    ),
    Case(
        "typo-discount-key",
        setting("discount", {"cost": 0.03, "effects": 0.03}),
        (
            "{file}: discount.cost: unknown key 'cost' (did you mean 'costs'?); allowed: "
            "costs, effects"
        ),
    ),
    Case(
        "discount-above-1",
        setting("discount", {"costs": 3, "effects": 0.03}),
        "{file}: discount.costs: 3: input should be less than 1",
    ),
    Case(
        "wtp-negative",
        setting("wtp", [-50000]),
        "{file}: wtp[0]: -50000: input should be greater than or equal to 0",
    ),
    Case(
        "wtp-empty",
        setting("wtp", []),
        "{file}: wtp: []: needs at least 1 item(s)",
    ),
    Case(
        "currency-lower",
        setting("currency", "usd"),
        "{file}: currency: 'usd': must be an ISO 4217 code such as USD, EUR or GBP",
    ),
    Case(
        "age-out-of-range",
        setting("cohort.age_years", {"dist": "uniform", "low": 18, "high": 150}),
        (
            "{file}: cohort.age_years: ages from 18 to 150: must lie within 0..120 "
            "(truncate a normal with low/high, or use uniform)"
        ),
    ),
    Case(
        "strategy-name-bad",
        mutated(lambda d: d["strategies"].update({"ITB 2": d["strategies"]["itb"]})),
        ("{file}: strategies: strategy name 'ITB 2' must be lower-case letters, digits and '_'"),
    ),
    Case(
        "no-strategies",
        setting("strategies", {}),
        "{file}: strategies: needs at least 1 item(s)",
    ),
    Case(
        "uncertainty-gamma-mean-negative",
        mutated(
            lambda d: d["uncertainty"].update(
                {"strategies.itb.care_cost_per_year": {"dist": "gamma", "mean": -5, "se": 1}}
            )
        ),
        ("{file}: uncertainty.strategies.itb.care_cost_per_year: gamma mean -5 must be > 0"),
    ),
    Case(
        "uncertainty-beta-se-too-large",
        mutated(
            lambda d: d["uncertainty"].update(
                {"strategies.itb.utility": {"dist": "beta", "mean": 0.65, "se": 0.6}}
            )
        ),
        (
            "{file}: uncertainty.strategies.itb.utility: beta se 0.6 too large for mean "
            "0.65: se must be below 0.477"
        ),
    ),
    Case(
        "uncertainty-normal-missing-se",
        mutated(
            lambda d: d["uncertainty"].update(
                {"strategies.itb.utility": {"dist": "normal", "mean": 0.65}}
            )
        ),
        ("{file}: uncertainty.strategies.itb.utility: a normal distribution needs mean/se"),
    ),
    Case(
        "dirichlet-unknown-share",
        mutated(
            lambda d: d["uncertainty"].update(
                {
                    "cohort.indications": {
                        "dist": "dirichlet",
                        "counts": {"cerebral_palsy": 1, "stroke": 2},
                    }
                }
            )
        ),
        (
            "{file}: uncertainty.cohort.indications.counts: names ['cerebral_palsy', "
            "'stroke']; must name exactly ['brain_injury', 'cerebral_palsy', "
            "'multiple_sclerosis', 'spinal_cord_injury']"
        ),
    ),
    Case(
        "extends-self",
        raw("extends: scenario.yaml\nname: self\n"),
        "{file}: extends: cycle: scenario.yaml -> scenario.yaml",
    ),
    Case(
        "life-table-missing-age",
        with_life_table(_life_table_rows().replace("\n50,male,0.01\n", "\n")),
        "{file}: cohort.life_table: {work}/table.csv: sex male: missing age 50",
    ),
    Case(
        "life-table-bad-sex",
        with_life_table(_life_table_rows().replace("\n50,male,0.01\n", "\n50,x,0.01\n")),
        ("{file}: cohort.life_table: {work}/table.csv: line 163: sex must be female or male"),
    ),
    Case(
        "life-table-not-utf8",
        _latin1_life_table,
        "{file}: cohort.life_table: {work}/table.csv: not a UTF-8 text file",
    ),
    Case(
        "yaml-tab-indent",
        raw("name: x\nseed:\n\t- 1\n"),
        (
            "{file}: YAML syntax error at line 3, column 1: found character '\\t' that "
            "cannot start any token"
        ),
    ),
    Case(
        "yaml-bad-indent",
        raw("name: x\n  seed: 1\n horizon_years: 3\n"),
        ("{file}: YAML syntax error at line 2, column 7: mapping values are not allowed here"),
    ),
    Case(
        "yaml-unclosed-quote",
        raw('name: "x\nseed: 1\n'),
        (
            "{file}: YAML syntax error at line 3, column 1: found unexpected end of "
            "stream (while scanning a quoted scalar opened at line 1)"
        ),
    ),
    Case(
        "non-string-key",
        raw(f"extends: {BASE}\nname: k\n1: 2\n"),
        (
            "{file}: 1: unknown key 1; allowed: name, title, extends, seed, currency, "
            "price_year, horizon_years, patients, psa_iterations, discount, wtp, "
            "comparator, cohort, strategies, uncertainty, analysis, sources"
        ),
    ),
    Case(
        "alarm-volume-above-reservoir",
        setting("strategies.itb.pump.alarm_volume_ml", 25),
        "{file}: strategies.itb.pump: alarm_volume_ml 25 must be below reservoir_ml 20",
    ),
    Case(
        "seed-negative-in-file",
        setting("seed", -1),
        "{file}: seed: -1: input should be greater than or equal to 0",
    ),
    Case(
        "horizon-too-long",
        setting("horizon_years", 500),
        ("{file}: horizon_years: 500: input should be less than or equal to 120, or 'lifetime'"),
    ),
    Case(
        "mortality-multiplier-string",
        setting("cohort.indications.brain_injury.mortality_multiplier", "2x"),
        (
            "{file}: cohort.indications.brain_injury.mortality_multiplier: '2x': input "
            "should be a valid number"
        ),
    ),
    Case(
        "duration-negative",
        setting("strategies.itb.overdose.mild.duration_days", -2),
        (
            "{file}: strategies.itb.overdose.mild.duration_days: -2: input should be "
            "greater than or equal to 0"
        ),
    ),
    Case(
        "death-prob-above-1",
        setting("strategies.itb.surgery.implant.death_probability", 2),
        (
            "{file}: strategies.itb.surgery.implant.death_probability: 2: input should "
            "be less than or equal to 1"
        ),
    ),
    Case(
        "correlation-rho-string",
        mutated(lambda d: d["analysis"]["correlations"][0].update({"rho": "high"})),
        "{file}: analysis.correlations[0].rho: 'high': input should be a valid number",
    ),
    Case(
        "sources-not-string",
        mutated(lambda d: d["sources"].update({"seed": 5})),
        "{file}: sources.seed: 5: input should be a valid string",
    ),
    Case(
        "weibull-shape-0",
        setting(
            "strategies.itb.catheter.time_to_failure_years",
            {"dist": "weibull", "shape": 0, "scale": 50},
        ),
        (
            "{file}: strategies.itb.catheter.time_to_failure_years.shape: 0: input "
            "should be greater than 0"
        ),
    ),
    Case(
        "uniform-low-above-high",
        setting(
            "strategies.itb.pump.replacement_delay_days", {"dist": "uniform", "low": 60, "high": 14}
        ),
        ("{file}: strategies.itb.pump.replacement_delay_days: low 60.0 must not exceed high 14.0"),
    ),
    Case(
        "dist-missing-kind",
        setting("cohort.age_years", {"mean": 45, "sd": 15}),
        "{file}: cohort.age_years: needs the key 'dist'",
    ),
    Case(
        "negative-dose-dist",
        setting(
            "cohort.indications.brain_injury.oral_dose_mg_per_day",
            {"dist": "normal", "mean": 60, "sd": 20},
        ),
        (
            "{file}: cohort.indications.brain_injury: oral_dose_mg_per_day must not be "
            "negative, but this distribution has no lower bound: give it low: 0 or more"
        ),
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


def assert_one_line_error(
    code: int, stderr: str, *fragments: str, exit_code: int = EXIT_BAD_INPUT
) -> str:
    assert code == exit_code, f"exit code {code}, stderr:\n{stderr}"
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


def _in_process(args: list[str], cwd: Path, monkeypatch, capsys) -> tuple[int, str, str]:
    """`baclofen-sim ARGS` through `cli.main` in this process: the same code path as the
    console script, without paying 1.8 s of interpreter start-up per case."""
    from sim import cli

    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["baclofen-sim", *args])
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    capsys.readouterr()
    try:
        cli.main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_scenario_is_one_line_exit_2_and_writes_nothing(
    case: Case, tmp_path: Path, monkeypatch, capsys
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    scenario_file = case.make(work)
    results = tmp_path / "results"
    expected = case.expected(scenario_file, work)
    for command in (
        ["validate", str(scenario_file)],
        ["run", str(scenario_file), "--patients", "20", "--out", str(results), "--quiet"],
    ):
        code, stdout, stderr = _in_process(command, work, monkeypatch, capsys)
        line = assert_one_line_error(code, stderr)
        assert line == (f"error: {expected}" if command[0] == "run" else expected)
        assert stdout == "", f"{command[0]} printed on stdout: {stdout!r}"
    assert_nothing_written(results)
    assert not (work / "PWNED").exists()


#: A case of each kind again through the real console script: a fresh interpreter, its
#: own stderr and exit status.
THROUGH_A_SUBPROCESS = (
    "typo-nested-key",
    "probability-1.3-via-extends",
    "nan-cost",
    "python-tag",
    "binary-file",
    "invalid-yaml-syntax",
    "extends-cycle",
    "life-table-qx-above-1",
    "uncertainty-beta-on-a-cost",
    "name-absolute-path",
    "yaml-alias-bomb",
    "patients-10-to-the-12",
)


@pytest.mark.parametrize("case_id", THROUGH_A_SUBPROCESS)
def test_bad_scenario_through_the_console_script(case_id: str, tmp_path: Path) -> None:
    case = next(c for c in CASES if c.id == case_id)
    work = tmp_path / "work"
    work.mkdir()
    scenario_file = case.make(work)
    results = tmp_path / "results"
    run = _start(
        ["run", str(scenario_file), "--patients", "20", "--out", str(results), "--quiet"], work
    )
    check = _start(["validate", str(scenario_file)], work)
    expected = case.expected(scenario_file, work)
    for command, (code, stdout, stderr) in {
        "run": _finish(run),
        "validate": _finish(check),
    }.items():
        line = assert_one_line_error(code, stderr)
        assert line == (f"error: {expected}" if command == "run" else expected)
        assert stdout == ""
    assert_nothing_written(results)
    assert not (work / "PWNED").exists()


def test_the_corpus_covers_forty_distinct_problems() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 40
    assert len({c.line for c in CASES}) == len(CASES), "two cases expect the same line"


def test_python_tag_executes_nothing_in_any_command(tmp_path: Path) -> None:
    scenario_file = _python_tag(tmp_path)
    for args in (
        ["run", str(scenario_file), "--out", str(tmp_path / "results"), "--quiet"],
        ["validate", str(scenario_file)],
        ["trace", str(scenario_file), "--strategy", "itb"],
    ):
        code, _, stderr = _finish(_start(args, tmp_path))
        assert_one_line_error(code, stderr, f"{scenario_file}: ", "YAML tag not allowed")
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


# ------------------------------------------------------------------------ safe writes


def test_an_unwritable_results_folder_is_refused_before_the_run(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder\n", encoding="utf-8")
    out = blocker / "results"
    code, stdout, stderr = _in_process(
        ["run", str(BASE), "--patients", "20", "--out", str(out), "--quiet"],
        tmp_path,
        monkeypatch,
        capsys,
    )
    line = assert_one_line_error(code, stderr)
    assert (
        line == f"error: --out {out}: cannot write there (Not a directory); give a folder "
        "you can write to"
    )
    assert stdout == ""


def test_a_full_disk_is_one_line_exit_74_and_keeps_the_earlier_results(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    import errno

    from sim.output import tables

    out = tmp_path / "out"
    args = ["run", str(BASE), "--patients", "20", "--psa-iterations", "0", "--out", str(out)]
    code, _, stderr = _in_process([*args, "--quiet"], tmp_path, monkeypatch, capsys)
    assert code == 0, stderr
    before = {p.name: p.read_bytes() for p in (out / "base").iterdir()}
    real_write = tables.write_csv

    def full_disk(frame, path: Path) -> None:
        if path.name == "events.csv":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real_write(frame, path)

    monkeypatch.setattr(tables, "write_csv", full_disk)
    code, _, stderr = _in_process([*args, "--seed", "7", "--quiet"], tmp_path, monkeypatch, capsys)
    line = assert_one_line_error(code, stderr, exit_code=74)
    assert line == (
        f"error: {out / 'base'}: cannot write the results (No space left on device writing "
        "events.csv); the earlier results there are untouched"
    )
    assert {p.name: p.read_bytes() for p in (out / "base").iterdir()} == before
    assert sorted(p.name for p in out.iterdir()) == ["base"], "a temporary folder was left"


def test_a_failed_swap_puts_the_earlier_results_back(tmp_path: Path, monkeypatch) -> None:
    from sim.output import files

    target = tmp_path / "base"
    target.mkdir()
    (target / "summary.csv").write_text("earlier\n", encoding="utf-8")
    real_rename = os.rename
    calls = []

    def rename(src, dst) -> None:
        calls.append(Path(dst))
        if len(calls) == 2:  # the new folder into place: fails
            raise OSError(28, "No space left on device")
        real_rename(src, dst)

    monkeypatch.setattr(files.os, "rename", rename)
    with pytest.raises(OSError), files.atomic_folder(target) as tmp:
        (tmp / "summary.csv").write_text("new\n", encoding="utf-8")
    assert (target / "summary.csv").read_text(encoding="utf-8") == "earlier\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base"]


def test_debug_shows_the_traceback_the_default_hides(tmp_path: Path) -> None:
    scenario_file = setting("strategies.oral.response_probability", 1.3)(tmp_path)
    args = ["run", str(scenario_file), "--out", str(tmp_path / "results"), "--quiet"]
    code, _, stderr = _finish(_start(args, tmp_path))
    assert_one_line_error(code, stderr, "1.3: input should be less than or equal to 1")
    code, _, stderr = _finish(_start(["--debug", *args], tmp_path))
    assert code != 0
    assert "Traceback (most recent call last)" in stderr
    assert "ScenarioError" in stderr and "response_probability" in stderr

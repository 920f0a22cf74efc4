"""Bad input through the real command line: one line on stderr, exit code 2, nothing written.

The corpus is data: one file per case in ``tests/bad_input/`` (the format is in its
README.md), so a reviewer reads a case in one small file and adds one by adding a file.
Each case is written into tmp_path and given to ``validate`` and ``run`` through
``cli.main`` in this process; a few run again through the console script in a fresh
interpreter. The standard (DESIGN §7):

* exit code 2;
* stderr is exactly one line, with no traceback, naming the file and the key path and
  saying what is allowed;
* nothing is written: the results folder is absent or empty, with no ``.*.tmp-*`` folder.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import (
    BASE,
    BASE_NAME,
    SCENARIOS,
    assert_nothing_written,
    assert_one_line_error,
    base_document,
    cli_in_process,
    console,
    console_finish,
    console_start,
    copy_result,
    snapshot,
)

CASES_DIR = Path(__file__).resolve().parent
#: A narrow terminal must not wrap the one line either.
NARROW = {"COLUMNS": "40"}


# ------------------------------------------------------------ building a case's files


def _steps(path: str) -> list[str | int]:
    """`analysis.correlations[0].rho` -> ['analysis', 'correlations', 0, 'rho']."""
    steps: list[str | int] = []
    for part in path.split("."):
        name, *indexes = re.split(r"\[(\d+)\]", part)
        steps += [name] if name else []
        steps += [int(i) for i in indexes if i]
    return steps


def _parent(doc: dict[str, Any], path: str) -> tuple[Any, str | int]:
    *steps, last = _steps(path)
    node: Any = doc
    for step in steps:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            raise AssertionError(f"base.yaml has no {path}: the case would test nothing") from None
    return node, last


def _node(doc: dict[str, Any], path: str) -> Any:
    node, last = _parent(doc, path)
    return node[last]


def set_at(doc: dict[str, Any], path: str, value: Any) -> None:
    node, last = _parent(doc, path)
    exists = last in node if isinstance(node, dict) else 0 <= int(last) < len(node)
    assert exists, f"base.yaml has no {path}: the case would test nothing"
    node[last] = value


def rename_at(doc: dict[str, Any], path: str, new_name: str) -> None:
    """Rename a key in place (keeping its position, so the typo sits where the key was)."""
    node, last = _parent(doc, path)
    assert last in node, f"base.yaml has no {path} to rename"
    items = [(new_name if k == last else k, v) for k, v in node.items()]
    node.clear()
    node.update(items)


def delete_at(doc: dict[str, Any], path: str) -> None:
    node, last = _parent(doc, path)
    assert last in node, f"base.yaml has no {path} to delete"
    del node[last]


def update_at(doc: dict[str, Any], path: str, keys: dict[str, Any]) -> None:
    """Put keys into the mapping at path: for keys that hold dots themselves (`sources`)."""
    node = _node(doc, path)
    assert isinstance(node, dict), f"{path} in base.yaml is not a mapping"
    node.update(keys)


def copy_at(doc: dict[str, Any], path: str, new_name: str) -> None:
    node, last = _parent(doc, path)
    assert new_name not in node, f"{path}: {new_name} exists already"
    node[new_name] = copy.deepcopy(node[last])


def life_table_text(edits: dict[str, str | None]) -> str:
    """A valid table (ages 0-110, female then male, qx 0.01) with whole lines replaced
    (None: removed); a line that is not there fails the case instead of testing nothing."""
    lines = ["age,sex,qx"]
    lines += [f"{age},{sex},0.01" for sex in ("female", "male") for age in range(111)]
    for old, new in edits.items():
        assert old in lines, f"life_table: the valid table has no line {old!r}"
        at = lines.index(old)
        lines[at : at + 1] = [] if new is None else [new]
    return "\n".join(lines) + "\n"


#: Edits of base.yaml; a case may give several, applied in the order it gives them.
EDITS = ("set", "update", "rename", "copy", "delete", "life_table")


def _edit(doc: dict[str, Any], key: str, entries: Any, folder: Path) -> None:
    """Apply one edit key of a case file to base.yaml's document."""
    if key == "delete":
        for path in entries:
            delete_at(doc, path)
    elif key == "life_table":
        _write(folder / "table.csv", life_table_text(entries or {}))
        set_at(doc, "cohort.life_table", "table.csv")
    else:
        apply = {"set": set_at, "update": update_at, "rename": rename_at, "copy": copy_at}[key]
        for path, value in entries.items():
            apply(doc, path, value)


#: Ways to make the scenario file other than editing base.yaml; a case uses one of them.
SOURCES = ("variant", "text", "kind")
KINDS = ("missing", "folder")
KEYS = {"expect", "file", "files", "encoding", *EDITS, *SOURCES}


def _fill(text: str) -> str:
    return text.replace("{base}", str(BASE))


def _write(path: Path, content: str | dict[str, str]) -> None:
    """Text (UTF-8), or {text, encoding}: latin-1 writes each character up to \\xff as
    that byte, so any bytes can be written as text."""
    if isinstance(content, str):
        content = {"text": content}
    path.write_bytes(_fill(content["text"]).encode(content.get("encoding", "utf-8")))


@dataclass(frozen=True)
class Case:
    """A bad input and the exact line `validate` prints for it (`run` adds "error: ").

    The line is "file: key.path: value: what is wrong and what is allowed"; in it
    {file} stands for the scenario file, {work} for its folder, {base} for base.yaml.
    """

    id: str
    spec: dict[str, Any]

    @property
    def line(self) -> str:
        return self.spec["expect"]

    def expected(self, scenario_file: Path, work: Path) -> str:
        return (
            self.line.replace("{file}", str(scenario_file))
            .replace("{work}", str(work))
            .replace("{base}", str(BASE))
        )

    def make(self, folder: Path) -> Path:
        """Write the case's files into folder; the path to give the command."""
        spec = self.spec
        default = "variant.yaml" if "variant" in spec else "scenario.yaml"
        path = folder / spec.get("file", default)
        for name, content in spec.get("files", {}).items():
            _write(folder / name, content)
        if spec.get("kind") == "missing":
            return path
        if spec.get("kind") == "folder":
            path.mkdir()
        elif "text" in spec:
            _write(path, {"text": spec["text"], "encoding": spec.get("encoding", "utf-8")})
        elif "variant" in spec:
            _write(path, "extends: {base}\nname: variant\n" + spec["variant"])
        else:
            doc = base_document()
            for key, entries in spec.items():
                if key in EDITS:
                    _edit(doc, key, entries, folder)
            path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return path


def load_case(file: Path) -> Case:
    """A case file checked for its shape: a misspelt key must fail, not test base.yaml."""
    spec = yaml.safe_load(file.read_text(encoding="utf-8"))
    where = file.name
    assert isinstance(spec, dict), f"{where}: not a mapping"
    assert set(spec) <= KEYS, f"{where}: unknown key(s) {sorted(set(spec) - KEYS)}"
    assert isinstance(spec.get("expect"), str), f"{where}: needs `expect:`, a string"
    ways = [k for k in SOURCES if k in spec] + (["edits"] if set(spec) & set(EDITS) else [])
    assert len(ways) == 1, f"{where}: give one of {', '.join(SOURCES)} or edits, not {ways}"
    assert spec.get("kind", KINDS[0]) in KINDS, f"{where}: kind must be one of {KINDS}"
    assert "encoding" not in spec or "text" in spec, f"{where}: `encoding:` goes with `text:`"
    return Case(file.stem, spec)


CASES = sorted((load_case(f) for f in CASES_DIR.glob("*.yaml")), key=lambda c: c.id)
CASE = {c.id: c for c in CASES}


# --------------------------------------------------------------------------- running


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_scenario_is_one_line_exit_2_and_writes_nothing(case: Case, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    scenario_file = case.make(work)
    results = tmp_path / "results"
    expected = case.expected(scenario_file, work)
    for command in (
        ["validate", str(scenario_file)],
        ["run", str(scenario_file), "--patients", "20", "--out", str(results), "--quiet"],
    ):
        ran = cli_in_process(*command, cwd=work)
        line = assert_one_line_error(ran.code, ran.err)
        assert line == (f"error: {expected}" if command[0] == "run" else expected)
        assert ran.out == "", f"{command[0]} printed on stdout: {ran.out!r}"
    assert_nothing_written(results)
    assert not (work / "PWNED").exists()


#: A case of each kind again through the real console script: a fresh interpreter, its
#: own stderr and exit status.
THROUGH_A_SUBPROCESS = (
    "invalid-yaml-syntax",
    "python-tag",
    "binary-file",
    "extends-cycle",
    "life-table-qx-above-1",
    "typo-nested-key",
)


@pytest.mark.parametrize("case_id", THROUGH_A_SUBPROCESS)
def test_bad_scenario_through_the_console_script(case_id: str, tmp_path: Path) -> None:
    case = CASE[case_id]
    work = tmp_path / "work"
    work.mkdir()
    scenario_file = case.make(work)
    results = tmp_path / "results"
    run = console_start(
        "run", scenario_file, "--patients", "20", "--out", results, "--quiet", cwd=work, env=NARROW
    )
    check = console_start("validate", scenario_file, cwd=work, env=NARROW)
    expected = case.expected(scenario_file, work)
    for command, ran in {"run": console_finish(run), "validate": console_finish(check)}.items():
        line = assert_one_line_error(ran.code, ran.err)
        assert line == (f"error: {expected}" if command == "run" else expected)
        assert ran.out == ""
    assert_nothing_written(results)
    assert not (work / "PWNED").exists()


def test_the_corpus_covers_forty_distinct_problems() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 40
    assert len({c.line for c in CASES}) == len(CASES), "two cases expect the same line"


def test_a_misshapen_case_file_is_refused(tmp_path: Path) -> None:
    """The loader's checks: a case file with a typo must fail, not quietly test base.yaml."""
    case_file = tmp_path / "misshapen.yaml"
    for body, says in (
        ("expect: x\nsett: {seed: -1}\n", "unknown key(s) ['sett']"),
        ("set: {seed: -1}\n", "needs `expect:`"),
        ("expect: x\n", "give one of"),
        ("expect: x\ntext: a\nset: {seed: -1}\n", "give one of"),
        ("expect: x\nkind: gone\n", "kind must be one of"),
        ("expect: x\nset: {seed: -1}\nencoding: latin-1\n", "`encoding:` goes with `text:`"),
    ):
        case_file.write_text(body, encoding="utf-8")
        with pytest.raises(AssertionError, match=re.escape(f"misshapen.yaml: {says}")):
            load_case(case_file)


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ({"set": {"strategies.itb.pump.volume_ml": 3}}, "base.yaml has no"),
        ({"rename": {"seeds": "seed"}}, "base.yaml has no seeds to rename"),
        ({"delete": ["cohort.sexes"]}, "base.yaml has no cohort.sexes to delete"),
        ({"set": {"wtp[3]": 1}}, "base.yaml has no wtp[3]"),
        ({"set": {"strategies.none.type": "x"}}, "base.yaml has no strategies.none.type"),
        (
            {"set": {"analysis.correlations[0].rho": 1}},
            "base.yaml has no analysis.correlations[0].rho",
        ),
        ({"life_table": {"50,male,0.02": None}}, "the valid table has no line"),
    ],
    ids=[
        "set",
        "rename",
        "delete",
        "set-list-item",
        "set-under-missing-key",
        "set-in-missing-list",
        "life-table",
    ],
)
def test_an_edit_of_what_base_yaml_lacks_is_refused(
    spec: dict[str, Any], says: str, tmp_path: Path
) -> None:
    """An edit that misses base.yaml would leave a valid scenario: the case must fail."""
    with pytest.raises(AssertionError, match=re.escape(says)):
        Case("edit", {"expect": "x", **spec}).make(tmp_path)


def test_python_tag_executes_nothing_in_any_command(tmp_path: Path) -> None:
    scenario_file = CASE["python-tag"].make(tmp_path)
    for args in (
        ["run", str(scenario_file), "--out", str(tmp_path / "results"), "--quiet"],
        ["validate", str(scenario_file)],
        ["trace", str(scenario_file), "--strategy", "itb"],
    ):
        ran = cli_in_process(*args, cwd=tmp_path)
        assert_one_line_error(ran.code, ran.err, f"{scenario_file}: ", "YAML tag not allowed")
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


def _places(items: list[str] | tuple[str, ...], tmp: Path) -> list[str]:
    places = {"BASE": str(BASE), "SCENARIOS": str(SCENARIOS), "TMP": str(tmp)}
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
    """In-process: parsing the command line is the same code with or without a fresh
    interpreter, and the console script's exit status is proved by the cases above."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "file.txt").write_text("not a folder\n", encoding="utf-8")
    results = tmp_path / "results"
    command = _places(args, work)
    if command[0] in ("run", "batch") and "--out" not in command:
        command += ["--out", str(results)]
    if command[0] in ("run", "batch"):
        command += ["--quiet"]
    ran = cli_in_process(*command, cwd=work)
    assert_one_line_error(ran.code, ran.err, *_places(says, work))
    assert ran.out == ""
    assert_nothing_written(results)
    assert sorted(p.name for p in work.iterdir()) == ["file.txt"]


# ------------------------------------------------------------------------ safe writes


@pytest.mark.parametrize("what", ["field", "file"])
def test_an_oversized_life_table_is_one_line(tmp_path: Path, what: str) -> None:
    """A qx of 200,000 digits passes the csv module's field limit (an internal error
    before), and a table beyond 10 MB is refused before it is read: too large for the
    corpus's data files, so made here."""
    table = tmp_path / "table.csv"
    with table.open("w", encoding="utf-8") as handle:
        handle.write("age,sex,qx\n")
        if what == "field":
            handle.write("0,female,0." + "1" * 200_000 + "\n")
        else:
            handle.write("0,female,0.01\n" * 800_000)
    path = tmp_path / "scenario.yaml"
    path.write_text(f"extends: {BASE}\nname: big\ncohort: {{life_table: table.csv}}\n")
    ran = cli_in_process("validate", path, cwd=tmp_path)
    line = assert_one_line_error(ran.code, ran.err, str(path), "cohort.life_table")
    assert (
        "line 2: field larger than field limit (131072)" in line
        if what == "field"
        else f"{table.stat().st_size:,} bytes: a life table has at most 10,000,000" in line
    ), line


def test_an_unwritable_results_folder_is_refused_before_the_run(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder\n", encoding="utf-8")
    out = blocker / "results"
    ran = cli_in_process("run", BASE, "--patients", "20", "--out", out, "--quiet", cwd=tmp_path)
    line = assert_one_line_error(ran.code, ran.err)
    assert (
        line == f"error: --out {out}: cannot write there (Not a directory); give a folder "
        "you can write to"
    )
    assert ran.out == ""


def test_a_full_disk_is_one_line_exit_74_and_keeps_the_earlier_results(
    base_run: Path, tmp_path: Path, monkeypatch
) -> None:
    import errno

    from sim.output import tables

    out = tmp_path / "out"
    out.mkdir()
    before = snapshot(copy_result(base_run / BASE_NAME, out))  # an earlier complete result
    args = ["run", BASE, "--patients", "20", "--psa-iterations", "0", "--out", out]
    real_write = tables.write_csv

    def full_disk(frame, path: Path) -> None:
        if path.name == "events.csv":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real_write(frame, path)

    monkeypatch.setattr(tables, "write_csv", full_disk)
    ran = cli_in_process(*args, "--seed", "7", "--quiet", cwd=tmp_path)
    line = assert_one_line_error(ran.code, ran.err, exit_code=74)
    assert line == (
        f"error: {out / 'base'}: cannot write the results (No space left on device writing "
        "events.csv); the earlier results there are untouched"
    )
    assert snapshot(out / BASE_NAME) == before
    assert sorted(p.name for p in out.iterdir()) == ["base"], "a temporary folder was left"


def test_report_on_a_full_disk_is_exit_74_and_keeps_the_tables(
    base_run: Path, tmp_path: Path, monkeypatch
) -> None:
    import errno

    from sim.output import files

    folder = copy_result(base_run / BASE_NAME, tmp_path)
    tables_before = {p.name: p.read_bytes() for p in folder.glob("*.csv")}
    real_write = files.atomic_write

    def full_disk(path: Path, data: bytes) -> None:
        if Path(path).name == "report.html":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real_write(path, data)

    monkeypatch.setattr("sim.output.report.atomic_write", full_disk)
    ran = cli_in_process("report", folder, cwd=tmp_path)
    line = assert_one_line_error(ran.code, ran.err, exit_code=74)
    assert line == (
        f"error: {folder}: cannot write the report (No space left on device writing "
        "report.html); the tables are untouched"
    )
    assert {p.name: p.read_bytes() for p in folder.glob("*.csv")} == tables_before


DAMAGE = {
    # file damaged -> (its new bytes, what the line says of it)
    "events.csv": (b"\xff\xfe\x00garbage", "events.csv: cannot be read (not UTF-8 text: byte 0)"),
    "summary.csv": (b'strategy,cost\n"oral,1\n', "summary.csv: cannot be read (Error tokenizing"),
    "manifest.json": (b'{"files": 3,', "manifest.json: cannot be read (Expecting"),
}


@pytest.mark.parametrize("damaged", sorted(DAMAGE))
def test_report_and_compare_on_a_damaged_folder_are_one_line(
    base_run: Path, tmp_path: Path, damaged: str
) -> None:
    """A table that is not UTF-8 or not CSV, or a manifest that is not JSON: one line
    naming the file (exit 2), not an internal error; the other tables stay as they were."""
    folder = copy_result(base_run / BASE_NAME, tmp_path)
    data, said = DAMAGE[damaged]
    (folder / damaged).write_bytes(data)
    before = snapshot(folder)
    ran = cli_in_process("report", folder, cwd=tmp_path)
    line = assert_one_line_error(ran.code, ran.err)
    assert line.startswith(f"error: {folder}: {said}") and line.endswith(
        "not as `baclofen-sim run` wrote it; run the scenario again"
    ), line
    assert snapshot(folder) == before
    if damaged != "events.csv":  # compare reads the summary and the manifest only
        ran = cli_in_process("compare", folder, "--out", tmp_path / "out", cwd=tmp_path)
        assert_one_line_error(ran.code, ran.err, str(folder))


def test_the_workbooks_process_reports_its_errno() -> None:
    """The workbook (and the report) are written by processes of their own: a full disk
    there is still an OSError with its errno (exit 74 at the command line), not an
    internal error."""
    import errno
    import io
    import subprocess as sp

    from sim.output import beside

    class Child:
        """A writer process that fails on its first folder: no DONE line, and its
        traceback in the file given as its stderr."""

        returncode = 1

        def __init__(self, *args, stderr, **kwargs) -> None:
            self.stdin = io.BytesIO()
            self.stdout = io.BytesIO()  # ends at once: no DONE
            stderr.write(b"Traceback...\nOSError: [Errno 28] No space left on device: 'x'\n")

        def wait(self, timeout: float | None = None) -> int:
            return 1

        def poll(self):
            return 1

    with pytest.MonkeyPatch.context() as m:
        m.setattr(sp, "Popen", Child)
        writer = beside.Writer(start="spawn")  # (a forked one is no Popen)
        with pytest.raises(OSError) as caught, beside.writing_beside(Path("/nowhere"), writer):
            pass
    assert caught.value.errno == errno.ENOSPC
    assert caught.value.strerror == "No space left on device"


def test_a_failed_swap_puts_the_earlier_results_back(tmp_path: Path, monkeypatch) -> None:
    from sim.output import files

    target = tmp_path / "base"
    target.mkdir()
    (target / "summary.csv").write_text("earlier\n", encoding="utf-8")
    (target / "manifest.json").write_text('{"versions": {"baclofen-sim": "0"}}')  # ours
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
    assert sorted(p.name for p in target.iterdir()) == ["manifest.json", "summary.csv"]


def test_debug_shows_the_traceback_the_default_hides(tmp_path: Path) -> None:
    """The default in-process; --debug in a fresh interpreter, which prints the traceback
    of the exception that `cli.main` lets through."""
    scenario_file = CASE["probability-1.3"].make(tmp_path)
    args = ["run", str(scenario_file), "--out", str(tmp_path / "results"), "--quiet"]
    ran = cli_in_process(*args, cwd=tmp_path)
    assert_one_line_error(ran.code, ran.err, "1.3: input should be less than or equal to 1")
    ran = console("--debug", *args, cwd=tmp_path, env=NARROW)
    assert ran.code != 0
    assert "Traceback (most recent call last)" in ran.err
    assert "ScenarioError" in ran.err and "response_probability" in ran.err


def _tokens(value: object) -> list[object]:
    """A document as a flat list, walked without recursion (a case nests 10,000 deep), a
    container met again (an alias) by its first place (a case is an alias bomb)."""
    out: list[object] = []
    seen: dict[int, int] = {}
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict | list):
            if id(item) in seen:
                out.append(("again", seen[id(item)]))
                continue
            seen[id(item)] = len(out)
        if isinstance(item, dict):
            out.append(("dict", len(item)))
            for key, inner in reversed(list(item.items())):
                stack += [inner, key]
        elif isinstance(item, list):
            out.append(("list", len(item)))
            stack += reversed(item)
        else:
            out.append((type(item), item))
    return out


def test_libyaml_and_pyyaml_read_every_file_alike(tmp_path: Path) -> None:
    """Scenarios are parsed by libyaml when it is there: every shipped scenario and the
    file of every case of this corpus reads as the same data as PyYAML's own parser reads
    it, and a file either refuses is refused in PyYAML's words."""
    from sim.scenario import ScenarioError, loading

    files = sorted(SCENARIOS.rglob("*.yaml"))
    for case in CASES:
        made = case.make(tmp_path / case.id) if (tmp_path / case.id).mkdir() is None else None
        if made is not None and made.is_file():
            files.append(made)
    assert len(files) > 50
    for path in files:
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            continue  # refused before parsing
        try:
            expected: object = yaml.load(text, Loader=loading._SafeLoader)
        except Exception as exc:  # each refusal is compared
            expected = (type(exc), str(exc))
        try:
            got: object = loading._parse(text)
        except Exception as exc:
            got = (type(exc), str(exc))
        assert _tokens(got) == _tokens(expected), path
    duplicated = tmp_path / "twice.yaml"
    duplicated.write_text("name: a\nseed: 1\nseed: 2\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="line 3, column 1: duplicate key 'seed'"):
        loading.read_yaml(duplicated)

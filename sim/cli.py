"""Command line: run, batch, validate, schema, trace, report (DESIGN §7, §8).

Bad input ends with one line on stderr naming the file, the key path and what is allowed,
and exit code 2; an interrupted run exits 130 (SIGINT) or 143 (SIGTERM) and leaves no
half-written result folder. ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import json
import re
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    Progress,
)

from sim import console, resident_commands, scenario
from sim.execution import interrupts, resident
from sim.execution.backends import BACKENDS, Backend, open_backend
from sim.execution.collector import long_lived
from sim.numerics.lifetable import LifeTableError
from sim.options import (
    BackendOption,
    Flag,
    OneWayOption,
    SchedulerOption,
    SetOption,
    SwitchHelpCommand,
    SwitchHelpGroup,
    WorkersOption,
)
from sim.output import files
from sim.output.beside import Writers

app = typer.Typer(
    cls=SwitchHelpGroup,
    add_completion=False,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="baclofen-sim: ITB pump versus oral baclofen, a discrete-event Monte Carlo model.",
    pretty_exceptions_enable=False,
)
EXIT_BAD_INPUT = 2
EXIT_CANNOT_WRITE = 74  # EX_IOERR of sysexits.h: the disk, not the input
_state = {"debug": False}


class UsageError(Exception):
    """A bad command-line value: one line, exit code 2."""


class BadFiles(Exception):
    """Several scenario files of a batch with errors: one line each, exit code 2."""

    def __init__(self, lines: list[str], bad: int, files: int) -> None:
        super().__init__(lines, bad, files)
        self.lines, self.bad, self.files = lines, bad, files


class WriteError(Exception):
    """Results could not be written (disk full, permissions): one line, exit code 74."""


def _version(shown: bool) -> None:
    if shown:
        from sim import __version__

        console.out.print(f"baclofen-sim {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(
    debug: Annotated[bool, Flag("--debug", help="Show tracebacks.")] = False,
    version: Annotated[
        bool,
        Flag("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    _state["debug"] = debug


def _preflight(loaded: scenario.Scenario, path: Path, one_way: bool = True) -> None:
    """The uncertainty analyses' values validated before anything runs (see preflight)."""
    from sim.analysis import preflight

    preflight.check(loaded, path, one_way)


def _load(
    path: Path,
    patients: int | None = None,
    seed: int | None = None,
    psa_iterations: int | None = None,
    sets: list[str] | None = None,
) -> scenario.Scenario:
    given = {"patients": patients, "psa_iterations": psa_iterations, "seed": seed}
    changes = dict(_parsed_set(item) for item in sets or [])
    with long_lived():  # the first load also loads Numba's machinery
        return scenario.load(path, changes, **{k: v for k, v in given.items() if v is not None})


def _parsed_set(item: str) -> tuple[str, object]:
    """KEY.PATH=VALUE of --set, the value read as YAML (0.8, [0.9, 0.7], lifetime)."""
    import yaml

    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"--set {item!r}: give KEY.PATH=VALUE, e.g. --set discount.costs=0.035")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        raise UsageError(f"--set {item!r}: the value is not valid YAML") from None
    return key.strip(), value


def _check_out(out_dir: Path, *names: str) -> None:
    """Refuse a results folder that cannot be one, or result folders (`names` in it) that
    would replace what this tool did not write, before minutes of simulation."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir}: exists and is not a folder; give a results folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out_dir):
            pass
    except OSError as exc:
        raise UsageError(
            f"--out {out_dir}: cannot write there ({exc.strerror or exc}); give a folder you "
            "can write to"
        ) from None
    for name in names:
        files.check_replaceable(out_dir / name)


def _check_engine(engine: str) -> None:
    from sim.execution import runner

    if engine not in runner.ENGINES:
        raise UsageError(f"--engine {engine!r}: allowed: {', '.join(runner.ENGINES)}")


def _backend(name: str, workers: int | None, scheduler: str | None) -> Backend:
    """The backend of the options, refused in one line when they do not fit together."""
    if name not in BACKENDS:
        raise UsageError(f"--backend {name!r}: allowed: {', '.join(BACKENDS)}")
    if scheduler is not None and name != "dask":
        raise UsageError(f"--scheduler {scheduler}: only with --backend dask")
    if scheduler is not None and workers is not None:
        raise UsageError("--workers with --scheduler: the cluster has its own workers")
    if workers is not None and name == "serial":
        raise UsageError("--workers: give --backend processes or dask (serial has one)")
    if scheduler is not None and not re.fullmatch(
        r"(tcp|tls|ucx)://([A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?/?|inproc://\S+",
        scheduler,
    ):
        raise UsageError(f"--scheduler {scheduler!r}: give an address such as tcp://HOST:8786")
    try:
        return open_backend(name, workers, scheduler)
    except (OSError, TimeoutError) as exc:
        raise UsageError(f"--scheduler {scheduler}: cannot connect ({exc})") from None


def _run_one(
    loaded: scenario.Scenario,
    out_dir: Path,
    engine: str,
    progress: Progress,
    backend: Backend,
    one_way: bool = True,
    writers: Writers | None = None,
) -> Path:
    """Base case, then PSA and one-way analyses when the scenario asks for them; every
    table, the manifest and the report are written into OUT/<name>/ at once, or not at all."""
    from sim import pipeline  # here: bad input is reported first

    start = time.perf_counter()
    results = pipeline.run(
        loaded,
        engine=engine,
        backend=backend,
        progress=console.Stages(progress),
        one_way_analyses=one_way,
    )
    target = out_dir / loaded.name
    try:
        results.write(out_dir, writers)
    except OSError as exc:
        kept = "the earlier results there are untouched" if target.exists() else "nothing written"
        raise WriteError(
            f"{target}: cannot write the results ({exc.strerror or exc}"
            f"{f' writing {Path(exc.filename).name}' if exc.filename else ''}); {kept}"
        ) from exc
    summary = results.summary
    console.print_summary(loaded, summary, target, time.perf_counter() - start, results.seconds)
    if results.psa is not None:
        from sim.analysis.econ import wtp_tag

        for wtp in loaded.wtp:
            tag = wtp_tag(wtp)
            shares = ", ".join(
                f"{row.strategy} {getattr(row, f'probability_cost_effective_{tag}'):.1%}"
                for row in summary.itertuples()
            )
            console.out.print(
                f"PSA, {loaded.psa_iterations:,} iterations: probability cost-effective at "
                f"{wtp:,.0f} {loaded.currency}/QALY: {shares}",
                highlight=False,
            )
    for warning in results.warnings:
        console.err.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True)
    return target


@app.command()
def run(
    scenario_file: Annotated[Path, typer.Argument(metavar="SCENARIO", help="Scenario YAML.")],
    patients: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=scenario.MAX_PATIENTS,
            help="Patients per strategy (default: the scenario's patients).",
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(min=0, help="Random seed (default: the scenario's seed).")
    ] = None,
    psa_iterations: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=scenario.MAX_PSA_ITERATIONS,
            help="PSA iterations (0: no PSA; the one-way analyses still run, see --no-one-way).",
        ),
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Results folder.")] = Path("results"),
    engine: Annotated[
        str, typer.Option(help="Engine: fast (compiled, default) or des (SimPy, the reference).")
    ] = "fast",
    quiet: Annotated[bool, Flag("--quiet", help="No progress bar.")] = False,
    backend: BackendOption = "serial",
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    sets: SetOption = None,
    one_way: OneWayOption = True,
) -> None:
    """Run one scenario; tables go to OUT/<name>/."""
    # the report's and the workbook's processes import their libraries while the scenario
    # is read and run
    with Writers() as writers:
        loaded = _load(scenario_file, patients, seed, psa_iterations, sets)
        _check_out(out_dir, loaded.name)  # the analyses' values: checked by pipeline.run
        _check_engine(engine)
        console.say_if_compiling(engine, quiet)
        with _backend(backend, workers, scheduler) as pool, console.progress(quiet) as progress:
            _run_one(loaded, out_dir, engine, progress, pool, one_way, writers)


@app.command()
def batch(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="Folder of scenario files.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Results folder.")] = Path("results"),
    engine: Annotated[
        str, typer.Option(help="Engine: fast (compiled, default) or des (SimPy, the reference).")
    ] = "fast",
    patients: Annotated[
        int | None,
        typer.Option(min=1, max=scenario.MAX_PATIENTS, help="Override patients per strategy."),
    ] = None,
    psa_iterations: Annotated[
        int | None,
        typer.Option(
            min=0, max=scenario.MAX_PSA_ITERATIONS, help="Override PSA iterations (0: none)."
        ),
    ] = None,
    quiet: Annotated[bool, Flag("--quiet", help="No progress bar.")] = False,
    backend: BackendOption = "serial",
    workers: WorkersOption = None,
    scheduler: SchedulerOption = None,
    force: Annotated[
        bool, Flag("--force", help="Rerun scenarios whose results are up to date.")
    ] = False,
    sets: SetOption = None,
    one_way: OneWayOption = True,
) -> None:
    """Run every scenario (*.yaml) in a folder; all are validated before any runs. A
    scenario whose complete results are already in OUT (same scenario, versions and code) is
    skipped, so an interrupted batch resumes where it stopped."""
    if not folder.is_dir():
        raise UsageError(f"{folder}: not a folder of scenario files")
    paths = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not paths:
        raise UsageError(f"{folder}: no *.yaml scenario files")
    loaded, problems, bad = [], [], 0
    for path in paths:  # every bad file is reported before any scenario runs
        try:
            item = _load(path, patients, psa_iterations=psa_iterations, sets=sets)
            _preflight(item, path, one_way)
            loaded.append((path, item))
        except scenario.ScenarioError as exc:
            problems += exc.lines()
            bad += 1
        except LifeTableError as exc:
            problems.append(str(exc))
            bad += 1
    if problems:
        raise BadFiles(problems, bad, len(paths))
    seen: dict[str, Path] = {}
    for path, item in loaded:
        if item.name in seen:
            raise scenario.ScenarioError(
                path,
                "name",
                f"{item.name!r} is also the name of {seen[item.name]}: results would collide",
            )
        seen[item.name] = path
    _check_out(out_dir, *seen)
    _check_engine(engine)
    from sim.output import tables

    todo = []
    for path, item in loaded:
        if not force and tables.up_to_date(out_dir / item.name, item, one_way):
            console.out.print(
                f"{item.name}: up to date in {out_dir / item.name} (same scenario, versions "
                "and code); skipped (--force reruns)",
                highlight=False,
            )
        else:
            todo.append((path, item))
    if todo:
        console.say_if_compiling(engine, quiet)
        with (
            # for every scenario: their libraries imported once; first, so that they are
            # forked before the backend's and the progress display's threads start
            Writers() as writers,
            _backend(backend, workers, scheduler) as pool,
            console.progress(quiet) as progress,
        ):
            whole = progress.add_task("batch", total=len(todo), unit="scenarios", lifetimes=0)
            for _, item in todo:
                _run_one(item, out_dir, engine, progress, pool, one_way, writers)
                progress.advance(whole)
    if len(loaded) > 1:
        _compare([out_dir / item.name for _, item in loaded], out_dir)


def _compare(folders: list[Path], out_dir: Path) -> None:
    from sim.output import comparison

    files.check_replaceable(out_dir / "comparison")
    try:
        frame = comparison.compare(folders)
    except comparison.NotAResult as exc:
        raise UsageError(str(exc)) from None
    target = comparison.write(frame, out_dir)
    console.out.print(f"{len(folders)} scenarios compared -> {target}", highlight=False)


@app.command("compare")
def compare_command(
    results: Annotated[
        list[Path], typer.Argument(metavar="RESULTS...", help="Result folders of runs.")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Results folder.")] = Path("results"),
) -> None:
    """Scenarios side by side: one table of scenario x strategy x willingness to pay (cost,
    QALYs, increments, ICER, incremental net monetary benefit, probability cost-effective)
    as OUT/comparison/ (comparison.csv, comparison.xlsx, comparison.html). `batch` writes
    it for its scenarios at the end."""
    _check_out(out_dir, "comparison")
    _compare(results, out_dir)


@app.command("validate")
def validate_command(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="Scenario files.")],
) -> None:
    """Check scenario files; print one line per file."""
    failed = 0
    for path in files:
        try:
            loaded = scenario.load(path)
            _preflight(loaded, path)
        except scenario.ScenarioError as exc:
            for line in exc.lines():
                console.err.print(line, markup=False, highlight=False, soft_wrap=True)
            failed += 1
        else:
            console.out.print(
                f"{path}: ok ({loaded.name}, {len(loaded.strategies)} strategies)",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
    if failed:
        raise typer.Exit(EXIT_BAD_INPUT)


@app.command()
def schema() -> None:
    """Print the JSON Schema of scenario files (for editor autocompletion)."""
    sys.stdout.write(json.dumps(scenario.json_schema(), indent=2) + "\n")


@app.command()
def trace(
    scenario_file: Annotated[Path, typer.Argument(metavar="SCENARIO", help="Scenario YAML.")],
    strategy: Annotated[str, typer.Option(help="Strategy name.")],
    patient: Annotated[
        int, typer.Option(min=0, max=2**63 - 1, help="Patient index (0-based).")
    ] = 0,
    seed: Annotated[
        int | None, typer.Option(min=0, help="Random seed (default: the scenario's seed).")
    ] = None,
    csv: Annotated[bool, Flag("--csv", help="CSV on standard output.")] = False,
    every: Annotated[
        bool,
        Flag("--all", help="Every row: runs of one event (refill visits) unfolded."),
    ] = False,
    events: Annotated[
        list[str] | None,
        typer.Option("--event", metavar="NAME", help="Only rows of this event (repeatable)."),
    ] = None,
) -> None:
    """One simulated patient's events in order (the SimPy engine), with the patient's
    totals; runs of one event fold into a row unless --all (the CSV has every row)."""
    loaded = _load(scenario_file, seed=seed)
    if strategy not in loaded.strategies:
        raise scenario.ScenarioError(
            scenario_file,
            "strategies",
            f"--strategy {strategy!r} names no strategy; allowed: {', '.join(loaded.strategies)}",
        )
    from sim.execution import runner
    from sim.model.events import EVENT_ID

    unknown = [e for e in events or [] if e not in EVENT_ID]
    if unknown:
        raise UsageError(
            f"--event {unknown[0]!r} is no event; allowed: {', '.join(sorted(EVENT_ID))}"
        )
    person, rows, outcome = runner.trace(loaded, scenario_file.resolve().parent, strategy, patient)
    if csv:
        sys.stdout.write(
            "time_years,age_years,event,detail,cost_undiscounted,qaly_loss_undiscounted\n"
        )
        for r in (r for r in rows if not events or r.event in events):
            detail = r.detail.replace('"', '""')
            sys.stdout.write(
                f'{r.time_years:.10g},{r.age_years:.10g},{r.event},"{detail}",'
                f"{r.cost:.10g},{r.qaly_loss:.10g}\n"
            )
        return
    sex = "man" if person.male else "woman"
    title = (
        f"Patient {patient} under {strategy!r}: {sex} aged {person.age_years:.1f}, "
        f"{person.indication.replace('_', ' ')}, ITB dose need "
        f"{person.itb_dose_mcg_per_day:.0f} mcg/day, tablets "
        f"{person.oral_dose_mg_per_day:.0f} mg/day"
    )
    console.print_trace(title, rows, outcome, loaded.currency, every, events)


@app.command("validation")
def validation_command(
    scenarios: Annotated[
        Path, typer.Option(help="Folder with base.yaml and validation/ set-ups.")
    ] = Path("scenarios"),
    out_dir: Annotated[Path, typer.Option("--out", help="Results folder.")] = Path("results"),
    patients: Annotated[
        int, typer.Option(min=100, max=scenario.MAX_PATIENTS, help="Patients per check.")
    ] = 20_000,
) -> None:
    """Internal and external checks of the model, published evaluations reproduced, and
    its calibration targets (never counted as validation); writes OUT/validation/ (tables
    and a page). Exit code 1 when an internal check fails (a bug), 0 otherwise."""
    from sim.validation import page

    _check_out(out_dir, "validation")
    checks, figures, target = page.write(scenarios, out_dir, patients)

    def differs(what: str, model: float, reference: float, note: str) -> None:
        console.out.print(
            f"  differs: {what}: model {page.plain(model)}, reference {page.plain(reference)}"
            + (f" ({note})" if note else ""),
            highlight=False,
            soft_wrap=True,
        )

    for kind in ("internal", "external"):
        mine = [c for c in checks if c.kind == kind]
        console.out.print(
            f"{kind}: {sum(c.passed for c in mine)} of {len(mine)} checks pass", highlight=False
        )
        for c in mine:
            if not c.passed:
                differs(c.check, c.model, c.reference, c.note)
    compared = [f for f in figures if f.compared]
    console.out.print(
        f"published evaluations: {sum(f.passed for f in compared)} of {len(compared)} "
        f"figures reproduced, {len(figures) - len(compared)} not compared",
        highlight=False,
    )
    for f in compared:
        if not f.passed:
            explained = "; ".join(f"{w}: {page.plain(v)}" for w, v in f.explained)
            differs(
                f"{f.study}, {f.check}",
                f.model,
                f.reference,
                explained and f"without it: {explained}",
            )
    mine = [c for c in checks if c.kind in page.NOT_VALIDATION]
    console.out.print(
        f"calibration and derivation (not validation): {sum(c.passed for c in mine)} of "
        f"{len(mine)} targets met",
        highlight=False,
    )
    console.out.print(f"-> {target}", highlight=False)
    if any(not c.passed for c in checks if c.kind == "internal"):
        raise typer.Exit(1)


@app.command("calibrate")
def calibrate_command(
    scenario_file: Annotated[
        Path, typer.Argument(metavar="SCENARIO", help="A scenario with a calibrate: block.")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Results folder.")] = Path("results"),
    patients: Annotated[
        int | None,
        typer.Option(min=1, max=scenario.MAX_PATIENTS, help="Patients per evaluation."),
    ] = None,
) -> None:
    """Fit the parameters a scenario's calibrate: block names to its targets (common random
    numbers: the same values on every run); writes OUT/calibration/NAME/ (calibration.csv,
    fit.csv, NAME-calibrated.yaml: the variant scenario with the fitted values)."""
    from sim.analysis.calibration import Calibration
    from sim.output import files, tables

    loaded = _load(scenario_file, patients)
    if loaded.calibrate is None:
        raise UsageError(f"{scenario_file}: has no calibrate: block (nothing to fit)")
    _check_out(out_dir)
    files.check_replaceable(out_dir / "calibration" / loaded.name)
    step = Calibration(loaded)
    fit = step.fit()
    target = out_dir / "calibration" / loaded.name
    name, text = step.variant_file(fit, target)
    with files.atomic_folder(target) as tmp:
        tables.write_csv(fit.parameters, tmp / "calibration.csv")
        tables.write_csv(fit.targets, tmp / "fit.csv")
        (tmp / name).write_text(text, encoding="utf-8")
        manifest = {"scenario": loaded.name, "evaluations": fit.evaluations}
        manifest["versions"] = tables.versions()
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    for r in fit.targets.itertuples():
        console.out.print(
            f"{r.target}: model {r.model:.4g}, target {r.value:.4g} (se {r.se:.3g}, z {r.z:+.2f})",
            highlight=False,
        )
    for r in fit.parameters.itertuples():
        console.out.print(f"{r.path}: {r.cited:.6g} -> {r.calibrated:.6g}", highlight=False)
    console.out.print(f"{fit.evaluations} evaluations -> {target}", highlight=False)


@app.command("report")
def report_command(
    results: Annotated[
        Path, typer.Argument(metavar="RESULTS_DIR", help="A result folder of one scenario.")
    ],
    svg: Annotated[
        bool, Flag("--svg", help="Each plot also as plots/<plot id>.svg (for a paper).")
    ] = False,
) -> None:
    """Rebuild report.html and results.xlsx from the tables of a result folder."""
    if not (results / "manifest.json").is_file() or not (results / "summary.csv").is_file():
        raise UsageError(
            f"{results}: not a result folder (needs manifest.json and summary.csv, as "
            "`baclofen-sim run` writes them)"
        )
    from sim.output import report
    from sim.output.report.folder import DamagedTable

    try:
        report.write(results, svg=svg)
    except DamagedTable as exc:
        raise UsageError(
            f"{results}: {exc}: not as `baclofen-sim run` wrote it; run the scenario again"
        ) from None
    except OSError as exc:  # a full disk: the tables stay, and so does an earlier report
        raise WriteError(
            f"{results}: cannot write the report ({exc.strerror or exc}"
            f"{f' writing {Path(exc.filename).name}' if exc.filename else ''}); the tables "
            "are untouched"
        ) from exc
    console.out.print(f"{results / 'report.html'}\n{results / 'results.xlsx'}", highlight=False)


app.add_typer(resident_commands.app, name=resident.COMMAND)


for _registered in app.registered_commands:  # every command's -h/--help as a switch
    _registered.cls = SwitchHelpCommand


def main() -> None:
    """Entry point: maps failures to exit codes (2 bad input, 130/143 interrupted)."""
    interrupts.install()
    debug = "--debug" in sys.argv[1:]
    try:
        interrupts.check()  # a signal during start-up (sim.entry kept it on record)
        code = app(standalone_mode=False)  # returns the exit code of typer.Exit
        interrupts.check()  # a signal whose exception was swallowed still stops the run
        if isinstance(code, int) and code:
            sys.exit(code)
    except BadFiles as exc:
        if debug:
            raise
        for line in exc.lines:
            console.err.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
        console.err.print(
            f"{exc.bad} of {exc.files} scenario files have errors: nothing was run",
            markup=False,
            highlight=False,
        )
        sys.exit(EXIT_BAD_INPUT)
    except (scenario.ScenarioError, UsageError, LifeTableError, files.NotOurs) as exc:
        if debug:
            raise
        lines = exc.lines() if isinstance(exc, scenario.ScenarioError) else [str(exc)]
        for line in lines:
            console.err.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(EXIT_BAD_INPUT)
    except WriteError as exc:
        if debug:
            raise
        console.err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(EXIT_CANNOT_WRITE)
    except interrupts.Interrupted as exc:
        if debug:
            raise
        sigterm = exc.args == (signal.SIGTERM,)
        console.err.print(
            "interrupted: no results written for the unfinished scenario", highlight=False
        )
        sys.exit(143 if sigterm else 130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # bad option or argument on the command line
        message = exc.format_message()
        if message:  # empty when the usage text was shown (no arguments at all)
            console.err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(EXIT_BAD_INPUT)
    except typer.Abort:
        sys.exit(130)
    except OSError as exc:
        if debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        console.err.print(
            f"error: {where}{exc.strerror or exc}", markup=False, highlight=False, soft_wrap=True
        )
        sys.exit(EXIT_BAD_INPUT)
    except Exception as exc:  # a bug: say so in one line, unless debugging
        if debug:
            raise
        console.err.print(
            f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)

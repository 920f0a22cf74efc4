"""`make bench`: speed and memory of the engines on the base scenario (DESIGN §9, issue 3).

Figures go to the screen and to results/bench/bench.json with the machine and versions.
Timings are medians of several runs; memory and compile times are measured in fresh
processes (peak resident set size; an empty Numba cache for the cold compile).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "scenarios" / "base.yaml"


def _scenario(patients: int):
    from sim import scenario

    return scenario.load(BASE).model_copy(update={"patients": patients})


def _timed_run(patients: int, engine: str, threads: int | None = None) -> float:
    from sim.execution import runner
    from sim.execution.backends import Backend
    from sim.numerics import lifetable

    sc = _scenario(patients)
    table = lifetable.load(sc.cohort.life_table, BASE.parent)
    start = time.perf_counter()
    runner.simulate(sc, table, engine=engine, backend=Backend(threads))
    return time.perf_counter() - start


def _work(patients: int) -> tuple[int, float]:
    """Events and patient-years (follow-up of every patient under every strategy) of a
    run: the units of the per-second figures."""
    from sim.engines import cohort, fast
    from sim.execution import runner
    from sim.numerics import lifetable

    sc = _scenario(patients)
    arrays = cohort.CohortArrays.of(sc, lifetable.load(sc.cohort.life_table, BASE.parent))
    n_blocks = -(-patients // runner.BLOCK_SIZE)
    run = fast.Run.single(sc, arrays, runner.months_of(sc))
    tallies, events = run.blocks([(0, b) for b in range(n_blocks)], runner.BLOCK_SIZE)
    return events, float(sum(t.followup.sum() for t in tallies))


def _child(args: list[str], env: dict[str, str] | None = None) -> dict:
    """Run `python -m sim.bench <args>` in a fresh process; it prints one JSON line."""
    out = subprocess.run(
        [sys.executable, "-m", "sim.bench", *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _memory_child(patients: int) -> None:
    seconds = _timed_run(patients, "fast")
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"patients": patients, "seconds": seconds, "peak_mib": peak_kib / 1024}))


def _start_child() -> None:
    """Time from process start to a finished small run (imports, compile or cache load)."""
    start = time.perf_counter()
    from sim.execution import runner

    runner.run(_scenario(100), BASE.parent)
    print(json.dumps({"seconds": time.perf_counter() - start}))


class _Stages:
    """A progress display that keeps the wall time of each stage of a run and the units
    it did (patients, iterations, one-way runs)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.units: dict[str, int] = {}
        self._stage = ""
        self._start = 0.0

    def begin(self, stage: str, total: int | None, unit: str, lifetimes_per_unit: int) -> None:
        """A stage in `unit`s: the threshold searches add to the one-way runs' stage."""
        self._stage, self._start = unit, time.perf_counter()
        self.units.setdefault(unit, 0)

    def advance(self, units: int) -> None:
        self.units[self._stage] += units

    def end(self) -> None:
        elapsed = time.perf_counter() - self._start
        self.seconds[self._stage] = self.seconds.get(self._stage, 0.0) + elapsed


def _study_child(patients: int | None, iterations: int | None) -> None:
    """The whole base study (`baclofen-sim run scenarios/base.yaml`) by its parts, and the
    patient-lifetimes it simulated (the base case's, every PSA iteration's and every
    one-way run's patients: what `_plain_child` simulates in one run)."""
    start = time.perf_counter()
    from sim.output.beside import Writers

    # as the command line does: the writers' imports overlap the run
    with Writers() as writers, tempfile.TemporaryDirectory() as out:
        import sim
        from sim.analysis import psa as psa_tables

        sc = sim.load(BASE, **_changes(patients, iterations))
        loaded = time.perf_counter()
        stages = _Stages()
        results = sim.run(sc, progress=stages)
        ran = time.perf_counter()
        results.write(out, writers)
        written = time.perf_counter()
    evppi_start = time.perf_counter()
    if results.psa is not None:
        psa_tables.evppi_table(sc, results.psa)
    evppi = time.perf_counter() - evppi_start
    parts = {
        "imports_and_load": loaded - start,
        "base_case": stages.seconds.get("patients", 0.0),
        "psa": stages.seconds.get("iterations", 0.0),
        "one_way": stages.seconds.get("runs", 0.0),
        "tables": (ran - loaded) - sum(stages.seconds.values()),
        "of_which_evppi": evppi,
        "report_and_workbook": written - ran,
    }
    lifetimes = sc.patients * (1 + sc.psa_iterations + stages.units.get("runs", 0))
    print(json.dumps({"total_seconds": written - start, "parts": parts, "lifetimes": lifetimes}))


def _changes(patients: int | None, iterations: int | None) -> dict[str, int]:
    return {k: v for k, v in (("patients", patients), ("psa_iterations", iterations)) if v}


def _plain_child(patients: int | None, iterations: int | None) -> None:
    """The plain simulation a study is measured against: one base-case run of as many
    patients as the study simulates (its one-way runs as known before the threshold
    searches refine), in patients per second of the simulation alone."""
    import sim
    from sim.analysis.one_way import runs_known
    from sim.execution import runner
    from sim.numerics import lifetable

    sc = sim.load(BASE, **_changes(patients, iterations))
    lifetimes = sc.patients * (1 + sc.psa_iterations + runs_known(sc))
    table = lifetable.load(sc.cohort.life_table, BASE.parent)
    plain = sc.model_copy(update={"patients": lifetimes, "psa_iterations": 0})
    start = time.perf_counter()
    runner.simulate(plain, table)
    seconds = time.perf_counter() - start
    print(
        json.dumps({"lifetimes": lifetimes, "seconds": seconds, "per_second": lifetimes / seconds})
    )


@contextlib.contextmanager
def _resident() -> Iterator[dict[str, str]]:
    """A resident process of its own (`baclofen-sim resident start`, in a folder of its
    own): the environment of the commands it serves."""
    from sim.execution import resident

    exe = Path(sys.executable).with_name("baclofen-sim")
    with tempfile.TemporaryDirectory(prefix="bsr-") as folder:
        env = {**os.environ, resident.FOLDER: folder}
        subprocess.run([str(exe), "resident", "start"], check=True, capture_output=True, env=env)
        try:
            yield env
        finally:
            subprocess.run([str(exe), "resident", "stop"], capture_output=True, env=env)


def _command(args: list[str], out: str, env: dict[str, str] | None = None) -> float:
    """Wall time of `baclofen-sim ARGS --quiet --out OUT` as a user types it."""
    exe = Path(sys.executable).with_name("baclofen-sim")
    start = time.perf_counter()
    subprocess.run(
        [str(exe), *args, "--quiet", "--out", out], check=True, capture_output=True, env=env
    )
    return time.perf_counter() - start


def _small_runs(repeats: int) -> dict:
    """Wall time of `baclofen-sim run` on 1,000 patients, base case only, cache warm: the
    command as a user types it (imports, load, run, tables, report, workbook), in its own
    process and served by a resident process, in interleaved pairs."""
    args = ["run", str(BASE), "--patients", "1000", "--psa-iterations", "0", "--no-one-way"]
    own, served = [], []
    with tempfile.TemporaryDirectory() as out, _resident() as env:
        off = {**env, "BACLOFEN_SIM_RESIDENT": "off"}
        _command(args, out, off)  # the page cache
        _command(args, out, env)
        for _ in range(repeats):
            own.append(_command(args, out, off))
            served.append(_command(args, out, env))
    return {
        "seconds": _median(own),
        "runs": own,
        "served_seconds": _median(served),
        "served_runs": served,
    }


def _time_to_answer(quick: bool, repeats: int) -> dict:
    """The small run and the whole base study by its parts (medians of fresh processes).
    Each study runs between two plain simulations, in processes of their own: the
    machine's speed drifts within minutes, so a study is set against the mean speed of the
    plain runs just before and after it. The study as typed, served by a resident process,
    is set against its own pair of plain runs the same way."""
    small = _small_runs(repeats)
    print(
        f"small run (1,000 patients, base case only): {small['seconds']:.2f} s wall in its own "
        f"process, {small['served_seconds']:.2f} s served by a resident process (medians of "
        f"{repeats} interleaved pairs)"
    )
    size = ["2000", "50"] if quick else []
    plains = [_child(["_plain", *size])]
    studies, served = [], []
    with tempfile.TemporaryDirectory() as out, _resident() as env:
        for _ in range(1 if quick else 3):
            study = _child(["_study", *size])
            plains.append(_child(["_plain", *size]))
            studies.append(_against(study, plains[-2:]))
            args = ["run", str(BASE), *_options(size)]
            typed = {"total_seconds": _command(args, out, env), "lifetimes": study["lifetimes"]}
            plains.append(_child(["_plain", *size]))
            served.append(_against(typed, plains[-2:]))
    keys = ("total_seconds", "simulation_seconds", "total_over_simulation", "share_not_simulation")
    found = {k: _median([s[k] for s in studies]) for k in keys}
    found["parts"] = {k: _median([s["parts"][k] for s in studies]) for k in studies[0]["parts"]}
    found["patients_per_run"] = studies[0]["lifetimes"]
    found["runs"] = studies
    found["plain_runs"] = plains
    found["served"] = {k: _median([s[k] for s in served]) for k in keys} | {"runs": served}
    ratios = [s["total_over_simulation"] for s in studies]
    served_ratios = [s["total_over_simulation"] for s in served]
    parts = ", ".join(f"{k.replace('_', ' ')} {v:.1f} s" for k, v in found["parts"].items())
    print(
        f"whole base study{' (quick: 2,000 patients, 50 iterations)' if quick else ''}: "
        f"{found['total_seconds']:.1f} s wall, {found['total_over_simulation']:.2f}x "
        f"({min(ratios):.2f}-{max(ratios):.2f}) the {found['simulation_seconds']:.1f} s of "
        f"simulating its {found['patients_per_run']:,} patients in one run, at the mean speed "
        f"of the plain runs before and after it "
        f"({100 * found['share_not_simulation']:.0f}% of the time not simulation); {parts}"
    )
    print(
        f"whole base study as typed, served by a resident process: "
        f"{found['served']['total_seconds']:.1f} s wall, "
        f"{found['served']['total_over_simulation']:.2f}x "
        f"({min(served_ratios):.2f}-{max(served_ratios):.2f}) its simulation"
    )
    return {"small_run": small, "base_study": found}


def _against(study: dict, plains: list[dict]) -> dict:
    """A study's wall time over the time its patients take to simulate at the mean speed
    of the plain runs before and after it."""
    speed = (plains[0]["per_second"] + plains[1]["per_second"]) / 2
    simulation = study["lifetimes"] / speed
    return study | {
        "simulation_seconds": simulation,
        "total_over_simulation": study["total_seconds"] / simulation,
        "share_not_simulation": 1 - simulation / study["total_seconds"],
    }


def _options(size: list[str]) -> list[str]:
    """The command line's options for a study of `size` (patients, iterations)."""
    return ["--patients", size[0], "--psa-iterations", size[1]] if size else []


def _scaling(patients: int, n_strategies: int, repeats: int) -> dict:
    """Throughput of the base scenario on the processes and Dask backends with 1 and 2
    workers of one compiled-engine thread each (the time after the workers have started
    and loaded the compiled code), and the speed-up of 2 workers over 1."""
    from sim.execution import runner
    from sim.execution.backends import open_backend
    from sim.numerics import lifetable

    sc = _scenario(patients)
    table = lifetable.load(sc.cohort.life_table, BASE.parent)
    found: dict = {}
    for name in ("processes", "dask"):
        found[name] = {}
        for workers in (1, 2):
            with open_backend(name, workers, threads=1) as backend:
                warm = _scenario(runner.BLOCK_SIZE * 2 * workers)
                runner.simulate(warm, table, backend=backend)  # start and load every worker
                times = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    runner.simulate(sc, table, backend=backend)
                    times.append(time.perf_counter() - start)
            seconds = _median(times)
            found[name][str(workers)] = {
                "seconds": seconds,
                "patient_lifetimes_per_second": patients * n_strategies / seconds,
            }
            print(
                f"{name} backend, {workers} worker(s) x 1 thread: "
                f"{patients * n_strategies / seconds:,.0f} patient-lifetimes/s"
            )
        one, two = (found[name][w]["seconds"] for w in ("1", "2"))
        found[name]["speedup_2_over_1"] = one / two
        print(f"{name} backend: 2 workers {one / two:.2f}x the throughput of 1")
    return found


def _median(values: list[float]) -> float:
    return statistics.median(values)


def main(argv: list[str]) -> None:
    if argv[:1] == ["_memory"]:
        _memory_child(int(argv[1]))
        return
    if argv[:1] == ["_start"]:
        _start_child()
        return
    if argv[:1] in (["_study"], ["_plain"]):
        child = _study_child if argv[0] == "_study" else _plain_child
        child(*(int(a) for a in argv[1:3]), *([None] * (2 - len(argv[1:3]))))
        return
    quick = "--quick" in argv
    if "time-to-answer" in argv:  # that part alone: python -m sim.bench time-to-answer
        print(json.dumps(_time_to_answer(quick, 3 if quick else 5), indent=2))
        return
    import numba
    import numpy
    import simpy

    from sim import __version__ as version
    from sim.engines.fast import default_threads

    repeats = 5
    fast_patients = 50_000 if quick else 400_000
    des_patients = 300 if quick else 2_000
    sizes = (10**4, 10**5) if quick else (10**5, 10**6, 10**7)
    n_strategies = len(_scenario(1).strategies)
    report: dict = {
        "scenario": str(BASE.relative_to(ROOT)),
        "strategies": n_strategies,
        "horizon_years": _scenario(1).horizon,
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "system": platform.platform(),
        },
        "versions": {
            "baclofen-sim": version,
            "python": platform.python_version(),
            "numba": numba.__version__,
            "numpy": numpy.__version__,
            "simpy": simpy.__version__,
        },
    }

    # compile: cold (empty cache) then warm (the same cache), each in a fresh process
    with tempfile.TemporaryDirectory() as cache:
        cold = _child(["_start"], {"NUMBA_CACHE_DIR": cache})["seconds"]
        warm = _median(
            [_child(["_start"], {"NUMBA_CACHE_DIR": cache})["seconds"] for _ in range(3)]
        )
    report["start_seconds"] = {"cold_cache": cold, "warm_cache": warm}
    print(f"start of a 100-patient run: cold cache {cold:.1f} s, warm cache {warm:.2f} s")

    _timed_run(1000, "fast")  # load the compiled code in this process
    events, patient_years = _work(fast_patients)
    threads = {}
    for n in sorted({1, min(2, default_threads())}):
        seconds = _median([_timed_run(fast_patients, "fast", n) for _ in range(repeats)])
        threads[str(n)] = {
            "seconds": seconds,
            "patients_per_second": fast_patients / seconds,
            "patient_lifetimes_per_second": fast_patients * n_strategies / seconds,
            "patient_years_per_second": patient_years / seconds,
            "patient_years_per_second_per_thread": patient_years / seconds / n,
            "events_per_second": events / seconds,
            "ns_per_event": seconds / events * 1e9,
        }
        print(
            f"fast engine, {n} thread(s): {fast_patients / seconds:,.0f} patients/s "
            f"({fast_patients * n_strategies / seconds:,.0f} patient-lifetimes/s, "
            f"{patient_years / seconds / n:,.0f} patient-years/s per thread, "
            f"{events / seconds:,.0f} events/s)"
        )
    report["fast"] = {
        "patients": fast_patients,
        "events": events,
        "patient_years": patient_years,
        "threads": threads,
    }
    best = max(t["patients_per_second"] for t in threads.values())

    des_seconds = _median([_timed_run(des_patients, "des") for _ in range(repeats)])
    des_rate = des_patients / des_seconds
    report["des"] = {
        "patients": des_patients,
        "seconds": des_seconds,
        "patients_per_second": des_rate,
    }
    report["fast_over_des"] = {
        "one_thread": threads["1"]["patients_per_second"] / des_rate,
        "all_threads": best / des_rate,
    }
    print(
        f"SimPy engine: {des_rate:,.0f} patients/s; fast/SimPy: "
        f"{report['fast_over_des']['one_thread']:,.0f}x on 1 thread, "
        f"{report['fast_over_des']['all_threads']:,.0f}x on all"
    )

    report["scaling"] = _scaling(4 * fast_patients, n_strategies, repeats)
    report["time_to_answer"] = _time_to_answer(quick, repeats)

    memory = [_child(["_memory", str(n)]) for n in sizes]
    report["peak_memory"] = memory
    for m in memory:
        print(
            f"peak memory, {m['patients']:>10,} patients: {m['peak_mib']:.0f} MiB "
            f"({m['seconds']:.1f} s)"
        )
    report["peak_memory_growth_mib"] = memory[-1]["peak_mib"] - memory[0]["peak_mib"]

    out = ROOT / "results" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "bench.json.tmp"
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(out / "bench.json")
    print(f"written {out / 'bench.json'}")


if __name__ == "__main__":
    main(sys.argv[1:])

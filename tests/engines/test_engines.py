"""The two engines are one model: same events, same times, same tallies (issue 3).

The SimPy engine is the executable specification; the compiled engine must reproduce it
patient for patient. A mismatch names the scenario, strategy, patient and first diverging
event, so that the rule written differently is easy to find.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import PROBABILITIES, RATES, ROOT, base_document, build, perturbed, with_values
from hypothesis import given, settings

from sim import scenario
from sim.engines import cohort, des, fast
from sim.execution import runner
from sim.execution.backends import Backend
from sim.model.events import EVENTS
from sim.numerics import lifetable
from sim.output import tables

SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
TIME_TOLERANCE = 1e-9  # years (the bar; in practice the times are equal)
VALUE_TOLERANCE = 1e-12  # relative


def _arrays(sc: scenario.Scenario) -> cohort.CohortArrays:
    return cohort.CohortArrays.of(sc, lifetable.load(sc.cohort.life_table, ROOT / "scenarios"))


def _compiled(sc: scenario.Scenario, arrays: cohort.CohortArrays) -> fast.Run:
    return fast.Run.single(sc, arrays, runner.months_of(sc))


def _close(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= VALUE_TOLERANCE * max(abs(a), abs(b))


def compare_patient(
    sc: scenario.Scenario,
    arrays: cohort.CohortArrays,
    strategy: str,
    patient: int,
    compiled: fast.Run | None = None,
) -> str | None:
    """None if both engines agree on this patient, else what differs first. (`compiled`:
    the scenario given to the compiled engine, to show that a difference is caught.)"""
    rows: list[des.TraceRow] = []
    person = cohort.draw(arrays, sc.seed, 0, patient)
    out = des.simulate(sc, strategy, person, 0, rows)
    expected = [(r.time_years, r.event) for r in rows if r.event != "end_of_follow_up"]
    times, ids, acc = (compiled or _compiled(sc, arrays)).log(strategy, patient)
    got = [(float(t), EVENTS[e].name) for t, e in zip(times, ids, strict=True)]
    where = f"{sc.name}: strategy {strategy}, patient {patient}"
    for i, (a, b) in enumerate(zip(expected, got, strict=False)):
        if a[1] != b[1] or abs(a[0] - b[0]) > TIME_TOLERANCE:
            return (
                f"{where}: event {i} differs: SimPy {a[1]} at {a[0]!r}, "
                f"compiled {b[1]} at {b[0]!r}; before it: {expected[max(0, i - 3) : i]}"
            )
    if len(expected) != len(got):
        longer, extra = ("SimPy", expected) if len(expected) > len(got) else ("compiled", got)
        n = min(len(expected), len(got))
        return f"{where}: {longer} goes on after event {n} with {extra[n]}"
    pairs = {
        "cost": (out.cost, acc[fast.ACC.cost]),
        "qaly": (out.qaly, acc[fast.ACC.qaly]),
        "life_years": (out.life_years, acc[fast.ACC.life_years]),
        "life_years_discounted": (out.life_years_discounted, acc[fast.ACC.life_years_discounted]),
        "followup": (out.followup_years, acc[fast.ACC.followup]),
        "itb_dose": (out.itb_dose_mcg_years, acc[fast.ACC.itb_dose]),
        "itb_years": (out.itb_years, acc[fast.ACC.itb_years]),
        "oral_dose": (out.oral_dose_mg_years, acc[fast.ACC.oral_dose]),
        "oral_years": (out.oral_years, acc[fast.ACC.oral_years]),
        "refill_days": (out.refill_interval_days, acc[fast.ACC.refill_days]),
    }
    for name, (a, b) in pairs.items():
        if not _close(a, float(b)):
            return f"{where}: events agree but {name} differs: SimPy {a!r}, compiled {b!r}"
    return None


def assert_same_patients(sc: scenario.Scenario, patients: range) -> None:
    arrays = _arrays(sc)
    compiled = _compiled(sc, arrays)
    for strategy in sc.strategy_names():
        for patient in patients:
            problem = compare_patient(sc, arrays, strategy, patient, compiled)
            assert problem is None, problem


def assert_same_tally(a, b) -> None:
    assert a.patients == b.patients
    for name, value in vars(a).items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(value, getattr(b, name), err_msg=name)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenarios_patient_for_patient(path: Path) -> None:
    sc = scenario.load(path)
    assert_same_patients(sc, range(60 if sc.horizon_years == "lifetime" else 150))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenarios_same_tallies_and_tables(path: Path, monkeypatch) -> None:
    """Whole runs, over several blocks (a small block size, so merging is exercised)."""
    monkeypatch.setattr(runner, "BLOCK_SIZE", 37)
    sc = scenario.load(path).model_copy(update={"patients": 150})
    by_des = runner.run(sc, path.parent, engine="des")
    by_fast = runner.run(sc, path.parent, engine="fast")
    assert_same_tally(by_des, by_fast)
    for make in (tables.summary, tables.events, tables.cumulative_incidence):
        assert make(sc, by_des).to_csv() == make(sc, by_fast).to_csv()


def test_threads_do_not_change_the_tally(monkeypatch) -> None:
    """Blocks run in parallel but are merged in block order: 1 or 2 threads, same bits."""
    monkeypatch.setattr(runner, "BLOCK_SIZE", 256)
    sc = build(base_document()).model_copy(update={"patients": 4000})
    table = lifetable.load(sc.cohort.life_table, ROOT / "scenarios")
    one = runner.simulate(sc, table, backend=Backend(threads=1))
    two = runner.simulate(sc, table, backend=Backend(threads=2))
    assert_same_tally(one, two)


def test_a_computation_beside_the_run_takes_a_core_and_changes_no_bit(monkeypatch) -> None:
    """While a computation beside the run keeps a core (the EVPPI fits), the compiled
    engine runs one call at a time on the threads left; the tallies are the same bits as
    with every core, two calls in flight."""
    monkeypatch.setattr(runner, "BLOCK_SIZE", 64)
    sc = build(base_document()).model_copy(update={"patients": 700})
    table = lifetable.load(sc.cohort.life_table, ROOT / "scenarios")
    values = [{"strategies.itb.care_cost_multiplier": v} for v in (0.5, 0.7, 0.9, 1.1)]
    backend = Backend(threads=2)
    alone = list(runner.simulate_values(sc, table, "", values, backend=backend))
    threads: list[int | None] = []
    original = runner.compute
    monkeypatch.setattr(
        runner,
        "compute",
        lambda task, prepared, n=None: threads.append(n) or original(task, prepared, n),
    )
    with backend.beside(lambda: True):
        assert backend.threads_now() == 1
        beside = list(runner.simulate_values(sc, table, "", values, backend=backend))
    assert threads and set(threads) == {1}
    assert backend.threads_now() == 2  # the core is back once the computation is done
    for a, b in zip(alone, beside, strict=True):
        assert_same_tally(a, b)


def test_block_size_is_shared_and_results_do_not_depend_on_chunking(monkeypatch) -> None:
    """Calls of the compiled loop hold a few blocks each; how many must not matter."""
    monkeypatch.setattr(runner, "BLOCK_SIZE", 50)
    sc = build(base_document()).model_copy(update={"patients": 1000})
    reference = runner.run(sc, ROOT / "scenarios")
    monkeypatch.setattr(fast, "BLOCKS_PER_CALL", 3)
    assert_same_tally(reference, runner.run(sc, ROOT / "scenarios"))


def test_a_rule_written_differently_is_caught() -> None:
    """The comparison can fail, and says where: a compiled engine given another surgery
    cost agrees on every event but not on the cost; another catheter life changes events."""
    sc = build(base_document())
    arrays = _arrays(sc)
    implanted = next(i for i in range(100) if _implanted(sc, arrays, i))
    assert compare_patient(sc, arrays, "itb", implanted) is None
    costly = build(with_values(base_document(), strategies__itb__surgery__implant__cost=30001))
    problem = compare_patient(sc, arrays, "itb", implanted, _compiled(costly, arrays))
    assert problem is not None and "events agree but cost differs" in problem
    fragile = build(
        with_values(
            base_document(),
            strategies__itb__catheter__time_to_failure_years={
                "dist": "weibull",
                "shape": 0.7,
                "scale": 0.5,
            },
        )
    )
    problem = compare_patient(sc, arrays, "itb", implanted, _compiled(fragile, arrays))
    assert problem is not None and "differs: SimPy" in problem and "catheter_failure" in problem


def _implanted(sc: scenario.Scenario, arrays: cohort.CohortArrays, patient: int) -> bool:
    rows: list[des.TraceRow] = []
    des.simulate(sc, "itb", cohort.draw(arrays, sc.seed, 0, patient), 0, rows)
    return any(r.event == "implant" for r in rows)


@settings(max_examples=60)
@given(doc=perturbed())
def test_perturbed_scenarios_patient_for_patient(doc: dict[str, Any]) -> None:
    sc = build(doc)
    assert_same_patients(sc, range(8))


def test_a_cost_trend_and_early_care_patient_for_patient() -> None:
    """Costs split at trend years and at implant anniversaries, in both engines alike."""
    doc = with_values(
        base_document(),
        discount__cost_trend=[0.1, 0.085, 0.07, 0.055, 0.04],
        strategies__itb__care_cost_multiplier_early=[0.95, 0.75, 0.55],
        horizon_years=30,
    )
    assert_same_patients(build(doc), range(80))


def test_zero_and_certain_everything() -> None:
    """Corners hypothesis may miss together: every probability 1, every rate large."""
    changes = {p: 1.0 for p in PROBABILITIES if "screening" not in p}
    changes.update({p: 5.0 for p in RATES})
    changes["strategies__itb__surgery__implant__death_probability"] = 0.0
    changes["strategies__itb__surgery__pump_replacement__death_probability"] = 0.0
    sc = build(with_values(base_document(), **changes))
    assert_same_patients(sc, range(40))
    assert math.isfinite(_compiled(sc, _arrays(sc)).log("itb", 0)[2][fast.ACC.cost])


ENDLESS = {
    # a catheter failing 10,000 times a year, revised without infection or withdrawal: a
    # file `validate` accepts whose lives would take millions of events
    "strategies__itb__catheter__time_to_failure_years": {
        "dist": "exponential",
        "rate_per_year": 10000.0,
    },
    "strategies__itb__surgery__catheter_revision__infection_probability": 0.0,
    "strategies__itb__catheter__withdrawal_probability": 0.0,
    "horizon_years": 30,
}


def test_a_life_without_end_stops_with_an_error_naming_its_clock(monkeypatch) -> None:
    """Both engines stop a life beyond the firing budget with the same one-line error
    (bad input, exit 2 on the command line), instead of running for ever."""
    sc = build(with_values(base_document(), **ENDLESS)).model_copy(update={"patients": 8})
    with pytest.raises(scenario.ScenarioError) as fast_error:
        runner.run(sc, ROOT / "scenarios", engine="fast")
    message = str(fast_error.value)
    assert "strategies.itb: patient 4 took more than 200,000 events" in message
    assert "catheter failure" in message and "catheter.time_to_failure_years" in message
    # the SimPy engine counts the same firings (a smaller budget here, to stay quick)
    monkeypatch.setattr(des.base, "MAX_FIRINGS", 2000)
    expected = "patient 1 took more than 2,000 events in one lifetime, the last a catheter"
    with pytest.raises(scenario.ScenarioError, match=expected):
        runner.run(sc, ROOT / "scenarios", engine="des")


def test_a_life_without_end_names_the_scenario_file(tmp_path: Path) -> None:
    """The engines run copies of the scenario (its costs priced, its draws applied): the
    error names the file the user wrote, as every other error does (it said the
    scenario's name, and a base-case error of a priced cost said no file at all)."""
    import yaml

    import sim

    path = tmp_path / "endless.yaml"
    doc = with_values(base_document(), **ENDLESS)
    doc["patients"], doc["psa_iterations"] = 8, 0
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    with pytest.raises(scenario.ScenarioError) as error:
        sim.run(sim.load(path), one_way_analyses=False)
    assert str(error.value).startswith(f"{path}: strategies.itb: patient 4 took more than")

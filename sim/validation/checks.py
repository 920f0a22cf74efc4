"""Model validation (issue 7; ISPOR-SMDM good practice): is the model right, and does it
reproduce what is known?

* **Internal** checks run the model in set-ups with a closed-form answer (life expectancy
  from the life table, discounting of a constant stream, Poisson counts, a Weibull renewal
  count, the reservoir and battery arithmetic) and must pass: a failure is a bug.
* **External** checks set the model's outputs beside published outcomes (registry and
  cohort figures from PARAMETERS.md) with the published interval; a difference is
  reported with its likely reason, and the shipped base case is never tuned to them. A
  figure that a default was derived from is a **derivation** check instead: it shows the
  derivation holds and is never counted as a validation.

Each check states its reference, the model's value with its 95% Monte Carlo interval, the
difference and the tolerance; `baclofen-sim validation` writes them as a table and a page.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy import special

from sim import scenario
from sim.analysis import econ
from sim.engines import cohort, des
from sim.engines.tally import Tally
from sim.execution import runner
from sim.model.events import COUNTERS, GROUP_ID
from sim.model.units import DAYS_PER_YEAR
from sim.numerics import lifetable
from sim.validation.setups import base_case_only, one_indication, only, silent, with_values

Z95 = econ.Z95
#: The published figures of the external and cross-model checks (published.yaml).
PUBLISHED: dict[str, dict[str, dict[str, Any]]] = yaml.safe_load(
    (Path(__file__).parent / "published.yaml").read_text(encoding="utf-8")
)
#: The registry-like set-up of the external checks per pump-year (an entry's `set_up`
#: names another), in scenarios/validation/.
REGISTRY = "registry-itb.yaml"
#: The external set-ups, in scenarios/validation/.
SET_UPS = tuple(
    dict.fromkeys(
        [
            REGISTRY,
            "device-only.yaml",
            *(e["set_up"] for e in PUBLISHED["external"].values() if "set_up" in e),
            *(entry["set_up"] for entry in PUBLISHED["cross_model"]),
        ]
    )
)
#: Internal checks: the model must lie within this many Monte Carlo standard errors.
Z_INTERNAL = 4.0


@dataclass(frozen=True)
class Check:
    # internal | external | calibration or derivation (a default derived from the figure:
    # never counted as validation)
    kind: str
    check: str
    reference: float
    reference_source: str
    model: float
    model_low: float
    model_high: float
    tolerance: str
    passed: bool
    note: str = ""

    def __post_init__(self) -> None:
        # numpy comparisons give numpy booleans and floats: keep the table plain
        for name in ("reference", "model", "model_low", "model_high"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "passed", bool(self.passed))

    @property
    def difference(self) -> float:
        return self.model - self.reference


# -------------------------------------------------------------------------- statistics


def _mean_interval(tally: Tally, strategy: int, outcome: str) -> tuple[float, float, float]:
    """Mean per patient of an outcome and its 95% Monte Carlo interval."""
    k = tally.index(strategy, outcome)
    return econ.mean_ci(tally.sum_v[k], tally.sum_vv[k, k], tally.patients)


def _count_interval(tally: Tally, strategy: int, counter: str) -> tuple[float, float, float]:
    """Mean count per patient and its 95% Monte Carlo interval."""
    c = COUNTERS.index(counter)
    return econ.mean_ci(tally.count[strategy, c], tally.count_sq[strategy, c], tally.patients)


def _within(model: float, low: float, high: float, reference: float) -> bool:
    """The internal rule: within Z_INTERNAL standard errors (the 95% half-width / 1.96)."""
    se = (high - low) / (2 * Z95)
    return abs(model - reference) <= Z_INTERNAL * se + 1e-9 * max(1.0, abs(reference))


def weibull_renewals(shape: float, scale: float, horizon: float, steps: int = 2000) -> float:
    """Renewal function M(t) of a Weibull renewal process at t = horizon: the expected
    number of failures when each failed part is replaced at once.

    Solves the renewal equation M(t) = F(t) + integral_0^t M(t - x) dF(x) on a grid of
    `steps` cells. Within a cell M(t - x) is linear between grid points and the cell's
    dF and x dF are exact (incomplete gamma), so the density's singularity at 0 (shape
    below 1) costs no accuracy: the error falls as the square of the step.
    """
    h = horizon / steps
    x = np.linspace(0.0, horizon, steps + 1)
    z = (x / scale) ** shape
    cdf = -np.expm1(-z)
    first_moment = scale * special.gamma(1 + 1 / shape) * special.gammainc(1 + 1 / shape, z)
    d_cdf, d_moment = np.diff(cdf), np.diff(first_moment)
    w = (x[1:] * d_cdf - d_moment) / h  # weight of M at the cell's upper lag
    a = d_cdf - w  # weight of M at its lower lag
    m = np.zeros(steps + 1)
    for i in range(1, steps + 1):
        lower = float(np.dot(m[i - 1 :: -1][:i], a[:i]))
        upper = float(np.dot(m[i - 1 : 0 : -1][: i - 1], w[1:i]))
        m[i] = (cdf[i] + lower + upper) / (1.0 - w[0])
    return float(m[-1])


def _rate_interval(events: float, exposure: float) -> tuple[float, float]:
    return econ.poisson_rate_ci(events, exposure)


# ------------------------------------------------------------------------- the checks


class Validator:
    """Runs the checks on a base scenario (the internal set-ups are made from it)."""

    def __init__(
        self,
        base_file: Path,
        patients: int,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.base_file = base_file
        self.base = scenario.resolve(base_file)
        self.base.pop("extends", None)
        self.patients = patients
        self.progress = progress or (lambda _: None)
        self.table = lifetable.load(
            scenario.load(base_file).cohort.life_table, base_file.resolve().parent
        )

    def simulate(self, doc: dict[str, Any]) -> tuple[scenario.Scenario, Tally]:
        sc = scenario.validate(doc, self.base_file)
        return sc, runner.simulate(sc, self.table)

    # -- internal

    def life_expectancy(self) -> list[Check]:
        checks = []
        for age in (40, 65, 80):
            for sex, male in (("women", 0.0), ("men", 1.0)):
                doc = with_values(
                    only(one_indication(base_case_only(self.base), 1.0), "none"),
                    horizon_years="lifetime",
                    patients=self.patients,
                    discount={"costs": 0.0, "effects": 0.0},
                    cohort__age_years=float(age),
                    cohort__male_share=male,
                )
                _, tally = self.simulate(doc)
                model, low, high = _mean_interval(tally, 0, "life_years")
                reference = self.table.life_expectancy(int(male), age)
                checks.append(
                    Check(
                        "internal",
                        f"life expectancy, {sex} aged {age} (untreated, multiplier 1)",
                        reference,
                        f"{self.table.name}: constant hazard within each year of age",
                        model,
                        low,
                        high,
                        f"within {Z_INTERNAL:g} Monte Carlo SE",
                        _within(model, low, high, reference),
                    )
                )
        self.progress("life expectancy")
        return checks

    def discounting(self) -> list[Check]:
        checks = []
        cost, utility, horizon = 10_000.0, 0.5, 20.0
        for rate in (0.0, 0.035):
            doc = with_values(
                only(silent(self.base), "none"),
                patients=200,
                horizon_years=horizon,
                discount={"costs": rate, "effects": rate},
                cohort__care_cost_per_year=cost,
            )
            doc["cost_years"] = {"cohort.care_cost_per_year": doc["price_year"]}
            for indication in doc["cohort"]["indications"].values():
                indication["baseline_utility"] = utility
            _, tally = self.simulate(doc)
            annuity = horizon if rate == 0 else (1 - (1 + rate) ** -horizon) / math.log(1 + rate)
            for outcome, per_year in (("cost", cost), ("qaly", utility)):
                model, _, _ = _mean_interval(tally, 0, outcome)
                reference = per_year * annuity
                checks.append(
                    Check(
                        "internal",
                        f"discounted {outcome} of a constant stream, {rate:.1%} over "
                        f"{horizon:g} years",
                        reference,
                        "closed form: x (1 - (1 + r)^-T) / ln(1 + r)",
                        model,
                        model,
                        model,
                        "relative 1e-9 (no randomness)",
                        abs(model - reference) <= 1e-9 * reference,
                    )
                )
        self.progress("discounting")
        return checks

    def poisson(self) -> list[Check]:
        rates = {"drowsiness": 0.3, "dizziness": 0.1, "confusion": 0.05}
        horizon = 20.0
        doc = only(silent(self.base), "oral")
        doc = with_values(
            doc,
            patients=self.patients,
            horizon_years=horizon,
            strategies__oral__response_probability=1.0,
            strategies__oral__side_effects__dose_exponent=0.0,
        )
        for name, rate in rates.items():
            doc["strategies"]["oral"]["side_effects"]["events"][name]["rate_per_year"] = rate
        _, tally = self.simulate(doc)
        checks = []
        for name, rate in rates.items():
            model, low, high = _count_interval(tally, 0, name)
            checks.append(
                Check(
                    "internal",
                    f"{name} on tablets: events per patient over {horizon:g} years",
                    rate * horizon,
                    f"Poisson: rate {rate} x {horizon:g} years",
                    model,
                    low,
                    high,
                    f"within {Z_INTERNAL:g} Monte Carlo SE",
                    _within(model, low, high, rate * horizon),
                )
            )
        self.progress("Poisson counts")
        return checks

    def _itb(self, **values: Any) -> dict[str, Any]:
        doc = only(silent(self.base), "itb", "oral")
        return with_values(
            doc, patients=self.patients, **{f"strategies__itb__{k}": v for k, v in values.items()}
        )

    def catheter_renewals(self) -> list[Check]:
        shape, scale, horizon = 0.7, 5.0, 20.0
        doc = self._itb(
            catheter__time_to_failure_years={"dist": "weibull", "shape": shape, "scale": scale}
        )
        doc["horizon_years"] = horizon
        _, tally = self.simulate(doc)
        model, low, high = _count_interval(tally, 0, "catheter_revision")
        fine, coarse = (weibull_renewals(shape, scale, horizon, s) for s in (2000, 1000))
        error = abs(fine - coarse)
        ok = _within(model, low, high, fine) or abs(model - fine) <= (
            Z_INTERNAL * (high - low) / (2 * Z95) + error
        )
        self.progress("catheter renewals")
        return [
            Check(
                "internal",
                f"catheter revisions per patient over {horizon:g} years, "
                f"Weibull(shape {shape}, scale {scale})",
                fine,
                f"renewal equation, numerically (grid error {error:.1e})",
                model,
                low,
                high,
                f"within {Z_INTERNAL:g} Monte Carlo SE plus the grid error",
                ok,
            )
        ]

    def refills_and_batteries(self) -> list[Check]:
        horizon, dose = 20.0, 400.0
        doc = self._itb()
        doc["horizon_years"] = horizon
        for indication in doc["cohort"]["indications"].values():
            indication["itb_dose_mcg_per_day"] = dose
        pump = doc["strategies"]["itb"]["pump"]
        usable = (pump["reservoir_ml"] - pump["alarm_volume_ml"]) * pump["concentration_mcg_per_ml"]
        days = max(min(math.floor(usable / dose), pump["stability_days"]), 1)
        visits = math.ceil(horizon * DAYS_PER_YEAR / days) - 1  # k * days < T, k >= 1
        _, tally = self.simulate(doc)
        model, _, _ = _count_interval(tally, 0, "refill_visit")
        checks = [
            Check(
                "internal",
                f"refill visits per patient over {horizon:g} years at {dose:g} mcg/day",
                float(visits),
                f"reservoir arithmetic: every {days} days (usable {usable:g} mcg, stability "
                f"{pump['stability_days']:g} days)",
                model,
                model,
                model,
                "exact",
                model == visits,
            )
        ]
        for delay, event, expected in (
            (30.0, "pump_replacement_elective", 4),
            (120.0, "pump_replacement_urgent", 3),
        ):
            doc = self._itb(
                pump__battery_life_years=5.0,
                pump__battery_cap_years=7.0,
                pump__battery_alarm_lead_days=90.0,
                pump__replacement_delay_days=delay,
            )
            doc["horizon_years"] = horizon
            _, tally = self.simulate(doc)
            model, _, _ = _count_interval(tally, 0, event)
            kind = "elective, before depletion" if delay < 90 else "urgent, after depletion"
            checks.append(
                Check(
                    "internal",
                    f"pump replacements per patient over {horizon:g} years, 5-year battery, "
                    f"alarm 90 days ahead, replaced {delay:g} days after it",
                    float(expected),
                    f"battery arithmetic: {kind}",
                    model,
                    model,
                    model,
                    "exact",
                    model == expected,
                )
            )
        self.progress("refills and batteries")
        return checks

    def internal(self) -> list[Check]:
        return [
            *self.life_expectancy(),
            *self.discounting(),
            *self.poisson(),
            *self.catheter_renewals(),
            *self.refills_and_batteries(),
        ]

    # -- external

    def external(self, folder: Path) -> list[Check]:
        """Published outcomes beside the model's, on the set-ups in `folder`; a figure a
        default was derived from is a derivation check, not a validation."""
        checks = []
        runs: dict[str, tuple[int, Tally]] = {}

        def run(set_up: str) -> tuple[int, Tally]:
            """The ITB strategy's index and the tally of a set-up (each run once)."""
            if set_up not in runs:
                sc = scenario.load(folder / set_up).model_copy(update={"patients": self.patients})
                runs[set_up] = (sc.strategy_names().index("itb"), runner.simulate(sc, self.table))
            return runs[set_up]

        def per_pump_year(set_up: str, counters: list[str]) -> tuple[float, float, float]:
            itb, tally = run(set_up)
            pump_years = float(tally.itb_years[itb])
            events = float(sum(tally.count[itb, COUNTERS.index(c)] for c in counters))
            low, high = _rate_interval(events, pump_years)
            return events / pump_years, low, high

        for ref in PUBLISHED["external"].values():
            if "counters" not in ref or "exposure" in ref:
                continue  # a share or a count per implant: below
            events = ref["events"]
            value = ref["value"] if "value" in ref else events / ref["exposure_years"]
            checks.append(
                _external(
                    ref,
                    value,
                    _rate_interval(events, events / value),
                    f"{' '.join(ref['source'].split())} (95% interval from {events} events)",
                    per_pump_year(ref.get("set_up", REGISTRY), ref["counters"]),
                )
            )
        # infections per surgical procedure
        ref = PUBLISHED["external"]["infections_per_procedure"]
        itb, tally = run(REGISTRY)
        infections = float(tally.count[itb, COUNTERS.index("infection")])
        surgeries = float(tally.count[itb, GROUP_ID["any_surgery"]])
        p = infections / surgeries
        half = Z95 * math.sqrt(p * (1 - p) / surgeries)
        checks.append(
            _external(
                ref,
                ref["successes"] / ref["trials"],
                econ.wilson_interval(ref["successes"], ref["trials"]),
                ref["source"],
                (p, p - half, p + half),
            )
        )
        checks += self._device_only(folder)
        self.progress("external")
        return checks

    def _device_only(self, folder: Path) -> list[Check]:
        """Device survival without competing death (as a registry's device survival)."""
        device = scenario.load(folder / "device-only.yaml").model_copy(
            update={"patients": self.patients}
        )
        tally = runner.simulate(device, self.table)
        itb = device.strategy_names().index("itb")
        n = tally.patients
        free = 1.0 - tally.with_event[itb, COUNTERS.index("catheter_failure")] / n
        half = Z95 * math.sqrt(free * (1 - free) / n)
        ref = PUBLISHED["external"]["catheter_free"]
        bound = ref["lower_bound"]
        kind, note = _kind(ref)
        checks = [
            Check(
                kind,
                ref["check"].format(horizon=f"{device.horizon:g}"),
                bound,
                ref["source"],
                free,
                free - half,
                free + half,
                f"the model's 95% interval reaches {bound:g} or above (a lower bound is published)",
                bool(free + half >= bound),
                note,
            )
        ]
        # catheter revisions per implant (Poisson interval of the published count)
        ref = PUBLISHED["external"]["catheter_revisions_per_implant"]
        (counter,) = ref["counters"]
        checks.append(
            _external(
                ref,
                ref["events"] / ref["exposure"],
                _rate_interval(ref["events"], ref["exposure"]),
                " ".join(ref["source"].split()),
                _count_interval(tally, itb, counter),
                horizon=device.horizon,
            )
        )
        # median time to the first battery replacement, from the SimPy engine's histories
        people = min(self.patients, 2000)
        arrays = cohort.CohortArrays.of(device, self.table)
        times = []
        horizon_doc = device.model_copy(update={"horizon_years": 10.0})
        for i in range(people):
            rows: list[des.TraceRow] = []
            des.simulate(horizon_doc, "itb", cohort.draw(arrays, device.seed, 0, i), 0, rows)
            first = next(
                (
                    r.time_years
                    for r in rows
                    if r.event == "pump_replacement_elective"
                    or (r.event == "pump_replacement_urgent" and r.cause == "battery")
                ),
                math.inf,
            )
            times.append(first)
        times_arr = np.sort(np.array(times))
        median = float(np.median(times_arr))
        # distribution-free 95% interval of the median: order statistics n/2 -+ 1.96 sqrt(n)/2
        k = math.floor(people / 2 - Z95 * math.sqrt(people) / 2)
        low, high = float(times_arr[max(k, 0)]), float(times_arr[min(people - 1 - k, people - 1)])
        ref = PUBLISHED["external"]["median_battery"]
        checks.append(
            _external(
                ref,
                ref["value"],
                tuple(ref["interval"]),
                ref["source"],
                (median, low, high),
            )
        )
        return checks


def _kind(ref: dict[str, Any]) -> tuple[str, str]:
    """An external entry's kind and note: a figure that a default of the base case was
    derived from (`derived_input`) checks the derivation, and is no validation."""
    note = " ".join(ref["note"].split())
    if "derived_input" not in ref:
        return "external", note
    derived = (
        f"a derivation, not a validation: the base case's {ref['derived_input']} comes from it"
    )
    return "derivation", f"{derived}; {note}" if note else derived


def _external(
    ref: dict[str, Any],
    reference: float,
    reference_interval: tuple[float, float],
    source: str,
    model: tuple[float, float, float],
    horizon: float | None = None,
) -> Check:
    """A published outcome beside the model's (`ref`: its entry in published.yaml): it
    passes when the model's 95% interval meets the published one."""
    value, low, high = model
    ref_low, ref_high = reference_interval
    kind, note = _kind(ref)
    return Check(
        kind,
        ref["check"].format(horizon=f"{horizon:g}") if horizon is not None else ref["check"],
        reference,
        f"{source}; published 95% interval {ref_low:.4g}-{ref_high:.4g}",
        value,
        low,
        high,
        "the model's 95% interval meets the published 95% interval",
        bool(low <= ref_high and high >= ref_low),
        note,
    )

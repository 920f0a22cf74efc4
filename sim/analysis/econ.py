"""Health-economic and statistical formulas, as pure functions (DESIGN §5).

Each is tested against a closed form or a worked example in ``tests/economics/test_econ.py``. The
probabilistic-analysis functions (``nmb``, ``ceac``, ``evppi``, ``running_mean``) take numpy
arrays of per-iteration results, shaped (iterations, strategies).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import special

Z95 = 1.959963984540054  # standard normal 97.5th percentile


def mean_ci(total: float, total_sq: float, n: int) -> tuple[float, float, float]:
    """Mean and normal 95% confidence interval from a sum and a sum of squares."""
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = total / n
    if n < 2:
        return mean, math.nan, math.nan
    var = max(0.0, (total_sq - total * total / n) / (n - 1))
    half = Z95 * math.sqrt(var / n)
    return mean, mean - half, mean + half


@dataclass(frozen=True)
class FrontierRow:
    status: str  # "frontier", "dominated" or "extendedly dominated"
    icer: float  # against the previous strategy on the frontier; nan for the first


def frontier(costs: list[float], effects: list[float]) -> list[FrontierRow]:
    """Fully incremental analysis: strong then extended dominance (Drummond et al. 2015).

    Strategies are sorted by cost; a strategy is strongly dominated when another costs no
    more and gives at least as much (one of them strictly); extendedly dominated when its
    ICER against the previous non-dominated strategy exceeds that of the next one.
    """
    n = len(costs)
    order = sorted(range(n), key=lambda i: (costs[i], -effects[i]))
    status = ["frontier"] * n
    for i in range(n):
        for j in range(n):
            if (
                i != j
                and costs[j] <= costs[i]
                and effects[j] >= effects[i]
                and (costs[j] < costs[i] or effects[j] > effects[i] or j < i)
            ):
                status[i] = "dominated"
                break
    alive = [i for i in order if status[i] == "frontier"]
    changed = True
    while changed and len(alive) > 2:
        changed = False
        icers = [
            (costs[b] - costs[a]) / (effects[b] - effects[a]) for a, b in itertools.pairwise(alive)
        ]
        for k in range(len(icers) - 1):
            if icers[k] > icers[k + 1]:
                status[alive[k + 1]] = "extendedly dominated"
                del alive[k + 1]
                changed = True
                break
    icer = [math.nan] * n
    for a, b in itertools.pairwise(alive):
        icer[b] = (costs[b] - costs[a]) / (effects[b] - effects[a])
    return [FrontierRow(status[i], icer[i]) for i in range(n)]


def icer(delta_cost: float, delta_effect: float) -> tuple[float, str]:
    """ICER against a comparator, with the quadrant; no ratio where one would mislead (a
    negative ratio of a dominant strategy ranks nothing: the note says "dominant")."""
    if delta_effect > 0:
        if delta_cost > 0:
            return delta_cost / delta_effect, "more costly, more effective"
        return math.nan, "dominant"
    if delta_effect < 0:
        if delta_cost < 0:
            return delta_cost / delta_effect, "less costly, less effective"
        return math.nan, "dominated"  # costs at least as much for less effect
    return math.nan, "equal effect"


def poisson_rate_ci(
    events: float,
    exposure: float,
    dispersion: float = 1.0,
) -> tuple[float, float]:
    """Exact (Garwood) 95% interval of a Poisson rate, widened for over-dispersion.

    With dispersion phi > 1 (events clustered in patients), the count behaves like a
    Poisson count of events/phi over exposure/phi (quasi-Poisson).
    """
    if exposure <= 0:
        return math.nan, math.nan
    phi = max(1.0, dispersion)
    y, t = events / phi, exposure / phi
    low = 0.0 if y == 0 else special.gammaincinv(y, 0.025) / t
    high = special.gammaincinv(y + 1, 0.975) / t
    return float(low), float(high)


def wilson_interval(successes: int, trials: int) -> tuple[float, float]:
    """Wilson score 95% interval of a proportion (good coverage for small counts)."""
    if trials <= 0:
        return math.nan, math.nan
    p, z2 = successes / trials, Z95 * Z95
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = Z95 * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return centre - half, centre + half


def dispersion(
    n: int,
    count: float,
    count_sq: float,
    count_exposure: float,
    exposure: float,
    exposure_sq: float,
) -> float:
    """Ratio of the cluster-robust variance of a rate (patients as clusters) to the
    Poisson variance: 1 for Poisson counts, above 1 when events cluster in patients."""
    if count <= 0 or n < 2 or exposure <= 0:
        return 1.0
    rate = count / exposure
    residual_sq = count_sq - 2 * rate * count_exposure + rate * rate * exposure_sq
    return max(1.0, n / (n - 1) * residual_sq / count)


#: What paired_risk returns.
PAIRED_RISK_KEYS = (
    "rr",
    "rr_low",
    "rr_high",
    "rd",
    "rd_low",
    "rd_high",
    "nnh",
    "nnh_low",
    "nnh_high",
    "nnt",
    "nnt_low",
    "nnt_high",
)


def paired_risk(n: int, with_a: int, with_b: int, with_both: int) -> dict[str, float]:
    """Relative risk and risk difference of A against B on the same patients (matched
    pairs: Agresti 2013, §11.1), with 95% intervals, and the number needed to harm (or to
    treat) with its interval when the risk difference's interval excludes zero."""
    nan = math.nan
    out = dict.fromkeys(PAIRED_RISK_KEYS, nan)
    if n == 0:
        return out
    b = with_a - with_both  # A only
    c = with_b - with_both  # B only
    rd = (b - c) / n
    var_rd = max(0.0, (b + c) - (b - c) ** 2 / n) / n**2
    out.update(rd=rd, rd_low=rd - Z95 * math.sqrt(var_rd), rd_high=rd + Z95 * math.sqrt(var_rd))
    if with_a > 0 and with_b > 0:
        rr = with_a / with_b
        se = math.sqrt((b + c) / (with_a * with_b))
        out.update(rr=rr, rr_low=rr * math.exp(-Z95 * se), rr_high=rr * math.exp(Z95 * se))
    # numbers needed to harm or treat only where the difference is clear: an interval of
    # the risk difference that excludes zero (its bounds give the interval of 1 / RD)
    low, high = out["rd_low"], out["rd_high"]
    if low > 0:
        out.update(nnh=1 / rd, nnh_low=1 / high, nnh_high=1 / low)
    elif high < 0:
        out.update(nnt=-1 / rd, nnt_low=-1 / low, nnt_high=-1 / high)
    return out


def nmb(costs: np.ndarray, qalys: np.ndarray, wtp: np.ndarray | float) -> np.ndarray:
    """Net monetary benefit wtp * qalys - costs (broadcasting), the scale on which
    strategies are compared at a given willingness to pay."""
    return np.multiply(wtp, qalys) - np.asarray(costs, dtype=float)


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class Ceac:
    """Acceptability curves, acceptability frontier and EVPI of a PSA on a grid of WTPs."""

    wtp: np.ndarray  # (W,)
    probability: np.ndarray  # (W, S): share of iterations in which a strategy has the best NMB
    expected_nmb: np.ndarray  # (W, S)
    optimal: np.ndarray  # (W,): index of the highest expected NMB (the CEAF)
    evpi: np.ndarray  # (W,): expected value of perfect information per patient
    evpi_se: np.ndarray  # (W,): its Monte Carlo standard error


def _psa_pair(costs: np.ndarray, qalys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(costs, dtype=float)
    q = np.asarray(qalys, dtype=float)
    if c.ndim != 2 or c.shape != q.shape or 0 in c.shape:
        raise ValueError(
            f"costs and qalys must share a non-empty (N, S) shape: {c.shape}, {q.shape}"
        )
    return c, q


def ceac(costs: np.ndarray, qalys: np.ndarray, wtps: np.ndarray) -> Ceac:
    """CEAC, CEAF and EVPI from PSA samples (N iterations, S strategies) at each WTP.

    Ties go to the lowest strategy index, so that each CEAC row sums to 1. The EVPI is the
    mean per-iteration opportunity loss of the strategy chosen on expected NMB, which equals
    E[max NMB] - max E[NMB] and gives its Monte Carlo standard error directly.
    """
    c, q = _psa_pair(costs, qalys)
    w = np.asarray(wtps, dtype=float)
    if w.ndim != 1:
        raise ValueError("wtps must be one-dimensional")
    n, s = c.shape
    probability = np.empty((w.size, s))
    expected = np.empty((w.size, s))
    optimal = np.empty(w.size, dtype=np.intp)
    evpi = np.empty(w.size)
    evpi_se = np.full(w.size, math.nan)
    for k, lam in enumerate(w):  # one WTP at a time keeps memory at O(N S)
        v = lam * q - c
        best = v.argmax(axis=1)  # first maximum: ties to the lowest index
        probability[k] = np.bincount(best, minlength=s) / n
        expected[k] = v.mean(axis=0)
        optimal[k] = expected[k].argmax()
        loss = v.max(axis=1) - v[:, optimal[k]]
        evpi[k] = loss.mean()
        if n > 1:
            evpi_se[k] = loss.std(ddof=1) / math.sqrt(n)
    return Ceac(
        wtp=_read_only(w.copy()),
        probability=_read_only(probability),
        expected_nmb=_read_only(expected),
        optimal=_read_only(optimal),
        evpi=_read_only(evpi),
        evpi_se=_read_only(evpi_se),
    )


def population_factor(patients_per_year: float, years: int, rate: float) -> float:
    """What a per-patient value of information is multiplied by for a population:
    sum over t = 0..years-1 of patients_per_year (1 + rate)^-t, each year's patients
    discounted from the decision (the first year's not at all); the closed form of the
    geometric sum. The population EVPI bounds what research for these patients is worth."""
    if years < 1 or patients_per_year < 0:
        raise ValueError("need years >= 1 and patients_per_year >= 0")
    if rate == 0:
        return float(patients_per_year * years)
    v = 1.0 / (1.0 + rate)
    return float(patients_per_year * (1.0 - v**years) / (1.0 - v))


def running_mean(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Running mean along the first axis and its Monte Carlo standard error sd / sqrt(n)
    (nan for n < 2), to show how a PSA estimate settles as iterations accrue.

    Sums are taken about the overall mean so that the running variance does not lose
    precision to cancellation when the values are far from zero.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim == 0 or v.shape[0] == 0:
        raise ValueError("values must have at least one row")
    n = np.arange(1, v.shape[0] + 1, dtype=float).reshape((-1,) + (1,) * (v.ndim - 1))
    shift = v.mean(axis=0)
    dev = v - shift
    s1 = np.cumsum(dev, axis=0)
    s2 = np.cumsum(dev * dev, axis=0)
    mean = shift + s1 / n
    se = np.full(v.shape, math.nan)
    if v.shape[0] > 1:
        m = n[1:]
        var = np.maximum(s2[1:] - s1[1:] ** 2 / m, 0.0) / (m - 1)
        se[1:] = np.sqrt(var / m)
    return mean, se


# --- EVPPI by nonparametric regression (Strong, Oakley & Brennan 2014) -----------------

_KNOTS_ONE = 20  # interior knots of the spline of a single parameter
_KNOTS_GROUP = 10  # per parameter in an additive model of a group
_LOG_LAMBDA = tuple(x / 2 for x in range(-16, 17))  # log10 smoothing grid, relative scale


def _spline_block(x: np.ndarray, n_knots: int) -> tuple[np.ndarray, np.ndarray]:
    """Centred cubic B-spline basis of x with knots at its quantiles, and its O'Sullivan
    penalty (integrated squared second derivative, exact by Simpson's rule since B'' is
    piecewise linear): quantile knots follow skewed inputs, and the penalty is that of a
    smoothing spline whatever the knot spacing. The sum-to-zero constraint (as in mgcv)
    keeps blocks of an additive model identifiable next to the intercept."""
    from scipy import linalg
    from scipy.interpolate import BSpline  # EVPPI only: kept out of every run's imports

    lo, hi = float(x.min()), float(x.max())
    inner = np.unique(np.quantile(x, np.linspace(0.0, 1.0, n_knots + 2)[1:-1]))
    inner = inner[(inner > lo) & (inner < hi)]
    t = np.r_[[lo] * 4, inner, [hi] * 4]
    k = t.size - 4
    basis = BSpline.design_matrix(x, t, 3).toarray()
    edges = np.r_[lo, inner, hi]
    h = np.diff(edges)
    points = np.r_[edges[:-1], (edges[:-1] + edges[1:]) / 2, edges[1:]]
    weights = np.r_[h / 6, 4 * h / 6, h / 6]
    d2 = BSpline(t, np.eye(k), 3).derivative(2)(points)
    penalty = (d2 * weights[:, None]).T @ d2
    q, _ = linalg.qr(basis.mean(axis=0)[:, None])
    z = q[:, 1:]  # null space of the column means
    # Rotate to the penalty's eigenbasis: a diagonal penalty with an exact null space (the
    # linear trend) stays positive semi-definite at any smoothing parameter.
    eig, vec = linalg.eigh(z.T @ penalty @ z)
    eig = np.where(eig > 1e-9 * max(eig.max(), 0.0), eig, 0.0)
    return basis @ (z @ vec), np.diag(eig)


def _design(x: np.ndarray) -> tuple[np.ndarray, list[tuple[slice, np.ndarray]]]:
    """Intercept, one spline block per parameter and, for a group, the standardised
    pairwise products (a ridge-penalised block); each penalty is scaled to its block's
    cross-product so that one grid of relative smoothing parameters suits all blocks."""
    n, p = x.shape
    n_knots = _KNOTS_ONE if p == 1 else _KNOTS_GROUP
    n_knots = max(0, min(n_knots, n // 10 - 4))
    columns = [np.ones((n, 1))]
    blocks: list[tuple[np.ndarray, np.ndarray]] = []
    for j in range(p):
        n_unique = np.unique(x[:, j]).size
        blocks.append(_spline_block(x[:, j], max(0, min(n_knots, n_unique - 2))))
    if p > 1:
        z = (x - x.mean(axis=0)) / x.std(axis=0)
        products = np.column_stack(
            [z[:, i] * z[:, j] for i, j in itertools.combinations(range(p), 2)]
        )
        products -= products.mean(axis=0)
        blocks.append((products, np.eye(products.shape[1])))
    penalties = []
    start = 1
    for basis, penalty in blocks:
        columns.append(basis)
        size = basis.shape[1]
        scale = np.einsum("ij,ij->", basis, basis) / max(np.trace(penalty), 1e-300)
        penalties.append((slice(start, start + size), penalty * scale))
        start += size
    return np.hstack(columns), penalties


def _penalty(
    penalties: list[tuple[slice, np.ndarray]], log_lambda: np.ndarray, dim: int
) -> np.ndarray:
    total = np.zeros((dim, dim))
    for (block, penalty), log_lam in zip(penalties, log_lambda, strict=True):
        total[block, block] += 10.0**log_lam * penalty
    return total


def _smoothing(
    x: np.ndarray,
    gram: np.ndarray,
    y: np.ndarray,
    penalties: list[tuple[slice, np.ndarray]],
    ridge: float,
    decompositions: dict[tuple[int, bytes], tuple[np.ndarray, np.ndarray]] | None = None,
) -> np.ndarray:
    """Log10 smoothing parameters minimising GCV = n RSS / (n - edf)^2, by coordinate
    search over a grid (one pass is exact for a single block). For each block, a
    Demmler-Reinsch eigen-decomposition against the rest of the system gives the fits and
    degrees of freedom at every grid point from one factorisation. The decompositions
    depend on the design and the other blocks' smoothing only, not on y: `decompositions`
    keeps them for the searches of other outcomes on the same design (the same numbers)."""
    from scipy import linalg

    if decompositions is None:
        decompositions = {}
    n, dim = x.shape
    grid = np.array(_LOG_LAMBDA)
    lam = 10.0**grid
    best = np.zeros(len(penalties))
    score = math.inf
    for _ in range(4):
        moved = False
        for k, (block, penalty) in enumerate(penalties):
            others = best.copy()
            others[k] = -math.inf  # the block's own penalty left out (10**-inf == 0)
            key = (k, others.tobytes())
            if key not in decompositions:
                own = np.zeros((dim, dim))
                own[block, block] = penalty
                base = gram + _penalty(penalties, others, dim)
                base[np.diag_indices_from(base)] += ridge
                chol = linalg.cholesky(base, lower=True)
                half = linalg.solve_triangular(chol, own, lower=True)
                m = linalg.solve_triangular(chol, half.T, lower=True)
                eig, vec = linalg.eigh((m + m.T) / 2)
                eig = np.maximum(eig, 0.0)
                u = x @ linalg.solve_triangular(chol, vec, lower=True, trans="T")
                decompositions[key] = (eig, u)
            eig, u = decompositions[key]
            shrink = 1.0 / (1.0 + eig[:, None] * lam[None, :])  # (dim, grid)
            fitted = u @ (shrink * (u.T @ y)[:, None])
            rss = np.sum((y[:, None] - fitted) ** 2, axis=0)
            edf = np.einsum("ij,ij->j", u, u) @ shrink
            room = np.maximum(n - edf, 0.5)
            gcv = np.where(n - edf > 0.5, n * rss / room**2, math.inf)
            j = int(np.argmin(gcv))
            if gcv[j] < score:
                moved = moved or grid[j] != best[k]
                best[k], score = grid[j], float(gcv[j])
        if not moved or len(penalties) == 1:
            break
    return best


#: Bootstrap replicates of each EVPPI, for its standard error.
EVPPI_BOOTSTRAP = 200


def _gain(inb: np.ndarray, weights: np.ndarray) -> float:
    """Mean over (weighted) iterations of the best incremental NMB (against strategy 0),
    less the best mean: of the fitted values, the EVPPI; of the values themselves, EVPI."""
    total = weights.sum()
    gain = weights @ np.maximum(inb.max(axis=1), 0.0) / total
    return float(gain - max(0.0, float((weights @ inb / total).max())))


class Resamples:
    """The bootstrap's resamples of the iterations (as weights, the full sample first) and
    the EVPI of each NMB matrix under each: what every parameter's `evppi_many` of one PSA
    shares, since each draws them from a generator seeded alike. Made once for an EVPPI
    table: the same numbers, without redrawing them and their EVPIs for each parameter."""

    def __init__(self, nmbs: list[np.ndarray], n_bootstrap: int, seed: int) -> None:
        n = nmbs[0].shape[0] if nmbs else 0
        rng = np.random.default_rng(seed)
        draws = (rng.integers(0, n, n) for _ in range(n_bootstrap))
        self.weights = [np.ones(n)] + [np.bincount(d, minlength=n).astype(float) for d in draws]
        values = [np.asarray(v, dtype=float) for v in nmbs]
        incremental = [v[:, 1:] - v[:, :1] for v in values]
        # (one strategy: nothing to choose, no value of information)
        self.perfect = [
            [_gain(inb, w) if inb.shape[1] else 0.0 for inb in incremental] for w in self.weights
        ]


def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a^-1 b for a symmetric positive definite a: LAPACK's potrf and potrs, as
    scipy.linalg.cho_factor and cho_solve call them (the same numbers), without their
    checks, which cost more than the solve for the bootstrap's thousands of small systems."""
    from scipy.linalg import LinAlgError, lapack

    factor, info = lapack.dpotrf(a, lower=0, clean=0)
    if info != 0:
        raise LinAlgError(f"{info}-th leading minor of the array is not positive definite")
    x, info = lapack.dpotrs(factor, b, lower=0)
    if info != 0:
        raise ValueError(f"illegal value in {-info}th argument of internal potrs")
    return x


def evppi(
    nmb: np.ndarray, x: np.ndarray, *, n_bootstrap: int = EVPPI_BOOTSTRAP, seed: int = 0
) -> tuple[float, float]:
    """EVPPI of the parameter(s) x ((N,) or (N, P)) from per-iteration NMBs (N, S), with
    its bootstrap standard error.

    Regression meta-model of Strong, Oakley & Brennan (2014, Med Decis Making 34:311):
    regress each incremental NMB (against strategy 0) on x, then EVPPI = mean_i max_s
    g_s(x_i) - max_s mean_i g_s(x_i). Smoother: a penalised cubic regression spline
    (quantile knots, O'Sullivan curvature penalty, GCV) for one parameter; for a group, an
    additive model of such splines plus ridge-penalised pairwise products, one smoothing
    parameter per block. That is the paper's GAM without tensor products: it captures the
    products typical of decision models at O(N) cost (a Gaussian process is O(N^3)), but
    would understate a group acting through other interactions. The bootstrap resamples
    iterations (Generator seeded by `seed`) and refits with the full-sample basis and
    smoothing parameters, so the result is deterministic. Clipped to [0, EVPI].
    """
    return evppi_many([nmb], x, n_bootstrap=n_bootstrap, seed=seed)[0]


def evppi_many(
    nmbs: list[np.ndarray],
    x: np.ndarray,
    *,
    n_bootstrap: int = EVPPI_BOOTSTRAP,
    seed: int = 0,
    resamples: Resamples | None = None,
) -> list[tuple[float, float]]:
    """:func:`evppi` of the same parameters for several NMB matrices (one per WTP), each
    exactly what `evppi` gives it alone: the design, the bootstrap draws (the same for
    every matrix, as each call seeds its own) and their weighted cross-products are built
    once for all, and so are the smoothing searches' decompositions. `resamples`, made
    for these `nmbs`, `n_bootstrap` and `seed`, saves making them again."""
    params = np.asarray(x, dtype=float)
    if params.ndim == 1:
        params = params[:, None]
    matrices = [np.asarray(nmb, dtype=float) for nmb in nmbs]
    for values in matrices:
        if values.ndim != 2 or params.ndim != 2 or values.shape[0] != params.shape[0]:
            raise ValueError(
                f"nmb must be (N, S) and x (N,) or (N, P): {values.shape}, {params.shape}"
            )
        if 0 in values.shape:
            raise ValueError("need at least one iteration and one strategy")
        if not (np.all(np.isfinite(values)) and np.all(np.isfinite(params))):
            raise ValueError("nmb and x must be finite")
    if n_bootstrap < 0:
        raise ValueError("n_bootstrap must be >= 0")
    resamples = resamples or Resamples(matrices, n_bootstrap, seed)
    rows = matrices[0].shape[0] if matrices else 0
    if (
        len(resamples.weights) != n_bootstrap + 1
        or resamples.weights[0].shape != (rows,)
        or any(len(found) != len(matrices) for found in resamples.perfect)
    ):
        raise ValueError("resamples made for other NMB matrices or another bootstrap")
    # A value whose draws (all but) do not vary tells nothing, and its spline would divide
    # by knot gaps that underflow (draws within 1e-12 of each other, or denormal ones).
    spread, size = np.ptp(params, axis=0), np.abs(params).max(axis=0)
    params = params[:, (spread > 1e-12 * size) & (spread > 1e-290)]
    if params.shape[1] == 0 or not matrices or matrices[0].shape[1] == 1:
        return [(0.0, 0.0)] * len(matrices)
    design, penalties = _design(params)
    gram = design.T @ design
    ridge = 1e-10 * float(np.trace(gram)) / gram.shape[0]
    decompositions: dict[tuple[int, bytes], tuple[np.ndarray, np.ndarray]] = {}
    problems = []
    for values in matrices:
        inb = values[:, 1:] - values[:, :1]
        inb_centred = inb - inb.mean(axis=0)
        pens = [
            _penalty(
                penalties,
                _smoothing(design, gram, y, penalties, ridge, decompositions),
                gram.shape[0],
            )
            for y in inb_centred.T
        ]
        problems.append((inb.mean(axis=0), inb_centred, pens))

    diagonal = np.diag_indices_from(gram)

    def voi(weights: np.ndarray, perfect: list[float]) -> list[float]:
        """EVPPI of each NMB matrix under one resample, clipped to [0, EVPI]."""
        wx = design * weights[:, None]
        g = design.T @ wx
        g[diagonal] += ridge
        found = []
        for (inb_mean, inb_centred, pens), evpi in zip(problems, perfect, strict=True):
            rhs = wx.T @ inb_centred
            coef = np.column_stack([_solve(g + pen, rhs[:, j]) for j, pen in enumerate(pens)])
            found.append(max(0.0, min(_gain(design @ coef + inb_mean, weights), evpi)))
        return found

    shared = list(zip(resamples.weights, resamples.perfect, strict=True))

    estimates = voi(*shared[0])
    if n_bootstrap == 0:
        return [(e, math.nan) for e in estimates]
    replicates = np.empty((n_bootstrap, len(problems)))
    for b in range(n_bootstrap):
        replicates[b] = voi(*shared[b + 1])
    return [
        (e, float(replicates[:, i].std(ddof=1)) if n_bootstrap > 1 else math.nan)
        for i, e in enumerate(estimates)
    ]


def wtp_tag(wtp: float) -> str:
    """How a willingness to pay appears in column names (nmb_50000)."""
    return f"{wtp:.10g}"

r"""Generic statistics of the numerical checks: convergence orders, goodness of fit, two-sample tests.

Plain NumPy/SciPy functions of samples or errors, with no knowledge of pairs, schedules or samplers;
:mod:`pmm_ppl.sde.checks`, the tests and the notebooks call them.  Each docstring states what is
estimated or tested, the null hypothesis and the estimator.

Convergence orders (docs/design.md section 6)
    :func:`fit_slope` -- least-squares order :math:`p` in :math:`\mathrm{err}(h) \approx K h^p` with a
    regression :math:`t`-interval; :func:`bootstrap_slope` -- percentile bootstrap interval of the same
    slope over independent simulated paths.

Discrete laws (counts)
    :func:`chi2_gof` -- pooled chi-square goodness of fit to a pmf; :func:`total_variation` --
    total-variation distance between the empirical law of a sample and a pmf.

Continuous laws
    :func:`energy_permutation_test` -- two-sample energy distance with a permutation p-value;
    :func:`mean_z_test`, :func:`standard_normal_mean_pvalue`, :func:`unit_variance_chi2_pvalue` --
    moment tests.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


# ---------------------------------------------------------------------- convergence orders
def fit_slope(h, err):
    r"""Empirical order of convergence: slope of :math:`\log \mathrm{err}` on :math:`\log h`.

    Model: :math:`\log \mathrm{err}_j = \log K + p \log h_j + \varepsilon_j`.  Estimator: ordinary least
    squares (``scipy.stats.linregress``) of :math:`\log \mathrm{err}` on :math:`\log h`; interval:
    :math:`\hat p \pm t_{0.975,\,n-2}\,\mathrm{se}(\hat p)` over the :math:`n` step sizes.  When the errors
    are computed exactly (no Monte Carlo), the interval measures how far the errors are from a pure
    power law on the chosen step sizes (pre-asymptotic curvature), not sampling noise.

    Returns ``(slope, lower, upper)`` as floats."""
    res = stats.linregress(np.log(h), np.log(err))
    q = stats.t.ppf(0.975, len(h) - 2) * res.stderr
    return float(res.slope), float(res.slope - q), float(res.slope + q)


def bootstrap_slope(h, per_path: np.ndarray, stat, num_boot: int, seed: int):
    r"""95% percentile bootstrap interval of the :func:`fit_slope` order over simulated paths.

    ``per_path`` has shape ``(paths, len(h))``: row :math:`r` holds path :math:`r`'s contribution at
    every step size (all step sizes driven by the same noise, common random numbers); ``stat`` maps such
    an array to one error per step size (e.g. ``lambda p: np.sqrt(p.mean(0))`` for an RMS error).
    Estimator: ``num_boot`` times, resample whole rows with replacement (which keeps the correlation
    across step sizes), recompute the errors and their slope; return the 2.5% and 97.5% percentiles
    of those slopes as ``(lower, upper)``.  Paths must be independent and identically distributed."""
    rng = np.random.default_rng(seed)
    n = per_path.shape[0]
    slopes = []
    for _ in range(num_boot):
        idx = rng.integers(0, n, n)
        slopes.append(fit_slope(h, stat(per_path[idx]))[0])
    return tuple(np.percentile(slopes, [2.5, 97.5]))


# ---------------------------------------------------------------------- discrete laws
def chi2_gof(samples: np.ndarray, pmf_fn, min_expected: float = 5.0):
    r"""Pearson chi-square goodness of fit of non-negative integer ``samples`` to a pmf.

    Null: the samples are i.i.d. with pmf ``pmf_fn`` on :math:`\{0, 1, \dots\}`.  Bins: the values
    :math:`0..\max(\text{samples})` plus one bin for the mass above the sample maximum
    (:math:`1 - \sum p`); consecutive bins are pooled from the left until each group's expected count
    :math:`n p` is at least ``min_expected`` (leftover bins join the last group).  The grouping depends
    on the sample only through its maximum.  Statistic :math:`\sum_g (O_g - E_g)^2 / E_g` against
    :math:`\chi^2` with (groups - 1) degrees of freedom (no fitted parameters).

    Returns ``(statistic, p_value, dof)``."""
    samples = np.asarray(samples).astype(int)
    n = samples.size
    top = max(int(samples.max()), 1) + 1
    support = np.arange(top)
    p = pmf_fn(support)
    p = np.append(p, max(0.0, 1.0 - p.sum()))  # mass at >= top
    obs = np.append(np.bincount(samples, minlength=top), 0)
    groups_o, groups_e, acc_o, acc_e = [], [], 0.0, 0.0
    for o, e in zip(obs, p * n):
        acc_o += o
        acc_e += e
        if acc_e >= min_expected:
            groups_o.append(acc_o)
            groups_e.append(acc_e)
            acc_o = acc_e = 0.0
    groups_o[-1] += acc_o
    groups_e[-1] += acc_e
    stat, pval = stats.chisquare(groups_o, groups_e)
    return float(stat), float(pval), len(groups_o) - 1


def total_variation(samples: np.ndarray, pmf_fn) -> float:
    r"""Total-variation distance :math:`\tfrac12 \sum_k |\hat p_k - p_k|` between the empirical law
    :math:`\hat p` of non-negative integer ``samples`` and the pmf ``pmf_fn``.

    The sum runs over :math:`0..\max(\text{samples})`; the mass of :math:`p` above the sample maximum
    (where :math:`\hat p = 0`) is added as :math:`1 - \sum_k p_k`.  Not a test: even exact samples have
    a TV of order :math:`\sqrt{\text{support}/n}`, so compare it with the TV of an exact sample of the
    same size (the noise level)."""
    samples = np.asarray(samples).astype(int)
    top = int(samples.max()) + 1
    emp = np.bincount(samples, minlength=top) / samples.size
    p = pmf_fn(np.arange(top))
    return float(0.5 * (np.abs(emp - p).sum() + max(0.0, 1.0 - p.sum())))


# ---------------------------------------------------------------------- continuous laws
def energy_permutation_test(a: np.ndarray, b: np.ndarray, num_perm: int = 200, seed: int = 0):
    r"""Two-sample test of equal laws for 1-D samples ``a``, ``b`` by the energy distance.

    Statistic: ``scipy.stats.energy_distance``, i.e.
    :math:`D = (2E|X - Y| - E|X - X'| - E|Y - Y'|)^{1/2}` with the expectations replaced by sample
    means (:math:`D = \sqrt 2\, \lVert F_a - F_b \rVert_{L^2}` for the empirical CDFs).  Null: ``a`` and
    ``b`` are i.i.d. draws of one law.  p-value: ``num_perm`` random relabellings of the pooled sample,
    :math:`(1 + \#\{D_\pi \ge D\}) / (1 + \text{num\_perm})`.

    Returns ``(D, p_value, median of the permutation D)``; the median is the size of :math:`D` expected
    from sampling noise alone."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    d0 = stats.energy_distance(a, b)
    pooled = np.concatenate([a, b])
    rng = np.random.default_rng(seed)
    null = []
    for _ in range(num_perm):
        perm = rng.permutation(pooled)
        null.append(stats.energy_distance(perm[: a.size], perm[a.size :]))
    null = np.array(null)
    return float(d0), float((1 + np.sum(null >= d0)) / (1 + num_perm)), float(np.median(null))


def two_sided_normal_pvalue(z) -> float:
    r""":math:`2\,P(Z > |z|)` for :math:`Z \sim N(0, 1)`."""
    return float(2 * stats.norm.sf(abs(z)))


def mean_z_test(values: np.ndarray, expected: float):
    r"""Large-sample z-test of :math:`E[V] = ` ``expected`` from i.i.d. ``values``.

    Statistic :math:`z = (\bar v - \text{expected}) / (s / \sqrt n)` with :math:`s` the (ddof 0) sample
    standard deviation; under the null :math:`z \approx N(0, 1)` (central limit theorem).  Returns
    ``(z, two-sided p_value)``."""
    values = np.asarray(values)
    z = (values.mean() - expected) / (values.std() / np.sqrt(values.size))
    return float(z), two_sided_normal_pvalue(z)


def standard_normal_mean_pvalue(z: np.ndarray) -> float:
    r"""Two-sided p-value of the null :math:`E[Z] = 0` for values that have unit variance under the null
    (e.g. standardised by a known law): statistic :math:`\sqrt n\,\bar z \sim N(0, 1)` exactly when the
    :math:`z_i` are i.i.d. :math:`N(0, 1)`."""
    z = np.asarray(z)
    return float(2 * stats.norm.sf(abs(z.mean()) * np.sqrt(z.size)))


def unit_variance_chi2_pvalue(z: np.ndarray) -> float:
    r"""Two-sided p-value of the null :math:`\mathrm{Var}[Z] = 1` for i.i.d. Gaussian values: statistic
    :math:`(n - 1) s^2 \sim \chi^2_{n-1}` (:math:`s^2` the unbiased sample variance), p-value
    :math:`2 \min(F(\cdot), 1 - F(\cdot))`."""
    z = np.asarray(z)
    n = z.size
    chi = (n - 1) * z.var(ddof=1)
    return float(2 * min(stats.chi2.cdf(chi, n - 1), stats.chi2.sf(chi, n - 1)))

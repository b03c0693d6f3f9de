"""The exact Poisson sampler (pmm_ppl/conjugate/poisson_sampler.py) against scipy's Poisson law.

One jitted call draws N = 20000 counts at each of nine rates spanning both methods and the switch point
(inversion below 10, PTRS at and above), plus N bad rates: one compile.  Per rate: Pearson chi-square
against ``scipy.stats.poisson.pmf`` (p > 1e-3, fixed seed), and the sample mean and variance within 5
standard errors of the rate (SE of the mean sqrt(rate/N), of the variance sqrt((rate + 2 rate^2)/N), from
the Poisson fourth central moment rate + 3 rate^2).  A small array checks the small-array path
(``jax.random.poisson``) and ``sample_law``'s dispatch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from scipy import stats

from pmm_ppl.conjugate.poisson_sampler import MIN_LANES, SWITCH_RATE, sample_law, sample_poisson
from pmm_ppl.verify import statistics as St

RATES = (0.0, 1e-3, 0.7, 4.0, 9.999, SWITCH_RATE, 10.5, 60.0, 3200.0)
N = 20_000
P_MIN = 1e-3


def test_law_at_every_rate_and_bad_rates():
    bad_rates = np.resize(np.asarray([-1.0, np.nan, np.inf, 0.0, 5.0], np.float32), N)  # NaN, NaN, NaN, 0, a count
    rates = np.concatenate([np.repeat(np.float32(RATES), N), bad_rates]).reshape(len(RATES) + 1, N)
    draws = np.asarray(jax.jit(sample_poisson)(jax.random.key(0), jnp.asarray(rates)))
    assert draws.shape == rates.shape and draws.dtype == np.float32 and rates.size >= MIN_LANES

    counts, bad = draws[: len(RATES)], draws[len(RATES)]
    assert np.all(counts == np.round(counts)) and counts.min() >= 0
    assert np.all(counts[0] == 0)  # rate 0
    for rate, x in zip(RATES[1:], counts[1:]):
        p = St.chi2_gof(x, lambda k, r=rate: stats.poisson.pmf(k, r))[1]
        assert p > P_MIN, (rate, p)
        assert abs(x.mean() - rate) < 5 * np.sqrt(rate / N), (rate, x.mean())
        assert abs(x.var() - rate) < 5 * np.sqrt((rate + 2 * rate**2) / N), (rate, x.var())
    is_bad = ~np.isfinite(bad_rates) | (bad_rates < 0)
    assert np.all(np.isnan(bad[is_bad])) and np.all(bad[bad_rates == 0] == 0)
    assert np.all(np.isfinite(bad[bad_rates == 5]))


def test_small_arrays_and_sample_law():
    """Under ``MIN_LANES`` elements: ``jax.random.poisson``'s law with the same dtype and bad-rate handling;
    ``sample_law`` draws a (``to_event``) Poisson law with :func:`sample_poisson` and leaves other laws to
    their own sampler."""
    bad_rates = jnp.asarray([-1.0, jnp.nan, jnp.inf, 0.0, 5.0], jnp.float32)
    rates = jnp.asarray([0.2, 3.0, 9.5, 10.0, 400.0], jnp.float32)  # one shape: one compile
    key = jax.random.key(1)
    bad = np.asarray(sample_poisson(key, bad_rates))
    assert bad.dtype == np.float32 and bad_rates.size < MIN_LANES
    np.testing.assert_array_equal(np.isnan(bad), [True, True, True, False, False])
    assert bad[3] == 0 and bad[4] == np.round(bad[4])
    draws = np.asarray(sample_poisson(key, rates))
    assert np.all(draws == np.round(draws)) and draws.min() >= 0
    np.testing.assert_array_equal(np.asarray(sample_law(key, dist.Poisson(rates).to_event(1))), draws)
    normal = dist.Normal(jnp.zeros(3), 1.0)
    np.testing.assert_array_equal(sample_law(key, normal), normal.sample(key))

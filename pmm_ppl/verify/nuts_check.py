r"""NUTS versus the closed form: does ``pair.posterior`` equal the posterior of ``pair.model``?

For one simulated experiment (see :mod:`pmm_ppl.verify.simulate`: :math:`\theta` from the prior,
:math:`n` observations with mixed accuracies) we run NumPyro's NUTS on ``pair.model(ys, alphas)``
and compare its draws of the site ``theta`` (a sample or a deterministic site) with the exact
posterior ``pair.posterior(pair.update_many(pair.init(), ys, alphas))``, coordinate by coordinate
(event axes flattened; a simplex is compared on its K coordinates).

Statistics, per coordinate :math:`j`:

* ``z_mean[j] = (mean_nuts - mean_exact) / se`` with ``se`` the Monte Carlo standard error of the
  NUTS mean (``az.mcse``, method ``"mean"``).  Under a correct closed form it is approximately
  N(0, 1).
* ``z_sd[j] = (sd_nuts - sd_exact) / se_sd`` with ``se_sd = az.mcse(method="sd")``.  This catches a
  wrong posterior *spread* (e.g. a doubled variance), which the KS test with a few hundred draws
  detects only marginally.
* ``ks_pvalue[j]``: two-sample Kolmogorov-Smirnov test (``scipy.stats.ks_2samp``) of NUTS draws
  thinned to roughly independent ones (every ``ceil(N / min ESS)``-th) against independent exact
  draws.  ``ks_pvalue_adjusted = min(1, k * min_j ks_pvalue[j])`` (Bonferroni over coordinates).
* ``rhat[j]`` (rank-normalised split R-hat) and ``ess_bulk[j]`` from ArviZ.

Exact mean and sd come from the posterior distribution's ``mean`` / ``variance`` when it has them,
otherwise from ``EXACT_MOMENT_DRAWS`` exact draws (their own standard error is then added to ``se``).

``passed`` requires every threshold in :class:`Thresholds` (defaults: ``|z_mean| < 4``,
``|z_sd| < 4``, Bonferroni KS p > 1e-3, R-hat < 1.05, bulk ESS > 100).  Divergent transitions
are reported, not gated on: they are a sampler problem, not a closed-form one.

Speed: the whole NUTS run (two chains, ``chain_method="vectorized"``) is one ``jax.jit`` keyed on
the (hashable) pair and the settings, so re-checking a pair with new data or a new key does not
recompile; compilation (a few seconds per pair on a CPU) dominates.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats

from pmm_ppl.conjugate import ConjugatePair
from pmm_ppl.verify import simulate as S

EXACT_MOMENT_DRAWS = 100_000


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Pass/fail thresholds of :func:`nuts_check` (all must hold)."""

    max_abs_z_mean: float = 4.0
    max_abs_z_sd: float = 4.0
    min_ks_pvalue: float = 1e-3  # Bonferroni-adjusted over coordinates
    max_rhat: float = 1.05
    min_ess_bulk: float = 100.0


class NutsCheckResult(NamedTuple):
    """Outcome of :func:`nuts_check`.  Per-coordinate arrays have shape ``(k,)``."""

    pair_name: str
    coordinate_names: tuple[str, ...]
    theta_true: np.ndarray  # event shape
    ys: np.ndarray
    alphas: np.ndarray
    nuts_draws: np.ndarray  # (chains, draws) + event
    exact_draws: np.ndarray  # (num_exact,) + event
    nuts_mean: np.ndarray
    exact_mean: np.ndarray
    nuts_sd: np.ndarray
    exact_sd: np.ndarray
    mcse_mean: np.ndarray
    z_mean: np.ndarray
    mcse_sd: np.ndarray
    z_sd: np.ndarray
    ks_statistic: np.ndarray
    ks_pvalue: np.ndarray
    ks_pvalue_adjusted: float
    ks_thinning: int
    rhat: np.ndarray
    ess_bulk: np.ndarray
    num_divergences: int
    seconds: float
    thresholds: Thresholds
    failures: tuple[str, ...]
    passed: bool

    @property
    def max_abs_z_mean(self) -> float:
        return float(np.max(np.abs(self.z_mean)))

    @property
    def max_abs_z_sd(self) -> float:
        return float(np.max(np.abs(self.z_sd)))

    @property
    def max_abs_mean_diff(self) -> float:
        return float(np.max(np.abs(self.nuts_mean - self.exact_mean)))


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3, 4), compiler_options=S.FAST_COMPILE)
def _run_nuts(pair, num_warmup, num_samples, num_chains, chain_method, key, ys, alphas):
    """NUTS draws of site ``theta`` grouped by chain, and the divergence flags (one compiled program)."""
    from numpyro.infer import MCMC, NUTS

    mcmc = MCMC(
        NUTS(pair.model),
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        chain_method=chain_method,
        progress_bar=False,
    )
    mcmc.run(key, ys, alphas, extra_fields=("diverging",))
    theta = mcmc.get_samples(group_by_chain=True)["theta"]
    diverging = mcmc.get_extra_fields(group_by_chain=True)["diverging"]
    return theta, diverging


def _closed_form_moments(posterior):
    """``(mean, variance)`` of a NumPyro distribution, or ``None`` where it does not implement them."""
    try:
        mean, var = posterior.mean, posterior.variance
    except (NotImplementedError, AttributeError):
        return None
    shape = posterior.batch_shape + posterior.event_shape
    return jnp.broadcast_to(mean, shape), jnp.broadcast_to(var, shape)


@functools.partial(jax.jit, static_argnums=(0, 1, 2, 3), compiler_options=S.FAST_COMPILE)
def _experiment(pair, num_obs, num_exact, via_link, key):
    """One simulated experiment, exact posterior draws and closed-form moments (one compiled program)."""
    k_exp, k_exact = jax.random.split(key)
    theta, alphas, ys = S.simulate_experiment(pair, k_exp, num_obs, via_link)
    posterior = pair.posterior(pair.update_many(pair.init(), ys, alphas))
    return theta, alphas, ys, posterior.sample(k_exact, (num_exact,)), _closed_form_moments(posterior)


@functools.partial(jax.jit, static_argnums=(0, 1), compiler_options=S.FAST_COMPILE)
def _exact_draws(pair, num_draws, key, ys, alphas):
    return pair.posterior(pair.update_many(pair.init(), ys, alphas)).sample(key, (num_draws,))


def exact_moments(pair: ConjugatePair, moments, ys, alphas, key) -> tuple[np.ndarray, np.ndarray, bool]:
    """Flattened exact posterior mean and sd, and whether they are closed form (else Monte Carlo)."""
    if moments is not None:
        mean = np.asarray(S.flatten_event(pair, moments[0]), dtype=float)
        sd = np.sqrt(np.asarray(S.flatten_event(pair, moments[1]), dtype=float))
        if np.all(np.isfinite(mean)) and np.all(np.isfinite(sd)):
            return mean, sd, True
    draws = np.asarray(S.flatten_event(pair, _exact_draws(pair, EXACT_MOMENT_DRAWS, key, ys, alphas)), dtype=float)
    return draws.mean(0), draws.std(0, ddof=1), False


def _arviz_stats(draws: np.ndarray):
    """mcse of mean and sd, R-hat and bulk ESS for ``draws`` of shape (chains, draws, k)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az

    ds = az.convert_to_dataset({"theta": draws})

    def get(x):
        return np.asarray(x["theta"].values, dtype=float).reshape(draws.shape[2])

    return (
        get(az.mcse(ds, method="mean")),
        get(az.mcse(ds, method="sd")),
        get(az.rhat(ds)),
        get(az.ess(ds, method="bulk")),
    )


def nuts_check(
    pair,
    key: jax.Array,
    num_obs: int = 10,
    num_warmup: int = 500,
    num_samples: int = 1000,
    num_chains: int = 2,
    num_exact: int = 2000,
    chain_method: str = "vectorized",
    thresholds: Thresholds = Thresholds(),
) -> NutsCheckResult:
    """Compare NUTS on ``pair.model`` with the closed-form posterior on one simulated experiment.

    ``pair`` is a :class:`ConjugatePair` or a registered name; ``key`` a ``jax.random`` key.
    See the module docstring for the statistics and ``thresholds`` for the pass rule.
    """
    pair = S.resolve_pair(pair)
    num_obs = S.check_count(num_obs, "num_obs")
    num_warmup = S.check_count(num_warmup, "num_warmup")
    num_samples = S.check_count(num_samples, "num_samples", minimum=10)
    num_chains = S.check_count(num_chains, "num_chains", minimum=2)  # R-hat needs two chains
    num_exact = S.check_count(num_exact, "num_exact", minimum=10)
    if chain_method not in ("vectorized", "sequential", "parallel"):
        raise S.V.PMMInputError(f"chain_method: must be 'vectorized', 'sequential' or 'parallel', got {chain_method!r}")

    start = time.perf_counter()
    k_exp, k_nuts, k_moments = jax.random.split(key, 3)
    theta, alphas, ys, exact_draws, moments = _experiment(pair, num_obs, num_exact, S.identity_link(pair), k_exp)

    nuts_draws, diverging = _run_nuts(pair, num_warmup, num_samples, num_chains, chain_method, k_nuts, ys, alphas)
    nuts_draws, exact_draws = np.asarray(nuts_draws), np.asarray(exact_draws)

    nuts_flat = np.asarray(S.flatten_event(pair, nuts_draws), dtype=float)  # (chains, draws, k)
    exact_flat = np.asarray(S.flatten_event(pair, exact_draws), dtype=float)  # (num_exact, k)
    k = nuts_flat.shape[-1]

    exact_mean, exact_sd, closed_form = exact_moments(pair, moments, ys, alphas, k_moments)
    nuts_mean = nuts_flat.mean(axis=(0, 1))
    nuts_sd = nuts_flat.reshape(-1, k).std(axis=0, ddof=1)
    mcse_mean, mcse_sd, rhat, ess_bulk = _arviz_stats(nuts_flat)
    if not closed_form:  # Monte Carlo error of the exact moments
        mcse_mean = np.sqrt(mcse_mean**2 + exact_sd**2 / EXACT_MOMENT_DRAWS)
        mcse_sd = np.sqrt(mcse_sd**2 + exact_sd**2 / (2 * EXACT_MOMENT_DRAWS))
    z_mean = (nuts_mean - exact_mean) / mcse_mean
    z_sd = (nuts_sd - exact_sd) / mcse_sd

    total = num_chains * num_samples
    min_ess = float(np.nanmin(ess_bulk)) if np.any(np.isfinite(ess_bulk)) else 1.0
    thin = max(1, math.ceil(total / max(min_ess, 1.0)))
    thinned = nuts_flat[:, ::thin].reshape(-1, k)
    ks = [scipy.stats.ks_2samp(thinned[:, j], exact_flat[:, j]) for j in range(k)]
    ks_stat = np.array([r.statistic for r in ks])
    ks_p = np.array([r.pvalue for r in ks])
    ks_p_adj = float(min(1.0, k * np.min(ks_p)))

    t = thresholds
    failures = []
    if not np.all(np.abs(z_mean) < t.max_abs_z_mean):
        failures.append(f"max |z_mean| {np.max(np.abs(z_mean)):.2f} >= {t.max_abs_z_mean}")
    if not np.all(np.abs(z_sd) < t.max_abs_z_sd):
        failures.append(f"max |z_sd| {np.max(np.abs(z_sd)):.2f} >= {t.max_abs_z_sd}")
    if not ks_p_adj > t.min_ks_pvalue:
        failures.append(f"KS p (Bonferroni) {ks_p_adj:.2e} <= {t.min_ks_pvalue}")
    if not np.all(rhat < t.max_rhat):
        failures.append(f"max R-hat {np.max(rhat):.3f} >= {t.max_rhat}")
    if not np.all(ess_bulk > t.min_ess_bulk):
        failures.append(f"min bulk ESS {np.min(ess_bulk):.0f} <= {t.min_ess_bulk}")

    return NutsCheckResult(
        pair_name=pair.name,
        coordinate_names=tuple(S.coordinate_names(pair)),
        theta_true=np.asarray(theta),
        ys=np.asarray(ys),
        alphas=np.asarray(alphas),
        nuts_draws=nuts_draws,
        exact_draws=exact_draws,
        nuts_mean=nuts_mean,
        exact_mean=exact_mean,
        nuts_sd=nuts_sd,
        exact_sd=exact_sd,
        mcse_mean=mcse_mean,
        z_mean=z_mean,
        mcse_sd=mcse_sd,
        z_sd=z_sd,
        ks_statistic=ks_stat,
        ks_pvalue=ks_p,
        ks_pvalue_adjusted=ks_p_adj,
        ks_thinning=thin,
        rhat=rhat,
        ess_bulk=ess_bulk,
        num_divergences=int(np.sum(np.asarray(diverging))),
        seconds=time.perf_counter() - start,
        thresholds=thresholds,
        failures=tuple(failures),
        passed=not failures,
    )

r"""Reconstruction laws :math:`p_{\mathrm{rec}}(x \mid \text{final state})`: the last factor of a PMM
model's likelihood, which turns the final posterior state into a law of the datum.  The likelihood
bound (:mod:`pmm_ppl.process.elbo`) adds :math:`E_q[-\log p_{\mathrm{rec}}(x \mid \mu_T)]` to the
diffusion part; choosing it makes the discretisation of the data explicit.

* :class:`DiscretisedGaussian` -- real data on a grid of ``num_levels`` values in
  ``[low, high]`` (images: 256 levels in [-1, 1] for MNIST, 17 for sklearn digits 0..16):
  :math:`p_{\mathrm{rec}}(x|\mu_T) = \int_{\text{bin}(x)} N(u;\, f(\mu_T, 1), \sigma^2)\,du`, bins of
  width :math:`2h = (\text{high}-\text{low})/(L-1)` centred on the levels, the edge bins extended
  to :math:`\pm\infty` (as in BFN); :math:`\sigma = 1/\sqrt{C_T}` by default, the posterior s.d. of
  the final state (:math:`C_T = \rho_0 + A_{\max}`).  A bound on the negative log *probability*
  of the discrete datum.
* :class:`GaussianDensity` -- undiscretised real data: :math:`N(x; f(\mu_T,1), \sigma^2)`, a bound
  on a negative log *density* (not comparable across discretisations).
* :class:`CategoricalReconstruction` -- tokens (one-hot ``x``, shape ``(..., L, K)``):
  :math:`p_{\mathrm{rec}}(x|\mu_T) = \prod_{\text{positions}} f(\mu_T, 1)_{x}`, the exact categorical
  of the clean tokens (the denoiser's output is a probability vector over clean tokens; for the
  noisy channel it is *not* passed through ``link``).  Log-probabilities are floored at
  :math:`\log 10^{-30}`.
* :class:`DiscretisedGamma` -- counts: :math:`\theta \sim \mathrm{Gamma}(C_T f, C_T)` (the
  conjugate posterior of the final state with its mean replaced by :math:`f(\mu_T, 1)`) integrated
  over the count's rounding bin :math:`[x - 1/2, x + 1/2) \cap [0, \infty)`.

Each law also *draws*: ``recon.sample(key, pair, state, xhat)`` is a draw of the datum from the same
:math:`p_{\mathrm{rec}}` whose probability the bound scores (grid levels for a discretised image, integer
counts, one-hot tokens, a real number for a density), so a sampler's final output (``output="draw"``) is a
draw from the model whose likelihood ``pmm eval`` reports.

Each pair names its own default in ``pair.default_reconstruction()`` (categorical for tokens, the
discretised Gamma for Poisson counts, the Gaussian density for real data); images on a grid should
pass :class:`DiscretisedGaussian` with their number of levels.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammainc, gammaincc, log_ndtr

from pmm_ppl.conjugate import validation as V
from pmm_ppl.conjugate.base import ConjugatePair

Array = jax.Array
LOG_PROB_FLOOR = math.log(1e-30)


def _sum_per_example(v: Array) -> Array:
    return v.reshape(v.shape[0], -1).sum(-1)


def _final_std(pair: ConjugatePair, state: Any, like: Array, std: float | None) -> Array:
    """``std`` if given, else the per-coordinate posterior s.d. of the final state (``pair.posterior_std``):
    :math:`1/\\sqrt{C_T}` for Normal-Normal, :math:`\\sqrt{\\mathrm{diag}\\, P_T^{-1}}` for the multivariate Normal."""
    if std is not None:
        return jnp.asarray(std, dtype=like.dtype)
    return jnp.broadcast_to(pair.posterior_std(state), like.shape).astype(like.dtype)


def _log_interval_normal(a: Array, b: Array) -> Array:
    r""":math:`\log(\Phi(b) - \Phi(a))` for standardised edges :math:`a < b` (``-inf``/``+inf`` allowed),
    stable in both tails (reflect so that the interval's lower end is below 0)."""
    flip = a > 0
    lo, hi = jnp.where(flip, -b, a), jnp.where(flip, -a, b)
    log_hi, log_lo = log_ndtr(hi), log_ndtr(lo)
    return log_hi + jnp.log1p(-jnp.exp(jnp.minimum(log_lo - log_hi, 0.0)))


@dataclasses.dataclass(frozen=True)
class DiscretisedGaussian:
    """Gaussian around :math:`f(\\mu_T, 1)` integrated over the datum's bin on a grid of ``num_levels``
    values in ``[low, high]`` (edge bins extended to infinity); ``std=None``: :math:`1/\\sqrt{C_T}`."""

    num_levels: int
    low: float = -1.0
    high: float = 1.0
    std: float | None = None

    def __post_init__(self):
        V.check_whole_number(self.num_levels, "num_levels", 2)
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise V.PMMInputError(f"low, high: need finite low < high, got {self.low!r}, {self.high!r}")
        if self.std is not None:
            V.check_hyper_positive(self.std, "std")

    @property
    def half_width(self) -> float:
        return 0.5 * (self.high - self.low) / (self.num_levels - 1)

    def validate(self, x: Any, name: str = "x") -> None:
        arr = np.asarray(x, dtype=np.float64)
        k = (arr - self.low) / (2 * self.half_width)
        if np.any(k < -1e-4) or np.any(k > self.num_levels - 1 + 1e-4) or np.any(np.abs(k - np.round(k)) > 1e-3):
            raise V.PMMInputError(
                f"{name}: DiscretisedGaussian needs values on the grid of {self.num_levels} levels in "
                f"[{self.low}, {self.high}] (step {2 * self.half_width:.6g})"
            )

    def neg_log_prob(self, pair: ConjugatePair, state: Any, xhat: Array, x: Array) -> Array:
        sd = _final_std(pair, state, x, self.std)
        h = self.half_width
        lo = jnp.where(x - h <= self.low, -jnp.inf, (x - h - xhat) / sd)
        hi = jnp.where(x + h >= self.high, jnp.inf, (x + h - xhat) / sd)
        return -_sum_per_example(_log_interval_normal(lo, hi))

    def sample(self, key: Array, pair: ConjugatePair, state: Any, xhat: Array) -> Array:
        r""":math:`u \sim N(f, \sigma^2)`, then the level whose bin holds :math:`u` (edge bins unbounded)."""
        sd = _final_std(pair, state, xhat, self.std)
        u = xhat + sd * jax.random.normal(key, xhat.shape, xhat.dtype)
        k = jnp.clip(jnp.round((u - self.low) / (2 * self.half_width)), 0, self.num_levels - 1)
        return (self.low + 2 * self.half_width * k).astype(xhat.dtype)


@dataclasses.dataclass(frozen=True)
class GaussianDensity:
    """Undiscretised real data: :math:`-\\log N(x; f(\\mu_T,1), \\sigma^2)`, ``std=None``: :math:`1/\\sqrt{C_T}`."""

    std: float | None = None

    def validate(self, x: Any, name: str = "x") -> None:
        V.check_finite(x, name)

    def neg_log_prob(self, pair: ConjugatePair, state: Any, xhat: Array, x: Array) -> Array:
        sd = _final_std(pair, state, x, self.std)
        lp = -0.5 * ((x - xhat) / sd) ** 2 - jnp.log(sd) - 0.5 * math.log(2 * math.pi)
        return -_sum_per_example(lp)

    def sample(self, key: Array, pair: ConjugatePair, state: Any, xhat: Array) -> Array:
        r""":math:`x \sim N(f, \sigma^2)`."""
        sd = _final_std(pair, state, xhat, self.std)
        return xhat + sd * jax.random.normal(key, xhat.shape, xhat.dtype)


@dataclasses.dataclass(frozen=True)
class CategoricalReconstruction:
    """Tokens: :math:`-\\sum_{\\text{positions}} \\log f(\\mu_T, 1)_{x}` (floored at :math:`\\log 10^{-30}`)."""

    def validate(self, x: Any, name: str = "x") -> None:
        arr = np.asarray(x)
        if not np.all((arr == 0) | (arr == 1)) or not np.allclose(arr.sum(-1), 1.0):
            raise V.PMMInputError(f"{name}: the categorical reconstruction needs one-hot tokens (see encode_tokens)")

    def neg_log_prob(self, pair: ConjugatePair, state: Any, xhat: Array, x: Array) -> Array:
        logp = jnp.maximum(jnp.log(jnp.maximum(xhat, 0.0)), LOG_PROB_FLOOR)
        return -_sum_per_example(x * logp)

    def sample(self, key: Array, pair: ConjugatePair, state: Any, xhat: Array) -> Array:
        """One token per position, class :math:`k` with probability :math:`f_k`, as a one-hot vector."""
        logp = jnp.maximum(jnp.log(jnp.maximum(xhat, 0.0)), LOG_PROB_FLOOR)
        return jax.nn.one_hot(jax.random.categorical(key, logp, axis=-1), xhat.shape[-1], dtype=xhat.dtype)


@dataclasses.dataclass(frozen=True)
class DiscretisedGamma:
    """Counts: :math:`\\mathrm{Gamma}(C_T f, C_T)` integrated over :math:`[x - 1/2, x + 1/2) \\cap [0, \\infty)`."""

    def validate(self, x: Any, name: str = "x") -> None:
        V.check_counts(x, name)

    def neg_log_prob(self, pair: ConjugatePair, state: Any, xhat: Array, x: Array) -> Array:
        c = jnp.asarray(state.weight)
        c = c.reshape(c.shape + (1,) * (x.ndim - c.ndim))
        shape = jnp.maximum(c * xhat, 1e-30)
        lo, hi = c * jnp.maximum(x - 0.5, 0.0), c * (x + 0.5)
        # lower-tail difference below the mean, upper-tail difference above it (no cancellation)
        below = gammainc(shape, hi) - gammainc(shape, lo)
        above = gammaincc(shape, lo) - gammaincc(shape, hi)
        p = jnp.where(lo > shape, above, below)
        return -_sum_per_example(jnp.maximum(jnp.log(jnp.maximum(p, 0.0)), LOG_PROB_FLOOR))

    def sample(self, key: Array, pair: ConjugatePair, state: Any, xhat: Array) -> Array:
        r""":math:`\theta \sim \mathrm{Gamma}(C_T f, C_T)`, then the count whose bin holds it,
        :math:`\lfloor \theta + 1/2 \rfloor`."""
        c = jnp.asarray(state.weight, xhat.dtype)
        c = c.reshape(c.shape + (1,) * (xhat.ndim - c.ndim))
        shape = jnp.maximum(c * xhat, 1e-30)
        theta = jax.random.gamma(key, shape, xhat.shape, xhat.dtype) / c
        return jnp.floor(theta + 0.5)


Reconstruction = DiscretisedGaussian | GaussianDensity | CategoricalReconstruction | DiscretisedGamma


__all__ = ["CategoricalReconstruction", "DiscretisedGamma", "DiscretisedGaussian", "GaussianDensity", "LOG_PROB_FLOOR", "Reconstruction"]

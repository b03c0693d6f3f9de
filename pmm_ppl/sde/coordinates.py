r"""Normal-Normal PMM states in diffusion-model coordinates, and Tweedie's formula.

Given :math:`x` and cumulative accuracy :math:`A`, with :math:`g = A/(\rho_0 + A)` and
:math:`\epsilon \sim N(0, 1)`:

.. math:: \mu = g x + (1-g)\mu_0 + \sqrt{g(1-g)/\rho_0}\,\epsilon .

* **VE**: :math:`z = S/A = (\rho\mu - \rho_0\mu_0)/A = x + \sigma\epsilon`, :math:`\sigma^2 = 1/A`.
* **VP**: with standardised data :math:`\tilde x = \sqrt{\rho_0}(x - \mu_0)`,
  :math:`v = \sqrt{\rho_0}(\mu - \mu_0)/\sqrt{g} = \sqrt{\bar\alpha}\,\tilde x + \sqrt{1-\bar\alpha}\,\epsilon`
  with :math:`\bar\alpha = g` (for :math:`\mu_0 = 0, \rho_0 = 1`: :math:`v = \mu/\sqrt{g}`).

**Tweedie.** The flow marginal :math:`p_A(\mu) = \int N(\mu; g x + (1-g)\mu_0, s^2)\,p^*(dx)`,
:math:`s^2 = g(1-g)/\rho_0`, has score

.. math:: \nabla\log p_A(\mu) = \frac{g\,E^*[x\mid\mu] + (1-g)\mu_0 - \mu}{s^2},

so a denoiser and a score determine each other (:func:`score_from_posterior_mean`,
:func:`posterior_mean_from_score`).  All maps are elementwise and need :math:`0 < A < \infty`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp

Array = jax.Array


def flow_gain(pair: Any, total_accuracy: Array) -> Array:
    """:math:`g = A/(\\rho_0 + A)` (the VP :math:`\\bar\\alpha`)."""
    a = jnp.asarray(total_accuracy, dtype=jnp.result_type(float))
    return a / (pair.prior_precision + a)


def flow_variance(pair: Any, total_accuracy: Array) -> Array:
    """:math:`s^2 = g(1-g)/\\rho_0 = A/(\\rho_0 + A)^2`, the variance of :math:`\\mu` given :math:`x`."""
    a = jnp.asarray(total_accuracy, dtype=jnp.result_type(float))
    return a / (pair.prior_precision + a) ** 2


# ---------------------------------------------------------------------- VE
def to_ve(pair: Any, mu: Array, total_accuracy: Array) -> tuple[Array, Array]:
    """PMM state -> VE state :math:`(z, \\sigma)` with :math:`z = (\\rho\\mu - \\rho_0\\mu_0)/A`, :math:`\\sigma = A^{-1/2}`."""
    a = jnp.asarray(total_accuracy, dtype=jnp.result_type(float))
    rho0, mu0 = pair.prior_precision, pair.prior_mean_value
    return ((rho0 + a) * mu - rho0 * mu0) / a, jax.lax.rsqrt(a)


def from_ve(pair: Any, z: Array, sigma: Array) -> tuple[Array, Array]:
    """VE state -> PMM state :math:`(\\mu, A)`: :math:`A = \\sigma^{-2}`, :math:`\\mu = (\\rho_0\\mu_0 + A z)/(\\rho_0 + A)`."""
    a = 1.0 / jnp.asarray(sigma, dtype=jnp.result_type(float)) ** 2
    rho0, mu0 = pair.prior_precision, pair.prior_mean_value
    return (rho0 * mu0 + a * z) / (rho0 + a), a


# ---------------------------------------------------------------------- VP
def standardise_data(pair: Any, x: Array) -> Array:
    """:math:`\\tilde x = \\sqrt{\\rho_0}(x - \\mu_0)`: data in the units of the VP process."""
    return jnp.sqrt(pair.prior_precision) * (x - pair.prior_mean_value)


def unstandardise_data(pair: Any, x_tilde: Array) -> Array:
    """Inverse of :func:`standardise_data`."""
    return pair.prior_mean_value + x_tilde / jnp.sqrt(pair.prior_precision)


def to_vp(pair: Any, mu: Array, total_accuracy: Array) -> tuple[Array, Array]:
    """PMM state -> VP state :math:`(v, \\bar\\alpha)`: :math:`\\bar\\alpha = g`, :math:`v = \\sqrt{\\rho_0}(\\mu - \\mu_0)/\\sqrt{g}`."""
    g = flow_gain(pair, total_accuracy)
    return jnp.sqrt(pair.prior_precision) * (mu - pair.prior_mean_value) / jnp.sqrt(g), g


def from_vp(pair: Any, v: Array, alpha_bar: Array) -> tuple[Array, Array]:
    """VP state -> PMM state :math:`(\\mu, A)`: :math:`A = \\rho_0\\bar\\alpha/(1-\\bar\\alpha)`,
    :math:`\\mu = \\mu_0 + \\sqrt{\\bar\\alpha/\\rho_0}\\,v`."""
    g = jnp.asarray(alpha_bar, dtype=jnp.result_type(float))
    rho0 = pair.prior_precision
    return pair.prior_mean_value + jnp.sqrt(g / rho0) * v, rho0 * g / (1.0 - g)


# ---------------------------------------------------------------------- Tweedie
def score_from_posterior_mean(pair: Any, xhat: Array, mu: Array, total_accuracy: Array) -> Array:
    """:math:`\\nabla_\\mu\\log p_A(\\mu) = (g\\hat x + (1-g)\\mu_0 - \\mu)/s^2`."""
    g = flow_gain(pair, total_accuracy)
    return (g * xhat + (1 - g) * pair.prior_mean_value - mu) / flow_variance(pair, total_accuracy)


def posterior_mean_from_score(pair: Any, score: Array, mu: Array, total_accuracy: Array) -> Array:
    """Inverse Tweedie: :math:`\\hat x = (\\mu + s^2\\,\\mathrm{score} - (1-g)\\mu_0)/g`."""
    g = flow_gain(pair, total_accuracy)
    return (mu + flow_variance(pair, total_accuracy) * score - (1 - g) * pair.prior_mean_value) / g


def vp_noise_from_posterior_mean(pair: Any, xhat: Array, mu: Array, total_accuracy: Array) -> Array:
    """The VP noise prediction :math:`\\hat\\epsilon = (v - \\sqrt{\\bar\\alpha}\\,\\hat{\\tilde x})/\\sqrt{1-\\bar\\alpha}`."""
    v, g = to_vp(pair, mu, total_accuracy)
    return (v - jnp.sqrt(g) * standardise_data(pair, xhat)) / jnp.sqrt(1 - g)


def gaussian_mixture_flow_log_prob(pair: Any, mu: Array, total_accuracy: Array, weights: Array, means: Array,
                                   variances: Array) -> Array:
    """Log density of the flow marginal of a diagonal Gaussian mixture target (per element of ``mu``):

    .. math:: \\log\\sum_j w_j\\,N(\\mu;\\ g m_j + (1-g)\\mu_0,\\ g^2 v_j + s^2) .

    ``weights`` ``(J,)``; ``means``, ``variances`` ``(J,)`` (or ``(J, *mu.shape[1:])``); ``variances = 0``
    gives point masses.  Summed over the non-batch axes of ``mu`` (shape ``(B, ...)``), returns ``(B,)``.
    Computed from the closed form, independently of any oracle (used to check Tweedie)."""
    g = flow_gain(pair, total_accuracy)
    s2 = flow_variance(pair, total_accuracy)
    w = jnp.asarray(weights)
    m = jnp.asarray(means)
    v = jnp.asarray(variances)
    loc = g * m + (1 - g) * pair.prior_mean_value  # (J, ...)
    var = g**2 * v + s2
    # mu[:, None] against components on axis 1
    mu_j = mu[:, None]
    loc = loc.reshape(loc.shape + (1,) * (mu.ndim - loc.ndim))  # (J, *event) or (J, 1, ...)
    var = var.reshape(var.shape + (1,) * (mu.ndim - var.ndim))
    logn = -0.5 * (mu_j - loc) ** 2 / var - 0.5 * jnp.log(2 * jnp.pi * var)
    # mixture over the whole datum: components are shared by all elements of one datum
    logn = logn.reshape(logn.shape[:2] + (-1,)).sum(-1)
    return logsumexp(logn + jnp.log(w), axis=1)

r"""Gamma-Gamma: Gamma likelihood with known shape :math:`k`, Gamma prior on its rate (positive data).

The textbook pair puts a prior on the *rate* :math:`\lambda` of a :math:`\mathrm{Gamma}(k, \lambda)`
likelihood.  PMM needs the parameter in data space, so :math:`\theta` here is the likelihood's
mean per unit accuracy, :math:`x = k/\lambda` (a reparametrisation: the conjugate family on
:math:`\lambda` is Gamma, on :math:`x` it is inverse Gamma, and in :math:`x` the posterior mean
is the linear running average of Diaconis and Ylvisaker).

Prior        :math:`\lambda \sim \mathrm{Gamma}(a_0, b_0)` (shape, rate), i.e.
             :math:`x = k/\lambda \sim \mathrm{InvGamma}(a_0, k b_0)`; its mean
             :math:`k b_0/(a_0 - 1)` is finite only for :math:`a_0 > 1`, which is required.
Likelihood   :math:`y \mid x \sim \mathrm{Gamma}(k\alpha,\ \text{rate } k/x)`, mean :math:`\alpha x`:
             the sum of :math:`\alpha` independent :math:`\mathrm{Gamma}(k, k/x)` draws for integer
             :math:`\alpha`, and a valid law for any real accuracy :math:`\alpha > 0`.
Update       :math:`\lambda \mid y_{1:t} \sim \mathrm{Gamma}(a_0 + kA,\ b_0 + S)` with
             :math:`A = \sum\alpha_i`, :math:`S = \sum y_i`.  Linear pair: :math:`s = y`, :math:`w = \alpha`,
             :math:`c_0 = (a_0 - 1)/k`, :math:`\mu_0 = k b_0/(a_0 - 1)` (so :math:`c_0\mu_0 = b_0`);
             state :math:`C = c_0 + A`, :math:`\mu = (b_0 + S)/C`, and then
             :math:`a_0 + kA = kC + 1`, :math:`b_0 + S = C\mu`.
Posterior    :math:`x \mid y_{1:t} \sim \mathrm{InvGamma}(kC + 1,\ kC\mu)`, mean
             :math:`kC\mu/(kC) = \mu` (exactly the running average).
Predictive   :math:`y = G_1/\lambda` with :math:`G_1 \sim \mathrm{Gamma}(k\alpha, 1)` and
             :math:`\lambda = G_2/(C\mu)`, :math:`G_2 \sim \mathrm{Gamma}(kC+1, 1)`, so
             :math:`y/(C\mu) \sim \mathrm{BetaPrime}(k\alpha,\ kC + 1)` (compound gamma,
             :class:`CompoundGamma`); mean :math:`C\mu\,k\alpha/(kC) = \alpha\mu`.
Flow         :math:`S_A \mid x \sim \mathrm{Gamma}(kA,\ \text{rate } k/x)` (sums of independent Gammas with a
             common rate add their shapes), :math:`\mu_A = (b_0 + S_A)/(c_0 + A)`.
Divergence   :math:`KL(\mathrm{Gamma}(k\alpha, k/x) \| \mathrm{Gamma}(k\alpha, k/\hat x))
             = k\alpha\,(\log(\hat x/x) + x/\hat x - 1)`.
Plug-in      biased at every step size (``plug_in_exact = "no"``): the Gamma variance function
             V(x) = x^2/k is not affine, so the plug-in generator differs from the posterior-averaged one.

Gamma-Exponential (:mod:`.gamma_exponential`) is the case :math:`k = 1`.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from jax.scipy.special import betaln, xlogy
from numpyro.distributions import constraints
from numpyro.distributions.util import promote_shapes, validate_sample

from pmm_ppl.conjugate import validation as V
from pmm_ppl.conjugate.base import LinearPair, RunningMean
from pmm_ppl.conjugate.registry import register


class CompoundGamma(dist.Distribution):
    r"""Compound gamma law: :math:`Y = s\,Z` with :math:`Z \sim \mathrm{BetaPrime}(a, b)`.

    Equivalently :math:`Y \mid \lambda \sim \mathrm{Gamma}(a, \lambda)` with
    :math:`\lambda \sim \mathrm{Gamma}(b, s)` (shape, rate).  Density

    .. math::

       p(y) = \frac{y^{a-1}\, s^{-a}\, (1 + y/s)^{-(a+b)}}{B(a, b)}, \qquad y > 0,

    mean :math:`s\,a/(b-1)` (:math:`b > 1`), variance :math:`s^2 a(a+b-1)/((b-2)(b-1)^2)`
    (:math:`b > 2`).  Neither NumPyro nor TFP-JAX ships a beta-prime distribution, hence
    this small class (``scipy.stats.betaprime(a, b, scale=s)`` is the same law).
    """

    arg_constraints = {
        "concentration1": constraints.positive,
        "concentration0": constraints.positive,
        "scale": constraints.positive,
    }
    support = constraints.positive
    reparametrized_params = ["concentration1", "concentration0", "scale"]
    pytree_data_fields = ("concentration1", "concentration0", "scale")

    def __init__(self, concentration1, concentration0, scale=1.0, *, validate_args: Optional[bool] = None):
        self.concentration1, self.concentration0, self.scale = promote_shapes(concentration1, concentration0, scale)
        batch_shape = jax.lax.broadcast_shapes(jnp.shape(concentration1), jnp.shape(concentration0), jnp.shape(scale))
        super().__init__(batch_shape, validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        k1, k2 = jax.random.split(key)
        shape = tuple(sample_shape) + self.batch_shape
        g1 = jax.random.gamma(k1, jnp.broadcast_to(self.concentration1, shape))
        g2 = jax.random.gamma(k2, jnp.broadcast_to(self.concentration0, shape))
        return self.scale * g1 / g2

    @validate_sample
    def log_prob(self, value):
        a, b, s = self.concentration1, self.concentration0, self.scale
        z = value / s
        return xlogy(a - 1.0, z) - (a + b) * jnp.log1p(z) - jnp.log(s) - betaln(a, b)

    @property
    def mean(self):
        b = self.concentration0
        m = self.scale * self.concentration1 / (b - 1.0)
        return jnp.where(b > 1.0, m, jnp.inf)

    @property
    def variance(self):
        a, b = self.concentration1, self.concentration0
        v = self.scale**2 * a * (a + b - 1.0) / ((b - 2.0) * (b - 1.0) ** 2)
        return jnp.where(b > 2.0, v, jnp.inf)


@register("gamma_gamma")
@dataclasses.dataclass(frozen=True)
class GammaGamma(LinearPair):
    """Gamma likelihood with known shape ``shape`` (k); theta is the mean per unit accuracy k/rate."""

    prior_shape: float = 2.0  # a_0 of the Gamma prior on the rate; must exceed 1
    prior_rate: float = 1.0  # b_0 of the Gamma prior on the rate
    shape: float = 1.0  # k, the likelihood's known shape per unit accuracy

    support_text = "positive reals"
    plug_in_exact = "no"  # Gamma channel: quadratic variance function
    output_head = "positive"

    def __post_init__(self):
        V.check_hyper_positive(self.prior_rate, "prior_rate")
        V.check_hyper_positive(self.shape, "shape")
        V.check_hyper_positive(self.prior_shape, "prior_shape")
        if not self.prior_shape > 1.0:
            raise V.PMMInputError(
                f"prior_shape: must be > 1 so that the prior mean k*b0/(a0-1) of the data-space parameter is finite, "
                f"got {self.prior_shape!r}"
            )

    # ------------------------------------------------------------ linear-pair constants
    @property
    def prior_weight(self) -> float:
        return (self.prior_shape - 1.0) / self.shape

    @property
    def prior_mean(self) -> jax.Array:
        return jnp.asarray(self.shape * self.prior_rate / (self.prior_shape - 1.0), dtype=jnp.result_type(float))

    # ------------------------------------------------------------ distributions
    def prior(self) -> dist.Distribution:
        return dist.InverseGamma(self.prior_shape, self.shape * self.prior_rate)

    def observation(self, theta, alpha) -> dist.Distribution:
        a = jnp.asarray(alpha, dtype=jnp.result_type(float))
        return dist.Gamma(self.shape * a, self.shape / theta)

    def statistic(self, y, alpha):
        return jnp.asarray(y, dtype=jnp.result_type(float))

    def statistic_law(self, x, total_accuracy):
        a = jnp.asarray(total_accuracy, dtype=jnp.result_type(float))
        return dist.Gamma(self.shape * a, self.shape / jnp.asarray(x))

    def sample_statistic(self, key, x, total_accuracy):
        # Gamma(0, .) is the point mass at 0 (no observation yet); keep it exact.
        a = jnp.asarray(total_accuracy, dtype=jnp.result_type(float))
        s = self.statistic_law(x, jnp.where(a > 0, a, 1.0)).sample(key)
        return jnp.where(a > 0, s, 0.0)

    def posterior(self, state: RunningMean) -> dist.Distribution:
        kc = self.shape * state.weight
        return dist.InverseGamma(kc + 1.0, kc * state.mean)

    def predictive(self, state: RunningMean, alpha) -> dist.Distribution:
        a = jnp.asarray(alpha, dtype=jnp.result_type(float))
        return CompoundGamma(self.shape * a, self.shape * state.weight + 1.0, state.weight * state.mean)

    def divergence(self, x, xhat, alpha):
        r = jnp.asarray(x) / jnp.asarray(xhat)
        return self.shape * jnp.asarray(alpha) * (r - jnp.log(r) - 1.0)

    # ------------------------------------------------------------ validation
    def validate_data(self, x, name="x"):
        return V.check_positive(x, name)

    def validate_observation(self, y, name="y"):
        return V.check_positive(y, name)

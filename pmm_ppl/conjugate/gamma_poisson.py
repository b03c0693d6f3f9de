r"""Gamma-Poisson (counts, elementwise).

Prior        :math:`\theta \sim \mathrm{Gamma}(a_0, b_0)` (shape, rate) per element; data :math:`x \ge 0`
             is a rate (counts are the special case of integer rates).
Likelihood   :math:`y \mid \theta \sim \mathrm{Poisson}(\alpha\theta)`; the accuracy :math:`\alpha` is the exposure.
Update       :math:`a' = a + y`, :math:`b' = b + \alpha` (linear pair: :math:`s = y`, :math:`w = \alpha`,
             :math:`c_0 = b_0`, :math:`\mu_0 = a_0/b_0`; state :math:`(C, \mu) = (b, a/b)`).
Posterior    :math:`\mathrm{Gamma}(C\mu, C)`, mean :math:`\mu = a/b`.
Predictive   :math:`y \mid \text{state} \sim \mathrm{NegBin}`: Gamma-Poisson mixture with
             concentration :math:`a` and rate :math:`b/\alpha`.
Flow         :math:`N_A = \sum y_i \mid x \sim \mathrm{Poisson}(A x)`, :math:`\mu_A = (a_0 + N_A)/(b_0 + A)`.
Divergence   :math:`KL(\mathrm{Poi}(\alpha x) \| \mathrm{Poi}(\alpha\hat x)) = \alpha(x\log(x/\hat x) - x + \hat x)`
             (with :math:`0 \log 0 = 0`).
Plug-in      exact in the continuous-time limit (``plug_in_exact = "limit"``): the Poisson variance
             function V(x) = x is affine.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from jax.scipy.special import xlogy

from pmm_ppl.conjugate import validation as V
from pmm_ppl.conjugate.base import LinearPair, RunningMean
from pmm_ppl.conjugate.reconstruction import DiscretisedGamma
from pmm_ppl.conjugate.registry import register


@register("gamma_poisson")
@dataclasses.dataclass(frozen=True)
class GammaPoisson(LinearPair):
    """Gamma prior on a non-negative rate, Poisson observation with exposure alpha."""

    prior_shape: float = 1.0  # a_0
    prior_rate: float = 1.0  # b_0

    support_text = "non-negative rates (counts)"
    plug_in_exact = "limit"  # Poisson channel: law affine in x (linear variance)
    default_a_max = 1e3  # resolves rates to ~ sqrt(x / 1000)
    output_head = "positive"

    def default_reconstruction(self):
        return DiscretisedGamma()

    def __post_init__(self):
        V.check_hyper_positive(self.prior_shape, "prior_shape")
        V.check_hyper_positive(self.prior_rate, "prior_rate")

    @property
    def prior_weight(self) -> float:
        return self.prior_rate

    @property
    def prior_mean(self) -> jax.Array:
        return jnp.asarray(self.prior_shape / self.prior_rate, dtype=jnp.result_type(float))

    def prior(self) -> dist.Distribution:
        return dist.Gamma(self.prior_shape, self.prior_rate)

    def observation(self, theta, alpha) -> dist.Distribution:
        return dist.Poisson(jnp.asarray(alpha) * theta)

    def statistic(self, y, alpha):
        return jnp.asarray(y, dtype=jnp.result_type(float))

    def statistic_law(self, x, total_accuracy):
        return dist.Poisson(jnp.asarray(total_accuracy) * x)

    def posterior(self, state: RunningMean) -> dist.Distribution:
        return dist.Gamma(state.weight * state.mean, state.weight)

    def predictive(self, state: RunningMean, alpha) -> dist.Distribution:
        return dist.GammaPoisson(state.weight * state.mean, state.weight / jnp.asarray(alpha))

    def divergence(self, x, xhat, alpha):
        return jnp.asarray(alpha) * (xlogy(x, x) - xlogy(x, xhat) - x + xhat)

    def validate_data(self, x, name="x"):
        return V.check_positive(x, name, allow_zero=True)

    def validate_observation(self, y, name="y"):
        return V.check_counts(y, name)

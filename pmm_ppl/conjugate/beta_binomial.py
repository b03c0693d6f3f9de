r"""Beta-Binomial (data in [0, 1]: probabilities, grey levels, binary data).

Prior        :math:`\theta \sim \mathrm{Beta}(a_0, b_0)`; data :math:`x \in [0, 1]` is a success probability.
Likelihood   :math:`y \mid \theta \sim \mathrm{Binomial}(n, \theta)`; the accuracy is the integer number
             of trials :math:`n` (Beta-Bernoulli is :math:`n = 1`).
Update       :math:`a' = a + y`, :math:`b' = b + n - y` (linear pair: :math:`s = y`, :math:`w = n`,
             :math:`c_0 = a_0 + b_0`, :math:`\mu_0 = a_0/(a_0 + b_0)`): :math:`C = a_0 + b_0 + A`,
             :math:`\mu = (a_0 + \sum y_i)/C` with :math:`A = \sum n_i`.
Posterior    :math:`\theta \mid y_{1:t} \sim \mathrm{Beta}(C\mu,\ C(1 - \mu))`, mean :math:`\mu`.
Predictive   :math:`y \mid \text{state} \sim \mathrm{BetaBinomial}(C\mu,\ C(1-\mu),\ n)`, mean :math:`n\mu`.
Flow         :math:`S_A = \sum y_i \mid x \sim \mathrm{Binomial}(A, x)` (independent binomials with a common
             probability add their trials), :math:`\mu_A = (a_0 + S_A)/(a_0 + b_0 + A)`.
Divergence   :math:`KL(\mathrm{Bin}(n, x) \| \mathrm{Bin}(n, \hat x)) = n\,KL(\mathrm{Bern}(x) \| \mathrm{Bern}(\hat x))
             = n\,(x\log(x/\hat x) + (1-x)\log((1-x)/(1-\hat x)))` (with :math:`0\log 0 = 0`).
Plug-in      exact only for steps of one trial (``plug_in_exact = "unit_steps"``): Bernoulli(x) is affine
             in x, Binomial(n, x) for n >= 2 is not.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from jax.scipy.special import xlogy

from pmm_ppl.conjugate import validation as V
from pmm_ppl.conjugate.base import LinearPair, RunningMean
from pmm_ppl.conjugate.registry import register


def _trials(n) -> jax.Array:
    """Whole number of trials as an integer array (the accuracy is validated as integer at the API)."""
    return jnp.round(jnp.asarray(n)).astype(jnp.int32)


@register("beta_binomial")
@dataclasses.dataclass(frozen=True)
class BetaBinomial(LinearPair):
    """Beta prior on a probability, Binomial observation with n trials (n = accuracy)."""

    prior_concentration1: float = 1.0  # a_0
    prior_concentration0: float = 1.0  # b_0

    accuracy_kind = "integer"
    support_text = "probabilities in [0, 1]"
    plug_in_exact = "unit_steps"  # Bernoulli (one trial) is affine in x; Binomial(n >= 2) is not
    output_head = "unit"

    def __post_init__(self):
        V.check_hyper_positive(self.prior_concentration1, "prior_concentration1")
        V.check_hyper_positive(self.prior_concentration0, "prior_concentration0")

    @property
    def prior_weight(self) -> float:
        return self.prior_concentration1 + self.prior_concentration0

    @property
    def prior_mean(self) -> jax.Array:
        return jnp.asarray(self.prior_concentration1 / self.prior_weight, dtype=jnp.result_type(float))

    def prior(self) -> dist.Distribution:
        return dist.Beta(self.prior_concentration1, self.prior_concentration0)

    def observation(self, theta, alpha) -> dist.Distribution:
        return dist.Binomial(_trials(alpha), probs=theta)

    def statistic(self, y, alpha):
        return jnp.asarray(y, dtype=jnp.result_type(float))

    def statistic_law(self, x, total_accuracy):
        return dist.Binomial(_trials(total_accuracy), probs=jnp.asarray(x))

    def sample_statistic(self, key, x, total_accuracy):
        return super().sample_statistic(key, x, total_accuracy).astype(jnp.result_type(float))

    def sample_observation(self, key, x, alpha):
        return super().sample_observation(key, x, alpha).astype(jnp.result_type(float))

    def posterior(self, state: RunningMean) -> dist.Distribution:
        return dist.Beta(state.weight * state.mean, state.weight * (1.0 - state.mean))

    def predictive(self, state: RunningMean, alpha) -> dist.Distribution:
        return dist.BetaBinomial(state.weight * state.mean, state.weight * (1.0 - state.mean), _trials(alpha))

    def flow(self, key, x, total_accuracy):
        """Flow state; the total number of trials ``total_accuracy`` must be whole (rounded when traced)."""
        V.check_integer(total_accuracy, "total_accuracy")
        return super().flow(key, x, total_accuracy)

    def divergence(self, x, xhat, alpha):
        x = jnp.asarray(x)
        xhat = jnp.asarray(xhat)
        kl = xlogy(x, x) - xlogy(x, xhat) + xlogy(1.0 - x, 1.0 - x) - xlogy(1.0 - x, 1.0 - xhat)
        return jnp.asarray(alpha) * kl

    def validate_data(self, x, name="x"):
        return V.check_in_interval(x, name, 0.0, 1.0)

    def validate_observation(self, y, name="y"):
        return V.check_counts(y, name)

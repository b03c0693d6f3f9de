r"""Normal-Normal with known observation precision (real data, elementwise over any shape).

Prior        :math:`\theta \sim N(\mu_0, 1/\rho_0)` independently per element.
Likelihood   :math:`y \mid \theta \sim N(\theta, 1/\alpha)`; the accuracy :math:`\alpha` is the precision.
Update       :math:`\rho' = \rho + \alpha`, :math:`\mu' = (\rho\mu + \alpha y)/\rho'`
             (linear pair: :math:`s = \alpha y`, :math:`w = \alpha`, :math:`c_0 = \rho_0`).
Posterior    :math:`\theta \mid y_{1:t} \sim N(\mu_t, 1/\rho_t)`, mean :math:`\mu_t`.
Predictive   :math:`y_{t+1} \mid y_{1:t} \sim N(\mu_t, 1/\rho_t + 1/\alpha)`.
Flow         with :math:`A` total precision and :math:`g = A/(\rho_0 + A)`:
             :math:`S_A = \sum \alpha_i y_i \sim N(A x, A)`, hence
             :math:`\mu_A \mid x \sim N(g x + (1-g)\mu_0,\ g(1-g)/\rho_0)`.
Divergence   :math:`KL(N(x, 1/\alpha) \| N(\hat x, 1/\alpha)) = \tfrac{\alpha}{2}(x - \hat x)^2`.
Plug-in      exact in the continuous-time limit (``plug_in_exact = "limit"``): the Normal channel's law is
             affine in x (constant variance function).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpyro.distributions as dist

from pmm_ppl.conjugate import validation as V
from pmm_ppl.conjugate.base import LinearPair, RunningMean
from pmm_ppl.conjugate.reconstruction import GaussianDensity
from pmm_ppl.conjugate.registry import register


@register("normal_normal")
@dataclasses.dataclass(frozen=True)
class NormalNormal(LinearPair):
    """Normal prior on a real mean, Normal observation with precision alpha."""

    prior_mean_value: float = 0.0  # mu_0
    prior_precision: float = 1.0  # rho_0

    support_text = "real numbers"
    plug_in_exact = "limit"  # Normal channel: law affine in x (constant variance)
    default_a_max = 1e4  # noise s.d. 0.01 on data of unit scale
    output_head = "real"

    def default_reconstruction(self):
        return GaussianDensity()

    def __post_init__(self):
        V.check_finite(self.prior_mean_value, "prior_mean_value")
        V.check_hyper_positive(self.prior_precision, "prior_precision")

    @property
    def prior_weight(self) -> float:
        return self.prior_precision

    @property
    def prior_mean(self) -> jax.Array:
        return jnp.asarray(self.prior_mean_value, dtype=jnp.result_type(float))

    def prior(self) -> dist.Distribution:
        return dist.Normal(self.prior_mean_value, self.prior_precision**-0.5)

    def observation(self, theta, alpha) -> dist.Distribution:
        return dist.Normal(theta, jax.lax.rsqrt(jnp.asarray(alpha, dtype=jnp.result_type(float))))

    def statistic(self, y, alpha):
        return jnp.asarray(alpha) * y

    def statistic_law(self, x, total_accuracy):
        a = jnp.asarray(total_accuracy)
        return dist.Normal(a * x, jnp.sqrt(a))

    def sample_statistic(self, key, x, total_accuracy):
        """:math:`S_A = A x + \\sqrt{A}\\,\\varepsilon`; also defined at :math:`A = 0` (no observation yet)."""
        a = jnp.asarray(total_accuracy, dtype=jnp.result_type(float))
        eps = jax.random.normal(key, jnp.broadcast_shapes(jnp.shape(x), jnp.shape(a)), dtype=jnp.result_type(float))
        return a * x + jnp.sqrt(a) * eps

    def posterior(self, state: RunningMean) -> dist.Distribution:
        return dist.Normal(state.mean, jax.lax.rsqrt(state.weight))

    def predictive(self, state: RunningMean, alpha) -> dist.Distribution:
        return dist.Normal(state.mean, jnp.sqrt(1.0 / state.weight + 1.0 / jnp.asarray(alpha)))

    def divergence(self, x, xhat, alpha):
        return 0.5 * jnp.asarray(alpha) * (x - xhat) ** 2

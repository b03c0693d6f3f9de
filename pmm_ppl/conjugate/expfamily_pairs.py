r"""Pairs declared through :class:`~pmm_ppl.conjugate.expfamily.ExpFamilyPair` (a dozen lines each).

Each declaration gives the log-partition :math:`\psi`, the natural parameter's interval, the law of the
summed statistic :math:`S_A` given the mean parameter :math:`x = \psi'(\eta)`, the supports, and where it
exists a named law for the Diaconis-Ylvisaker (DY) prior :math:`\pi_{c,\mu}` of :math:`x`.  Update
:math:`C = c_0 + A`, :math:`\mu = (c_0\mu_0 + S)/C`, divergence, flow log density, predictive, NumPyro
model and exactness class are derived (see :mod:`.expfamily`).  The named DY laws below were derived
by hand and are checked against the DY density of :math:`\psi` in ``tests/test_expfamily.py``.

============================== ==================== ==================================== ============================== ===================
pair                           x                    S_A given x                          DY law of x                    plug-in exact
============================== ==================== ==================================== ============================== ===================
``beta_negative_binomial`` (r) mean count           NB(mean A x, concentration A r)      x/r ~ BetaPrime(c mu, c r + 1) no (V = x + x^2/r)
``beta_geometric``             mean count           NB(mean A x, concentration A)        x ~ BetaPrime(c mu, c + 1)     no (V = x + x^2)
``invgamma_variance``          variance of N(m, .)  Gamma(A/2, rate 1/(2x)): sum (y-m)^2 x ~ InvGamma(c/2 + 1, c mu/2)  no (V = 2 x^2)
``normal_lognormal`` (sigma)   E[log y]             N(A x, A sigma^2): sum alpha log y   x ~ N(mu, sigma^2/c)           limit (V = sigma^2)
``invgamma_weibull`` (k)       scale^k = E[y^k]     Gamma(A, rate 1/x): sum y^k          x ~ InvGamma(c + 1, c mu)      no (V = x^2)
``gamma_pareto`` (m)           1/shape = E[log y/m] Gamma(A, rate 1/x): sum log(y/m)     x ~ InvGamma(c + 1, c mu)      no (integer A)
============================== ==================== ==================================== ============================== ===================

Natural parameters: negative binomial :math:`\eta = \log(1-p) < 0`, :math:`\psi = -r\log(1 - e^\eta)`
(so :math:`p \sim \mathrm{Beta}(c r + 1, c\mu)` on the success probability); Normal variance
:math:`\eta = -\tau/2 < 0`, :math:`\psi = -\tfrac12\log(-2\eta)` (a :math:`\mathrm{Gamma}(c/2 + 1, c\mu/2)`
prior on the precision :math:`\tau`); log-normal :math:`\eta = x/\sigma^2`, :math:`\psi = \sigma^2\eta^2/2`;
Weibull and Pareto :math:`\eta = -1/x < 0`, :math:`\psi = -\log(-\eta)` (a :math:`\mathrm{Gamma}(c + 1, c\mu)`
prior on the rate :math:`1/x`).

Observations.  With real accuracies the observation at accuracy :math:`\alpha` is a summary of
":math:`\alpha` draws": the statistic itself for the first three (``invgamma_variance`` is the
:math:`k = 1/2` case of ``gamma_gamma`` in other coordinates), :math:`y = \exp(S_\alpha/\alpha)` for
the log-normal (:math:`y \sim \mathrm{LogNormal}(x, \sigma/\sqrt\alpha)`), :math:`y = S_\alpha^{1/k}` for
the Weibull and :math:`y = m e^{S_\alpha}` for the Pareto; at :math:`\alpha = 1` these are one Weibull
:math:`(k, x^{1/k})` draw and one Pareto :math:`(m, 1/x)` draw.  The Pareto pair takes integer accuracies
(a number of draws, :math:`y = m\prod_i y_i/m`): in float32, :math:`m e^{S}` rounds to :math:`m` for the tiny
:math:`S` that :math:`\mathrm{Gamma}(\alpha < 1)` draws often, where the likelihood is infinite (NUTS
then fails); with :math:`\alpha \ge 1` such draws are negligible.

The inverse Gaussian (known shape) is *not* here although its channel is an infinitely divisible
exponential family: its natural parameter space :math:`(-\infty, 0]` is closed, the DY density
:math:`\exp(c\mu\eta + c\sqrt{-2\lambda\eta})` does not vanish at :math:`\eta = 0`, and integrating by parts
gives :math:`E[x] = \mu - 1/(c Z) \ne \mu`: the posterior mean is not the linear running average.
``tests/test_expfamily.py`` shows the toolkit's quadrature detecting it.
"""

from __future__ import annotations

import dataclasses
import math

import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.distributions import transforms as T

from pmm_ppl.conjugate import validation as V
from pmm_ppl.conjugate.expfamily import ExpFamilyPair, as_float
from pmm_ppl.conjugate.gamma_gamma import CompoundGamma
from pmm_ppl.conjugate.registry import register


@register("beta_negative_binomial")
@dataclasses.dataclass(frozen=True)
class NegativeBinomial(ExpFamilyPair):
    """Negative-binomial counts with known concentration r and mean x; Beta prior on the success probability.

    Plug-in exactness "no": V(x) = x + x^2/r is not affine."""

    c0: float = 2.0
    mu0: float = 2.0
    concentration: float = 2.0  # r, per unit accuracy
    natural_domain = (-math.inf, 0.0)
    data_domain, observation_domain = "positive", "counts"
    support_text = "positive mean counts"

    def check_hyperparameters(self):
        V.check_hyper_positive(self.concentration, "concentration")

    def log_partition(self, eta):
        return -self.concentration * jnp.where(eta > -0.69, jnp.log(-jnp.expm1(eta)), jnp.log1p(-jnp.exp(eta)))  # -r log(1 - e^eta)

    def statistic_law(self, x, total_accuracy):
        a = as_float(total_accuracy)
        return dist.NegativeBinomial2(a * x, a * self.concentration)

    def conjugate_law(self, c, mu):
        return CompoundGamma(c * mu, c * self.concentration + 1.0, self.concentration)


@register("beta_geometric")
@dataclasses.dataclass(frozen=True)
class Geometric(NegativeBinomial):
    """Geometric counts (failures before a success) with mean x; Beta prior on the success probability.

    Plug-in exactness "no": V(x) = x + x^2."""

    concentration: float = dataclasses.field(default=1.0, init=False)  # r = 1


@register("invgamma_variance")
@dataclasses.dataclass(frozen=True)
class InvGammaVariance(ExpFamilyPair):
    """Variance x of a Normal with known mean, observed through summed squared deviations; Gamma prior on the precision.

    Plug-in exactness "no": V(x) = 2 x^2 is not affine."""

    c0: float = 4.0
    mu0: float = 1.0
    natural_domain = (-math.inf, 0.0)
    data_domain = observation_domain = "positive"

    def log_partition(self, eta):
        return -0.5 * jnp.log(-2.0 * eta)

    def statistic_law(self, x, total_accuracy):
        return dist.Gamma(0.5 * as_float(total_accuracy), 0.5 / x)

    def conjugate_law(self, c, mu):
        return dist.InverseGamma(0.5 * c + 1.0, 0.5 * c * mu)


@register("normal_lognormal")
@dataclasses.dataclass(frozen=True)
class NormalLogNormal(ExpFamilyPair):
    """Log-normal observation with known log-scale sigma, Normal prior on its log-mean x.

    Plug-in exactness "limit": V(x) = sigma^2 is constant."""

    c0: float = 1.0
    mu0: float = 0.0
    scale: float = 0.5  # sigma at unit accuracy
    observation_domain = "positive"

    def check_hyperparameters(self):
        V.check_hyper_positive(self.scale, "scale")

    def log_partition(self, eta):
        return 0.5 * self.scale**2 * eta**2

    def statistic_law(self, x, total_accuracy):
        a = as_float(total_accuracy)
        return dist.Normal(a * x, self.scale * jnp.sqrt(a))

    def observation(self, theta, alpha):
        return dist.LogNormal(theta, self.scale / jnp.sqrt(as_float(alpha)))

    def statistic(self, y, alpha):
        return as_float(alpha) * jnp.log(y)

    def conjugate_law(self, c, mu):
        return dist.Normal(mu, self.scale / jnp.sqrt(c))


@register("invgamma_weibull")
@dataclasses.dataclass(frozen=True)
class InvGammaWeibull(ExpFamilyPair):
    """Weibull observation with known shape k and x = scale^k, summarised as y = (sum y_i^k)^(1/k); Gamma prior on 1/x.

    Plug-in exactness "no": V(x) = x^2 is not affine."""

    c0: float = 2.0
    mu0: float = 1.0
    shape: float = 1.5  # k
    natural_domain = (-math.inf, 0.0)
    data_domain = observation_domain = "positive"

    def check_hyperparameters(self):
        V.check_hyper_positive(self.shape, "shape")

    def log_partition(self, eta):
        return -jnp.log(-eta)

    def statistic_law(self, x, total_accuracy):
        return dist.Gamma(as_float(total_accuracy), 1.0 / x)

    def observation(self, theta, alpha):
        return dist.TransformedDistribution(self.statistic_law(theta, alpha), T.PowerTransform(1.0 / self.shape))

    def statistic(self, y, alpha):
        return as_float(y) ** self.shape

    def conjugate_law(self, c, mu):
        return dist.InverseGamma(c + 1.0, c * mu)


@register("gamma_pareto")
@dataclasses.dataclass(frozen=True)
class GammaPareto(ExpFamilyPair):
    """Pareto observations with known scale m and x = 1/shape, alpha draws summarised as y = m prod(y_i/m); Gamma prior on the shape.

    Integer accuracy (a number of draws). Plug-in exactness "no": the one-draw law is not affine in x."""

    c0: float = 2.0
    mu0: float = 0.5
    scale: float = 1.0  # m
    natural_domain = (-math.inf, 0.0)
    data_domain = observation_domain = "positive"
    accuracy_kind = "integer"

    def check_hyperparameters(self):
        V.check_hyper_positive(self.scale, "scale")

    def log_partition(self, eta):
        return -jnp.log(-eta)

    def statistic_law(self, x, total_accuracy):
        return dist.Gamma(as_float(total_accuracy), 1.0 / x)

    def observation(self, theta, alpha):
        return dist.TransformedDistribution(self.statistic_law(theta, alpha), [T.ExpTransform(), T.AffineTransform(0.0, self.scale)])

    def statistic(self, y, alpha):
        return jnp.log(as_float(y) / self.scale)

    def validate_observation(self, y, name="y"):
        return V.check_in_interval(y, name, self.scale, math.inf)

    def conjugate_law(self, c, mu):
        return dist.InverseGamma(c + 1.0, c * mu)

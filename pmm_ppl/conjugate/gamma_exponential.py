r"""Gamma-Exponential (positive data): the :math:`k = 1` case of :mod:`.gamma_gamma`.

The textbook pair puts a :math:`\mathrm{Gamma}(a_0, b_0)` prior on the *rate* :math:`\lambda` of an
exponential likelihood.  In data space :math:`\theta` is the exponential's mean :math:`x = 1/\lambda`
(a reparametrisation), for which the posterior mean is the linear running average.

Prior        :math:`\lambda \sim \mathrm{Gamma}(a_0, b_0)`, i.e. :math:`x \sim \mathrm{InvGamma}(a_0, b_0)`;
             the prior mean :math:`b_0/(a_0 - 1)` needs :math:`a_0 > 1` (validated).
Likelihood   :math:`y \mid x \sim \mathrm{Gamma}(\alpha,\ \text{rate } 1/x)`: for integer :math:`\alpha` the sum
             of :math:`\alpha` exponentials with mean :math:`x`; a valid law for any real :math:`\alpha > 0`.
Update       :math:`\lambda \mid y_{1:t} \sim \mathrm{Gamma}(a_0 + A, b_0 + S)`; linear pair with :math:`s = y`,
             :math:`w = \alpha`, :math:`c_0 = a_0 - 1`, :math:`\mu_0 = b_0/(a_0 - 1)`:
             :math:`C = a_0 - 1 + A`, :math:`\mu = (b_0 + S)/C`.
Posterior    :math:`x \mid y_{1:t} \sim \mathrm{InvGamma}(a_0 + A,\ b_0 + S) = \mathrm{InvGamma}(C + 1, C\mu)`,
             mean :math:`(b_0 + S)/(a_0 + A - 1) = \mu`.
Predictive   compound gamma: :math:`y/(C\mu) \sim \mathrm{BetaPrime}(\alpha,\ C + 1)`, mean :math:`\alpha\mu`.
Flow         :math:`S_A \mid x \sim \mathrm{Gamma}(A,\ \text{rate } 1/x)`, :math:`\mu_A = (b_0 + S_A)/(a_0 - 1 + A)`.
Divergence   :math:`KL(\mathrm{Gamma}(\alpha, 1/x) \| \mathrm{Gamma}(\alpha, 1/\hat x)) = \alpha(\log(\hat x/x) + x/\hat x - 1)`.
Plug-in      biased (``plug_in_exact = "no"``, inherited from Gamma-Gamma): V(x) = x^2.

The code is :class:`~pmm_ppl.conjugate.gamma_gamma.GammaGamma` with the shape fixed to 1.
"""

from __future__ import annotations

import dataclasses

from pmm_ppl.conjugate.gamma_gamma import GammaGamma
from pmm_ppl.conjugate.registry import register


@register("gamma_exponential")
@dataclasses.dataclass(frozen=True)
class GammaExponential(GammaGamma):
    """Exponential likelihood (summed over alpha units of exposure), Gamma prior on its rate."""

    prior_shape: float = 2.0  # a_0 > 1
    prior_rate: float = 1.0  # b_0
    shape: float = dataclasses.field(default=1.0, init=False)  # k = 1: exponential observations

r"""Input/output preconditioning for the Normal-Normal pair (EDM-style, docs/design.md section 3).

With prior :math:`N(\mu_0, 1/\rho_0)`, cumulative accuracy :math:`A = A(t)` and
:math:`C = \rho_0 + A`, the posterior mean :math:`\mu` determines the summed statistic
:math:`S = C\mu - \rho_0\mu_0 \sim N(A x, A)`, i.e. :math:`z = S/A = x + N(0, 1/A)`: a VE-diffusion
state with :math:`\sigma^2 = 1/A`.  Following EDM (Karras et al. 2022) with data mean :math:`m` and
data standard deviation :math:`\sigma_d`, the denoiser is

.. math::

    \hat x = m + c_{\text{skip}}(z - m) + c_{\text{out}}\, F\big(c_{\text{in}}(z - m),\ t\big),

    c_{\text{skip}} = \frac{\sigma_d^2}{\sigma^2 + \sigma_d^2},\quad
    c_{\text{in}} = \frac{1}{\sqrt{\sigma^2 + \sigma_d^2}},\quad
    c_{\text{out}} = \frac{\sigma\sigma_d}{\sqrt{\sigma^2 + \sigma_d^2}} .

Written with :math:`S` so that nothing divides by :math:`A` (finite at :math:`A = 0`, where
:math:`S = 0`; there :math:`S - Am` is set to 0 whatever ``mu`` is passed, so :math:`\hat x = m + \sigma_d F(0, t)`):

.. math::

    c_{\text{skip}}(z - m) = \frac{\sigma_d^2 (S - A m)}{1 + \sigma_d^2 A},\qquad
    c_{\text{in}}(z - m) = \frac{S - A m}{\sqrt{A (1 + \sigma_d^2 A)}}\ (:= 0 \text{ at } A = 0),\qquad
    c_{\text{out}} = \frac{\sigma_d}{\sqrt{1 + \sigma_d^2 A}} .

The skip term :math:`m + c_{\text{skip}}(z - m)` is :math:`E[x \mid \mu]` when
:math:`x \sim N(m, \sigma_d^2)` per element (the Bayes-optimal *linear* estimate), so a backbone
with a zero-initialised last layer starts there; :math:`c_{\text{in}}(z - m)` has unit variance
under that model and :math:`c_{\text{out}}` is the posterior standard deviation, the scale of what
is left to predict.  With the defaults :math:`m = \mu_0,\ \sigma_d^2 = 1/\rho_0` (data assumed to
follow the prior) the skip term is exactly :math:`\mu`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from pmm_ppl.conjugate.base import LinearPair
from pmm_ppl.conjugate.validation import PMMInputError
from pmm_ppl.nets.heads import head_for_pair


def normal_preconditioning(pair: LinearPair, mu: jax.Array, accuracy: jax.Array, data_mean: Any,
                           data_std: Any) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(skip, net_input, c_out)`` of the module docstring; ``accuracy`` is a scalar or one per leading
    batch axes of ``mu`` (e.g. ``(B, 1, ..., 1)``).  :math:`S` is the pair's ``statistic_from_mean``."""
    a = jnp.asarray(accuracy, jnp.float32)
    if a.ndim:
        a = a.reshape(a.shape + (1,) * (jnp.ndim(mu) - a.ndim))
    s = pair.statistic_from_mean(mu, a)
    var_d = jnp.asarray(data_std, jnp.float32) ** 2
    m = jnp.asarray(data_mean, jnp.float32)
    positive = a > 0
    resid = jnp.where(positive, s - a * m, 0.0)  # S = 0 exactly at A = 0: the state carries no information
    denom = 1.0 + var_d * a
    skip = m + var_d * resid / denom
    net_input = resid / jnp.sqrt(jnp.where(positive, a, 1.0) * denom)
    c_out = jnp.sqrt(var_d / denom)
    return skip, net_input, c_out


class NormalPreconditioned(nnx.Module):
    """Wrap a real-valued backbone ``F(x_in, t)`` into :math:`\\hat x = \\text{skip} + c_{out} F(c_{in}(z - m), t)`.

    Args:
      backbone: an nnx module called as ``backbone(x_in, t)`` with the ``real`` head
        (build it with ``zero_init_output=True`` to start at the Bayes-optimal linear estimate).
      pair: a Normal-type linear pair (``prior_weight`` = rho_0, ``prior_mean`` = mu_0).
      schedule: any object with a jittable ``A(t)``.
      data_mean, data_std: :math:`m, \\sigma_d` (scalars or arrays broadcasting against one datum);
        default to the prior's ``mu_0`` and ``rho_0^{-1/2}``.
    """

    def __init__(self, backbone: nnx.Module, pair: Any, schedule: Any, *, data_mean: Any = None, data_std: Any = None):
        if not isinstance(pair, LinearPair) or head_for_pair(pair) != "real":
            raise PMMInputError(f"pair: Normal preconditioning needs a Normal-type linear pair, got {getattr(pair, 'name', pair)!r}")
        if getattr(backbone, "head", "real") != "real":
            raise PMMInputError(f"backbone: must use the 'real' head under preconditioning, got {backbone.head!r}")
        if not hasattr(schedule, "A"):
            raise PMMInputError("schedule: needs a method A(t) (cumulative accuracy)")
        self.backbone = backbone
        self.schedule = schedule
        self.head = "real"
        self.pair = pair
        self.prior_weight = float(pair.prior_weight)
        self.data_mean = jnp.asarray(pair.prior_mean if data_mean is None else data_mean, jnp.float32)
        std = self.prior_weight ** -0.5 if data_std is None else data_std
        if not bool(jnp.all(jnp.asarray(std) > 0)):
            raise PMMInputError(f"data_std: must be > 0, got {std!r}")
        self.data_std = jnp.asarray(std, jnp.float32)

    def __call__(self, mu: jax.Array, t: jax.Array) -> jax.Array:
        mu = jnp.asarray(mu, jnp.float32)
        a = jnp.asarray(self.schedule.A(t), jnp.float32).reshape((-1,) + (1,) * (mu.ndim - 1))
        skip, x_in, c_out = normal_preconditioning(self.pair, mu, a, self.data_mean, self.data_std)
        return skip + c_out * self.backbone(x_in, t)

r"""A mixture head: a distributional denoiser for continuous data under any pair.

For continuous data the mean :math:`E^*[x \mid \mu_t]` is enough for the plug-in sampler only when the
channel's law is affine in :math:`x` (``pair.plug_in_exact == "limit"``).  Under the other channels (Gamma,
Weibull, Pareto, ...) the ancestral sampler needs the per-coordinate posterior
:math:`q(x_d \mid \mu_t)`; this head outputs it as a mixture of :math:`K` components per coordinate,

.. math::

   q(x_d \mid \mu_t) = \sum_{k=1}^K w_k\, g(x_d;\, m_k, s_k), \qquad
   w = \mathrm{softmax}(h_w), \quad m_k = \phi(\bar\mu_d) + o_k + h_{m,k}, \quad s_k = \mathrm{softplus}(h_{s,k}) + s_{\min},

with the component family chosen from the pair's support (``pair.output_head``):

=============  ========================================================  =====================
head           component :math:`g`                                        :math:`\phi(\mu)`
=============  ========================================================  =====================
``real``       Normal(:math:`m, s`)                                       :math:`\mu`
``positive``   LogNormal(:math:`m, s`) (log-scale location and s.d.)      :math:`\log \mu`
``unit``       logit-Normal: :math:`\sigma(z)`, :math:`z \sim N(m, s)`     :math:`\mathrm{logit}\,\mu`
=============  ========================================================  =====================

The backbone's outputs :math:`h` (three per component and coordinate) start at zero, so the untrained
head is a spread of equal-weight components (offsets :math:`o_k` evenly spaced in
:math:`[-\text{spread}, \text{spread}]`) centred on the posterior mean of the conjugate state.  Train it
with a proper scoring rule -- the log score (``log_score > 0`` in
:func:`~pmm_ppl.process.objectives.pmm_loss`), whose expectation is minimised only by the true
posterior -- alone or added to the PMM loss on its mean.  Matching :math:`E[x]` and :math:`E[x^2]` only
reduces the plug-in bias; a flexible :math:`q` removes it in the continuous-time limit.

``net(mu, t)`` returns the mixture's mean (the logit-Normal's mean has no closed form: it is estimated
by Gauss-Hermite quadrature with 16 nodes, exact to ~1e-6 for :math:`s \le 3`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from flax import nnx

from pmm_ppl.conjugate.validation import PMMInputError, check_whole_number
from pmm_ppl.nets.heads import head_for_pair

FAMILIES = ("real", "positive", "unit")
_HERMITE_NODES, _HERMITE_WEIGHTS = np.polynomial.hermite_e.hermegauss(16)


def _component(family: str, loc: jax.Array, scale: jax.Array) -> dist.Distribution:
    if family == "real":
        return dist.Normal(loc, scale)
    if family == "positive":
        return dist.LogNormal(loc, scale)
    return dist.TransformedDistribution(dist.Normal(loc, scale), dist.transforms.SigmoidTransform())


def _component_mean(family: str, loc: jax.Array, scale: jax.Array) -> jax.Array:
    if family == "real":
        return loc
    if family == "positive":
        return jnp.exp(loc + 0.5 * scale**2)
    nodes = jnp.asarray(_HERMITE_NODES, loc.dtype)
    weights = jnp.asarray(_HERMITE_WEIGHTS / _HERMITE_WEIGHTS.sum(), loc.dtype)
    return jax.nn.sigmoid(loc[..., None] + scale[..., None] * nodes) @ weights


def _to_location(family: str, mu: jax.Array) -> jax.Array:
    if family == "real":
        return mu
    if family == "positive":
        return jnp.log(jnp.maximum(mu, 1e-12))
    mu = jnp.clip(mu, 1e-6, 1 - 1e-6)
    return jnp.log(mu) - jnp.log1p(-mu)


class MixtureLaw(dist.MixtureSameFamily):
    """A per-coordinate mixture (batch shape = the data's shape) whose ``mean`` uses the closed-form (or
    quadrature) component means."""

    def __init__(self, logits: jax.Array, loc: jax.Array, scale: jax.Array, family: str):
        self.family = family
        self._means = _component_mean(family, loc, scale)
        super().__init__(dist.Categorical(logits=logits), _component(family, loc, scale))

    @property
    def mean(self) -> jax.Array:
        return jnp.sum(jax.nn.softmax(self.mixing_distribution.logits, -1) * self._means, -1)


class MixtureHead(nnx.Module):
    """``net(mu, t)`` with a per-coordinate mixture posterior (module docstring).

    ``backbone(mu_in, t)`` must return ``(B, *data_shape, 3 * num_components)`` (build it with
    ``out_shape=data_shape + (3 * num_components,)`` and ``zero_init_output=True``); ``mu_in`` is
    :math:`\\phi(\\mu)` standardised by ``input_shift`` / ``input_scale``.  ``family``: the component family,
    default from the pair's output head."""

    def __init__(self, backbone: nnx.Module, pair: Any, num_components: int = 4, *, family: str | None = None,
                 spread: float = 1.0, min_scale: float = 1e-3, input_shift: float = 0.0, input_scale: float = 1.0):
        family = family or head_for_pair(pair)
        if family not in FAMILIES:
            raise PMMInputError(f"family: a mixture head has components for the supports {FAMILIES}, got {family!r}")
        self.backbone = backbone
        self.pair = pair
        self.head = family
        self.family = family
        self.num_components = check_whole_number(num_components, "num_components", 1)
        self.offsets = jnp.linspace(-spread, spread, num_components) if num_components > 1 else jnp.zeros((1,))
        self.min_scale = float(min_scale)
        self.input_shift = float(input_shift)
        self.input_scale = float(input_scale)

    def posterior(self, mu: jax.Array, t: jax.Array) -> MixtureLaw:
        mu = jnp.asarray(mu, jnp.float32)
        centre = _to_location(self.family, mu)
        raw = self.backbone((centre - self.input_shift) / self.input_scale, t)
        raw = raw.reshape(mu.shape + (3, self.num_components))
        logits = raw[..., 0, :]
        loc = centre[..., None] + self.offsets + raw[..., 1, :]
        scale = jax.nn.softplus(raw[..., 2, :] + 0.5413) * 0.5 + self.min_scale  # 0.5 at zero output
        return MixtureLaw(logits, loc, scale, self.family)

    def posterior_and_mean(self, mu: jax.Array, t: jax.Array) -> tuple[MixtureLaw, jax.Array]:
        law = self.posterior(mu, t)
        return law, law.mean

    def __call__(self, mu: jax.Array, t: jax.Array) -> jax.Array:
        return self.posterior(mu, t).mean


__all__ = ["FAMILIES", "MixtureHead", "MixtureLaw"]

r"""A denoiser for *discretised* real data (images on a grid of L levels) under the Normal pair.

The data take values on levels :math:`c_1 < \dots < c_L` (e.g. 17 evenly spaced values in
[-1, 1] for sklearn digits).  The exact :math:`E^*[x \mid \mu_t]` then *snaps* to the grid once the
accuracy resolves it, which a plain regression net learns slowly and the likelihood bound punishes
(the KL rate :math:`\tfrac{A'}{2}\lVert x - f\rVert^2` keeps growing with :math:`A`).  So the output
is parametrised as an expectation over the levels, per data coordinate:

.. math::

   \hat x = \sum_k p_k c_k, \qquad
   p = \mathrm{softmax}\Big(-\frac{(c_k - \text{skip})^2}{2 c_{\text{out}}^2} + F_k(c_{\text{in}}(z - m), t)\Big),

with ``skip`` and :math:`c_{\text{out}}` the Gaussian-prior quantities of
:func:`~pmm_ppl.nets.precondition.normal_preconditioning`
(:math:`\text{skip} = m + \sigma_d^2 (S - A m)/(1 + \sigma_d^2 A)`,
:math:`c_{\text{out}}^2 = \sigma_d^2 / (1 + \sigma_d^2 A)`, :math:`S = C\mu - \rho_0\mu_0`).
With the backbone :math:`F \equiv 0` (zero-initialised last layer) the first term is exactly the
log posterior over levels when the prior is :math:`N(m, \sigma_d^2)` restricted to the grid
(:math:`p(k \mid S) \propto N(c_k; m, \sigma_d^2)\, N(S; A c_k, A)`), so the untrained net is that
Bayes estimate, snaps to the grid at large :math:`A`, and the backbone only learns a correction to
the prior's log weights.  Output lies in :math:`[c_1, c_L]`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from pmm_ppl.conjugate.laws import LevelLaw

from pmm_ppl.nets.precondition import normal_preconditioning


def level_posterior(probs: jax.Array, levels: jax.Array) -> LevelLaw:
    """A law on ``levels`` per coordinate: probabilities ``probs`` of shape ``(*batch, L)`` over the
    values ``levels`` ``(L,)`` (its mean is ``probs @ levels``; see :class:`~pmm_ppl.conjugate.laws.LevelLaw`)."""
    return LevelLaw(probs, levels)


class DiscretisedNormalPreconditioned(nnx.Module):
    """``net(mu, t)`` for data on ``levels``; ``backbone(x_in, t)`` returns per-level logits of
    shape ``(B, *data_shape, L)`` (build it with ``out_shape=data_shape + (L,)`` and
    ``zero_init_output=True``)."""

    def __init__(self, backbone: nnx.Module, pair: Any, schedule: Any, levels: Any, *, data_mean: float,
                 data_std: float):
        self.backbone = backbone
        self.schedule = schedule
        self.head = "real"
        self.pair = pair
        self.levels = jnp.asarray(levels, jnp.float32)
        self.data_mean = jnp.asarray(data_mean, jnp.float32)
        self.data_std = jnp.asarray(data_std, jnp.float32)

    def level_probabilities(self, mu: jax.Array, t: jax.Array) -> jax.Array:
        """:math:`p_k` per coordinate, shape ``mu.shape + (L,)``."""
        mu = jnp.asarray(mu, jnp.float32)
        a = jnp.asarray(self.schedule.A(t), jnp.float32).reshape((-1,) + (1,) * (mu.ndim - 1))
        skip, x_in, c_out = normal_preconditioning(self.pair, mu, a, self.data_mean, self.data_std)
        base = -0.5 * ((self.levels - skip[..., None]) / c_out[..., None]) ** 2
        return jax.nn.softmax(base + self.backbone(x_in, t), axis=-1)

    def __call__(self, mu: jax.Array, t: jax.Array) -> jax.Array:
        return self.level_probabilities(mu, t) @ self.levels

    def posterior(self, mu: jax.Array, t: jax.Array) -> LevelLaw:
        """The per-coordinate law on the levels (for the ancestral sampler and the log score); its mean
        is ``net(mu, t)``."""
        return level_posterior(self.level_probabilities(mu, t), self.levels)

    def posterior_and_mean(self, mu: jax.Array, t: jax.Array) -> tuple[LevelLaw, jax.Array]:
        """``(posterior(mu, t), net(mu, t))`` from one network call (the training loss needs both)."""
        law = self.posterior(mu, t)
        return law, law.mean


class LevelPosteriorDenoiser(nnx.Module):
    r"""Denoiser for data on a finite set of ``levels`` under any linear pair (e.g. counts 0..16 with
    Gamma-Poisson).  Per coordinate,

    .. math::  \hat x = \sum_k p_k c_k, \qquad
       p = \mathrm{softmax}_k\big(\log p(S \mid x = c_k, A) + F_k(\mu, t)\big),

    where :math:`\log p(S \mid x, A)` is the pair's ``statistic_law`` at the level (the exact
    likelihood of the state's summed statistic :math:`S = C\mu - c_0\mu_0`) and the backbone
    :math:`F` supplies the log prior weights of the levels given the other coordinates.  With
    :math:`F` constant this is the exact :math:`E^*[x \mid \mu_t]` for a coordinate-wise prior over
    the levels, so the net only learns the prior; at :math:`A = 0` the likelihood term is 0.
    ``backbone(mu_in, t)`` returns ``(B, *data_shape, L)`` logits, with
    ``mu_in = (mu - input_shift) / input_scale``; ``floor``: optional lower bound on the output
    (``1e-6`` for counts, whose level 0 would otherwise give a zero rate)."""

    def __init__(self, backbone: nnx.Module, pair: Any, schedule: Any, levels: Any, *, input_shift: float = 0.0,
                 input_scale: float = 1.0, floor: float | None = None):
        self.backbone = backbone
        self.pair = pair
        self.schedule = schedule
        self.head = "levels"
        self.levels = jnp.asarray(levels, jnp.float32)
        self.input_shift = float(input_shift)
        self.input_scale = float(input_scale)
        self.floor = floor

    def level_probabilities(self, mu: jax.Array, t: jax.Array) -> jax.Array:
        mu = jnp.asarray(mu, jnp.float32)
        a = jnp.asarray(self.schedule.A(t), jnp.float32).reshape((-1,) + (1,) * (mu.ndim - 1))
        s = self.pair.statistic_from_mean(mu, a)  # rounded for count statistics
        if self.pair.statistic_is_discrete:
            s = jnp.maximum(s, 0.0)
        safe_a = jnp.where(a > 0, a, 1.0)[..., None]
        law = self.pair.statistic_law(self.levels, safe_a)
        loglik = law.log_prob(s[..., None])
        loglik = jnp.where(a[..., None] > 0, loglik, 0.0)
        logits = loglik + self.backbone((mu - self.input_shift) / self.input_scale, t)
        return jax.nn.softmax(logits, axis=-1)

    def posterior(self, mu: jax.Array, t: jax.Array) -> LevelLaw:
        """The per-coordinate law on the levels (for the ancestral sampler and the log score; its mean is
        ``net(mu, t)`` up to the ``floor``)."""
        return level_posterior(self.level_probabilities(mu, t), self.levels)

    def _floored(self, xhat: jax.Array) -> jax.Array:
        # a positive floor keeps rate estimates strictly positive (the Poisson KL of x > 0 against 0 is infinite)
        return xhat if self.floor is None else jnp.maximum(xhat, self.floor)

    def posterior_and_mean(self, mu: jax.Array, t: jax.Array) -> tuple[LevelLaw, jax.Array]:
        """``(posterior(mu, t), net(mu, t))`` from one network call (the training loss needs both)."""
        law = self.posterior(mu, t)
        return law, self._floored(law.mean)

    def __call__(self, mu: jax.Array, t: jax.Array) -> jax.Array:
        return self._floored(self.level_probabilities(mu, t) @ self.levels)

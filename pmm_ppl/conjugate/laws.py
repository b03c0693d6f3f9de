r"""Per-coordinate laws that distributional denoisers return from ``posterior(mu, t)``.

The ancestral sampler (:func:`pmm_ppl.process.kernels.ancestral_step`) draws :math:`\tilde x_d \sim
q(x_d \mid \mu)` from them, and a proper scoring rule (the log score,
:func:`pmm_ppl.process.objectives.pmm_loss` with ``log_score > 0``) trains them: the expected log score
:math:`E_{x \sim p}[-\log q(x)]` is minimised exactly by :math:`q = p`, so a net trained with it learns
the whole posterior of each coordinate, not only its mean.

* :class:`LevelLaw` -- a law on a finite grid of values :math:`c_1 < \dots < c_L` (discretised images,
  clipped counts): probabilities :math:`p_k`, mean :math:`\sum_k p_k c_k`, and
  :math:`\log q(x) = \log p_{k(x)}` with :math:`k(x)` the level nearest to :math:`x` (so data stored
  as float32 need not equal the levels bit for bit).
* :class:`OneHotCategorical` -- a token's law: class :math:`k` with probability :math:`p_k`, drawn as the
  one-hot vector :math:`e_k` (its mean is :math:`p`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpyro.distributions as dist
from numpyro.distributions import constraints

Array = jax.Array


def _log_probs(probs: Array) -> Array:
    return jnp.log(jnp.clip(probs, 1e-30, None))


def exact_log_probs(probs: Array) -> Array:
    r""":math:`\log p` with ``-inf`` where :math:`p = 0` (no NaN gradient through the zeros)."""
    positive = probs > 0
    return jnp.where(positive, jnp.log(jnp.where(positive, probs, 1.0)), -jnp.inf)


class LevelLaw(dist.Distribution):
    """A law on ``levels`` (shape ``(L,)``, increasing) with probabilities ``probs`` of shape ``(*batch, L)``
    per coordinate; batch shape ``probs.shape[:-1]``, scalar events."""

    arg_constraints = {"probs": constraints.simplex}
    support = constraints.real
    pytree_data_fields = ("probs", "levels")

    def __init__(self, probs: Array, levels: Array, *, validate_args: bool | None = None):
        self.probs = probs
        self.levels = jnp.asarray(levels, probs.dtype)
        super().__init__(batch_shape=jnp.shape(probs)[:-1], validate_args=validate_args)

    def sample(self, key: Array, sample_shape: tuple[int, ...] = ()) -> Array:
        index = jax.random.categorical(key, _log_probs(self.probs), axis=-1, shape=sample_shape + self.batch_shape)
        return self.levels[index]

    def level_index(self, x: Array) -> Array:
        """The index of the level nearest to each value of ``x``."""
        edges = 0.5 * (self.levels[1:] + self.levels[:-1])
        # the number of bin edges below x (a comparison, not jnp.searchsorted: that fails under a sharded jit)
        return jnp.sum(jnp.asarray(x, self.probs.dtype)[..., None] > edges, axis=-1)

    def log_prob(self, x: Array) -> Array:
        index = self.level_index(x)
        probs = jnp.broadcast_to(self.probs, jnp.shape(index) + self.probs.shape[-1:])
        return jnp.take_along_axis(_log_probs(probs), index[..., None], axis=-1)[..., 0]

    def atoms(self) -> tuple[Array, Array]:
        """``(values, log_probs)``: the levels ``(*batch, L)`` and their log-probabilities (``-inf`` for 0)."""
        values = jnp.broadcast_to(self.levels, self.probs.shape)
        return values, exact_log_probs(self.probs)

    @property
    def mean(self) -> Array:
        return self.probs @ self.levels

    @property
    def variance(self) -> Array:
        return self.probs @ self.levels**2 - self.mean**2


class OneHotCategorical(dist.Distribution):
    """Class ``k`` with probability ``probs[..., k]``, as the one-hot vector :math:`e_k` (event shape ``(K,)``)."""

    arg_constraints = {"probs": constraints.simplex}
    support = constraints.simplex
    pytree_data_fields = ("probs",)

    def __init__(self, probs: Array, *, validate_args: bool | None = None):
        self.probs = probs
        shape = jnp.shape(probs)
        super().__init__(batch_shape=shape[:-1], event_shape=shape[-1:], validate_args=validate_args)

    def sample(self, key: Array, sample_shape: tuple[int, ...] = ()) -> Array:
        index = jax.random.categorical(key, _log_probs(self.probs), axis=-1, shape=sample_shape + self.batch_shape)
        return jax.nn.one_hot(index, self.probs.shape[-1], dtype=self.probs.dtype)

    def log_prob(self, x: Array) -> Array:
        return jnp.sum(jnp.asarray(x, self.probs.dtype) * _log_probs(self.probs), axis=-1)

    def atoms(self) -> tuple[Array, Array]:
        """``(values, log_probs)``: the ``K`` one-hot vectors ``(*batch, K, K)`` and their log-probabilities."""
        k = self.probs.shape[-1]
        values = jnp.broadcast_to(jnp.eye(k, dtype=self.probs.dtype), self.probs.shape + (k,))
        return values, exact_log_probs(self.probs)

    @property
    def mean(self) -> Array:
        return self.probs

    @property
    def variance(self) -> Array:
        return self.probs * (1.0 - self.probs)


__all__ = ["LevelLaw", "OneHotCategorical", "exact_log_probs"]

r"""Input maps for token denoisers under the Poissonised Dirichlet pair.

The posterior mean :math:`\mu = (a_0 + N)/(c_0 + A)` of a position is a poor network input: its
scale shrinks with :math:`A`.  :class:`LogConcentrationInput` feeds the log posterior
concentration instead, :math:`\log((c_0 + A(t))\mu) = \log(a_0 + N)`, which is
:math:`\log a_0` for a class never observed and grows like :math:`\log N` with the counts -- the
same numbers at every :math:`t` for the same evidence.

Under the noiseless channel (``pair.reveals_on_first_count``) the count of a revealed class carries no
information about the data beyond *which* class it is: :math:`N_j \mid x = e_j` is Poisson(:math:`A`)
conditioned on :math:`N_j \ge 1`, whatever the neighbours.  :class:`RevealedTokenInput` feeds exactly that
information, the indicator :math:`\mathbb 1[N \ge 1]` (the revealed one-hot, all zeros for a masked
position: after the first linear layer, a learned mask embedding -- MDLM's input).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx


class LogConcentrationInput(nnx.Module):
    """``net(mu, t) = inner(log((c_0 + A(t)) mu), t)`` for a linear token pair (``prior_weight`` = c_0)."""

    def __init__(self, inner: nnx.Module, pair: Any, schedule: Any):
        self.inner = inner
        self.schedule = schedule
        self.pair = pair
        self.head = getattr(inner, "head", "simplex")

    def __call__(self, mu: jax.Array, t: jax.Array) -> jax.Array:
        c = self.pair.total_weight(jnp.asarray(self.schedule.A(t), jnp.float32))
        c = c.reshape((-1,) + (1,) * (mu.ndim - 1))
        return self.inner(jnp.log(jnp.maximum(c * mu, 1e-30)), t)


class RevealedTokenInput(nnx.Module):
    r"""``net(mu, t) = inner(1[N >= 1], t)`` with counts :math:`N = (c_0 + A(t))\mu - a_0`
    (``pair.statistic_from_mean``): the revealed one-hot per position, zeros where nothing is revealed."""

    def __init__(self, inner: nnx.Module, pair: Any, schedule: Any):
        if not getattr(pair, "reveals_on_first_count", False):
            raise ValueError("pair: RevealedTokenInput needs a token pair whose first count reveals the token "
                             "(the noiseless Dirichlet-Categorical channel, noise = 0)")
        self.inner = inner
        self.schedule = schedule
        self.pair = pair
        self.head = getattr(inner, "head", "simplex")

    def __call__(self, mu: jax.Array, t: jax.Array) -> jax.Array:
        counts = self.pair.statistic_from_mean(mu, jnp.asarray(self.schedule.A(t), jnp.float32))
        return self.inner((counts >= 0.5).astype(jnp.float32), t)

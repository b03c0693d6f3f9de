r"""Input map for token denoisers under the Poissonised Dirichlet pair.

The posterior mean :math:`\mu = (a_0 + N)/(c_0 + A)` of a position is a poor network input: its
scale shrinks with :math:`A`.  :class:`LogConcentrationInput` feeds the log posterior
concentration instead, :math:`\log((c_0 + A(t))\mu) = \log(a_0 + N)`, which is
:math:`\log a_0` for a class never observed and grows like :math:`\log N` with the counts -- the
same numbers at every :math:`t` for the same evidence.

Under the noiseless channel, :class:`~pmm_ppl.nets.carry_revealed.RevealedTokenInput` feeds only the
revealed one-hot instead (the counts carry no further information there).
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

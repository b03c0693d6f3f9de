r"""Exact output for revealed tokens under the noiseless Poissonised Dirichlet channel.

With noise :math:`\epsilon = 0` a one-hot token :math:`x = e_j` is observed as Poisson counts with
rates :math:`\alpha x`: only class :math:`j` can ever be counted.  After cumulative accuracy
:math:`A` the counts are :math:`N = (C\mu - a_0)` with :math:`C = c_0 + A(t)`, and a position with
:math:`N_j \ge 1` for some :math:`j` is *revealed*: :math:`x = e_j` with certainty, so the exact
posterior mean is :math:`E^*[x \mid \mu] = e_j` whatever the data distribution.  Only unrevealed
positions (:math:`N = 0`, probability :math:`e^{-A}`) carry uncertainty.

:class:`CarryRevealed` hard-codes that part of the oracle (MDLM's "carry-over unmasking"):

.. math::

    f(\mu, t)_{\ell} = \begin{cases} e_{\arg\max_k N_{\ell k}} & \max_k N_{\ell k} \ge 1/2 \\
    \mathrm{inner}(\mu, t)_\ell & \text{otherwise,} \end{cases}

so the network spends no capacity (and the likelihood bound no nats) on copying revealed tokens --
with a softmax head a copied token always leaks a little mass, which the ELBO weight
:math:`A'(t)` multiplies without bound as :math:`t \to 1`.  Counts are whole numbers, so the 1/2
threshold is exact in float32.  Only for one-hot data and ``noise == 0``.

For the same reason the count of a revealed class says nothing about the data beyond *which* class it
is (:math:`N_j \mid x = e_j` is Poisson(:math:`A`) conditioned on :math:`N_j \ge 1`, whatever the
neighbours): :class:`RevealedTokenInput` feeds the inner net exactly that, the indicator
:math:`\mathbb 1[N \ge 1]` -- the revealed one-hot, all zeros for a masked position (after the first
linear layer, a learned mask embedding: MDLM's input).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from pmm_ppl.conjugate.validation import PMMInputError


class RevealedTokenWrapper(nnx.Module):
    """Base of the wrappers that read the counts of the noiseless channel: holds ``inner`` (a token denoiser
    ``(B, L, K), (B,) -> (B, L, K)``), ``pair`` (with ``reveals_on_first_count``: ``DirichletCategorical``
    with ``noise == 0``) and ``schedule`` (giving :math:`A(t)`, to recover the counts from ``mu``)."""

    def __init__(self, inner: nnx.Module, pair: Any, schedule: Any):
        if not getattr(pair, "reveals_on_first_count", False):
            raise PMMInputError(f"pair: {type(self).__name__} needs a token pair whose first count reveals the token "
                                "(the noiseless Dirichlet-Categorical channel, noise = 0)")
        self.inner = inner
        self.schedule = schedule
        self.pair = pair
        self.head = getattr(inner, "head", "simplex")

    def counts(self, mu: jax.Array, t: jax.Array) -> jax.Array:
        r"""Counts :math:`N = (c_0 + A(t))\mu - a_0` recovered from the posterior mean (``pair.statistic_from_mean``)."""
        return self.pair.statistic_from_mean(mu, jnp.asarray(self.schedule.A(t), jnp.float32))


class CarryRevealed(RevealedTokenWrapper):
    """``net(mu, t)``: the revealed token where a position has a count, ``inner(mu, t)`` elsewhere
    (arguments: :class:`RevealedTokenWrapper`)."""

    def __call__(self, mu: jax.Array, t: jax.Array) -> jax.Array:
        n = self.counts(mu, t)
        revealed = jnp.max(n, axis=-1, keepdims=True) >= 0.5
        token = jax.nn.one_hot(jnp.argmax(n, axis=-1), mu.shape[-1], dtype=jnp.float32)
        return jnp.where(revealed, token, self.inner(mu, t))


class RevealedTokenInput(RevealedTokenWrapper):
    """``net(mu, t) = inner(1[N >= 1], t)``: the revealed one-hot per position, zeros where nothing is
    revealed (arguments: :class:`RevealedTokenWrapper`)."""

    def __call__(self, mu: jax.Array, t: jax.Array) -> jax.Array:
        return self.inner((self.counts(mu, t) >= 0.5).astype(jnp.float32), t)

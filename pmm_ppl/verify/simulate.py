r"""The simulation design shared by the NUTS check and SBC.

One *experiment* for a pair is

.. math::

   \theta \sim \pi(\theta), \qquad
   \alpha_i \sim \text{design}, \qquad
   y_i \mid \theta \sim \pi_{\alpha_i}(y \mid \theta), \quad i = 1..n,

with the prior drawn by ``pair.sample_data`` and the observations from
:math:`\pi_{\alpha}(y \mid \theta)` -- the likelihood of ``pair.model`` and of the closed form,
whose parameter is :math:`\theta` itself.  How they are drawn is decided once per pair, before any
trace (:func:`identity_link`):

* if ``pair.link`` is the identity on prior draws, with ``pair.sample_observation(key, theta, alpha)``
  -- the pair's own sampler, which must work with a traced accuracy (NumPyro's ``Multinomial``, for
  instance, cannot sample with a traced ``total_count``);
* otherwise (a noisy channel, ``link(x) != x``) with ``pair.observation(theta, alpha).sample(key)``,
  because ``sample_observation`` would draw from :math:`\pi_\alpha(\cdot \mid \mathrm{link}(\theta))`.

Accuracies are *mixed* so that the closed form is checked with unequal weights:

* ``accuracy_kind == "real"``: :math:`\log\alpha_i \sim U(\log 0.2, \log 2)`;
* ``accuracy_kind == "integer"``: :math:`\alpha_i` uniform on :math:`\{1, \dots, 5\}`
  (returned as whole-valued floats, the dtype every pair's update receives).

Coordinates.  Checks compare :math:`\theta` coordinate by coordinate: the event axes are flattened
to one axis of size ``k`` (``k = 1`` for an elementwise pair, ``K`` for a simplex, ``2`` for
``(mean, precision)``, ``d`` for a vector).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from pmm_ppl.conjugate import ConjugatePair, get_pair
from pmm_ppl.conjugate import validation as V

#: XLA options for the verification programs: LLVM optimisation off roughly halves their compile
#: time (which dominates a check: each program runs once or a few times), at a small run-time cost.
FAST_COMPILE = {"xla_backend_optimization_level": 0}
#: SBC runs hundreds of thousands of posterior draws, 4x slower without LLVM optimisation; level 1
#: measured best for compile + one run (beta_binomial, 4000 x 99 draws: ~6 s CPU vs ~6.4 at level 0
#: and ~11 at the default).
LIGHT_OPTIMISATION = {"xla_backend_optimization_level": 1}

REAL_ACCURACY_RANGE = (0.2, 2.0)
INTEGER_ACCURACY_RANGE = (1, 5)


def resolve_pair(pair) -> ConjugatePair:
    """Accept a pair instance or a registered name (``KeyError`` listing the registered names)."""
    if isinstance(pair, str):
        return get_pair(pair)
    if not isinstance(pair, ConjugatePair):
        raise V.PMMInputError(f"pair: expected a ConjugatePair or a registered name, got {type(pair).__name__}")
    return pair


def check_count(value, name: str, minimum: int = 1) -> int:
    """A whole number >= ``minimum`` (Python int), else ``PMMInputError`` naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise V.PMMInputError(f"{name}: must be an integer >= {minimum}, got {value!r}")
    return int(value)


def sample_accuracies(pair: ConjugatePair, key: jax.Array, num_obs: int) -> jax.Array:
    """Mixed accuracies of shape ``(num_obs,)`` (see the module docstring for the design)."""
    if pair.accuracy_kind == "integer":
        lo, hi = INTEGER_ACCURACY_RANGE
        return jax.random.randint(key, (num_obs,), lo, hi + 1).astype(jnp.result_type(float))
    lo, hi = REAL_ACCURACY_RANGE
    return jnp.exp(jax.random.uniform(key, (num_obs,), minval=math.log(lo), maxval=math.log(hi)))


@functools.partial(jax.jit, static_argnums=(0, 1), compiler_options=FAST_COMPILE)
def _link_gap(pair: ConjugatePair, num_checks: int, key: jax.Array) -> jax.Array:
    x = pair.sample_data(key, (num_checks,))
    return jnp.max(jnp.abs(pair.link(x) - x) / (1.0 + jnp.abs(x)))


def identity_link(pair: ConjugatePair, num_checks: int = 16) -> bool:
    """Whether ``pair.link(x) == x`` (to float32 rounding) on ``num_checks`` prior draws (fixed key)."""
    return bool(_link_gap(pair, num_checks, jax.random.key(20240601)) <= 1e-6)


def simulate_observations(
    pair: ConjugatePair, key: jax.Array, theta: jax.Array, alphas: jax.Array, via_link: bool
) -> jax.Array:
    """:math:`y_i \\sim \\pi_{\\alpha_i}(\\cdot \\mid \\theta)` stacked on axis 0.

    ``via_link`` (static; :func:`identity_link`) selects ``pair.sample_observation`` (valid only when
    the link is the identity) over ``pair.observation(theta, alpha).sample``."""
    keys = jax.random.split(key, alphas.shape[0])
    if via_link:
        return jax.vmap(lambda k, a: pair.sample_observation(k, theta, a))(keys, alphas)
    return jax.vmap(lambda k, a: pair.observation(theta, a).sample(k))(keys, alphas)


def simulate_experiment(pair: ConjugatePair, key: jax.Array, num_obs: int, via_link: bool):
    """One experiment: ``(theta, alphas, ys)`` with theta from the prior (``via_link``: see above)."""
    k_theta, k_alpha, k_obs = jax.random.split(key, 3)
    theta = pair.sample_data(k_theta)
    alphas = sample_accuracies(pair, k_alpha, num_obs)
    ys = simulate_observations(pair, k_obs, theta, alphas, via_link)
    return theta, alphas, ys


def flatten_event(pair: ConjugatePair, x: jax.Array) -> jax.Array:
    """Flatten the event axes of ``x`` (shape ``batch + event``) into one trailing axis of size ``k``."""
    event = tuple(pair.prior().event_shape)
    batch = x.shape[: x.ndim - len(event)]
    return jnp.reshape(x, batch + (int(np.prod(event, dtype=int)),))


def coordinate_names(pair: ConjugatePair) -> list[str]:
    """Labels ``theta`` (scalar event) or ``theta[i, j]`` for the flattened coordinates."""
    event = tuple(pair.prior().event_shape)
    if not event:
        return ["theta"]
    return ["theta[" + ", ".join(map(str, idx)) + "]" for idx in np.ndindex(*event)]

r"""The step kernels of a PMM chain: written once, scanned by every sampler and estimator.

One step of the generative chain (docs/design.md section 5) from a state after cumulative accuracy
:math:`A` at time :math:`t` to the next, with step accuracy :math:`\alpha`:

.. math::

   \hat x = \mathrm{estimate}(\mu, \text{state}), \qquad
   y \sim \pi_{\alpha}(\cdot \mid \mathrm{link}(\hat x)), \qquad
   \text{posterior}' = \mathrm{update}(\text{posterior}, y, \alpha),

the *plug-in* step.  The *ancestral* step (:func:`ancestral_step`) draws :math:`\tilde x` from the
per-coordinate posterior instead of plugging in its mean; it is exact in the continuous-time limit for
every pair.  Their building block :func:`observe` (draw one observation of a given value and
fold it in; a no-op where :math:`\alpha = 0`) is also the forward chain :math:`y \sim
\pi_\alpha(\cdot \mid x)` of the likelihood bound's path estimator.

The shape follows blackjax: a :class:`ChainState` and a :class:`StepInfo` NamedTuple, :func:`init`
and a pure ``step(pair, key, state, estimate, t_next, alpha) -> (state, info)`` that scans well.
``estimate(mean, state)`` returns :math:`\hat x`; it reads what it needs from the state, the time
``state.time`` (networks, ``f(mu, t)``) or the cumulative accuracy ``state.accuracy`` (exact oracles
and the SDE modules, ``g(mu, A)``), so one kernel serves both conventions without converting between
them.  ``draw(key, xhat, alpha)`` replaces the observation draw (default
``pair.sample_observation``); the SDE module passes Brownian increments as the "key" to share one
noise path between grids.

Scanned by :func:`pmm_ppl.process.sampler.sample`, :func:`pmm_ppl.sde.diffusion.pmm_chain` and
:func:`pmm_ppl.sde.cox.tau_leap`; :func:`observe` also by the path estimator of
:func:`pmm_ppl.process.elbo.discrete_elbo`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpyro.distributions as dist

from pmm_ppl.conjugate.base import ConjugatePair
from pmm_ppl.conjugate.laws import exact_log_probs
from pmm_ppl.conjugate.validation import PMMInputError

Array = jax.Array


class ChainState(NamedTuple):
    """``posterior``: the pair's state (batch shape ``(B, ...)``); ``time``: :math:`t` (scalar);
    ``accuracy``: the cumulative accuracy :math:`A` reached (scalar)."""

    posterior: Any
    time: Array
    accuracy: Array


class StepInfo(NamedTuple):
    """``estimate``: the value :math:`\\hat x` plugged into the channel; ``observation``: the draw :math:`y`."""

    estimate: Array
    observation: Array


@dataclasses.dataclass(frozen=True)
class PosteriorDenoiser:
    """A denoiser that also gives its per-coordinate posterior (the input of :func:`ancestral_step`):
    ``mean(mu, t)`` is :math:`E[x \\mid \\mu]` and ``posterior(mu, t)`` a distribution of :math:`x` per
    coordinate (an element, or a position of a pair with an event axis; batch shape = the data's batch
    shape) whose mean is ``mean(mu, t)``.  Called as a plain denoiser it returns the mean.  Frozen and
    hashable (its functions are the static part of the denoiser under ``jit``)."""

    mean: Callable[[Array, Array], Array]
    posterior: Callable[[Array, Array], Any]

    def __call__(self, mu: Array, t: Array) -> Array:
        return self.mean(mu, t)


def posterior_atoms(q: Any) -> tuple[Array, Array]:
    r"""The atoms of a *discrete* per-coordinate posterior: ``(values, log_probs)`` with ``values`` of shape
    ``(*batch, J, *event)`` and ``log_probs`` ``(*batch, J)`` (``-inf`` for an atom of probability 0), so that
    :math:`q(x_d) = \sum_j e^{\text{log\_probs}_{dj}}\, \delta_{\text{values}_{dj}}`.

    Discrete laws here: any law with an ``atoms()`` method giving that pair (the level heads'
    :class:`~pmm_ppl.conjugate.laws.LevelLaw`, a token's
    :class:`~pmm_ppl.conjugate.laws.OneHotCategorical`), a mixture of point masses (``MixtureSameFamily``
    of ``Delta`` -- the empirical oracle's posterior), and a ``Categorical`` whose value is its index
    (counts ``0..K-1`` -- the Poisson-mixture oracle's).  Anything else (e.g. the Gaussian-mixture
    oracle's or a mixture head's continuous posterior) is refused: its mixture density over the
    channel has no finite sum."""
    if callable(getattr(q, "atoms", None)):
        return q.atoms()
    if isinstance(q, dist.MixtureSameFamily) and isinstance(q.component_distribution, dist.Delta):
        values, probs = q.component_distribution.v, q.mixing_distribution.probs
    elif isinstance(q, (dist.CategoricalProbs, dist.CategoricalLogits)):
        probs = q.probs
        values = jnp.broadcast_to(jnp.arange(probs.shape[-1], dtype=jnp.result_type(float)), probs.shape)
    else:
        raise PMMInputError(
            f"denoiser.posterior: the ancestral receiver needs a discrete per-coordinate posterior (a mixture of "
            f"point masses, or a Categorical over counts), got {type(q).__name__}")
    return jnp.asarray(values, jnp.result_type(float)), exact_log_probs(probs)


Estimate = Callable[[Array, ChainState], Array]
Draw = Callable[[Any, Array, Array], Array]


def init(pair: ConjugatePair, batch_shape: tuple[int, ...], time: float = 0.0, accuracy: float = 0.0,
         posterior: Any = None) -> ChainState:
    """The chain at ``time`` with cumulative ``accuracy``; ``posterior`` defaults to the prior state."""
    dtype = jnp.result_type(float)
    posterior = pair.init(tuple(batch_shape)) if posterior is None else posterior
    return ChainState(posterior, jnp.asarray(time, dtype), jnp.asarray(accuracy, dtype))


def observe(pair: ConjugatePair, key: Any, posterior: Any, value: Array, alpha: Array,
            draw: Draw | None = None) -> tuple[Any, Array]:
    r"""Draw :math:`y \sim \pi_\alpha(\cdot \mid \mathrm{link}(\text{value}))` and fold it into ``posterior``.

    A step with :math:`\alpha = 0` (integer schedules) is a no-op: the state is carried over (the
    draw is made at :math:`\alpha = 1` and discarded, so no law is ever built at accuracy 0).
    Returns ``(posterior', y)``."""
    draw = pair.sample_observation if draw is None else draw
    positive = alpha > 0
    safe = jnp.where(positive, alpha, jnp.ones_like(alpha))
    y = draw(key, value, safe)
    new = pair.update(posterior, y, safe)
    new = jax.tree_util.tree_map(lambda n, o: jnp.where(positive, n, o), new, posterior)
    return new, y


def plug_in_step(pair: ConjugatePair, key: Any, state: ChainState, estimate: Estimate, t_next: Array, alpha: Array,
                 draw: Draw | None = None) -> tuple[ChainState, StepInfo]:
    r"""One plug-in step: :math:`\hat x = \mathrm{estimate}(\mu, \text{state})`, then :func:`observe` at
    :math:`\hat x`.  Exact in the continuous-time limit for the pairs whose ``plug_in_exact`` is
    ``"limit"`` (the channel's law is affine in :math:`x`), biased otherwise."""
    xhat = estimate(pair.mean(state.posterior), state)
    posterior, y = observe(pair, key, state.posterior, xhat, alpha, draw)
    return ChainState(posterior, jnp.asarray(t_next, state.time.dtype), state.accuracy + alpha), StepInfo(xhat, y)


def ancestral_step(pair: ConjugatePair, key: Any, state: ChainState, estimate: Callable[[Array, ChainState], Any],
                   t_next: Array, alpha: Array, draw: Draw | None = None) -> tuple[ChainState, StepInfo]:
    r"""One ancestral step: draw :math:`\tilde x_d \sim q(x_d \mid \mu)` for every coordinate independently
    (``estimate`` returns the per-coordinate posterior, anything with ``sample(key)``), then :func:`observe`
    at :math:`\tilde x`.  Seen in its own filtration the observation process has the posterior average of
    :math:`x`'s generator, and the coordinates' generators add, so only the per-coordinate marginals enter:
    exact in the continuous-time limit for every pair (per-step error :math:`O(\alpha^2)`), and for a
    single coordinate every step is an exact draw from the posterior predictive."""
    k_x, k_y = jax.random.split(key)
    q = estimate(pair.mean(state.posterior), state)
    x_tilde = jnp.asarray(q.sample(k_x), jnp.result_type(float))
    posterior, y = observe(pair, k_y, state.posterior, x_tilde, alpha, draw)
    return ChainState(posterior, jnp.asarray(t_next, state.time.dtype), state.accuracy + alpha), StepInfo(x_tilde, y)


#: the step kernels by sampler name
STEPS = {"plug_in": plug_in_step, "ancestral": ancestral_step}


def scan_steps(step: Callable, pair: ConjugatePair, state: ChainState, estimate: Estimate, keys: Any, t_next: Array,
               alphas: Array, draw: Draw | None = None, collect: Callable[[ChainState, StepInfo], Any] | None = None):
    """``jax.lax.scan`` of ``step`` over per-step ``keys``, next times and accuracies; returns the final
    state and the stacked ``collect(state, info)`` (``None`` when not given)."""

    def body(s, inp):
        k, t, a = inp
        new, info = step(pair, k, s, estimate, t, a, draw)
        return new, (None if collect is None else collect(new, info))

    return jax.lax.scan(body, state, (keys, t_next, alphas))


__all__ = ["STEPS", "ChainState", "PosteriorDenoiser", "StepInfo", "ancestral_step", "init", "observe", "plug_in_step", "posterior_atoms", "scan_steps"]

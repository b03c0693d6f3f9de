r"""The discrete plug-in PMM sampler (docs/design.md section 5).

Starting from the prior state, for steps :math:`i = 1..T` of a discretised schedule
(:math:`t_0 = 0 < \dots < t_T = 1`, accuracies :math:`\alpha_i`):

.. math::

   \hat x_i = f(\mu_{i-1}, t_{i-1}), \qquad
   y_i \sim \pi_{\alpha_i}(\cdot \mid \mathrm{link}(\hat x_i)), \qquad
   \text{state}_i = \mathrm{update}(\text{state}_{i-1}, y_i, \alpha_i),

and the result is :math:`f(\mu_T, 1)` (``output="denoised"``, default), :math:`\mu_T`
(``output="mean"``), or a draw of the datum from the reconstruction law
:math:`p_{\mathrm{rec}}(x \mid \text{state}_T)` at :math:`f(\mu_T, 1)` (``output="draw"``; the law
whose probability the likelihood bound scores, :mod:`pmm_ppl.conjugate.reconstruction`: grid levels,
integer counts, one-hot tokens), so that the samples are draws from the model the bound is about.  The number of steps is free and independent of training.

When is it exact?  With the exact oracle :math:`f = E^*[x \mid \mu]` the sampler reproduces
:math:`p^*` as the steps shrink **only for pairs whose channel law is affine in** :math:`x`
(``pair.plug_in_exact == "limit"``: Normal, Poisson-type and the categorical token channel).  For
the others (Gamma channels, Binomial/Multinomial steps of more than one trial, Normal-Gamma) the
plug-in replaces the posterior average of the channel by the channel at the average, and the
sampler converges to a different law (docs/design.md section 5).

Implementation.  The whole chain is one ``jax.lax.scan`` of the plug-in kernel
(:func:`pmm_ppl.process.kernels.plug_in_step`) over the (pre-split) keys, times and
accuracies, inside one ``jax.jit`` whose static arguments are the pair, the denoiser's static part,
the shapes and the output options; the grid and the accuracies are *array* arguments.  So the
program size does not grow with ``T`` (nothing is unrolled), a new schedule with the same ``T`` or
a new key reuses the compiled program, and a new ``T`` compiles the same scan once more (array
lengths are part of a compiled program's signature).  The denoiser is split into array leaves
(passed as arguments -- e.g. the weights of a Flax NNX module or of a ``jax.tree_util.Partial``)
and a hashable static rest (the function, the module's structure), so new weights do not
recompile and are not baked into the program as constants.

Steps with :math:`\alpha_i = 0` (integer schedules, see :mod:`.schedules`) are no-ops: the state
is carried over unchanged.

Conditioning (``condition=``).  Replacement conditioning: before each observation the known
coordinates of :math:`\hat x` are overwritten by their known values, so the observations of those
coordinates are observations of the truth and their posterior means converge to the given values,
while the other coordinates follow the denoiser's :math:`E^*[x \mid \mu]`, which sees the
accumulating evidence about the known coordinates through :math:`\mu`.  This is exact for the known
coordinates and, for the others, an approximation of the conditional law :math:`p^*(x_u \mid x_k)`:
early on :math:`f` uses the noisy :math:`\mu_k` rather than :math:`x_k` itself; the approximation is
exact when the target factorises, :math:`p^* = p^*(x_k)\,p^*(x_u)` (then :math:`f_u` ignores
:math:`\mu_k`), and otherwise biased -- it is the classic "replacement" inpainting of diffusion
models, with the same caveat.  Measured with the exact oracle (T = 100, geometric schedule,
:math:`A_{\max} = 10^4`): for :math:`p^* = \tfrac12 N((2,2), \tfrac14 I) + \tfrac12 N((-2,-2), \tfrac14 I)`
and :math:`x_1 = 2`, about 6% of the :math:`x_2` samples fall in the wrong component (exact:
:math:`10^{-14}`) and the within-component s.d. is 0.57 instead of 0.5; for means :math:`\pm 1`
and :math:`x_1 = 0.3`, :math:`P(x_2 > 0)` is 0.63 instead of 0.90.  Exact conditioning needs a
denoiser of the conditional, :math:`E^*[x_u \mid \mu_u, x_k]` (e.g. a network trained with the
mask as an input).
``output="denoised"`` also overwrites the known coordinates of the final :math:`f(\mu_T, 1)`.
:class:`Inpaint` (any pair) and :class:`Prefix` (token pairs: known first positions) implement it;
any object with an ``apply(xhat) -> xhat`` method that is a pytree (e.g. a NamedTuple) works.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pmm_ppl.conjugate.base import ConjugatePair
from pmm_ppl.conjugate.validation import PMMInputError, check_category_indices, check_whole_number
from pmm_ppl.process import distributional, kernels
from pmm_ppl.process.denoiser_args import combine_denoiser as _combine
from pmm_ppl.process.denoiser_args import partition_denoiser as _partition

Array = jax.Array
Denoiser = Callable[[Array, Array], Array]
OUTPUTS = ("denoised", "mean", "draw")


# ---------------------------------------------------------------------------- conditioning
class Inpaint(NamedTuple):
    """Known coordinates: where ``mask`` is True, :math:`\\hat x` is replaced by ``values``.

    ``mask`` (bool) and ``values`` broadcast to ``(num_samples, *data_shape)``; for pairs with an
    event axis (tokens) the mask must be constant along it (whole positions are known), and
    ``values`` must be in the data's support where the mask is set."""

    mask: Array
    values: Array

    def apply(self, xhat: Array) -> Array:
        return jnp.where(self.mask, jnp.asarray(self.values, xhat.dtype), xhat)


class Prefix(NamedTuple):
    """Token pairs (data ``(..., L, K)``): the first ``L0`` positions are the given class indices.

    ``tokens``: integers in ``0..K-1`` of shape ``(L0,)`` (same prefix for every sample) or
    ``(num_samples, L0)``.  Equivalent to :class:`Inpaint` with the one-hot values on those positions."""

    tokens: Array

    def apply(self, xhat: Array) -> Array:
        num_classes, length = xhat.shape[-1], self.tokens.shape[-1]
        onehot = jax.nn.one_hot(self.tokens, num_classes, dtype=xhat.dtype)
        onehot = jnp.broadcast_to(onehot, xhat.shape[:-2] + (length, num_classes))
        return xhat.at[..., :length, :].set(onehot)


def _check_condition(condition: Any, pair: ConjugatePair, full_shape: tuple[int, ...]) -> Any:
    if condition is None:
        return None
    if isinstance(condition, Inpaint):
        mask = np.asarray(condition.mask)
        if mask.dtype != bool:
            if not np.all(np.isin(mask, (0, 1))):
                raise PMMInputError("condition.mask: expected booleans (or 0/1)")
            mask = mask.astype(bool)
        try:
            mask_b = np.broadcast_to(mask, full_shape)
            values_b = np.broadcast_to(np.asarray(condition.values), full_shape)
        except ValueError as err:
            raise PMMInputError(
                f"condition: mask {mask.shape} and values {np.shape(condition.values)} must broadcast to (num_samples, *data_shape) = {full_shape}"
            ) from err
        if pair.event_ndim:
            axes = tuple(range(len(full_shape) - pair.event_ndim, len(full_shape)))
            if not np.all(mask_b == mask_b.any(axis=axes, keepdims=True)):
                raise PMMInputError("condition.mask: for a pair with an event axis the mask must be constant along it (whole positions)")
        known = values_b[mask_b.any(axis=tuple(range(len(full_shape) - pair.event_ndim, len(full_shape))))] if pair.event_ndim else values_b[mask_b]
        if known.size:
            pair.validate_data(known, "condition.values")
        dtype = jnp.result_type(float)
        return Inpaint(jnp.asarray(mask), jnp.asarray(condition.values, dtype=dtype))
    if isinstance(condition, Prefix):
        if pair.event_ndim != 1 or len(full_shape) < 3:
            raise PMMInputError("condition: Prefix needs a token pair (event_ndim 1) and data_shape (L, K)")
        tokens = np.asarray(condition.tokens)
        length, num_classes = full_shape[-2], full_shape[-1]
        if tokens.ndim not in (1, 2) or (tokens.ndim == 2 and tokens.shape[0] != full_shape[0]):
            raise PMMInputError(f"condition.tokens: expected shape (L0,) or (num_samples, L0), got {tokens.shape}")
        if tokens.shape[-1] > length:
            raise PMMInputError(f"condition.tokens: prefix of length {tokens.shape[-1]} is longer than the sequence ({length})")
        check_category_indices(tokens, "condition.tokens", num_classes)
        return Prefix(jnp.asarray(tokens, dtype=jnp.int32))
    if not callable(getattr(condition, "apply", None)):
        raise PMMInputError(f"condition: expected Inpaint, Prefix or an object with apply(xhat), got {type(condition).__name__}")
    return condition


# ---------------------------------------------------------------------------- the chain
class _ConditionedDraw(NamedTuple):
    """A per-coordinate posterior whose draws get the known coordinates overwritten (ancestral + condition)."""

    base: Any
    apply: Callable[[Array], Array]

    def sample(self, key: Array) -> Array:
        return self.apply(self.base.sample(key))


@functools.partial(jax.jit, static_argnames=("pair", "den_static", "state_batch", "output", "return_trajectory", "sampler",
                                             "reconstruction"))
def _run(den_arrays, key, t_grid, alphas, condition, *, pair, den_static, state_batch, output, return_trajectory, sampler,
         reconstruction=None):
    """A scan of the sampler's step kernel (:mod:`.kernels`) over the grid, then the output."""
    denoiser = _combine(den_arrays, den_static)
    num_samples = state_batch[0]
    apply = (lambda xhat: xhat) if condition is None else condition.apply
    dtype = jnp.result_type(float)

    def mean_estimate(mu, state):
        return apply(denoiser(mu, jnp.full((num_samples,), state.time, dtype)))

    posterior = distributional.posterior_fn(denoiser, pair)

    def posterior_estimate(mu, state):
        return _ConditionedDraw(posterior(mu, jnp.full((num_samples,), state.time, dtype)), apply)

    estimate = mean_estimate if sampler == "plug_in" else posterior_estimate
    state0 = kernels.init(pair, state_batch, time=t_grid[0])
    keys = jax.random.split(key, alphas.shape[0])
    collect = (lambda state, info: pair.mean(state.posterior)) if return_trajectory else None
    state, traj = kernels.scan_steps(kernels.STEPS[sampler], pair, state0, estimate, keys, t_grid[1:], alphas, collect=collect)
    mu = pair.mean(state.posterior)
    if output == "mean":
        out = mu
    else:
        out = mean_estimate(mu, state)
        if output == "draw":
            out = apply(reconstruction.sample(jax.random.fold_in(key, alphas.shape[0]), pair, state.posterior, out))
    if return_trajectory:
        return out, jnp.concatenate([pair.mean(state0.posterior)[None], traj], axis=0)
    return out


def _warn_if_biased(pair: ConjugatePair, largest_step: float) -> None:
    """Warn when the plug-in sampler cannot be exact for the pair (a "unit_steps" pair whose steps are all
    of at most one unit is exact); Python's default warning filter shows it once per call site."""
    exact = pair.plug_in_exact == "limit" or (pair.plug_in_exact == "unit_steps" and largest_step <= 1.0)
    if exact:
        return
    when = ("for steps of more than one unit of accuracy" if pair.plug_in_exact == "unit_steps"
            else "at every step size")
    warnings.warn(f"the plug-in sampler is biased for the {pair.name!r} pair {when} (plug_in_exact = "
                  f"{pair.plug_in_exact!r}): its channel's law is not affine in x", stacklevel=3)


def sample(
    pair: ConjugatePair,
    denoiser: Denoiser,
    key: Array,
    num_samples: int,
    data_shape: tuple[int, ...],
    schedule: Any,
    num_steps: int,
    return_trajectory: bool = False,
    condition: Any = None,
    output: str = "denoised",
    sampler: str = "plug_in",
    reconstruction: Any = None,
) -> Array | tuple[Array, Array]:
    """Draw ``num_samples`` samples of shape ``data_shape`` with the plug-in PMM sampler.

    ``denoiser(mu, t)``: ``mu`` ``(num_samples, *data_shape)``, ``t`` ``(num_samples,)``.  The
    schedule is discretised into ``num_steps`` steps (integer accuracies when
    ``pair.accuracy_kind == "integer"``).  Returns the samples ``(num_samples, *data_shape)`` --
    :math:`f(\\mu_T, 1)` or, with ``output="mean"``, :math:`\\mu_T` -- and, with
    ``return_trajectory=True``, also the posterior means ``(T+1, num_samples, *data_shape)``
    (prior mean first).  ``condition``: :class:`Inpaint`, :class:`Prefix` or ``None`` (module
    docstring).  ``sampler``: ``"plug_in"`` (observe at the denoiser's mean) or ``"ancestral"`` (observe
    at a draw from the denoiser's per-coordinate posterior, ``denoiser.posterior(mu, t)``, e.g. an exact
    oracle or a :class:`~pmm_ppl.process.kernels.PosteriorDenoiser`; exact in the limit for every pair).
    Deterministic given ``key``.
    """
    if not isinstance(pair, ConjugatePair):
        raise PMMInputError(f"pair: expected a ConjugatePair (see pmm_ppl.get_pair), got {type(pair).__name__}")
    if not callable(denoiser):
        raise PMMInputError(f"denoiser: expected a callable f(mu, t), got {type(denoiser).__name__}")
    num_samples = check_whole_number(num_samples, "num_samples")
    num_steps = check_whole_number(num_steps, "num_steps")
    try:
        data_shape = tuple(int(d) for d in (data_shape if np.ndim(data_shape) else (data_shape,)))
    except (TypeError, ValueError) as err:
        raise PMMInputError(f"data_shape: expected a tuple of positive integers, got {data_shape!r}") from err
    if any(d < 1 for d in data_shape):
        raise PMMInputError(f"data_shape: expected positive sizes, got {data_shape}")
    event = tuple(pair.event_shape())
    if len(data_shape) < len(event) or data_shape[len(data_shape) - len(event) :] != event:
        raise PMMInputError(f"data_shape: must end with the pair's event shape {event}, got {data_shape}")
    if output not in OUTPUTS:
        raise PMMInputError(f"output: expected one of {OUTPUTS}, got {output!r}")
    if sampler not in kernels.STEPS:
        raise PMMInputError(f"sampler: expected one of {sorted(kernels.STEPS)}, got {sampler!r}")
    if sampler == "ancestral" and not distributional.has_posterior(denoiser, pair):
        raise PMMInputError("denoiser: the ancestral sampler needs a denoiser with a per-coordinate posterior, "
                            "posterior(mu, t) (an exact oracle, a level or mixture head, or a PosteriorDenoiser); "
                            f"this one only gives a mean, and the {pair.name!r} pair's data are not fixed in law by their mean")
    if not hasattr(schedule, "discretise"):
        raise PMMInputError(f"schedule: expected a schedule with discretise(num_steps), got {type(schedule).__name__}")
    if not isinstance(key, (jax.Array, np.ndarray)):
        raise PMMInputError(f"key: expected a jax.random key, got {type(key).__name__}")
    full_shape = (num_samples,) + data_shape
    condition = _check_condition(condition, pair, full_shape)
    if output != "draw":
        reconstruction = None
    elif reconstruction is None:
        reconstruction = pair.default_reconstruction()
    elif not callable(getattr(reconstruction, "sample", None)):
        raise PMMInputError(f"reconstruction: expected a reconstruction law with sample(key, pair, state, xhat) "
                            f"(pmm_ppl.conjugate.reconstruction), got {type(reconstruction).__name__}")
    t_grid, alphas = schedule.discretise(num_steps, integer=pair.accuracy_kind == "integer")
    if sampler == "plug_in":
        _warn_if_biased(pair, float(np.max(np.asarray(alphas))))
    den_arrays, den_static = _partition(denoiser)
    state_batch = full_shape[: len(full_shape) - pair.event_ndim]
    return _run(
        den_arrays,
        key,
        t_grid,
        alphas,
        condition,
        pair=pair,
        den_static=den_static,
        state_batch=state_batch,
        output=output,
        return_trajectory=bool(return_trajectory),
        sampler=sampler,
        reconstruction=reconstruction,
    )


def decode_tokens(probs: Array, method: str = "argmax", key: Array | None = None) -> Array:
    """Class indices from probability vectors over the last axis (token pairs' samples).

    ``method="argmax"``: the most probable class; ``"categorical"``: one draw per position from
    the (renormalised) probabilities, needs ``key``.  Returns int32 indices of shape ``probs.shape[:-1]``."""
    probs = jnp.asarray(probs)
    if probs.ndim < 1:
        raise PMMInputError("probs: needs a last axis over classes")
    if method == "argmax":
        return jnp.argmax(probs, axis=-1).astype(jnp.int32)
    if method == "categorical":
        if key is None:
            raise PMMInputError("key: method='categorical' draws at random and needs a key")
        logits = jnp.log(jnp.clip(probs, 0.0, None))
        return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)
    raise PMMInputError(f"method: expected 'argmax' or 'categorical', got {method!r}")


__all__ = ["Inpaint", "OUTPUTS", "Prefix", "decode_tokens", "sample"]

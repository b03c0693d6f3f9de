r"""Training objectives: regress a denoiser onto :math:`E^*[x \mid \mu_t]` for any registered pair.

Training never simulates the chain (docs/design.md section 3): for a datum :math:`x` and a time
:math:`t`, the posterior state after cumulative accuracy :math:`A(t)` is one draw of
``pair.flow(key, x, A(t))``, and the denoiser sees its mean :math:`\mu_t` and ``t``.
Every weighting below is a positive, :math:`(x, f)`-independent weight :math:`\lambda(t)` times a
divergence :math:`D(x, f)` whose expectation over :math:`x \mid \mu_t` is minimised by
:math:`f = E^*[x \mid \mu_t]` (a squared error, or a Bregman divergence such as the Poisson KL),
so **all weightings have the same minimiser**; they differ in how they spread the network's
capacity over ``t`` and in what the loss value means.

Continuous time (``num_steps=None``): :math:`t \sim U(0, 1)` per example, :math:`A = A(t)`.  With
``times="stratified"`` the batch's times are :math:`t_i = (u + i/B) \bmod 1` from one :math:`u \sim U(0, 1)`
(the low-discrepancy draw of MDLM, Sahoo et al. 2024): each :math:`t_i` is still :math:`U(0, 1)`, so
every per-example loss and the batch mean stay unbiased, while the batch covers :math:`(0, 1)` evenly, one
time in each interval :math:`[k/B, (k+1)/B)`; that removes most of the batch mean's variance that comes
from *which* times were drawn (large for losses whose level varies strongly with ``t``).

* ``"pmm"`` -- posterior-mean matching, :math:`(\dot\kappa_t)^2 \lVert x - f\rVert^2` with the gain
  rate :math:`\dot\kappa_t = \frac{d}{dt} w(A(t)) / C(t)`, :math:`C(t) = c_0 + w(A(t))`
  (:math:`= A'(t)/(c_0 + A(t))` since :math:`w(\alpha) = \alpha` for the library's pairs).  This is
  the limit of :math:`T^2 \kappa_i^2` as the step size :math:`1/T \to 0`: the per-step gain
  :math:`\kappa_i = w_i/C_i \approx \dot\kappa_t / T` vanishes, so the per-step PMM loss is
  rescaled by :math:`T^2`.  With a :class:`GeometricSchedule` whose scale is :math:`c_0` the weight
  is the constant :math:`\log(1 + A_{\max}/c_0)^2`.
* ``"elbo"`` -- :math:`A'(t)\, D_1(x, f)` with :math:`D_1 = ` ``pair.divergence(x, f, 1)``, the KL
  per unit accuracy.  Every channel in the library (Normal, Poisson, Poissonised/Multinomial
  categorical) has a KL linear in :math:`\alpha`, so :math:`\int_0^1 A'(t) D_1\,dt` is the
  continuous-time limit of :math:`\sum_i KL(\pi_{\alpha_i}(\cdot|x) \| \pi_{\alpha_i}(\cdot|f))`,
  the diffusion term of the likelihood bound (:mod:`pmm_ppl.process.elbo`).
* ``"plain"`` -- the unweighted squared error :math:`\lVert x - f \rVert^2`, for every pair
  (also counts and token probabilities: the plain regression baseline).
* ``"none"`` -- no regression term: the log score below alone (``log_score > 0`` required), e.g. the
  masked-token cross-entropy of masked-diffusion models without a squared error beside it.

Discrete time (``num_steps=T``): the schedule is discretised (integer accuracies when
``pair.accuracy_kind == "integer"``), a step :math:`i \in \{1..T\}` is drawn uniformly per example,
the state is the flow at the accuracy *before* the step, :math:`A_{i-1}`, and the denoiser gets
:math:`t_{i-1}` -- exactly what the sampler feeds it before making observation :math:`i`.

* ``"pmm"`` -- :math:`T \kappa_i^2 \lVert x - f \rVert^2`, :math:`\kappa_i = w(\alpha_i)/(c_0 + w(A_{i-1}) + w(\alpha_i))`
  (docs/design.md section 4: :math:`\lVert E[\mu_i|\mu_{i-1},x] - E_f[\mu_i|\mu_{i-1}]\rVert^2`); its
  expectation is the *sum* over the steps.
* ``"elbo"`` -- :math:`T\, KL(\pi_{\alpha_i}(\cdot|x) \| \pi_{\alpha_i}(\cdot|f))`, an unbiased estimate
  of the sum of the T step KLs.
* ``"plain"`` -- :math:`\lVert x - f \rVert^2` as above.
* ``"none"`` -- none, as above.

The log score (``log_score = w > 0``).  A distributional denoiser also gives a per-coordinate posterior
:math:`q(x_d \mid \mu_t)` (:mod:`.distributional`: level heads, mixture heads, token pairs whose law is
fixed by the mean); the loss then adds :math:`w \sum_d -\log q(x_d \mid \mu_t)` at the same draw of
:math:`(t, \mu_t)`.  The log score is a strictly proper scoring rule: its expectation over
:math:`x \mid \mu_t` is minimised exactly by :math:`q = p^*(x_d \mid \mu_t)`, whose mean is
:math:`E^*[x_d \mid \mu_t]` -- so the minimiser of the sum is unchanged, and the whole per-coordinate law
the ancestral sampler draws from is trained, not only its mean.  For tokens it is the cross-entropy of
masked-diffusion models.

Everything is a pure function of its arguments (the denoiser is an argument; nothing here knows
about Flax): jit it with ``pair``, ``schedule``, ``weighting`` and ``num_steps`` static.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pmm_ppl.conjugate.base import ConjugatePair, LinearPair
from pmm_ppl.conjugate.validation import PMMInputError, check_whole_number, is_traced
from pmm_ppl.process import distributional

Array = jax.Array
Denoiser = Callable[[Array, Array], Array]

WEIGHTINGS = ("pmm", "elbo", "plain", "none")
TIME_DRAWS = ("independent", "stratified")


class LossOutput(NamedTuple):
    """``mean``: the batch mean (the scalar to minimise); ``per_example``: shape ``(B,)``;
    ``t``: the times drawn, shape ``(B,)`` (for per-time diagnostics)."""

    mean: Array
    per_example: Array
    t: Array


def _sum_per_example(v: Array) -> Array:
    """Sum over every axis but the first (the examples)."""
    return v.reshape(v.shape[0], -1).sum(-1)


def _to_batch(v: Array, pair: ConjugatePair, x: Array) -> Array:
    """Reshape a per-example vector ``(B,)`` to broadcast against the data's batch shape."""
    batch_ndim = x.ndim - pair.event_ndim
    return v.reshape(v.shape + (1,) * (batch_ndim - 1))


@functools.partial(jax.jit, static_argnums=0)
def _flow(pair: ConjugatePair, key: Array, x: Array, acc: Array) -> Any:
    """``pair.flow`` under jit.  Eagerly, NumPyro validates distribution parameters and rejects the
    zero-scale statistic law of a zero accuracy (``t = 0``, or the first discrete step), although the
    draw itself (the prior state) is well defined; traced, the same code is exact."""
    return pair.flow(key, x, acc)


def check_log_score(log_score: Any, pair: ConjugatePair, denoiser: Any = None) -> float:
    """``log_score``: a finite number >= 0; when positive, the denoiser (if given) must be distributional."""
    if isinstance(log_score, bool) or not isinstance(log_score, (int, float, np.integer, np.floating)) or not (
            np.isfinite(log_score) and log_score >= 0):
        raise PMMInputError(f"log_score: must be a finite number >= 0, got {log_score!r}")
    if log_score > 0 and denoiser is not None and not distributional.has_posterior(denoiser, pair):
        raise PMMInputError(
            f"log_score: needs a denoiser with a per-coordinate posterior, posterior(mu, t) (a level head or a "
            f"mixture head); {type(denoiser).__name__} gives only a mean under the {pair.name!r} pair")
    return float(log_score)


def check_weighting(weighting: Any, log_score: float = 0.0) -> str:
    """``weighting``: one of ``WEIGHTINGS``; ``"none"`` only with ``log_score > 0`` (else there is no loss)."""
    if weighting not in WEIGHTINGS:
        raise PMMInputError(f"weighting: expected one of {WEIGHTINGS}, got {weighting!r}")
    if weighting == "none" and not log_score > 0:
        raise PMMInputError("weighting: 'none' leaves only the log score; it needs log_score > 0")
    return weighting


def draw_times(key: Array, batch: int, times: str = "independent", dtype: Any = jnp.float32) -> Array:
    """``(B,)`` training times, each :math:`U(0, 1)`: independent, or stratified over the batch,
    :math:`t_i = (u + i/B) \bmod 1` (see the module docstring)."""
    if times == "stratified":
        u = jax.random.uniform(key, (), dtype=dtype)
        return jnp.mod(u + jnp.arange(batch, dtype=dtype) / batch, 1.0)
    return jax.random.uniform(key, (batch,), dtype=dtype)


def check_times(times: Any, name: str = "times") -> str:
    if times not in TIME_DRAWS:
        raise PMMInputError(f"{name}: expected one of {TIME_DRAWS}, got {times!r}")
    return times


def _check_args(pair: Any, schedule: Any, x: Any, weighting: Any, num_steps: Any) -> None:
    if not isinstance(pair, ConjugatePair):
        raise PMMInputError(f"pair: expected a ConjugatePair (see pmm_ppl.get_pair), got {type(pair).__name__}")
    for attr in ("A", "dA", "discretise"):
        if not hasattr(schedule, attr):
            raise PMMInputError(f"schedule: expected a schedule with A, dA and discretise, got {type(schedule).__name__}")
    if weighting == "pmm" and not isinstance(pair, LinearPair):
        raise PMMInputError(f"weighting: 'pmm' needs the step gain of a LinearPair; {type(pair).__name__} is not one")
    if num_steps is not None:
        check_whole_number(num_steps, "num_steps", 1, " (or None for continuous time)")
    ndim = np.ndim(x)
    if ndim <= pair.event_ndim:
        raise PMMInputError(
            f"x: needs a leading batch axis in front of the {pair.event_ndim} event axis/axes, got shape {np.shape(x)}"
        )
    if not is_traced(x):
        pair.validate_data(x, "x")


def pmm_loss(
    pair: ConjugatePair,
    schedule: Any,
    denoiser: Denoiser,
    key: Array,
    x: Array,
    weighting: str = "pmm",
    num_steps: int | None = None,
    log_score: float = 0.0,
    times: str = "independent",
) -> LossOutput:
    """Monte Carlo PMM training loss on a batch ``x`` of shape ``(B, *data_shape)``.

    Draws one time (continuous) or one step (``num_steps=T``) per example, one flow state per
    example, evaluates ``denoiser(pair.mean(state), t)`` and weights the error as described in the
    module docstring; ``log_score > 0`` adds that multiple of the log score of the denoiser's
    per-coordinate posterior.  ``times="stratified"`` draws the continuous times stratified over the batch
    (:func:`draw_times`).  Returns :class:`LossOutput` ``(mean, per_example, t)``.
    """
    _check_args(pair, schedule, x, weighting, num_steps)
    check_times(times)
    if times != "independent" and num_steps is not None:
        raise PMMInputError("times: stratified times are for continuous time (num_steps=None)")
    log_score = check_log_score(log_score, pair, denoiser)
    check_weighting(weighting, log_score)
    x = jnp.asarray(x, dtype=jnp.result_type(float))
    batch = x.shape[0]
    key_t, key_flow = jax.random.split(key)

    if num_steps is None:
        t = draw_times(key_t, batch, times, x.dtype)
        acc = schedule.A(t)
        step_alpha = None
    else:
        grid = schedule.grid(num_steps, integer=pair.accuracy_kind == "integer")
        i = jax.random.randint(key_t, (batch,), 0, num_steps)  # 0-based: observation i+1
        t, acc, step_alpha = grid.times[i], grid.cumulative[i], grid.alphas[i]

    state = _flow(pair, key_flow, x, _to_batch(acc, pair, x))
    mu = pair.mean(state)
    if log_score > 0:
        law, f = distributional.posterior_and_mean(denoiser, pair, mu, t)
        neg_log_q = -_sum_per_example(law.log_prob(x))
    else:
        f = denoiser(mu, t)
    sq_err = _sum_per_example((x - f) ** 2)

    if weighting == "plain":
        per_example = sq_err
    elif weighting == "none":
        per_example = jnp.zeros_like(sq_err)
    elif weighting == "pmm":
        if step_alpha is None:  # the gain rate dw(A(t))/dt / C(t), the continuous limit of the step gain
            ones = jnp.ones_like(t)
            _, dw_dt = jax.jvp(lambda tt: pair.weight(schedule.A(tt)), (t,), (ones,))
            per_example = (dw_dt / pair.total_weight(acc)) ** 2 * sq_err
        else:
            kappa = pair.gain_at(acc, step_alpha)
            per_example = num_steps * kappa**2 * sq_err
    else:  # elbo
        if step_alpha is None:
            div_unit = _sum_per_example(pair.divergence(x, f, jnp.ones((), x.dtype)))
            per_example = schedule.dA(t) * div_unit
        else:
            # alpha_i = 0 steps (integer schedules) contribute 0; the pair's divergence is asked only
            # about positive accuracies (its eager input check rejects 0)
            positive = step_alpha > 0
            safe_alpha = jnp.where(positive, step_alpha, jnp.ones_like(step_alpha))
            div = _sum_per_example(pair.divergence(x, f, _to_batch(safe_alpha, pair, x)))
            per_example = num_steps * jnp.where(positive, div, jnp.zeros_like(div))

    if log_score > 0:
        per_example = per_example + log_score * neg_log_q
    return LossOutput(per_example.mean(), per_example, t)


__all__ = ["LossOutput", "TIME_DRAWS", "WEIGHTINGS", "check_log_score", "check_times", "check_weighting", "draw_times",
           "pmm_loss"]

r"""Count pairs in continuous time: a Cox (doubly stochastic Poisson) process (docs/design.md section 6).

For the Gamma-Poisson pair with :math:`B(t) = b_0 + A(t)` the posterior mean obeys

.. math:: d\mu = (dN_t - \alpha(t)\,\mu\,dt)/B(t),

with :math:`N` a counting process of intensity :math:`\alpha(t)\,m(\mu_{t-}, A(t))`,
:math:`m = E^*[x \mid \mu]`.  Between jumps :math:`B\mu = a_0 + N` is constant, so
:math:`\mu(t) = (a_0 + N_t)/B(t)` exactly.  The Poissonised Dirichlet pair is the K-variate
version: :math:`N_k` has intensity :math:`\alpha(t)\,\mathrm{link}(m)_k`.

**Accuracy time.**  Writing :math:`u = A(t)`, the compensator
:math:`\int \alpha(t)\lambda(A(t))\,dt = \int \lambda(u)\,du`, so in accuracy time :math:`N` has
intensity :math:`\lambda_k(u) = \mathrm{link}(m(\mu(u-), u))_k` and the state is
:math:`C = c_0 + u`, :math:`\mu = (c_0\mu_0 + N)/(c_0 + u)` (:func:`count_state`).  The schedule
only relabels time; it does not enter the law of the counts at a given accuracy.

**Exact simulation** (:func:`exact_cox`): thinning (Lewis-Shedler) in accuracy time.  From the
current accuracy :math:`u` with counts :math:`N`, propose the next candidate
:math:`u' = u + E/\bar\lambda`, :math:`E \sim \mathrm{Exp}(1)`, accept it with probability
:math:`\Lambda(u')/\bar\lambda` (:math:`\Lambda = \sum_k \lambda_k`, evaluated with the counts
before the jump), and on acceptance add one count to class :math:`k` with probability
:math:`\lambda_k(u')/\Lambda(u')`.  This is exact (no discretisation error) whenever
:math:`\bar\lambda \ge \Lambda(v)` for all :math:`v \in [u, u']` -- the accepted points are then a
point process with intensity :math:`\Lambda`, by the thinning theorem and the memorylessness of the
dominating Poisson process, which lets the bound be renewed at every candidate.  Bounds:

* ``bound="monotone"`` (default): :math:`\bar\lambda = \Lambda(u)` at the current point.  Valid for
  an *exact* posterior mean: at fixed counts, the posterior of :math:`x` has likelihood
  :math:`\propto e^{-u\sum_k x_k}\prod_k x_k^{N_k}`, an exponential family in :math:`u`, so
  :math:`\frac{d}{du}E^*[\sum_k x_k \mid N, u] = -\mathrm{Var}^*(\sum_k x_k \mid N, u) \le 0`:
  the total intensity never increases between jumps.  Almost every candidate is accepted.
  A candidate whose intensity exceeds the bound (impossible for an exact oracle; possible for a
  learned denoiser) is counted in ``bound_violations``.
* ``bound=<float>``: a constant :math:`\bar\lambda`, e.g. the largest rate in the support of
  :math:`p^*` (then :math:`m \le \bar\lambda` always), or ``1.0`` for the Poissonised Dirichlet
  (a probability vector has total intensity exactly 1: every candidate is accepted).

A ``lax.while_loop`` stops at :math:`A_{\max}` or after ``max_proposals`` candidates
(``overflow`` flags it); the simulator is per datum and ``jax.vmap``-ed over keys.

**Tau-leaping** (:func:`tau_leap`): increments :math:`\Delta N_i \sim \mathrm{Poisson}(\alpha_i\,
\mathrm{link}(m(\mu_{i-1}, A_{i-1})))` and the conjugate update -- exactly the discrete PMM sampler.

**The exact law of the discrete chain** (:func:`count_chain_pmf`): for one scalar count coordinate
the state is the count :math:`N` alone (:math:`C` is known from the accuracy), so the law of
:math:`N` after each step is a vector on :math:`0..N_{\max}` propagated by the step's transition
matrix :math:`P_i(N, N + k) = \sum_j q_j(N)\, \pi_{\alpha_i}(k \mid x_j)`: one atom
:math:`\hat x = m(\mu_N, A_{i-1})` of weight one for the plug-in sampler (tau-leaping), the atoms of
the denoiser's posterior for the ancestral one.  It gives :math:`p_T(x)` exactly (up to the stated
truncation), the reference for the likelihood bound :math:`\mathcal L_T(x) \ge -\log p_T(x)`.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from pmm_ppl.conjugate import validation as V
from pmm_ppl.conjugate.base import LinearPair, RunningMean
from pmm_ppl.process import kernels

Array = jax.Array
PosteriorMean = Callable[[Array, Array], Array]


class CoxPath(NamedTuple):
    """Result of :func:`exact_cox` for one datum (leading batch axis after ``vmap``)."""

    counts: Array  #: N at each accuracy of ``a_grid``, shape ``(G, *event)``
    num_events: Array  #: accepted jumps
    num_proposals: Array  #: thinning candidates drawn (including the one past A_max)
    overflow: Array  #: True when ``max_proposals`` ran out before A_max (the path is then truncated)
    bound_violations: Array  #: candidates whose intensity exceeded the thinning bound (0 when exact)


def count_state(pair: Any, counts: Array, total_accuracy: Array) -> RunningMean:
    """State of a counting pair after counts ``N`` at accuracy ``u``:
    :math:`C = c_0 + w(u)`, :math:`\\mu = (c_0\\mu_0 + N)/C` (batch shape = leading axes of ``counts``
    minus the pair's event axes)."""
    return pair.state_from_statistic(counts, total_accuracy)


def _intensity(pair: Any, posterior_mean: PosteriorMean, counts: Array, u: Array) -> Array:
    """:math:`\\lambda(u) = \\mathrm{link}(m(\\mu(u), u))` for one datum (``counts`` of the data's shape)."""
    state = count_state(pair, counts[None], u)
    return pair.link(posterior_mean(state.mean, jnp.reshape(u, (1,))))[0]


def exact_cox(key: Array, pair: Any, posterior_mean: PosteriorMean, a_grid: Array, data_shape: tuple[int, ...] = (),
              bound: str | float = "monotone", max_proposals: int = 4096) -> CoxPath:
    """Exact simulation of the counts of one datum by thinning in accuracy time (module docstring).

    ``a_grid``: increasing accuracies, shape ``(G,)``, the last one :math:`A_{\\max}`; the counts are
    reported at each.  ``data_shape``: shape of one datum (``()`` for a scalar count, ``(K,)`` for K
    classes).  ``bound``: ``"monotone"`` or a constant intensity bound.  Vmap over ``key`` for a batch."""
    if isinstance(bound, str):
        if bound != "monotone":
            raise V.PMMInputError(f"bound: expected 'monotone' or a positive number, got {bound!r}")
        monotone, bound_value = True, 0.0
    else:
        V.check_hyper_positive(bound, "bound")
        monotone, bound_value = False, float(bound)
    a_grid = jnp.asarray(a_grid, dtype=jnp.result_type(float))
    a_max = a_grid[-1]
    dtype = a_grid.dtype
    n0 = jnp.zeros(data_shape, dtype)
    size = max(1, int(jnp.size(n0)))

    def cond(c):
        _, _, _, _, _, n_props, done, _ = c
        return (~done) & (n_props < max_proposals)

    def body(c):
        key, u, n, n_grid, n_events, n_props, done, viol = c
        key, k_e, k_u, k_c = jax.random.split(key, 4)
        if monotone:
            lam_bar = jnp.sum(_intensity(pair, posterior_mean, n, u))
        else:
            lam_bar = jnp.asarray(bound_value, dtype)
        u_new = u + jax.random.exponential(k_e, dtype=dtype) / lam_bar  # inf when lam_bar == 0
        past = u_new >= a_max
        lam = _intensity(pair, posterior_mean, n, jnp.minimum(u_new, a_max))
        total = jnp.sum(lam)
        accept = (~past) & (jax.random.uniform(k_u, dtype=dtype) * lam_bar <= total)
        viol = viol + ((~past) & (total > lam_bar * (1.0 + 1e-4) + 1e-12)).astype(jnp.int32)
        flat = jnp.reshape(lam, (size,))
        k = jax.random.categorical(k_c, jnp.log(jnp.maximum(flat, 0.0)))
        jump = jnp.reshape(jax.nn.one_hot(k, size, dtype=dtype), data_shape) * accept
        n = n + jump
        n_grid = n_grid + (a_grid >= u_new).astype(dtype).reshape((-1,) + (1,) * len(data_shape)) * jump
        return (key, jnp.where(past, a_max, u_new), n, n_grid, n_events + accept.astype(jnp.int32),
                n_props + 1, past, viol)

    init = (key, jnp.zeros((), dtype), n0, jnp.zeros(a_grid.shape + tuple(data_shape), dtype),
            jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32), jnp.zeros((), bool), jnp.zeros((), jnp.int32))
    _, _, _, n_grid, n_events, n_props, done, viol = jax.lax.while_loop(cond, body, init)
    return CoxPath(n_grid, n_events, n_props, ~done, viol)


def tau_leap(key: Array, pair: Any, posterior_mean: PosteriorMean, a_grid: Array, batch_shape: tuple[int, ...],
             data_shape: tuple[int, ...] = ()) -> Array:
    """Tau-leaping = the discrete PMM sampler for a counting pair: for each step,
    :math:`\\hat x = m(\\mu, A_{i-1})`, :math:`y \\sim \\pi_{\\alpha_i}(\\cdot\\mid\\mathrm{link}(\\hat x))`
    (``pair.sample_observation``: Poisson(:math:`\\alpha_i\\,\\mathrm{link}(\\hat x)`) per class) and
    ``pair.update``.  Returns the counts at every accuracy of ``a_grid``, shape ``(T+1, *batch, *data)``.
    ``batch_shape`` must be one axis ``(B,)`` (denoiser convention)."""
    a_grid = jnp.asarray(a_grid, dtype=jnp.result_type(float))
    shape = tuple(batch_shape) + tuple(data_shape)
    n0 = jnp.zeros(shape, a_grid.dtype)
    state0 = kernels.init(pair, (), time=a_grid[0], accuracy=a_grid[0], posterior=count_state(pair, n0, a_grid[0]))

    def estimate(mu, state):  # the accuracy convention m(mu, A)
        return posterior_mean(mu, jnp.broadcast_to(state.accuracy, shape[:1]))

    keys = jax.random.split(key, a_grid.shape[0] - 1)
    _, ys = kernels.scan_steps(kernels.plug_in_step, pair, state0, estimate, keys, a_grid[1:], jnp.diff(a_grid),
                               collect=lambda state, info: jnp.asarray(info.observation, a_grid.dtype))
    return jnp.concatenate([n0[None], jnp.cumsum(ys, axis=0)], 0)


def count_chain_pmf(pair: Any, estimate: Callable[[Array, Array], Any], a_grid: Any, max_count: int,
                    receiver: str = "plug_in") -> Array:
    r"""Exact law of the count after the discrete PMM chain over ``a_grid`` for one scalar count coordinate
    (module docstring): the probabilities of :math:`N_T = 0, \dots,` ``max_count``, shape ``(max_count+1,)``.

    ``estimate(mu, A)`` in the accuracy convention, with ``mu`` and ``A`` of shape ``(max_count+1,)``
    (one row per count): the posterior mean for ``receiver="plug_in"`` (the law of :func:`tau_leap`),
    the per-coordinate posterior (discrete, :func:`.kernels.posterior_atoms`) for ``"ancestral"``.
    Paths that pass ``max_count`` are dropped, so ``1 - pmf.sum()`` is the truncated mass (choose
    ``max_count`` so that it is negligible).  The pair must be elementwise with the count itself as
    its statistic (:math:`N_A = \sum_i y_i`, e.g. Gamma-Poisson, Beta-Binomial).  Cost
    :math:`O(T\,J\,N_{\max}^2)`."""
    if not isinstance(pair, LinearPair) or pair.event_ndim != 0 or not pair.statistic_is_discrete:
        raise V.PMMInputError(f"pair: count_chain_pmf needs an elementwise pair with a count statistic, got {getattr(pair, 'name', pair)!r}")
    if float(pair.statistic(jnp.asarray(3.0), jnp.asarray(5.0))) != 3.0:
        raise V.PMMInputError(f"pair: count_chain_pmf needs the count itself as the statistic (s(y) = y), got {pair.name!r}")
    if receiver not in kernels.STEPS:
        raise V.PMMInputError(f"receiver: expected one of {sorted(kernels.STEPS)}, got {receiver!r}")
    max_count = V.check_whole_number(max_count, "max_count")
    a_grid = jnp.asarray(a_grid, dtype=jnp.result_type(float))
    counts = jnp.arange(max_count + 1, dtype=a_grid.dtype)
    gap = (counts[None, :] - counts[:, None]).astype(jnp.int32)  # N' - N

    def step(pmf, inp):
        a, alpha = inp
        positive = alpha > 0  # a step of accuracy 0 observes nothing
        safe = jnp.where(positive, alpha, 1.0)
        out = estimate(count_state(pair, counts, a).mean, jnp.full_like(counts, a))
        if receiver == "plug_in":
            values, log_q = jnp.asarray(out)[:, None], jnp.zeros((counts.shape[0], 1), counts.dtype)
        else:
            values, log_q = kernels.posterior_atoms(out)  # (N, J)
        # log P(increment k | N) = log sum_j q_j(N) pi_alpha(k | x_j), shape (N, K)
        log_inc = jax.scipy.special.logsumexp(
            log_q[:, :, None] + pair.observation_log_prob(counts[None, None, :], values[:, :, None], safe), axis=1)
        trans = jnp.where(gap >= 0, jnp.exp(jnp.take_along_axis(log_inc, jnp.clip(gap, 0, max_count), axis=1)), 0.0)
        return jnp.where(positive, pmf @ trans, pmf), None

    pmf0 = jnp.zeros_like(counts).at[0].set(1.0)
    return jax.jit(lambda grid: jax.lax.scan(step, pmf0, (grid[:-1], jnp.diff(grid)))[0])(a_grid)

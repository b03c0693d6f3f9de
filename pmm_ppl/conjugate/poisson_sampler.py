r"""Exact Poisson variates for batches of mixed rates: inversion below rate 10, PTRS at and above it.

:func:`sample_poisson` draws :math:`N \sim \mathrm{Poisson}(\lambda)` independently per lane of an array of
rates; :func:`sample_law` draws from a NumPyro law, using :func:`sample_poisson` where the law is Poisson
(possibly with event axes) and the law's own sampler otherwise.  Both are pure, jittable and vmappable.

Why not ``jax.random.poisson``: it runs *both* of its branches on every lane and selects, and its small-rate
branch (Knuth's product of uniforms) draws a fresh full-array uniform on every iteration, about
:math:`\max\lambda + 4\sqrt{\max\lambda}` iterations for the small rates of a batch.  A training step of
the count models draws one Poisson count per pixel at rates from 0 to thousands, so that loop dominated
the step's overhead (``benchmarks/poisson_draw.py`` prints both samplers' times on that batch).

**Small rates** (:math:`\lambda < 10`): inversion by sequential search from *one* uniform :math:`U` per
lane (Devroye 1986, *Non-Uniform Random Variate Generation*, X.3.2):
:math:`N = \min\{k : U < F_k\}`, :math:`F_k = \sum_{j \le k} p_j`, :math:`p_0 = e^{-\lambda}`,
:math:`p_k = p_{k-1}\lambda/k`.  The search index :math:`k` is shared by all lanes, so a step is a
multiply and an add per lane with no random numbers: the first 32 steps run as straight-line code (one
fused pass; :math:`P(N > 32) < 10^{-7}` below rate 10), then a loop runs while any lane's :math:`U \ge F_k`.

**Large rates** (:math:`\lambda \ge 10`): Hörmann's transformed rejection with squeeze, PTRS (W. Hörmann,
"The transformed rejection method for generating Poisson random variables", *Insurance: Mathematics and
Economics* 12, 1993, 39-45), the algorithm of NumPy and of ``jax.random.poisson``'s large-rate branch: with
:math:`b = 0.931 + 2.53\sqrt\lambda`, :math:`a = -0.059 + 0.02483 b`, :math:`U \sim U(-\frac12, \frac12)`,
:math:`V \sim U(0, 1)`, :math:`u_s = \frac12 - |U|`, propose :math:`k = \lfloor (2a/u_s + b)U + \lambda +
0.43\rfloor`; accept at once if :math:`u_s \ge 0.07` and :math:`V \le v_r`, reject if :math:`k < 0` or
(:math:`u_s < 0.013` and :math:`V > u_s`), else accept iff
:math:`\log(V\,\alpha^{-1} / (a/u_s^2 + b)) \le \log p_k`.  Every lane keeps proposing until it accepts (no
cap on the number of tries).  Vectorised: every lane's first proposal is checked against the squeeze only
(no logarithm); the lanes it does not accept (65 % at rate 10, 33 % at 100, 22 % at 3200) are gathered into a buffer of
an eighth of the array, where that proposal gets the full test and two fresh proposals are tested at
once, and each lane keeps its first acceptance; lanes still pending (a few, or those beyond the buffer) go
round again with fresh uniforms in a buffer half as large until none is.  Each lane meets the same sequence of
independent proposals as in the one-lane algorithm, so the law is PTRS's.
The log pmf is computed without the cancellation of :math:`-\lambda + k\log\lambda - \log k!` (terms of
size :math:`10^4` at :math:`\lambda = 3200`, float32 error :math:`\sim 10^{-3}`): with Stirling's series and
Loader's deviance (C. Loader, "Fast and accurate computation of binomial probabilities", 2000),
:math:`\log p_k = -\mathrm{bd_0}(k, \lambda) - \frac12\log(2\pi k) - \delta(k)`.

**Exactness.**  Both methods draw from Poisson(:math:`\lambda`) exactly in exact arithmetic, with no
truncation of the support.  In floating point the law is exact up to the resolution of the uniforms (a
float32 uniform lies on a grid of :math:`2^{-23}`, so lane probabilities are resolved to about
:math:`10^{-7}`, as in ``jax.random.poisson``); counts above :math:`2^{24}` are not all representable in
float32.  Should rounding make :math:`F_k` stop growing below :math:`U` (probability :math:`\lesssim 10^{-7}`
per lane), the lane gets a count in the far tail (:math:`k \ge 30`) instead of looping forever.

**Small arrays.**  The method above takes about a third of ``jax.random.poisson``'s time at every size
measured (2048 to 32768 rates of a digits_counts batch, one CPU core; ``benchmarks/poisson_draw.py``) but
about 1 s longer to compile (1.9 s against 0.9 s for one program on CPU), which small arrays (tests,
single data) would pay for a saving of a fraction of a millisecond a call: arrays with fewer than
:data:`MIN_LANES` elements (per row under ``vmap``) are drawn by ``jax.random.poisson`` (Knuth below rate 10,
PTRS above: the same law), with the same output dtype and bad-rate handling.  The training batches of
digits_counts (128 x 64 rates) take the fast path; shakespeare_chars trains at batch 8 (8 x 256 = 2048
positions, one rate each on its one-hot path), below the threshold.

**Bad rates.**  A rate of 0 gives 0.  A negative, NaN or infinite rate gives NaN (and takes no loop
iteration): the public pair methods reject such data and accuracies before tracing
(:mod:`pmm_ppl.conjugate.validation`), so inside ``jit`` a bad rate can only come from a computation, and
NaN shows it (``jax.random.poisson`` returns -1 for NaN and negative rates).

The output is a float array (whole numbers) of the rates' shape and float dtype, as the pairs keep counts;
``jax.random.poisson`` and NumPyro's ``Poisson.sample`` return integers.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpyro.distributions as dist

#: rates below use inversion, rates at or above use PTRS (Hörmann's method is valid for rate >= 10)
SWITCH_RATE = 10.0
#: arrays with fewer elements are drawn by ``jax.random.poisson`` (see the module docstring)
MIN_LANES = 4096
_INVERSION_STEPS = 32  # search steps unrolled before the loop (P(N > 32) < 1e-7 for rates < 10)
_BUFFER_PROPOSALS = 2  # fresh proposals per pending lane drawn at once (see _ptrs_buffer)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_LOG_FACTORIALS = tuple(math.lgamma(k + 1.0) for k in range(int(SWITCH_RATE)))  # log k!, k < 10


def _log_pmf(k, lam, log_lam):
    r""":math:`\log p_k` of Poisson(:math:`\lambda`) for :math:`\lambda \ge 10` and whole :math:`k \ge 0`,
    accurate in float32.  For :math:`k \ge 10`: :math:`-\mathrm{bd_0}(k,\lambda) - \frac12\log(2\pi k) -
    \delta(k)` with :math:`\mathrm{bd_0} = k\log(k/\lambda) - (k - \lambda)` (Loader's series in
    :math:`v = (k-\lambda)/(k+\lambda)` where :math:`|v| < 0.1`) and Stirling's
    :math:`\delta(k) = \log k! - (k+\frac12)\log k + k - \frac12\log 2\pi`; below, the direct formula, whose
    value there is tiny and only compared with a log uniform."""
    ks = jnp.maximum(k, SWITCH_RATE)  # the stable branch, evaluated on safe values everywhere
    d = ks - lam
    v = d / (ks + lam)
    v2 = v * v
    series = d * v + 2.0 * ks * v * v2 * (1 / 3 + v2 * (1 / 5 + v2 * (1 / 7 + v2 * (1 / 9 + v2 / 11))))
    direct = ks * jnp.log1p(d / lam) - d
    bd0 = jnp.where(jnp.abs(v) < 0.1, series, direct)
    inv = 1.0 / ks
    inv2 = inv * inv
    delta = inv * (1 / 12 - inv2 * (1 / 360 - inv2 / 1260))
    stable = -bd0 - _HALF_LOG_2PI - 0.5 * jnp.log(ks) - delta
    kd = jnp.clip(k, 0.0, SWITCH_RATE - 1.0)
    direct_small = -lam + kd * log_lam - jnp.asarray(_LOG_FACTORIALS, lam.dtype)[kd.astype(jnp.int32)]
    return jnp.where(k >= SWITCH_RATE, stable, direct_small)


def _ptrs_candidate(u, v, lam):
    """The PTRS proposal from uniforms ``u`` (shifted to (-1/2, 1/2)) and ``v`` per lane, and its squeeze:
    (count, quick acceptance, the arguments of :func:`_ptrs_accept`).  Cheap: no logarithm."""
    b = 0.931 + 2.53 * jnp.sqrt(lam)
    a = -0.059 + 0.02483 * b
    u = u - 0.5
    us = 0.5 - jnp.abs(u)
    k = jnp.floor((2.0 * a / us + b) * u + lam + 0.43)
    quick = (us >= 0.07) & (v <= 0.9277 - 3.6224 / (b - 2.0))
    return k, quick, (k, us, v, a, b, lam)


def _ptrs_accept(k, us, v, a, b, lam):
    """The full PTRS test of a proposal that the squeeze did not accept."""
    inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
    reject = (k < 0) | ((us < 0.013) & (v > us))
    log_accept = jnp.log(v * inv_alpha / (a / (us * us) + b))
    return ~reject & (log_accept <= _log_pmf(k, lam, jnp.log(lam)))


def _inversion(u, lam):
    r"""Sequential search :math:`N = \min\{k : U < F_k\} = \#\{k : F_k \le U\}` per lane (``lam`` < 10; 0
    on lanes to skip): the first ``_INVERSION_STEPS`` steps as straight-line code (one fused pass, no
    per-lane bookkeeping), then, only if some lane is still searching, a loop until none is."""
    p = jnp.exp(-lam)
    f, n = p, (p <= u).astype(lam.dtype)
    for k in range(1, _INVERSION_STEPS + 1):
        p = p * (lam * (1.0 / k))
        f = f + p
        n = n + (f <= u)

    def step(carry):
        k, p, f, n = carry
        k = k + 1.0
        p = p * lam / k
        f_new = f + p
        stuck = (f_new == f) & (k > lam)  # rounding: F stopped growing below U (see the module docstring)
        return k, p, jnp.where(stuck, jnp.inf, f_new), n + (f_new <= u) * ~stuck

    searching = lambda c: jnp.any(c[2] <= u)
    state = (jnp.asarray(_INVERSION_STEPS, lam.dtype), p, f, n)
    return jax.lax.while_loop(searching, step, state)[3]


def _first_indices(mask, m):
    """Indices of the first ``m`` True entries of the 1-D ``mask``, padded with ``mask.size``."""
    n = mask.size
    pos = jnp.where(mask, jnp.cumsum(mask, dtype=jnp.int32) - 1, m)  # rank among the True; >= m dropped
    return jnp.full((m,), n, jnp.int32).at[pos].set(jnp.arange(n, dtype=jnp.int32), mode="drop")


def _ptrs_buffer(uv, lam, first_u, first_v, out, pending, untested):
    """One round over up to ``m`` pending lanes (gathered): each lane's untested first proposal (from
    ``first_u``, ``first_v``, which the squeeze did not accept), then ``R`` fresh proposals from ``uv``
    (shape ``(R, 2, m)``); the first accepted one is written into ``out``.  Lanes that accept none stay
    pending for the next round."""
    n, m = lam.size, uv.shape[-1]
    idx = _first_indices(pending, m)
    get = lambda x, fill: x.at[idx].get(mode="fill", fill_value=fill)
    u = jnp.concatenate([get(first_u, 0.5)[None], uv[:, 0]])
    v = jnp.concatenate([get(first_v, 0.5)[None], uv[:, 1]])
    k_r, quick, args = _ptrs_candidate(u, v, get(lam, SWITCH_RATE))
    # a first proposal that an earlier round tested was rejected
    live = jnp.concatenate([get(untested, False)[None], jnp.ones(uv.shape[:1] + (m,), bool)])
    acc_r = (quick | _ptrs_accept(*args)) & live
    # each lane's first accepted proposal, by reductions over the proposal axis (a gather or slices of
    # k_r make XLA on CPU recompute the proposals once per use)
    r = jnp.arange(k_r.shape[0], dtype=k_r.dtype)[:, None]
    first = jnp.min(jnp.where(acc_r, r, k_r.shape[0]), axis=0)
    k_sub = jnp.sum(jnp.where(r == first, k_r, 0.0), axis=0)
    accepted = first < k_r.shape[0]
    out = out.at[idx].set(jnp.where(accepted, k_sub, 0.0), mode="drop")
    return out, pending.at[idx].set(~accepted, mode="drop"), untested.at[idx].set(False, mode="drop")


def _ptrs(key, uv, uv_buffer, lam, large):
    """PTRS on the lanes where ``large``: the first proposal of every lane from ``uv`` (shape ``(2, n)``),
    accepted where the squeeze accepts (most lanes); the rest go through :func:`_ptrs_buffer`, first with
    the pre-drawn ``uv_buffer`` (``(R, 2, m)``), then, while any lane is pending (a few lanes, or more on
    overflow), with fresh uniforms in a buffer of ``m // 2`` lanes."""
    k, quick, _ = _ptrs_candidate(uv[0], uv[1], lam)
    pending = large & ~quick
    state = _ptrs_buffer(uv_buffer, lam, uv[0], uv[1], k, pending, pending)
    shape = uv_buffer.shape[:2] + (max(1, uv_buffer.shape[2] // 2),)

    def more(carry):
        i, state = carry
        w = jax.random.uniform(jax.random.fold_in(key, i), shape, lam.dtype)
        return i + 1, _ptrs_buffer(w, lam, uv[0], uv[1], *state)

    return jax.lax.while_loop(lambda c: jnp.any(c[1][1]), more, (jnp.zeros((), jnp.int32), state))[1][0]


def sample_poisson(key: jax.Array, rate: jax.Array) -> jax.Array:
    r"""One draw of :math:`N \sim \mathrm{Poisson}(\text{rate})` per element of ``rate`` (any shape), as a
    float array of the rate's shape (float dtype of ``rate``, or the default float for integer rates).
    Rate 0 gives 0; a negative, NaN or infinite rate gives NaN.  See the module docstring for the method."""
    rate = jnp.asarray(rate)
    dtype = rate.dtype if jnp.issubdtype(rate.dtype, jnp.floating) else jnp.result_type(float)
    lam = rate.astype(dtype).reshape(-1)
    n = lam.size
    if n == 0:
        return rate.astype(dtype)
    ok = jnp.isfinite(lam) & (lam >= 0)
    if n < MIN_LANES:  # small arrays: jax's sampler, quicker to compile (see the module docstring)
        out = jax.random.poisson(key, jnp.where(ok, lam, 0.0)).astype(dtype)
        return jnp.where(ok, out, jnp.nan).reshape(rate.shape)
    return _sample_large(key, lam, ok).reshape(rate.shape)


@jax.jit  # one program also when called outside jit (op by op, the loops and steps would compile one by one)
def _sample_large(key, lam, ok):
    """:func:`sample_poisson` on a flat array of at least ``MIN_LANES`` rates (``ok``: valid rates)."""
    n = lam.size
    large = ok & (lam >= SWITCH_RATE)
    m = n // 8  # PTRS buffer for the lanes the squeeze did not accept
    k_uniform, k_ptrs = jax.random.split(key)
    draws = jax.random.uniform(k_uniform, (2 * n + 2 * _BUFFER_PROPOSALS * m,), lam.dtype)  # one RNG call
    uv, uv_buffer = draws[: 2 * n].reshape(2, n), draws[2 * n :].reshape(_BUFFER_PROPOSALS, 2, m)
    small = _inversion(uv[0], jnp.where(ok & ~large, lam, 0.0))
    big = _ptrs(k_ptrs, uv, uv_buffer, jnp.where(large, lam, SWITCH_RATE), large)
    return jnp.where(large, big, jnp.where(ok, small, jnp.nan))


def sample_law(key: jax.Array, law: dist.Distribution) -> jax.Array:
    """One draw from ``law`` (no sample shape): where ``law`` is a NumPyro ``Poisson`` (possibly made
    independent over event axes with ``to_event``), :func:`sample_poisson`'s float counts (the dtype the
    pairs keep counts in; NaN for a bad rate, where ``law.sample`` would give the integer -1); for any other
    law, ``law.sample(key)``."""
    base = law.base_dist if isinstance(law, dist.Independent) else law
    if type(base) is not dist.Poisson:
        return law.sample(key)
    return sample_poisson(key, jnp.broadcast_to(base.rate, base.batch_shape))

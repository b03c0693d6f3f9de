r"""Exact oracles: the true posterior mean :math:`E_{p^*}[x \mid \mu_t]` for simple targets.

A PMM denoiser :math:`f(\mu, t)` is trained to be :math:`E_{p^*}[x \mid \mu_t]` (docs/design.md section 4).
When the data distribution :math:`p^*` is a finite mixture or a finite data set, this conditional
expectation has a closed form; the functions here return it *as a denoiser*, so it plugs into the
sampler and the ELBO exactly where a network would.  They are the ground truth for tests,
benchmarks and notebooks (docs/design.md section 6).

Signatures.  ``empirical_oracle(pair, schedule, data, weights)`` etc. return ``f(mu, t)`` with
``mu`` of shape ``(B, *data_shape)`` and ``t`` of shape ``(B,)`` (or a scalar); the
``..._at_accuracy`` variants return ``g(mu, A)`` with the cumulative accuracy ``A`` in place of
``t`` (``f(mu, t) = g(mu, schedule.A(t))``), used by the SDE module.

The state behind a mean.  For a linear pair (docs/design.md section 2) the state after cumulative accuracy
:math:`A` is :math:`(C, \mu)` with :math:`C = c_0 + w(A)` known from ``A``, so :math:`\mu` carries
all the information: the summed statistic is :math:`S = C\mu - c_0\mu_0`, and by Bayes

.. math::

   p^*(x_j \mid \mu) \propto p^*_j \; p(S \mid x_j, A),
   \qquad E^*[x \mid \mu] = \sum_j p^*(x_j \mid \mu)\, x_j ,

with :math:`p(S \mid x, A)` the pair's ``statistic_law`` (the same density as
``pair.flow_log_prob``, whose Jacobian :math:`S \mapsto \mu` does not depend on :math:`x`).
Everything is computed with log-densities and a softmax over the rows, vectorised over ``B`` and
the number of rows ``J`` (cost and memory :math:`O(B \cdot J \cdot \prod \text{data\_shape})`).
The returned functions are jitted (one compilation per input shape); they are pure, so they can
also be called inside ``jit``/``vmap``/``scan``.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax.scipy.special import gammaln, xlogy

from pmm_ppl.conjugate import validation as V
from pmm_ppl.conjugate.base import LinearPair
from pmm_ppl.process.kernels import PosteriorDenoiser

Array = jax.Array
Denoiser = Callable[[Array, Array], Array]

#: the Poisson-mixture oracle truncates the count support where every component's upper tail
#: :math:`P(x > X_{\max})` is below this
POISSON_TAIL_MASS = 1e-12


# ---------------------------------------------------------------------------------- helpers
def _check_linear_pair(pair: Any, name: str = "pair") -> None:
    if not isinstance(pair, LinearPair):
        raise V.PMMInputError(f"{name}: exact oracles need a linear pair (running-mean state), got {type(pair).__name__}")


def _check_channel(pair: Any, family: type, variance: Callable[[float, float], float], what: str) -> None:
    """The closed form needs an elementwise linear pair whose summed statistic given ``x`` after accuracy
    ``A`` is ``family`` with mean :math:`Ax` and the given variance: checked on the pair's own
    ``statistic_law`` at one point (no pair names involved)."""
    _check_linear_pair(pair)
    x, a = 0.75, 2.0
    try:
        law = pair.statistic_law(jnp.asarray(x), jnp.asarray(a))
        ok = (isinstance(law, family) and pair.event_ndim == 0
              and np.isclose(float(law.mean), a * x) and np.isclose(float(law.variance), variance(x, a)))
    except Exception:  # a law that cannot be probed this way is not the one the closed form needs
        ok = False
    if not ok:
        raise V.PMMInputError(f"pair: this oracle needs {what}; got {getattr(pair, 'name', type(pair).__name__)!r}")


def _check_weights(weights: Any, num_rows: int, name: str = "weights") -> Array:
    """Non-negative mixture weights of shape ``(J,)``, not all zero; returned normalised."""
    if weights is None:
        return jnp.full((num_rows,), 1.0 / num_rows, dtype=jnp.result_type(float))
    w = V.check_positive(weights, name, allow_zero=True)
    if V.is_traced(w):
        return w / w.sum()
    arr = np.asarray(w, dtype=np.float64)
    if arr.shape != (num_rows,):
        raise V.PMMInputError(f"{name}: expected shape ({num_rows},), one weight per component/row, got {arr.shape}")
    if arr.sum() <= 0:
        raise V.PMMInputError(f"{name}: at least one weight must be > 0")
    return jnp.asarray(arr / arr.sum(), dtype=jnp.result_type(float))


def _check_rows(x: Any, name: str) -> Array:
    x = V.check_finite(x, name)
    if np.ndim(x) < 1 or np.shape(x)[0] < 1:
        raise V.PMMInputError(f"{name}: expected at least one row on a leading axis, got shape {np.shape(x)}")
    return jnp.asarray(x, dtype=jnp.result_type(float))


def _accuracy_per_row(A: Any, batch: int) -> Array:
    """Cumulative accuracy as shape ``(B,)`` (a scalar is broadcast)."""
    return jnp.broadcast_to(jnp.asarray(A, dtype=jnp.result_type(float)), (batch,))


def _expand(a: Array, ndim: int) -> Array:
    """``(B,)`` -> ``(B, 1, ..., 1)`` with ``ndim`` axes in all."""
    return a.reshape(a.shape + (1,) * (ndim - a.ndim))


def summed_statistic(pair: LinearPair, mu: Array, A: Array) -> Array:
    r"""The summed statistic behind a mean, :math:`S = (c_0 + w(A))\mu - c_0\mu_0`: the pair's own
    ``pair.statistic_from_mean`` (rounded for count statistics; 0 where ``A = 0``, where every oracle
    returns the target mean)."""
    return pair.statistic_from_mean(mu, A)


def _row_posterior_logits(lp: Array) -> Array:
    r"""Log posterior weights over rows from per-element log-likelihoods ``lp`` of shape ``(B, J, M)``.

    Normally the sum over the ``M`` elements.  If *no* row is consistent with the state (every row
    has an element of likelihood 0 -- a state of probability zero under :math:`p^*`, reachable only
    off the true path, e.g. when a plug-in sampler step reveals two tokens that no data sequence
    has together), :math:`E^*[x\mid\mu]` is undefined; the oracle then restricts the posterior to
    the rows with the fewest impossible elements, weighted by the likelihood of their remaining
    elements, instead of returning NaN.  States of positive probability are unaffected."""
    impossible = jnp.isneginf(lp)
    total = jnp.sum(lp, axis=-1)  # (B, J), -inf where a row is impossible
    any_possible = jnp.any(jnp.isfinite(total), axis=-1, keepdims=True)
    n_bad = jnp.sum(impossible, axis=-1)
    finite_part = jnp.sum(jnp.where(impossible, 0.0, lp), axis=-1)
    fewest = n_bad == jnp.min(n_bad, axis=-1, keepdims=True)
    fallback = jnp.where(fewest, finite_part, -jnp.inf)
    return jnp.where(any_possible, total, fallback)


def _mix(logits: Array, log_weights: Array, values: Array) -> Array:
    """:math:`\\sum_j \\mathrm{softmax}_j(\\text{logits} + \\log w)\\, \\text{values}_j`; values ``(B or 1, J, *shape)``."""
    post = jax.nn.softmax(logits + log_weights, axis=-1)  # (B, J)
    return jnp.einsum("bj,bj...->b...", post, jnp.broadcast_to(values, (post.shape[0],) + values.shape[1:]))


def _from_time(g: Callable[[Array, Array], Any], schedule: Any, jit: bool = True) -> Callable[[Array, Array], Any]:
    def f(mu: Array, t: Array) -> Any:
        return g(mu, schedule.A(jnp.asarray(t, dtype=jnp.result_type(float))))

    return jax.jit(f) if jit else f


# ---------------------------------------------------------------------------------- empirical
def empirical_oracle_at_accuracy(pair: LinearPair, data: Any, weights: Any = None) -> Callable[[Array, Array], Array]:
    r"""Exact :math:`E^*[x \mid \mu_A]` for :math:`p^* = \sum_j p_j \delta_{x_j}` (rows of ``data``).

    Any linear pair with a ``statistic_law`` (all pairs of docs/design.md section 2): the posterior over rows
    is :math:`p^*(x_j\mid\mu) \propto p_j\, p(S\mid x_j, A)` with :math:`S = C\mu - c_0\mu_0` (module
    docstring).  The likelihood factorises over the elements (positions) of a datum but the prior
    :math:`p_j` does not, so correlated targets (e.g. a finite set of token sequences, one-hot
    ``data`` of shape ``(J, L, K)`` for the Dirichlet pair) are handled exactly.

    ``data``: ``(J, *data_shape)``, each row in the pair's support; ``weights``: ``(J,)``
    non-negative (normalised here), uniform by default.  Returns ``g(mu, A)`` with ``mu`` of shape
    ``(B, *data_shape)`` and ``A`` a scalar or ``(B,)``; at ``A = 0`` it returns the target mean.
    """
    _check_linear_pair(pair)
    data = _check_rows(data, "data")
    if not V.is_traced(data):
        pair.validate_data(data, "data")
        V.check_event_shape(data, "data", tuple(pair.event_shape()))
    return jax.jit(_empirical(pair, data, weights, posterior=False))


def empirical_posterior_at_accuracy(pair: LinearPair, data: Any, weights: Any = None) -> Callable[[Array, Array], Any]:
    r"""The per-coordinate posterior :math:`q(x_d \mid \mu_A) = \sum_j p^*(x_j \mid \mu)\,\delta_{x_{jd}}` of
    :func:`empirical_oracle_at_accuracy` (a coordinate is an element, or a position for pairs with an
    event axis): a ``MixtureSameFamily`` of point masses, batch shape ``(B, *coordinates)``, whose
    mean is the oracle.  The ancestral sampler draws from it, each coordinate independently."""
    _check_linear_pair(pair)
    data = _check_rows(data, "data")
    return _empirical(pair, data, weights, posterior=True)


def _empirical(pair: LinearPair, data: Array, weights: Any, posterior: bool) -> Callable:
    if not V.is_traced(data):
        pair.validate_data(data, "data")
        V.check_event_shape(data, "data", tuple(pair.event_shape()))
    w = _check_weights(weights, data.shape[0])
    log_w = jnp.log(w)
    num_rows = data.shape[0]

    def row_logits(mu: Array, A: Array) -> Array:
        B = mu.shape[0]
        A = _accuracy_per_row(A, B)
        positive = A > 0
        A_safe = jnp.where(positive, A, 1.0)  # avoid a 0-variance law at A = 0 (prior = target there)
        s = summed_statistic(pair, mu, A_safe)[:, None]  # (B, 1, *data_shape)
        n_batch_axes = 2 + len(pair.batch_shape_of(data[0]))  # B, J, then the datum's own batch axes
        law = pair.statistic_law(data[None], _expand(A_safe, n_batch_axes))
        lp = law.log_prob(s).reshape(B, num_rows, -1)  # (B, J, elements)
        logits = _row_posterior_logits(lp)
        return jnp.where(positive[:, None], logits, 0.0) + log_w

    def g(mu: Array, A: Array) -> Array:
        mu = jnp.asarray(mu, dtype=jnp.result_type(float))
        return _mix(row_logits(mu, A), 0.0, data[None])

    def q(mu: Array, A: Array) -> Any:
        mu = jnp.asarray(mu, dtype=jnp.result_type(float))
        values = jnp.broadcast_to(data[None], (mu.shape[0],) + data.shape)
        return _coordinate_mixture(pair, row_logits(mu, A), dist.Delta(_rows_last(pair, values), event_dim=pair.event_ndim))

    return q if posterior else g


def _rows_last(pair: Any, values: Array) -> Array:
    """``(B, J, *coords, *event)`` -> ``(B, *coords, J, *event)``: the row axis becomes the mixture axis."""
    return jnp.moveaxis(values, 1, values.ndim - 1 - pair.event_ndim)


def _coordinate_mixture(pair: Any, logits: Array, components: Any) -> Any:
    """Per-coordinate mixture over the rows ``J``: the row posterior ``softmax(logits)`` (shape ``(B, J)``),
    shared by every coordinate, with per-coordinate ``components`` of batch shape ``(B, *coords, J)``."""
    coords = components.batch_shape[1:-1]
    shaped = logits.reshape((logits.shape[0],) + (1,) * len(coords) + (logits.shape[1],))
    probs = jax.nn.softmax(shaped, axis=-1)  # probabilities: a row ruled out by the state has exactly 0
    mixing = dist.Categorical(probs=jnp.broadcast_to(probs, components.batch_shape))
    return dist.MixtureSameFamily(mixing, components)


def empirical_oracle(pair: LinearPair, schedule: Any, data: Any, weights: Any = None) -> Denoiser:
    """:func:`empirical_oracle_at_accuracy` read at ``A = schedule.A(t)``: a denoiser ``f(mu, t)`` that also
    gives its per-coordinate posterior (``.posterior(mu, t)``, :func:`empirical_posterior_at_accuracy`)."""
    return PosteriorDenoiser(_from_time(empirical_oracle_at_accuracy(pair, data, weights), schedule),
                             _from_time(empirical_posterior_at_accuracy(pair, data, weights), schedule, jit=False))


# ---------------------------------------------------------------------------------- Gaussian mixture
def gaussian_mixture_oracle_at_accuracy(pair: LinearPair, weights: Any, means: Any, variances: Any) -> Callable[[Array, Array], Array]:
    r"""Exact :math:`E^*[x \mid \mu_A]` for the Normal-Normal pair and a diagonal Gaussian mixture.

    Target: :math:`x \sim \sum_j p_j N(m_j, \mathrm{diag}\, v_j)`; ``means`` ``(J, *data_shape)``,
    ``variances`` broadcastable to it (``>= 0``; a zero variance is a point mass), ``weights`` ``(J,)``.

    Derivation.  Work with the summed statistic :math:`S = (\rho_0 + A)\mu - \rho_0\mu_0`, a
    bijection of :math:`\mu` at fixed ``A`` (equivalently :math:`\mu \mid x \sim N(gx + (1-g)\mu_0,
    g(1-g)/\rho_0)`, :math:`g = A/(\rho_0 + A)`).  Per element, :math:`S \mid x \sim N(Ax, A)` and,
    under component ``j``, :math:`x \sim N(m, v)`, so

    * :math:`S \mid j \sim N(Am, A(1 + Av))` (so :math:`\mu \mid j` is Gaussian too), and
      :math:`\log N(S; Am, A(1+Av)) = c(S, A) - \tfrac12\log(1 + Av)
      + \dfrac{vS^2 + 2mS - Am^2}{2(1 + Av)}` with :math:`c` free of ``j`` (expand the square and
      add :math:`S^2/2A`); this form stays finite at ``A = 0`` and ``v = 0``;
    * Gaussian conjugacy in :math:`x`: precision :math:`1/v + A`, hence
      :math:`E[x \mid S, j] = \dfrac{m + vS}{1 + Av}` (linear in :math:`\mu`).

    The responsibilities are :math:`r_j \propto p_j \prod_{\text{elements}} N(S; Am, A(1+Av))` and
    :math:`E^*[x\mid\mu] = \sum_j r_j E[x \mid S, j]`.
    """
    return _gaussian_mixture(pair, weights, means, variances, posterior=False)


def gaussian_mixture_posterior_at_accuracy(pair: LinearPair, weights: Any, means: Any, variances: Any) -> Callable[[Array, Array], Any]:
    r"""The per-coordinate posterior of :func:`gaussian_mixture_oracle_at_accuracy`:
    :math:`q(x_d \mid \mu) = \sum_j r_j\, N\big(\tfrac{m_{jd} + v_{jd} S_d}{1 + A v_{jd}}, \tfrac{v_{jd}}{1 + A v_{jd}}\big)`
    (a ``MixtureSameFamily``, batch shape ``(B, *data_shape)``)."""
    return _gaussian_mixture(pair, weights, means, variances, posterior=True)


def _gaussian_mixture(pair: LinearPair, weights: Any, means: Any, variances: Any, posterior: bool) -> Callable:
    _check_channel(pair, dist.Normal, lambda x, a: a, "an elementwise Normal channel with unit precision per unit accuracy (S | x ~ N(Ax, A))")
    means = _check_rows(means, "means")
    variances = V.check_positive(variances, "variances", allow_zero=True)
    try:
        variances = jnp.broadcast_to(jnp.asarray(variances, dtype=means.dtype), means.shape)
    except ValueError as err:
        raise V.PMMInputError(f"variances: shape {np.shape(variances)} does not broadcast to the means' shape {means.shape}") from err
    w = _check_weights(weights, means.shape[0])
    log_w = jnp.log(w)
    num_rows = means.shape[0]

    def parts(mu: Array, A: Array) -> tuple[Array, Array, Array]:
        """Row logits (B, J) with the weights, and E[x | S, j], Var[x | S, j] of shape (B, J, *shape)."""
        B = mu.shape[0]
        A = _accuracy_per_row(A, B)
        s = summed_statistic(pair, mu, A)[:, None]  # (B, 1, *shape)
        a = _expand(A, mu.ndim + 1)
        m, v = means[None], variances[None]
        denom = 1.0 + a * v
        ell = -0.5 * jnp.log(denom) + (v * s**2 + 2.0 * m * s - a * m**2) / (2.0 * denom)  # (B, J, *shape)
        logits = ell.reshape(B, num_rows, -1).sum(-1) + log_w
        return logits, (m + v * s) / denom, jnp.broadcast_to(v / denom, (B,) + means.shape)

    def g(mu: Array, A: Array) -> Array:
        logits, cond_mean, _ = parts(jnp.asarray(mu, dtype=jnp.result_type(float)), A)
        return jnp.einsum("bj,bj...->b...", jax.nn.softmax(logits, axis=-1), cond_mean)

    def q(mu: Array, A: Array) -> Any:
        logits, cond_mean, cond_var = parts(jnp.asarray(mu, dtype=jnp.result_type(float)), A)
        # a zero variance (point-mass component) stays a valid Normal with a negligible scale
        components = dist.Normal(_rows_last(pair, cond_mean), jnp.sqrt(jnp.maximum(_rows_last(pair, cond_var), 1e-30)))
        return _coordinate_mixture(pair, logits, components)

    return q if posterior else jax.jit(g)


def gaussian_mixture_oracle(pair: LinearPair, schedule: Any, weights: Any, means: Any, variances: Any) -> Denoiser:
    """:func:`gaussian_mixture_oracle_at_accuracy` read at ``A = schedule.A(t)``: a denoiser ``f(mu, t)`` that
    also gives its per-coordinate posterior (``.posterior(mu, t)``)."""
    return PosteriorDenoiser(_from_time(gaussian_mixture_oracle_at_accuracy(pair, weights, means, variances), schedule),
                             _from_time(gaussian_mixture_posterior_at_accuracy(pair, weights, means, variances), schedule, jit=False))


# ---------------------------------------------------------------------------------- Poisson mixture
def poisson_support_bound(rates: Any, tail_mass: float = POISSON_TAIL_MASS) -> int:
    r"""Smallest :math:`X_{\max}` with :math:`P(\mathrm{Poisson}(r) > X_{\max}) <` ``tail_mass`` for every rate."""
    from scipy.stats import poisson

    r = float(np.max(np.asarray(rates, dtype=np.float64)))
    x_max = int(poisson.isf(tail_mass, r)) if r > 0 else 0
    while poisson.sf(x_max, r) >= tail_mass:  # isf is approximate near the tail
        x_max += 1
    return x_max


def poisson_mixture_oracle_at_accuracy(pair: LinearPair, weights: Any, rates: Any) -> Callable[[Array, Array], Array]:
    r"""Exact (to a stated truncation) :math:`E^*[x \mid \mu_A]` for Gamma-Poisson and a Poisson mixture.

    Target: counts :math:`x \sim \sum_j p_j \prod_{\text{elements}} \mathrm{Poisson}(r_j)` (the
    component is shared by all elements of a datum, so elements are correlated through ``j``);
    ``rates`` ``(J, *data_shape)``, ``> 0``, ``weights`` ``(J,)``.

    Given the count :math:`N = (b_0 + A)\mu - a_0 \sim \mathrm{Poisson}(Ax)` per element,

    .. math::

       p(N \mid j) = \sum_{x \ge 0} \mathrm{Poi}(x; r_j)\,\mathrm{Poi}(N; Ax), \qquad
       E[x \mid N, j] = \frac{\sum_x x\,\mathrm{Poi}(x; r_j)\,\mathrm{Poi}(N; Ax)}{p(N \mid j)}

    (in closed form :math:`E[x \mid N, j] = T_{N+1}(\lambda)/T_N(\lambda)`, Touchard polynomials at
    :math:`\lambda = r_j e^{-A}`, impractical for large ``N``), and the responsibilities are
    :math:`\propto p_j \prod_{\text{elements}} p(N \mid j)`.  The sums over ``x`` are **truncated at**
    :math:`X_{\max}` = :func:`poisson_support_bound` (every component's tail beyond it has mass
    < ``POISSON_TAIL_MASS`` = 1e-12), so the error is negligible for states reached under the target
    (a state implying counts beyond :math:`X_{\max}` gets its posterior piled on :math:`X_{\max}`).
    Cost :math:`O(B J M X_{\max})` for ``M`` elements per datum.
    """
    return _poisson_mixture(pair, weights, rates, posterior=False)


def poisson_mixture_posterior_at_accuracy(pair: LinearPair, weights: Any, rates: Any) -> Callable[[Array, Array], Any]:
    r"""The per-coordinate posterior of :func:`poisson_mixture_oracle_at_accuracy`: per coordinate, the
    categorical law on ``0..X_max`` :math:`\sum_j r_j\, p(x \mid N, j)`, :math:`p(x \mid N, j) \propto
    \mathrm{Poi}(x; r_j)\,\mathrm{Poi}(N; Ax)` (integer draws)."""
    return _poisson_mixture(pair, weights, rates, posterior=True)


def _poisson_mixture(pair: LinearPair, weights: Any, rates: Any, posterior: bool) -> Callable:
    _check_channel(pair, dist.Poisson, lambda x, a: a * x, "an elementwise Poisson channel (S | x ~ Poisson(Ax))")
    rates = _check_rows(rates, "rates")
    V.check_positive(rates, "rates")
    w = _check_weights(weights, rates.shape[0])
    log_w = jnp.log(w)
    num_rows = rates.shape[0]
    x_max = poisson_support_bound(rates)
    support = jnp.arange(x_max + 1, dtype=rates.dtype)  # (X,)
    # log Poi(x; r_j) over the support: (J, *shape, X)
    log_prior_x = xlogy(support, rates[..., None]) - rates[..., None] - gammaln(support + 1.0)

    def parts(mu: Array, A: Array) -> tuple[Array, Array]:
        """Row logits (B, J) with the weights, and log p(x, N | j) over the support, (B, J, *shape, X)."""
        B = mu.shape[0]
        A = _accuracy_per_row(A, B)
        n = summed_statistic(pair, mu, A)[:, None, ..., None]  # (B, 1, *shape, 1)
        rate = _expand(A, mu.ndim + 2) * support  # (B, 1, ..., X)
        log_lik = xlogy(n, rate) - rate - gammaln(n + 1.0)  # log Poi(N; A x), -inf where impossible
        joint = log_prior_x[None] + log_lik  # (B, J, *shape, X)
        log_marg = jax.scipy.special.logsumexp(joint, axis=-1)  # log p(N | j) per element
        return _row_posterior_logits(log_marg.reshape(B, num_rows, -1)) + log_w, joint

    def g(mu: Array, A: Array) -> Array:
        logits, joint = parts(jnp.asarray(mu, dtype=jnp.result_type(float)), A)
        cond_mean = jnp.sum(jax.nn.softmax(joint, axis=-1) * support, axis=-1)  # E[x | N, j]
        return jnp.einsum("bj,bj...->b...", jax.nn.softmax(logits, axis=-1), jnp.nan_to_num(cond_mean))

    def q(mu: Array, A: Array) -> Any:
        logits, joint = parts(jnp.asarray(mu, dtype=jnp.result_type(float)), A)
        # a mixture over j of laws on the same support 0..X_max is one categorical on it
        post = jax.nn.softmax(logits, axis=-1)  # (B, J)
        cond = jnp.nan_to_num(jax.nn.softmax(joint, axis=-1))  # (B, J, *shape, X): x | N, j
        probs = jnp.einsum("bj,bj...->b...", post, cond)  # (B, *shape, X)
        return dist.Categorical(probs=probs / probs.sum(-1, keepdims=True))

    return q if posterior else jax.jit(g)


def poisson_mixture_oracle(pair: LinearPair, schedule: Any, weights: Any, rates: Any) -> Denoiser:
    """:func:`poisson_mixture_oracle_at_accuracy` read at ``A = schedule.A(t)``: a denoiser ``f(mu, t)`` that also
    gives its per-coordinate posterior (``.posterior(mu, t)``)."""
    return PosteriorDenoiser(_from_time(poisson_mixture_oracle_at_accuracy(pair, weights, rates), schedule),
                             _from_time(poisson_mixture_posterior_at_accuracy(pair, weights, rates), schedule, jit=False))


__all__ = [
    "POISSON_TAIL_MASS",
    "PosteriorDenoiser",
    "empirical_posterior_at_accuracy",
    "gaussian_mixture_posterior_at_accuracy",
    "poisson_mixture_posterior_at_accuracy",
    "empirical_oracle",
    "empirical_oracle_at_accuracy",
    "gaussian_mixture_oracle",
    "gaussian_mixture_oracle_at_accuracy",
    "poisson_mixture_oracle",
    "poisson_mixture_oracle_at_accuracy",
    "poisson_support_bound",
    "summed_statistic",
]

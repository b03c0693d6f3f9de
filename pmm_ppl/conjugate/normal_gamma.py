r"""Normal-Gamma: Normal observations with unknown mean and precision.

Data         :math:`x = (m, \tau)` on the last axis (size 2), :math:`m \in \mathbb{R}`, :math:`\tau > 0`.
Prior        :math:`\tau \sim \mathrm{Gamma}(a_0, b_0)` (shape, rate), :math:`m \mid \tau \sim N(m_0, 1/(\kappa_0\tau))`.
Likelihood   the accuracy :math:`n \in \{1, 2, \dots\}` is a number of i.i.d. draws
             :math:`z_1..z_n \sim N(m, 1/\tau)`, observed through their sufficient summary
             :math:`y = (\bar z, ss)`, :math:`ss = \sum_j (z_j - \bar z)^2`:
             :math:`\bar z \sim N(m, 1/(n\tau))` and :math:`ss \sim \mathrm{Gamma}((n-1)/2, \text{rate } \tau/2)`,
             independent (:math:`ss = 0` when :math:`n = 1`).  As a function of :math:`(m, \tau)` this density
             is proportional to the likelihood of the raw draws, so the posterior is the same.
Update       :math:`\kappa' = \kappa + n`, :math:`m' = (\kappa m + n\bar z)/\kappa'`, :math:`a' = a + n/2`,
             :math:`b' = b + ss/2 + \kappa n(\bar z - m)^2/(2\kappa')`.  Summaries combine exactly
             (:math:`N = \sum n_i`, :math:`\bar Z = \sum n_i\bar z_i/N`, :math:`SS = \sum ss_i + \sum n_i(\bar z_i - \bar Z)^2`
             is the summary of all draws), so a batch update equals the sequential updates in any order.
Posterior    :math:`\mathrm{NormalGamma}(m', \kappa', a', b')`, mean :math:`(m', a'/b')`.
Predictive   one future draw: Student-t with :math:`2a` degrees of freedom, location :math:`m` and
             scale :math:`\sqrt{b(\kappa+1)/(a\kappa)}`.  The summary of :math:`n` future draws has
             :math:`\bar z \sim t_{2a}(m, \sqrt{b v/a})` with :math:`v = 1/\kappa + 1/n` and joint density
             :math:`\frac{b^a\,\Gamma(a + 1/2 + k)}{\Gamma(a)\Gamma(k)\sqrt{2\pi v}\,2^k}\, ss^{k-1}
             \big(b + (\bar z - m)^2/(2v) + ss/2\big)^{-(a+1/2+k)}`, :math:`k = (n-1)/2`
             (:class:`NormalSummaryPredictive`).
Flow         after :math:`A` draws in total, the summary of all of them is
             :math:`\bar Z \sim N(m, 1/(A\tau))`, :math:`SS \sim \mathrm{Gamma}((A-1)/2, \tau/2)`, independent:
             it depends on the split :math:`n_1 + \dots + n_t = A` only through :math:`A`; the state is one
             update of the prior with it (``A = 0``: the prior; ``0 < A < 1``, a non-integer
             extension, is treated as ``SS = 0``).
Divergence   the summary is sufficient, so the KL between the laws of the :math:`n`-draw summaries is that
             of the raw draws: :math:`n\,KL(N(m, 1/\tau)\|N(\hat m, 1/\hat\tau)) =
             \tfrac{n}{2}\big(\log(\tau/\hat\tau) + \hat\tau/\tau - 1 + \hat\tau(m - \hat m)^2\big)`.
Plug-in      biased (``plug_in_exact = "no"``): integer steps of n >= 1 Normal draws, whose summary law is
             not affine in (m, tau).

Not a linear pair: the posterior mean of :math:`\tau`, :math:`a'/b'`, is not a running average of a
statistic with expectation proportional to :math:`\tau` -- :math:`b'` depends on the data through
:math:`(\bar z - m)^2`, which mixes the mean into the precision estimate; the state needs the four
numbers :math:`(m, \kappa, a, b)` (two of which, :math:`\kappa` and :math:`a`, are deterministic given
:math:`A`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import gammaln, xlogy
from numpyro.distributions import constraints

from pmm_ppl.conjugate import validation as V
from pmm_ppl.conjugate.base import ConjugatePair
from pmm_ppl.conjugate.registry import register

Array = jax.Array


# ---------------------------------------------------------------------- constraints and distributions
class _RealAnd(constraints.Constraint):
    """Support of a length-2 event ``(real, second)``, e.g. (mean, precision)."""

    event_dim = 1

    def __init__(self, second: constraints.Constraint, feasible_second: float):
        self.second = second
        self.feasible_second = feasible_second

    def __call__(self, x):
        x = jnp.asarray(x)
        return jnp.isfinite(x[..., 0]) & self.second(x[..., 1]) & (x.shape[-1] == 2)

    def feasible_like(self, prototype):
        return jnp.broadcast_to(jnp.array([0.0, self.feasible_second], prototype.dtype), prototype.shape)

    def tree_flatten(self):
        return (), ((), {"second": self.second, "feasible_second": self.feasible_second})


real_and_positive = _RealAnd(constraints.positive, 1.0)
real_and_nonnegative = _RealAnd(constraints.nonnegative, 0.0)


def _f(v) -> Array:
    return jnp.asarray(v, dtype=jnp.result_type(float))


class NormalGamma(dist.Distribution):
    r"""Joint law of :math:`(m, \tau)`: :math:`\tau \sim \mathrm{Gamma}(a, b)`, :math:`m \mid \tau \sim N(\mu, 1/(\kappa\tau))`.
    Event ``(2,)`` = (m, tau)."""

    arg_constraints = {
        "loc": constraints.real,
        "kappa": constraints.positive,
        "concentration": constraints.positive,
        "rate": constraints.positive,
    }
    support = real_and_positive

    def __init__(self, loc, kappa, concentration, rate, *, validate_args=None):
        self.loc, self.kappa, self.concentration, self.rate = jnp.broadcast_arrays(_f(loc), _f(kappa), _f(concentration), _f(rate))
        super().__init__(batch_shape=jnp.shape(self.loc), event_shape=(2,), validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        k1, k2 = jax.random.split(key)
        shape = tuple(sample_shape) + self.batch_shape
        tau = jax.random.gamma(k1, self.concentration, shape) / self.rate
        m = self.loc + jax.random.normal(k2, shape) * jax.lax.rsqrt(self.kappa * tau)
        return jnp.stack([m, tau], -1)

    def log_prob(self, value):
        m, tau = value[..., 0], value[..., 1]
        lp_tau = dist.Gamma(self.concentration, self.rate).log_prob(tau)
        lp_m = dist.Normal(self.loc, jax.lax.rsqrt(self.kappa * tau)).log_prob(m)
        return lp_tau + lp_m

    @property
    def mean(self):
        return jnp.stack([self.loc, self.concentration / self.rate], -1)

    @property
    def variance(self):
        a, b = self.concentration, self.rate
        var_m = jnp.where(a > 1, b / (self.kappa * (a - 1)), jnp.inf)
        return jnp.stack([var_m, a / b**2], -1)


def _summary_ss_log_prob(ss, tau, n):
    """log Gamma(ss; (n-1)/2, tau/2) for n > 1; for n = 1, ss = 0 exactly (log-mass 0, else -inf)."""
    k = (n - 1.0) / 2.0
    safe_k = jnp.where(k > 0, k, 1.0)
    safe_ss = jnp.where(ss > 0, ss, 1.0)
    lp = dist.Gamma(safe_k, tau / 2.0).log_prob(safe_ss)
    lp = jnp.where(ss > 0, lp, -jnp.inf)
    return jnp.where(k > 0, lp, jnp.where(ss == 0, 0.0, -jnp.inf))


def _sample_ss(key, tau, n, shape):
    """Gamma((n-1)/2, rate tau/2) draws, exactly 0 where n <= 1."""
    k = (n - 1.0) / 2.0
    safe_k = jnp.broadcast_to(jnp.where(k > 0, k, 1.0), shape)
    g = jax.random.gamma(key, safe_k, shape) * 2.0 / tau
    return jnp.where(k > 0, g, 0.0)


class NormalSummary(dist.Distribution):
    r"""Law of the summary :math:`(\bar z, ss)` of ``n`` i.i.d. draws from :math:`N(m, 1/\tau)`:
    :math:`\bar z \sim N(m, 1/(n\tau))`, :math:`ss \sim \mathrm{Gamma}((n-1)/2, \tau/2)` independent (:math:`ss = 0` if n = 1)."""

    arg_constraints = {"m": constraints.real, "tau": constraints.positive, "n": constraints.positive}
    support = real_and_nonnegative

    def __init__(self, m, tau, n, *, validate_args=None):
        self.m, self.tau, self.n = jnp.broadcast_arrays(_f(m), _f(tau), _f(n))
        super().__init__(batch_shape=jnp.shape(self.m), event_shape=(2,), validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        k1, k2 = jax.random.split(key)
        shape = tuple(sample_shape) + self.batch_shape
        zbar = self.m + jax.random.normal(k1, shape) * jax.lax.rsqrt(self.n * self.tau)
        return jnp.stack([zbar, _sample_ss(k2, self.tau, self.n, shape)], -1)

    def log_prob(self, value):
        zbar, ss = value[..., 0], value[..., 1]
        lp = dist.Normal(self.m, jax.lax.rsqrt(self.n * self.tau)).log_prob(zbar)
        return lp + _summary_ss_log_prob(ss, self.tau, self.n)

    @property
    def mean(self):
        return jnp.stack([self.m, (self.n - 1.0) / self.tau], -1)


class NormalSummaryPredictive(dist.Distribution):
    r"""Posterior predictive of the summary of ``n`` future draws under :math:`\mathrm{NormalGamma}(\mu, \kappa, a, b)`
    (closed form in the module docstring); for ``n = 1`` the first component is Student-t and ``ss = 0``."""

    arg_constraints = {
        "loc": constraints.real,
        "kappa": constraints.positive,
        "concentration": constraints.positive,
        "rate": constraints.positive,
        "n": constraints.positive,
    }
    support = real_and_nonnegative

    def __init__(self, loc, kappa, concentration, rate, n, *, validate_args=None):
        self.loc, self.kappa, self.concentration, self.rate, self.n = jnp.broadcast_arrays(
            _f(loc), _f(kappa), _f(concentration), _f(rate), _f(n)
        )
        super().__init__(batch_shape=jnp.shape(self.loc), event_shape=(2,), validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        k1, k2 = jax.random.split(key)
        theta = NormalGamma(self.loc, self.kappa, self.concentration, self.rate).sample(k1, sample_shape)
        return NormalSummary(theta[..., 0], theta[..., 1], self.n).sample(k2)

    def log_prob(self, value):
        zbar, ss = value[..., 0], value[..., 1]
        a, b, n = self.concentration, self.rate, self.n
        k = (n - 1.0) / 2.0
        v = 1.0 / self.kappa + 1.0 / n
        big_b = b + (zbar - self.loc) ** 2 / (2.0 * v) + ss / 2.0
        lp = xlogy(a, b) - gammaln(a) - 0.5 * jnp.log(2.0 * math.pi * v) + gammaln(a + 0.5 + k) - (a + 0.5 + k) * jnp.log(big_b)
        safe_k = jnp.where(k > 0, k, 1.0)
        safe_ss = jnp.where(ss > 0, ss, 1.0)
        lp_ss = -safe_k * math.log(2.0) + (safe_k - 1.0) * jnp.log(safe_ss) - gammaln(safe_k)
        lp_ss = jnp.where(ss > 0, lp_ss, -jnp.inf)
        return lp + jnp.where(k > 0, lp_ss, jnp.where(ss == 0, 0.0, -jnp.inf))

    def student_t(self) -> dist.StudentT:
        """Marginal law of the mean of the ``n`` future draws: :math:`t_{2a}(\\mu, \\sqrt{b(1/\\kappa + 1/n)/a})`."""
        a = self.concentration
        return dist.StudentT(2.0 * a, self.loc, jnp.sqrt(self.rate * (1.0 / self.kappa + 1.0 / self.n) / a))

    @property
    def mean(self):
        a, b = self.concentration, self.rate
        e_ss = jnp.where(a > 1, (self.n - 1.0) * b / (a - 1.0), jnp.where(self.n > 1, jnp.inf, 0.0))
        return jnp.stack([self.loc, e_ss], -1)


# ---------------------------------------------------------------------- the pair
class NormalGammaState(NamedTuple):
    """Posterior NormalGamma(loc, kappa, shape, rate); each leaf has the batch shape."""

    loc: Array
    kappa: Array
    shape: Array
    rate: Array


@register("normal_gamma")
@dataclasses.dataclass(frozen=True)
class NormalGammaPair(ConjugatePair):
    """Normal-Gamma prior on (mean, precision), n i.i.d. Normal draws per step summarised by (mean, sum of squares)."""

    prior_loc: float = 0.0  # m_0
    prior_kappa: float = 1.0  # kappa_0
    prior_shape: float = 2.0  # a_0
    prior_rate: float = 2.0  # b_0

    event_ndim = 1
    accuracy_kind = "integer"
    support_text = "(mean, precision > 0) pairs"
    plug_in_exact = "no"  # integer steps of Normal draws: the summary's law is not affine in (m, tau)
    output_head = None  # a real mean and a positive precision: no single head

    def __post_init__(self):
        V.check_finite(self.prior_loc, "prior_loc")
        V.check_hyper_positive(self.prior_kappa, "prior_kappa")
        V.check_hyper_positive(self.prior_shape, "prior_shape")
        V.check_hyper_positive(self.prior_rate, "prior_rate")

    # ------------------------------------------------------------------ distributions
    def prior(self) -> NormalGamma:
        return NormalGamma(self.prior_loc, self.prior_kappa, self.prior_shape, self.prior_rate)

    def observation(self, theta, alpha) -> NormalSummary:
        theta = jnp.asarray(theta)
        return NormalSummary(theta[..., 0], theta[..., 1], alpha)

    def model(self, ys=None, alphas=None, num_obs=None) -> None:
        """NUTS-friendly: ``tau ~ Gamma(a0, b0)``, ``m | tau ~ N(m0, 1/(kappa0 tau))`` as two sites, the joint
        recorded as ``theta = (m, tau)``; summaries ``y_i ~ NormalSummary(m, tau, n_i)``."""
        tau = numpyro.sample("tau", dist.Gamma(self.prior_shape, self.prior_rate))
        m = numpyro.sample("m", dist.Normal(self.prior_loc, jax.lax.rsqrt(self.prior_kappa * tau)))
        theta = numpyro.deterministic("theta", jnp.stack([m, tau], -1))
        n = ys.shape[0] if ys is not None else num_obs
        alphas = _f(alphas)
        alphas = jnp.broadcast_to(alphas, (n,)) if alphas.ndim == 0 else alphas
        numpyro.sample("y", self.observation(theta, alphas), obs=ys)

    # ------------------------------------------------------------------ posterior
    def init(self, batch_shape: tuple[int, ...] = ()) -> NormalGammaState:
        full = lambda v: jnp.full(batch_shape, v, dtype=jnp.result_type(float))  # noqa: E731
        return NormalGammaState(full(self.prior_loc), full(self.prior_kappa), full(self.prior_shape), full(self.prior_rate))

    def state_batch_shape(self, state: NormalGammaState) -> tuple[int, ...]:
        return tuple(jnp.shape(state.loc))

    @staticmethod
    def _fold(state: NormalGammaState, n, zbar, ss) -> NormalGammaState:
        """Fold in the summary ``(zbar, ss)`` of ``n`` draws (``n = 0`` leaves the state unchanged)."""
        kappa = state.kappa + n
        loc = (state.kappa * state.loc + n * zbar) / kappa
        rate = state.rate + 0.5 * ss + 0.5 * state.kappa * n * (zbar - state.loc) ** 2 / kappa
        return NormalGammaState(loc, kappa, state.shape + 0.5 * n, rate)

    def update(self, state: NormalGammaState, y, alpha) -> NormalGammaState:
        y = _f(y)
        return self._fold(state, _f(alpha), y[..., 0], y[..., 1])

    def update_many(self, state: NormalGammaState, ys, alphas) -> NormalGammaState:
        """Combine the summaries into the summary of all draws, then fold once."""
        ys = _f(ys)
        alphas = _f(alphas)
        alphas = jnp.broadcast_to(alphas, (ys.shape[0],)) if alphas.ndim == 0 else alphas
        n = alphas.reshape(alphas.shape + (1,) * (ys.ndim - 1 - alphas.ndim))  # (n_obs, batch-rank ones)
        zbar, ss = ys[..., 0], ys[..., 1]
        total = n.sum(0)
        zbar_all = (n * zbar).sum(0) / total
        ss_all = ss.sum(0) + (n * (zbar - zbar_all) ** 2).sum(0)
        return self._fold(state, total, zbar_all, ss_all)

    def posterior(self, state: NormalGammaState) -> NormalGamma:
        return NormalGamma(state.loc, state.kappa, state.shape, state.rate)

    def mean(self, state: NormalGammaState) -> Array:
        return jnp.stack([state.loc, state.shape / state.rate], -1)

    def predictive(self, state: NormalGammaState, alpha) -> NormalSummaryPredictive:
        return NormalSummaryPredictive(state.loc, state.kappa, state.shape, state.rate, alpha)

    # ------------------------------------------------------------------ flow
    def flow(self, key, x, total_accuracy) -> NormalGammaState:
        x = _f(x)
        m, tau = x[..., 0], x[..., 1]
        a = jnp.broadcast_to(_f(total_accuracy), m.shape)
        k1, k2 = jax.random.split(key)
        zbar = m + jax.random.normal(k1, m.shape) * jax.lax.rsqrt(jnp.maximum(a, 1.0) * tau)
        ss = _sample_ss(k2, tau, a, m.shape)
        return self._fold(self.init(m.shape), a, zbar, ss)

    def flow_log_prob(self, state: NormalGammaState, x, total_accuracy) -> Array:
        """Log density of the flow state's random part given ``x`` and ``A >= 1``: the summary
        :math:`(\\bar Z, SS)` is recovered from ``(loc, rate)`` (a map whose Jacobian does not depend on ``x``)
        and scored under :class:`NormalSummary`."""
        x = _f(x)
        a = _f(total_accuracy)
        k0, m0 = self.prior_kappa, self.prior_loc
        zbar = (state.kappa * state.loc - k0 * m0) / a
        ss = 2.0 * (state.rate - self.prior_rate - 0.5 * k0 * a * (zbar - m0) ** 2 / state.kappa)
        ss = jnp.where(a > 1, jnp.maximum(ss, 0.0), 0.0)  # rounding can leave a tiny negative
        return NormalSummary(x[..., 0], x[..., 1], a).log_prob(jnp.stack([zbar, ss], -1))

    def divergence(self, x, xhat, alpha) -> Array:
        """:math:`\\tfrac{n}{2}(\\log(\\tau/\\hat\\tau) + \\hat\\tau/\\tau - 1 + \\hat\\tau(m-\\hat m)^2)`."""
        x, xhat = _f(x), _f(xhat)
        m, tau, mh, tauh = x[..., 0], x[..., 1], xhat[..., 0], xhat[..., 1]
        return 0.5 * _f(alpha) * (jnp.log(tau / tauh) + tauh / tau - 1.0 + tauh * (m - mh) ** 2)

    # ------------------------------------------------------------------ validation
    def _check_pair(self, value, name: str, second: str, allow_zero: bool):
        value = V.check_finite(value, name)
        if V.is_traced(value):
            return value
        V.check_event_shape(value, name, (2,))
        arr = np.asarray(value)[..., 1]
        ok = arr >= 0 if allow_zero else arr > 0
        if not np.all(ok):
            bound = ">= 0" if allow_zero else "> 0"
            raise V.PMMInputError(f"{name}: the {second} {name}[..., 1] must be {bound}, got min {arr.min()}")
        return value

    def validate_data(self, x, name="x"):
        """``x = (m, tau)`` with ``tau > 0``."""
        return self._check_pair(x, name, "precision", allow_zero=False)

    def validate_observation(self, y, name="y"):
        """``y = (mean of the draws, sum of squared deviations >= 0)``."""
        return self._check_pair(y, name, "sum of squared deviations", allow_zero=True)

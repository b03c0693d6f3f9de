r"""Normal-Gamma: Normal observations with unknown mean and precision, as a linear pair in moment coordinates.

Data         :math:`x = (m, s)` on the last axis (size 2) with :math:`s = m^2 + 1/\tau > m^2`: the mean and the
             second moment :math:`(E z, E z^2)` of the observation law :math:`N(m, 1/\tau)`, i.e. its
             *mean parameters* (:meth:`NormalGammaPair.data_from_mean_precision` /
             :meth:`~NormalGammaPair.mean_precision` convert from / to :math:`(m, \tau)`).
Prior        :math:`\tau \sim \mathrm{Gamma}(a_0, b_0)` (shape, rate), :math:`m \mid \tau \sim N(m_0, 1/(\kappa_0\tau))`,
             pushed forward to :math:`x` (:class:`NormalGammaMoments`), with :math:`a_0 = (\kappa_0 + 3)/2`:
             this is the Diaconis-Ylvisaker conjugate prior of the Normal family in its natural parameters
             :math:`\eta = (m\tau, -\tau/2)`, :math:`p(\eta) \propto \exp(\kappa_0(x_0\cdot\eta - \psi(\eta)))`,
             :math:`\psi = m^2\tau/2 - \tfrac12\log\tau` (the Jacobian of :math:`\eta \mapsto (m, \tau)` is
             :math:`\tau/2`, so the power of :math:`\tau` is :math:`\kappa_0/2 + 1 = a_0 - 1/2`).  Under it
             :math:`E[x] = x_0 = (m_0,\ m_0^2 + 2b_0/\kappa_0)`.  The defaults :math:`\kappa_0 = 1`,
             :math:`a_0 = 2` satisfy it; another :math:`a_0` is refused (the posterior mean would not be linear).
Likelihood   the accuracy :math:`n \in \{1, 2, \dots\}` is a number of i.i.d. draws
             :math:`z_1..z_n \sim N(m, 1/\tau)`, observed through their sufficient summary
             :math:`y = (\bar z, ss)`, :math:`ss = \sum_j (z_j - \bar z)^2`:
             :math:`\bar z \sim N(m, 1/(n\tau))` and :math:`ss \sim \mathrm{Gamma}((n-1)/2, \text{rate } \tau/2)`,
             independent (:math:`ss = 0` when :math:`n = 1`).  As a function of :math:`(m, \tau)` this density
             is proportional to the likelihood of the raw draws, so the posterior is the same.
Update       linear pair: :math:`s(y, n) = (n\bar z,\ ss + n\bar z^2) = (\sum_j z_j, \sum_j z_j^2)`,
             :math:`E[s \mid x] = n x`, :math:`w(n) = n`, :math:`c_0 = \kappa_0`, :math:`\mu_0 = x_0`; the state
             :math:`C = \kappa_0 + N`, :math:`\mu = (\kappa_0 x_0 + S)/C` (:math:`N = \sum n_i`, :math:`S = \sum s_i`)
             is the textbook update :math:`\kappa' = \kappa_0 + N`, :math:`m' = \mu_1`, :math:`a' = a_0 + N/2 = (C + 3)/2`,
             :math:`b' = b_0 + SS/2 + \kappa_0 N(\bar Z - m_0)^2/(2\kappa') = C(\mu_2 - \mu_1^2)/2`.
Posterior    :math:`\mathrm{NormalGamma}(m' = \mu_1, \kappa' = C, a' = (C+3)/2, b' = C(\mu_2 - \mu_1^2)/2)` pushed
             forward to :math:`x`; mean :math:`(m',\ m'^2 + b'(1 + 1/\kappa')/(a' - 1)) = \mu` (Diaconis-Ylvisaker:
             exactly the running average).
Predictive   one future draw: Student-t with :math:`2a` degrees of freedom, location :math:`m` and
             scale :math:`\sqrt{b(\kappa+1)/(a\kappa)}`.  The summary of :math:`n` future draws has
             :math:`\bar z \sim t_{2a}(m, \sqrt{b v/a})` with :math:`v = 1/\kappa + 1/n` and joint density
             :math:`\frac{b^a\,\Gamma(a + 1/2 + k)}{\Gamma(a)\Gamma(k)\sqrt{2\pi v}\,2^k}\, ss^{k-1}
             \big(b + (\bar z - m)^2/(2v) + ss/2\big)^{-(a+1/2+k)}`, :math:`k = (n-1)/2`
             (:class:`NormalSummaryPredictive`).
Flow         after :math:`A` draws in total, :math:`S_A = (A\bar Z,\ SS + A\bar Z^2)` with
             :math:`\bar Z \sim N(m, 1/(A\tau))`, :math:`SS \sim \mathrm{Gamma}((A-1)/2, \tau/2)` independent
             (:class:`NormalSumLaw`): it depends on the split :math:`n_1 + \dots + n_t = A` only through :math:`A`.
             ``A = 0``: :math:`S = 0`.  A non-integer :math:`A > 1` (continuous-time training) uses the same law,
             still with :math:`E[S_A \mid x] = A x`; for :math:`0 < A < 1` it takes :math:`SS = 0`, where
             :math:`E[S_{A,2} \mid x] = A m^2 + 1/\tau \ne A s` -- no law of :math:`SS \ge 0` can have mean
             :math:`(A-1)/\tau < 0`, so the pair has no exact continuous-time limit below one draw.
Divergence   the summary is sufficient, so the KL between the laws of the :math:`n`-draw summaries is that
             of the raw draws, :math:`n\,KL(N(m, v)\|N(\hat m, \hat v))` with :math:`v = s - m^2`:
             :math:`\tfrac{n}{2}\big(\log(\hat v/v) + v/\hat v - 1 + (m - \hat m)^2/\hat v\big)`.  In :math:`x`, the
             Normal's mean parameters, this is the Bregman divergence of the Normal's negative entropy, so its
             expectation over :math:`x \mid \mu` is minimised by :math:`\hat x = E[x \mid \mu]` (in the old
             coordinates :math:`(m, \tau)` it was not: the minimiser was
             :math:`\hat\tau = 1/(E[1/\tau] + \mathrm{Var}(m))`, not :math:`E[\tau]`).
Plug-in      biased (``plug_in_exact = "no"``): integer steps of n >= 1 Normal draws, whose summary law is
             not affine in x (the variance :math:`n(s - m^2)` of :math:`\sum z_j` is quadratic).
"""

from __future__ import annotations

import dataclasses
import math
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import gammaln, xlogy
from numpyro.distributions import constraints
from numpyro.distributions.transforms import Transform, biject_to

from pmm_ppl.conjugate import validation as V
from pmm_ppl.conjugate.base import LinearPair, RunningMean
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


class _MeanAndSecondMoment(constraints.Constraint):
    """Support of the data ``x = (m, s)``: a mean and a second moment, ``s > m**2``."""

    event_dim = 1

    def __call__(self, x):
        x = jnp.asarray(x)
        m, s = x[..., 0], x[..., 1]
        return jnp.isfinite(m) & jnp.isfinite(s) & (s > m**2) & (x.shape[-1] == 2)

    def feasible_like(self, prototype):
        return jnp.broadcast_to(jnp.array([0.0, 1.0], prototype.dtype), prototype.shape)

    def tree_flatten(self):
        return (), ((), {})


mean_and_second_moment = _MeanAndSecondMoment()


class MomentsTransform(Transform):
    """:math:`(u, v) \\in \\mathbb{R}^2 \\mapsto (u,\\ u^2 + e^v)`, onto ``s > m**2`` (``biject_to`` of the data
    support, e.g. for unconstrained optimisation or NUTS over the data space); log-Jacobian :math:`v`."""

    domain = constraints.real_vector
    codomain = mean_and_second_moment

    def __call__(self, u):
        return jnp.stack([u[..., 0], u[..., 0] ** 2 + jnp.exp(u[..., 1])], -1)

    def _inverse(self, x):
        return jnp.stack([x[..., 0], jnp.log(x[..., 1] - x[..., 0] ** 2)], -1)

    def log_abs_det_jacobian(self, x, y, intermediates=None):
        return x[..., 1]

    def tree_flatten(self):
        return (), ((), {})

    def __eq__(self, other):
        return isinstance(other, MomentsTransform)


@biject_to.register(_MeanAndSecondMoment)
def _biject_to_moments(constraint):
    return MomentsTransform()


def data_from_mean_precision(m, tau) -> jax.Array:
    """:math:`(m, \\tau) \\mapsto x = (m, m^2 + 1/\\tau)` on a new last axis."""
    m, tau = jnp.broadcast_arrays(_f(m), _f(tau))
    return jnp.stack([m, m**2 + 1.0 / tau], -1)


def mean_precision(x) -> tuple[jax.Array, jax.Array]:
    """:math:`x = (m, s) \\mapsto (m, \\tau = 1/(s - m^2))`."""
    x = _f(x)
    return x[..., 0], 1.0 / (x[..., 1] - x[..., 0] ** 2)


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


class NormalGammaMoments(dist.Distribution):
    r"""Law of :math:`x = (m,\ m^2 + 1/\tau)` when :math:`(m, \tau) \sim \mathrm{NormalGamma}(\mu, \kappa, a, b)`
    (the pair's prior and posterior).  Density :math:`\mathrm{NormalGamma}(m, \tau)\,\tau^2` at
    :math:`\tau = 1/(s - m^2)`; mean :math:`(\mu,\ \mu^2 + c\,b/(a-1))` with :math:`c = 1 + 1/\kappa` (finite for
    :math:`a > 1`); variances :math:`b/(\kappa(a-1))` and, with :math:`u = 1/\tau \sim \mathrm{InvGamma}(a, b)`,
    :math:`\mathrm{Var}(s) = 2E[u^2]/\kappa^2 + 4\mu^2 E[u]/\kappa + c^2\mathrm{Var}(u)` (finite for :math:`a > 2`)."""

    arg_constraints = NormalGamma.arg_constraints
    support = mean_and_second_moment

    def __init__(self, loc, kappa, concentration, rate, *, validate_args=None):
        self.loc, self.kappa, self.concentration, self.rate = jnp.broadcast_arrays(_f(loc), _f(kappa), _f(concentration), _f(rate))
        super().__init__(batch_shape=jnp.shape(self.loc), event_shape=(2,), validate_args=validate_args)

    def _mean_precision_law(self) -> NormalGamma:
        return NormalGamma(self.loc, self.kappa, self.concentration, self.rate)

    def sample(self, key, sample_shape=()):
        theta = self._mean_precision_law().sample(key, sample_shape)
        return data_from_mean_precision(theta[..., 0], theta[..., 1])

    def log_prob(self, value):
        m, tau = mean_precision(value)
        return self._mean_precision_law().log_prob(jnp.stack([m, tau], -1)) + 2.0 * jnp.log(tau)

    @property
    def mean(self):
        a, b, c = self.concentration, self.rate, 1.0 + 1.0 / self.kappa
        second = jnp.where(a > 1, self.loc**2 + c * b / (a - 1.0), jnp.inf)
        return jnp.stack([self.loc, second], -1)

    @property
    def variance(self):
        a, b, k, mu = self.concentration, self.rate, self.kappa, self.loc
        c = 1.0 + 1.0 / k
        safe = jnp.where(a > 2, a, 3.0)
        e_u, e_u2 = b / (safe - 1.0), b**2 / ((safe - 1.0) * (safe - 2.0))
        var_s = 2.0 * e_u2 / k**2 + 4.0 * mu**2 * e_u / k + c**2 * (e_u2 - e_u**2)
        var_m = jnp.where(a > 1, b / (k * (a - 1.0)), jnp.inf)
        return jnp.stack([var_m, jnp.where(a > 2, var_s, jnp.inf)], -1)


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


class _NormalDrawsLaw(dist.Distribution):
    r"""A law of a two-number summary of ``n`` i.i.d. draws from :math:`N(m, 1/\tau)` (event shape ``(2,)``)."""

    support = real_and_nonnegative

    def __init__(self, m, tau, n, *, validate_args=None):
        self.m, self.tau, self.n = jnp.broadcast_arrays(_f(m), _f(tau), _f(n))
        super().__init__(batch_shape=jnp.shape(self.m), event_shape=(2,), validate_args=validate_args)


class NormalSummary(_NormalDrawsLaw):
    r"""Law of the summary :math:`(\bar z, ss)` of ``n`` i.i.d. draws from :math:`N(m, 1/\tau)`:
    :math:`\bar z \sim N(m, 1/(n\tau))`, :math:`ss \sim \mathrm{Gamma}((n-1)/2, \tau/2)` independent (:math:`ss = 0` if n = 1)."""

    arg_constraints = {"m": constraints.real, "tau": constraints.positive, "n": constraints.positive}

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


class NormalSumLaw(_NormalDrawsLaw):
    r"""Law of the summed statistic :math:`S = (\sum_j z_j, \sum_j z_j^2)` of ``n`` i.i.d. draws from
    :math:`N(m, 1/\tau)`: :math:`S = (n\bar z,\ ss + n\bar z^2)` with :math:`(\bar z, ss) \sim` :class:`NormalSummary`
    (``n = 0``: :math:`S = 0`; ``0 < n <= 1``: :math:`ss = 0`).  Density: that of the summary at
    :math:`(s_1/n,\ s_2 - s_1^2/n)` over the Jacobian :math:`n`; ``ss`` is read with a floor at the float
    rounding of :math:`s_2` (so that a state reconstructed in float32 never reads as an impossible ``ss <= 0``)."""

    arg_constraints = {"m": constraints.real, "tau": constraints.positive, "n": constraints.nonnegative}

    def sample(self, key, sample_shape=()):
        k1, k2 = jax.random.split(key)
        shape = tuple(sample_shape) + self.batch_shape
        n = jnp.broadcast_to(self.n, shape)
        s1 = n * self.m + jnp.sqrt(n / self.tau) * jax.random.normal(k1, shape)
        within = jnp.where(n > 0, s1**2 / jnp.where(n > 0, n, 1.0), 0.0)
        return jnp.stack([s1, _sample_ss(k2, self.tau, n, shape) + within], -1)

    def log_prob(self, value):
        s1, s2 = value[..., 0], value[..., 1]
        n = self.n
        zbar = s1 / n
        floor = jnp.finfo(zbar.dtype).eps * (jnp.abs(s2) + 1e-30)
        ss = jnp.where(n > 1, jnp.maximum(s2 - s1 * zbar, floor), 0.0)
        return NormalSummary(self.m, self.tau, n).log_prob(jnp.stack([zbar, ss], -1)) - jnp.log(n)

    @property
    def mean(self):
        return self.n[..., None] * data_from_mean_precision(self.m, self.tau)


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
@register("normal_gamma")
@dataclasses.dataclass(frozen=True)
class NormalGammaPair(LinearPair):
    """Normal-Gamma prior on (mean, precision) in the moment coordinates x = (m, m^2 + 1/tau); n i.i.d. Normal
    draws per step summarised by (mean, sum of squares).  A linear pair (Diaconis-Ylvisaker prior)."""

    prior_loc: float = 0.0  # m_0
    prior_kappa: float = 1.0  # kappa_0
    prior_shape: float | None = None  # a_0: (kappa_0 + 3)/2, derived when left out (any other value is refused)
    prior_rate: float = 2.0  # b_0

    event_ndim = 1
    accuracy_kind = "integer"
    support_text = "(m, s > m^2) = (mean, mean^2 + 1/precision)"
    plug_in_exact = "no"  # integer steps of Normal draws: the summary's law is not affine in x
    output_head = None  # a real mean and a second moment above its square: no single head

    def __post_init__(self):
        V.check_finite(self.prior_loc, "prior_loc")
        V.check_hyper_positive(self.prior_kappa, "prior_kappa")
        V.check_hyper_positive(self.prior_rate, "prior_rate")
        linear_shape = (float(self.prior_kappa) + 3.0) / 2.0
        if self.prior_shape is not None:
            V.check_hyper_positive(self.prior_shape, "prior_shape")
        if self.prior_shape is not None and abs(float(self.prior_shape) - linear_shape) > 1e-5 * linear_shape:  # float32 slack
            raise V.PMMInputError(
                f"prior_shape: the normal_gamma pair needs the Diaconis-Ylvisaker prior a_0 = (kappa_0 + 3)/2 = {linear_shape!r} "
                f"(prior_kappa = {self.prior_kappa!r}), under which its posterior mean of x = (m, m^2 + 1/tau) is the linear "
                f"running average; got {self.prior_shape!r}.  Leave prior_shape out to derive it."
            )
        object.__setattr__(self, "prior_shape", linear_shape)

    # ------------------------------------------------------------------ coordinates
    data_from_mean_precision = staticmethod(data_from_mean_precision)
    mean_precision = staticmethod(mean_precision)

    # ------------------------------------------------------------------ linear-pair constants
    @property
    def prior_weight(self) -> float:
        return float(self.prior_kappa)

    @property
    def prior_mean(self) -> Array:
        m0, k0, b0 = float(self.prior_loc), float(self.prior_kappa), float(self.prior_rate)
        return jnp.asarray([m0, m0**2 + 2.0 * b0 / k0], dtype=jnp.result_type(float))

    # ------------------------------------------------------------------ distributions
    def _law(self, state: RunningMean) -> tuple[Array, Array, Array, Array]:
        """NormalGamma hyperparameters (loc, kappa, shape, rate) of a state (module docstring)."""
        c, mu = state.weight, state.mean
        return mu[..., 0], c, (c + 3.0) / 2.0, c * (mu[..., 1] - mu[..., 0] ** 2) / 2.0

    def prior(self) -> NormalGammaMoments:
        return NormalGammaMoments(self.prior_loc, self.prior_kappa, self.prior_shape, self.prior_rate)

    def observation(self, theta, alpha) -> NormalSummary:
        m, tau = mean_precision(theta)
        return NormalSummary(m, tau, alpha)

    def model(self, ys=None, alphas=None, num_obs=None) -> None:
        """NUTS-friendly: ``tau ~ Gamma(a0, b0)``, ``m | tau ~ N(m0, 1/(kappa0 tau))`` as two sites, the datum
        recorded as ``theta = (m, m^2 + 1/tau)``; summaries ``y_i ~ NormalSummary(m, tau, n_i)``."""
        tau = numpyro.sample("tau", dist.Gamma(self.prior_shape, self.prior_rate))
        m = numpyro.sample("m", dist.Normal(self.prior_loc, jax.lax.rsqrt(self.prior_kappa * tau)))
        numpyro.deterministic("theta", data_from_mean_precision(m, tau))
        n = ys.shape[0] if ys is not None else num_obs
        alphas = _f(alphas)
        alphas = jnp.broadcast_to(alphas, (n,)) if alphas.ndim == 0 else alphas
        numpyro.sample("y", NormalSummary(m, tau, alphas), obs=ys)

    def statistic(self, y, alpha) -> Array:
        """:math:`(n\\bar z,\\ ss + n\\bar z^2)`: the sum and the sum of squares of the ``n`` draws."""
        y, n = _f(y), _f(alpha)
        zbar, ss = y[..., 0], y[..., 1]
        return jnp.stack([n * zbar, ss + n * zbar**2], -1)

    def statistic_law(self, x, total_accuracy) -> NormalSumLaw:
        m, tau = mean_precision(x)
        return NormalSumLaw(m, tau, total_accuracy)

    def posterior(self, state: RunningMean) -> NormalGammaMoments:
        return NormalGammaMoments(*self._law(state))

    def predictive(self, state: RunningMean, alpha) -> NormalSummaryPredictive:
        return NormalSummaryPredictive(*self._law(state), alpha)

    def divergence(self, x, xhat, alpha) -> Array:
        """:math:`\\tfrac{n}{2}(\\log(\\hat v/v) + v/\\hat v - 1 + (m-\\hat m)^2/\\hat v)`, :math:`v = s - m^2`."""
        x, xhat = _f(x), _f(xhat)
        m, mh = x[..., 0], xhat[..., 0]
        v, vh = x[..., 1] - m**2, xhat[..., 1] - mh**2
        return 0.5 * _f(alpha) * (jnp.log(vh / v) + v / vh - 1.0 + (m - mh) ** 2 / vh)

    # ------------------------------------------------------------------ validation
    def validate_data(self, x, name="x"):
        """``x = (m, s)`` with ``s > m**2`` (``s = m**2 + 1/tau``; see ``data_from_mean_precision``)."""
        x = V.check_finite(x, name)
        if V.is_traced(x):
            return x
        V.check_event_shape(x, name, (2,))
        arr = np.asarray(x)
        bad = ~(arr[..., 1] > arr[..., 0] ** 2)
        if np.any(bad):
            raise V.PMMInputError(
                f"{name}: the second moment {name}[..., 1] must exceed the squared mean {name}[..., 0]**2 "
                f"(x = (m, m^2 + 1/tau), e.g. from NormalGammaPair.data_from_mean_precision); {int(bad.sum())} value(s) do not"
            )
        return x

    def validate_observation(self, y, name="y"):
        """``y = (mean of the draws, sum of squared deviations >= 0)``."""
        y = V.check_finite(y, name)
        if V.is_traced(y):
            return y
        V.check_event_shape(y, name, (2,))
        ss = np.asarray(y)[..., 1]
        if not np.all(ss >= 0):
            raise V.PMMInputError(f"{name}: the sum of squared deviations {name}[..., 1] must be >= 0, got min {ss.min()}")
        return y

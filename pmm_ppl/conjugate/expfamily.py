r"""Exponential-family pairs: declare a log-partition, the toolkit derives the rest.

The channel.  An exponential family in its natural parameter :math:`\eta`, observed through a
statistic whose sum over accuracy :math:`\alpha` has the law

.. math::

   p_\alpha(s \mid \eta) = h_\alpha(s)\, \exp(\eta s - \alpha\,\psi(\eta)),

with log-partition :math:`\psi` (convex) on an open interval of natural parameters.  The data is the
*mean parameter* :math:`x = \psi'(\eta)`, so :math:`E[s \mid x] = \alpha x`.

The prior.  The Diaconis-Ylvisaker (DY) prior, a density in :math:`\eta` (Lebesgue measure),

.. math::

   \pi_{c,\mu}(\eta) \propto \exp(c\mu\,\eta - c\,\psi(\eta)), \qquad c > 0,

is conjugate: after statistics :math:`s_i` at accuracies :math:`\alpha_i` the posterior is
:math:`\pi_{C,\mu}` with :math:`C = c_0 + A` and :math:`\mu = (c_0\mu_0 + \sum s_i)/C`, and (Diaconis
and Ylvisaker, 1979) :math:`E[\psi'(\eta) \mid \text{data}] = \mu`.  So this is a
:class:`~pmm_ppl.conjugate.base.LinearPair` with :math:`w = \alpha`, :math:`s = T(y)`,
state :math:`(C, \mu)`.

Derived here from :math:`\psi` by autodiff (the declaration does not write them):

* :math:`\eta(x)` -- Newton's method on :math:`\psi'(\eta) = x`, in unconstrained coordinates
  (:meth:`ExpFamilyPair.natural_parameter`); its derivative is :math:`1/V(x)` (implicit function);
* the variance function :math:`V(x) = \psi''(\eta(x))` and from it the exactness class of the plug-in
  sampler (docs/design.md section 5): the plug-in is exact in the continuous-time limit iff the channel's
  generator is affine in :math:`x`, which for a natural exponential family holds iff :math:`V` is affine
  (Morris, 1982).  ``plug_in_exact`` is ``"limit"`` for real accuracies with affine :math:`V`;
  ``"unit_steps"`` for integer accuracies whose single-trial law is affine in :math:`x` (declared with
  ``single_trial_affine``); ``"no"`` otherwise;
* the divergence :math:`KL(p_\alpha(\cdot|x) \| p_\alpha(\cdot|\hat x)) =
  \alpha[\psi(\hat\eta) - \psi(\eta) - x(\hat\eta - \eta)]`, a Bregman divergence of :math:`\psi^*` in
  :math:`x`, so every weighting of it keeps the minimiser :math:`E[x \mid \mu]`;
* ``flow_log_prob`` up to terms free of :math:`x`: :math:`\eta(x) S - A\,\psi(\eta(x))` (what the exact
  oracles need);
* the prior and posterior law of :math:`x`: the DY density pushed forward to :math:`x`,
  :math:`\log\pi(x) = c\mu\,\eta(x) - c\,\psi(\eta(x)) - \log V(x) - \log Z(c, \mu)`.  By default it is
  :class:`NaturalConjugateLaw`, which normalises it by quadrature and samples by inverse CDF on a grid;
  a declaration may override :meth:`ExpFamilyPair.conjugate_law` with a named law (Gamma, Beta, ...),
  which the tests check against the derived density;
* the exact predictive from the normaliser: with :math:`C' = C + \alpha`, :math:`\mu' = (C\mu + s)/C'`,
  :math:`\log p(y) = \log h_\alpha(y) + \log Z(C', \mu') - \log Z(C, \mu)` where
  :math:`\log h_\alpha(y) = \log p_\alpha(y \mid x^*) - \eta^* s(y) + \alpha\psi(\eta^*)` for any
  :math:`x^*`, and :math:`\log Z` is read off the conjugate law at one point (:class:`ExpFamilyPredictive`);
* the NumPyro model: :math:`\eta` with the unnormalised DY density (``numpyro.factor``) and
  ``theta = psi'(eta)`` recorded as a deterministic site, so that NUTS checks the (possibly named)
  conjugate law against :math:`\psi` itself.

Not derivable from :math:`\psi`, so declared: the law of :math:`S_A` given :math:`x`
(``statistic_law``, which carries :math:`h_\alpha`), the natural parameter's interval
(``natural_domain``), the data's and observations' supports (``data_domain``,
``observation_domain``), the accuracy kind, the hyperparameters :math:`(c_0, \mu_0)` (fields ``c0``,
``mu0``), and optionally an observation ``y`` other than :math:`s` itself (``observation`` and
``statistic(y, alpha)``, e.g. a log-normal ``y`` with :math:`s = \alpha\log y`).

Scope: scalar events (``event_ndim = 0``); multinomial-type families need a vector Newton step.
See ``docs/expfamily_pairs.md``.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import inspect
import math
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.distributions import constraints

from pmm_ppl.conjugate import validation as V
from pmm_ppl.conjugate.base import LinearPair, RunningMean
from pmm_ppl.conjugate.poisson_sampler import sample_law

Array = jax.Array

#: Newton iterations for eta(x) (quadratic convergence; the coordinates make most maps near-linear)
NEWTON_STEPS = 30
#: quadrature grid of NaturalConjugateLaw: points and half-width in Laplace standard deviations
GRID_POINTS = 2049
GRID_HALF_WIDTH = 16.0

_DATA_CHECKS = {
    "real": lambda x, name: V.check_finite(x, name),
    "positive": lambda x, name: V.check_positive(x, name),
    "unit": lambda x, name: V.check_in_interval(x, name, 0.0, 1.0, closed=False),
}
_OBSERVATION_CHECKS = {
    "real": lambda y, name: V.check_finite(y, name),
    "positive": lambda y, name: V.check_positive(y, name),
    "counts": lambda y, name: V.check_counts(y, name),
}
_HEADS = {"real": "real", "positive": "positive", "unit": "unit"}
_SUPPORT_TEXT = {"real": "real numbers", "positive": "positive reals", "unit": "probabilities in (0, 1)"}


def as_float(x) -> Array:
    """``x`` as an array of the default float dtype (float32 unless x64 is enabled)."""
    return jnp.asarray(x, dtype=jnp.result_type(float))


class _DerivedExactness:
    """Class attribute ``plug_in_exact`` of an exp-family pair, derived from its variance function
    (with the default hyperparameters, once per class; the class is a property of the family)."""

    def __get__(self, obj, cls):
        if inspect.isabstract(cls):
            return "no"
        if "_exactness" not in cls.__dict__:
            cls._exactness = (obj if obj is not None else cls()).derive_exactness()
        return cls._exactness


@dataclasses.dataclass(frozen=True)
class ExpFamilyPair(LinearPair):
    r"""Base class of exponential-family pairs with the Diaconis-Ylvisaker prior (module docstring).

    A declaration is a frozen dataclass with fields ``c0`` (prior weight :math:`c_0 > 0`), ``mu0``
    (prior mean :math:`\mu_0` of :math:`x`) and the family's known constants, and defines
    ``log_partition(eta)``, ``statistic_law(x, A)``, the class variables ``natural_domain``,
    ``data_domain``, ``observation_domain`` (and ``accuracy_kind``), and optionally
    ``conjugate_law(c, mu)`` (a named law of :math:`x`), ``observation``/``statistic`` (an observation
    other than the statistic) and ``natural_parameter`` (a closed form for :math:`\eta(x)`).
    """

    c0: float = 1.0
    mu0: float = 1.0

    #: open interval of the natural parameter eta (either end may be infinite)
    natural_domain: ClassVar[tuple[float, float]] = (-math.inf, math.inf)
    #: support of the data x = psi'(eta): "real", "positive" or "unit"
    data_domain: ClassVar[str] = "real"
    #: support of the observation y: "real", "positive" or "counts"
    observation_domain: ClassVar[str] = "real"
    #: integer accuracies only: the law of one trial is affine in x (Bernoulli-type), see plug_in_exact
    single_trial_affine: ClassVar[bool] = False
    plug_in_exact = _DerivedExactness()
    default_a_max: ClassVar[float] = 1e3

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)

        def declared(attr):  # by the declaration or a declared parent, not derived below
            return any(attr in k.__dict__ and not k.__dict__.get(f"_derived_{attr}") for k in cls.__mro__[: cls.__mro__.index(ExpFamilyPair)])

        for attr, table in (("output_head", _HEADS), ("support_text", _SUPPORT_TEXT)):
            if not declared(attr):
                setattr(cls, attr, table[cls.data_domain])
                setattr(cls, f"_derived_{attr}", True)

    def __post_init__(self):
        V.check_hyper_positive(self.c0, "c0")
        V.check_finite(self.mu0, "mu0")
        try:
            self.validate_data(self.mu0, "mu0")
        except V.PMMInputError as err:
            raise V.PMMInputError(f"mu0: the prior mean must be a possible datum ({self.support_text}); {err}") from None
        self.check_hyperparameters()

    def check_hyperparameters(self) -> None:
        """Check the family's own constants (override; name the field in the error)."""

    # ------------------------------------------------------------------ the declaration
    @abc.abstractmethod
    def log_partition(self, eta: Array) -> Array:
        r""":math:`\psi(\eta)` per unit accuracy, elementwise."""

    # ------------------------------------------------------------------ derived: the family
    def mean_parameter(self, eta: Array) -> Array:
        r""":math:`x = \psi'(\eta)` (autodiff)."""
        return jax.grad(lambda e: jnp.sum(self.log_partition(e)))(as_float(eta))

    def _psi2(self, eta: Array) -> Array:
        return jax.grad(lambda e: jnp.sum(self.mean_parameter(e)))(as_float(eta))

    def _to_natural(self, u: Array) -> Array:
        """Unconstrained coordinate u -> eta in ``natural_domain``."""
        lo, hi = self.natural_domain
        if math.isinf(lo) and math.isinf(hi):
            return u
        if math.isinf(lo):
            return hi - jnp.exp(u)
        if math.isinf(hi):
            return lo + jnp.exp(u)
        return lo + (hi - lo) * jax.nn.sigmoid(u)

    def _from_natural(self, eta: Array) -> Array:
        lo, hi = self.natural_domain
        if math.isinf(lo) and math.isinf(hi):
            return eta
        if math.isinf(lo):
            return jnp.log(hi - eta)
        if math.isinf(hi):
            return jnp.log(eta - lo)
        return jax.scipy.special.logit((eta - lo) / (hi - lo))

    def _mean_coordinate(self, x: Array) -> Array:
        """Data in unconstrained coordinates (log for positive data, logit for probabilities)."""
        return {"real": lambda v: v, "positive": jnp.log, "unit": jax.scipy.special.logit}[self.data_domain](x)

    def natural_parameter(self, x: Array) -> Array:
        r""":math:`\eta(x)`, the inverse of :math:`\psi'`: Newton's method in unconstrained coordinates
        (steps clipped to 4) on :math:`m(\psi'(\eta(u))) = m(x)`, then one differentiable Newton step,
        so that :math:`d\eta/dx = 1/V(x)` under autodiff without differentiating the iterations."""
        x = as_float(x)
        eta = jax.lax.stop_gradient(_newton(self, x))
        return eta + (x - self.mean_parameter(eta)) / self._psi2(eta)

    def variance_function(self, x: Array) -> Array:
        r""":math:`V(x) = \psi''(\eta(x))`, the variance of the statistic per unit accuracy."""
        return self._psi2(self.natural_parameter(x))

    def derive_exactness(self) -> str:
        """``plug_in_exact`` (see the module docstring): is V affine in x?  Tested at the natural parameters
        ``eta(u)``, ``u`` in [-2, 2] (nine points, no Newton step or sampling: cheap enough for ``pmm pairs``)."""
        if self.accuracy_kind == "integer":
            return "unit_steps" if self.single_trial_affine else "no"
        eta = self._to_natural(jnp.linspace(-2.0, 2.0, 9))
        xs = np.asarray(self.mean_parameter(eta), np.float64)
        v = np.asarray(self._psi2(eta), np.float64)
        design = np.stack([np.ones_like(v), xs], 1)
        resid = v - design @ np.linalg.lstsq(design, v, rcond=None)[0]
        return "limit" if np.max(np.abs(resid)) <= 1e-3 * np.max(np.abs(v)) else "no"

    def dy_log_density(self, eta: Array, c: Array, mu: Array) -> Array:
        r"""Unnormalised DY log density in :math:`\eta`: :math:`c\mu\eta - c\psi(\eta)`."""
        return c * mu * eta - c * self.log_partition(eta)

    def conjugate_log_density(self, x: Array, c: Array, mu: Array) -> Array:
        r"""Unnormalised log density of :math:`x` under :math:`\pi_{c,\mu}`: :math:`c\mu\eta(x) - c\psi(\eta(x)) - \log V(x)`."""
        eta = self.natural_parameter(x)
        return self.dy_log_density(eta, c, mu) - jnp.log(self._psi2(eta))

    def conjugate_law(self, c: Array, mu: Array) -> dist.Distribution:
        r"""Law of :math:`x` under the DY density :math:`\pi_{c,\mu}` (default: :class:`NaturalConjugateLaw`)."""
        return NaturalConjugateLaw(self, c, mu)

    def log_normaliser(self, c: Array, mu: Array) -> Array:
        r""":math:`\log Z(c, \mu) = \log\int \exp(c\mu\eta - c\psi(\eta))\,d\eta`, read off ``conjugate_law`` at :math:`x = \mu`."""
        c, mu = as_float(c), as_float(mu)
        return self.conjugate_log_density(mu, c, mu) - self.conjugate_law(c, mu).log_prob(mu)

    # ------------------------------------------------------------------ LinearPair constants
    @property
    def prior_weight(self) -> float:
        return self.c0

    @property
    def prior_mean(self) -> Array:
        return as_float(self.mu0)

    # ------------------------------------------------------------------ distributions
    def prior(self) -> dist.Distribution:
        return self.conjugate_law(as_float(self.c0), as_float(self.mu0))

    def observation(self, theta, alpha) -> dist.Distribution:
        """Default: the observation is the summed statistic itself, :math:`y = S_\\alpha`."""
        return self.statistic_law(theta, alpha)

    def statistic(self, y, alpha):
        return as_float(y)

    def sample_statistic(self, key, x, total_accuracy):
        """:math:`S_A` from ``statistic_law``; exactly 0 at :math:`A = 0` (no observation yet)."""
        a = as_float(total_accuracy)
        draw = as_float(sample_law(key, self.statistic_law(x, jnp.where(a > 0, a, 1.0))))
        return jnp.where(a > 0, draw, 0.0)

    def posterior(self, state: RunningMean) -> dist.Distribution:
        return self.conjugate_law(state.weight, state.mean)

    def predictive(self, state: RunningMean, alpha) -> dist.Distribution:
        return ExpFamilyPredictive(self, state.weight, state.mean, alpha)

    def divergence(self, x, xhat, alpha):
        r""":math:`\alpha[\psi(\hat\eta) - \psi(\eta) - x(\hat\eta - \eta)] = \alpha\int_\eta^{\hat\eta} (\psi'(t) - x)\,dt`.

        When :math:`\hat x` is within 25% of :math:`x` the integral form is used (8-point Gauss-Legendre):
        its integrand is small near :math:`\eta`, so float32 keeps the relative precision that the
        difference of :math:`\psi` values loses to cancellation; farther apart, the closed form."""
        x, xhat = as_float(x), as_float(xhat)
        eta, eta_hat = self.natural_parameter(x), self.natural_parameter(xhat)
        d = eta_hat - eta
        closed = self.log_partition(eta_hat) - self.log_partition(eta) - x * d
        nodes, weights = (jnp.asarray(v, d.dtype) for v in np.polynomial.legendre.leggauss(8))
        t = eta[..., None] + 0.5 * d[..., None] * (1.0 + nodes)
        near = 0.5 * d * jnp.sum(weights * (self.mean_parameter(t) - x[..., None]), -1)
        close = jnp.abs(xhat - x) <= 0.25 * (jnp.abs(x) + jnp.abs(xhat))
        return as_float(alpha) * jnp.where(close, near, closed)

    def flow_log_prob(self, state: RunningMean, x, total_accuracy):
        r""":math:`\eta(x) S - A\psi(\eta(x))` with :math:`S = C\mu - c_0\mu_0`: the flow law's log density up to
        :math:`\log h_A(S)` and the Jacobian of :math:`S \mapsto \mu`, both free of :math:`x`."""
        s = state.weight * state.mean - self.c0 * self.mu0
        eta = self.natural_parameter(x)
        return eta * s - as_float(total_accuracy) * self.log_partition(eta)

    def model(self, ys=None, alphas=None, num_obs=None) -> None:
        r"""NumPyro model from :math:`\psi` alone: ``eta`` with the unnormalised DY density, ``theta = psi'(eta)``
        (deterministic site), ``y_i ~ observation(theta, alpha_i)``.  NUTS on it checks ``conjugate_law``."""
        lo, hi = self.natural_domain
        if math.isinf(lo) and math.isinf(hi):
            support = constraints.real
        elif math.isinf(lo):
            support = constraints.less_than(hi)
        elif math.isinf(hi):
            support = constraints.greater_than(lo)
        else:
            support = constraints.interval(lo, hi)
        eta = numpyro.sample("eta", dist.ImproperUniform(support, (), ()))
        numpyro.factor("dy_prior", self.dy_log_density(eta, self.c0, self.mu0))
        theta = numpyro.deterministic("theta", self.mean_parameter(eta))
        n = ys.shape[0] if ys is not None else num_obs
        alphas = as_float(alphas)
        alphas = jnp.broadcast_to(alphas, (n,)) if alphas.ndim == 0 else alphas
        numpyro.sample("y", self.observation(theta, alphas), obs=ys)

    # ------------------------------------------------------------------ validation
    def validate_data(self, x: Any, name: str = "x") -> Array:
        return _DATA_CHECKS[self.data_domain](x, name)

    def validate_observation(self, y: Any, name: str = "y") -> Array:
        return _OBSERVATION_CHECKS[self.observation_domain](y, name)


@functools.partial(jax.jit, static_argnums=0)
def _newton(pair: ExpFamilyPair, x: Array) -> Array:
    """Newton iterations of :meth:`ExpFamilyPair.natural_parameter` (jitted per pair: eager calls reuse it)."""
    target = pair._mean_coordinate(x)

    def g(u):
        return pair._mean_coordinate(pair.mean_parameter(pair._to_natural(u)))

    dg = jax.grad(lambda u: jnp.sum(g(u)))

    def step(_, u):
        return u - jnp.clip((g(u) - target) / dg(u), -4.0, 4.0)

    return pair._to_natural(jax.lax.fori_loop(0, NEWTON_STEPS, step, jnp.zeros_like(target)))


class NaturalConjugateLaw(dist.Distribution):
    r"""The DY law :math:`\pi_{c,\mu}` of :math:`x = \psi'(\eta)` for any declared :math:`\psi` (scalar events).

    Works in the unconstrained coordinate :math:`u` of :math:`\eta` (``ExpFamilyPair._to_natural``):
    a grid of ``GRID_POINTS`` points over :math:`u^* \pm` ``GRID_HALF_WIDTH`` Laplace standard deviations
    around :math:`u^* = u(\eta(\mu))`, the mode of the DY density in :math:`\eta`
    (:math:`\psi'(\eta) = \mu`, curvature :math:`c V(\mu)`).  ``log_prob`` is the exact unnormalised density
    minus a trapezoid-rule :math:`\log Z`; ``sample`` inverts the trapezoid CDF with linear interpolation;
    ``mean`` is :math:`\mu` exactly (DY), ``variance`` the quadrature value.
    """

    arg_constraints = {"c": constraints.positive, "mu": constraints.real}
    pytree_data_fields = ("c", "mu")
    pytree_aux_fields = ("pair",)

    def __init__(self, pair: ExpFamilyPair, c, mu, *, validate_args=None):
        self.pair = pair
        self.c, self.mu = jnp.broadcast_arrays(as_float(c), as_float(mu))
        super().__init__(batch_shape=jnp.shape(self.c), event_shape=(), validate_args=validate_args)

    @property
    def support(self):
        return {"real": constraints.real, "positive": constraints.positive, "unit": constraints.open_interval(0.0, 1.0)}[self.pair.data_domain]

    def _grid(self):
        """``u`` grid (batch + (G,)), log density in u on it (unnormalised) and its log normaliser."""
        p = self.pair
        c, mu = self.c[..., None], self.mu[..., None]
        u_star = p._from_natural(p.natural_parameter(self.mu))[..., None]
        # Laplace width in u: sd_eta = 1 / sqrt(c V(mu)), d eta / du at u*
        deta_du = jax.grad(lambda u: jnp.sum(p._to_natural(u)))(u_star)
        sd_u = 1.0 / (jnp.sqrt(c * p._psi2(p._to_natural(u_star))) * jnp.abs(deta_du))
        t = jnp.linspace(-GRID_HALF_WIDTH, GRID_HALF_WIDTH, GRID_POINTS)
        u = u_star + sd_u * t
        eta = p._to_natural(u)
        jac = jnp.log(jnp.abs(jax.grad(lambda v: jnp.sum(p._to_natural(v)))(u)))
        lp = p.dy_log_density(eta, c, mu) + jac
        lp = jnp.where(jnp.isfinite(lp), lp, -jnp.inf)
        top = jnp.max(lp, -1, keepdims=True)
        w = jnp.exp(lp - top)
        du = u[..., 1:2] - u[..., 0:1]
        cum = jnp.concatenate([jnp.zeros_like(w[..., :1]), jnp.cumsum(0.5 * (w[..., 1:] + w[..., :-1]), -1)], -1) * du
        log_z = jnp.log(cum[..., -1]) + top[..., 0]
        return u, eta, cum / cum[..., -1:], log_z

    def log_prob(self, value):
        _, _, _, log_z = self._grid()
        return self.pair.conjugate_log_density(value, self.c, self.mu) - log_z

    def sample(self, key, sample_shape=()):
        u, _, cdf, _ = self._grid()
        shape = tuple(sample_shape) + self.batch_shape
        q = jax.random.uniform(key, shape, minval=1e-7, maxval=1.0 - 1e-7)
        flat_u = jnp.broadcast_to(u, shape + u.shape[-1:]).reshape(-1, u.shape[-1])
        flat_cdf = jnp.broadcast_to(cdf, shape + u.shape[-1:]).reshape(-1, u.shape[-1])
        draws = jax.vmap(jnp.interp)(q.reshape(-1), flat_cdf, flat_u).reshape(shape)
        return self.pair.mean_parameter(self.pair._to_natural(draws))

    @property
    def mean(self):
        return self.mu

    def quadrature_moments(self) -> tuple[Array, Array]:
        r"""Mean and variance of :math:`x` by quadrature on the grid.  The mean must equal :math:`\mu` (DY);
        where it does not, the family violates the DY boundary condition (see ``expfamily_pairs``)."""
        u, eta, cdf, _ = self._grid()
        x = self.pair.mean_parameter(eta)
        dp = jnp.diff(cdf, axis=-1)
        mid = 0.5 * (x[..., 1:] + x[..., :-1])
        m = jnp.sum(dp * mid, -1)
        return m, jnp.sum(dp * (mid - m[..., None]) ** 2, -1)

    @property
    def variance(self):
        return self.quadrature_moments()[1]


class ExpFamilyPredictive(dist.Distribution):
    r"""Posterior predictive of the next observation at accuracy :math:`\alpha` from state :math:`(C, \mu)`.

    ``log_prob`` is exact: :math:`\log h_\alpha(y) + \log Z(C + \alpha, \mu') - \log Z(C, \mu)` with
    :math:`\mu' = (C\mu + s(y, \alpha))/(C + \alpha)` (module docstring); ``sample`` draws
    :math:`x` from the posterior, then :math:`y \mid x`.  ``mean`` is :math:`\alpha\mu` when the observation
    is the statistic itself (otherwise not implemented)."""

    arg_constraints = {"c": constraints.positive, "mu": constraints.real, "alpha": constraints.positive}
    pytree_data_fields = ("c", "mu", "alpha")
    pytree_aux_fields = ("pair",)

    def __init__(self, pair: ExpFamilyPair, c, mu, alpha, *, validate_args=None):
        self.pair = pair
        self.c, self.mu, self.alpha = jnp.broadcast_arrays(as_float(c), as_float(mu), as_float(alpha))
        super().__init__(batch_shape=jnp.shape(self.c), event_shape=(), validate_args=validate_args)

    @property
    def support(self):
        return self.pair.observation(self.pair.prior().support.feasible_like(self.mu), self.alpha).support

    def log_prob(self, value):
        p = self.pair
        s = p.statistic(value, self.alpha)
        eta_star = p.natural_parameter(self.mu)
        log_h = p.observation(self.mu, self.alpha).log_prob(value) - (eta_star * s - self.alpha * p.log_partition(eta_star))
        c_new = self.c + self.alpha
        mu_new = (self.c * self.mu + s) / c_new
        return log_h + p.log_normaliser(c_new, mu_new) - p.log_normaliser(self.c, self.mu)

    def sample(self, key, sample_shape=()):
        k1, k2 = jax.random.split(key)
        x = self.pair.posterior(RunningMean(self.c, self.mu)).sample(k1, sample_shape)
        return self.pair.observation(x, self.alpha).sample(k2)

    @property
    def mean(self):
        if type(self.pair).observation is not ExpFamilyPair.observation:
            raise NotImplementedError("the predictive mean of an observation other than the statistic")
        return self.alpha * self.mu

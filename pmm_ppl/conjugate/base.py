r"""The conjugate pair protocol: the one contract every pair implements.

A *conjugate pair* is a prior :math:`\pi(\theta)` and an observation model
:math:`\pi_\alpha(y \mid \theta)` whose informativeness grows with an accuracy
:math:`\alpha \ge 0` (a precision, an exposure, a number of trials).  In PMM the
data :math:`x` takes the place of :math:`\theta`: observations
:math:`y_i \sim \pi_{\alpha_i}(\cdot \mid x)` are folded into the posterior, whose
mean :math:`\mu_t = E[\theta \mid y_{1:t}]` converges to :math:`x` as the cumulative
accuracy :math:`A_t = \sum_{i \le t} \alpha_i` grows.

Throughout, :math:`\theta` is parametrised *in data space* (the same space and
support as :math:`x`), so that ``mean(state)`` is directly comparable with the data.

Two classes live here:

* :class:`ConjugatePair` -- the abstract contract (see the method list below).
* :class:`LinearPair` -- the common special case of docs/design.md section 2, where the
  posterior is a weighted running average

  .. math::

     C_t = c_0 + \sum_{i \le t} w(\alpha_i), \qquad
     \mu_t = \frac{c_0 \mu_0 + \sum_{i \le t} s(y_i, \alpha_i)}{C_t}, \qquad
     E[s(y_i, \alpha_i) \mid x] = w(\alpha_i)\, x .

  A linear pair only states its statistic ``s``, weight ``w``, the law of the
  summed statistic (for the flow) and its distributions; updates, batched updates,
  the flow, the posterior mean and the step gain :math:`\kappa = w/C` are generic.

Shapes.  Data ``x`` has shape ``batch + event`` where ``event`` has
``event_ndim`` trailing axes (0 for elementwise pairs such as Normal-Normal, 1 for
Dirichlet over K classes, ...).  Every state leaf broadcasts against the batch
shape.  ``alpha`` is a scalar or broadcasts against the batch shape.

Validation.  Public methods whose inputs come from users validate them with
:mod:`pmm_ppl.conjugate.validation` when the inputs are concrete (not traced), so
bad input fails with an error naming the argument before any jit trace.  The wiring
is done once, here: :meth:`ConjugatePair.__init_subclass__` wraps every subclass's
``update``, ``update_many``, ``flow``, ``divergence`` and ``predictive`` with the
checks in :data:`_INPUT_CHECKS`.  Value checks skip tracers; shape checks use static
shapes only, so inside ``jit`` both cost nothing at run time.  Nested calls (an
implementation calling another public method, or ``super()``) are not re-validated.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import inspect
import threading
from typing import Any, Callable, ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from pmm_ppl.conjugate import validation as V
from pmm_ppl.conjugate.poisson_sampler import sample_law

Array = jax.Array
State = Any  # a pytree (NamedTuple) of posterior hyperparameters


class RunningMean(NamedTuple):
    """State of a :class:`LinearPair`: total weight ``C`` (batch shape) and mean ``mu`` (batch + event)."""

    weight: Array
    mean: Array


# ---------------------------------------------------------------------- input validation wiring
_VALIDATION = threading.local()  # .active is True while a validated public method runs


def _shape(x: Any) -> tuple[int, ...]:
    return tuple(jnp.shape(x))


def _broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    try:
        return tuple(np.broadcast_shapes(shape, target)) == tuple(target)
    except ValueError:
        return False


def _check_observation_shape(pair: "ConjugatePair", state: Any, y: Any, name: str, stacked: bool) -> None:
    """``y`` must be ``[(n,) +] b + obs_event`` with ``b`` broadcastable to the state's batch shape."""
    batch = tuple(pair.state_batch_shape(state))
    event = tuple(pair.observation_event_shape())
    shape = _shape(y)
    lead, k = int(stacked), len(event)
    inner = shape[lead : len(shape) - k] if k else shape[lead:]
    ok = len(shape) >= lead + k and (not k or shape[len(shape) - k :] == event) and _broadcasts_to(inner, batch)
    if not ok:
        stack = "(n,) + " if stacked else ""
        raise V.PMMInputError(
            f"{name}: shape {shape} does not fit the state: expected {stack}a batch shape broadcastable to "
            f"the state's batch shape {batch}, followed by the observation event shape {event}"
        )


def _check_accuracy_shape(pair: "ConjugatePair", state: Any, alpha: Any, name: str, num_obs: int | None) -> None:
    """``alpha`` broadcasts against the state's batch shape (``alphas``: scalar or ``(n,) + ...``)."""
    batch = tuple(pair.state_batch_shape(state))
    shape = _shape(alpha)
    if num_obs is not None and shape:
        if shape[0] != num_obs:
            raise V.PMMInputError(f"{name}: expected a scalar or a leading axis of length {num_obs} (one per observation), got shape {shape}")
        shape = shape[1:]
    if not _broadcasts_to(shape, batch):
        raise V.PMMInputError(f"{name}: shape {_shape(alpha)} does not broadcast to the state's batch shape {batch}")


def _check_observation_support(pair: "ConjugatePair", y: Any, alpha: Any, name: str, stacked: bool) -> None:
    """``y`` must be in the support of ``observation(theta, alpha)`` (e.g. ``y <= n`` for Binomial(n),
    counts summing to ``n`` for Multinomial(n)); theta is any feasible prior value, since for every
    pair the support depends on the accuracy only.  Concrete values only."""
    if V.is_traced(y) or V.is_traced(alpha):
        return
    a = jnp.asarray(alpha)
    if stacked and a.ndim:
        a = a.reshape(a.shape + (1,) * (jnp.ndim(y) - pair.event_ndim - a.ndim))
    try:
        support = pair.prior().support
        theta = support.feasible_like(jnp.zeros(pair.event_shape()))
        ok = np.asarray(pair.observation(theta, a).support(jnp.asarray(y)))
    except Exception:  # an observation law that cannot be built this way: the value checks above stand
        return
    if not np.all(ok):
        raise V.PMMInputError(f"{name}: {int(ok.size - ok.sum())} value(s) are not possible observations at the given accuracy (outside the support of the observation model)")


def _check_data(pair: "ConjugatePair", x: Any, name: str) -> Array:
    x = pair.validate_data(x, name)
    return V.check_event_shape(x, name, tuple(pair.event_shape()))


def _check_update(pair, state, y, alpha, *rest):
    y = pair.validate_observation(y, "y")
    alpha = pair.validate_accuracy(alpha, "alpha")
    _check_observation_shape(pair, state, y, "y", stacked=False)
    _check_accuracy_shape(pair, state, alpha, "alpha", None)
    _check_observation_support(pair, y, alpha, "y", stacked=False)
    return (state, y, alpha, *rest)


def _check_update_many(pair, state, ys, alphas, *rest):
    ys = pair.validate_observation(ys, "ys")
    alphas = pair.validate_accuracy(alphas, "alphas")
    if not _shape(ys):
        raise V.PMMInputError("ys: observations must be stacked on a leading axis, got a scalar")
    _check_observation_shape(pair, state, ys, "ys", stacked=True)
    _check_accuracy_shape(pair, state, alphas, "alphas", _shape(ys)[0])
    _check_observation_support(pair, ys, alphas, "ys", stacked=True)
    return (state, ys, alphas, *rest)


def _check_flow(pair, key, x, total_accuracy, *rest):
    x = _check_data(pair, x, "x")
    total_accuracy = V.check_positive(total_accuracy, "total_accuracy", allow_zero=True)
    return (key, x, total_accuracy, *rest)


def _check_divergence(pair, x, xhat, alpha, *rest):
    x = _check_data(pair, x, "x")
    xhat = _check_data(pair, xhat, "xhat")
    alpha = pair.validate_accuracy(alpha, "alpha")
    return (x, xhat, alpha, *rest)


def _check_predictive(pair, state, alpha, *rest):
    alpha = pair.validate_accuracy(alpha, "alpha")
    _check_accuracy_shape(pair, state, alpha, "alpha", None)
    return (state, alpha, *rest)


#: public method -> check of its positional arguments (after ``self``); see ``__init_subclass__``
_INPUT_CHECKS: dict[str, Callable[..., tuple]] = {
    "update": _check_update,
    "update_many": _check_update_many,
    "flow": _check_flow,
    "divergence": _check_divergence,
    "predictive": _check_predictive,
}


def _validated(method_name: str, impl: Callable) -> Callable:
    """Wrap ``impl`` so that the outermost call validates its arguments, then runs ``impl``."""
    check = _INPUT_CHECKS[method_name]
    params = list(inspect.signature(impl).parameters)[1:]
    n_checked = len(inspect.signature(check).parameters) - 2  # minus pair and *rest

    @functools.wraps(impl)
    def wrapper(self, *args, **kwargs):
        if getattr(_VALIDATION, "active", False):
            return impl(self, *args, **kwargs)
        values = list(args)
        for p in params[len(args) : n_checked]:  # protocol arguments passed by keyword
            if p not in kwargs:
                break
            values.append(kwargs.pop(p))
        if len(values) >= n_checked:
            values = check(self, *values)
        _VALIDATION.active = True
        try:
            return impl(self, *values, **kwargs)
        finally:
            _VALIDATION.active = False

    wrapper.__pmm_validated__ = True
    return wrapper


@dataclasses.dataclass(frozen=True)
class ConjugatePair(abc.ABC):
    """Abstract conjugate pair.  Subclasses are frozen dataclasses of hyperparameters
    (Python floats / tuples, so that a pair is hashable and can be a static jit argument).

    The contract (all pure, jittable, vmappable; randomness only through ``key``):

    ``prior()``                         prior over theta, one datum's batch shape ``()``
    ``observation(theta, alpha)``       :math:`\\pi_\\alpha(y \\mid \\theta)`
    ``init(batch_shape)``               prior state
    ``update(state, y, alpha)``         closed-form posterior state after one observation
    ``update_many(state, ys, alphas)``  after observations stacked on axis 0 (closed form)
    ``posterior(state)``                posterior distribution of theta
    ``mean(state)``                     posterior mean :math:`E[\\theta \\mid y]` (data space)
    ``predictive(state, alpha)``        posterior predictive of the next observation
    ``flow(key, x, A)``                 state after cumulative accuracy A given x, one draw
    ``divergence(x, xhat, alpha)``      :math:`KL(\\pi_\\alpha(\\cdot|x) \\| \\pi_\\alpha(\\cdot|\\hat x))` per datum
    ``model(ys, alphas)``               NumPyro model of the same Bayesian model (site ``theta``)
    ``validate_data / validate_observation / validate_accuracy``
    """

    name: ClassVar[str] = "abstract"
    #: number of trailing axes that form one datum's event (0 elementwise, 1 for a vector)
    event_ndim: ClassVar[int] = 0
    #: "real": any alpha > 0; "integer": alpha is a count of trials / observations
    accuracy_kind: ClassVar[str] = "real"
    #: short human description of the data support, used in error messages
    support_text: ClassVar[str] = "real numbers"
    #: exactness of the plug-in sampler (docs/design.md section 5): "limit" -- exact as the steps shrink
    #: (the channel's law is affine in x); "unit_steps" -- exact for steps of one unit of accuracy
    #: (one trial) only; "no" -- biased at any step size (use the ancestral sampler)
    plug_in_exact: ClassVar[str] = "no"
    #: final cumulative accuracy A_max of the pair's default schedule
    default_a_max: ClassVar[float] = 1e3
    #: name of the output head in pmm_ppl.nets.heads that maps onto the data's support
    #: ("real", "positive", "unit", "simplex"); None when no single head fits
    output_head: ClassVar[str | None] = "real"

    def __init_subclass__(cls, **kwargs):
        """Wire input validation into the public methods a subclass defines (see module docstring)."""
        super().__init_subclass__(**kwargs)
        for method_name in _INPUT_CHECKS:
            impl = cls.__dict__.get(method_name)
            if callable(impl) and not getattr(impl, "__isabstractmethod__", False) and not getattr(impl, "__pmm_validated__", False):
                setattr(cls, method_name, _validated(method_name, impl))

    # ------------------------------------------------------------------ distributions
    @abc.abstractmethod
    def prior(self) -> dist.Distribution:
        """Prior over theta for a single datum (batch shape ``()``, event shape ``event``)."""

    @abc.abstractmethod
    def observation(self, theta: Array, alpha: Array) -> dist.Distribution:
        """Observation model :math:`\\pi_\\alpha(y \\mid \\theta)`."""

    # ------------------------------------------------------------------ posterior
    @abc.abstractmethod
    def init(self, batch_shape: tuple[int, ...] = ()) -> State:
        """Prior state, broadcast to ``batch_shape``."""

    @abc.abstractmethod
    def update(self, state: State, y: Array, alpha: Array) -> State:
        """Posterior state after one observation ``y`` made with accuracy ``alpha``."""

    def update_many(self, state: State, ys: Array, alphas: Array) -> State:
        """Posterior after observations stacked on axis 0 (default: a scan of :meth:`update`)."""
        alphas = jnp.broadcast_to(jnp.asarray(alphas, dtype=jnp.result_type(float)), (ys.shape[0],))

        def step(s, inp):
            y, a = inp
            return self.update(s, y, a), None

        return jax.lax.scan(step, state, (ys, alphas))[0]

    @abc.abstractmethod
    def posterior(self, state: State) -> dist.Distribution:
        """Posterior distribution of theta given the state."""

    @abc.abstractmethod
    def mean(self, state: State) -> Array:
        """Posterior mean of theta (data space)."""

    @abc.abstractmethod
    def predictive(self, state: State, alpha: Array) -> dist.Distribution:
        """Posterior predictive of the next observation made with accuracy ``alpha``."""

    @abc.abstractmethod
    def flow(self, key: Array, x: Array, total_accuracy: Array) -> State:
        """One draw of the posterior state after cumulative accuracy ``A`` given the data ``x``.

        Its law equals that of folding in observations one by one with any split
        :math:`\\alpha_1 + \\dots + \\alpha_t = A` (docs/design.md section 3)."""

    @abc.abstractmethod
    def divergence(self, x: Array, xhat: Array, alpha: Array) -> Array:
        """:math:`KL(\\pi_\\alpha(\\cdot \\mid x) \\| \\pi_\\alpha(\\cdot \\mid \\hat x))`, summed over the event, batch shape."""

    def flow_log_prob(self, state: State, x: Array, total_accuracy: Array) -> Array:
        """Log density of a flow state given ``x`` and ``A`` up to a term constant in ``x``
        (batch shape).  Optional; exact oracles need it.  :class:`LinearPair` provides it."""
        raise NotImplementedError(f"{type(self).__name__} does not provide flow_log_prob")

    # ------------------------------------------------------------------ facts the process reads
    def default_reconstruction(self) -> Any:
        """The reconstruction law :math:`p_{\\mathrm{rec}}(x \\mid \\text{final state})` that closes the
        likelihood bound when the caller does not choose one (see :mod:`pmm_ppl.conjugate.reconstruction`).
        Pairs whose data have a natural discretisation (counts, tokens) or a natural density (real
        data) override it; the default refuses with a message."""
        raise V.PMMInputError(
            f"recon: no default reconstruction for the {self.name!r} pair; pass one explicitly, e.g. "
            "DiscretisedGaussian(num_levels=256) for images on a grid in [-1, 1], or GaussianDensity() for a density"
        )

    def encode(self, data: Any, name: str = "data") -> Any:
        """Raw user data -> the pair's data space (identity; token pairs turn class indices into one-hot
        vectors).  Called by the data loaders before :meth:`validate_data`."""
        return data

    def posterior_std(self, state: State) -> Array:
        """Per-coordinate posterior standard deviation of theta (batch + event), from :meth:`posterior`."""
        return jnp.sqrt(self.posterior(state).variance)

    #: whether a datum's law is fixed by its mean (one-hot tokens), so that :meth:`law_from_mean` exists
    mean_determines_law: ClassVar[bool] = False

    #: whether the likelihood of the summed statistic :math:`S` after accuracy :math:`A` depends on the datum
    #: only through a factor free of :math:`A`, :math:`p(S \mid x, A) = h(S, A)\, g(S, x)`, for every datum of
    #: the pair's targets (for a token pair: on the simplex), where :math:`S` is possible at more than one accuracy
    #: (a statistic that fixes :math:`A`, as the Dirichlet-Multinomial's total count does, leaves nothing to vary:
    #: not declared): then :math:`E^*[x \mid S, A] = E^*[x \mid S]`
    #: for every target law on them, and a denoiser given the statistic (e.g.
    #: :class:`~pmm_ppl.nets.concentration_input.LogConcentrationInput`) need not see the time (e.g.
    #: ``DilatedConvNet(conditioning="none")``).  Checked against the exact oracle for every registered pair
    #: (tests/test_pair_properties.py)
    posterior_free_of_accuracy: ClassVar[bool] = False

    def law_from_mean(self, mean: Array) -> Any:
        """The per-coordinate law of a datum with mean ``mean``, for pairs whose data's law is fixed by the
        mean (``mean_determines_law``; e.g. one-hot tokens: the categorical with probabilities ``mean``).
        It turns any mean denoiser of such a pair into a distributional one (the ancestral sampler, the log
        score).  Other pairs refuse."""
        raise V.PMMInputError(
            f"the {self.name!r} pair's data are not determined in law by their mean; a per-coordinate posterior "
            "needs a distributional denoiser (posterior(mu, t)), e.g. a level head or a mixture head"
        )

    # ------------------------------------------------------------------ sampling helpers
    def link(self, x: Array) -> Array:
        """Parameter value that data ``x`` stands for in the observation model (identity by
        default; e.g. the uniform-noise token channel :math:`(1-\\epsilon)x + \\epsilon/K`)."""
        return x

    def sample_observation(self, key: Array, x: Array, alpha: Array) -> Array:
        """Draw :math:`y \\sim \\pi_\\alpha(\\cdot \\mid \\mathrm{link}(x))` (used by simulations and the sampler;
        Poisson laws through :func:`~pmm_ppl.conjugate.poisson_sampler.sample_law`)."""
        return sample_law(key, self.observation(self.link(x), alpha))

    def observation_log_prob(self, y: Array, x: Array, alpha: Array) -> Array:
        """:math:`\\log \\pi_\\alpha(y \\mid \\mathrm{link}(x))` per coordinate (the batch shape of ``x`` and
        ``y`` broadcast; an event axis is summed): the density of :meth:`sample_observation`'s draws,
        used by the likelihood bound's ancestral receiver."""
        return self.observation(self.link(x), alpha).log_prob(y)

    def sample_data(self, key: Array, batch_shape: tuple[int, ...] = ()) -> Array:
        """Draw data from the prior (used by SBC and property tests)."""
        return self.prior().sample(key, batch_shape)

    # ------------------------------------------------------------------ generic inference
    def model(self, ys: Array | None = None, alphas: Array | None = None, num_obs: int | None = None) -> None:
        """NumPyro model for one datum: ``theta ~ prior``; ``y_i ~ observation(theta, alpha_i)``, i over axis 0.

        ``alphas`` has shape ``(n,)``; ``observation(theta, alphas)`` must broadcast them as a
        leading batch axis (it does for every pair whose theta has batch shape ``()``)."""
        theta = numpyro.sample("theta", self.prior())
        n = ys.shape[0] if ys is not None else num_obs
        alphas = jnp.asarray(alphas, dtype=jnp.result_type(float))
        alphas = jnp.broadcast_to(alphas, (n,)) if alphas.ndim == 0 else alphas
        # one vectorised site: the n observations are independent given theta
        numpyro.sample("y", self.observation(theta, alphas), obs=ys)

    # ------------------------------------------------------------------ validation
    def validate_data(self, x: Any, name: str = "x") -> Array:
        """Check that ``x`` is finite and in the support of the data; returns it as an array."""
        return V.check_finite(x, name)

    def validate_observation(self, y: Any, name: str = "y") -> Array:
        """Check that ``y`` is a possible observation; returns it as an array."""
        return V.check_finite(y, name)

    def validate_accuracy(self, alpha: Any, name: str = "alpha") -> Array:
        """Check that the accuracy is positive (and integer where the pair requires it)."""
        a = V.check_positive(alpha, name)
        if self.accuracy_kind == "integer":
            a = V.check_integer(a, name)
        return a

    def event_shape(self) -> tuple[int, ...]:
        return tuple(self.prior().event_shape)

    def observation_event_shape(self) -> tuple[int, ...]:
        """Trailing shape of one observation ``y`` (default: the data's event shape)."""
        return self.event_shape()

    def state_batch_shape(self, state: State) -> tuple[int, ...]:
        """Batch shape of a state (default: from the shape of :meth:`mean`, traced abstractly)."""
        return self.batch_shape_of(jax.eval_shape(self.mean, state))

    def batch_shape_of(self, x: Array) -> tuple[int, ...]:
        nd = self.event_ndim
        return tuple(x.shape[: x.ndim - nd]) if nd else tuple(x.shape)


@dataclasses.dataclass(frozen=True)
class LinearPair(ConjugatePair):
    """A pair whose posterior mean is a weighted running average (docs/design.md section 2).

    Subclasses define:

    ``prior_weight`` (:math:`c_0`) and ``prior_mean`` (:math:`\\mu_0`) as properties;
    ``weight(alpha)`` :math:`w(\\alpha)`; ``statistic(y, alpha)`` :math:`s(y, \\alpha)` with
    :math:`E[s \\mid x] = w(\\alpha)\\,x`; ``sample_statistic(key, x, A)``, one draw of the
    summed statistic :math:`\\sum_i s_i` after cumulative accuracy ``A`` (its law depends on
    the :math:`\\alpha_i` only through ``A``); ``posterior``, ``predictive``, ``prior``,
    ``observation`` and ``divergence``.
    """

    @property
    @abc.abstractmethod
    def prior_weight(self) -> float:
        """:math:`c_0 > 0`."""

    @property
    @abc.abstractmethod
    def prior_mean(self) -> Array:
        """:math:`\\mu_0`, shape ``event``."""

    def weight(self, alpha: Array) -> Array:
        """:math:`w(\\alpha)`; the accuracy itself for every pair in the library."""
        return jnp.asarray(alpha, dtype=jnp.result_type(float))

    @abc.abstractmethod
    def statistic(self, y: Array, alpha: Array) -> Array:
        """:math:`s(y, \\alpha)` with :math:`E[s \\mid x] = w(\\alpha) x`, shape batch + event."""

    @abc.abstractmethod
    def statistic_law(self, x: Array, total_accuracy: Array) -> dist.Distribution:
        """Law of the summed statistic :math:`S_A = \\sum_i s(y_i, \\alpha_i)` given data ``x`` after
        cumulative accuracy ``A``; it depends on the :math:`\\alpha_i` only through ``A``.  Its
        batch shape is the data's batch shape (event axes folded in with ``to_event``)."""

    def sample_statistic(self, key: Array, x: Array, total_accuracy: Array) -> Array:
        """One draw of :math:`S_A` given ``x`` (Poisson laws through
        :func:`~pmm_ppl.conjugate.poisson_sampler.sample_law`)."""
        return sample_law(key, self.statistic_law(x, total_accuracy))

    def flow_log_prob(self, state: RunningMean, x: Array, total_accuracy: Array) -> Array:
        """Log density (or mass) of the flow state given ``x`` and ``A``, via :math:`S = C\\mu - c_0\\mu_0`
        (the Jacobian of :math:`S \\mapsto \\mu` does not depend on ``x``).  Exact oracles use it."""
        s = self._statistic(state.weight, state.mean)
        return self.statistic_law(x, total_accuracy).log_prob(s)

    # ---------------------------------------------------------------- the linear-pair map (one home)
    @property
    def statistic_is_discrete(self) -> bool:
        """Whether the summed statistic takes whole-number values (Poisson / Binomial / Multinomial counts)."""
        law = self.statistic_law(jnp.asarray(self.prior_mean), jnp.ones(()))
        return bool(law.support.is_discrete)

    def total_weight(self, total_accuracy: Array) -> Array:
        """:math:`C_A = c_0 + w(A)`, the total weight after cumulative accuracy ``A``."""
        return self.prior_weight + self.weight(total_accuracy)

    def _statistic(self, weight: Array, mean: Array) -> Array:
        s = self._expand(weight) * mean - self.prior_weight * jnp.asarray(self.prior_mean, dtype=jnp.result_type(mean))
        # a count statistic: undo the float error of the round trip count -> mean -> count (a count of 0
        # must not read as 1e-7, impossible under a Poisson rate of 0)
        return jnp.round(s) if self.statistic_is_discrete else s

    @staticmethod
    def _accuracy_over_batch(total_accuracy: Array, batch: tuple[int, ...], dtype: Any) -> Array:
        """A scalar accuracy, or one per leading batch axes (e.g. ``(B,)`` for data ``(B, H, W)``),
        broadcast to the full batch shape."""
        a = jnp.asarray(total_accuracy, dtype=dtype)
        if a.ndim < len(batch):
            a = a.reshape(a.shape + (1,) * (len(batch) - a.ndim))
        return jnp.broadcast_to(a, batch)

    def statistic_from_mean(self, mean: Array, total_accuracy: Array) -> Array:
        r"""The summed statistic behind a posterior mean: :math:`S = C_A\mu - c_0\mu_0`, :math:`C_A = c_0 + w(A)`.

        ``mean``: batch + event; ``total_accuracy``: scalar or the batch shape.  Rounded to whole numbers
        when the statistic is a count (:attr:`statistic_is_discrete`).  Where ``A = 0`` no observation has
        been made and ``S = 0`` exactly.  The inverse of :meth:`state_from_statistic`."""
        mean = jnp.asarray(mean, dtype=jnp.result_type(float))
        a = self._accuracy_over_batch(total_accuracy, self.batch_shape_of(mean), mean.dtype)
        s = self._statistic(self.total_weight(a), mean)
        return jnp.where(self._expand(a > 0), s, 0.0)

    def state_from_statistic(self, statistic: Array, total_accuracy: Array) -> RunningMean:
        r"""The state after cumulative accuracy ``A`` with summed statistic ``S``:
        :math:`C_A = c_0 + w(A)`, :math:`\mu_A = (c_0\mu_0 + S)/C_A`."""
        statistic = jnp.asarray(statistic, dtype=jnp.result_type(float))
        a = self._accuracy_over_batch(total_accuracy, self.batch_shape_of(statistic), statistic.dtype)
        c = self.total_weight(a)
        mu = (self.prior_weight * jnp.asarray(self.prior_mean, dtype=statistic.dtype) + statistic) / self._expand(c)
        return RunningMean(c, mu)

    # ---------------------------------------------------------------- generic machinery
    def _expand(self, c: Array) -> Array:
        c = jnp.asarray(c)
        return c.reshape(c.shape + (1,) * self.event_ndim)

    def init(self, batch_shape: tuple[int, ...] = ()) -> RunningMean:
        event = jnp.shape(self.prior_mean)
        c = jnp.full(batch_shape, self.prior_weight, dtype=jnp.result_type(float))
        mu = jnp.broadcast_to(jnp.asarray(self.prior_mean, dtype=c.dtype), tuple(batch_shape) + tuple(event))
        return RunningMean(c, mu)

    def update(self, state: RunningMean, y: Array, alpha: Array) -> RunningMean:
        """:math:`C' = C + w,\\ \\mu' = \\mu + (s - w\\mu)/C'`."""
        w = self.weight(alpha)
        c_new = state.weight + w
        s = self.statistic(y, alpha)
        mu_new = state.mean + (s - self._expand(w) * state.mean) / self._expand(c_new)
        return RunningMean(c_new, mu_new)

    def update_many(self, state: RunningMean, ys: Array, alphas: Array) -> RunningMean:
        """Closed form: :math:`C' = C + \\sum w_i,\\ \\mu' = (C\\mu + \\sum s_i)/C'`."""
        n = ys.shape[0]
        alphas = jnp.asarray(alphas, dtype=jnp.result_type(float))
        if alphas.ndim == 0:
            alphas = jnp.full((n,), alphas)
        w = jax.vmap(self.weight)(alphas)
        s = jax.vmap(self.statistic)(ys, alphas)
        c_new = state.weight + w.sum(0)
        mu_new = (self._expand(state.weight) * state.mean + s.sum(0)) / self._expand(c_new)
        return RunningMean(c_new, mu_new)

    def mean(self, state: RunningMean) -> Array:
        return state.mean

    def state_batch_shape(self, state: RunningMean) -> tuple[int, ...]:
        return tuple(jnp.shape(state.weight))

    def gain(self, state: RunningMean, alpha: Array) -> Array:
        """Step gain :math:`\\kappa = w(\\alpha) / (C + w(\\alpha))` of the next update from ``state``."""
        w = self.weight(alpha)
        return w / (state.weight + w)

    def gain_at(self, total_accuracy: Array, alpha: Array) -> Array:
        """:meth:`gain` from the state reached after cumulative accuracy ``A`` (its weight is :math:`C_A`)."""
        return self.gain(RunningMean(self.total_weight(total_accuracy), None), alpha)

    def flow(self, key: Array, x: Array, total_accuracy: Array) -> RunningMean:
        """:math:`C_A = c_0 + w(A)`, :math:`\\mu_A = (c_0\\mu_0 + S_A)/C_A` with :math:`S_A` from ``sample_statistic``."""
        a = jnp.asarray(total_accuracy, dtype=jnp.result_type(float))
        return self.state_from_statistic(self.sample_statistic(key, x, a), a)

r"""Accuracy schedules: how much information the observations carry as time runs from 0 to 1.

A schedule is a frozen dataclass with an increasing cumulative accuracy :math:`A(t)` on
:math:`t \in [0, 1]`, :math:`A(0) = 0`, :math:`A(1) = A_{\max}` (docs/design.md section 3), its rate
:math:`A'(t)` and its inverse.  Discretising it into ``T`` steps on the uniform grid
:math:`t_i = i/T` gives the per-step accuracies :math:`\alpha_i = A(t_i) - A(t_{i-1})`, the
accuracies of the observations the sampler makes (docs/design.md section 5).

Three families:

* :class:`GeometricSchedule` -- :math:`A(t) = c\,((1 + A_{\max}/c)^t - 1)`.  With the prior
  weight :math:`c = \rho_0` the posterior precision of the Normal-Normal pair is
  :math:`\rho(t) = \rho_0 + A(t) = \rho_0 (1 + A_{\max}/\rho_0)^t`, geometric in ``t``; with
  :math:`\rho_0 = 1` and :math:`A_{\max} = \sigma_1^{-2} - 1` this is the continuous-data
  schedule of Bayesian Flow Networks, :math:`\rho(t) = \sigma_1^{-2t}`.  The step gain
  :math:`\kappa = \alpha/\rho` is then the same at every step.
* :class:`PowerSchedule` -- :math:`A(t) = A_{\max} t^p` (linear for ``p = 1``; BFN's discrete
  schedule :math:`\beta(t) = \beta_1 t^2` is ``p = 2``).
* :class:`LogLinearSchedule` -- :math:`A(t) = -\log(1 - r t)`, :math:`r = 1 - e^{-A_{\max}}`.  For a
  Poisson channel on one-hot tokens (the noiseless Dirichlet-Categorical pair) a position is still
  unrevealed at time ``t`` with probability :math:`e^{-A(t)} = 1 - r t`: the masking rate is
  *linear* in ``t`` (MDLM's "log-linear" schedule), so a uniform training time is a uniform mask rate.

Integer accuracies.  Pairs whose accuracy is a count of trials (``pair.accuracy_kind ==
"integer"``, e.g. a Multinomial channel) need whole-number :math:`\alpha_i`.
``discretise(T, integer=True)`` rounds the *cumulative* accuracy, :math:`\tilde A_i =
\mathrm{round}(A(i/T))`, so the steps :math:`\alpha_i = \tilde A_i - \tilde A_{i-1}` are
non-negative integers summing to :math:`\mathrm{round}(A_{\max})`; where the schedule grows by
less than one unit per step **some steps get** :math:`\alpha_i = 0` (the sampler treats them as
no-ops).  The returned grid is moved to :math:`t_i = A^{-1}(\tilde A_i)`, so that
:math:`A(t_i)` is exactly the cumulative accuracy the state has reached: a denoiser (or an
oracle) that reads the accuracy off ``t`` stays consistent.  Steps with :math:`\alpha_i = 0`
repeat the previous grid point.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from pmm_ppl.conjugate.validation import PMMInputError, check_whole_number

Array = jax.Array


def _check_positive_float(value: Any, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as err:
        raise PMMInputError(f"{name}: expected a positive number, got {value!r}") from err
    if not math.isfinite(v) or v <= 0:
        raise PMMInputError(f"{name}: must be finite and > 0, got {value!r}")
    return v


class StepGrid(NamedTuple):
    """A discretised schedule: ``times`` :math:`t_0 = 0 < \\dots < t_T = 1` ``(T+1,)``, step accuracies
    ``alphas`` :math:`\\alpha_i` ``(T,)`` and ``cumulative`` :math:`A_i = \\sum_{j \\le i} \\alpha_j` ``(T+1,)``."""

    times: Array
    alphas: Array
    cumulative: Array


class _Schedule:
    """Shared discretisation.  Subclasses define ``a_max``, ``A``, ``dA``, ``inverse`` and
    ``_A_np`` / ``_inverse_np`` (float64 NumPy versions, used to build grids accurately)."""

    a_max: float

    def _A_np(self, t: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _inverse_np(self, a: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def discretise(self, num_steps: int, integer: bool = False) -> tuple[Array, Array]:
        r"""Uniform grid :math:`t_i = i/T` and step accuracies :math:`\alpha_i = A(t_i) - A(t_{i-1})`.

        Returns ``(t_grid, alphas)`` with shapes ``(T+1,)`` and ``(T,)`` (float arrays;
        ``t_grid[0] = 0``, ``t_grid[-1] = 1``, ``alphas.sum() = A_max``).  With ``integer=True`` the
        cumulative accuracy is rounded (see the module docstring): ``alphas`` are non-negative whole
        numbers summing to ``round(A_max)``, some possibly 0, and ``t_grid[i] = A^{-1}(sum of the
        first i alphas)``.  Computed in float64, returned in the default float dtype.
        """
        grid = self.grid(num_steps, integer=integer)
        return grid.times, grid.alphas

    def cumulative(self, num_steps: int, integer: bool = False) -> Array:
        """Cumulative accuracy on the grid of :meth:`discretise`, shape ``(T+1,)`` (0 first)."""
        return self.grid(num_steps, integer=integer).cumulative

    def grid(self, num_steps: int, integer: bool = False) -> "StepGrid":
        """:meth:`discretise` with the cumulative accuracies (computed in float64, not summed in float32):
        ``StepGrid(times, alphas, cumulative)``."""
        T = check_whole_number(num_steps, "num_steps")
        t = np.linspace(0.0, 1.0, T + 1)
        cum = self._A_np(t)
        cum[0], cum[-1] = 0.0, self.a_max
        if integer:
            cum = np.round(cum)
            if cum[-1] < 1:
                raise PMMInputError(f"a_max: an integer-accuracy schedule needs a_max >= 0.5 (rounds to >= 1 trial), got {self.a_max}")
            t = self._inverse_np(cum)
            t[0], t[-1] = 0.0, 1.0
        alphas = np.diff(cum)
        dtype = jnp.result_type(float)
        return StepGrid(jnp.asarray(t, dtype=dtype), jnp.asarray(alphas, dtype=dtype), jnp.asarray(cum, dtype=dtype))


@dataclasses.dataclass(frozen=True)
class GeometricSchedule(_Schedule):
    r"""Geometric (BFN-like) schedule :math:`A(t) = c\,((1 + A_{\max}/c)^t - 1)`, ``c = scale``.

    :math:`A'(t) = c \log(1 + A_{\max}/c)\,(1 + A_{\max}/c)^t = \log(1 + A_{\max}/c)\,(c + A(t))`,
    :math:`A^{-1}(a) = \log(1 + a/c) / \log(1 + A_{\max}/c)`.  With ``scale`` equal to the pair's
    prior weight :math:`c_0` the total weight :math:`C(t) = c_0 + A(t)` grows geometrically and the
    continuous-time gain rate :math:`A'(t)/C(t) = \log(1 + A_{\max}/c_0)` is constant.
    """

    a_max: float
    scale: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "a_max", _check_positive_float(self.a_max, "a_max"))
        object.__setattr__(self, "scale", _check_positive_float(self.scale, "scale"))

    @property
    def log_growth(self) -> float:
        """:math:`\\log(1 + A_{\\max}/c)`, the log of the total growth factor of :math:`c + A(t)`."""
        return math.log1p(self.a_max / self.scale)

    def A(self, t: Array) -> Array:
        """Cumulative accuracy :math:`c\\,\\mathrm{expm1}(t \\log(1 + A_{\\max}/c))`."""
        t = jnp.asarray(t, dtype=jnp.result_type(float))
        return self.scale * jnp.expm1(t * self.log_growth)

    def dA(self, t: Array) -> Array:
        """Rate :math:`A'(t) = c \\log(1 + A_{\\max}/c) (1 + A_{\\max}/c)^t`."""
        t = jnp.asarray(t, dtype=jnp.result_type(float))
        return self.scale * self.log_growth * jnp.exp(t * self.log_growth)

    def inverse(self, a: Array) -> Array:
        """Time at which the cumulative accuracy equals ``a``: :math:`\\log(1 + a/c)/\\log(1 + A_{\\max}/c)`."""
        a = jnp.asarray(a, dtype=jnp.result_type(float))
        return jnp.log1p(a / self.scale) / self.log_growth

    def _A_np(self, t):
        return self.scale * np.expm1(np.asarray(t, np.float64) * self.log_growth)

    def _inverse_np(self, a):
        return np.log1p(np.asarray(a, np.float64) / self.scale) / self.log_growth


@dataclasses.dataclass(frozen=True)
class PowerSchedule(_Schedule):
    r"""Power schedule :math:`A(t) = A_{\max} t^p` (linear for ``p = 1``).

    :math:`A'(t) = p A_{\max} t^{p-1}` (infinite at ``t = 0`` when ``p < 1``),
    :math:`A^{-1}(a) = (a / A_{\max})^{1/p}`.
    """

    a_max: float
    power: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "a_max", _check_positive_float(self.a_max, "a_max"))
        object.__setattr__(self, "power", _check_positive_float(self.power, "power"))

    def A(self, t: Array) -> Array:
        """Cumulative accuracy :math:`A_{\\max} t^p`."""
        t = jnp.asarray(t, dtype=jnp.result_type(float))
        return self.a_max * t**self.power

    def dA(self, t: Array) -> Array:
        """Rate :math:`p A_{\\max} t^{p-1}`."""
        t = jnp.asarray(t, dtype=jnp.result_type(float))
        if self.power == 1.0:
            return jnp.full_like(t, self.a_max)
        return self.power * self.a_max * t ** (self.power - 1.0)

    def inverse(self, a: Array) -> Array:
        """Time at which the cumulative accuracy equals ``a``: :math:`(a/A_{\\max})^{1/p}`."""
        a = jnp.asarray(a, dtype=jnp.result_type(float))
        return (a / self.a_max) ** (1.0 / self.power)

    def _A_np(self, t):
        return self.a_max * np.asarray(t, np.float64) ** self.power

    def _inverse_np(self, a):
        return (np.asarray(a, np.float64) / self.a_max) ** (1.0 / self.power)


@dataclasses.dataclass(frozen=True)
class LogLinearSchedule(_Schedule):
    r"""Log-linear schedule :math:`A(t) = -\log(1 - r t)` with :math:`r = 1 - e^{-A_{\max}}`.

    :math:`e^{-A(t)} = 1 - r t` is linear in ``t``: under a Poisson channel the probability that a
    category with unit rate has not been observed yet falls linearly, so for noiseless token
    diffusion the masking rate is uniform in ``t``.  :math:`A'(t) = r / (1 - r t)`,
    :math:`A^{-1}(a) = (1 - e^{-a}) / r`.  ``a_max`` sets the final masking rate :math:`e^{-A_{\max}}`.
    """

    a_max: float

    def __post_init__(self):
        object.__setattr__(self, "a_max", _check_positive_float(self.a_max, "a_max"))

    @property
    def reveal_fraction(self) -> float:
        r""":math:`r = 1 - e^{-A_{\max}}`, the probability of being revealed by ``t = 1``."""
        return -math.expm1(-self.a_max)

    def _unrevealed(self, t: Array) -> Array:
        r""":math:`1 - r t = (1 - t) + t e^{-A_{\max}}`, written so that it stays exact near ``t = 1`` in
        float32 (where :math:`r = 1 - e^{-20}` rounds to 1 and :math:`1 - r t` to 0)."""
        return (1.0 - t) + t * math.exp(-self.a_max)

    def A(self, t: Array) -> Array:
        r"""Cumulative accuracy :math:`-\log(1 - r t)`: ``log1p`` for :math:`t < 1/2`, the exact
        :meth:`_unrevealed` above (finite at ``t = 1``: :math:`A(1) = A_{\max}`)."""
        t = jnp.asarray(t, dtype=jnp.result_type(float))
        return jnp.where(t < 0.5, -jnp.log1p(-self.reveal_fraction * t), -jnp.log(self._unrevealed(t)))

    def dA(self, t: Array) -> Array:
        r"""Rate :math:`r / (1 - r t)`."""
        t = jnp.asarray(t, dtype=jnp.result_type(float))
        return self.reveal_fraction / self._unrevealed(t)

    def inverse(self, a: Array) -> Array:
        r"""Time at which the cumulative accuracy equals ``a``: :math:`-\mathrm{expm1}(-a) / r`."""
        a = jnp.asarray(a, dtype=jnp.result_type(float))
        return -jnp.expm1(-a) / self.reveal_fraction

    def _A_np(self, t):
        t = np.asarray(t, np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(t < 0.5, -np.log1p(-self.reveal_fraction * t), -np.log((1.0 - t) + t * math.exp(-self.a_max)))

    def _inverse_np(self, a):
        return -np.expm1(-np.asarray(a, np.float64)) / self.reveal_fraction


Schedule = GeometricSchedule | PowerSchedule | LogLinearSchedule


def schedule_for(pair: Any, kind: str = "geometric", a_max: float | None = None, power: float = 1.0) -> Schedule:
    """A sensible default schedule for ``pair``.

    ``kind="geometric"`` gives :class:`GeometricSchedule` with ``scale`` = the pair's prior weight
    :math:`c_0` (so the gain :math:`\\kappa` is uniform over the steps); ``kind="power"`` gives
    :class:`PowerSchedule` with ``power``; ``kind="loglinear"`` gives :class:`LogLinearSchedule`
    (uniform masking rate for token pairs).  ``a_max`` defaults to the pair's own ``default_a_max``
    (e.g. 1e4 for Normal-Normal, 20 for tokens): a starting point for data of unit scale, not a tuned value.
    """
    if a_max is None:
        a_max = pair.default_a_max
    if kind == "geometric":
        scale = float(getattr(pair, "prior_weight", 1.0))
        return GeometricSchedule(a_max=a_max, scale=scale)
    if kind == "power":
        return PowerSchedule(a_max=a_max, power=power)
    if kind == "loglinear":
        return LogLinearSchedule(a_max=a_max)
    raise PMMInputError(f"kind: expected 'geometric', 'power' or 'loglinear', got {kind!r}")


__all__ = ["GeometricSchedule", "LogLinearSchedule", "PowerSchedule", "Schedule", "StepGrid", "schedule_for"]

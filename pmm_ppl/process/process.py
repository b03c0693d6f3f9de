r"""A PMM process: one conjugate pair and one accuracy schedule, with uniform verbs.

:class:`Process` is the one object that owns the time convention and the discretisation:

* time :math:`t \in [0, 1]` and cumulative accuracy :math:`A(t)` (``process.accuracy(t)``);
* the grid of ``T`` steps, with whole-number accuracies when the pair counts trials
  (``process.grid(T)``: the pair's ``accuracy_kind`` decides, nobody else);
* the flow :math:`\text{state} \sim p(\cdot \mid x, A(t))` (``process.flow``);
* and the verbs, each with the same argument order ``(denoiser, key, ...)``:
  ``process.loss(denoiser, key, x)``, the training objective (:func:`~pmm_ppl.process.objectives.pmm_loss`);
  ``process.sample(denoiser, key, num, shape)``, the samplers (:func:`~pmm_ppl.process.sampler.sample`);
  ``process.bound(denoiser, key, x, num_steps, receiver=...)``, the likelihood bound of the plug-in or
  the ancestral sampler in discrete time, or (plug-in) in continuous time with ``num_steps=None``
  (:mod:`pmm_ppl.process.elbo`).

A denoiser is called as ``denoiser(mu, t)``.  A network that reads :math:`A(t)` itself (the
preconditioned and level-head wrappers in :mod:`pmm_ppl.nets`) must have been built with this
process's schedule: :meth:`Process.check_denoiser` refuses one built with another.  Oracles written in
the accuracy convention ``g(mu, A)`` become denoisers with :meth:`Process.at_time`.

    >>> import jax, pmm_ppl
    >>> process = pmm_ppl.Process.for_pair(pair)      # the pair's default schedule
    >>> loss = process.loss(net, key, x).mean
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from pmm_ppl.conjugate.base import ConjugatePair
from pmm_ppl.conjugate.validation import PMMInputError
from pmm_ppl.process import elbo as _elbo
from pmm_ppl.process.objectives import LossOutput, pmm_loss
from pmm_ppl.process.sampler import sample as _sample
from pmm_ppl.process.schedules import Schedule, StepGrid, schedule_for

Array = jax.Array
Denoiser = Callable[[Array, Array], Array]


@dataclasses.dataclass(frozen=True)
class Process:
    """``Process(pair, schedule)``: frozen and hashable (a valid static jit argument)."""

    pair: ConjugatePair
    schedule: Schedule

    def __post_init__(self):
        if not isinstance(self.pair, ConjugatePair):
            raise PMMInputError(f"pair: expected a ConjugatePair (see pmm_ppl.get_pair), got {type(self.pair).__name__}")
        for method in ("A", "dA", "grid"):
            if not callable(getattr(self.schedule, method, None)):
                raise PMMInputError(f"schedule: expected a schedule with {method}(), got {type(self.schedule).__name__}")

    @classmethod
    def for_pair(cls, pair: ConjugatePair, kind: str = "geometric", a_max: float | None = None, power: float = 1.0) -> "Process":
        """The pair with its default schedule (:func:`.schedules.schedule_for`: the pair's ``default_a_max``)."""
        return cls(pair, schedule_for(pair, kind=kind, a_max=a_max, power=power))

    # ------------------------------------------------------------------ time and discretisation
    @property
    def integer_accuracy(self) -> bool:
        """Whether the accuracy counts trials (whole-number steps)."""
        return self.pair.accuracy_kind == "integer"

    def accuracy(self, t: Array) -> Array:
        """Cumulative accuracy :math:`A(t)`."""
        return self.schedule.A(t)

    def grid(self, num_steps: int) -> StepGrid:
        """The ``T``-step grid: times, step accuracies (whole numbers for integer-accuracy pairs), cumulative."""
        return self.schedule.grid(num_steps, integer=self.integer_accuracy)

    def flow(self, key: Array, x: Array, t: Array) -> Any:
        """One draw of the state after time ``t`` given the data ``x`` (``t`` scalar or one per example)."""
        x = jnp.asarray(x, dtype=jnp.result_type(float))
        a = jnp.asarray(self.accuracy(t), x.dtype)
        batch = self.pair.batch_shape_of(x)
        if a.ndim and a.ndim < len(batch):
            a = a.reshape(a.shape + (1,) * (len(batch) - a.ndim))
        return self.pair.flow(key, x, a)

    def at_time(self, g: Callable[[Array, Array], Array]) -> Denoiser:
        """A denoiser ``f(mu, t) = g(mu, A(t))`` from one in the accuracy convention (e.g. an exact oracle)."""

        def f(mu: Array, t: Array) -> Array:
            return g(mu, self.accuracy(jnp.asarray(t, dtype=jnp.result_type(float))))

        return f

    def check_denoiser(self, denoiser: Any) -> Any:
        """Refuse a network that reads :math:`A(t)` from a schedule other than this process's own."""
        for module in _submodules(denoiser):
            own = getattr(module, "schedule", None)
            if own is not None and own != self.schedule:
                raise PMMInputError(
                    f"denoiser: {type(module).__name__} was built with the schedule {own!r}, but the process uses "
                    f"{self.schedule!r}; build the network with process.schedule"
                )
        return denoiser

    # ------------------------------------------------------------------ verbs
    def loss(self, denoiser: Denoiser, key: Array, x: Array, weighting: str = "pmm", num_steps: int | None = None,
             log_score: float = 0.0) -> LossOutput:
        """The training objective on a batch (see :func:`pmm_ppl.process.objectives.pmm_loss`)."""
        return pmm_loss(self.pair, self.schedule, denoiser, key, x, weighting=weighting, num_steps=num_steps,
                        log_score=log_score)

    def sample(self, denoiser: Denoiser, key: Array, num_samples: int, data_shape: tuple[int, ...], num_steps: int = 200,
               **options: Any) -> Any:
        """Samples with the plug-in (default) or the ancestral sampler (see :func:`pmm_ppl.process.sampler.sample`
        for ``options``)."""
        self.check_denoiser(denoiser)
        return _sample(self.pair, denoiser, key, num_samples, data_shape, self.schedule, num_steps, **options)

    def bound(self, denoiser: Denoiser, key: Array, x: Any, num_steps: int | None = 256, receiver: str = "plug_in",
              **options: Any) -> _elbo.ELBOEstimate:
        """The likelihood bound per example of the sampler named by ``receiver`` (``"plug_in"`` or
        ``"ancestral"``, as in :meth:`sample`): ``num_steps`` discrete steps, or ``None`` for continuous
        time, plug-in receiver only (see :func:`pmm_ppl.process.elbo.discrete_elbo` /
        :func:`~pmm_ppl.process.elbo.continuous_elbo`)."""
        self.check_denoiser(denoiser)
        if num_steps is None:
            if receiver != "plug_in":
                raise PMMInputError(f"receiver: the continuous-time bound is written for the plug-in receiver, got {receiver!r}; "
                                    "pass num_steps for the discrete-time bound of the ancestral sampler")
            return _elbo.continuous_elbo(self.pair, denoiser, key, x, self.schedule, **options)
        return _elbo.discrete_elbo(self.pair, denoiser, key, x, self.schedule, num_steps, receiver=receiver, **options)


def _submodules(denoiser: Any) -> list[Any]:
    """The denoiser and, for an NNX module, every submodule (wrappers nest their backbone)."""
    try:
        from flax import nnx

        if isinstance(denoiser, nnx.Module):
            return [m for _, m in nnx.iter_modules(denoiser)]
    except ImportError:  # pragma: no cover - flax is a dependency
        pass
    return [denoiser]


__all__ = ["Process"]

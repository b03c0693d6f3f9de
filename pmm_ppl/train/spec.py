"""What a ready-to-train model is: one readable place naming its pair, net, schedule, loss
weighting, data and training budget (the files in ``models/`` each build one ``ModelSpec``)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import numpy as np

from pmm_ppl.conjugate.base import ConjugatePair
from pmm_ppl.conjugate.validation import PMMInputError, check_whole_number


def check_real_in(value: Any, name: str, low: float, high: float = math.inf, *, low_open: bool = False,
                  high_open: bool = False) -> float:
    """A finite real number (not a bool) in the interval from ``low`` to ``high`` (open ends as
    flagged); returns it as ``float``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise PMMInputError(f"{name}: must be a number, got {value!r}")
    v = float(value)
    ok = math.isfinite(v) and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        lo = f"> {low}" if low_open else f">= {low}"
        hi = "" if high == math.inf else (f" and < {high}" if high_open else f" and <= {high}")
        raise PMMInputError(f"{name}: must be a finite number {lo}{hi}, got {value!r}")
    return v


def _optional(value: Any, check: Callable[[Any], Any]) -> None:
    if value is not None:
        check(value)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimiser and budget.  Linear warm-up then cosine decay, global-norm clipping, then the
    ``optimizer``: ``"adamw"`` (AdamW) or ``"muon"`` (Muon on the net's hidden weight matrices, AdamW with
    Nesterov momentum on the rest; :func:`pmm_ppl.train.step.make_optimizer`); an EMA of the weights.  Training stops at
    ``max_steps`` or after ``max_seconds`` of wall time (whichever first; ``None`` disables a limit)."""

    batch_size: int = 128
    learning_rate: float = 2e-3
    warmup_steps: int = 200
    weight_decay: float = 1e-4
    clip_norm: float = 1.0
    optimizer: str = "adamw"
    #: Muon's Newton-Schulz iterations and the scaling before them (``optax.contrib.muon``'s ``ns_steps`` and
    #: ``preconditioning``; :func:`pmm_ppl.train.step.make_optimizer`); unused under AdamW
    muon_ns_steps: int = 5
    muon_preconditioning: str = "frobenius"
    ema_decay: float = 0.999
    ema_warmup: float = 10.0  # EMA decay at step s: min(ema_decay, (1 + s) / (ema_warmup + s))
    max_steps: int = 10_000
    max_seconds: float | None = None
    decay_steps: int | None = None  # cosine decay horizon (defaults to max_steps)
    checkpoint_every: int = 500
    log_every: int = 50
    seed: int = 0
    #: on a CPU, at most this many of its JAX devices split each batch (``None``: all of them; the loop takes the
    #: largest count that divides ``batch_size``, :func:`pmm_ppl.train.loop.training_mesh`).  1 by default: the
    #: split paid only for the conv U-Nets (0.62x / 0.65x the step time on 2 cores), the MLPs took 1.7x to 1.9x
    #: and the character convolutions 1.15x (:mod:`pmm_ppl.train.cpu_devices`).  Accelerators: every device.
    #: Where the step runs, not what it computes
    cpu_data_devices: int | None = 1

    #: fields that only say when to stop, log or save, or where to compute; every other field shapes the
    #: training trajectory
    RUN_CONTROL_FIELDS = ("max_steps", "max_seconds", "checkpoint_every", "log_every", "cpu_data_devices")
    #: the values of ``optimizer`` (:func:`pmm_ppl.train.step.make_optimizer`)
    OPTIMIZERS = ("adamw", "muon")
    #: the values of ``muon_preconditioning`` (those of ``optax.contrib.muon``)
    MUON_PRECONDITIONINGS = ("frobenius", "spectral", "aol", "schatten")
    #: fields read only under one ``optimizer`` (left out of :meth:`trajectory` under any other)
    OPTIMIZER_ONLY_FIELDS = {"muon_ns_steps": "muon", "muon_preconditioning": "muon"}

    def __post_init__(self):
        """Every field is checked when the config is built: a wrong value is a :class:`PMMInputError`
        naming the field, never a run that trains on nonsense."""
        for name in ("batch_size", "max_steps", "checkpoint_every", "log_every"):
            check_whole_number(getattr(self, name), name, 1)
        check_whole_number(self.warmup_steps, "warmup_steps", 0)
        check_whole_number(self.seed, "seed", 0)
        _optional(self.decay_steps, lambda v: check_whole_number(v, "decay_steps", 1))
        _optional(self.cpu_data_devices, lambda v: check_whole_number(v, "cpu_data_devices", 1))
        check_real_in(self.learning_rate, "learning_rate", 0.0, low_open=True)
        check_real_in(self.weight_decay, "weight_decay", 0.0)
        check_real_in(self.clip_norm, "clip_norm", 0.0, low_open=True)
        if self.optimizer not in self.OPTIMIZERS:
            raise PMMInputError(f"optimizer: must be one of {', '.join(self.OPTIMIZERS)}, got {self.optimizer!r}")
        check_whole_number(self.muon_ns_steps, "muon_ns_steps", 1)
        if self.muon_preconditioning not in self.MUON_PRECONDITIONINGS:
            raise PMMInputError(f"muon_preconditioning: must be one of {', '.join(self.MUON_PRECONDITIONINGS)}, "
                                f"got {self.muon_preconditioning!r}")
        check_real_in(self.ema_decay, "ema_decay", 0.0, 1.0, high_open=True)
        check_real_in(self.ema_warmup, "ema_warmup", 0.0, low_open=True)
        _optional(self.max_seconds, lambda v: check_real_in(v, "max_seconds", 0.0, low_open=True))

    @property
    def decay_horizon(self) -> int:
        """The cosine decay horizon in steps (``decay_steps``, else ``max_steps``; past the warm-up)."""
        return max(self.decay_steps or self.max_steps, self.warmup_steps + 1)

    def trajectory(self) -> dict:
        """The settings that determine the weights at every step (the data order, the random keys and
        the optimiser, with an optimiser's own settings only under it); a run can be resumed exactly only when these
        are unchanged (and bit for bit only on as many devices as before: ``cpu_data_devices`` changes the order of
        the gradient's sums, not the step)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name not in self.RUN_CONTROL_FIELDS and f.name != "decay_steps"
               and self.OPTIMIZER_ONLY_FIELDS.get(f.name, self.optimizer) == self.optimizer}
        out["decay_horizon"] = self.decay_horizon
        return out


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """How the likelihood bound is reported.  ``num_levels`` > 0: the data are discretised on that
    many evenly spaced levels in [-1, 1] (images); 0: exact (tokens, counts)."""

    num_levels: int = 0
    unit: str = "dim"  # "dim" (bits/dim), "char" (bits/char), "count" (nats/count), "doc"
    num_steps: int = 256  # discrete steps of the bound
    num_mc: int = 2  # Monte Carlo replicates per example (>= 2: the standard error needs two)
    max_examples: int | None = None  # score only the first max_examples test rows (None: all)
    #: False: benchmarks report only the continuous-time bound by default; the T-step bound costs T * num_mc
    #: network calls per example (MNIST on CPU: T = 256 on 500 images is longer than the training budget)
    discrete_bound: bool = True

    UNITS = ("dim", "char", "count", "doc")

    def __post_init__(self):
        check_whole_number(self.num_levels, "num_levels", 0)
        if self.num_levels == 1:
            raise PMMInputError("num_levels: must be 0 (no discretisation) or >= 2, got 1")
        if self.unit not in self.UNITS:
            raise PMMInputError(f"unit: must be one of {', '.join(self.UNITS)}, got {self.unit!r}")
        check_whole_number(self.num_steps, "num_steps", 1)
        check_whole_number(self.num_mc, "num_mc", 2)
        _optional(self.max_examples, lambda v: check_whole_number(v, "max_examples", 1))
        if not isinstance(self.discrete_bound, bool):
            raise PMMInputError(f"discrete_bound: must be True or False, got {self.discrete_bound!r}")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A ready model: pair + schedule + net + objective + data + budget.

    ``make_net(seed)`` builds the Flax NNX denoiser (called as ``net(mu, t)``).
    ``load_data()`` returns ``(train, test)`` arrays of shape ``(N, ...)``: already in the pair's
    data space ``(N, *data_shape)``, or in a compact stored form (e.g. token indices) that the
    jittable ``encode`` maps to it batch by batch.
    ``load_labels()`` (optional) returns the class labels of those rows, ``(train_labels, test_labels)``.
    """

    name: str
    pair: ConjugatePair
    schedule: Any
    make_net: Callable[[int], Any]
    load_data: Callable[[], tuple[np.ndarray, np.ndarray]]
    data_shape: tuple[int, ...]
    weighting: str = "pmm"
    #: weight of the log score of the net's per-coordinate posterior added to the loss (0: mean only;
    #: see pmm_ppl.process.objectives)
    log_score: float = 0.0
    #: how a batch's training times are drawn: "independent" or "stratified" (pmm_ppl.process.objectives)
    train_times: str = "independent"
    #: non-leaking augmentation of the training batches, ``augment(key, x) -> (x', labels)`` with ``num_labels``
    #: (e.g. pmm_ppl.data.augment.GeometricAugmentation); the net must take the labels (``augment_dim``)
    augment: Any = None
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    sample_steps: int = 200
    #: "plug_in" or "ancestral"; None: from the pair's exactness class (see ``default_sampler``)
    sampler: str | None = None
    description: str = ""
    #: what the budget is sized for: "cpu" (trains within its budget on a 2-core machine) or "gpu"
    hardware: str = "cpu"
    decode: Callable[[np.ndarray], Any] | None = None  # e.g. a sample (one-hot / probabilities) -> text
    encode: Callable[[Any], Any] | None = None  # jittable: stored batch -> pair data space (e.g. indices -> one-hot)
    # class labels (train_labels, test_labels) of the rows of load_data()'s (train, test), for labelled data: the
    # sample-quality metrics then include a classifier's feature space (pmm_ppl/quality/)
    load_labels: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None

    def __post_init__(self):
        from pmm_ppl.process.objectives import check_log_score, check_times, check_weighting

        check_whole_number(self.sample_steps, "sample_steps", 1)
        check_weighting(self.weighting, check_log_score(self.log_score, self.pair))
        check_times(self.train_times, "train_times")
        if self.augment is not None and not (callable(self.augment) and hasattr(self.augment, "num_labels")):
            raise PMMInputError(f"augment: needs a callable augment(key, x) -> (x', labels) with num_labels, "
                                f"got {self.augment!r}")
        if self.hardware not in ("cpu", "gpu"):
            raise PMMInputError(f"hardware: must be 'cpu' or 'gpu', got {self.hardware!r}")
        if self.sampler not in (None, "plug_in", "ancestral"):
            raise PMMInputError(f"sampler: must be 'plug_in', 'ancestral' or None, got {self.sampler!r}")

    @property
    def default_sampler(self) -> str:
        """The model's sampler: its own ``sampler`` (chosen by measured quality where both are exact), else
        ``"plug_in"`` for pairs where it is exact in the limit (``pair.plug_in_exact == "limit"``) and
        ``"ancestral"`` for the others (which needs a distributional net)."""
        if self.sampler is not None:
            return self.sampler
        return "plug_in" if self.pair.plug_in_exact == "limit" else "ancestral"

    def to_data(self, batch: Any) -> Any:
        """A stored batch in the pair's data space (identity unless ``encode`` is set)."""
        return batch if self.encode is None else self.encode(batch)

    #: the objective: what a model file's overrides of these names set, and what :meth:`fingerprint` adds to
    #: :meth:`identity` (a resume compares their effective values through it)
    OBJECTIVE_FIELDS = ("weighting", "log_score", "train_times")
    #: how a ``spec.json`` written before an entry existed reads that entry (see ``checkpoint.check_spec``)
    #: (each is what the code did before the entry was recorded, not today's default: a run from before
    #: ``TrainConfig.optimizer`` trained with AdamW whatever a model now sets)
    UNRECORDED_DEFAULTS = {"augment": None, "log_score": 0.0, "train_times": "independent",
                           "training.optimizer": "adamw", "training.muon_ns_steps": 5,
                           "training.muon_preconditioning": "frobenius"}

    def identity(self) -> dict:
        """What must match for a checkpoint to be loaded into this spec (to sample or evaluate): what the
        weights mean -- the model, pair, schedule, data shape and the augmentation labels the net is
        conditioned on.  The objective is not part of it: it shaped the training, not the trained map."""
        return {
            "name": self.name,
            "pair": repr(self.pair),
            "schedule": repr(self.schedule),
            "data_shape": list(self.data_shape),
            "augment": None if self.augment is None else repr(self.augment),
        }

    def fingerprint(self) -> dict:
        """What must match for a checkpoint to be resumed into this spec: :meth:`identity` and the objective
        (:attr:`OBJECTIVE_FIELDS`: weighting, log score, time draws).  It is what ``spec.json`` records."""
        return {**self.identity(), **{name: getattr(self, name) for name in self.OBJECTIVE_FIELDS}}

"""What a ready-to-train model is: one readable place naming its pair, net, schedule, loss
weighting, data and training budget (the files in ``models/`` each build one ``ModelSpec``)."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from pmm_ppl.conjugate.base import ConjugatePair


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimiser and budget.  AdamW with linear warm-up then cosine decay, global-norm clipping,
    an EMA of the weights.  Training stops at ``max_steps`` or after ``max_seconds`` of wall time
    (whichever first; ``None`` disables a limit)."""

    batch_size: int = 128
    learning_rate: float = 2e-3
    warmup_steps: int = 200
    weight_decay: float = 1e-4
    clip_norm: float = 1.0
    ema_decay: float = 0.999
    ema_warmup: float = 10.0  # EMA decay at step s: min(ema_decay, (1 + s) / (ema_warmup + s))
    max_steps: int = 10_000
    max_seconds: float | None = None
    decay_steps: int | None = None  # cosine decay horizon (defaults to max_steps)
    checkpoint_every: int = 500
    log_every: int = 50
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """How the likelihood bound is reported.  ``num_levels`` > 0: the data are discretised on that
    many evenly spaced levels in [-1, 1] (images); 0: exact (tokens, counts)."""

    num_levels: int = 0
    unit: str = "dim"  # "dim" (bits/dim), "char" (bits/char), "count" (nats/count), "doc"
    num_steps: int = 256  # discrete steps of the bound
    num_mc: int = 1
    max_examples: int | None = None


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A ready model: pair + schedule + net + objective + data + budget.

    ``make_net(seed)`` builds the Flax NNX denoiser (called as ``net(mu, t)``).
    ``load_data()`` returns ``(train, test)`` arrays of shape ``(N, ...)``: already in the pair's
    data space ``(N, *data_shape)``, or in a compact stored form (e.g. token indices) that the
    jittable ``encode`` maps to it batch by batch.
    """

    name: str
    pair: ConjugatePair
    schedule: Any
    make_net: Callable[[int], Any]
    load_data: Callable[[], tuple[np.ndarray, np.ndarray]]
    data_shape: tuple[int, ...]
    weighting: str = "pmm"
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    sample_steps: int = 200
    description: str = ""
    decode: Callable[[np.ndarray], Any] | None = None  # e.g. a sample (one-hot / probabilities) -> text
    encode: Callable[[Any], Any] | None = None  # jittable: stored batch -> pair data space (e.g. indices -> one-hot)

    def to_data(self, batch: Any) -> Any:
        """A stored batch in the pair's data space (identity unless ``encode`` is set)."""
        return batch if self.encode is None else self.encode(batch)

    def fingerprint(self) -> dict:
        """What must match for a checkpoint to be resumed or loaded into this spec."""
        return {
            "name": self.name,
            "pair": repr(self.pair),
            "schedule": repr(self.schedule),
            "data_shape": list(self.data_shape),
            "weighting": self.weighting,
        }

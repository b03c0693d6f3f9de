"""Evaluation of a trained model: the test-set likelihood bound and samples.

The bound is :func:`pmm_ppl.process.elbo.discrete_elbo` with the model's reconstruction
(images: discretised Gaussian on ``num_levels`` levels in [-1, 1]; tokens: exact categorical;
counts: discretised Gamma), averaged over the test set in batches.  Reported in nats per
example and in bits per dimension (``unit="dim"``), per character (``"char"``: one token is one
dimension), or nats per count (``"count"``: nats divided by the total count of the document).
"""

from __future__ import annotations

import math
import time
from typing import Any, NamedTuple

import jax
import numpy as np
from tqdm.auto import tqdm

from pmm_ppl.process.elbo import (
    DiscretisedGaussian,
    continuous_elbo,
    discrete_elbo,
)
from pmm_ppl.conjugate.validation import PMMInputError, check_whole_number
from pmm_ppl.process.sampler import sample
from pmm_ppl.train.spec import ModelSpec


def _given_or(value: int | None, default: int, name: str, minimum: int = 1) -> int:
    """``default`` when ``value`` is None, else ``value`` checked (0 never means "the default")."""
    return default if value is None else check_whole_number(value, name, minimum)


class BoundReport(NamedTuple):
    nats_per_example: float
    nats_se: float
    bits_per_dim: float
    bits_se: float
    num_examples: int
    num_steps: int
    unit: str
    per_unit: float  # the bound in the model's reporting unit (bits/dim, bits/char or nats/count)
    seconds: float

    def line(self) -> str:
        unit = {"dim": "bits/dim", "char": "bits/char", "count": "nats/count", "doc": "nats/doc"}[self.unit]
        steps = "continuous time" if self.num_steps == 0 else f"{self.num_steps} steps"
        return (f"test bound: {self.nats_per_example:.2f} +- {self.nats_se:.2f} nats/example = "
                f"{self.per_unit:.4f} {unit} (+- {self.bits_se:.4f} bits/dim; {self.num_examples} examples, "
                f"{steps}, {self.seconds:.0f} s)")


def reconstruction_for(spec: ModelSpec):
    if spec.eval.num_levels:
        return DiscretisedGaussian(num_levels=spec.eval.num_levels)
    return spec.pair.default_reconstruction()


def test_bound(spec: ModelSpec, denoiser: Any, test_data: np.ndarray, key: jax.Array, *, num_steps: int | None = None,
               num_mc: int | None = None, batch_size: int = 256, max_examples: int | None = None,
               progress: bool = False, continuous: bool = False, receiver: str = "plug_in") -> BoundReport:
    """Average ``T``-step bound over ``test_data`` (first ``max_examples`` rows), or with
    ``continuous=True`` the continuous-time bound (:func:`~pmm_ppl.process.elbo.continuous_elbo`,
    ``num_mc`` time draws per example, default 16; ``num_steps`` is reported as 0).  The ``T``-step
    bound costs ``T * num_mc`` network calls per example, the continuous one ``2 * num_mc``.
    ``receiver``: the sampler whose bound it is, ``"plug_in"`` or ``"ancestral"`` (discrete time only;
    see :func:`~pmm_ppl.process.elbo.discrete_elbo`)."""
    if continuous and receiver != "plug_in":
        raise PMMInputError(f"receiver: the continuous-time bound is written for the plug-in receiver, got {receiver!r}")
    t0 = time.perf_counter()
    num_steps = 0 if continuous else _given_or(num_steps, spec.eval.num_steps, "num_steps")
    num_mc = _given_or(num_mc, 16 if continuous else spec.eval.num_mc, "num_mc", 2)
    max_examples = spec.eval.max_examples if max_examples is None else check_whole_number(max_examples, "max_examples")
    check_whole_number(batch_size, "batch_size")
    data = np.asarray(test_data)[: max_examples or None]
    recon = reconstruction_for(spec)
    totals = []
    for start in tqdm(range(0, len(data), batch_size), disable=not progress, desc="bound"):
        chunk = np.asarray(spec.to_data(data[start : start + batch_size]), np.float32)
        chunk_key = jax.random.fold_in(key, start)
        if continuous:
            est = continuous_elbo(spec.pair, denoiser, chunk_key, chunk, spec.schedule, recon=recon, num_mc=num_mc)
        else:
            est = discrete_elbo(spec.pair, denoiser, chunk_key, chunk, spec.schedule, num_steps, recon=recon,
                                num_mc=num_mc, receiver=receiver)
        totals.append(np.asarray(est.nats))
    per_example = np.concatenate(totals)
    n = len(per_example)
    mean = float(per_example.mean())
    se = float(per_example.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    dims = int(np.prod(spec.data_shape[: len(spec.data_shape) - spec.pair.event_ndim]))
    bits = mean / (dims * math.log(2))
    bits_se = se / (dims * math.log(2))
    if spec.eval.unit == "count":
        per_unit = float(per_example.sum() / max(float(np.asarray(data, np.float64).sum()), 1.0))
    elif spec.eval.unit == "doc":
        per_unit = mean
    else:
        per_unit = bits
    return BoundReport(mean, se, bits, bits_se, n, num_steps, spec.eval.unit, per_unit, time.perf_counter() - t0)


def draw_samples(spec: ModelSpec, denoiser: Any, key: jax.Array, num: int, num_steps: int | None = None,
                 sampler: str = "plug_in") -> np.ndarray:
    """``num`` samples from the trained model (``num_steps`` default: the model's) with the plug-in or the
    ancestral sampler (the latter needs a net with a per-coordinate posterior, e.g. a level head)."""
    num = check_whole_number(num, "num")
    steps = _given_or(num_steps, spec.sample_steps, "num_steps")
    out = sample(spec.pair, denoiser, key, num, tuple(spec.data_shape), spec.schedule, steps, sampler=sampler)
    return np.asarray(out)

r"""Does a sampler reproduce its target?  A measured check for any registered pair, with an exact oracle.

Target: two atoms :math:`x_a, x_b` of the pair's data space with weights :math:`(w, 1 - w)` (the atoms
are prior draws of the pair itself, at the 10% and 90% quantiles of their first coordinate's mean over
the datum, so no pair needs a table entry here).  The exact :math:`E^*[x \mid \mu]` and the exact
per-coordinate posterior of such a target are :func:`~pmm_ppl.process.oracles.empirical_oracle` (any
linear pair).  Statistic: the share of samples nearer to :math:`x_a` than to :math:`x_b` (Euclidean
distance over the datum); its exact value is :math:`w`, its sampling standard error
:math:`\sqrt{w(1-w)/n}`, and a row is ``within_noise`` when :math:`|\hat w - w| \le 4\,\mathrm{SE}`.

Used by ``benchmarks/sampler_exactness.py`` (the table over every pair, sampler and step count) and
by the tests (a smaller version).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import numpy as np

from pmm_ppl.conjugate.base import ConjugatePair, LinearPair
from pmm_ppl.process.oracles import empirical_oracle
from pmm_ppl.process.process import Process


class ExactnessRow(NamedTuple):
    pair: str
    sampler: str
    num_steps: int
    statistic: float
    exact: float
    stderr: float

    @property
    def within_noise(self) -> bool:
        return abs(self.statistic - self.exact) <= 4.0 * self.stderr


def two_atoms(pair: ConjugatePair, seed: int = 0) -> np.ndarray:
    """Two distinct data points of the pair, shape ``(2, *event)``: prior draws at the 10% and 90%
    quantiles (by the mean over the datum's coordinates)."""
    draws = np.asarray(pair.sample_data(jax.random.key(seed), (200,)), np.float64)
    score = draws.reshape(200, -1).mean(-1)
    order = np.argsort(score)
    return draws[[order[20], order[179]]].astype(np.float32)


def check_sampler(pair: ConjugatePair, sampler: str, num_steps: int, num_samples: int = 4000, weight: float = 0.3,
                  process: Process | None = None, seed: int = 0) -> ExactnessRow:
    """Sample ``num_samples`` data with the exact oracle of the two-atom target and measure the share near
    the first atom (module docstring)."""
    if not isinstance(pair, LinearPair):
        raise TypeError(f"{pair.name}: the exact oracle needs a linear pair")
    process = Process.for_pair(pair) if process is None else process
    atoms = two_atoms(pair, seed)
    rows = atoms[:, None]  # data of one coordinate: shape (1, *event)
    oracle = empirical_oracle(pair, process.schedule, rows, weights=[weight, 1.0 - weight])
    x = process.sample(oracle, jax.random.key(seed + 1), num_samples, rows.shape[1:], num_steps=num_steps,
                       sampler=sampler, output="mean")
    x = np.asarray(x, np.float64).reshape(num_samples, -1)
    a, b = atoms.reshape(2, -1).astype(np.float64)
    share = float(np.mean(((x - a) ** 2).sum(-1) < ((x - b) ** 2).sum(-1)))
    return ExactnessRow(pair.name, sampler, num_steps, share, weight, math.sqrt(weight * (1 - weight) / num_samples))


__all__ = ["ExactnessRow", "check_sampler", "two_atoms"]

"""Energy distance between two samples (Szekely & Rizzo 2013), for any data.

For distributions :math:`P, Q` on :math:`\\mathbb{R}^d` with finite first moments,

.. math::  D^2(P, Q) = 2\\,E\\|X - Y\\| - E\\|X - X'\\| - E\\|Y - Y'\\| \\;\\ge 0,

with :math:`X, X' \\sim P`, :math:`Y, Y' \\sim Q` independent; :math:`D = 0` iff :math:`P = Q`.  The
estimate here is the V-statistic (every expectation an average over all pairs of the two empirical
distributions, the zero diagonal included), which is what ``scipy.stats.energy_distance`` computes
in one dimension (there :math:`D`, the square root).  The V-statistic is biased upwards by
:math:`O(1/n)`, so a value is only meaningful next to a noise floor: the same statistic between two
independent samples of the same size from one distribution (e.g. two held-out halves).
"""

from __future__ import annotations

import numpy as np

from pmm_ppl.conjugate.validation import PMMInputError


def _rows(x, name: str) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim == 0 or x.shape[0] < 1:
        raise PMMInputError(f"{name}: need an array with at least one row, got shape {x.shape}")
    x = x.reshape(x.shape[0], -1)
    if not np.all(np.isfinite(x)):
        raise PMMInputError(f"{name}: contains NaN or infinite values")
    return x


def mean_pairwise_distance(x: np.ndarray, y: np.ndarray, block: int = 1024) -> float:
    """:math:`\\frac{1}{nm}\\sum_{i,j} \\|x_i - y_j\\|` over rows (float64; blocks of ``block`` rows of ``x``).
    Squared distances by :math:`\\|x\\|^2 + \\|y\\|^2 - 2 x\\cdot y`, clipped at 0 before the root."""
    yy = np.einsum("ij,ij->i", y, y)
    total = 0.0
    for s in range(0, x.shape[0], block):
        xb = x[s : s + block]
        d2 = np.einsum("ij,ij->i", xb, xb)[:, None] + yy[None, :] - 2.0 * xb @ y.T
        total += float(np.sqrt(np.maximum(d2, 0.0)).sum())
    return total / (x.shape[0] * y.shape[0])


def energy_distance_sq(x, y) -> float:
    """The V-statistic :math:`D^2` (module docstring) between the rows of ``x`` (n, ...) and ``y`` (m, ...);
    trailing axes are flattened (an image is one vector)."""
    x, y = _rows(x, "x"), _rows(y, "y")
    if x.shape[1] != y.shape[1]:
        raise PMMInputError(f"x and y: rows of different sizes ({x.shape[1]} and {y.shape[1]} values)")
    d2 = 2.0 * mean_pairwise_distance(x, y) - mean_pairwise_distance(x, x) - mean_pairwise_distance(y, y)
    return max(d2, 0.0)  # >= 0 exactly (a V-statistic of a negative-definite kernel); clip rounding


def energy_distance(x, y) -> float:
    """:math:`D = \\sqrt{D^2}` (module docstring); equals ``scipy.stats.energy_distance`` for 1-D data."""
    return float(np.sqrt(energy_distance_sq(x, y)))

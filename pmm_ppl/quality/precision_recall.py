"""Improved precision and recall (Kynkaanniemi et al. 2019): k-nearest-neighbour estimates of the
supports of the real and the generated distributions in a feature space.

The manifold of a set :math:`\\Phi` is the union of balls :math:`B(\\phi, r_k(\\phi))`, :math:`\\phi \\in \\Phi`,
where :math:`r_k(\\phi)` is the distance from :math:`\\phi` to its k-th nearest neighbour in :math:`\\Phi`
(itself excluded).  With :math:`f(\\psi, \\Phi) = 1` iff :math:`\\psi` lies in that union,

.. math::  \\text{precision} = \\frac{1}{|G|}\\sum_{g \\in G} f(g, R), \\qquad
           \\text{recall} = \\frac{1}{|R|}\\sum_{r \\in R} f(r, G)

(real features :math:`R`, generated :math:`G`): precision is the fraction of samples that look real,
recall the fraction of real data the samples cover.  Both depend on ``k`` and on the set sizes, so
they are compared with the same statistic between two held-out halves.
"""

from __future__ import annotations

import numpy as np

from pmm_ppl.conjugate.validation import PMMInputError, check_whole_number


def _sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = np.einsum("ij,ij->i", a, a)[:, None] + np.einsum("ij,ij->i", b, b)[None, :] - 2.0 * a @ b.T
    return np.maximum(d2, 0.0)


def knn_radii(x: np.ndarray, k: int) -> np.ndarray:
    """Squared distance of each row of ``x`` to its k-th nearest other row."""
    d2 = _sq_distances(x, x)
    np.fill_diagonal(d2, np.inf)
    return np.partition(d2, k - 1, axis=1)[:, k - 1]


def coverage(points: np.ndarray, centres: np.ndarray, k: int) -> float:
    """Fraction of ``points`` inside the k-NN manifold of ``centres`` (:math:`f` of the module docstring)."""
    radii = knn_radii(centres, k)
    inside = (_sq_distances(points, centres) <= radii[None, :]).any(axis=1)
    return float(inside.mean())


def precision_recall(real, fake, k: int = 3) -> tuple[float, float]:
    """(precision, recall) of the generated rows ``fake`` against the real rows ``real`` (module docstring);
    both (n, d) feature arrays with more than ``k`` rows."""
    k = check_whole_number(k, "k", 1)
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1] or min(len(real), len(fake)) <= k:
        raise PMMInputError(f"real and fake: need (n, d) and (m, d) arrays with more than k = {k} rows, "
                            f"got {real.shape} and {fake.shape}")
    return coverage(fake, real, k), coverage(real, fake, k)

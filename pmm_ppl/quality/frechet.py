"""Frechet distance between the Gaussians fitted to two samples of feature vectors (as in FID,
Heusel et al. 2017, here in the feature space of a small classifier: :mod:`pmm_ppl.quality.features`).

For :math:`N(m_1, S_1)` and :math:`N(m_2, S_2)` the squared 2-Wasserstein distance is

.. math::  d^2 = \\|m_1 - m_2\\|^2 + \\operatorname{tr} S_1 + \\operatorname{tr} S_2
           - 2 \\operatorname{tr}\\big(S_1^{1/2} S_2 S_1^{1/2}\\big)^{1/2}.

The last trace equals :math:`\\operatorname{tr}(S_1 S_2)^{1/2}` (the two matrices are similar); it is
computed as the sum of the square roots of the eigenvalues of the symmetric PSD matrix
:math:`S_1^{1/2} S_2 S_1^{1/2}` (clipped at 0), which stays real and stable when the covariances are
singular (fewer samples than features).  Estimated from samples (unbiased covariances), :math:`d^2` is
biased upwards by :math:`O(d/n)`: compare it with a noise floor of the same sample sizes.
"""

from __future__ import annotations

import numpy as np

from pmm_ppl.conjugate.validation import PMMInputError


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.maximum(w, 0.0))) @ v.T


def gaussian_frechet_distance(m1, s1, m2, s2) -> float:
    """:math:`d^2` between :math:`N(m_1, S_1)` and :math:`N(m_2, S_2)` (module docstring), float64."""
    m1, m2 = np.atleast_1d(np.asarray(m1, np.float64)), np.atleast_1d(np.asarray(m2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(s1, np.float64)), np.atleast_2d(np.asarray(s2, np.float64))
    d = m1.shape[0]
    if m2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise PMMInputError(f"means and covariances of different sizes: {m1.shape}, {s1.shape}, {m2.shape}, {s2.shape}")
    r = _psd_sqrt(s1)
    cross = np.linalg.eigvalsh(r @ s2 @ r)
    value = float(np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * np.sum(np.sqrt(np.maximum(cross, 0.0))))
    return max(value, 0.0)


def frechet_distance(x, y) -> float:
    """:math:`d^2` between the Gaussians fitted to the rows of ``x`` (n, d) and ``y`` (m, d) (sample means,
    unbiased sample covariances; n, m >= 2)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or min(len(x), len(y)) < 2:
        raise PMMInputError(f"x and y: need (n, d) and (m, d) feature arrays with n, m >= 2, got {x.shape} and {y.shape}")
    return gaussian_frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))

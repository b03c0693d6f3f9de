"""scikit-learn's 8x8 digits (bundled with scikit-learn, no download): 1797 images, values 0..16.

Fixed split used throughout the project: images 0..1499 train, 1500..1796 test.
"""

from __future__ import annotations

import numpy as np

from pmm_ppl.data.base import Dataset

NUM_TRAIN = 1500
NUM_LEVELS = 17  # pixel values 0..16


def _raw() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images.astype(np.int32), d.target.astype(np.int32)  # (1797, 8, 8) in 0..16, (1797,)


def load_digits_images() -> Dataset:
    """Images as float32 in [-1, 1]: ``(v / 16) * 2 - 1`` (17 levels), shape (n, 8, 8), with labels."""
    counts, labels = _raw()
    x = (counts.astype(np.float32) / 16.0) * 2.0 - 1.0
    info = {"name": "digits", "source": "sklearn.datasets.load_digits", "num_levels": NUM_LEVELS,
            "range": (-1.0, 1.0), "transform": "(v/16)*2-1"}
    return Dataset(x[:NUM_TRAIN], x[NUM_TRAIN:], labels[:NUM_TRAIN], labels[NUM_TRAIN:], info)


def load_digits_counts() -> Dataset:
    """The same pixels as integer counts 0..16 (int32), shape (n, 8, 8), same split and labels."""
    counts, labels = _raw()
    info = {"name": "digits_counts", "source": "sklearn.datasets.load_digits", "num_levels": NUM_LEVELS,
            "range": (0, 16)}
    return Dataset(counts[:NUM_TRAIN], counts[NUM_TRAIN:], labels[:NUM_TRAIN], labels[NUM_TRAIN:], info)

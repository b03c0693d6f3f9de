"""The container every loader returns."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np


class Dataset(NamedTuple):
    """A fixed train/test split held as host (NumPy) arrays.

    ``train`` / ``test``: data, first axis = examples (or tokens for a text stream);
    ``train_labels`` / ``test_labels``: class labels or ``None``;
    ``info``: description (``name``, ``source``, ``num_levels`` for discretised data,
    ``vocabulary`` for text and bag-of-words data, ...).
    """

    train: Any
    test: Any
    train_labels: np.ndarray | None
    test_labels: np.ndarray | None
    info: dict

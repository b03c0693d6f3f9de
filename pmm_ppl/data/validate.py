"""Check loaded data against the chosen conjugate pair before training on it.

``validate_for_pair(data, pair, name)``:

1. dtype: real numbers (bool, integer or float); strings, objects and complex numbers are refused;
2. finiteness (no NaN / inf);
3. the pair's support via ``pair.validate_data`` (e.g. counts >= 0 for Gamma-Poisson, [0, 1] for
   Beta-Binomial, probability vectors for Dirichlet pairs);
4. for Dirichlet (token) pairs, integer data are class indices: they must lie in
   ``0 .. num_classes - 1`` (default ``pair.num_classes``) and are turned into one-hot vectors before step 3.

Errors are :class:`~pmm_ppl.conjugate.validation.PMMInputError` whose message starts with ``name``
(pass the file / array name, e.g. ``"digits.npz['x']"``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pmm_ppl.conjugate import validation as V
from pmm_ppl.conjugate.validation import PMMInputError


def validate_for_pair(data: Any, pair: Any, name: str = "data", num_classes: int | None = None) -> np.ndarray:
    """Validated data as a NumPy array (one-hot float32 for integer tokens and a Dirichlet pair)."""
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
    if pair.name.startswith("dirichlet_") and arr.dtype.kind in "iu":
        num_classes = num_classes if num_classes is not None else getattr(pair, "num_classes", None)
        if num_classes is None:
            raise PMMInputError(f"{name}: integer tokens for pair {pair.name!r} need num_classes (the vocabulary size)")
        V.check_category_indices(arr, name, num_classes)
        arr = np.eye(num_classes, dtype=np.float32)[arr]
    try:
        pair.validate_data(arr, name)
    except PMMInputError as err:
        msg = str(err)
        raise PMMInputError(msg if msg.startswith(name) else f"{name}: {msg}") from None
    return arr

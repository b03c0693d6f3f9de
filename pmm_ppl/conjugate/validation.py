"""Input checks used at the public API, before anything is traced.

Every check takes the value and the *name of the argument* so errors say what is wrong
and where.  A traced value (inside ``jit``/``vmap``) cannot be inspected and passes
through unchanged: validate at the boundary, then trace.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


class PMMInputError(ValueError):
    """Invalid input to a pmm_ppl function; the message names the argument."""


def is_traced(x: Any) -> bool:
    return isinstance(x, jax.core.Tracer)


def _as_numpy(x: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except Exception as err:  # pragma: no cover - exotic inputs
        raise PMMInputError(f"{name}: cannot be converted to an array ({err})") from err
    if arr.dtype == object:
        raise PMMInputError(f"{name}: expected a numeric array, got object dtype")
    return arr


def check_finite(x: Any, name: str) -> jax.Array:
    """``x`` must be numeric with no NaN or inf."""
    if is_traced(x):
        return x
    arr = _as_numpy(x, name)
    if arr.dtype.kind not in "biuf":
        raise PMMInputError(f"{name}: expected a real-valued array, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise PMMInputError(f"{name}: contains {bad} NaN or infinite value(s)")
    return jnp.asarray(x)


def check_positive(x: Any, name: str, allow_zero: bool = False) -> jax.Array:
    """``x`` finite and > 0 (>= 0 with ``allow_zero``)."""
    x = check_finite(x, name)
    if is_traced(x):
        return x
    arr = np.asarray(x)
    ok = arr >= 0 if allow_zero else arr > 0
    if not np.all(ok):
        bound = ">= 0" if allow_zero else "> 0"
        raise PMMInputError(f"{name}: must be {bound}, got min {arr.min()}")
    return x


def check_whole_number(value: Any, name: str, minimum: int = 1, why: str = "") -> int:
    """A Python/NumPy integer (not a bool, not a float) ``>= minimum``, returned as ``int``: the one home
    of the rule behind every count argument, config field and command-line number (``num_steps``,
    ``num_samples``, ``num_mc``, ``batch_size``, ...).  ``why`` is appended to the message."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise PMMInputError(f"{name}: must be an integer >= {minimum}{why}, got {value!r}")
    return int(value)


def check_integer(x: Any, name: str) -> jax.Array:
    """``x`` has whole-number values (any numeric dtype)."""
    x = check_finite(x, name)
    if is_traced(x):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind == "f" and not np.all(arr == np.round(arr)):
        raise PMMInputError(f"{name}: must hold whole numbers, got a non-integer value such as {arr[arr != np.round(arr)].flat[0]}")
    return x


def check_counts(x: Any, name: str) -> jax.Array:
    """Non-negative whole numbers."""
    x = check_integer(x, name)
    return check_positive(x, name, allow_zero=True)


def check_in_interval(x: Any, name: str, low: float, high: float, closed: bool = True) -> jax.Array:
    """``low <= x <= high`` (strict with ``closed=False``)."""
    x = check_finite(x, name)
    if is_traced(x):
        return x
    arr = np.asarray(x)
    ok = (arr >= low) & (arr <= high) if closed else (arr > low) & (arr < high)
    if not np.all(ok):
        br = "[]" if closed else "()"
        raise PMMInputError(f"{name}: values must lie in {br[0]}{low}, {high}{br[1]}, got range [{arr.min()}, {arr.max()}]")
    return x


def check_simplex(x: Any, name: str, atol: float = 1e-5) -> jax.Array:
    """Non-negative entries summing to one along the last axis."""
    x = check_in_interval(x, name, 0.0, 1.0)
    if is_traced(x):
        return x
    arr = np.asarray(x)
    if arr.ndim == 0:
        raise PMMInputError(f"{name}: a probability vector needs a last axis over classes, got a scalar")
    sums = arr.sum(-1)
    if not np.allclose(sums, 1.0, atol=atol):
        raise PMMInputError(f"{name}: must sum to 1 along the last axis, got sums in [{sums.min()}, {sums.max()}]")
    return x


def check_event_shape(x: Any, name: str, event_shape: tuple[int, ...]) -> jax.Array:
    """The trailing axes of ``x`` equal ``event_shape``."""
    if not event_shape:
        return x
    shape = tuple(np.shape(x))
    k = len(event_shape)
    if shape[len(shape) - k :] != tuple(event_shape) or len(shape) < k:
        raise PMMInputError(f"{name}: trailing shape must be {tuple(event_shape)}, got shape {shape}")
    return x


def check_category_indices(x: Any, name: str, num_classes: int) -> jax.Array:
    """Integer class indices in ``0 .. num_classes - 1``."""
    x = check_integer(x, name)
    if is_traced(x):
        return x
    arr = np.asarray(x)
    if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
        raise PMMInputError(f"{name}: category indices must lie in 0..{num_classes - 1}, got range [{arr.min()}, {arr.max()}]")
    return x


def check_hyper_positive(value: Any, name: str) -> None:
    """Hyperparameter check for constructors: finite and > 0 everywhere."""
    arr = _as_numpy(value, name)
    if arr.dtype.kind not in "biuf" or not np.all(np.isfinite(arr)) or not np.all(arr > 0):
        raise PMMInputError(f"{name}: must be finite and > 0, got {value!r}")

"""Passing a denoiser through ``jax.jit``: array leaves as arguments, the rest as a static key.

A denoiser is any callable pytree: a plain function (no leaves), a ``jax.tree_util.Partial``, a
Flax NNX module (its parameters are leaves).  :func:`partition_denoiser` splits it into

* ``arrays``: a list with the array leaves (``None`` in the other slots), passed to the jitted
  function as an ordinary argument, so new weights -- another module of the same structure, or
  the same module trained in place -- reuse the compiled program and are read afresh on every
  call, never baked into it as constants;
* ``static``: ``(treedef, non-array leaves)``, hashable, passed as a static argument (the function,
  the module's structure and its Python-scalar attributes).

:func:`combine_denoiser` rebuilds the callable inside the traced function.  Hashing the module
itself instead would key the cache on the object's identity: a trained-in-place module would keep
the stale compiled result, and every new module object would recompile.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from pmm_ppl.conjugate.validation import PMMInputError, is_traced


def _is_array(leaf: Any) -> bool:
    return isinstance(leaf, (jax.Array, np.ndarray)) or is_traced(leaf)


def partition_denoiser(denoiser: Any) -> tuple[list, tuple]:
    """Array leaves (dynamic) and a hashable static rest (tree structure + non-array leaves)."""
    leaves, treedef = jax.tree_util.tree_flatten(denoiser)
    arrays = [leaf if _is_array(leaf) else None for leaf in leaves]
    static = (treedef, tuple(None if _is_array(leaf) else leaf for leaf in leaves))
    try:
        hash(static)
    except TypeError as err:
        raise PMMInputError(
            f"denoiser: its non-array parts must be hashable (a function, a Flax NNX module, a jax.tree_util.Partial); {err}"
        ) from err
    return arrays, static


def combine_denoiser(arrays: list, static: tuple) -> Any:
    """Inverse of :func:`partition_denoiser` (inside the jitted function)."""
    treedef, rest = static
    return jax.tree_util.tree_unflatten(treedef, [a if s is None else s for a, s in zip(arrays, rest)])


__all__ = ["combine_denoiser", "partition_denoiser"]

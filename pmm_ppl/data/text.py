"""Character-level text: vocabulary, encoding, and random fixed-length windows."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from pmm_ppl.conjugate.validation import PMMInputError


def build_vocabulary(text: str) -> str:
    """The sorted set of characters of ``text``, as one string (index = class id)."""
    return "".join(sorted(set(text)))


def encode(text: str, vocabulary: str, name: str = "text") -> np.ndarray:
    """Characters -> int32 class indices; unknown characters raise :class:`PMMInputError`."""
    table = {c: i for i, c in enumerate(vocabulary)}
    try:
        return np.fromiter((table[c] for c in text), dtype=np.int32, count=len(text))
    except KeyError as err:
        raise PMMInputError(f"{name}: character {err.args[0]!r} is not in the vocabulary") from None


def decode(indices, vocabulary: str) -> str:
    """Class indices (any integer array) -> string."""
    return "".join(vocabulary[int(i)] for i in np.asarray(indices).ravel())


def random_windows(key: jax.Array, tokens: jax.Array, batch_size: int, length: int = 256) -> jax.Array:
    """``batch_size`` windows of ``length`` consecutive tokens at uniform random offsets
    ``0 .. n - length`` drawn with ``key``: int array (batch_size, length).  Jittable for fixed
    ``batch_size`` and ``length``; the same key gives the same windows."""
    n = tokens.shape[0]
    if length > n:
        raise PMMInputError(f"length: window of {length} tokens is longer than the text ({n} tokens)")
    starts = jax.random.randint(key, (batch_size,), 0, n - length + 1)
    return jnp.asarray(tokens)[starts[:, None] + jnp.arange(length)]

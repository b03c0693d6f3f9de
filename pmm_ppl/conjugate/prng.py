r"""Standard normal draws that are ``jax.random.normal`` bit for bit, but fuse into one loop on CPU.

JAX lowers the Threefry-2x32 hash behind every ``jax.random`` draw on CPU as a *rolled* loop
(``fori_loop`` over its 5 groups of 4 rounds, to keep compile times short): each draw runs ~10 small
kernels that write and re-read the two 32-bit words of state per element.  In a sampler step that
is ~0.12 ms for 256 x 64 normals, against ~1 ms for a 0.3 M-parameter MLP (benchmarks/sampler_overhead.py).

:func:`normal` draws with a key of a PRNG implementation that is Threefry-2x32 in every respect
(key layout, ``seed``, ``split``, ``fold_in``: JAX's own functions) except that its ``random_bits``
spells out the 20 rounds (the Random123 / JAX constants and key schedule, unrolled), so XLA fuses
hash, uniform and inverse-erf transform into one elementwise loop (measured ~1.5x faster per draw).  The
bits are JAX's: :math:`\mathrm{threefry}(k, (\mathrm{hi}, \mathrm{lo}))` of the flat index split into two
32-bit words, the two output words XOR-ed (``jax_threefry_partitionable``, the default), so the
normals equal ``jax.random.normal(key, shape, dtype)`` exactly (``tests/test_pairs_reference.py``
checks it).  Anything else -- other key implementations, the non-partitionable stream, bit widths
other than 32 (``float64``), batched keys -- is handed to ``jax.random.normal`` unchanged.
"""

from __future__ import annotations

import math

import jax
import jax.extend.random as jrandom
import jax.numpy as jnp
import numpy as np

Array = jax.Array

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_BASE = jrandom.threefry_prng_impl


def _rotl(v: Array, d: int) -> Array:
    return (v << np.uint32(d)) | (v >> np.uint32(32 - d))


def threefry2x32(k1: Array, k2: Array, x1: Array, x2: Array) -> tuple[Array, Array]:
    """The Threefry-2x32 hash (20 rounds) of the counter pairs ``(x1, x2)`` under the key ``(k1, k2)``, unrolled."""
    ks = (k1, k2, k1 ^ k2 ^ np.uint32(0x1BD11BDA))
    x1, x2 = x1 + ks[0], x2 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x1 = x1 + x2
            x2 = _rotl(x2, r) ^ x1
        x1 = x1 + ks[(i + 1) % 3]
        x2 = x2 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x1, x2


def _random_bits(key: Array, bit_width: int, shape: tuple[int, ...]) -> Array:
    size = math.prod(shape)
    if bit_width != 32 or not jax.config.jax_threefry_partitionable or not shape or size >= 2**32:
        return _BASE.random_bits(key, bit_width, shape)
    hi = jnp.zeros(shape, np.uint32)  # the flat index < 2^32: its high word is 0
    lo = jax.lax.iota(np.uint32, size).reshape(shape)
    b1, b2 = threefry2x32(key[0], key[1], hi, lo)
    return b1 ^ b2


_UNROLLED = jrandom.define_prng_impl(key_shape=_BASE.key_shape, seed=_BASE.seed, split=_BASE.split,
                                     random_bits=_random_bits, fold_in=_BASE.fold_in,
                                     name="threefry2x32_unrolled", tag="fru")


def normal(key: Array, shape: tuple[int, ...] = (), dtype=None) -> Array:
    """``jax.random.normal(key, shape, dtype)``, bit for bit; faster on CPU for a single Threefry key."""
    dtype = jnp.result_type(float) if dtype is None else dtype
    shape = tuple(shape)
    typed = jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    if typed:
        threefry = key.shape == () and str(jax.random.key_impl(key)) == "threefry2x32"
    else:
        threefry = key.shape == (2,) and jax.config.jax_default_prng_impl == "threefry2x32"
    if not threefry or jnp.dtype(dtype) != jnp.float32:
        return jax.random.normal(key, shape, dtype)
    data = jax.random.key_data(key) if typed else key
    return jax.random.normal(jax.random.wrap_key_data(data, impl=_UNROLLED), shape, dtype)


__all__ = ["normal", "threefry2x32"]

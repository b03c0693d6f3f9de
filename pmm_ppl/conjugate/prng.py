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


def _threefry_key_data(key: Array) -> Array | None:
    """The key's two words if it is a single Threefry-2x32 key (raw or typed), else ``None``."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape == () and str(jax.random.key_impl(key)) == "threefry2x32":
            return jax.random.key_data(key)
        return None
    if key.shape == (2,) and jax.config.jax_default_prng_impl == "threefry2x32":
        return key
    return None


def normal(key: Array, shape: tuple[int, ...] = (), dtype=None) -> Array:
    """``jax.random.normal(key, shape, dtype)``, bit for bit; faster on CPU for a single Threefry key."""
    dtype = jnp.result_type(float) if dtype is None else dtype
    data = _threefry_key_data(key)
    if data is None or jnp.dtype(dtype) != jnp.float32:
        return jax.random.normal(key, tuple(shape), dtype)
    return jax.random.normal(jax.random.wrap_key_data(data, impl=_UNROLLED), tuple(shape), dtype)


def poisson(key: Array, lam: Array, dtype=jnp.int32) -> Array:
    r"""``jax.random.poisson(key, lam, dtype=dtype)`` (shape of ``lam``), bit for bit; faster on CPU.

    The same algorithm as JAX's (and TensorFlow's / NumPy's): Knuth's product of uniforms for
    :math:`\lambda < 10`, Hörmann's transformed rejection (PTRS) otherwise, both over the whole array
    and selected per element, with the same key splits -- only the uniforms come from the unrolled
    hash.  (``jax.random.poisson`` accepts only keys of JAX's own Threefry implementation.)"""
    data = _threefry_key_data(key)
    lam = jnp.asarray(lam)
    if data is None:
        return jax.random.poisson(key, lam, dtype=dtype)
    key = jax.random.wrap_key_data(data, impl=_UNROLLED)
    lam = jax.lax.convert_element_type(lam, np.float32)
    shape = lam.shape
    max_iters = np.iinfo(dtype).max
    use_knuth = jnp.isnan(lam) | (lam < 10)
    lam_knuth = jnp.where(use_knuth, lam, 0.0)
    lam_rejection = jnp.where(use_knuth, 1e5, lam)

    def knuth_body(carry):
        i, k, rng, log_prod = carry
        rng, subkey = jax.random.split(rng)
        k = jnp.where(log_prod > -lam_knuth, k + 1, k)
        return i + 1, k, rng, log_prod + jnp.log(jax.random.uniform(subkey, shape, np.float32))

    def knuth_cond(carry):
        return (carry[3] > -lam_knuth).any() & (carry[0] < max_iters)

    init = (0, jnp.zeros(shape, dtype), key, jnp.zeros(shape, np.float32))
    k_knuth = (jax.lax.while_loop(knuth_cond, knuth_body, init)[1] - 1).astype(dtype)

    lam_r = lam_rejection
    log_lam = jnp.log(lam_r)
    b = 0.931 + 2.53 * jnp.sqrt(lam_r)
    a = -0.059 + 0.02483 * b
    inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
    v_r = 0.9277 - 3.6224 / (b - 2)

    def rejection_body(carry):
        i, k_out, accepted, rng = carry
        rng, subkey_0, subkey_1 = jax.random.split(rng, 3)
        u = jax.random.uniform(subkey_0, shape, lam_r.dtype) - 0.5
        v = jax.random.uniform(subkey_1, shape, lam_r.dtype)
        u_shifted = 0.5 - abs(u)
        k = jnp.floor((2 * a / u_shifted + b) * u + lam_r + 0.43)
        s = jnp.log(v * inv_alpha / (a / (u_shifted * u_shifted) + b))
        t = -lam_r + k * log_lam - jax.lax.lgamma(k + 1)
        accept1 = (u_shifted >= 0.07) & (v <= v_r)
        reject = (k < 0) | ((u_shifted < 0.013) & (v > u_shifted))
        accept = accept1 | (~reject & (s <= t))
        return i + 1, jnp.where(accept, k, k_out), accepted | accept, rng

    def rejection_cond(carry):
        return (~carry[2]).any() & (carry[0] < max_iters)

    init = (0, jnp.full(shape, -1, lam_r.dtype), jnp.zeros(shape, bool), key)
    k_rejection = jax.lax.while_loop(rejection_cond, rejection_body, init)[1].astype(dtype)
    result = jnp.where(use_knuth, k_knuth, k_rejection)
    return jnp.where(lam == 0, jnp.zeros_like(result), result)


__all__ = ["normal", "poisson", "threefry2x32"]

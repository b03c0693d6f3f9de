r"""Hashed n-gram embeddings of the tokens around each position: capacity for joint contexts without FLOPs.

A sequence of ids :math:`z_1, \dots, z_L`, each a class :math:`0, \dots, K-1` (a revealed token), :math:`K` (a masked
position) or, beyond the ends, :math:`K + 1`.  For each radius :math:`r` in ``radii`` the centred
:math:`(2r+1)`-gram :math:`g^r_i = (z_{i-r}, \dots, z_{i+r})` is hashed to one of :math:`B` buckets and

.. math::

    e_i = P \sum_{r} E_r\big[H(g^r_i)\big], \qquad E_r \in \mathbb{R}^{B \times D},\ P \in \mathbb{R}^{W \times D}
    \text{ learned}

(:math:`P` the identity when the table width :math:`D` is the output width :math:`W`; a narrower table costs less
to update each step).

A convolution over per-token embeddings is a sum over the neighbours before its nonlinearity; a table row is a
free vector for each frequent *joint* context -- e.g. ``"t?e"``, a masked position between ``t`` and ``e`` -- so
the net gains capacity at the cost of a lookup, not of multiply-adds (the n-gram input embeddings of
over-tokenised Transformers, here over the revealed/masked pattern of masked diffusion).  An output of a net that
adds :math:`e` to its input layer sees :math:`2 \max_r r` positions more than the net alone.

:math:`H`: 32-bit FNV-1a over the ids of the n-gram, then Fibonacci hashing, the top :math:`\log_2 B` bits of
:math:`2654435761\,h \bmod 2^{32}` (:math:`B` a power of two; FNV-1a's xor-multiply applied per id, not per
byte).  Distinct n-grams can share a bucket; frequent ones dominate its row.  The tests check
:func:`ngram_buckets` against the same hash in plain Python integers.  The module records the hash's name
(``HASH``) among its settings, so tables hashed another way are refused on load.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from pmm_ppl.conjugate.validation import PMMInputError

FNV_OFFSET, FNV_PRIME, FIBONACCI = 2166136261, 16777619, 2654435761
#: the hash of :func:`ngram_buckets`, recorded with a net's settings (:func:`~pmm_ppl.nets.info.net_settings`)
HASH = "fnv1a32-fibonacci"


def ngram_buckets(ids: jax.Array, radius: int, num_classes: int, num_buckets: int) -> jax.Array:
    """Bucket in ``0..num_buckets-1`` of the centred n-gram of ``radius`` at every position of ``ids`` (..., L);
    ``num_classes + 1`` pads the ends."""
    num_buckets = check_num_buckets(num_buckets)
    ids = jnp.asarray(ids, jnp.uint32)
    length = ids.shape[-1]
    pad = [(0, 0)] * (ids.ndim - 1) + [(radius, radius)]
    padded = jnp.pad(ids, pad, constant_values=num_classes + 1)
    h = jnp.full(ids.shape, FNV_OFFSET, jnp.uint32)
    for offset in range(2 * radius + 1):
        h = (h ^ padded[..., offset:offset + length]) * jnp.uint32(FNV_PRIME)
    bits = num_buckets.bit_length() - 1
    if bits == 0:  # one bucket (a shift by 32 is undefined)
        return jnp.zeros_like(ids, jnp.int32)
    return ((h * jnp.uint32(FIBONACCI)) >> jnp.uint32(32 - bits)).astype(jnp.int32)


def check_num_buckets(num_buckets: int) -> int:
    """``num_buckets`` as an int: a power of two >= 1, else :class:`~pmm_ppl.conjugate.validation.PMMInputError`."""
    n = int(num_buckets)
    if n < 1 or n & (n - 1):
        raise PMMInputError(f"ngram_buckets: must be a power of two (e.g. 32768), got {num_buckets}")
    return n


class HashedNgramEmbedding(nnx.Module):
    """``ids`` (B, L) -> (B, L, ``width``): :math:`P \\sum_r E_r[H(g^r_i)]` (module docstring).

    Args:
      num_classes: K; ids are ``0..K-1`` (revealed) or ``K`` (masked).
      num_buckets: rows per table, a power of two.
      radii: one table per radius ``r >= 1`` (n-grams of ``2r + 1`` ids).
      width: output width W.
      table_width: width D of the tables (default ``width``: no projection).
      init_std: standard deviation of the tables' initial rows.
    """

    def __init__(self, num_classes: int, num_buckets: int, radii: Sequence[int], width: int, *,
                 table_width: int | None = None, init_std: float = 0.02, rngs: nnx.Rngs):
        self.num_classes = int(num_classes)
        self.hash = HASH
        self.num_buckets = check_num_buckets(num_buckets)
        self.radii = tuple(int(r) for r in radii)
        if not self.radii or min(self.radii) < 1:
            raise PMMInputError(f"ngram_radii: need at least one radius, all >= 1, got {radii}")
        self.table_width = int(width if table_width is None else table_width)
        if self.table_width < 1:
            raise PMMInputError(f"ngram_width: must be >= 1, got {table_width}")
        self.tables = nnx.List([nnx.Embed(self.num_buckets, self.table_width,
                                          embedding_init=nnx.initializers.normal(init_std), rngs=rngs)
                                for _ in self.radii])
        self.project = (nnx.Linear(self.table_width, width, use_bias=False, rngs=rngs) if self.table_width != width
                        else None)

    def __call__(self, ids: jax.Array) -> jax.Array:
        out = 0.0
        for radius, table in zip(self.radii, self.tables):
            out = out + table(ngram_buckets(ids, radius, self.num_classes, self.num_buckets))
        return out if self.project is None else self.project(out)


#: an input entry above this marks a revealed class (:func:`revealed_ids`)
REVEALED_ABOVE = 0.5


def revealed_ids(features: jax.Array) -> jax.Array:
    """Ids (..., L) of token-denoiser input ``features`` (..., L, K): the class of the largest entry where some
    entry exceeds 1/2, ``K`` (masked) where none does.  Under the noiseless channel with a unit prior and either
    token input map that is the revealed token: the log concentration :math:`\\log(a_0 + N)` is at least
    :math:`\\log 2` for a counted class and 0 for an unseen one (:math:`a_0 = 1`) -- up to rounding, about
    :math:`10^{-6}` where a sampler updates :math:`\\mu` step by step, which a threshold at 0 would read as a
    tie won by class 0 -- and the revealed one-hot is 1 at the class, 0 elsewhere.  Other inputs (raw
    :math:`\\mu`, a noisy channel) give ids that are a fixed function of the input but not the revealed tokens."""
    k = features.shape[-1]
    return jnp.where(jnp.max(features, -1) > REVEALED_ABOVE, jnp.argmax(features, -1), k)


__all__ = ["HASH", "REVEALED_ABOVE", "HashedNgramEmbedding", "check_num_buckets", "ngram_buckets", "revealed_ids"]

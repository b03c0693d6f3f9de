r"""Deterministic mini-batches: the batch at a given step is a pure function of ``(seed, step)``.

Epoch :math:`e = \lfloor \text{step} / S \rfloor` with :math:`S = \lfloor n / B \rfloor` steps per
epoch (the last partial batch of each epoch is dropped); the epoch's order is
``jax.random.permutation(fold_in(key(seed), e), n)`` and the step takes its slice
:math:`[(\text{step} \bmod S) B, (\text{step} \bmod S + 1) B)`.  Resuming training at any step
therefore replays exactly the same data order, with no iterator state to checkpoint.
"""

from __future__ import annotations

from typing import Iterator

import jax
import jax.numpy as jnp
import numpy as np

from pmm_ppl.conjugate.validation import PMMInputError


def steps_per_epoch(n: int, batch_size: int) -> int:
    if batch_size <= 0 or batch_size > n:
        raise PMMInputError(f"batch_size: must be in 1..{n} (the number of examples), got {batch_size}")
    return n // batch_size


def epoch_permutation(seed: int, epoch, n: int) -> jax.Array:
    """The order of the ``n`` examples in ``epoch`` (int32 permutation)."""
    return jax.random.permutation(jax.random.fold_in(jax.random.key(seed), epoch), n)


def batch_indices(seed: int, step, batch_size: int, n: int) -> jax.Array:
    """Indices (batch_size,) of the examples used at ``step`` (jittable in ``step``)."""
    spe = steps_per_epoch(n, batch_size)
    epoch, within = step // spe, step % spe
    perm = epoch_permutation(seed, epoch, n)
    return jax.lax.dynamic_slice_in_dim(perm, within * batch_size, batch_size)


def iterate_batches(data, seed: int, batch_size: int, start_step: int = 0, num_steps: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(step, data[batch_indices(seed, step, ...)])`` from ``start_step`` on (forever when
    ``num_steps`` is None).  Computes each epoch's permutation once (same result as ``batch_indices``)."""
    n = len(data)
    spe = steps_per_epoch(n, batch_size)
    step, cached_epoch, perm = start_step, None, None
    while num_steps is None or step < start_step + num_steps:
        epoch, within = divmod(step, spe)
        if epoch != cached_epoch:
            perm, cached_epoch = np.asarray(epoch_permutation(seed, epoch, n)), epoch
        yield step, data[perm[within * batch_size : (within + 1) * batch_size]]
        step += 1

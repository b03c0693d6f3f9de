"""Size and cost of a network: parameter count and XLA's FLOP estimate for one forward pass."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx


def count_params(module: nnx.Module) -> int:
    """Number of scalar trainable parameters (``nnx.Param`` leaves) of ``module``."""
    return int(sum(x.size for x in jax.tree_util.tree_leaves(nnx.state(module, nnx.Param))))


def forward_flops(module: nnx.Module, data_shape: tuple[int, ...], batch_size: int = 1) -> float | None:
    """FLOPs of one forward pass on a batch of ``batch_size`` as counted by XLA's cost analysis
    of the compiled program (``jit(...).lower(...).compile().cost_analysis()``); ``None`` when the
    backend reports no count.  Counts multiply-adds as 2 FLOPs; elementwise ops included."""
    graphdef, state = nnx.split(module)

    def forward(state, mu, t):
        return nnx.merge(graphdef, state)(mu, t)

    mu = jax.ShapeDtypeStruct((batch_size,) + tuple(data_shape), jnp.float32)
    t = jax.ShapeDtypeStruct((batch_size,), jnp.float32)
    cost: Any = jax.jit(forward).lower(state, mu, t).compile().cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0] if cost else None
    if not cost or "flops" not in cost:
        return None
    return float(cost["flops"])

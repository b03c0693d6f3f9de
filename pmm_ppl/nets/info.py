"""Size, cost and settings of a network: parameter count, XLA's FLOP estimate for one forward pass, and the
settings its weights are meaningful under."""

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


_NOT_PLAIN = object()


def _plain(value: Any) -> Any:
    """``value`` as JSON (numbers, strings, booleans, None, and lists of them), else ``_NOT_PLAIN``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (tuple, list)):
        items = [_plain(v) for v in value]
        return _NOT_PLAIN if any(v is _NOT_PLAIN for v in items) else items
    return _NOT_PLAIN


def net_settings(module: nnx.Module) -> dict:
    """The settings under which ``module``'s weights mean what they mean: for every submodule (keyed by its
    path, ``"root"`` for the root), its class name and each public attribute of plain type -- numbers, strings,
    booleans, None and tuples of them, e.g. widths, kernel sizes, dilations, a preconditioning's data s.d.
    Weights, functions, pairs and schedules are left out, and so are the attributes a class names in
    ``INFERENCE_ONLY`` (they change what the net returns outside training, not what its weights mean: e.g.
    :class:`~pmm_ppl.nets.count_prior.CountPrior`'s pool, so a run can be evaluated under another).  Two nets
    whose settings differ compute different functions of the same weights even where every weight has the same
    shape (e.g. another dilation)."""
    out = {}
    for path, node in nnx.iter_graph(module):
        if not isinstance(node, nnx.Module):
            continue
        settings = {"class": type(node).__name__}
        inference_only = getattr(type(node), "INFERENCE_ONLY", ())
        for name, value in sorted(vars(node).items()):
            plain = _plain(value) if not name.startswith("_") and name not in inference_only else _NOT_PLAIN
            if plain is not _NOT_PLAIN:
                settings[name] = plain
        out["/".join(str(p) for p in path) or "root"] = settings
    return out


def fit_to_data(module: nnx.Module) -> float:
    """Fits every submodule of ``module`` that fits itself to the training data (its ``fit_to_data()``, e.g.
    :class:`~pmm_ppl.nets.count_prior.CountPrior`'s count tables; built once, then cached) and returns the seconds
    the fits took: part of training, charged to a run's training-time budget."""
    return float(sum(node.fit_to_data() for _, node in nnx.iter_graph(module)
                     if isinstance(node, nnx.Module) and callable(getattr(node, "fit_to_data", None))))

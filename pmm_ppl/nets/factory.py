"""Build a denoiser for a pair and a data shape in one call.

``make_denoiser(pair, data_shape, arch=..., ...)`` picks the output head from the pair
(:func:`~pmm_ppl.nets.heads.head_for_pair`) and, for Normal pairs with ``precondition=True``,
wraps the backbone in :class:`~pmm_ppl.nets.precondition.NormalPreconditioned` with a zero-initialised
last layer.  The default architecture follows the data shape: ``(D,)`` -> MLP, ``(H, W)`` or
``(H, W, C)`` -> UNet, and ``(L, K)`` with a simplex head -> Transformer.
"""

from __future__ import annotations

from typing import Any

import jax
from flax import nnx

from pmm_ppl.conjugate.validation import PMMInputError
from pmm_ppl.nets.dilated_conv import DilatedConvNet
from pmm_ppl.nets.heads import head_for_pair
from pmm_ppl.nets.mlp import MLP
from pmm_ppl.nets.precondition import NormalPreconditioned
from pmm_ppl.nets.transformer import Transformer
from pmm_ppl.nets.unet import UNet

ARCHITECTURES = {"mlp": MLP, "unet": UNet, "transformer": Transformer, "dilated_conv": DilatedConvNet}


def default_architecture(data_shape: tuple[int, ...], head: str) -> str:
    if head == "simplex" and len(data_shape) == 2:
        return "transformer"
    if len(data_shape) == 1:
        return "mlp"
    if len(data_shape) in (2, 3):
        return "unet"
    raise PMMInputError(f"data_shape: no default architecture for shape {tuple(data_shape)}; pass arch=")


def make_denoiser(
    pair: Any,
    data_shape: tuple[int, ...],
    *,
    arch: str | None = None,
    schedule: Any = None,
    precondition: bool = False,
    data_mean: Any = None,
    data_std: Any = None,
    seed: int = 0,
    rng_impl: str | None = None,
    **net_kwargs: Any,
) -> nnx.Module:
    """A denoiser module ``net(mu, t)`` for ``pair`` on data of shape ``data_shape``.

    ``net_kwargs`` go to the architecture (widths, depth, conditioning, ...).  ``seed`` and
    ``rng_impl`` make the initialisation key ``jax.random.key(seed, impl=rng_impl)``; on CPU
    ``rng_impl="rbg"`` initialises several times faster than the default threefry, whose
    sampling programs are slow to compile (about 1.5 s of CPU per parameter shape with jax 0.10)."""
    head = net_kwargs.pop("head", None) or head_for_pair(pair)
    arch = arch or default_architecture(tuple(data_shape), head)
    if arch not in ARCHITECTURES:
        raise PMMInputError(f"arch: expected one of {sorted(ARCHITECTURES)}, got {arch!r}")
    if net_kwargs.get("conditioning") == "log_accuracy":
        net_kwargs.setdefault("schedule", schedule)
    rngs = nnx.Rngs(jax.random.key(seed, impl=rng_impl))
    if precondition:
        if head != "real":
            raise PMMInputError(f"precondition: only for Normal pairs (real head), got head {head!r}")
        if schedule is None:
            raise PMMInputError("schedule: preconditioning needs the schedule (its A(t))")
        backbone = ARCHITECTURES[arch](tuple(data_shape), head="real", zero_init_output=True, rngs=rngs, **net_kwargs)
        return NormalPreconditioned(backbone, pair, schedule, data_mean=data_mean, data_std=data_std)
    return ARCHITECTURES[arch](tuple(data_shape), head=head, rngs=rngs, **net_kwargs)

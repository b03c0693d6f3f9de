r"""Residual MLP denoiser for low-dimensional data.

``net(mu, t)``: ``mu`` (B, *data_shape) is flattened to (B, D), mapped to the hidden width,
passed through ``depth`` pre-LayerNorm residual blocks

.. math::  h \leftarrow h + W_2\,\mathrm{SiLU}(W_1\,\mathrm{LN}(h) + U e(t)),

with :math:`e(t)` the conditioning embedding (:mod:`pmm_ppl.nets.embedding`), then a final
LayerNorm + linear layer back to D and the output head (:mod:`pmm_ppl.nets.heads`) applied on
the data shape (so a ``simplex`` head normalises over the last data axis).  The input is first
standardised as :math:`(\mu - \text{input\_shift}) / \text{input\_scale}`.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from pmm_ppl.nets.embedding import ConditioningEmbedding
from pmm_ppl.nets.heads import apply_head, check_head


class ResidualMLPBlock(nnx.Module):
    #: the layers between hidden features (:mod:`pmm_ppl.nets.hidden_matrices`)
    HIDDEN_MATRICES = ("dense1", "dense2")

    def __init__(self, width: int, emb_dim: int, *, rngs: nnx.Rngs):
        self.norm = nnx.LayerNorm(width, rngs=rngs)
        self.dense1 = nnx.Linear(width, width, rngs=rngs)
        self.emb_proj = nnx.Linear(emb_dim, width, rngs=rngs)
        self.dense2 = nnx.Linear(width, width, rngs=rngs)

    def __call__(self, h: jax.Array, emb: jax.Array) -> jax.Array:
        z = self.dense1(self.norm(h)) + self.emb_proj(emb)
        return h + self.dense2(jax.nn.silu(z))


class MLP(nnx.Module):
    """Residual MLP ``(B, *data_shape), (B,) -> (B, *data_shape)``.

    Args:
      data_shape: shape of one datum, e.g. ``(D,)`` (any shape is flattened).
      width, depth: hidden width and number of residual blocks.
      emb_dim: width of the conditioning embedding.
      head: output head name (``head_for_pair(pair)`` picks it from the pair).
      conditioning, schedule: see :class:`~pmm_ppl.nets.embedding.ConditioningEmbedding`.
      input_shift, input_scale: input standardisation.
      zero_init_output: start with a zero last layer (output = head(0)).
      out_shape: output shape per example (default ``data_shape``), e.g. ``data_shape + (L,)`` for
        per-level logits (:class:`~pmm_ppl.nets.discretised.DiscretisedNormalPreconditioned`).
      augment_dim: length of the label of a non-leaking augmentation the net is conditioned on
        (:mod:`pmm_ppl.data.augment`); 0 (default): none.
    """

    def __init__(
        self,
        data_shape: tuple[int, ...],
        *,
        width: int = 256,
        depth: int = 3,
        emb_dim: int = 64,
        head: str = "real",
        conditioning: str = "time",
        schedule: Any = None,
        input_shift: float = 0.0,
        input_scale: float = 1.0,
        zero_init_output: bool = False,
        out_shape: tuple[int, ...] | None = None,
        augment_dim: int = 0,
        rngs: nnx.Rngs,
    ):
        self.data_shape = tuple(int(d) for d in data_shape)
        self.out_shape = self.data_shape if out_shape is None else tuple(int(d) for d in out_shape)
        self.head = check_head(head)
        self.input_shift = float(input_shift)
        self.input_scale = float(input_scale)
        dim = math.prod(self.data_shape)
        self.embed = ConditioningEmbedding(emb_dim, kind=conditioning, schedule=schedule, augment_dim=augment_dim,
                                           rngs=rngs)
        self.dense_in = nnx.Linear(dim, width, rngs=rngs)
        self.blocks = nnx.List([ResidualMLPBlock(width, emb_dim, rngs=rngs) for _ in range(depth)])
        self.norm_out = nnx.LayerNorm(width, rngs=rngs)
        init = nnx.initializers.zeros_init() if zero_init_output else nnx.initializers.lecun_normal()
        self.dense_out = nnx.Linear(width, math.prod(self.out_shape), kernel_init=init, rngs=rngs)

    def __call__(self, mu: jax.Array, t: jax.Array) -> jax.Array:
        b = mu.shape[0]
        x = (jnp.asarray(mu, jnp.float32).reshape(b, -1) - self.input_shift) / self.input_scale
        emb = jax.nn.silu(self.embed(t))
        h = self.dense_in(x)
        for block in self.blocks:
            h = block(h, emb)
        out = self.dense_out(jax.nn.silu(self.norm_out(h))).reshape((b,) + self.out_shape)
        return apply_head(self.head, out)

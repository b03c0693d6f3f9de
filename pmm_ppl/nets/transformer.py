r"""Transformer denoiser for token sequences: ``mu`` (B, L, K) probability vectors -> (B, L, K).

Tokens: :math:`h_0 = \mu W_{\text{in}} + p + U e(t)` with :math:`p` learned (``positions="learned"``,
initialised N(0, 0.02^2)) or fixed sinusoidal position embeddings (``"sinusoidal"``).  Then
``num_layers`` bidirectional pre-LN blocks with adaptive LayerNorm conditioning (DiT-style,
modulation initialised to zero so each block starts as a plain pre-LN block):

.. math::

    h \leftarrow h + \mathrm{MHA}(\mathrm{LN}(h)(1 + s_1) + b_1), \qquad
    h \leftarrow h + \mathrm{MLP}(\mathrm{LN}(h)(1 + s_2) + b_2), \qquad (b_1, s_1, b_2, s_2) = V_\ell\, e(t),

a final LayerNorm and a linear map to K logits per position, then the head (``simplex`` by default:
softmax over the K classes of each position).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from pmm_ppl.conjugate.validation import PMMInputError
from pmm_ppl.nets.embedding import ConditioningEmbedding
from pmm_ppl.nets.heads import apply_head, check_head


def sinusoidal_positions(length: int, dim: int) -> jax.Array:
    """Fixed transformer position embedding (L, dim): sin/cos at periods 2*pi .. 2*pi*10^4."""
    half = dim // 2
    freqs = jnp.exp(-jnp.log(10000.0) * jnp.arange(half, dtype=jnp.float32) / max(half, 1))
    angles = jnp.arange(length, dtype=jnp.float32)[:, None] * freqs
    pe = jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)
    return jnp.pad(pe, ((0, 0), (0, dim - 2 * half)))


class TransformerBlock(nnx.Module):
    #: the layers between hidden features (:mod:`pmm_ppl.nets.hidden_matrices`); the attention's projections keep their
    #: head axes and are left to AdamW
    HIDDEN_MATRICES = ("mlp1", "mlp2")

    def __init__(self, d_model: int, num_heads: int, mlp_ratio: int, emb_dim: int, *, rngs: nnx.Rngs):
        self.norm1 = nnx.LayerNorm(d_model, use_scale=False, use_bias=False, rngs=rngs)
        self.attn = nnx.MultiHeadAttention(num_heads=num_heads, in_features=d_model, decode=False, rngs=rngs)
        self.norm2 = nnx.LayerNorm(d_model, use_scale=False, use_bias=False, rngs=rngs)
        self.mlp1 = nnx.Linear(d_model, mlp_ratio * d_model, rngs=rngs)
        self.mlp2 = nnx.Linear(mlp_ratio * d_model, d_model, rngs=rngs)
        self.modulation = nnx.Linear(emb_dim, 4 * d_model, kernel_init=nnx.initializers.zeros_init(), rngs=rngs)

    def __call__(self, h: jax.Array, emb: jax.Array) -> jax.Array:
        b1, s1, b2, s2 = jnp.split(self.modulation(emb)[:, None, :], 4, axis=-1)
        h = h + self.attn(self.norm1(h) * (1 + s1) + b1)
        z = self.norm2(h) * (1 + s2) + b2
        return h + self.mlp2(jax.nn.gelu(self.mlp1(z)))


class Transformer(nnx.Module):
    """Bidirectional transformer ``(B, L, K), (B,) -> (B, L, K)``.

    Args:
      data_shape: ``(L, K)``: sequence length and number of classes.
      d_model, num_layers, num_heads, mlp_ratio: usual sizes.
      positions: ``"learned"`` or ``"sinusoidal"``.
      head: ``"simplex"`` by default (a probability vector per position).
      conditioning, schedule, emb_dim, zero_init_output: as in :class:`~pmm_ppl.nets.mlp.MLP`.
    """

    def __init__(
        self,
        data_shape: tuple[int, int],
        *,
        d_model: int = 128,
        num_layers: int = 3,
        num_heads: int = 4,
        mlp_ratio: int = 4,
        positions: str = "learned",
        emb_dim: int = 128,
        head: str = "simplex",
        conditioning: str = "time",
        schedule: Any = None,
        zero_init_output: bool = False,
        rngs: nnx.Rngs,
    ):
        data_shape = tuple(int(d) for d in data_shape)
        if len(data_shape) != 2:
            raise PMMInputError(f"data_shape: Transformer needs (L, K), got {data_shape}")
        if positions not in ("learned", "sinusoidal"):
            raise PMMInputError(f"positions: expected 'learned' or 'sinusoidal', got {positions!r}")
        self.data_shape = data_shape
        length, k = data_shape
        self.head = check_head(head)
        self.positions = positions
        self.embed = ConditioningEmbedding(emb_dim, kind=conditioning, schedule=schedule, rngs=rngs)
        self.token_in = nnx.Linear(k, d_model, rngs=rngs)
        self.cond_in = nnx.Linear(emb_dim, d_model, rngs=rngs)
        if positions == "learned":
            self.pos = nnx.Param(0.02 * jax.random.normal(rngs.params(), (length, d_model)))
        else:
            self.pos = None
        self.blocks = nnx.List(
            [TransformerBlock(d_model, num_heads, mlp_ratio, emb_dim, rngs=rngs) for _ in range(num_layers)]
        )
        self.norm_out = nnx.LayerNorm(d_model, rngs=rngs)
        init = nnx.initializers.zeros_init() if zero_init_output else nnx.initializers.lecun_normal()
        self.token_out = nnx.Linear(d_model, k, kernel_init=init, rngs=rngs)

    def __call__(self, mu: jax.Array, t: jax.Array) -> jax.Array:
        length, _ = self.data_shape
        emb = jax.nn.silu(self.embed(t))
        pos = self.pos[...] if self.pos is not None else sinusoidal_positions(length, self.token_in.out_features)
        h = self.token_in(jnp.asarray(mu, jnp.float32)) + pos[None] + self.cond_in(emb)[:, None, :]
        for block in self.blocks:
            h = block(h, emb)
        return apply_head(self.head, self.token_out(self.norm_out(h)))

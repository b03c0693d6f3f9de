r"""U-Net denoiser for images, ``(B, H, W)`` or ``(B, H, W, C)``.

DDPM-style: a 3x3 input convolution, then per resolution level ``num_res_blocks`` residual blocks

.. math::  h = x W_{\text{skip}} + \mathrm{Conv}(\mathrm{Drop}(\mathrm{SiLU}(\mathrm{GN}(
           \mathrm{Conv}(\mathrm{SiLU}(\mathrm{GN}(x))) + U e(t))))),

a stride-2 3x3 convolution between levels (SAME padding, so sizes halve rounding up:
28 -> 14 -> 7 -> 4, 8 -> 4 -> 2), a middle block (residual, optional multi-head self-attention at
the lowest resolution, residual), and the mirrored up path where every block sees the matching
skip activation concatenated on channels.  Up-sampling is nearest-neighbour *to the exact spatial
shape of the skip it meets* followed by a 3x3 convolution, so odd sizes (7 -> 14, 4 -> 7) work.
GroupNorm uses ``gcd(groups, channels)`` groups.  The output is GN + SiLU + 3x3 convolution to
the data's channels and the output head.  A 2-D data shape gets a channel axis of 1 inside.

Its hidden matrices (:mod:`pmm_ppl.nets.hidden_matrices`, what ``optimizer="muon"`` orthogonalises): the
residual blocks' two 3x3 convolutions and 1x1 skip, and the re-sampling convolutions, a ``(k, k, c_in, c_out)``
kernel read as the :math:`k^2 c_{in} \times c_{out}` matrix; the input and output convolutions, the time projections
and the attention stay with AdamW.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from pmm_ppl.conjugate.validation import PMMInputError
from pmm_ppl.nets.embedding import ConditioningEmbedding
from pmm_ppl.nets.heads import apply_head, check_head


def _group_norm(ch: int, groups: int, rngs: nnx.Rngs) -> nnx.GroupNorm:
    return nnx.GroupNorm(ch, num_groups=math.gcd(groups, ch), rngs=rngs)


class ResBlock(nnx.Module):
    #: the 3x3 convolutions and the 1x1 skip map hidden features to hidden features
    #: (:mod:`pmm_ppl.nets.hidden_matrices`); the time projection ``emb_proj`` reads the conditioning
    HIDDEN_MATRICES = ("conv1", "conv2", "skip")

    def __init__(self, cin: int, cout: int, emb_dim: int, groups: int, dropout: float = 0.0, *, rngs: nnx.Rngs):
        self.norm1 = _group_norm(cin, groups, rngs)
        self.conv1 = nnx.Conv(cin, cout, (3, 3), rngs=rngs)
        self.emb_proj = nnx.Linear(emb_dim, cout, rngs=rngs)
        self.norm2 = _group_norm(cout, groups, rngs)
        # off unless training switches it on (pmm_ppl.train.step.training_view reseeds the "dropout" stream)
        self.dropout = nnx.Dropout(dropout, deterministic=True, rngs=nnx.Rngs(dropout=0)) if dropout > 0 else None
        self.conv2 = nnx.Conv(cout, cout, (3, 3), rngs=rngs)
        self.skip = nnx.Conv(cin, cout, (1, 1), rngs=rngs) if cin != cout else None

    def __call__(self, x: jax.Array, emb: jax.Array) -> jax.Array:
        h = self.conv1(jax.nn.silu(self.norm1(x)))
        h = h + self.emb_proj(emb)[:, None, None, :]
        h = jax.nn.silu(self.norm2(h))
        h = self.conv2(self.dropout(h) if self.dropout is not None else h)
        return h + (self.skip(x) if self.skip is not None else x)


class AttentionBlock(nnx.Module):
    """Residual multi-head self-attention over the H*W positions."""

    def __init__(self, ch: int, num_heads: int, groups: int, *, rngs: nnx.Rngs):
        self.norm = _group_norm(ch, groups, rngs)
        self.attn = nnx.MultiHeadAttention(num_heads=num_heads, in_features=ch, decode=False, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        b, h, w, c = x.shape
        y = self.attn(self.norm(x).reshape(b, h * w, c))
        return x + y.reshape(b, h, w, c)


class Downsample(nnx.Module):
    HIDDEN_MATRICES = ("conv",)

    def __init__(self, ch: int, *, rngs: nnx.Rngs):
        self.conv = nnx.Conv(ch, ch, (3, 3), strides=(2, 2), rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.conv(x)


class Upsample(nnx.Module):
    HIDDEN_MATRICES = ("conv",)

    def __init__(self, ch: int, *, rngs: nnx.Rngs):
        self.conv = nnx.Conv(ch, ch, (3, 3), rngs=rngs)

    def __call__(self, x: jax.Array, spatial: tuple[int, int]) -> jax.Array:
        b, _, _, c = x.shape
        x = jax.image.resize(x, (b, spatial[0], spatial[1], c), method="nearest")
        return self.conv(x)


class UNet(nnx.Module):
    """U-Net ``(B, H, W[, C]), (B,) -> (B, H, W[, C])``.

    Args:
      data_shape: ``(H, W)`` or ``(H, W, C)``.
      channels: channels per resolution level; ``len(channels) - 1`` down-samplings
        (e.g. ``(32, 64)`` for 8x8, ``(32, 64, 128)`` for 28x28: 28 -> 14 -> 7).
      num_res_blocks: residual blocks per level on the way down (one more on the way up).
      attention: self-attention in the middle (lowest resolution) block.
      num_heads, groups, emb_dim: attention heads, GroupNorm groups, embedding width.
      head, conditioning, schedule, input_shift, input_scale, zero_init_output: as in :class:`~pmm_ppl.nets.mlp.MLP`.
      out_per_pixel: if set, return ``out_per_pixel`` raw values per pixel and channel, shape
        ``(B, *data_shape, out_per_pixel)`` (per-level logits for the discretised denoisers).
      dropout: dropout rate before each residual block's second convolution (as in DDPM); active only in
        training (:func:`pmm_ppl.train.step.training_view`).
      augment_dim: length of the label of a non-leaking augmentation the net is conditioned on
        (:mod:`pmm_ppl.data.augment`); 0 (default): none.
      out_kernel: size of the output convolution (3; 1 makes a wide ``out_per_pixel`` head, e.g. 256 level
        logits, 9x cheaper in weights and FLOPs).
    """

    def __init__(
        self,
        data_shape: tuple[int, ...],
        *,
        channels: Sequence[int] = (32, 64),
        num_res_blocks: int = 1,
        attention: bool = True,
        num_heads: int = 4,
        groups: int = 8,
        emb_dim: int = 128,
        head: str = "real",
        conditioning: str = "time",
        schedule: Any = None,
        input_shift: float = 0.0,
        input_scale: float = 1.0,
        zero_init_output: bool = False,
        out_per_pixel: int | None = None,
        out_kernel: int = 3,
        dropout: float = 0.0,
        augment_dim: int = 0,
        rngs: nnx.Rngs,
    ):
        data_shape = tuple(int(d) for d in data_shape)
        self.out_per_pixel = out_per_pixel
        if len(data_shape) not in (2, 3):
            raise PMMInputError(f"data_shape: UNet needs (H, W) or (H, W, C), got {data_shape}")
        if not 0.0 <= float(dropout) < 1.0:
            raise PMMInputError(f"dropout: must be a rate in [0, 1), got {dropout}")
        self.data_shape = data_shape
        self.in_channels = data_shape[2] if len(data_shape) == 3 else 1
        self.head = check_head(head)
        self.input_shift = float(input_shift)
        self.input_scale = float(input_scale)
        channels = tuple(int(c) for c in channels)
        self.num_levels = len(channels)
        self.num_res_blocks = int(num_res_blocks)

        self.embed = ConditioningEmbedding(emb_dim, kind=conditioning, schedule=schedule, augment_dim=augment_dim,
                                           rngs=rngs)
        self.conv_in = nnx.Conv(self.in_channels, channels[0], (3, 3), rngs=rngs)

        skip_channels = [channels[0]]
        cur = channels[0]
        down_blocks, downsamples = [], []
        for i, ch in enumerate(channels):
            for _ in range(self.num_res_blocks):
                down_blocks.append(ResBlock(cur, ch, emb_dim, groups, dropout, rngs=rngs))
                cur = ch
                skip_channels.append(cur)
            if i < self.num_levels - 1:
                downsamples.append(Downsample(cur, rngs=rngs))
                skip_channels.append(cur)
        self.down_blocks = nnx.List(down_blocks)
        self.downsamples = nnx.List(downsamples)

        self.mid1 = ResBlock(cur, cur, emb_dim, groups, dropout, rngs=rngs)
        self.mid_attn = AttentionBlock(cur, num_heads, groups, rngs=rngs) if attention else None
        self.mid2 = ResBlock(cur, cur, emb_dim, groups, dropout, rngs=rngs)

        up_blocks, upsamples = [], []
        for i in reversed(range(self.num_levels)):
            for _ in range(self.num_res_blocks + 1):
                up_blocks.append(ResBlock(cur + skip_channels.pop(), channels[i], emb_dim, groups, dropout, rngs=rngs))
                cur = channels[i]
            if i > 0:
                upsamples.append(Upsample(cur, rngs=rngs))
        self.up_blocks = nnx.List(up_blocks)
        self.upsamples = nnx.List(upsamples)

        self.norm_out = _group_norm(cur, groups, rngs)
        init = nnx.initializers.zeros_init() if zero_init_output else nnx.initializers.lecun_normal()
        out_ch = self.in_channels if out_per_pixel is None else self.in_channels * int(out_per_pixel)
        self.conv_out = nnx.Conv(cur, out_ch, (out_kernel, out_kernel), kernel_init=init, rngs=rngs)

    def __call__(self, mu: jax.Array, t: jax.Array) -> jax.Array:
        b = mu.shape[0]
        x = (jnp.asarray(mu, jnp.float32) - self.input_shift) / self.input_scale
        x = x.reshape((b,) + self.data_shape[:2] + (self.in_channels,))
        emb = jax.nn.silu(self.embed(t))

        h = self.conv_in(x)
        hs = [h]
        blocks = iter(self.down_blocks)
        for i in range(self.num_levels):
            for _ in range(self.num_res_blocks):
                h = next(blocks)(h, emb)
                hs.append(h)
            if i < self.num_levels - 1:
                h = self.downsamples[i](h)
                hs.append(h)

        h = self.mid1(h, emb)
        if self.mid_attn is not None:
            h = self.mid_attn(h)
        h = self.mid2(h, emb)

        blocks = iter(self.up_blocks)
        ups = iter(self.upsamples)
        for i in reversed(range(self.num_levels)):
            for _ in range(self.num_res_blocks + 1):
                h = next(blocks)(jnp.concatenate([h, hs.pop()], axis=-1), emb)
            if i > 0:
                h = next(ups)(h, hs[-1].shape[1:3])

        out = self.conv_out(jax.nn.silu(self.norm_out(h)))
        if self.out_per_pixel is not None:  # e.g. per-level logits: (B, *data_shape, L)
            return out.reshape((b,) + self.data_shape + (int(self.out_per_pixel),))
        return apply_head(self.head, out.reshape((b,) + self.data_shape))

"""Where a dilated-convolution block's time goes on this CPU (the Shakespeare model's block, batch 16 x 256).

Times, jitted and warmed up, the forward + backward pass of six residual blocks
``h + GELU(Conv_{k,d}(LN(h))) W`` at width 128, kernel 5, dilation 2, and prints ratios from one run
(minimum over repeats):

* ``elementwise share``: 1 - time(blocks without LayerNorm and GELU) / time(full blocks) -- the part of a
  block's time that is not the convolution and the projection;
* ``bf16 / f32``: the time of a 128 x 128 matmul over the batch in bfloat16 (float32 accumulation) over
  float32, forward alone and forward + backward; and the same for the whole blocks with the convolution
  computed as bfloat16 im2col matmuls;
* the convolution's FLOP rate relative to the plain float32 matmul's (forward + backward).

    .venv/bin/python benchmarks/conv_block_cost.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

B, L, C, K, D = 16, 256, 128, 5, 2


def min_time(fn, *args, repeats: int, calls: int = 10) -> float:
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            out = fn(*args)
        jax.block_until_ready(out)
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


def layer_norm(h):
    m = h.mean(-1, keepdims=True)
    return (h - m) * jax.lax.rsqrt(((h - m) ** 2).mean(-1, keepdims=True) + 1e-6)


def conv_f32(h, w):
    return jax.lax.conv_general_dilated(h, w, (1,), "SAME", rhs_dilation=(D,), dimension_numbers=("NWC", "WIO", "NWC"))


def conv_bf16_im2col(h, w):
    pad = (K - 1) // 2 * D
    hp = jnp.pad(h.astype(jnp.bfloat16), ((0, 0), (pad, pad), (0, 0)))
    cols = jnp.concatenate([hp[:, i * D:i * D + L] for i in range(K)], -1)
    return jnp.dot(cols, w.reshape(K * C, C).astype(jnp.bfloat16), preferred_element_type=jnp.float32)


def matmul(h, p, bf16):
    if bf16:
        return jnp.dot(h.astype(jnp.bfloat16), p.astype(jnp.bfloat16), preferred_element_type=jnp.float32)
    return h @ p


def blocks_grad(conv, norm, act, bf16):
    def loss(h, w, p):
        for _ in range(6):
            h = h + matmul(act(conv(norm(h), w)), p, bf16)
        return (h ** 2).mean()

    return jax.jit(jax.grad(loss, argnums=(0, 1, 2)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    keys = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(keys[0], (B, L, C))
    w = jax.random.normal(keys[1], (K, C, C)) * 0.05
    p = jax.random.normal(keys[2], (C, C)) * 0.05
    ident = lambda h: h  # noqa: E731
    r = args.repeats

    full = min_time(blocks_grad(conv_f32, layer_norm, jax.nn.gelu, False), x, w, p, repeats=r)
    bare = min_time(blocks_grad(conv_f32, ident, ident, False), x, w, p, repeats=r)
    bf16_blocks = min_time(blocks_grad(conv_bf16_im2col, layer_norm, jax.nn.gelu, True), x, w, p, repeats=r)

    def mm_loss(bf16):
        return lambda h, q: (matmul(h, q, bf16) ** 2).sum()

    mm = {bf: (min_time(jax.jit(lambda h, q, bf=bf: matmul(h, q, bf)), x, p, repeats=r),
               min_time(jax.jit(jax.grad(mm_loss(bf), argnums=(0, 1))), x, p, repeats=r)) for bf in (False, True)}
    conv_grad = min_time(jax.jit(jax.grad(lambda h, v: (conv_f32(h, v) ** 2).sum(), argnums=(0, 1))), x, w, repeats=r)
    conv_rate = 3 * 2 * B * L * C * C * K / conv_grad
    mm_rate = 3 * 2 * B * L * C * C / mm[False][1]

    print(f"six blocks fwd+bwd: {full * 1e3:.1f} ms; without LayerNorm and GELU {bare * 1e3:.1f} ms")
    print(f"elementwise share of a block        {1 - bare / full:.2f}")
    print(f"bf16 / f32 matmul, forward          {mm[True][0] / mm[False][0]:.2f}")
    print(f"bf16 / f32 matmul, forward+backward {mm[True][1] / mm[False][1]:.2f}")
    print(f"bf16 im2col / f32 conv, six blocks  {bf16_blocks / full:.2f}")
    print(f"conv FLOP rate / f32 matmul rate    {conv_rate / mm_rate:.2f}   "
          f"(conv {conv_rate / 1e9:.0f} GFLOP/s fwd+bwd, one run)")


if __name__ == "__main__":
    main()

"""Where the Shakespeare model's convolution stack spends its time on this CPU, at its training batch.

The configuration (width, kernel size, dilation cycle, number of blocks, batch size) is read off the model's spec
and built net (``models/shakespeare_chars.py``), so the figures follow the model.  Times, jitted and warmed up, the forward +
backward pass of the model's own ``DilatedConvBlock`` stack, ``h + W GELU(Conv_{k,d}(LN(h)(1 + s) + b))``
(``s, b``: the per-example adaptive-LayerNorm modulation, where the model's net sees the time; without it
``h + W GELU(Conv_{k,d}(LN(h)))``), of the same stack without LayerNorm, modulation and GELU, and of the whole
inner net, and prints ratios from one run (minimum over repeats):

* ``elementwise share``: 1 - time(bare blocks: convolution and projection only) / time(the model's blocks) --
  the part of the blocks' time that is not the convolution and the projection;
* ``stack / whole net``: the model's blocks' time over its whole inner net (embeddings, token maps, head);
* ``bf16 / f32``: the time of a width x width matmul over the batch in bfloat16 (float32 accumulation) over
  float32, forward alone and forward + backward; and, for the stack, a written-out copy of the block with the
  convolution as bfloat16 im2col matmuls over the same copy in float32 (a counterfactual the model's modules
  cannot express; ``copy / model blocks`` prints how closely the float32 copy times the model's blocks);
* FLOP rates (convolution + projection FLOPs, forward + backward, over the time) of the bare convolutions, the
  full blocks and the whole net, and of a plain float32 matmul, in GFLOP/s from one run.

    .venv/bin/python benchmarks/conv_block_cost.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp


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


def conv_f32(h, w, d):
    return jax.lax.conv_general_dilated(h, w, (1,), "SAME", rhs_dilation=(d,), dimension_numbers=("NWC", "WIO", "NWC"))


def conv_bf16_im2col(h, w, d):
    k, c = w.shape[0], w.shape[1]
    pad = (k - 1) // 2 * d
    hp = jnp.pad(h.astype(jnp.bfloat16), ((0, 0), (pad, pad), (0, 0)))
    cols = jnp.concatenate([hp[:, i * d:i * d + h.shape[1]] for i in range(k)], -1)
    return jnp.dot(cols, w.reshape(k * c, -1).astype(jnp.bfloat16), preferred_element_type=jnp.float32)


def matmul(h, p, bf16):
    if bf16:
        return jnp.dot(h.astype(jnp.bfloat16), p.astype(jnp.bfloat16), preferred_element_type=jnp.float32)
    return h @ p


def blocks_grad(dilations, conv, norm, act, modulate, bf16):
    """jitted gradient of a stack of blocks, block ``i`` with dilation ``dilations[i]``."""

    def loss(h, ws, ps, s):
        for i, d in enumerate(dilations):
            z = norm(h)
            if modulate:
                z = z * (1 + s[i][:, None, :]) + s[i][:, None, :]
            h = h + matmul(act(conv(z, ws[i], d)), ps[i], bf16)
        return (h ** 2).mean()

    return jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3)))


def model_stack():
    """``(inner net, width, kernel size, per-block dilations, data shape, batch size)`` of the Shakespeare model."""
    from pmm_ppl.train.models import load_spec

    spec = load_spec("shakespeare_chars")
    net = spec.make_net(0)
    while not hasattr(net, "blocks"):  # unwrap CarryRevealed / input maps down to the DilatedConvNet
        net = net.inner
    width = net.token_in.out_features
    dilations = [net.dilations[i % len(net.dilations)] for i in range(len(net.blocks))]
    return net, width, net.kernel_size, dilations, spec.data_shape, spec.train.batch_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    net, C, K, dilations, (L, V), B = model_stack()
    n = len(dilations)
    keys = jax.random.split(jax.random.key(0), 6)
    x = jax.random.normal(keys[0], (B, L, C))
    w = jax.random.normal(keys[1], (n, K, C, C)) * 0.05
    p = jax.random.normal(keys[2], (n, C, C)) * 0.05
    s = jax.random.normal(keys[3], (n, B, C)) * 0.1
    ident = lambda h: h  # noqa: E731
    r = args.repeats
    args_ = (x, w, p, s)

    from flax import nnx

    blocks_def, blocks_state = nnx.split(net.blocks)
    modulation = net.blocks[0].modulation  # None where the net does not see the time (conditioning="none")
    emb = jnp.zeros((B, 0)) if modulation is None else jax.random.normal(keys[3], (B, modulation.in_features))

    def model_blocks_loss(state, h, e):
        for block in nnx.merge(blocks_def, state):
            h = block(h, None if modulation is None else e)
        return (h ** 2).mean()

    full = min_time(jax.jit(jax.grad(model_blocks_loss, argnums=(0, 1, 2))), blocks_state, x, emb, repeats=r)
    copy = min_time(blocks_grad(dilations, conv_f32, layer_norm, jax.nn.gelu, modulation is not None, False), *args_,
                    repeats=r)
    bare = min_time(blocks_grad(dilations, conv_f32, ident, ident, False, False), *args_, repeats=r)
    bf16_blocks = min_time(blocks_grad(dilations, conv_bf16_im2col, layer_norm, jax.nn.gelu, modulation is not None,
                                       True), *args_, repeats=r)

    from pmm_ppl.train.step import split_net

    params, rebuild = split_net(net)
    logits_in = jax.random.normal(keys[4], (B, L, V))
    t = jnp.linspace(0.05, 0.95, B)
    probe = jax.random.normal(keys[5], (B, L, V))
    net_grad = jax.jit(jax.grad(lambda q, m: jnp.sum(rebuild(q)(m, t) * probe)))
    whole = min_time(net_grad, params, logits_in, repeats=r)

    def mm_loss(bf16):
        return lambda h, q: (matmul(h, q, bf16) ** 2).sum()

    mm = {bf: (min_time(jax.jit(lambda h, q, bf=bf: matmul(h, q, bf)), x, p[0], repeats=r),
               min_time(jax.jit(jax.grad(mm_loss(bf), argnums=(0, 1))), x, p[0], repeats=r)) for bf in (False, True)}
    flops = 3 * 2 * B * L * C * C * (K + 1) * n  # convolutions + projections, forward + backward
    mm_rate = 3 * 2 * B * L * C * C / mm[False][1]

    print(f"stack: {n} blocks, width {C}, kernel {K}, dilations {dilations}; batch {B} x {L}")
    print(f"{n} blocks fwd+bwd: {full * 1e3:.1f} ms; without LayerNorm, modulation and GELU {bare * 1e3:.1f} ms; "
          f"whole net {whole * 1e3:.1f} ms")
    print(f"elementwise share of the blocks     {1 - bare / full:.2f}")
    print(f"stack / whole net                   {full / whole:.2f}")
    print(f"bf16 / f32 matmul, forward          {mm[True][0] / mm[False][0]:.2f}")
    print(f"bf16 / f32 matmul, forward+backward {mm[True][1] / mm[False][1]:.2f}")
    print(f"bf16 im2col / f32 conv, the stack   {bf16_blocks / copy:.2f}  (written-out copy; copy / model blocks "
          f"{copy / full:.2f})")
    print(f"GFLOP/s fwd+bwd (one run): bare convolutions {flops / bare / 1e9:.0f}, full blocks {flops / full / 1e9:.0f}, "
          f"whole net {flops / whole / 1e9:.0f}; f32 matmul {mm_rate / 1e9:.0f}")


if __name__ == "__main__":
    main()

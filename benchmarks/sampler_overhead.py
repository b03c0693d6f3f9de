"""Sampler overhead: time of a T-step jitted PMM sampling run / (T x time of one jitted denoiser call).

The denoiser is a plain-JAX MLP (64 -> 512 -> 512 -> 64 with a 16-feature Fourier time embedding,
~0.34 M parameters) on a batch of 256 samples of 64-dim data; the pair is Normal-Normal with a
geometric schedule.  Both sides are jitted, warmed up, timed with ``block_until_ready`` and reported
as medians of several repeats; the sampler run and T back-to-back calls of the jitted denoiser are
timed alternately, so that a busy machine slows both alike.  The sampler makes T + 1 denoiser calls
(T steps and the final f(mu, 1)); ``ratio`` divides by T calls as specified, ``ratio(T+1)`` by
T + 1.  ``ratio(min)`` divides the fastest sampler run by the fastest block of T calls: on a machine
shared with other work the medians move by tens of percent from run to run, the minima (the least
disturbed runs) much less.  Target: ratio <= 1.05.

``noise floor`` is 1 + (one step's N(0, I) draw of the batch, timed alone in a jitted scan) / (one
denoiser call): the extra work the Normal channel does at every step (0.107 ms per draw of 256 x 64
normals, 0.081 ms of it the random bits).  It is not a bound on ``ratio``: the T back-to-back calls
also pay one dispatch each, which the sampler's single scan does not.

Measured on this 2-core machine, two runs back to back with nothing else running (2026-11-30): one
call 0.64 ms; at T = 512 ratio 0.907 and 0.927 (ratio(min) 0.920 and 0.962; noise floor 1.095), at
T = 128 0.955 and 0.869, at T = 32 1.103 and 1.102 (there the sampler's fixed cost and the final call
weigh more).  With the cores shared by training jobs, earlier runs gave 1.09 to 1.17 at T = 512.

    .venv/bin/python benchmarks/sampler_overhead.py [--steps 32 128 512] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp

from pmm_ppl import get_pair
from pmm_ppl.process.sampler import sample
from pmm_ppl.process.schedules import GeometricSchedule

DIM, HIDDEN, BATCH, NUM_FREQ = 64, 512, 256, 8


def init_mlp(key: jax.Array, hidden: int = HIDDEN) -> dict:
    sizes = [DIM + 2 * NUM_FREQ, hidden, hidden, DIM]
    keys = jax.random.split(key, len(sizes) - 1)
    return {
        f"layer{i}": (jax.random.normal(k, (m, n)) / jnp.sqrt(m), jnp.zeros((n,)))
        for i, (k, m, n) in enumerate(zip(keys, sizes[:-1], sizes[1:]))
    }


def mlp(params: dict, mu: jax.Array, t: jax.Array) -> jax.Array:
    freqs = 2.0 ** jnp.arange(NUM_FREQ)
    emb = jnp.concatenate([jnp.sin(t[:, None] * freqs), jnp.cos(t[:, None] * freqs)], axis=-1)
    h = jnp.concatenate([mu, emb], axis=-1)
    n = len(params)
    for i in range(n):
        w, b = params[f"layer{i}"]
        h = h @ w + b
        if i < n - 1:
            h = jax.nn.gelu(h)
    return mu + h


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[32, 128, 512])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--hidden", type=int, default=HIDDEN, help="hidden width of the MLP denoiser")
    args = parser.parse_args()

    params = init_mlp(jax.random.PRNGKey(0), args.hidden)
    num_params = sum(w.size + b.size for w, b in params.values())
    pair = get_pair("normal_normal")
    schedule = GeometricSchedule(a_max=1e4)
    denoiser = jax.tree_util.Partial(mlp, params)
    mu = jax.random.normal(jax.random.PRNGKey(1), (BATCH, DIM))
    t = jnp.full((BATCH,), 0.5)

    den_jit = jax.jit(mlp)
    jax.block_until_ready(den_jit(params, mu, t))

    def denoiser_calls(n: int) -> jax.Array:
        out = None
        for _ in range(n):
            out = den_jit(params, mu, t)
        return out

    per_call = median_time(lambda: denoiser_calls(20), 5 * args.repeats) / 20
    print(f"device: {jax.devices()[0].device_kind} ({jax.default_backend()}); MLP {num_params / 1e6:.2f} M params, batch {BATCH} x {DIM}")
    print(f"one jitted denoiser call: {per_call * 1e3:.3f} ms (median of blocks of 20 calls)")
    print("per T: sampler run and T back-to-back denoiser calls timed alternately (so a busy machine")
    print("slows both alike); medians over the repeats; ratio = median of the per-repeat ratios")
    print(f"{'T':>6} {'sampler [ms]':>13} {'T calls [ms]':>13} {'ratio':>7} {'ratio(T+1)':>11} {'ratio(min)':>11} "
          f"{'noise floor':>12}")
    def noise_scan(steps: int):
        def body(c, k):
            return c + jax.random.normal(k, (BATCH, DIM)), None
        return jax.jit(lambda key: jax.lax.scan(body, jnp.zeros((BATCH, DIM)), jax.random.split(key, steps))[0])

    for steps in args.steps:
        draw = noise_scan(steps)
        jax.block_until_ready(draw(jax.random.PRNGKey(3)))
        noise = min(median_time(lambda: draw(jax.random.PRNGKey(3)), 1) for _ in range(args.repeats)) / steps
        run = lambda: sample(pair, denoiser, jax.random.PRNGKey(2), BATCH, (DIM,), schedule, steps)
        jax.block_until_ready(run())  # compile
        pairs = [(median_time(run, 1), median_time(lambda: denoiser_calls(steps), 1)) for _ in range(args.repeats)]
        ratios = [a / b for a, b in pairs]
        total = statistics.median(a for a, _ in pairs)
        calls = statistics.median(b for _, b in pairs)
        ratio = statistics.median(ratios)
        ratio_min = min(a for a, _ in pairs) / min(b for _, b in pairs)
        print(f"{steps:>6} {total * 1e3:>13.2f} {calls * 1e3:>13.2f} {ratio:>7.3f} {ratio * steps / (steps + 1):>11.3f} "
              f"{ratio_min:>11.3f} {1 + noise / per_call:>12.3f}")

if __name__ == "__main__":
    main()

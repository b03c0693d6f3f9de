"""Poisson draw of one training batch: pmm_ppl's exact sampler vs ``jax.random.poisson``.

The counts model's training step draws :math:`N \\sim \\mathrm{Poisson}(A(t)\\,x)` per pixel (``pair.flow``),
with ``t`` uniform per image and ``A`` the model's schedule.  This script draws those rates from a training
batch and times, jitted, warmed up, interleaved and with ``block_until_ready``:
``pmm_ppl.conjugate.poisson_sampler.sample_poisson``, ``jax.random.poisson`` and, as the floor, a standard
Normal draw of the same shape.  It prints the minimum over repeats of each (the least disturbed blocks) and
the ratios.

    .venv/bin/python benchmarks/poisson_draw.py [--model digits_counts] [--repeats 7] [--calls 200]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

from pmm_ppl.conjugate.poisson_sampler import sample_poisson
from pmm_ppl.train.models import load_spec


def time_calls(fn, keys, x):
    t0 = time.perf_counter()
    for key in keys:
        out = fn(key, x)
    jax.block_until_ready(out)
    return (time.perf_counter() - t0) / len(keys)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="digits_counts")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--calls", type=int, default=200)
    args = ap.parse_args()
    spec = load_spec(args.model)
    train, _ = spec.load_data()
    x = jnp.asarray(spec.to_data(train[: spec.train.batch_size]))

    def with_rates(draw):
        def fn(key, x):
            k_t, k_n = jax.random.split(key)
            t = jax.random.uniform(k_t, (x.shape[0],) + (1,) * (x.ndim - 1))
            return draw(k_n, spec.schedule.A(t) * x)
        return jax.jit(fn)

    fns = {
        "pmm sample_poisson": with_rates(sample_poisson),
        "jax.random.poisson": with_rates(jax.random.poisson),
        "normal (floor)": with_rates(lambda k, r: r + jax.random.normal(k, r.shape)),
    }
    keys = list(jax.random.split(jax.random.key(0), args.calls))  # made before timing: one key per call
    for fn in fns.values():
        time_calls(fn, keys[:3], x)
    times = {name: [] for name in fns}
    for _ in range(args.repeats):
        for name, fn in fns.items():
            times[name].append(time_calls(fn, keys, x))
    best = {name: min(ts) * 1e3 for name, ts in times.items()}
    print(f"{args.model}: batch {tuple(x.shape)}, rates A(t) x up to {spec.schedule.A(1.0) * float(x.max()):.0f}")
    for name, ms in best.items():
        print(f"  {name:20s} {ms:7.3f} ms")
    new, old, floor = best["pmm sample_poisson"], best["jax.random.poisson"], best["normal (floor)"]
    print(f"  ratio pmm / jax.random.poisson  {new / old:.3f}")
    print(f"  ratio pmm / normal draw         {new / floor:.2f}")


if __name__ == "__main__":
    main()

"""Quality after a stated CPU budget: trains ready models for a fixed wall-clock budget (compilation
excluded; at most 600 s each, the digits models stop earlier at their step budgets, chosen from the
measured overfitting) and prints the test-set likelihood bound in the model's unit.

    .venv/bin/python benchmarks/train_quality.py      # digits U-Net (Normal), digits counts, Shakespeare, MNIST
    .venv/bin/python benchmarks/train_quality.py --models shakespeare_chars --keep runs/quality
    .venv/bin/python benchmarks/train_quality.py --models digits_unet --seeds 0 1   # two seeds, with a summary

Figures: digits_unet / digits_normal -> bits/dim (17-level discretised, images 1500..1796); mnist_cpu -> bits/dim
(256 levels, the first 500 test images); digits_counts ->
nats per image and per count; shakespeare_chars -> bits per character on test windows of 256.
The bound is the discrete-time ELBO with ``--bound-steps`` steps (default 256 and 1024; none for
token models) and the continuous-time bound where the pair allows it (``--continuous-mc`` time
draws per example; the +- is the standard error over the test examples).  A model whose
``EvalConfig.discrete_bound`` is False (mnist_cpu: ``T`` network calls per image and replicate) gets
only the continuous-time bound unless ``--bound-steps`` asks; ``EvalConfig.max_examples`` limits the
test images (mnist_cpu: the first 500).  ``--weights ema raw`` also scores the raw (last-iterate)
weights; a fixed step budget instead of seconds: ``--seconds 1e9 --set '{"max_steps": 400}'``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import jax
import numpy as np

from pmm_ppl.cli import int_at_least
from pmm_ppl.train.cpu_devices import use_cpu_devices
from pmm_ppl.train.evaluate import UNIT_NAMES, test_bound
from pmm_ppl.train.loop import train, training_mesh
from pmm_ppl.train.models import load_spec


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["digits_unet", "digits_counts", "shakespeare_chars", "mnist_cpu"])
    ap.add_argument("--seconds", type=float, default=600.0)
    ap.add_argument("--bound-steps", type=int, nargs="*", default=None,
                    help="discrete-time bounds to compute (default 256 1024; none for token models, whose T-step "
                         "bound costs T forward passes per window: their figure is the continuous-time bound)")
    ap.add_argument("--continuous-mc", type=int, default=None, help="time draws per example (default 64; 16 for tokens)")
    ap.add_argument("--keep", default=None, help="keep the run directories under this folder (default: temporary)")
    ap.add_argument("--weights", nargs="+", choices=["ema", "raw"], default=["ema"],
                    help="which weights to score: the EMA (default) and / or the raw last iterate")
    ap.add_argument("--set", default="{}", help="JSON overrides for every model's spec()")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0],
                    help="training seeds (weights and batch order); with several, a summary gives each figure's mean and range")
    ap.add_argument("--cpu-devices", type=int_at_least(1), default=None,
                    help="the CPU as this many JAX devices (default: one per core, as `pmm train`; "
                         "pmm_ppl/train/cpu_devices.py)")
    args = ap.parse_args()
    use_cpu_devices(args.cpu_devices)  # as `pmm train` does; before the first JAX computation
    rows = []
    for name, seed in ((n, s) for n in args.models for s in args.seeds):
        spec = load_spec(name, max_seconds=args.seconds, **{"seed": seed, **json.loads(args.set)})
        with tempfile.TemporaryDirectory() as tmp:
            run_dir = f"{args.keep}/{name}_seed{seed}" if args.keep else tmp
            t0 = time.perf_counter()
            state, rebuild = train(spec, run_dir, progress=False)
            metrics = [json.loads(ln) for ln in open(f"{run_dir}/metrics.jsonl") if ln.strip()]
        _, test = spec.load_data()
        rate = float(np.median([m["examples_per_s"] for m in metrics[1:]])) if len(metrics) > 1 else float("nan")
        tokens = spec.eval.unit == "char"
        default_steps = [] if tokens or not spec.eval.discrete_bound else [256, 1024]
        bound_steps = args.bound_steps if args.bound_steps is not None else default_steps
        for weights in args.weights:
            net = rebuild(state.ema if weights == "ema" else state.params)
            label = name if args.weights == ["ema"] else f"{name} ({weights})"
            for T in bound_steps:
                r = test_bound(spec, net, test, jax.random.key(1), num_steps=T)
                rows.append((label, seed, int(state.step), rate, f"T={T}", r.nats_per_example, r.nats_se, r.per_unit,
                             r.unit))
            if spec.pair.accuracy_kind == "real":
                num_mc = args.continuous_mc or (16 if tokens else 64)
                r = test_bound(spec, net, test, jax.random.key(2), num_mc=num_mc, batch_size=64, continuous=True)
                rows.append((label, seed, int(state.step), rate, "continuous", r.nats_per_example, r.nats_se, r.per_unit,
                             r.unit))
        devices = training_mesh(spec.train).size
        print(f"[{name} seed {seed}] trained {int(state.step)} steps on {devices} {jax.default_backend()} device(s); "
              f"{time.perf_counter() - t0:.0f} s with compilation and"
              f" evaluation; load average {' '.join(open('/proc/loadavg').read().split()[:3])} (1, 5, 15 min)", flush=True)
        jax.clear_caches()  # compiled programs hold their static arguments, e.g. a token model's count tables (GBs)
    print(f"\n{'model':20s} {'seed':>4s} {'steps':>6s} {'ex/s':>7s} {'bound':>10s} {'nats/ex':>9s} {'+-':>6s} {'per unit':>9s} unit")
    for name, seed, steps, rate, kind, nats, se, per_unit, unit in rows:
        print(f"{name:20s} {seed:4d} {steps:6d} {rate:7.0f} {kind:>10s} {nats:9.2f} {se:6.2f} {per_unit:9.4f} {UNIT_NAMES[unit]}")
    if len(args.seeds) > 1:
        print(f"\nover seeds {args.seeds}: mean [min, max] of the per-unit figure")
        for label in dict.fromkeys(r[0] for r in rows):
            for kind in dict.fromkeys(r[4] for r in rows if r[0] == label):
                vals = [r[7] for r in rows if r[0] == label and r[4] == kind]
                unit = next(r[8] for r in rows if r[0] == label)
                print(f"{label:20s} {kind:>10s} {np.mean(vals):9.4f} [{min(vals):.4f}, {max(vals):.4f}] {UNIT_NAMES[unit]}")


if __name__ == "__main__":
    main()

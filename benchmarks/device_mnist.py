"""MNIST on one GPU: ``models/mnist_normal.py`` for its training budget, then its test-set bound,
training throughput and the fraction of peak FLOP/s (issue 15's GPU check; BFN with its own code on
one H200: 0.946 bits/dim in 350 s, 2,354 images/s, about 8% of peak).

    python benchmarks/device_mnist.py --smoke            # tiny net, 3 steps, 16 test images: checks the stack
    python benchmarks/device_mnist.py --out DIR          # the real run (the model's 6-minute budget)
    JAX_PLATFORMS=cpu python benchmarks/device_mnist.py --flops-only   # FLOPs of one training step, then stop

Figures printed (and written to ``DIR/device_mnist.json``):
- bits/dim: the continuous-time bound (``--continuous-mc`` time draws per image, +- one standard error
  over images) on the first ``--num-test`` test images, 256-level discretised data, EMA weights; and,
  when the ``--deadline`` leaves time, the T-step bound of the model's own sampler on fewer images;
- images/s: median over the logged intervals of ``metrics.jsonl`` (compilation excluded);
- FLOP/s: XLA's cost analysis of one lowered training step (forward, backward, AdamW, EMA) times
  steps/s, as a fraction of the chip's dense bf16 and fp32 matrix rates measured in the same run
  (an 8192^3 product) and of the datasheet's dense bf16 rate (989 TFLOP/s for H100/H200 SXM).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

START = float(os.environ.get("DEVICE_T0", time.time()))  # the command's start, for --deadline
DATASHEET_BF16 = 989e12


def versions() -> dict:
    import importlib.metadata as md
    out = {}
    for name in ("jax", "jaxlib", "flax", "numpyro", "optax", "orbax-checkpoint", "numpy"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def step_flops(spec) -> float:
    """FLOPs of one compiled training step (XLA cost analysis) at the model's batch size."""
    from pmm_ppl.train.loop import build
    from pmm_ppl.train.step import init_state

    params, _, optimizer, step_fn = build(spec)
    state = init_state(params, optimizer)
    batch = jnp.zeros((spec.train.batch_size, *spec.data_shape), jnp.float32)
    # the lowered (pre-optimisation) HLO: on a GPU the compiled step's convolutions become cuDNN custom
    # calls, which XLA's cost analysis counts as 0 FLOPs (measured: 1.9e10 there against 2.18e12 here);
    # on the CPU the lowered and compiled counts agree within 1%
    cost = jax.jit(step_fn).lower(state, batch).cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0]
    return float(cost["flops"])


def matmul_rate(dtype, n: int = 8192, reps: int = 10) -> float:
    """Measured FLOP/s of an n^3 matrix product (random operands, after a warm-up)."""
    k1, k2 = jax.random.split(jax.random.key(0))
    a = jax.random.normal(k1, (n, n), dtype)
    b = jax.random.normal(k2, (n, n), dtype)
    f = jax.jit(lambda a, b: a @ b)
    f(a, b).block_until_ready()
    t0 = time.perf_counter()
    for _ in range(reps):
        out = f(a, b)
    out.block_until_ready()
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mnist_normal")
    ap.add_argument("--smoke", action="store_true", help="tiny net, 3 steps, 16 test images (checks the stack)")
    ap.add_argument("--seconds", type=float, default=None, help="training budget (default: the model's)")
    ap.add_argument("--num-test", type=int, default=2000)
    ap.add_argument("--continuous-mc", type=int, default=16)
    ap.add_argument("--discrete-examples", type=int, default=200, help="test images for the T-step bound")
    ap.add_argument("--deadline", type=float, default=540.0, help="skip optional parts after this many seconds")
    ap.add_argument("--set", default="{}", help="JSON overrides for the model's spec()")
    ap.add_argument("--flops-only", action="store_true", help="print the FLOPs of one training step and stop")
    ap.add_argument("--out", default=None, help="folder for the JSON report, metrics and a sample grid")
    args = ap.parse_args()

    from pmm_ppl.train.evaluate import draw_samples, test_bound
    from pmm_ppl.train.loop import train
    from pmm_ppl.train.models import load_spec
    from pmm_ppl.train.output import image_grid

    report = {"versions": versions(), "devices": [str(d) for d in jax.devices()]}
    print(json.dumps(report), flush=True)
    overrides = json.loads(args.set)
    if args.smoke:
        overrides = {"channels": (16, 32, 32), "num_res_blocks": 1, "batch_size": 32, **overrides}
    spec = load_spec(args.model, num_test=16 if args.smoke else args.num_test, **overrides)
    report["flops_per_step"] = step_flops(spec)
    report["batch_size"] = spec.train.batch_size
    print(f"FLOPs per training step: {report['flops_per_step']:.4g} (batch {spec.train.batch_size})", flush=True)
    if args.flops_only:
        return

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp())
    out.mkdir(parents=True, exist_ok=True)

    def save():
        (out / "device_mnist.json").write_text(json.dumps(report, indent=1))

    _, test = spec.load_data()
    # pre-flight: the bound's code path on the untrained net, before the training budget is spent
    test_bound(spec, spec.make_net(0), test[:500], jax.random.key(2), num_mc=2, batch_size=500, continuous=True)
    (out / "preflight_ok").write_text("ok")
    run_dir = Path(tempfile.mkdtemp()) / args.model
    t0 = time.perf_counter()
    state, rebuild = train(spec, run_dir, max_steps=3 if args.smoke else None,
                           max_seconds=args.seconds, progress=False)
    report["train_wall_s"] = time.perf_counter() - t0
    metrics = [json.loads(ln) for ln in open(run_dir / "metrics.jsonl") if ln.strip()]
    (out / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    report["steps"] = int(state.step)
    report["train_seconds"] = metrics[-1]["train_seconds"] if metrics else None
    rates = [m["examples_per_s"] for m in metrics[1:]] or [m["examples_per_s"] for m in metrics]
    report["images_per_s"] = float(np.median(rates)) if rates else float("nan")
    report["achieved_flops"] = report["flops_per_step"] * report["images_per_s"] / spec.train.batch_size
    print(f"trained {report['steps']} steps, {report['images_per_s']:.0f} images/s, "
          f"{report['achieved_flops'] / 1e12:.2f} TFLOP/s", flush=True)

    save()
    net = rebuild(state.ema)
    r = test_bound(spec, net, test, jax.random.key(2), num_mc=args.continuous_mc, batch_size=500, continuous=True)
    report["continuous"] = {"bits_per_dim": r.per_unit, "nats_per_image": r.nats_per_example,
                            "nats_se": r.nats_se, "images": len(test), "num_mc": args.continuous_mc}
    print(f"continuous-time bound on {len(test)} test images: {r.per_unit:.4f} bits/dim "
          f"(+- {r.nats_se / (np.log(2) * np.prod(spec.data_shape)):.4f})", flush=True)
    save()

    for name, dtype in (("bf16", jnp.bfloat16), ("fp32", jnp.float32)):
        report[f"matmul_{name}_flops"] = matmul_rate(dtype, n=1024 if args.smoke else 8192)
    report["fraction_of_measured_bf16"] = report["achieved_flops"] / report["matmul_bf16_flops"]
    report["fraction_of_measured_fp32"] = report["achieved_flops"] / report["matmul_fp32_flops"]
    report["fraction_of_datasheet_bf16"] = report["achieved_flops"] / DATASHEET_BF16
    print(f"matmul rates: bf16 {report['matmul_bf16_flops'] / 1e12:.0f}, fp32 {report['matmul_fp32_flops'] / 1e12:.0f} "
          f"TFLOP/s; training at {100 * report['fraction_of_measured_bf16']:.1f}% of measured bf16, "
          f"{100 * report['fraction_of_measured_fp32']:.1f}% of measured fp32, "
          f"{100 * report['fraction_of_datasheet_bf16']:.1f}% of datasheet bf16", flush=True)
    save()

    if time.time() - START < args.deadline - 60:
        grid = draw_samples(spec, net, jax.random.key(3), 64)
        image_grid(np.asarray(grid), out / "samples.png", title=f"{args.model}, {report['steps']} steps")
        print(f"samples: {out / 'samples.png'}", flush=True)
    n = 16 if args.smoke else args.discrete_examples
    if time.time() - START < args.deadline - 90:
        T = 50 if args.smoke else spec.eval.num_steps
        t1 = time.perf_counter()
        r = test_bound(spec, net, test, jax.random.key(4), num_steps=T, max_examples=n, batch_size=n)
        report["discrete"] = {"bits_per_dim": r.per_unit, "nats_se": r.nats_se, "images": n, "steps": T,
                              "receiver": spec.default_sampler, "seconds": time.perf_counter() - t1}
        print(f"{T}-step bound ({spec.default_sampler}) on {n} test images: {r.per_unit:.4f} bits/dim", flush=True)
    save()
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()

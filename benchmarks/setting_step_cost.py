"""What a setting costs per training step: model ``--model``'s jitted PMM training step under ``--set`` overrides
divided by its step under its own settings (ratio > 1: the setting is slower per step; where ``--set`` changes
the batch size, the ratio per image is printed too).

Both steps are built in one process (the step of ``benchmarks/train_step_overhead.py``, each with its own state and
a training batch of its own batch size, split over the devices as training splits it: over as many of the process's
devices as divide it, at most ``cpu_data_devices``), warmed up, then timed in ``--repeats`` interleaved blocks of
``--steps`` steps; the table gives the median seconds per step and per image, the ratio of the medians and the
ratio of the minima (the least disturbed blocks).  A setting that gains per step (an optimiser, say) gains within a
time budget only if its gain outweighs this cost: ``benchmarks/train_quality.py --seconds 100000 --set
'{"max_steps": N, ...}'`` measures the gain at a fixed number of steps, this script the cost of a step.

    .venv/bin/python benchmarks/setting_step_cost.py --model mnist_cpu --set '{"optimizer": "adamw"}'

One run on an otherwise idle 2-core machine of the slower kind (AMD EPYC, AVX2), when ``mnist_cpu`` still
trained with AdamW: ``--model mnist_cpu --set '{"optimizer": "muon"}' --repeats 5 --steps 10 --cpu-devices 1``
gave 1423 ms per AdamW step and 1443 per Muon step, ratio 1.014 (minima 1.034): a Muon step costs 1 to 3% more.
"""

from __future__ import annotations

import argparse
import json
import statistics

from train_step_overhead import steps_of, time_steps

from pmm_ppl.cli import int_at_least
from pmm_ppl.train.cpu_devices import use_cpu_devices


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="a model name in models/ or a .py file path")
    ap.add_argument("--set", dest="overrides", required=True, help="JSON overrides for the model's spec()")
    ap.add_argument("--repeats", type=int_at_least(1), default=7)
    ap.add_argument("--steps", type=int_at_least(1), default=10)
    ap.add_argument("--cpu-devices", type=int_at_least(1), default=None,
                    help="the CPU as this many JAX devices (default: one per core, as `pmm train`)")
    args = ap.parse_args()
    use_cpu_devices(args.cpu_devices)  # as `pmm train` does; before the first JAX computation
    try:
        overrides = json.loads(args.overrides)
    except json.JSONDecodeError as err:
        ap.error(f"--set is not valid JSON ({err}): {args.overrides!r}")
    if not isinstance(overrides, dict) or not overrides:
        ap.error(f"--set must be a non-empty JSON object of spec() overrides, got {args.overrides!r}")

    variants = {"own settings": steps_of(args.model, cap_devices=True),
                "--set": steps_of(args.model, cap_devices=True, **overrides)}
    states = {}
    for label, (_, step, _, new_state, batch) in variants.items():
        _, states[label] = time_steps(step, new_state(), batch, 3)  # compile and warm up
    times = {label: [] for label in variants}
    for _ in range(args.repeats):
        for label, (_, step, _, _, batch) in variants.items():
            dt, states[label] = time_steps(step, states[label], batch, args.steps)
            times[label].append(dt)

    print(f"model {args.model}, --set {json.dumps(overrides)}, {args.repeats} x {args.steps} steps")
    print(f"{'':14s} {'batch':>5s} {'devices':>7s} {'ms/step':>9s} {'ms/image':>9s}")
    for label, (spec, _, _, _, batch) in variants.items():
        median, devices = statistics.median(times[label]), len(batch.sharding.device_set)
        print(f"{label:14s} {spec.train.batch_size:5d} {devices:7d} {1e3 * median:9.2f} "
              f"{1e3 * median / spec.train.batch_size:9.3f}")
    own, new = times["own settings"], times["--set"]
    per_image = variants["own settings"][0].train.batch_size / variants["--set"][0].train.batch_size
    print(f"ratio (--set / own) per step: median {statistics.median(new) / statistics.median(own):.3f}, "
          f"min {min(new) / min(own):.3f}" + ("" if per_image == 1 else
          f"; per image: median {per_image * statistics.median(new) / statistics.median(own):.3f}, "
          f"min {per_image * min(new) / min(own):.3f}"))


if __name__ == "__main__":
    main()

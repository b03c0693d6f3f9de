"""XLA:CPU compiler flags against a model's PMM training step: time per step under each ``XLA_FLAGS`` setting
divided by the time with none (ratio < 1: the flag is faster).

XLA reads ``XLA_FLAGS`` once, when JAX starts its CPU backend, so every setting runs in a process of its own.
The processes are interleaved (round r runs every setting once, in a rotated order), and each prints the median
of its ``--repeats`` blocks of ``--steps`` jitted steps (the step of ``benchmarks/train_step_overhead.py``); the
table gives, per setting, the median over rounds of its step time and the median over rounds of its ratio to the
same round's baseline (a round's processes run one after another, so a slow spell of a shared machine tends to
touch one round rather than one setting).

    .venv/bin/python benchmarks/xla_cpu_flags.py --models digits_unet shakespeare_chars --rounds 3
    .venv/bin/python benchmarks/xla_cpu_flags.py --flags xla_cpu_use_xnnpack=true "xla_cpu_use_onednn=true xla_cpu_ftz=true"

(a setting is one or more flags, each without its leading ``--``).

One run on an otherwise idle 2-core machine of the slower kind (AMD EPYC, AVX2), ``--rounds 3 --repeats 5 --steps 10``
(10 minutes), median ratio to no flags (per round):

    digits_unet         --xla_cpu_use_xnnpack=true   0.890  (1.079, 0.890, 0.765)    198 ms/step without flags
                        --xla_cpu_use_onednn=true    0.829  (1.125, 0.817, 0.829)
    shakespeare_chars   --xla_cpu_use_xnnpack=true   0.922  (0.922, 1.058, 0.850)    147 ms/step without flags
                        --xla_cpu_use_onednn=true    0.928  (0.928, 1.038, 0.910)

Each flag was faster in two of three rounds and slower in the third, so pmm_ppl sets no flags; a user can
measure their own machine and export ``XLA_FLAGS`` before training (whether a flag changes a run's numbers is
not measured here).

The CPU as two devices, the batch split over them (``--flags xla_force_host_platform_device_count=2``; the step
of ``train_step_overhead.py`` places state and batch as training does, but without the model's ``cpu_data_devices``
cap), one run in a later session on an
otherwise idle machine of the same kind, ``--models mnist_cpu digits_unet shakespeare_chars --rounds 2 --repeats 3
--steps 8``, median ratio to one device (per round):

    mnist_cpu           0.623  (0.619, 0.627)    1273 ms/step on one device
    digits_unet         0.646  (0.643, 0.650)     145 ms/step
    shakespeare_chars   1.153  (1.108, 1.197)     124 ms/step

And for the MLPs, ``--models digits_normal digits_counts toy2d_normal --rounds 2 --repeats 5 --steps 20``:

    digits_normal       1.949  (1.802, 2.096)      22 ms/step on one device
    digits_counts       1.793  (1.546, 2.040)      26 ms/step
    toy2d_normal        1.663  (1.279, 2.047)       4 ms/step

So ``pmm`` presents one CPU device per core (``pmm_ppl/train/cpu_devices.py``), but a model splits its batch
only over at most ``TrainConfig.cpu_data_devices`` of them: 1 by default, 2 for the two U-Nets (twice the
character model's batch over two devices took 0.97x the time per window of one: ``benchmarks/setting_step_cost.py``).

The two flags on top of two devices (a later session, ``--models digits_unet --rounds 3 --repeats 3 --steps 8
--flags xla_force_host_platform_device_count=2 "xla_force_host_platform_device_count=2 xla_cpu_use_onednn=true"
"xla_force_host_platform_device_count=2 xla_cpu_use_xnnpack=true"``), median ratio to one device without flags:

    digits_unet  two devices 0.682 (0.634, 0.834, 0.682); + onednn 0.678 (0.594, 0.678, 0.681);
                 + xnnpack 0.628 (0.682, 0.628, 0.537)                       178 ms/step on one device

Against two devices alone, round by round, onednn gave 0.94 / 0.81 / 1.00 and xnnpack 1.08 / 0.75 / 0.79: onednn
from no gain to 19% faster, xnnpack slower in one round; one run of three rounds, too inconsistent to set either, so
pmm_ppl still sets no flags.

More devices than cores (the same session, ``--models digits_unet --rounds 3 --repeats 3 --steps 8 --flags
xla_force_host_platform_device_count=2 xla_force_host_platform_device_count=4``, on 2 cores), median ratio to one
device: two devices 0.653 (0.613, 0.776, 0.653), four 0.898 (0.898, 1.183, 0.880): no more than one per core.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

from pmm_ppl.cli import int_at_least

DEFAULT_FLAGS = ["xla_cpu_use_xnnpack=true", "xla_cpu_use_onednn=true"]


def time_model(name: str, repeats: int, steps: int) -> float:
    """Median seconds per PMM training step of model ``name`` (its batch, optimiser and net), in this process."""
    from train_step_overhead import steps_of, time_steps

    _, step, _, new_state, batch = steps_of(name)
    _, state = time_steps(step, new_state(), batch, 3)
    times = []
    for _ in range(repeats):
        dt, state = time_steps(step, state, batch, steps)
        times.append(dt)
    return statistics.median(times)


def run_child(flags: str, models: list[str], repeats: int, steps: int) -> dict[str, float]:
    env = {**os.environ, "XLA_FLAGS": flags}
    cmd = [sys.executable, __file__, "--child", "--models", *models, "--repeats", str(repeats), "--steps", str(steps)]
    out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout  # stderr shows
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["digits_unet", "shakespeare_chars"])
    ap.add_argument("--flags", nargs="+", default=DEFAULT_FLAGS,
                    help="settings compared with none, each one or more XLA flags without their leading -- "
                         "(argparse would read a value starting with -- as an option of this script)")
    ap.add_argument("--rounds", type=int_at_least(1), default=3)
    ap.add_argument("--repeats", type=int_at_least(1), default=5)
    ap.add_argument("--steps", type=int_at_least(1), default=10)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps({m: time_model(m, args.repeats, args.steps) for m in args.models}))
        return
    settings = ["", *(" ".join(f"--{flag.removeprefix('--')}" for flag in setting.split()) for setting in args.flags)]
    if "" in settings[1:] or len(set(settings)) < len(settings):
        ap.error(f"--flags: each setting must be non-empty and different, got {args.flags}")
    times = {s: {m: [] for m in args.models} for s in settings}
    for r in range(args.rounds):
        order = settings[r % len(settings):] + settings[: r % len(settings)]
        for s in order:
            for m, t in run_child(s, args.models, args.repeats, args.steps).items():
                times[s][m].append(t)
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    print(f"{'model':20s} {'XLA_FLAGS':40s} {'ms/step':>8s} {'ratio':>6s}  (ratios per round)")
    for m in args.models:
        base = times[""][m]
        for s in settings:
            ratios = [a / b for a, b in zip(times[s][m], base)]
            print(f"{m:20s} {s or '(none)':40s} {1e3 * statistics.median(times[s][m]):8.2f} "
                  f"{statistics.median(ratios):6.3f}  ({', '.join(f'{x:.3f}' for x in ratios)})")


if __name__ == "__main__":
    main()

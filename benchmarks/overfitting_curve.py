"""Test and train bound of a ready model as training goes on: measures where it starts to overfit.

Trains in stages (resuming the same run, so the stages form one training run) and after each stage
prints the T-step bound on the test set and on the first 300 training examples.  This is how the
step budgets of ``models/digits_normal.py``, ``digits_counts.py`` and ``digits_unet.py`` were chosen.

    .venv/bin/python benchmarks/overfitting_curve.py --model digits_normal --budgets 30 60 120 240 \\
        --set '{"max_steps": 1000000, "decay_steps": 6000}'
"""

from __future__ import annotations

import argparse
import json
import tempfile

import jax

from pmm_ppl.train.evaluate import test_bound
from pmm_ppl.train.loop import train
from pmm_ppl.train.models import load_spec


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="digits_normal")
    ap.add_argument("--budgets", type=float, nargs="+", default=[30, 60, 120, 240],
                    help="cumulative training seconds at which to evaluate")
    ap.add_argument("--bound-steps", type=int, default=256)
    ap.add_argument("--set", default="{}", help="JSON overrides for the model's spec()")
    args = ap.parse_args()
    overrides = json.loads(args.set)
    print(f"{'seconds':>8s} {'steps':>6s} {'test':>8s} {'train':>8s}  (bound per unit of {args.model})")
    with tempfile.TemporaryDirectory() as run_dir:
        for budget in args.budgets:
            spec = load_spec(args.model, **{**overrides, "max_seconds": budget})
            state, rebuild = train(spec, run_dir, resume=True, progress=False)
            net = rebuild(state.ema)
            train_x, test_x = spec.load_data()
            te = test_bound(spec, net, test_x, jax.random.key(0), num_steps=args.bound_steps)
            tr = test_bound(spec, net, train_x[:300], jax.random.key(0), num_steps=args.bound_steps)
            print(f"{budget:8.0f} {int(state.step):6d} {te.per_unit:8.4f} {tr.per_unit:8.4f}", flush=True)


if __name__ == "__main__":
    main()

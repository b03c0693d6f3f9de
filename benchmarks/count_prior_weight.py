"""A trained token model's continuous-time test bound under several weights of its count prior
(pmm_ppl/nets/count_prior.py): 0 is the network alone, 1 the smoothed counts alone.

The network trains alone, so one run serves every weight: the script loads the run's EMA weights once (the
count tables are built once, from the model's training data), and evaluates the continuous-time bound on the
model's test windows for each ``--weights`` value with the same key and time draws (differences are paired).

    .venv/bin/python benchmarks/train_quality.py --models shakespeare_chars --seeds 2 --keep runs/q
    .venv/bin/python benchmarks/count_prior_weight.py --run runs/q/shakespeare_chars_seed2 --seed 2

Measured on shakespeare_chars' seed-2 run of the ninth session (600 s, the default command, 5100 steps; 16 time
draws per test window, 256 windows; one SE about 0.013), bits/char; the count tables took 62 s to build in this
process (45 s in the training run's first step):

    count_weight   0 (the net alone)   0.3      0.4 (the model's)   0.5      1 (the counts alone)
    bits/char      2.5134              2.3703   2.3636              2.3712   2.5429
"""

from __future__ import annotations

import argparse
import time

import jax
from flax import nnx


def main() -> None:
    from pmm_ppl.nets.count_prior import CountPrior, check_count_weight
    from pmm_ppl.train.evaluate import test_bound
    from pmm_ppl.train.loop import load_trained
    from pmm_ppl.train.models import load_spec

    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True, help="a run directory of a model with a count prior")
    ap.add_argument("--model", default="shakespeare_chars")
    ap.add_argument("--seed", type=int, default=0, help="the run's training seed (its spec records it)")
    ap.add_argument("--weights", nargs="+", type=float, default=[0.0, 0.3, 0.4, 0.5, 1.0])
    ap.add_argument("--num-mc", type=int, default=16, help="time draws per test window (train_quality's: 16)")
    ap.add_argument("--raw", action="store_true", help="the raw weights instead of the EMA")
    args = ap.parse_args()
    for w in args.weights:
        check_count_weight(w)
    spec = load_spec(args.model, seed=args.seed)
    net = load_trained(spec, args.run, use_ema=not args.raw)
    priors = [m for _, m in nnx.iter_graph(net) if isinstance(m, CountPrior)]
    if not priors:
        raise SystemExit(f"{args.model}: its net has no count prior (count_radius 0?)")
    _, test = spec.load_data()
    seconds = priors[0].fit_to_data()
    print(f"count tables: radius {priors[0].count_radius}, discount {priors[0].count_discount}, built in "
          f"{seconds:.0f} s")
    print(f"{'count_weight':>12s} {'bits/char':>10s} {'+-':>6s} {'s':>5s}")
    for w in args.weights:
        for prior in priors:
            prior.count_weight = w
        t0 = time.perf_counter()
        r = test_bound(spec, net, test, jax.random.key(2), num_mc=args.num_mc, batch_size=64, continuous=True)
        print(f"{w:12.2f} {r.per_unit:10.4f} {r.bits_se:6.3f} {time.perf_counter() - t0:5.0f}", flush=True)


if __name__ == "__main__":
    main()

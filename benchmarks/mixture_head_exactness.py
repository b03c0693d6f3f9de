"""A trained mixture head makes a non-affine channel exact: plug-in vs ancestral sampler on a bimodal target.

Pair ``gamma_exponential`` (``plug_in_exact = "no"``); target: log-normal modes at 0.3 and 2 (s.d. 0.1 in
log space), equal weight, 20,000 training draws.  The net is :class:`pmm_ppl.nets.mixture.MixtureHead`
(MLP backbone, ``K`` log-normal components) trained with the ELBO weighting plus the log score.  The
statistic is the share of samples below sqrt(0.6) (exact 0.5), with its sampling SE, for each sampler and T.

    .venv/bin/python benchmarks/mixture_head_exactness.py [--components 4] [--steps 1500] [--num 4000]
"""

from __future__ import annotations

import argparse
import time
import warnings

import jax
import numpy as np
from flax import nnx

import pmm_ppl
from pmm_ppl.nets.mixture import MixtureHead
from pmm_ppl.nets.mlp import MLP
from pmm_ppl.process.process import Process
from pmm_ppl.train.spec import TrainConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--components", type=int, default=4)
    ap.add_argument("--steps", type=int, default=1500, help="training steps")
    ap.add_argument("--num", type=int, default=4000, help="samples per row")
    ap.add_argument("--sample-steps", type=int, nargs="+", default=[50, 200, 800])
    args = ap.parse_args()
    warnings.simplefilter("ignore")  # the plug-in sampler warns on this pair: that is the point
    pair = pmm_ppl.get_pair("gamma_exponential")
    process = Process.for_pair(pair)
    rng = np.random.default_rng(0)
    x = (np.where(rng.random(20000) < 0.5, 0.3, 2.0) * np.exp(0.1 * rng.standard_normal(20000)))[:, None]
    k = args.components
    backbone = MLP((1,), width=128, depth=2, out_shape=(1, 3 * k), zero_init_output=True, rngs=nnx.Rngs(0))
    t0 = time.perf_counter()
    net = pmm_ppl.fit(process, MixtureHead(backbone, pair, k), x.astype(np.float32),
                      TrainConfig(batch_size=256, learning_rate=2e-3, warmup_steps=100, max_steps=args.steps,
                                  checkpoint_every=10**6, ema_warmup=2.0), weighting="elbo", log_score=1.0).net
    print(f"trained {args.steps} steps in {time.perf_counter() - t0:.0f} s (with compilation)")
    print(f"{'sampler':10s} {'T':>5s} {'lower share':>12s} {'SE':>7s}  exact 0.5")
    for sampler in ("plug_in", "ancestral"):
        for steps in args.sample_steps:
            s = np.asarray(process.sample(net, jax.random.key(1), args.num, (1,), num_steps=steps, sampler=sampler))
            share = float(np.mean(s < np.sqrt(0.6)))
            print(f"{sampler:10s} {steps:5d} {share:12.3f} {np.sqrt(share * (1 - share) / args.num):7.3f}")


if __name__ == "__main__":
    main()

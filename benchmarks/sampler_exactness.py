"""Sampler exactness with exact oracles, for every registered pair: one table.

Target: two atoms of the pair's data space (prior draws at the 10% / 90% quantiles) with weights
0.3 / 0.7; the denoiser is the exact oracle (its mean for the plug-in sampler, its per-coordinate
posterior for the ancestral sampler); the statistic is the share of samples nearer the first atom
(exact value 0.3), with its sampling SE; ``within_noise`` is ``|difference| <= 4 SE``
(:mod:`pmm_ppl.process.exactness`).  Rows ``plug_in/unit`` use a schedule of one trial per step
(a linear schedule with ``a_max = T``) for the pairs whose ``plug_in_exact`` is ``"unit_steps"``.  Pairs that are not linear
pairs (no exact oracle here) get one row saying so.

    .venv/bin/python benchmarks/sampler_exactness.py [--steps 50 200 800] [--num 4000]
"""

from __future__ import annotations

import argparse
import time
import warnings

import pmm_ppl
from pmm_ppl.conjugate.base import LinearPair
from pmm_ppl.process.exactness import check_sampler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[50, 200, 800])
    parser.add_argument("--num", type=int, default=4000, help="samples per row")
    parser.add_argument("--pairs", nargs="*", default=None, help="registered pair names (default: all)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # the plug-in sampler's warning on biased pairs: the table shows the bias
    start = time.perf_counter()
    print(f"{'pair':24s} {'class':10s} {'sampler':13s} {'T':>5s} {'share':>7s} {'exact':>6s} {'SE':>7s}  within_noise")
    for name in args.pairs or pmm_ppl.list_pairs():
        pair = pmm_ppl.get_pair(name)
        if not isinstance(pair, LinearPair):
            print(f"{name:24s} {pair.plug_in_exact:10s} {'-':13s} {'-':>5s}  no exact oracle here (not a linear pair)")
            continue
        runs = [(sampler, T, None) for T in args.steps for sampler in ("plug_in", "ancestral")]
        if pair.plug_in_exact == "unit_steps":
            runs += [("plug_in/unit", T, pmm_ppl.Process.for_pair(pair, kind="power", a_max=float(T))) for T in args.steps]
        for label, T, process in runs:
            row = check_sampler(pair, label.split("/")[0], T, args.num, process=process)
            print(f"{name:24s} {pair.plug_in_exact:10s} {label:13s} {T:5d} {row.statistic:7.4f} {row.exact:6.3f} "
                  f"{row.stderr:7.4f}  {'yes' if row.within_noise else 'no'}", flush=True)
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()

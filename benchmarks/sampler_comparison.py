"""Plug-in vs ancestral sampler on trained ready models, at several step counts, from one run:
the likelihood bound of each sampler's model (its own receiver) and sample-quality metrics next to
their held-out noise floors.

    .venv/bin/python benchmarks/sampler_comparison.py                     # digits_normal, digits_unet, shakespeare_chars
    .venv/bin/python benchmarks/sampler_comparison.py --models digits_normal --steps 64 256 --set '{"log_score": 1.0}'
    .venv/bin/python benchmarks/sampler_comparison.py --runs runs/cmp --reuse   # keep / reuse trained runs

Each model is trained once with its own budget (``--seconds`` caps it; 0 keeps the model's), then for
each sampler and each ``T``:

- ``bound``: the ``T``-step bound of that sampler's model (``receiver`` = the sampler; the ancestral
  receiver needs a distributional net: the digits models' level heads, and every token model), in the
  model's unit, on the first ``--bound-examples`` test examples;
- the quality metrics of :func:`pmm_ppl.train.evaluate.sample_quality` on ``--samples`` draws from the
  model (``output="draw"``): energy distance, and for labelled images the classifier's Frechet
  distance, precision and recall; for text the n-gram likelihood of the samples (bits/char).  The
  held-out figure (half b against half a) is the noise floor.

Token models are costly to bound at ``T`` steps (``T`` forward passes of a 256-character window per
example); ``--text-bound-examples`` keeps that small.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np

from pmm_ppl.train.checkpoint import latest_step
from pmm_ppl.train.evaluate import UNIT_NAMES, sample_quality, test_bound
from pmm_ppl.train.loop import train
from pmm_ppl.train.models import load_spec


def _trained(spec, run_dir: Path, reuse: bool):
    if reuse and latest_step(run_dir) is not None:
        state, rebuild = train(spec, run_dir, resume=True, progress=False)  # nothing left to do: loads it
    else:
        state, rebuild = train(spec, run_dir, progress=False)
    return state, rebuild


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["digits_normal", "digits_unet", "shakespeare_chars"])
    ap.add_argument("--steps", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--samplers", nargs="+", default=["plug_in", "ancestral"])
    ap.add_argument("--samples", type=int, default=256, help="samples per (sampler, T) for the quality metrics")
    ap.add_argument("--bound-examples", type=int, default=297, help="test examples for the bound (images)")
    ap.add_argument("--text-bound-examples", type=int, default=16, help="test windows for the bound (text)")
    ap.add_argument("--seconds", type=float, default=0.0, help="cap each model's training time (0: its own budget)")
    ap.add_argument("--runs", default="runs/sampler_comparison", help="where the trained runs go")
    ap.add_argument("--reuse", action="store_true", help="reuse finished runs in --runs instead of retraining")
    ap.add_argument("--set", default="{}", help="JSON overrides for every model's spec()")
    args = ap.parse_args()
    rows = []
    for name in args.models:
        overrides = json.loads(args.set)
        if args.seconds:
            overrides["max_seconds"] = args.seconds
        spec = load_spec(name, **overrides)
        t0 = time.perf_counter()
        state, rebuild = _trained(spec, Path(args.runs) / name, args.reuse)
        net = rebuild(state.ema)
        train_data, test = spec.load_data()
        labels = spec.load_labels() if getattr(spec, "load_labels", None) is not None else None
        text = spec.eval.unit == "char"
        print(f"[{name}] {int(state.step)} training steps ({time.perf_counter() - t0:.0f} s with loading)", flush=True)
        for sampler in args.samplers:
            for T in args.steps:
                t1 = time.perf_counter()
                bound = test_bound(spec, net, test, jax.random.key(1), num_steps=T, receiver=sampler,
                                   max_examples=args.text_bound_examples if text else args.bound_examples,
                                   batch_size=8 if text else 256)
                quality = sample_quality(spec, net, jax.random.key(2), train_data, test, num=args.samples, num_steps=T,
                                         sampler=sampler, labels=labels)
                metrics = {m.name: (m.value, m.reference) for m in quality.metrics}
                se = "" if bound.unit_se is None else f" +- {bound.unit_se:.4f}"  # nats/count: a ratio of sums, no SE
                rows.append((name, sampler, T, f"{bound.per_unit:.4f}{se} {UNIT_NAMES[bound.unit]}", metrics))
                print(f"  {sampler:9s} T={T:4d} bound {rows[-1][3]} "
                      + " ".join(f"{k}={v:.4g}(ref {r:.4g})" for k, (v, r) in metrics.items())
                      + f"  [{time.perf_counter() - t1:.0f} s]", flush=True)
    names = sorted({k for r in rows for k in r[4]})
    print("\n| model | sampler | T | bound | " + " | ".join(names) + " |")
    print("|---|---|---|---|" + "---|" * len(names))
    for name, sampler, T, bound_text, metrics in rows:
        cells = [f"{metrics[k][0]:.4g} ({metrics[k][1]:.4g})" if k in metrics else "" for k in names]
        print(f"| {name} | {sampler} | {T} | {bound_text} | " + " | ".join(cells) + " |")
    print("\n(in brackets: the held-out noise floor -- held-out half b against half a, or held-out text)")


if __name__ == "__main__":
    main()

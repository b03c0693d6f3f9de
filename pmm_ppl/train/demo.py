"""``pmm demo``: the README's main job.  Trains the embedded digits model (Normal-Normal, sklearn
digits, no download) on the CPU for its step budget (about a minute on 2 cores), then writes
``samples.png`` and ``report.txt`` with the test-set likelihood bound in bits/dim.

A second run into the same folder is refused before anything is touched (the message names the
files and ``--overwrite``); with ``overwrite=True`` the previous run's files (``run/``'s training
files, ``samples.png``, ``report.txt``) are replaced and anything else in the folder stays."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import numpy as np

from pmm_ppl.train.evaluate import draw_samples, test_bound
from pmm_ppl.train.loop import train, training_mesh
from pmm_ppl.train.models import load_spec
from pmm_ppl.train import checkpoint as ckpt
from pmm_ppl.train.output import image_grid, refuse_existing


def run_demo(out: Path, train_seconds: float | None = None, progress: bool = True, model: str = "digits_normal",
             overwrite: bool = False) -> dict:
    """Train, evaluate and sample ``model`` into ``out`` (``out/run``, ``samples.png``, ``report.txt``)."""
    out = Path(out)
    run_dir = out / "run"
    refuse_existing([out / "report.txt", out / "samples.png", *ckpt.existing_run_files(run_dir)], overwrite,
                    "a previous `pmm demo` output")
    t_start = time.perf_counter()
    overrides = {} if train_seconds is None else {"max_seconds": train_seconds, "max_steps": 10**9}
    spec = load_spec(model, **overrides)
    out.mkdir(parents=True, exist_ok=True)
    budget = f"{spec.train.max_steps} steps" if train_seconds is None else f"{train_seconds:.0f} s"
    devices = training_mesh(spec.train).size
    print(f"[demo] training {spec.name} for {budget} on {devices} {jax.default_backend()} device(s)")
    state, rebuild = train(spec, run_dir, progress=progress, overwrite=overwrite,
                           run_info={"model": model, "overrides": overrides})
    metrics = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines() if ln.strip()]
    net = rebuild(state.ema)
    _, test = spec.load_data()
    print("[demo] evaluating the test-set bound")
    bound = test_bound(spec, net, test, jax.random.key(1), progress=progress)
    print("[demo] " + bound.line())
    samples = draw_samples(spec, net, jax.random.key(2), 64)
    png = image_grid(samples, out / "samples.png", title=f"{spec.name}: {spec.sample_steps}-step PMM samples ({spec.default_sampler})")
    rate = float(np.median([m["examples_per_s"] for m in metrics[1:]])) if len(metrics) > 1 else float("nan")
    report = {
        "model": spec.name,
        "train_steps": int(state.step),
        "train_seconds": metrics[-1]["train_seconds"] if metrics else 0.0,
        "examples_per_second": rate,
        "final_loss": metrics[-1]["loss"] if metrics else None,
        "test_bound_nats_per_image": bound.nats_per_example,
        "test_bound_bits_per_dim": bound.bits_per_dim,
        "test_bound_bits_per_dim_se": bound.bits_se,
        "bound_steps": bound.num_steps,
        "sampler": spec.default_sampler,
        "samples_png": str(png),
        "total_seconds": time.perf_counter() - t_start,
    }
    text = "\n".join(f"{k}: {v}" for k, v in report.items())
    ckpt.atomic_write_text(out / "report.txt", text + "\n")
    print(text)
    return report

"""``fit``: the one training entry point for a process, a network and an array of data.

It runs the library's training loop (:func:`pmm_ppl.train.loop.train`: AdamW or Muon with warm-up and
cosine decay, global-norm clipping, an EMA of the weights, Orbax checkpoints, exact resumption) on
in-memory data, the loop that ``pmm train`` runs on a model file.  Notebooks and user code call
``fit``; a ready model in ``models/`` describes the same four things (process, net, data, config)
as a :class:`~pmm_ppl.train.spec.ModelSpec`.

    >>> result = pmm_ppl.fit(process, net, train_data, pmm_ppl.TrainConfig(max_steps=500))
    >>> result.net            # the trained denoiser (EMA weights), ready for process.sample / bound
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from pmm_ppl.conjugate.validation import PMMInputError
from pmm_ppl.process.process import Process
from pmm_ppl.train.loop import train
from pmm_ppl.train.spec import ModelSpec, TrainConfig


class FitResult(NamedTuple):
    """``net``: the trained denoiser with the EMA weights; ``raw_net``: with the last optimiser
    weights; ``metrics``: the rows of ``metrics.jsonl`` (step, loss, grad_norm, examples/s, seconds, devices);
    ``run_dir``: where the checkpoints are (``None`` when a temporary directory was used)."""

    net: Any
    raw_net: Any
    metrics: list[dict]
    run_dir: Path | None


def fit(
    process: Process,
    net: Any,
    train_data: Any,
    config: TrainConfig = TrainConfig(),
    *,
    weighting: str = "pmm",
    log_score: float = 0.0,
    encode: Callable[[Any], Any] | None = None,
    run_dir: str | Path | None = None,
    resume: bool = False,
    max_steps: int | None = None,
    max_seconds: float | None = None,
    progress: bool = False,
    name: str = "fit",
) -> FitResult:
    """Train ``net`` (a Flax NNX module called as ``net(mu, t)``) on ``train_data`` under ``process``.

    ``train_data``: an array ``(N, ...)`` in the pair's data space, or in a compact stored form that the
    jittable ``encode`` maps to it batch by batch (e.g. token indices -> one-hot).  ``config``: optimiser
    and budget (``max_steps`` / ``max_seconds`` override its limits).  ``weighting``: ``"pmm"``,
    ``"elbo"``, ``"plain"`` or ``"none"`` (the log score alone; :func:`pmm_ppl.process.objectives.pmm_loss`);
    ``log_score``: weight of the log score of a distributional net's per-coordinate posterior (level or mixture
    heads, tokens).  ``run_dir``: where
    checkpoints and metrics go (a temporary directory, removed afterwards, when ``None``); with
    ``resume=True`` training continues from its newest checkpoint.  ``net`` itself is not modified.
    """
    if not isinstance(process, Process):
        raise PMMInputError(f"process: expected a pmm_ppl.Process(pair, schedule), got {type(process).__name__}")
    if not isinstance(config, TrainConfig):
        raise PMMInputError(f"config: expected a pmm_ppl.TrainConfig, got {type(config).__name__}")
    process.check_denoiser(net)
    data = np.asarray(train_data)
    if data.ndim < 1 or data.shape[0] < 1:
        raise PMMInputError(f"train_data: expected examples on a leading axis, got shape {data.shape}")
    example = data[:1] if encode is None else np.asarray(encode(data[:1]))
    spec = ModelSpec(
        name=name,
        pair=process.pair,
        schedule=process.schedule,
        make_net=lambda seed: net,
        load_data=lambda: (data, data[:0]),
        data_shape=tuple(int(d) for d in example.shape[1:]),
        weighting=weighting,
        log_score=log_score,
        train=config,
        encode=encode,
    )
    with tempfile.TemporaryDirectory(prefix="pmm-fit-") if run_dir is None else contextlib.nullcontext(run_dir) as directory:
        state, rebuild = train(spec, directory, resume=resume, max_steps=max_steps, max_seconds=max_seconds,
                               progress=progress, train_data=data)
        metrics_path = Path(directory) / "metrics.jsonl"
        metrics = [json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip()] if metrics_path.exists() else []
    return FitResult(rebuild(state.ema), rebuild(state.params), metrics, None if run_dir is None else Path(run_dir))


__all__ = ["FitResult", "fit"]

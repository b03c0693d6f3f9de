"""The training loop: data order, sharding over local devices, progress, metrics, checkpoints.

Determinism: the batch at step ``s`` and the step's random key are pure functions of
``(seed, s)``, so ``--resume`` after a kill -9 replays exactly the steps an uninterrupted run
would have taken (a test checks bit-equality of the final weights).

Data parallelism: with more than one local device the batch is split over a 1-D mesh axis
``"data"`` and the state is replicated (``jax.sharding``); XLA inserts the gradient all-reduce.
Across hosts, call ``jax.distributed.initialize()`` before training (``pmm train --distributed``)
and launch one process per host: ``jax.devices()`` then spans all hosts and each process feeds
its share of the batch (``jax.make_array_from_process_local_data``).
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from tqdm.auto import tqdm

from pmm_ppl.data.batches import iterate_batches
from pmm_ppl.train import checkpoint as ckpt
from pmm_ppl.train.spec import ModelSpec
from pmm_ppl.train.step import TrainState, init_state, make_optimizer, make_train_step, pmm_loss_of_params, split_net


def build(spec: ModelSpec, seed: int | None = None):
    """Net, weights, optimiser, jitted step and rebuild function for ``spec``."""
    cfg = spec.train
    seed = cfg.seed if seed is None else seed
    net = spec.make_net(seed)
    params, rebuild = split_net(net)
    optimizer = make_optimizer(cfg)
    loss_fn = pmm_loss_of_params(spec, rebuild)
    step_fn = make_train_step(loss_fn, optimizer, cfg.ema_decay, jax.random.key(seed + 1), cfg.ema_warmup)
    return params, rebuild, optimizer, step_fn


def data_mesh() -> jax.sharding.Mesh:
    return jax.make_mesh((jax.device_count(),), ("data",))


def _append_metrics(path: Path, rows: list[dict]) -> None:
    with path.open("a") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
        f.flush()


def _truncate_metrics(path: Path, last_step: int) -> None:
    if not path.exists():
        return
    keep = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln).get("step", 0) <= last_step]
    path.write_text("".join(ln + "\n" for ln in keep))


def train(
    spec: ModelSpec,
    run_dir: str | Path,
    *,
    resume: bool = False,
    max_steps: int | None = None,
    max_seconds: float | None = None,
    progress: bool = True,
    train_data: np.ndarray | None = None,
) -> tuple[TrainState, Any]:
    """Train ``spec`` into ``run_dir``; returns the final state and the ``rebuild`` function.

    Stops at ``max_steps`` (default ``spec.train.max_steps``) or after ``max_seconds`` of
    training wall time.  Saves a checkpoint every ``checkpoint_every`` steps, at the end, and on
    SIGINT/SIGTERM (the run can be resumed with ``resume=True``)."""
    run_dir = Path(run_dir)
    cfg = spec.train
    max_steps = cfg.max_steps if max_steps is None else max_steps
    max_seconds = cfg.max_seconds if max_seconds is None else max_seconds
    if train_data is None:
        train_data, _ = spec.load_data()
    train_data = np.asarray(train_data, dtype=np.float32) if spec.encode is None else np.asarray(train_data)
    spec.pair.validate_data(np.asarray(spec.to_data(train_data[:256])), name=f"{spec.name} training data")

    params, rebuild, optimizer, step_fn = build(spec)
    state = init_state(params, optimizer)
    metrics_path = run_dir / "metrics.jsonl"
    if resume and ckpt.latest_step(run_dir) is not None:
        ckpt.check_spec(run_dir, spec.fingerprint())
        restored, meta = ckpt.restore(run_dir, state)
        state = jax.tree_util.tree_map(jnp.asarray, restored)
        _truncate_metrics(metrics_path, int(state.step))
        elapsed0 = float(meta.get("train_seconds", 0.0))
    else:
        if (run_dir / "checkpoints").exists() and ckpt.latest_step(run_dir) is not None:
            raise ckpt.CheckpointError(f"{run_dir} already holds checkpoints; pass resume=True (--resume) or use a new directory")
        ckpt.write_spec(run_dir, spec.fingerprint())
        metrics_path.parent.mkdir(parents=True, exist_ok=True)
        metrics_path.write_text("")
        elapsed0 = 0.0

    mesh = data_mesh()
    ndev = mesh.size
    if cfg.batch_size % ndev:
        raise ValueError(f"batch_size {cfg.batch_size} is not divisible by the {ndev} devices")
    replicated = NamedSharding(mesh, P())
    batch_sharding = NamedSharding(mesh, P("data"))
    state = jax.device_put(state, replicated)
    jstep = jax.jit(step_fn, donate_argnums=0)
    saver = ckpt.Checkpointer(run_dir)

    stop = {"flag": False}

    def _handler(signum, frame):
        stop["flag"] = True

    old_handlers = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    start_step = int(state.step)
    t0 = time.perf_counter()
    pending: list[dict] = []
    bar = tqdm(total=max_steps, initial=start_step, disable=not progress, desc=spec.name, dynamic_ncols=True)
    last_log_t, last_log_step = t0, start_step
    step = start_step
    try:
        for data_step, host_batch in iterate_batches(train_data, cfg.seed, cfg.batch_size, start_step=step):
            if step >= max_steps or stop["flag"]:
                break
            if max_seconds is not None and elapsed0 + time.perf_counter() - t0 >= max_seconds:
                break
            batch = jax.device_put(host_batch, batch_sharding)
            state, m = jstep(state, batch)
            step += 1
            if step == start_step + 1:  # the training-time budget excludes compilation
                jax.block_until_ready(m["loss"])
                t0 = last_log_t = time.perf_counter() - 1e-3
            if step % cfg.log_every == 0 or step == max_steps:
                now = time.perf_counter()
                loss = float(m["loss"])
                if not np.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss} at step {step}; last checkpoint is kept")
                rate = (step - last_log_step) * cfg.batch_size / max(now - last_log_t, 1e-9)
                row = {"step": step, "loss": loss, "grad_norm": float(m["grad_norm"]), "examples_per_s": rate,
                       "train_seconds": elapsed0 + now - t0}
                pending.append(row)
                bar.set_postfix(loss=f"{loss:.4g}", ex_s=f"{rate:.0f}")
                last_log_t, last_log_step = now, step
            bar.update(1)
            if step % cfg.checkpoint_every == 0:
                _append_metrics(metrics_path, pending)
                pending = []
                saver.save(step, state, {"train_seconds": elapsed0 + time.perf_counter() - t0})
    finally:
        bar.close()
        for s, h in old_handlers.items():
            signal.signal(s, h)
        _append_metrics(metrics_path, pending)
        if step > start_step and ckpt.latest_step(run_dir) != step:
            saver.save(step, state, {"train_seconds": elapsed0 + time.perf_counter() - t0})
        saver.close()
    return state, rebuild


def load_trained(spec: ModelSpec, run_dir: str | Path, use_ema: bool = True) -> nnx.Module:
    """The trained denoiser of ``run_dir`` (EMA weights by default) as an NNX module."""
    run_dir = Path(run_dir)
    ckpt.check_spec(run_dir, spec.fingerprint())
    params, rebuild, optimizer, _ = build(spec)
    state, _ = ckpt.restore(run_dir, init_state(params, optimizer))
    return rebuild(jax.tree_util.tree_map(jnp.asarray, state.ema if use_ema else state.params))

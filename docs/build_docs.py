"""Build the documentation site: ``./run.sh docs [--out DIR] [--no-execute]``.

1. Every notebook in ``notebooks/`` is taken from ``.cache/executed_notebooks/`` if fresh, else
   executed now and stored there (``notebook_cache.py``); the executed ``.ipynb`` files are copied
   into ``docs/notebooks/`` (generated, git-ignored).
2. ``sphinx-build -W --keep-going -n -b html docs OUT`` (warnings and broken references fail it).
3. Prints the path of the built ``index.html``.

``--no-execute`` renders only the notebooks that have a fresh execution in the cache (a quick look
at the guides or the API pages); the others are left out of the site, and a line says which.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS))

import notebook_cache  # noqa: E402


def stage_notebooks(execute: bool = True) -> list[Path]:
    """Copy the executed notebooks into ``docs/notebooks/``; return the ones staged."""
    import nbformat

    target = DOCS / "notebooks"
    target.mkdir(exist_ok=True)
    paths = notebook_cache.notebooks()
    log = lambda msg: print(f"[docs] {msg}", flush=True)  # noqa: E731
    if execute:
        executed = notebook_cache.executed_all(paths, log=log)
    else:
        executed = {p: nb for p in paths if (nb := notebook_cache.load_fresh(p)) is not None}
        for p in paths:
            if p not in executed:
                log(f"{p.name}: no fresh execution in the cache, left out (--no-execute)")
    staged = []
    for path, nb in executed.items():
        out = target / f"{path.stem}.ipynb"
        text = nbformat.writes(nb)
        if not out.exists() or out.read_text(encoding="utf-8") != text:  # keep mtimes: incremental builds
            out.write_text(text, encoding="utf-8")
        staged.append(out)
    for stale in target.glob("*.ipynb"):
        if stale not in staged:
            stale.unlink()
    note = target / "zz_not_rendered.md"  # sorts last in the Notebooks section
    left_out = [p.name for p in paths if p not in executed]
    if left_out:
        note.write_text("# Notebooks not rendered\n\nThis build ran with `--no-execute`, and these notebooks had no "
                        "fresh execution in `.cache/executed_notebooks/`:\n\n"
                        + "".join(f"* `notebooks/{name}`\n" for name in left_out), encoding="utf-8")
    else:
        note.unlink(missing_ok=True)
    return staged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run.sh docs", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(DOCS / "_build" / "html"), help="output folder (default docs/_build/html)")
    parser.add_argument("--no-execute", action="store_true", help="do not execute notebooks missing from the cache")
    parser.add_argument("--clean", action="store_true", help="remove the output folder first (a full rebuild)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    stage_notebooks(execute=not args.no_execute)
    staged_s = time.perf_counter() - start
    out = Path(args.out).resolve()
    if args.clean and out.exists():
        shutil.rmtree(out)
    from sphinx.cmd.build import build_main

    code = build_main(["-E", "-W", "--keep-going", "-n", "-q", "-b", "html", "-d", str(out / ".doctrees"), str(DOCS), str(out)])
    took = time.perf_counter() - start
    if code != 0:
        print(f"[docs] sphinx-build failed (exit {code}) after {took:.0f} s", file=sys.stderr)
        return code
    print(f"[docs] built in {took:.0f} s (notebooks {staged_s:.0f} s)")
    print(out / "index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Source hygiene: every Python file of the project compiles without a SyntaxWarning or
DeprecationWarning (an invalid escape such as ``"\\l"`` in a docstring warns on Python 3.12, where the
GPU machine runs, and will become an error)."""

from __future__ import annotations

import pathlib
import warnings

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOURCES = sorted(p for folder in ("pmm_ppl", "models", "benchmarks", "tests", "docs", "notebooks")
                 for p in (ROOT / folder).rglob("*.py"))


def test_sources_found():
    assert len(SOURCES) > 50


@pytest.mark.parametrize("folder", ["pmm_ppl", "models", "benchmarks", "tests", "docs", "notebooks"])
def test_compiles_without_warnings(folder):
    bad = []
    for path in (p for p in SOURCES if p.relative_to(ROOT).parts[0] == folder):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                compile(path.read_text(), str(path), "exec")
            except (SyntaxError, SyntaxWarning, DeprecationWarning) as err:
                bad.append(f"{path.relative_to(ROOT)}: {err}")
    assert not bad, "\n".join(bad)

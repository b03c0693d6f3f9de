"""Suite-wide set-up: one persistent JAX compilation cache per test run.

Many tests compile the same XLA programs in different processes: the ``pmm`` commands that the
CLI, training and own-data tests start as subprocesses (a kill -9 test trains, is killed, and
resumes: three compiles of one train step), the notebook kernels, the docs build, and the two
xdist workers. JAX's persistent compilation cache (``JAX_COMPILATION_CACHE_DIR``) stores each
compiled program keyed by its HLO, the compile options and the jax/jaxlib versions, so a second
process that compiles the same program loads the executable instead (``tests/test_train.py`` alone, one
process: 82 s -> 42 s on 2 shared cores, from an empty cache).

The cache is a fresh temporary folder made by the first pytest process of a run (the xdist
controller, or the only process with ``-p no:xdist``), inherited by the workers and every
subprocess through the environment, and removed when the run ends: a run never reuses programs
compiled by an earlier run, so a fresh machine times the same as a warm one. What runs is the
same program either way (the cache stores XLA's output, it does not change it). A cache folder set
by the user (``JAX_COMPILATION_CACHE_DIR`` in the environment) is used as it is and kept.

Each test module ends by dropping JAX's in-memory compiled programs (:func:`_release_compiled_programs`), so a
worker does not run out of memory mappings.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

import pytest

_CACHE_ENV = "JAX_COMPILATION_CACHE_DIR"
_made_cache: str | None = None


def pytest_configure(config):
    """The persistent compilation cache (above), and one CPU device for the tests' own process: a test that
    calls ``pmm_ppl.cli.main`` in-process before any other JAX computation would otherwise present the
    worker's CPU as one device per core (``pmm_ppl.train.cpu_devices``) for every later test of that worker.
    This overrides ``XLA_FLAGS`` / ``JAX_NUM_CPU_DEVICES`` in the tests' own process; the ``pmm`` commands
    started as subprocesses keep the command's default."""
    global _made_cache
    if _CACHE_ENV not in os.environ:  # not set by the user, nor by this run's controller (a worker inherits it)
        _made_cache = tempfile.mkdtemp(prefix="pmm-jax-cache-")
        os.environ[_CACHE_ENV] = _made_cache
        # every program, not only those that took over 1 s to compile: the small ones recur most
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    if "jax" in sys.modules:  # imported before this hook (a plugin): JAX read its settings already
        import jax

        jax.config.update("jax_compilation_cache_dir", os.environ[_CACHE_ENV])
        jax.config.update("jax_persistent_cache_min_compile_time_secs",
                          float(os.environ.get("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1")))
    import jax

    try:
        jax.config.update("jax_num_cpu_devices", 1)
    except RuntimeError:  # a plugin computed already: JAX keeps the count it started with
        pass


def pytest_unconfigure(config):
    if _made_cache is not None:
        shutil.rmtree(_made_cache, ignore_errors=True)


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """After each test module, drop JAX's in-memory caches of compiled programs.  Every XLA:CPU executable
    holds memory mappings for its JIT-compiled code; a worker that keeps all the suite's programs alive
    passes the kernel's limit of 65,530 mappings per process (``vm.max_map_count``) and LLVM aborts in
    whichever compile or cache load comes next ("Fatal Python error: Aborted" in a late test; 27 tests of
    ``test_sampler.py``, ``test_elbo.py`` and ``test_optimizer.py`` left a worker with about 7,000 to 9,000
    mappings, about 1,100 after this).  A program a later module needs again is reloaded from the run's
    persistent cache."""
    yield
    if "jax" in sys.modules:
        import gc

        import jax

        jax.clear_caches()
        gc.collect()

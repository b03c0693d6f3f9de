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

Each xdist worker gets its own subfolder of the run's cache (its subprocesses inherit it): two workers
compiling the same program at the same moment made one of them abort inside JAX's cache (a worker crash in
``compilation_cache.put_executable_and_time``, and in another run in ``get_executable_and_time``, both while
the two workers ran the same NUTS programs of ``tests/test_verify.py``), so no cache folder is shared by two
processes that run at the same time.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

_CACHE_ENV = "JAX_COMPILATION_CACHE_DIR"
_MADE_BY_RUN = "PMM_TEST_RUN_MADE_JAX_CACHE"  # set with the cache this run made (not a user's folder)
_made_cache: str | None = None


def pytest_configure(config):
    global _made_cache
    if _CACHE_ENV not in os.environ:  # not set by the user, nor by this run's controller (a worker inherits it)
        _made_cache = tempfile.mkdtemp(prefix="pmm-jax-cache-")
        os.environ[_CACHE_ENV] = _made_cache
        os.environ[_MADE_BY_RUN] = _made_cache
        # every program, not only those that took over 1 s to compile: the small ones recur most
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and os.environ.get(_MADE_BY_RUN) == os.environ[_CACHE_ENV]:  # a worker of the run that made it
        own = os.path.join(os.environ[_CACHE_ENV], worker)
        os.makedirs(own, exist_ok=True)
        os.environ[_CACHE_ENV] = own
    if "jax" in sys.modules:  # imported before this hook (a plugin): JAX read its settings already
        import jax

        jax.config.update("jax_compilation_cache_dir", os.environ[_CACHE_ENV])
        jax.config.update("jax_persistent_cache_min_compile_time_secs",
                          float(os.environ.get("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1")))


def pytest_unconfigure(config):
    if _made_cache is not None:
        shutil.rmtree(_made_cache, ignore_errors=True)

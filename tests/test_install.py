"""The package works when installed as a wheel, not only from the source checkout.

One test builds a wheel from a clean copy of the source tree, installs it *with its dependencies*
into a fresh virtual environment (pip takes them from its cache, warm after ``run.sh``'s install,
or from PyPI), and runs the README's commands from an empty temporary directory, so nothing of the
checkout (``models/``, ``pmm_ppl/``) can be found by accident:

* ``pmm demo --seconds 5`` (the main job, trained for 5 s instead of its budget);
* ``pmm train digits_unet --steps 5`` (a ready model, found inside the installed package);
* ``pmm verify normal_normal``.

It also checks that building the wheel prints no deprecation warning caused by our own
``pyproject.toml`` / ``setup.py`` (``pip wheel -v`` shows the backend's output). Time: see ``INSTALL_TIME_NOTE``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: what a clean copy of the source leaves out (git-ignored outputs and environments)
IGNORED = shutil.ignore_patterns(".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".cache",
                                 ".pytest_cache", ".hypothesis", "runs", "demo_out", "_build", "*.ipynb")
INSTALL_TIME_NOTE = ("about 2.5 minutes on 2 shared cores: wheel 2 s, install 19 s (warm pip cache, --no-compile; "
                     "47-153 s with .pyc compilation), demo 40 s, train 58 s, verify 18 s")


def _run(cmd: list[str], cwd: Path, env: dict, timeout: float) -> subprocess.CompletedProcess:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    took = time.perf_counter() - start
    print(f"[{took:5.1f} s] {' '.join(map(str, cmd))}", flush=True)
    assert proc.returncode == 0, (
        f"{' '.join(map(str, cmd))} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}")
    return proc


@pytest.mark.slow
def test_wheel_installs_and_runs_from_another_directory(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PMM_MODELS_DIR", "VIRTUAL_ENV")}
    env.update(JAX_PLATFORMS="cpu", PYTHONWARNINGS="default", PIP_DISABLE_PIP_VERSION_CHECK="1")

    # 1. a wheel from a clean copy (a stale build/ in the checkout could otherwise leak into it)
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=IGNORED)
    dist = tmp_path / "dist"
    built = _run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", str(dist), str(src)], tmp_path, env, 600)
    wheels = list(dist.glob("pmm_ppl-*.whl"))
    assert len(wheels) == 1, built.stdout
    build_log = built.stdout + built.stderr
    for bad in ("DeprecationWarning", "is deprecated", "License classifiers"):
        assert bad not in build_log, f"building the wheel warns: {bad}\n{build_log[-3000:]}"

    # 2. a fresh virtual environment; the wheel is installed with its dependencies
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    bin_dir = env_dir / "bin"
    # (--no-compile: no .pyc files for the ~600 MB of dependencies, which only speeds up later imports)
    _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "--no-compile", str(wheels[0])], tmp_path, env, 900)

    # 3. the commands, from an empty directory
    work = tmp_path / "elsewhere"
    work.mkdir()
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    pmm = str(bin_dir / "pmm")
    located = _run([str(bin_dir / "python"), "-c",
                    "import pmm_ppl; from pmm_ppl.train.models import models_dir; print(pmm_ppl.__file__); print(models_dir())"],
                   work, env, 300).stdout.split()
    assert all(str(env_dir) in p for p in located), f"not the installed copy: {located}"

    demo = _run([pmm, "demo", "--seconds", "5", "--quiet", "--out", "demo_out"], work, env, 600)
    assert (work / "demo_out" / "samples.png").stat().st_size > 0, demo.stdout
    assert "test_bound_bits_per_dim" in (work / "demo_out" / "report.txt").read_text()

    _run([pmm, "train", "digits_unet", "--steps", "5", "--quiet"], work, env, 600)
    assert (work / "runs" / "digits_unet" / "checkpoints").is_dir()
    verify = _run([pmm, "verify", "normal_normal"], work, env, 600)
    assert "normal_normal" in verify.stdout

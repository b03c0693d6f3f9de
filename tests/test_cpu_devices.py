"""The CPU as several JAX devices (``pmm_ppl/train/cpu_devices.py``), and how many devices split a batch.

JAX reads the CPU device count once per process, so everything that sets it runs in a subprocess.  (The same
step on one and on two devices giving the same losses: ``tests/test_train.py``, data parallelism.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pmm_ppl.conjugate.validation import PMMInputError
from pmm_ppl.train.cpu_devices import available_cores
from pmm_ppl.train.loop import data_device_count
from pmm_ppl.train.spec import TrainConfig

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("batch, available, limit, expected", [
    (32, 2, None, 2), (32, 1, None, 1), (64, 16, None, 16), (12, 16, None, 12),  # as many as there are, or rows
    (30, 4, None, 3), (7, 4, None, 1), (9, 2, None, 1),  # the largest count that divides the batch
    (64, 16, 1, 1), (64, 16, 4, 4), (8, 2, 5, 2), (30, 8, 4, 3),  # at most the limit
])
def test_data_device_count_is_the_largest_divisor_within_reach(batch, available, limit, expected):
    assert data_device_count(batch, available, limit) == expected


def test_cpu_data_devices_is_checked_and_does_not_shape_the_trajectory():
    with pytest.raises(PMMInputError, match="cpu_data_devices"):
        TrainConfig(cpu_data_devices=0)
    with pytest.raises(PMMInputError, match="cpu_data_devices"):
        TrainConfig(cpu_data_devices=1.5)
    # where a step runs is not what it computes: a run resumes on another count (equal to rounding)
    assert TrainConfig(cpu_data_devices=2).trajectory() == TrainConfig(cpu_data_devices=None).trajectory() == \
        TrainConfig().trajectory()


PROBE = """
import json, sys
from pmm_ppl.train.cpu_devices import use_cpu_devices
count, compute_first = json.loads(sys.argv[1]), sys.argv[2] == "compute_first"
import jax
if compute_first:
    jax.numpy.zeros(3).block_until_ready()
out = {"set": use_cpu_devices(count), "devices": jax.device_count()}
jax.numpy.zeros(3).block_until_ready()
out["same"] = use_cpu_devices(out["devices"])  # the count JAX runs with: accepted
try:
    use_cpu_devices(out["devices"] + 1)
    out["late"] = "no error"
except RuntimeError as err:
    out["late"] = str(err)
print(json.dumps(out))
"""


def _env(**settings) -> dict:
    """This process's environment without a CPU device count of the user's, plus ``settings``, on the CPU."""
    clean = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_NUM_CPU_DEVICES")}
    return {**clean, **settings, "JAX_PLATFORMS": "cpu"}


def _probe(count, env: dict, compute_first: bool = False) -> dict:
    command = [sys.executable, "-c", PROBE, json.dumps(count), "compute_first" if compute_first else "-"]
    out = subprocess.run(command, env=_env(**env), cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


XLA_THREE = {"XLA_FLAGS": "--xla_force_host_platform_device_count=3"}


@pytest.mark.parametrize("count, env, compute_first, expected_set, expected_devices", [
    (None, {}, False, "cores", "cores"),  # the default: one device per core
    (None, XLA_THREE, False, None, 3),  # a user's XLA flag stands
    (None, {"JAX_NUM_CPU_DEVICES": "3"}, False, None, 3),  # so does JAX's own setting
    (2, XLA_THREE, False, 2, 2),  # an explicit count (pmm --cpu-devices) overrides both
    (None, {}, True, None, 1),  # JAX computed already: the default changes nothing
], ids=["default", "xla-flag-stands", "jax-setting-stands", "explicit-wins", "after-a-computation"])
def test_use_cpu_devices(count, env, compute_first, expected_set, expected_devices):
    cores = available_cores()
    out = _probe(count, env, compute_first)
    assert out["set"] == (cores if expected_set == "cores" else expected_set)
    assert out["devices"] == (cores if expected_devices == "cores" else expected_devices)
    # once JAX has computed, its own count is accepted and another is refused by name
    assert out["same"] == out["devices"]
    assert "cpu devices" in out["late"] and "before the first JAX computation" in out["late"], out["late"]


TINY = {"width": 32, "depth": 1, "batch_size": 64, "warmup_steps": 5, "decay_steps": 1000, "log_every": 5,
        "max_steps": 10, "max_seconds": None, "checkpoint_every": 1000}


@pytest.mark.parametrize("option, overrides, expected", [
    ([], {}, 1), ([], {"cpu_data_devices": None}, "per-core"), (["--cpu-devices", "2"], {"cpu_data_devices": 2}, 2),
    (["--cpu-devices", "2"], {"cpu_data_devices": None}, 2), (["--cpu-devices", "1"], {"cpu_data_devices": 2}, 1),
], ids=["default-one", "all-per-core", "two-of-two", "all-of-two", "one-presented"])
def test_pmm_train_splits_batches_over_the_cores(tmp_path, option, overrides, expected):
    """``pmm train`` presents one CPU device per core (``pmm --cpu-devices N``: N) and splits each batch over as
    many as divide it, at most the model's ``cpu_data_devices`` (default 1); the cases with ``--cpu-devices``
    check the split and the cap on a machine of any size; every metrics row records the count."""
    command = [sys.executable, "-m", "pmm_ppl.cli", *option, "train", "toy2d_normal", "--run-dir",
               str(tmp_path / "run"), "--quiet", "--set", json.dumps({**TINY, **overrides})]
    out = subprocess.run(command, env=_env(), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    want = data_device_count(64, available_cores()) if expected == "per-core" else expected
    assert [r["devices"] for r in rows] == [want, want]


RESUME = """
import json, sys
from pathlib import Path
from pmm_ppl.train.cpu_devices import use_cpu_devices
use_cpu_devices(2)
import jax, numpy as np
from pmm_ppl.train import checkpoint
from pmm_ppl.train.loop import train
from pmm_ppl.train.models import load_spec
root, settings = Path(sys.argv[1]), json.loads(sys.argv[2])
spec = lambda **kw: load_spec("toy2d_normal", **{**settings, **kw})
leaves = lambda s: [np.asarray(x) for x in jax.tree_util.tree_leaves((s.params, s.ema, s.opt_state))]
straight, _ = train(spec(max_steps=10, checkpoint_every=10), root / "a", progress=False)
train(spec(max_steps=5, checkpoint_every=5), root / "b", progress=False)
saved_at, first_rows = checkpoint.latest_step(root / "b"), (root / "b" / "metrics.jsonl").read_text()
resumed, _ = train(spec(max_steps=10, checkpoint_every=5), root / "b", resume=True, progress=False)
a, b = leaves(straight), leaves(resumed)
text = (root / "b" / "metrics.jsonl").read_text()
rows = [json.loads(line) for line in text.splitlines()]
print(json.dumps({"leaves": len(a), "equal": len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b)),
                  "devices": sorted({r["devices"] for r in rows}), "steps": [r["step"] for r in rows],
                  "saved_at": saved_at, "kept_rows": text.startswith(first_rows)}))
"""


@pytest.mark.slow
def test_a_run_split_over_two_devices_resumes_bit_for_bit(tmp_path):
    """Split over two CPU devices (Muon; the weights and optimiser state replicated, each batch split): 5 steps,
    then a resume to 10, end bit-equal to 10 steps in one go on the same count.  The resume continues from the
    step-5 checkpoint: the first run's metrics rows are kept as they were (a fresh start would rewrite them)."""
    settings = {**TINY, "cpu_data_devices": 2, "optimizer": "muon"}
    command = [sys.executable, "-c", RESUME, str(tmp_path), json.dumps(settings)]
    out = subprocess.run(command, env=_env(), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["saved_at"] == 5 and result["kept_rows"], result
    assert result["devices"] == [2] and result["steps"] == [5, 10], result
    assert result["leaves"] > 0 and result["equal"], result


@pytest.mark.parametrize("text, expected", [
    ("max 100000\n", None), ("200000 100000\n", 2), ("150000 100000\n", 2), ("50000 100000\n", 1),
    ("garbage\n", None), (None, None),
], ids=["no-quota", "two-cpus", "rounded-up", "at-least-one", "unreadable", "missing"])
def test_a_cgroup_quota_limits_the_cores(tmp_path, text, expected):
    from pmm_ppl.train.cpu_devices import _cgroup_cpu_limit

    path = tmp_path / "cpu.max"
    if text is not None:
        path.write_text(text)
    assert _cgroup_cpu_limit(str(path)) == expected


@pytest.mark.parametrize("argv, expected", [
    (["train", "toy2d_normal"], [None]),  # the default: one device per core
    (["train", "toy2d_normal", "--distributed"], []),  # multi-host: JAX's own count, nothing presented
    (["--cpu-devices", "2", "train", "toy2d_normal", "--distributed"], [2]),  # an explicit count still stands
], ids=["default", "distributed", "distributed-explicit"])
def test_pmm_presents_cpu_devices_unless_distributed(monkeypatch, argv, expected):
    from pmm_ppl import cli
    from pmm_ppl.train import command, cpu_devices

    calls = []
    monkeypatch.setattr(cpu_devices, "use_cpu_devices", lambda count=None: calls.append(count))
    monkeypatch.setattr(command, "cmd_train", lambda args: calls.append("train") or 0)  # the branch only
    assert cli.main(argv) == 0
    assert calls == [*expected, "train"]  # the count is set before the command runs

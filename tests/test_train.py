"""Training: exact resume after kill -9, data parallelism, checkpoint errors, one-step smoke test.

Uses the 2-D toy model (models/toy2d_normal.py) shrunk to a tiny net so each run takes seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from pmm_ppl.train import checkpoint as ckpt
from pmm_ppl.train.loop import load_trained, train
from pmm_ppl.train.models import load_spec

REPO = Path(__file__).resolve().parents[1]
TINY = {"width": 32, "depth": 1, "batch_size": 64, "warmup_steps": 5, "decay_steps": 1000, "log_every": 5, "max_seconds": None}


def tiny_spec(**kw):
    return load_spec("toy2d_normal", **{**TINY, **kw})


def _leaves(state):
    return [np.asarray(x) for x in jax.tree_util.tree_leaves((state.params, state.ema, state.opt_state))]


def test_one_step_smoke(tmp_path):
    """A few steps run, the loss is finite, the metrics log and a checkpoint are written."""
    spec = tiny_spec(max_steps=10, checkpoint_every=5)
    state, rebuild = train(spec, tmp_path, progress=False)
    assert int(state.step) == 10
    rows = [json.loads(ln) for ln in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [5, 10]
    assert all(np.isfinite(r["loss"]) for r in rows)
    assert ckpt.latest_step(tmp_path) == 10
    net = rebuild(state.ema)
    out = net(np.zeros((3, 2), np.float32), np.full((3,), 0.5, np.float32))
    assert out.shape == (3, 2)


def test_resume_after_kill_9_matches_uninterrupted(tmp_path):
    """Kill -9 a training process after its first checkpoint, resume it: the final weights, EMA and
    optimiser state equal those of an uninterrupted run bit for bit."""
    steps, every = 120, 20
    ref_state, _ = train(tiny_spec(max_steps=steps, checkpoint_every=every), tmp_path / "ref", progress=False)

    run = tmp_path / "killed"
    overrides = {**TINY, "max_steps": 100_000, "checkpoint_every": every}
    (run).mkdir()
    (run / "model.json").write_text(json.dumps({"model": "toy2d_normal", "overrides": overrides}))
    cmd = [sys.executable, "-m", "pmm_ppl.cli", "train", "toy2d_normal", "--run-dir", str(run), "--quiet",
           "--set", json.dumps(overrides)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            step = ckpt.latest_step(run) if (run / "checkpoints").exists() else None
            if step is not None and step >= 2 * every or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"training process ended early: {proc.stderr.read().decode()[-2000:]}"
        os.kill(proc.pid, signal.SIGKILL)  # no chance to clean up or save
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed_at = ckpt.latest_step(run)
    assert killed_at is not None and killed_at < steps

    resumed, _ = train(tiny_spec(max_steps=steps, checkpoint_every=every), run, resume=True, progress=False)
    assert int(resumed.step) == steps
    for a, b in zip(_leaves(ref_state), _leaves(resumed)):
        np.testing.assert_array_equal(a, b)


def test_fresh_run_refuses_existing_checkpoints(tmp_path):
    spec = tiny_spec(max_steps=5, checkpoint_every=5)
    train(spec, tmp_path, progress=False)
    with pytest.raises(ckpt.CheckpointError, match="resume"):
        train(spec, tmp_path, progress=False)


def test_mismatched_checkpoint_is_a_clear_error(tmp_path):
    train(tiny_spec(max_steps=5, checkpoint_every=5), tmp_path, progress=False)
    # another net size, same spec fingerprint: array shapes differ
    with pytest.raises(ckpt.CheckpointError, match="do not match|cannot restore"):
        load_trained(tiny_spec(width=48), tmp_path)
    # another schedule: the fingerprint differs
    with pytest.raises(ckpt.CheckpointError, match="different model"):
        load_trained(tiny_spec(a_max=50.0), tmp_path)


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    spec = tiny_spec(max_steps=5, checkpoint_every=5)
    train(spec, tmp_path, progress=False)
    files = [p for p in (tmp_path / "checkpoints").rglob("*") if p.is_file() and p.stat().st_size > 0]
    for p in files:  # overwrite every file of the checkpoint with garbage
        p.write_bytes(b"\x00garbage" * 8)
    with pytest.raises(ckpt.CheckpointError):
        load_trained(spec, tmp_path)
    (tmp_path / "spec.json").write_text("{not json")
    with pytest.raises(ckpt.CheckpointError, match="corrupt"):
        load_trained(spec, tmp_path)


def test_data_parallel_two_devices_same_loss(tmp_path):
    """Two forced host devices (batch split over a 'data' mesh axis) give the same losses as one."""
    script = (
        "import json, sys; from pmm_ppl.train.models import load_spec; from pmm_ppl.train.loop import train; "
        "import jax; "
        f"spec = load_spec('toy2d_normal', **{TINY!r}, max_steps=20, checkpoint_every=1000); "
        "train(spec, sys.argv[1], progress=False); "
        "rows = [json.loads(l) for l in open(sys.argv[1] + '/metrics.jsonl')]; "
        "print(json.dumps({'devices': jax.device_count(), 'loss': [r['loss'] for r in rows]}))"
    )
    results = {}
    for n in (1, 2):
        env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={n}", "JAX_PLATFORMS": "cpu"}
        out = subprocess.run([sys.executable, "-c", script, str(tmp_path / f"d{n}")], env=env, cwd=REPO,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        results[n] = json.loads(out.stdout.strip().splitlines()[-1])
    assert results[1]["devices"] == 1 and results[2]["devices"] == 2
    np.testing.assert_allclose(results[1]["loss"], results[2]["loss"], rtol=2e-4)


def test_ema_decay_warms_up_and_mixes_exactly():
    """d_s = min(d, (1 + s)/(10 + s)); one step of the train step gives ema = d_0 init + (1 - d_0) params."""
    import jax.numpy as jnp
    import optax

    from pmm_ppl.train.step import ema_decay_at, init_state, make_train_step

    np.testing.assert_allclose([float(ema_decay_at(s, 0.999)) for s in (0, 10, 90, 10**5)],
                               [0.1, 11 / 20, 91 / 100, 0.999], rtol=1e-6)
    np.testing.assert_allclose([float(ema_decay_at(s, 0.999, 2.0)) for s in (0, 8, 10**5)], [0.5, 0.9, 0.999], rtol=1e-6)
    params = {"w": jnp.array([1.0, -2.0])}
    opt = optax.sgd(0.5)
    step = make_train_step(lambda p, k, x: jnp.sum((p["w"] - x) ** 2), opt, 0.999, jax.random.key(0))
    st, _ = step(init_state(params, opt), jnp.array([3.0, 0.0]))
    new = np.array([1.0, -2.0]) - 0.5 * 2 * (np.array([1.0, -2.0]) - np.array([3.0, 0.0]))
    np.testing.assert_allclose(np.asarray(st.params["w"]), new, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(st.ema["w"]), 0.1 * np.array([1.0, -2.0]) + 0.9 * new, rtol=1e-6)


def test_eval_command_discrete_and_continuous(tmp_path, capsys):
    """`pmm eval RUN` prints the T-step bound, `--continuous` the continuous-time one; the latter is the
    mean of `continuous_elbo` over the test examples with the same keys (same number, computed directly)."""
    from pmm_ppl.cli import main
    from pmm_ppl.process.elbo import continuous_elbo
    from pmm_ppl.train.evaluate import reconstruction_for, test_bound

    overrides = {**TINY, "max_steps": 10, "checkpoint_every": 10}
    (tmp_path / "model.json").write_text(json.dumps({"model": "toy2d_normal", "overrides": overrides}))
    spec = tiny_spec(max_steps=10, checkpoint_every=10)
    state, rebuild = train(spec, tmp_path, progress=False)
    assert main(["eval", str(tmp_path), "--steps", "8", "--max-examples", "16", "--quiet"]) == 0
    assert main(["eval", str(tmp_path), "--continuous", "--num-mc", "4", "--max-examples", "16", "--quiet"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("test bound")]
    assert "8 steps" in lines[0] and "continuous time" in lines[1]
    net = rebuild(state.ema)
    _, test = spec.load_data()
    rep = test_bound(spec, net, test, jax.random.key(0), num_mc=4, max_examples=16, continuous=True)
    x = np.asarray(spec.to_data(test[:16]), np.float32)
    direct = continuous_elbo(spec.pair, net, jax.random.fold_in(jax.random.key(0), 0), x, spec.schedule,
                             recon=reconstruction_for(spec), num_mc=4)
    np.testing.assert_allclose(rep.nats_per_example, float(np.mean(np.asarray(direct.nats))), rtol=1e-5)
    assert rep.num_steps == 0 and rep.num_examples == 16 and np.isfinite(rep.per_unit)

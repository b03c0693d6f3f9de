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
from flax import nnx

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


class StepCounter:
    """Wraps ``loop.iterate_batches`` to record where a training run started and how many steps it ran."""

    def __init__(self, monkeypatch):
        from pmm_ppl.train import loop

        self.starts, self.steps = [], 0
        real = loop.iterate_batches

        def counting(data, seed, batch_size, start_step=0, num_steps=None):
            self.starts.append(start_step)
            for item in real(data, seed, batch_size, start_step=start_step, num_steps=num_steps):
                self.steps += 1
                yield item

        monkeypatch.setattr(loop, "iterate_batches", counting)


STEPS, EVERY = 120, 20


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run the killed-and-resumed runs must reproduce bit for bit."""
    state, _ = train(tiny_spec(max_steps=STEPS, checkpoint_every=EVERY), tmp_path_factory.mktemp("ref"), progress=False)
    return _leaves(state)


def _train_command(run: Path, overrides: dict) -> list[str]:
    # one CPU device, as the in-process reference: two devices sum the gradient's halves in another order
    return [sys.executable, "-m", "pmm_ppl.cli", "--cpu-devices", "1", "train", "toy2d_normal", "--run-dir", str(run),
            "--quiet", "--set", json.dumps(overrides)]


def _resume_and_compare(run: Path, reference, monkeypatch, killed_at: int) -> None:
    """Resume the killed run in-process: it must start from ``killed_at`` (the newest complete
    checkpoint), run only the missing steps, and end bit-equal to the uninterrupted reference."""
    counter = StepCounter(monkeypatch)
    resumed, _ = train(tiny_spec(max_steps=STEPS, checkpoint_every=EVERY), run, resume=True, progress=False,
                       run_info={"model": "toy2d_normal", "overrides": {**TINY, "max_steps": 100_000, "checkpoint_every": EVERY}})
    assert counter.starts == [killed_at], f"resumed from step {counter.starts}, not from the checkpoint's step {killed_at}"
    assert counter.steps - 1 == STEPS - killed_at  # the loop draws one batch more than it trains on
    assert int(resumed.step) == STEPS
    for a, b in zip(reference, _leaves(resumed)):
        np.testing.assert_array_equal(a, b)
    rows = [json.loads(ln)["step"] for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows == list(range(5, STEPS + 1, 5)), "metrics.jsonl lost or repeated rows across the kill"


@pytest.mark.slow
def test_resume_after_kill_9_matches_uninterrupted(tmp_path, reference, monkeypatch):
    """Kill -9 a `pmm train` process after its second checkpoint, resume it: training continues from the
    checkpoint's step (not from 0: training is deterministic, so a restart would also end bit-equal), and
    the final weights, EMA and optimiser state equal those of an uninterrupted run bit for bit."""
    run = tmp_path / "killed"
    proc = subprocess.Popen(_train_command(run, {**TINY, "max_steps": 100_000, "checkpoint_every": EVERY}), cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            step = ckpt.latest_step(run)
            if step is not None and step >= 2 * EVERY or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"training process ended early: {proc.stderr.read().decode()[-2000:]}"
        os.kill(proc.pid, signal.SIGKILL)  # no chance to clean up or save
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed_at = ckpt.latest_step(run)
    assert killed_at is not None and 2 * EVERY <= killed_at < STEPS
    _resume_and_compare(run, reference, monkeypatch, killed_at)


KILL_DURING_SAVE = """
import os, signal, sys
from pmm_ppl.cli import main
where, at = sys.argv[1], sys.argv[2]
def die():
    os.kill(os.getpid(), signal.SIGKILL)
if where == "orbax":  # Orbax has written the step's files into its temporary folder, not renamed it yet
    from orbax.checkpoint._src.path import async_path
    real_rename = async_path.rename
    async def rename(src, dst, *a, **k):
        if os.path.basename(str(dst)) == at:
            die()
        return await real_rename(src, dst, *a, **k)
    async_path.rename = rename
else:  # Orbax has finished the step folder, the checksum manifest is not written yet
    from pmm_ppl.train import checkpoint
    real_manifest = checkpoint.write_manifest
    def write_manifest(step_dir):
        if step_dir.name == at:
            die()
        real_manifest(step_dir)
    checkpoint.write_manifest = write_manifest
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("where", ["orbax", "manifest"])
def test_kill_9_during_a_checkpoint_write_then_resume(tmp_path, reference, monkeypatch, where):
    """The process is SIGKILLed while it writes the checkpoint of step 40 (inside Orbax's write, or between
    Orbax's rename and the checksum manifest).  The step-20 checkpoint stays the newest complete one, the
    half-written step is ignored (and removed), and `--resume` continues from step 20 to the same weights."""
    run = tmp_path / "killed"
    cmd = [sys.executable, "-c", KILL_DURING_SAVE, where, str(2 * EVERY)] + _train_command(run, {
        **TINY, "max_steps": 100_000, "checkpoint_every": EVERY})[3:]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert ckpt.latest_step(run) == EVERY
    leftovers = [p.name for p in (run / "checkpoints").iterdir() if p.name != str(EVERY)]
    assert leftovers, "the kill left nothing half-written: it did not happen during the save"
    _resume_and_compare(run, reference, monkeypatch, EVERY)
    assert sorted(int(p.name) for p in (run / "checkpoints").iterdir()) == [80, 100, 120]


def test_fresh_run_refuses_existing_checkpoints(tmp_path):
    spec = tiny_spec(max_steps=5, checkpoint_every=5)
    train(spec, tmp_path, progress=False)
    with pytest.raises(ckpt.CheckpointError, match="resume"):
        train(spec, tmp_path, progress=False)


def test_mismatched_checkpoint_is_a_clear_error(tmp_path):
    train(tiny_spec(max_steps=5, checkpoint_every=5), tmp_path, progress=False)
    # another net size: the recorded net settings differ (the message names the first few and counts the rest)
    with pytest.raises(ckpt.CheckpointError, match=r"different model \(net\..*in_features: checkpoint has 32, now 48.* "
                                                   r"and \d+ more\)"):
        load_trained(tiny_spec(width=48), tmp_path)
    # another schedule: the fingerprint differs
    with pytest.raises(ckpt.CheckpointError, match="different model"):
        load_trained(tiny_spec(a_max=50.0), tmp_path)
    # a spec.json without the net's settings (an older run): restoring finds that the array shapes differ
    recorded = json.loads((tmp_path / "spec.json").read_text())
    (tmp_path / "spec.json").write_text(json.dumps({k: v for k, v in recorded.items() if k != "net"}))
    with pytest.raises(ckpt.CheckpointError, match="do not match|cannot restore"):
        load_trained(tiny_spec(width=48), tmp_path)


def test_a_recorded_net_must_have_the_same_layers(tmp_path):
    # within a recorded "net" section an attribute the checkpoint lacks is tolerated (an older library version),
    # a layer is not: e.g. n-gram tables added to a model since would otherwise fail inside the restore
    def write(net):
        (tmp_path / "spec.json").write_text(json.dumps({"model": "m", **({"net": net} if net else {})}))

    root, linear = {"class": "Net", "width": 8}, {"class": "Linear"}
    write({"root": root, "root/old": linear})
    ckpt.check_spec(tmp_path, {"model": "m", "net": {"root": {**root, "new_attribute": 1}, "root/old": linear}},
                    if_recorded=("net",))
    added = {"model": "m", "net": {"root": root, "root/old": linear, "root/ngrams": {"class": "HashedNgramEmbedding"}}}
    with pytest.raises(ckpt.CheckpointError,
                       match=r"different model \(net\.root/ngrams\.class: checkpoint has None, now 'HashedNgram"):
        ckpt.check_spec(tmp_path, added, if_recorded=("net",))
    with pytest.raises(ckpt.CheckpointError, match=r"net\.root/old\.class: checkpoint has 'Linear', now None"):
        ckpt.check_spec(tmp_path, {"model": "m", "net": {"root": root}}, if_recorded=("net",))
    write(None)  # a run from before the net was recorded: nothing to compare
    ckpt.check_spec(tmp_path, added, if_recorded=("net",))


def test_a_changed_objective_still_loads_but_does_not_resume(tmp_path):
    # the weighting shaped the training, not what the weights mean: a run trained under one objective loads
    # into a spec whose default objective changed since (e.g. shakespeare_chars: ELBO -> cross-entropy), while
    # an exact resume under another objective is refused and names the difference
    spec = tiny_spec(max_steps=5, checkpoint_every=5)
    state, rebuild = train(spec, tmp_path, progress=False)
    other = tiny_spec(max_steps=10, checkpoint_every=5, weighting="plain")
    net = load_trained(other, tmp_path)
    x, t = np.zeros((3, 2), np.float32), np.full((3,), 0.5, np.float32)
    np.testing.assert_allclose(np.asarray(net(x, t)), np.asarray(rebuild(state.ema)(x, t)), rtol=1e-6)
    with pytest.raises(ckpt.CheckpointError, match="weighting"):
        train(other, tmp_path, resume=True, progress=False)


def test_resume_compares_the_objective_by_its_effective_value(tmp_path):
    # a run from before a model's default objective changed (its model.json records no override, its spec.json
    # predates the log_score / train_times / augment entries) resumes once the old objective is given as an
    # override, and is refused under the new one; a run that set a non-default objective is refused when resumed
    # under the default, whichever side leaves the entry out
    import dataclasses

    run, base = tmp_path / "old", {**TINY, "checkpoint_every": 5}
    info = lambda **kw: {"model": "toy2d_normal", "overrides": {**base, **kw}}  # noqa: E731
    train(tiny_spec(max_steps=5, checkpoint_every=5), run, progress=False, run_info=info(max_steps=5))
    recorded = json.loads((run / "spec.json").read_text())
    assert recorded["weighting"] == "elbo" and recorded["log_score"] == 0.0 and recorded["augment"] is None
    old = {k: v for k, v in recorded.items() if k not in ("log_score", "train_times", "augment")}
    (run / "spec.json").write_text(json.dumps(old))
    with pytest.raises(ckpt.CheckpointError, match="weighting: checkpoint has 'elbo', now 'plain'"):
        train(tiny_spec(max_steps=10, checkpoint_every=5, weighting="plain"), run, resume=True, progress=False,
              run_info=info(max_steps=10, weighting="plain"))
    state, _ = train(tiny_spec(max_steps=10, checkpoint_every=5, weighting="elbo"), run, resume=True, progress=False,
                     run_info=info(max_steps=10, weighting="elbo"))
    assert int(state.step) == 10
    load_trained(tiny_spec(), run)

    stratified = dataclasses.replace(tiny_spec(max_steps=5, checkpoint_every=5), train_times="stratified")
    train(stratified, tmp_path / "stratified", progress=False)
    with pytest.raises(ckpt.CheckpointError, match="train_times: checkpoint has 'stratified', now 'independent'"):
        train(tiny_spec(max_steps=10, checkpoint_every=5), tmp_path / "stratified", resume=True, progress=False)


def test_a_net_whose_settings_changed_is_refused_though_every_weight_fits(tmp_path):
    # the same weights under another setting of plain type (here the input scale; in shakespeare_chars a
    # dilation) compute another function: loading and resuming name the setting.  A run directory whose spec.json
    # predates the record of the net's settings still loads (nothing to compare, as before)
    import dataclasses

    spec = tiny_spec(max_steps=5, checkpoint_every=5)
    train(spec, tmp_path, progress=False)
    assert json.loads((tmp_path / "spec.json").read_text())["net"]["backbone"]["input_scale"] == 1.0

    def rescaled_net(seed):
        net = spec.make_net(seed)
        net.backbone.input_scale = 2.0
        return net

    other = dataclasses.replace(spec, make_net=rescaled_net)
    with pytest.raises(ckpt.CheckpointError, match=r"a different model \(net.backbone.input_scale: checkpoint has 1.0, "
                                                   r"now 2.0\)"):
        load_trained(other, tmp_path)
    with pytest.raises(ckpt.CheckpointError, match="net.backbone.input_scale"):
        train(dataclasses.replace(other, train=dataclasses.replace(other.train, max_steps=10)), tmp_path, resume=True,
              progress=False)
    load_trained(spec, tmp_path)
    recorded = json.loads((tmp_path / "spec.json").read_text())
    (tmp_path / "spec.json").write_text(json.dumps({k: v for k, v in recorded.items() if k != "net"}))
    load_trained(other, tmp_path)


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


DATA_PARALLEL = """
import json, sys
import jax, numpy as np
from pmm_ppl.train.models import load_spec
from pmm_ppl.train.loop import train
real_put = jax.device_put
batches = []
def device_put(x, *args, **kwargs):  # record how each training batch is laid out over the devices
    out = real_put(x, *args, **kwargs)
    if isinstance(x, np.ndarray) and x.ndim >= 2 and x.shape[0] == 64:
        batches.append({"devices": len(out.sharding.device_set), "shard": list(out.sharding.shard_shape(out.shape)),
                        "on": sorted(s.device.id for s in out.addressable_shards)})
    return out
jax.device_put = device_put
spec = load_spec(sys.argv[3], **json.loads(sys.argv[2]))
state, _ = train(spec, sys.argv[1], progress=False)
rows = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
print(json.dumps({"devices": jax.device_count(), "loss": [r["loss"] for r in rows], "batches": batches,
                  "state_devices": len(jax.tree_util.tree_leaves(state.params)[0].sharding.device_set),
                  "row_devices": [r["devices"] for r in rows]}))
"""

#: a Normal pair, and a Poisson pair whose training draws go through the Poisson sampler's large-array path
#: (64 x 64 = 4096 lanes: a ``cumsum`` over all of them, which explicit mesh axes refused)
DATA_PARALLEL_MODELS = {"toy2d_normal": ({**TINY, "max_steps": 20, "checkpoint_every": 1000,
                                          "cpu_data_devices": None}, [2]),
                        "digits_counts": ({"width": 32, "depth": 1, "batch_size": 64, "warmup_steps": 5,
                                           "log_every": 5, "max_steps": 20, "checkpoint_every": 1000,
                                           "cpu_data_devices": None}, [8, 8])}


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(DATA_PARALLEL_MODELS))
def test_data_parallel_two_devices_same_loss(tmp_path, model):
    """With two forced host devices each training batch is really split over both (shards of 32 of the 64
    rows, one per device; every metrics row says 2), the losses equal those of one device, and the state
    returned lives on one device (the next computation on it, e.g. a test bound, runs once)."""
    from pmm_ppl.conjugate.poisson_sampler import MIN_LANES

    settings, event_shape = DATA_PARALLEL_MODELS[model]
    assert 64 * 64 >= MIN_LANES  # digits_counts' batch reaches the Poisson sampler's large-array path
    results = {}
    for n in (1, 2):
        env = {**{k: v for k, v in os.environ.items() if k != "JAX_NUM_CPU_DEVICES"},  # it would override the flag
               "XLA_FLAGS": f"--xla_force_host_platform_device_count={n}", "JAX_PLATFORMS": "cpu"}
        command = [sys.executable, "-c", DATA_PARALLEL, str(tmp_path / f"d{n}"), json.dumps(settings), model]
        out = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        results[n] = json.loads(out.stdout.strip().splitlines()[-1])
    assert results[1]["devices"] == 1 and results[2]["devices"] == 2
    assert len(results[2]["batches"]) == 20
    for b in results[2]["batches"]:
        assert b == {"devices": 2, "shard": [32, *event_shape], "on": [0, 1]}, b
    assert results[2]["row_devices"] == [2] * len(results[2]["loss"]) and set(results[1]["row_devices"]) == {1}
    assert results[2]["state_devices"] == 1
    assert all(b["shard"] == [64, *event_shape] for b in results[1]["batches"])
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


@pytest.mark.parametrize("unit, shown", [("dim", "1.5000 bits/dim (+- 0.0100 bits/dim; "),
                                          ("char", "1.5000 bits/char (+- 0.0100 bits/char; "),
                                          ("doc", "1.5000 nats/doc (+- 2.0000 nats/doc; "),
                                          ("count", "1.5000 nats/count (40 examples")])
def test_bound_line_gives_the_standard_error_in_the_reported_unit(unit, shown):
    """A text model's SE reads bits/char, a document model's nats/doc; a ratio of sums (nats/count) shows only the
    nats/example SE."""
    from pmm_ppl.train.evaluate import BoundReport

    line = BoundReport(300.0, 2.0, 1.5, 0.01, 40, 0, unit, 1.5, 3.0).line()
    assert line.startswith("test bound: 300.00 +- 2.00 nats/example = ") and shown in line, line


def test_eval_command_discrete_and_continuous(tmp_path, capsys):
    """`pmm eval RUN` prints the T-step bound, `--continuous` the continuous-time one; the latter is the
    mean of `continuous_elbo` over the test examples with the same keys (same number, computed directly).
    The sample-quality metrics printed and written to --json are those of `sample_quality` with the same key."""
    from pmm_ppl.cli import main
    from pmm_ppl.process.elbo import continuous_elbo
    from pmm_ppl.train.evaluate import reconstruction_for, sample_quality, test_bound

    overrides = {**TINY, "max_steps": 10, "checkpoint_every": 10}
    spec = tiny_spec(max_steps=10, checkpoint_every=10)
    run = tmp_path / "run"
    state, rebuild = train(spec, run, progress=False, run_info={"model": "toy2d_normal", "overrides": overrides})
    report = tmp_path / "eval.json"
    assert main(["eval", str(run), "--steps", "8", "--max-examples", "16", "--samples", "16", "--sample-steps", "4",
                 "--json", str(report), "--quiet"]) == 0
    assert main(["eval", str(run), "--continuous", "--num-mc", "4", "--max-examples", "16", "--samples", "0",
                 "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    lines = [ln for ln in out if ln.startswith("test bound")]
    assert "8 steps" in lines[0] and "continuous time" in lines[1]
    assert sum(ln.startswith("sample quality: 16 samples (plug_in sampler, 4 steps)") for ln in out) == 1
    net = rebuild(state.ema)
    train_data, test = spec.load_data()
    record = json.loads(report.read_text())
    assert record["bound"]["num_steps"] == 8 and record["bound"]["num_examples"] == 16
    direct = sample_quality(spec, net, jax.random.fold_in(jax.random.key(0), 1), train_data, test, num=16, num_steps=4)
    (metric,) = direct.metrics  # toy data: no labels, not text
    assert record["quality"]["metrics"][metric.name]["samples"] == pytest.approx(metric.value, rel=1e-6)
    assert record["quality"]["metrics"][metric.name]["held_out"] == pytest.approx(metric.reference, rel=1e-12)
    rep = test_bound(spec, net, test, jax.random.key(0), num_mc=4, max_examples=16, continuous=True)
    x = np.asarray(spec.to_data(test[:16]), np.float32)
    direct = continuous_elbo(spec.pair, net, jax.random.fold_in(jax.random.key(0), 0), x, spec.schedule,
                             recon=reconstruction_for(spec), num_mc=4)
    np.testing.assert_allclose(rep.nats_per_example, float(np.mean(np.asarray(direct.nats))), rtol=1e-5)
    assert rep.num_steps == 0 and rep.num_examples == 16 and np.isfinite(rep.per_unit)


@pytest.mark.slow
def test_nan_loss_stops_keeps_the_last_finite_checkpoint_and_resume_continues(tmp_path, monkeypatch):
    """From step 12 on, the train step returns NaN weights and loss.  Training stops with
    TrainingDiverged naming the step; the NaN state is never saved, so the step-10 checkpoint stays the
    newest, and `resume` (with the step healthy again) continues from step 10 to the end."""
    import jax.numpy as jnp

    from pmm_ppl.train import loop

    real_build = loop.build

    def poisoned_build(spec, seed=None):
        params, rebuild, optimizer, step_fn = real_build(spec, seed)

        def step(state, x):
            new, m = step_fn(state, x)
            bad = state.step >= 11
            poison = lambda a: jnp.where(bad, jnp.nan, a) if jnp.issubdtype(a.dtype, jnp.floating) else a  # noqa: E731
            return new._replace(params=jax.tree_util.tree_map(poison, new.params)), {**m, "loss": poison(m["loss"])}

        return params, rebuild, optimizer, step

    monkeypatch.setattr(loop, "build", poisoned_build)
    spec = tiny_spec(max_steps=30, checkpoint_every=10)
    with pytest.raises(loop.TrainingDiverged, match=r"loss became nan at step 15.*last finite one \(step 10\)"):
        train(spec, tmp_path, progress=False)
    assert ckpt.latest_step(tmp_path) == 10
    # a checkpoint falling due on a non-logged step is refused too (weights checked before each save)
    with pytest.raises(loop.TrainingDiverged, match="weights became NaN or infinite by step 12"):
        train(tiny_spec(max_steps=30, checkpoint_every=4, log_every=100), tmp_path / "b", progress=False)
    assert ckpt.latest_step(tmp_path / "b") == 8

    monkeypatch.setattr(loop, "build", real_build)
    counter = StepCounter(monkeypatch)
    state, _ = train(spec, tmp_path, resume=True, progress=False)
    assert counter.starts == [10] and int(state.step) == 30
    assert all(np.all(np.isfinite(leaf)) for leaf in _leaves(state))


def test_cli_reports_a_diverged_run(tmp_path, monkeypatch, capsys):
    """`pmm train` with a lethal learning rate: a message naming the NaN loss, exit 1, no traceback."""
    from pmm_ppl.cli import main

    overrides = {**TINY, "learning_rate": 1e30, "warmup_steps": 0, "max_steps": 50, "checkpoint_every": 50}
    code = main(["train", "toy2d_normal", "--run-dir", str(tmp_path), "--quiet", "--set", json.dumps(overrides)])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "training stopped: the loss became nan" in err and "no checkpoint was written" in err
    assert ckpt.latest_step(tmp_path) is None


def test_flipped_byte_in_a_checkpoint_is_refused(tmp_path):
    """One flipped bit inside an array file of the checkpoint: restoring raises CheckpointError (checksum)."""
    spec = tiny_spec(max_steps=5, checkpoint_every=5)
    train(spec, tmp_path, progress=False)
    load_trained(spec, tmp_path)  # intact: loads
    step_dir = tmp_path / "checkpoints" / "5"
    files = [p for p in step_dir.rglob("*") if p.is_file() and p.name != ckpt.MANIFEST]
    target = max(files, key=lambda p: p.stat().st_size)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(ckpt.CheckpointError, match="corrupt.*SHA-256"):
        load_trained(spec, tmp_path)


def test_resume_refuses_other_training_settings_or_data(tmp_path):
    """The library's resume compares the training trajectory settings and the data hash, naming the difference."""
    spec = tiny_spec(max_steps=5, checkpoint_every=5)
    train(spec, tmp_path, progress=False)
    before = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    for kw, word in [({"batch_size": 32}, "training.batch_size"), ({"seed": 1}, "training.seed"),
                     ({"learning_rate": 1e-3}, "training.learning_rate"), ({"decay_steps": 50}, "training.decay_horizon"),
                     ({"optimizer": "muon"}, "training.optimizer")]:
        with pytest.raises(ckpt.CheckpointError, match=word):
            train(tiny_spec(max_steps=10, checkpoint_every=5, **kw), tmp_path, resume=True, progress=False)
    other, _ = spec.load_data()
    with pytest.raises(ckpt.CheckpointError, match="data.sha256"):
        train(tiny_spec(max_steps=10, checkpoint_every=5), tmp_path, resume=True, progress=False, train_data=other[::-1])
    # stop/log settings may change: more steps, other checkpoint interval
    state, _ = train(tiny_spec(max_steps=10, checkpoint_every=10, log_every=10), tmp_path, resume=True, progress=False)
    assert int(state.step) == 10 and before == ["5"]


def test_a_muon_run_resumes_exactly(tmp_path):
    """Muon's state (momentum, AdamW moments of the other leaves) survives a checkpoint: 5 steps, then a resume
    to 10, end bit-equal to 10 steps in one go."""
    straight, _ = train(tiny_spec(max_steps=10, checkpoint_every=10, optimizer="muon"), tmp_path / "a", progress=False)
    train(tiny_spec(max_steps=5, checkpoint_every=5, optimizer="muon"), tmp_path / "b", progress=False)
    resumed, _ = train(tiny_spec(max_steps=10, checkpoint_every=5, optimizer="muon"), tmp_path / "b", resume=True,
                       progress=False)
    a, b = _leaves(straight), _leaves(resumed)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_a_checkpoint_loads_under_the_optimizer_it_was_trained_with(tmp_path):
    """``load_trained`` reads the optimiser state's structure from the run (spec.json), not from the model's
    current setting: an AdamW run loads into a spec that now says Muon (and vice versa), with the same weights."""
    train(tiny_spec(max_steps=5, checkpoint_every=5), tmp_path / "adamw", progress=False)
    train(tiny_spec(max_steps=5, checkpoint_every=5, optimizer="muon"), tmp_path / "muon", progress=False)
    for run, other in (("adamw", "muon"), ("muon", "adamw")):
        as_trained = load_trained(tiny_spec(optimizer=run), tmp_path / run)
        across = load_trained(tiny_spec(optimizer=other), tmp_path / run)
        for x, y in zip(jax.tree_util.tree_leaves(nnx.state(as_trained, nnx.Param)),
                        jax.tree_util.tree_leaves(nnx.state(across, nnx.Param))):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_a_muon_checkpoint_loads_under_other_newton_schulz_settings(tmp_path):
    """Muon's state has the same structure for any number of Newton-Schulz steps and any scaling, so a run trained
    with five steps after Frobenius scaling loads (to sample or evaluate) into a spec that now says three after
    Schatten-4 scaling: what this guards is that the restore does not raise (the weights are then those of the
    checkpoint by construction)."""
    train(tiny_spec(max_steps=5, checkpoint_every=5, optimizer="muon"), tmp_path, progress=False)
    as_trained = load_trained(tiny_spec(optimizer="muon"), tmp_path)
    now = load_trained(tiny_spec(optimizer="muon", muon_ns_steps=3, muon_preconditioning="schatten"), tmp_path)
    for x, y in zip(jax.tree_util.tree_leaves(nnx.state(as_trained, nnx.Param)),
                    jax.tree_util.tree_leaves(nnx.state(now, nnx.Param))):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_a_recorded_optimizer_that_is_not_one_is_named(tmp_path):
    """A spec.json whose ``training.optimizer`` is unknown is a corrupt run directory: the error names the file."""
    train(tiny_spec(max_steps=5, checkpoint_every=5), tmp_path, progress=False)
    path = tmp_path / "spec.json"
    saved = json.loads(path.read_text())
    saved["training"]["optimizer"] = "sgd"
    path.write_text(json.dumps(saved))
    with pytest.raises(ckpt.CheckpointError, match="spec.json: records optimizer 'sgd', not one of adamw, muon"):
        load_trained(tiny_spec(), tmp_path)


def test_a_run_recorded_before_the_optimizer_setting_resumes_as_adamw(tmp_path):
    """A ``spec.json`` without ``training.optimizer`` (written before the setting existed) stands for AdamW: it
    resumes under the default and is refused under Muon."""
    train(tiny_spec(max_steps=5, checkpoint_every=5), tmp_path, progress=False)
    path = tmp_path / "spec.json"
    saved = json.loads(path.read_text())
    del saved["training"]["optimizer"]
    path.write_text(json.dumps(saved))
    with pytest.raises(ckpt.CheckpointError, match="training.optimizer: checkpoint has 'adamw', now 'muon'"):
        train(tiny_spec(max_steps=10, checkpoint_every=5, optimizer="muon"), tmp_path, resume=True, progress=False)
    state, _ = train(tiny_spec(max_steps=10, checkpoint_every=5), tmp_path, resume=True, progress=False)
    assert int(state.step) == 10


def test_a_muon_run_recorded_before_its_newton_schulz_settings_resumes_under_the_old_ones(tmp_path):
    """A Muon run's ``spec.json`` without ``training.muon_ns_steps`` / ``muon_preconditioning`` (written before the
    settings existed) stands for five steps after Frobenius scaling: it resumes under those and is refused, by name,
    under others."""
    train(tiny_spec(max_steps=5, checkpoint_every=5, optimizer="muon"), tmp_path, progress=False)
    path = tmp_path / "spec.json"
    saved = json.loads(path.read_text())
    del saved["training"]["muon_ns_steps"], saved["training"]["muon_preconditioning"]
    path.write_text(json.dumps(saved))
    for kw, word in [({"muon_ns_steps": 3}, "training.muon_ns_steps: checkpoint has 5, now 3"),
                     ({"muon_preconditioning": "schatten"},
                      "training.muon_preconditioning: checkpoint has 'frobenius', now 'schatten'")]:
        with pytest.raises(ckpt.CheckpointError, match=word):
            train(tiny_spec(max_steps=10, checkpoint_every=5, optimizer="muon", **kw), tmp_path, resume=True,
                  progress=False)
    state, _ = train(tiny_spec(max_steps=10, checkpoint_every=5, optimizer="muon"), tmp_path, resume=True,
                     progress=False)
    assert int(state.step) == 10


def test_all_training_rows_are_validated_before_the_first_step(tmp_path, monkeypatch):
    """A NaN in the last row is refused up front (PMMInputError naming the rows), chunk by chunk, and the
    run directory is not created."""
    from pmm_ppl.conjugate.validation import PMMInputError
    from pmm_ppl.train import loop

    spec = tiny_spec(max_steps=5)
    data, _ = spec.load_data()
    data = data.copy()
    data[-1, 0] = np.nan
    monkeypatch.setattr(loop, "VALIDATE_CHUNK", 1000)
    with pytest.raises(PMMInputError, match=r"rows 8000\.\.8191\): contains 1 NaN"):
        train(spec, tmp_path / "run", progress=False, train_data=data)
    assert not (tmp_path / "run").exists()


def test_train_refuses_step_and_time_limits_that_train_nothing(tmp_path):
    """max_steps 0 or -5 and max_seconds 0 are errors naming the limit (they used to report "trained")."""
    from pmm_ppl.conjugate.validation import PMMInputError

    spec = tiny_spec(max_steps=5)
    for kw, name in [({"max_steps": 0}, "max_steps"), ({"max_steps": -5}, "max_steps"), ({"max_seconds": 0.0}, "max_seconds")]:
        with pytest.raises(PMMInputError, match=f"^{name}:"):
            train(spec, tmp_path / "run", progress=False, **kw)
    assert not (tmp_path / "run").exists()


def test_training_configs_are_validated_and_defaults_are_valid():
    """Each TrainConfig / EvalConfig field is checked when built (the error names it); the defaults pass,
    and the default EvalConfig's num_mc is one the bound accepts."""
    from pmm_ppl.conjugate.validation import PMMInputError
    from pmm_ppl.train.spec import EvalConfig, TrainConfig

    TrainConfig()
    assert EvalConfig().num_mc >= 2
    bad_train = {"learning_rate": [-1, 0, float("nan"), float("inf"), "1e-3"], "batch_size": [0, -3, 2.5, True],
                 "max_steps": [0, -5], "warmup_steps": [-1], "checkpoint_every": [0], "log_every": [0],
                 "clip_norm": [0], "ema_decay": [1.0, -0.1], "ema_warmup": [0], "weight_decay": [-1],
                 "seed": [-1], "decay_steps": [0], "max_seconds": [0, -1]}
    for name, values in bad_train.items():
        for v in values:
            with pytest.raises(PMMInputError, match=f"^{name}:"):
                TrainConfig(**{name: v})
    for name, v in [("num_mc", 1), ("num_steps", 0), ("max_examples", 0), ("unit", "bits"), ("num_levels", 1),
                    ("discrete_bound", "no")]:
        with pytest.raises(PMMInputError, match=f"^{name}:"):
            EvalConfig(**{name: v})


def test_fit_trains_beta_binomial_on_one_device():
    """beta_binomial's flow draws numpyro binomials (lax.map inside), which failed under a 1-device mesh."""
    import pmm_ppl
    from pmm_ppl.nets.factory import make_denoiser
    from pmm_ppl.process.process import Process
    from pmm_ppl.train.spec import TrainConfig

    pair = pmm_ppl.get_pair("beta_binomial")
    x = np.random.default_rng(0).uniform(0.1, 0.9, (32, 3)).astype(np.float32)
    result = pmm_ppl.fit(Process.for_pair(pair), make_denoiser(pair, (3,), width=8, depth=1), x,
                         TrainConfig(batch_size=16, max_steps=2, checkpoint_every=2, warmup_steps=1))
    assert result.metrics[-1]["step"] == 2 and np.isfinite(result.metrics[-1]["loss"])

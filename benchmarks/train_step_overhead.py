"""Training-step overhead: time of one PMM training step / time of a plain regression step on the
same net, batch and optimiser (target <= 1.10).

The PMM step draws t, the flow state (closed form, docs/design.md section 3) and weights the loss; the
regression step draws t and Gaussian noise and regresses onto x.  Both are jitted, warmed up,
interleaved and timed with block_until_ready; the table prints medians and their ratio, and the ratio
of the minima over the repeats (``min ratio``: the least disturbed blocks, steadier on a shared machine).

    .venv/bin/python benchmarks/train_step_overhead.py [--models digits_normal digits_counts] [--repeats 7]

Default: every ready CPU model (``hardware="cpu"`` in its spec; ``pmm models`` lists them).  The CPU is presented
as ``pmm train`` presents it (one JAX device per core, or ``--cpu-devices N``) and each model's batch is split as
its training splits it (over at most its ``cpu_data_devices``); both steps get the same placement.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax

from pmm_ppl.cli import int_at_least
from pmm_ppl.nets.hidden_matrices import hidden_matrix_paths
from pmm_ppl.train.cpu_devices import use_cpu_devices
from pmm_ppl.train.loop import data_mesh, placements, training_mesh
from pmm_ppl.train.models import list_models, load_spec
from pmm_ppl.train.step import (init_state, make_optimizer, make_train_step, pmm_loss_of_params,
                                regression_loss_of_params, split_net)


def time_steps(step, state, batch, n):
    t0 = time.perf_counter()
    for _ in range(n):
        state, m = step(state, batch)
    jax.block_until_ready(m["loss"])
    return (time.perf_counter() - t0) / n, state


def steps_of(name: str, *, cap_devices: bool = False, **overrides):
    """Model ``name``'s jitted PMM training step and the plain regression step on the same net and optimiser,
    a function that returns a new initial state and one training batch, placed as training places them: over
    several devices (e.g. ``XLA_FLAGS=--xla_force_host_platform_device_count=2``) the batch is split over as many
    as divide it, capped as in training by ``cpu_data_devices`` if ``cap_devices`` (without the cap, a device
    count can be measured on any model): ``(spec, pmm_step, regression_step, new_state, batch)``; ``overrides``
    go to the model's ``spec()`` as ``--set`` does."""
    spec = load_spec(name, **overrides)
    net = spec.make_net(0)
    params, rebuild = split_net(net)
    opt = make_optimizer(spec.train, hidden_matrix_paths(net))
    key = jax.random.key(0)
    pmm = jax.jit(make_train_step(pmm_loss_of_params(spec, rebuild), opt, spec.train.ema_decay, key))
    reg_loss = regression_loss_of_params(rebuild)
    reg = jax.jit(make_train_step(lambda p, k, x: reg_loss(p, k, spec.to_data(x)), opt, spec.train.ema_decay, key))
    train, _ = spec.load_data()
    mesh = training_mesh(spec.train) if cap_devices else data_mesh(spec.train.batch_size)
    replicated, batch_sharding = placements(mesh)
    batch = jax.device_put(jax.numpy.asarray(train[: spec.train.batch_size]), batch_sharding)
    return spec, pmm, reg, lambda: jax.device_put(init_state(params, opt), replicated), batch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=None, help="default: every model whose hardware is 'cpu'")
    ap.add_argument("--repeats", type=int_at_least(1), default=7)
    ap.add_argument("--steps", type=int_at_least(1), default=30)
    ap.add_argument("--cpu-devices", type=int_at_least(1), default=None,
                    help="the CPU as this many JAX devices (default: one per core, as `pmm train`)")
    args = ap.parse_args()
    use_cpu_devices(args.cpu_devices)  # as `pmm train` does; before the first JAX computation
    print(f"{'model':20s} {'batch':>5s} {'devs':>4s} {'pmm ms':>8s} {'regr ms':>8s} {'ratio':>6s} {'min ratio':>9s}")
    names = args.models or [m for m in list_models() if load_spec(m).hardware == "cpu"]
    for name in names:
        spec, pmm, reg, new_state, batch = steps_of(name, cap_devices=True)
        s_pmm, s_reg = new_state(), new_state()
        _, s_pmm = time_steps(pmm, s_pmm, batch, 3)
        _, s_reg = time_steps(reg, s_reg, batch, 3)
        t_pmm, t_reg = [], []
        for _ in range(args.repeats):
            dt, s_pmm = time_steps(pmm, s_pmm, batch, args.steps)
            t_pmm.append(dt)
            dt, s_reg = time_steps(reg, s_reg, batch, args.steps)
            t_reg.append(dt)
        a, b = statistics.median(t_pmm), statistics.median(t_reg)
        devices = len(batch.sharding.device_set)
        print(f"{name:20s} {spec.train.batch_size:5d} {devices:4d} {1e3 * a:8.3f} {1e3 * b:8.3f} {a / b:6.3f} "
              f"{min(t_pmm) / min(t_reg):9.3f}")


if __name__ == "__main__":
    main()

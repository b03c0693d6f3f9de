"""The CPU as several JAX devices, so that training can split each batch over the cores.

XLA:CPU runs one device's program largely on one thread: training a U-Net on 2 cores kept one core busy and the
other about a third of the time.  Presented as ``n`` devices (JAX's ``jax_num_cpu_devices``, the same as
``XLA_FLAGS=--xla_force_host_platform_device_count=n``), the CPU runs the training loop's data parallelism
(:func:`pmm_ppl.train.loop.placements`: the weights replicated, the batch split along the mesh axis ``"data"``)
with one program per device, each on its own thread.  The step computes the same function (the batch's random
draws are partitioned, not changed; ``tests/test_train.py`` compares the losses of one and two devices), so only
its speed changes, and not always for the better.  On a 2-core machine, two devices against one
(``benchmarks/xla_cpu_flags.py --flags xla_force_host_platform_device_count=2``, two runs) took 0.62x the time
per step for ``mnist_cpu`` and 0.65x for ``digits_unet`` (U-Nets), but 1.15x for ``shakespeare_chars`` (twice its
batch on two devices: 0.97x the time per window of one), 1.95x for ``digits_normal``, 1.79x for ``digits_counts``
and 1.66x for ``toy2d_normal`` (MLPs: too little work per device).  So a model splits its batch only where its
``TrainConfig.cpu_data_devices`` says so (default 1; ``digits_unet`` and ``mnist_cpu`` set 2).

JAX reads the count once, when it starts its CPU backend, so :func:`use_cpu_devices` must run before the first
JAX computation of the process; the ``pmm`` command calls it first (``pmm --cpu-devices N``).  Accelerators are
not affected: on a GPU the default devices are the GPUs.
"""

from __future__ import annotations

import os

import jax

from pmm_ppl.conjugate.validation import check_whole_number

#: the XLA flag that sets the CPU device count (a user's own setting in ``XLA_FLAGS`` stands)
XLA_DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"


def _cgroup_cpu_limit(path: str = "/sys/fs/cgroup/cpu.max") -> int | None:
    """The CPUs a cgroup (v2) quota allows, rounded up (``cpu.max``: ``"QUOTA PERIOD"``, or ``"max ..."`` for
    none); ``None`` without a readable quota."""
    try:
        quota, period = open(path).read().split()[:2]
        return None if quota == "max" else max(1, -(-int(quota) // int(period)))
    except (OSError, ValueError):
        return None


def available_cores() -> int:
    """The CPU cores this process may run on: its affinity mask where the system has one, at most the CPUs of a
    container's cgroup quota (a 2-CPU container on a 64-core host has 2)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    limit = _cgroup_cpu_limit()
    return cores if limit is None else min(cores, limit)


def use_cpu_devices(count: int | None = None) -> int | None:
    """Present JAX's CPU backend as ``count`` devices; returns the count set, or ``None`` where a setting of the
    user's stands.

    ``count=None``: one device per available core, unless ``XLA_FLAGS`` already names
    ``--xla_force_host_platform_device_count``, ``JAX_NUM_CPU_DEVICES`` (or ``jax_num_cpu_devices``) is set, or
    JAX has already started its backends (then nothing changes: a process that computed before keeps its
    devices).  An explicit ``count`` (an integer >= 1) overrides the first two, and raises ``RuntimeError``
    when JAX has already started with another count (the count can only be set before the first JAX
    computation).  Only tested on machines of 2 cores: on many cores, splitting a small batch into one- or
    two-row shards may not pay; ``pmm --cpu-devices N`` or a model's ``cpu_data_devices`` sets fewer."""
    explicit = count is not None
    if not explicit:
        if XLA_DEVICE_COUNT_FLAG in os.environ.get("XLA_FLAGS", "") or jax.config.jax_num_cpu_devices >= 0:
            return None
        count = available_cores()
    count = check_whole_number(count, "cpu devices", 1)
    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError as err:
        if not explicit:
            return None
        try:
            started = len(jax.devices("cpu"))
        except RuntimeError:  # no CPU backend (JAX_PLATFORMS without "cpu")
            started = None
        if started == count:
            return count
        raise RuntimeError(f"cpu devices: JAX's CPU backend already started"
                           f"{'' if started is None else f' with {started} device(s)'}; {count} can only be set "
                           "before the first JAX computation of the process") from err
    return count


__all__ = ["XLA_DEVICE_COUNT_FLAG", "available_cores", "use_cpu_devices"]

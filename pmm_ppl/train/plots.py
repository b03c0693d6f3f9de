"""Pictures of a run: the training curves (``pmm plot RUN``) and the sampler's trajectory
(``pmm sample RUN --trajectory``).

The trajectory of one chain is the posterior mean :math:`\\mu_{t_k}` after each step of the sampler
(:func:`pmm_ppl.process.sampler.sample` with ``return_trajectory=True``, prior mean first) and the
denoiser's estimate :math:`\\hat x_k = f(\\mu_{t_k}, t_k)` of the data at that point, which is what the
sampler observes at the next step (the last one, at :math:`t = 1`, is the sample).  Both are shown at
``frames`` evenly spaced steps: images as a strip (PNG; one row of :math:`\\mu` and one of
:math:`\\hat x` per chain), other arrays as one row of coloured cells per example, text as the decoded
argmax strings (a ``.txt``); the arrays go to an ``.npz`` beside it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from pmm_ppl.conjugate.validation import PMMInputError, check_whole_number
from pmm_ppl.train.output import refuse_existing
from pmm_ppl.train.spec import ModelSpec

#: in the text trajectory, a position whose posterior mean does not single out one character (its two
#: largest probabilities within DECIDED of each other, as at the prior) is shown as UNDECIDED
DECIDED = 1e-3
UNDECIDED = "_"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# ---------------------------------------------------------------------------------------------- metrics
def read_metrics(run_dir: str | Path) -> list[dict]:
    """The rows of ``run_dir/metrics.jsonl`` (a partial last line, from a run being written, is skipped)."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise PMMInputError(f"{run_dir}: no metrics.jsonl; is it a run directory written by `pmm train`?")
    rows = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and "step" in row:
            rows.append(row)
    return rows


def plot_metrics(run_dir: str | Path, out: str | Path | None = None, overwrite: bool = False) -> Path:
    """Draw the loss (and the gradient norm, and the bound where rows record one, key ``bound``) against
    the step from ``run_dir/metrics.jsonl`` into a PNG (default ``run_dir/metrics.png``); returns its path."""
    rows = read_metrics(run_dir)
    if not rows:
        raise PMMInputError(f"{run_dir}/metrics.jsonl: no rows yet (one is written every log_every steps)")
    out = Path(out) if out is not None else Path(run_dir) / "metrics.png"
    refuse_existing([out], overwrite, "plot")
    panels = [k for k in ("loss", "grad_norm", "bound") if any(k in r for r in rows)]
    plt = _pyplot()
    fig, axes = plt.subplots(len(panels), 1, figsize=(6, 2.2 * len(panels)), sharex=True, squeeze=False)
    for ax, key in zip(axes[:, 0], panels):
        pts = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
        steps, values = zip(*pts) if pts else ((), ())
        ax.plot(steps, values, marker="." if len(pts) < 50 else None, lw=1)
        ax.set_ylabel({"loss": "training loss", "grad_norm": "gradient norm", "bound": "test bound"}[key])
        if values and min(values) > 0 and max(values) / min(values) > 30:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    fig.suptitle(f"{Path(run_dir).name}: {len(rows)} logged steps (last {rows[-1]['step']})")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


# ---------------------------------------------------------------------------------------------- trajectory
def sample_trajectory(spec: ModelSpec, net: Any, key: jax.Array, num: int, num_steps: int, frames: int = 8,
                      sampler: str = "plug_in") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(times (F,), means (F, num, *shape), estimates (F, num, *shape))`` of ``num`` chains of the sampler
    (``"plug_in"`` or ``"ancestral"``) at ``frames`` evenly spaced steps of ``num_steps`` (the first at the
    prior, the last at t = 1)."""
    from pmm_ppl.process.sampler import sample

    num, num_steps = check_whole_number(num, "num"), check_whole_number(num_steps, "num_steps")
    frames = check_whole_number(frames, "frames", 2)
    _, means = sample(spec.pair, net, key, num, tuple(spec.data_shape), spec.schedule, num_steps, return_trajectory=True,
                      sampler=sampler)
    times, _ = spec.schedule.discretise(num_steps, integer=spec.pair.accuracy_kind == "integer")
    idx = np.unique(np.round(np.linspace(0, num_steps, frames)).astype(int))
    means = np.asarray(means)[idx]
    times = np.asarray(times)[idx]
    denoise = jax.jit(lambda m, t: net(m, jnp.full((num,), t, jnp.float32)))  # one compilation for all frames
    estimates = np.stack([np.asarray(denoise(m, t)) for m, t in zip(means, times)])
    return times, means, estimates


def trajectory_paths(spec: ModelSpec, stem: str | Path) -> list[Path]:
    """What :func:`write_trajectory` writes: ``STEM_trajectory.txt`` for text, else ``STEM_trajectory.png``
    (the picture), then ``STEM_trajectory.npz`` (the arrays ``times``, ``means``, ``estimates``)."""
    stem = Path(stem)
    base = stem.with_name(stem.name + "_trajectory")
    return [base.with_suffix(".txt" if spec.decode is not None else ".png"), base.with_suffix(".npz")]


def write_trajectory(spec: ModelSpec, net: Any, key: jax.Array, stem: str | Path, num: int = 4,
                     num_steps: int | None = None, frames: int = 8, overwrite: bool = False,
                     sampler: str = "plug_in") -> list[Path]:
    """Draw ``num`` chains (:func:`sample_trajectory`) and write their trajectory next to ``stem``
    (:func:`trajectory_paths`); returns the paths."""
    path, arrays = paths = trajectory_paths(spec, stem)
    refuse_existing(paths, overwrite, "trajectory output")
    steps = spec.sample_steps if num_steps is None else num_steps
    times, means, estimates = sample_trajectory(spec, net, key, num, steps, frames, sampler)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(arrays, times=times, means=means, estimates=estimates)
    if spec.decode is not None:
        path.write_text(_text_trajectory(spec, times, means, estimates))
    else:
        _strip(spec, times, means, estimates, path)
    return paths


def _text_trajectory(spec: ModelSpec, times, means, estimates) -> str:
    def masked(m):
        s = spec.decode(m)
        if len(s) != m.shape[0]:  # a decoder that is not one character per position: show it as is
            return s
        top2 = np.sort(np.asarray(m), axis=-1)[..., -2:]
        sure = top2[..., 1] - top2[..., 0] > DECIDED
        return "".join(c if ok else UNDECIDED for c, ok in zip(s, sure))

    out = [f"sampler trajectory of {means.shape[1]} chains, {len(times)} frames: at each time t, 'mu' is the "
           f"posterior mean mu_t decoded by argmax ({UNDECIDED!r} where it does not single out one character: "
           f"its two largest probabilities within {DECIDED:g}), "
           "'xhat' the denoiser's estimate f(mu_t, t) decoded by argmax; the last xhat is the sample\n"]
    for n in range(means.shape[1]):
        out.append(f"=== chain {n}")
        for k, t in enumerate(times):
            out.append(f"t={t:.3f} mu  : {masked(means[k, n])!r}")
            out.append(f"t={t:.3f} xhat: {spec.decode(estimates[k, n])!r}")
        out.append("")
    return "\n".join(out)


def _as_picture(x: np.ndarray, image: bool) -> np.ndarray:
    x = np.asarray(x, np.float32)
    if image:
        return x.squeeze() if x.ndim == 3 and x.shape[-1] == 1 else x
    return x.reshape(1, -1)


def _strip(spec: ModelSpec, times, means, estimates, path: Path) -> None:
    image = len(spec.data_shape) in (2, 3) and spec.pair.event_ndim == 0
    if spec.eval.num_levels:
        low, high = -1.0, 1.0
    else:
        both = np.concatenate([means.ravel(), estimates.ravel()])
        low, high = float(np.percentile(both, 0.5)), float(np.percentile(both, 99.5))
        high = high if high > low else low + 1.0
    num = means.shape[1]
    plt = _pyplot()
    cell = 1.1 if image else 1.6
    fig, axes = plt.subplots(2 * num, len(times), figsize=(len(times) * cell, 2 * num * (cell if image else 0.5) + 0.6),
                             squeeze=False)
    for n in range(num):
        for k, t in enumerate(times):
            for r, (arr, label) in enumerate(((means, "mu_t"), (estimates, "xhat"))):
                ax = axes[2 * n + r, k]
                pic = np.clip((_as_picture(arr[k, n], image) - low) / (high - low), 0, 1)
                ax.imshow(pic, cmap="gray" if image else "viridis", vmin=0, vmax=1, interpolation="nearest",
                          aspect="equal" if image else "auto")
                ax.set_xticks([]), ax.set_yticks([])
                if k == 0:
                    ax.set_ylabel(label, fontsize=8)
                if 2 * n + r == 0:
                    ax.set_title(f"t={t:.2f}", fontsize=8)
    fig.suptitle(f"{spec.name}: posterior means mu_t and denoiser estimates along the sampler", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


__all__ = ["plot_metrics", "read_metrics", "sample_trajectory", "trajectory_paths", "write_trajectory"]

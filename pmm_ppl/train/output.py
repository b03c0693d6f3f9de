"""Writing samples: an image grid PNG, text for tokens, and always the raw array (.npy)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from pmm_ppl.train.spec import ModelSpec


def image_grid(images: np.ndarray, path: Path, low: float = -1.0, high: float = 1.0, title: str | None = None) -> Path:
    """Save ``images`` (N, H, W[, C]) as a square grid PNG with matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(images)
    cols = int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 0.9 + (0.4 if title else 0)))
    for ax in np.atleast_1d(axes).ravel():
        ax.axis("off")
    for img, ax in zip(images, np.atleast_1d(axes).ravel()):
        img = np.clip((np.asarray(img) - low) / (high - low), 0, 1)
        ax.imshow(img.squeeze(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_samples(spec: ModelSpec, samples: np.ndarray, stem: Path) -> Path:
    """Write ``samples`` next to ``stem``: ``.npy`` always; ``.png`` for images; ``.txt`` for tokens."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    np.save(stem.with_suffix(".npy"), samples)
    if spec.decode is not None:
        path = stem.with_suffix(".txt")
        path.write_text("\n\n---\n\n".join(spec.decode(s) for s in samples))
        return path
    if len(spec.data_shape) in (2, 3) and spec.pair.event_ndim == 0:
        if spec.eval.num_levels:
            return image_grid(samples, stem.with_suffix(".png"))
        hi = float(np.percentile(samples, 99.5)) or 1.0
        return image_grid(samples, stem.with_suffix(".png"), low=0.0, high=hi)
    return stem.with_suffix(".npy")

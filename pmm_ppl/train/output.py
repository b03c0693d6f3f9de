"""Writing samples: an image grid PNG, text for tokens, and always the raw array (.npy).

Nothing that exists is overwritten unless the caller says so (``overwrite=True``, the command
line's ``--overwrite``): :func:`refuse_existing` is the one check every writer uses."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

import numpy as np

from pmm_ppl.train.spec import ModelSpec


class OutputExistsError(FileExistsError):
    """An output file already exists and overwriting it was not asked for."""


def refuse_existing(paths: Iterable[Path], overwrite: bool, what: str = "output") -> None:
    """Raise :class:`OutputExistsError` naming the files of ``paths`` that exist, unless ``overwrite``."""
    found = [str(p) for p in paths if Path(p).exists()]
    if found and not overwrite:
        raise OutputExistsError(f"{what} exists and would be overwritten: {', '.join(found)}; pass --overwrite "
                                "(overwrite=True) to replace it, or choose another name")


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


def sample_paths(spec: ModelSpec, stem: Path) -> list[Path]:
    """The files :func:`write_samples` writes for ``stem``: ``.npy``, plus ``.txt`` or ``.png``."""
    stem = Path(stem)
    extra = ".txt" if spec.decode is not None else ".png" if _is_image(spec) else None
    return [stem.with_suffix(".npy")] + ([stem.with_suffix(extra)] if extra else [])


def _is_image(spec: ModelSpec) -> bool:
    return len(spec.data_shape) in (2, 3) and spec.pair.event_ndim == 0


def write_samples(spec: ModelSpec, samples: np.ndarray, stem: Path, overwrite: bool = False) -> Path:
    """Write ``samples`` next to ``stem``: ``.npy`` always; ``.png`` for images; ``.txt`` for tokens.
    Refuses (:class:`OutputExistsError`, before writing anything) if one of them exists, unless ``overwrite``."""
    stem = Path(stem)
    refuse_existing(sample_paths(spec, stem), overwrite, "sample output")
    stem.parent.mkdir(parents=True, exist_ok=True)
    np.save(stem.with_suffix(".npy"), samples)
    if spec.decode is not None:
        path = stem.with_suffix(".txt")
        path.write_text("\n\n---\n\n".join(spec.decode(s) for s in samples))
        return path
    if _is_image(spec):
        if spec.eval.num_levels:
            return image_grid(samples, stem.with_suffix(".png"))
        hi = float(np.percentile(samples, 99.5)) or 1.0
        return image_grid(samples, stem.with_suffix(".png"), low=0.0, high=hi)
    return stem.with_suffix(".npy")

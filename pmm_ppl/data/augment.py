r"""Non-leaking geometric augmentation of training images (EDM, Karras et al. 2022, sec. 5 and app. F.2).

An augmented example :math:`x' = g(x)` is trained on *together with a label* :math:`c(g)` that encodes
:math:`g`, with :math:`c(\mathrm{id}) = 0`.  A net conditioned on the label learns

.. math::  f(\mu, t, c) \approx E[x' \mid \mu_t(x') = \mu,\ c],

and because :math:`c = 0` holds exactly when :math:`g` is the identity, :math:`f(\cdot, \cdot, 0)` is
the posterior-mean map of the *real* data law: the augmentations do not leak into the model.  The
bound, the samplers and every other caller use the net without a label (zero), so they see that
model; the augmented examples only share the features it learns (a regulariser for small data sets).

Operations on the image axes ``(1, 2)`` of a batch ``(B, H, W)`` or ``(B, H, W, C)``, each applied to
each example independently with probability ``p``:

``xflip``
    :math:`x'_{ij} = x_{i, W-1-j}`; label :math:`[1]`.
``rot90``
    :math:`x' = \mathrm{rot90}^k(x)`, :math:`k` uniform on :math:`\{1, 2, 3\}` (square images); label
    :math:`[\cos\theta - 1, \sin\theta]` with :math:`\theta = k\pi/2`.
``translate``
    :math:`x'_{ij} = x_{(i - d_y) \bmod H,\, (j - d_x) \bmod W}` with :math:`(d_x, d_y)` uniform on
    :math:`\{-s, \dots, s\}^2 \setminus \{0\}` (circular, so the pixel values are kept); label
    :math:`[d_x / W, d_y / H]`.

An operation not applied contributes zeros to the label, so the label has ``num_labels`` entries
(1 + 2 + 2 for all three) whatever was drawn.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from pmm_ppl.conjugate.validation import PMMInputError

AUGMENTATIONS = ("xflip", "rot90", "translate")
_LABELS = {"xflip": 1, "rot90": 2, "translate": 2}
#: [cos(theta) - 1, sin(theta)] of a turn by theta = pi/2, pi, 3 pi/2
_ROT90_LABELS = np.asarray([[-1.0, 1.0], [-2.0, 0.0], [-1.0, -1.0]], np.float32)


@dataclasses.dataclass(frozen=True)
class GeometricAugmentation:
    """``augment(key, x) -> (x', labels)``: the batch with each operation applied per example with
    probability ``probability``, and the ``(B, num_labels)`` labels that encode what was applied.

    Args:
      probability: chance that each operation is applied to an example (EDM uses 0.12 on CIFAR-10).
      max_shift: largest translation ``s`` in pixels (``translate`` only).
      operations: a subset of ``("xflip", "rot90", "translate")``, applied in that order.
    """

    probability: float = 0.15
    max_shift: int = 1
    operations: tuple[str, ...] = AUGMENTATIONS

    def __post_init__(self):
        p = self.probability
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= float(p) <= 1.0:
            raise PMMInputError(f"augment: probability must be a number in [0, 1], got {p!r}")
        object.__setattr__(self, "operations", tuple(self.operations))
        unknown = [op for op in self.operations if op not in AUGMENTATIONS]
        if unknown or not self.operations or len(set(self.operations)) != len(self.operations):
            raise PMMInputError(f"augment: operations must be distinct names from {AUGMENTATIONS}, "
                                f"got {self.operations!r}")
        if isinstance(self.max_shift, bool) or not isinstance(self.max_shift, int) or self.max_shift < 1:
            raise PMMInputError(f"augment: max_shift must be a whole number >= 1, got {self.max_shift!r}")

    @classmethod
    def from_setting(cls, value) -> "GeometricAugmentation | None":
        """A model's ``augment`` setting (e.g. from ``--set``): None (no augmentation), a probability, or
        the keyword arguments of this class."""
        if value is None:
            return None
        if isinstance(value, dict):
            unknown = set(value) - {f.name for f in dataclasses.fields(cls)}
            if unknown:
                raise PMMInputError(f"augment: unknown settings {sorted(unknown)}; expected probability, max_shift, "
                                    f"operations")
            return cls(**value)
        return cls(probability=value)

    @property
    def num_labels(self) -> int:
        """Length of the label vector: 1 for ``xflip``, 2 each for ``rot90`` and ``translate``."""
        return sum(_LABELS[op] for op in self.operations)

    def check_shape(self, shape: tuple[int, ...]) -> None:
        """Clear errors for batches the operations cannot take (``shape`` includes the batch axis)."""
        if len(shape) not in (3, 4):
            raise PMMInputError(f"augment: needs images (B, H, W) or (B, H, W, C), got shape {tuple(shape)}")
        h, w = shape[1], shape[2]
        if "rot90" in self.operations and h != w:
            raise PMMInputError(f"augment: rot90 needs square images, got H x W = {h} x {w}")
        if "translate" in self.operations and self.max_shift >= min(h, w):
            raise PMMInputError(f"augment: max_shift {self.max_shift} must be below the image size {min(h, w)}")

    def __call__(self, key: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        self.check_shape(x.shape)
        keys = jax.random.split(key, x.shape[0])
        return jax.vmap(self._one)(keys, x)

    def _one(self, key: jax.Array, image: jax.Array) -> tuple[jax.Array, jax.Array]:
        labels = []
        for op, k in zip(self.operations, jax.random.split(key, len(self.operations))):
            k_apply, k_param = jax.random.split(k)
            apply = jax.random.bernoulli(k_apply, self.probability)
            moved, label = getattr(self, "_" + op)(k_param, image)
            image = jnp.where(apply, moved, image)
            labels.append(jnp.where(apply, label, 0.0))
        return image, jnp.concatenate(labels)

    # each operation maps one image to (g(image), c(g)) for a g drawn from its key
    def _xflip(self, key, image):
        return jnp.flip(image, axis=1), jnp.ones((1,), jnp.float32)

    def _rot90(self, key, image):
        k = jax.random.randint(key, (), 0, 3)  # a turn of (k + 1) quarters
        turned = jax.lax.switch(k, [lambda im, n=n: jnp.rot90(im, n, axes=(0, 1)) for n in (1, 2, 3)], image)
        return turned, jnp.asarray(_ROT90_LABELS)[k]

    def _translate(self, key, image):
        s = self.max_shift
        # uniform on the (2s+1)^2 - 1 non-zero shifts: an index that skips the centre (the zero shift)
        side = 2 * s + 1
        centre = side * side // 2
        idx = jax.random.randint(key, (), 0, side * side - 1)
        idx = idx + (idx >= centre)
        dy, dx = idx // side - s, idx % side - s
        moved = jnp.roll(image, (dy, dx), axis=(0, 1))
        h, w = image.shape[0], image.shape[1]
        return moved, jnp.stack([dx / w, dy / h]).astype(jnp.float32)

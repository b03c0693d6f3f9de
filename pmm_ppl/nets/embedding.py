r"""Conditioning of a denoiser on time or on accuracy.

A denoiser is called as ``net(mu, t)`` with ``t`` of shape ``(B,)`` in ``[0, 1]``.  What the
network actually sees is a scalar *conditioning value* ``c`` per example, chosen by ``kind``:

``"time"``          :math:`c = t`.
``"log_accuracy"``  :math:`c = \log(A(t) + a_{\min})` with :math:`A` the cumulative accuracy of a
                    schedule (any object with a jittable ``A(t)``).  This is the analogue of EDM's
                    :math:`c_{\text{noise}} = \tfrac14 \log\sigma` (for the Normal pair
                    :math:`\sigma^2 = 1/A`), and makes one network reusable across schedules.

The scalar is then lifted to a vector by deterministic Fourier features

.. math::

    \phi(c) = [\sin(\omega_1 c), \dots, \sin(\omega_{d/2} c), \cos(\omega_1 c), \dots, \cos(\omega_{d/2} c)],
    \qquad \omega_j = \omega_{\min} (\omega_{\max}/\omega_{\min})^{(j-1)/(d/2-1)},

(geometric frequencies, the transformer / DDPM "sinusoidal" embedding written with explicit
angular frequencies) followed by a two-layer SiLU MLP.  With ``augment_dim > 0`` the MLP's input is
:math:`\phi(c) + W_a a`, where :math:`a` is the label of a non-leaking augmentation
(:mod:`pmm_ppl.data.augment`, as EDM's ``map_augment``): :math:`W_a` starts at zero, and the label is
zero (the real data) unless :func:`set_augment_labels` sets one for a training call.  Default frequency ranges:
``time``: :math:`\omega \in [1, 1000]` (t has unit range);
``log_accuracy``: :math:`\omega \in [0.05, 50]` (log A spans roughly -14 .. 12).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from pmm_ppl.conjugate.validation import PMMInputError

CONDITIONING_KINDS = ("time", "log_accuracy")
_DEFAULT_FREQS = {"time": (1.0, 1000.0), "log_accuracy": (0.05, 50.0)}


def fourier_features(c: jax.Array, dim: int, min_freq: float, max_freq: float) -> jax.Array:
    """Sinusoidal features of a scalar per example: ``c`` shape ``(B,)`` -> ``(B, dim)`` (``dim`` even)."""
    if dim % 2:
        raise PMMInputError(f"dim: Fourier feature dimension must be even, got {dim}")
    half = dim // 2
    if half == 1:
        freqs = jnp.asarray([min_freq], dtype=jnp.float32)
    else:
        freqs = jnp.exp(jnp.linspace(jnp.log(min_freq), jnp.log(max_freq), half, dtype=jnp.float32))
    angles = jnp.asarray(c, jnp.float32)[..., None] * freqs
    return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)


def conditioning_value(t: jax.Array, kind: str = "time", schedule: Any = None, min_accuracy: float = 1e-6) -> jax.Array:
    """The scalar the net is conditioned on: ``t`` or ``log(A(t) + min_accuracy)`` (see module doc)."""
    t = jnp.asarray(t, jnp.float32)
    if kind == "time":
        return t
    if kind == "log_accuracy":
        if schedule is None:
            raise PMMInputError("conditioning='log_accuracy' needs a schedule with A(t)")
        return jnp.log(jnp.asarray(schedule.A(t), jnp.float32) + min_accuracy)
    raise PMMInputError(f"conditioning: expected one of {CONDITIONING_KINDS}, got {kind!r}")


class AugmentLabel(nnx.Variable):
    """The augmentation labels an embedding adds, ``(B, augment_dim)`` or ``(1, augment_dim)`` zeros (not
    trained, not checkpointed: a net is built with zeros and a training call sets a batch's labels)."""


class ConditioningEmbedding(nnx.Module):
    """``t`` (B,) -> embedding (B, dim): conditioning value, Fourier features (+ augmentation label), SiLU MLP."""

    def __init__(
        self,
        dim: int,
        *,
        kind: str = "time",
        schedule: Any = None,
        num_frequencies: int = 32,
        freq_range: tuple[float, float] | None = None,
        augment_dim: int = 0,
        rngs: nnx.Rngs,
    ):
        if kind not in CONDITIONING_KINDS:
            raise PMMInputError(f"conditioning: expected one of {CONDITIONING_KINDS}, got {kind!r}")
        if kind == "log_accuracy" and (schedule is None or not hasattr(schedule, "A")):
            raise PMMInputError("conditioning='log_accuracy' needs a schedule object with a method A(t)")
        self.kind = kind
        self.schedule = schedule
        self.num_features = 2 * num_frequencies
        self.freq_range = tuple(freq_range or _DEFAULT_FREQS[kind])
        self.dense1 = nnx.Linear(self.num_features, dim, rngs=rngs)
        self.dense2 = nnx.Linear(dim, dim, rngs=rngs)
        if isinstance(augment_dim, bool) or not isinstance(augment_dim, int) or augment_dim < 0:
            raise PMMInputError(f"augment_dim: must be a whole number >= 0, got {augment_dim!r}")
        self.augment_dim = augment_dim
        if augment_dim:  # W_a = 0 at the start: the net starts as the same function of (mu, t) for every label
            self.augment_proj = nnx.Linear(augment_dim, self.num_features, use_bias=False,
                                           kernel_init=nnx.initializers.zeros_init(), rngs=rngs)
            self.augment_label = AugmentLabel(jnp.zeros((1, augment_dim), jnp.float32))

    def __call__(self, t: jax.Array) -> jax.Array:
        c = conditioning_value(t, self.kind, self.schedule)
        h = fourier_features(c, self.num_features, *self.freq_range)
        if self.augment_dim:
            h = h + self.augment_proj(self.augment_label[...])
        return self.dense2(jax.nn.silu(self.dense1(h)))


def set_augment_labels(net: nnx.Module, labels: jax.Array) -> int:
    """Set the augmentation labels ``(B, augment_dim)`` of every augmentation-conditioned embedding in
    ``net`` (for one training call on a freshly rebuilt net); returns how many were set."""
    count = 0
    for _, module in nnx.iter_modules(net):
        if isinstance(module, ConditioningEmbedding) and module.augment_dim:
            if labels.shape[-1] != module.augment_dim:
                raise PMMInputError(f"augment: labels have {labels.shape[-1]} entries, the net's embedding takes "
                                    f"{module.augment_dim}")
            module.augment_label.set_value(jnp.asarray(labels, jnp.float32))
            count += 1
    return count

r"""Output heads: map unconstrained network outputs to the support of the data.

=============  ==============================================
head           map
=============  ==============================================
``real``       identity
``positive``   :math:`\mathrm{softplus}(h) = \log(1 + e^h)`
``simplex``    :math:`\mathrm{softmax}` over the last axis
``unit``       :math:`\sigma(h) = 1/(1+e^{-h})`, in [0, 1]
=============  ==============================================

Each pair names its head (``output_head``, e.g. ``"positive"`` for Gamma-Poisson); :func:`head_for_pair`
reads it.  The denoiser estimates :math:`E^*[x \mid \mu_t]`, a convex combination of data points, so it lies
in the convex hull of the support: real, non-negative, a probability vector, or [0, 1].
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from pmm_ppl.conjugate.registry import pair_class
from pmm_ppl.conjugate.validation import PMMInputError

HEADS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "real": lambda h: h,
    "positive": jax.nn.softplus,
    "simplex": lambda h: jax.nn.softmax(h, axis=-1),
    "unit": jax.nn.sigmoid,
}

def apply_head(head: str, h: jax.Array) -> jax.Array:
    """Apply the named head to the raw output ``h``."""
    try:
        return HEADS[head](h)
    except KeyError:
        raise PMMInputError(f"head: expected one of {sorted(HEADS)}, got {head!r}") from None


def check_head(head: str) -> str:
    if head not in HEADS:
        raise PMMInputError(f"head: expected one of {sorted(HEADS)}, got {head!r}")
    return head


def head_for_pair(pair: Any) -> str:
    """The head a pair names for its data's support (``pair.output_head``); ``pair`` is a pair object,
    a pair class or a registered name."""
    if isinstance(pair, str):
        try:
            pair = pair_class(pair)
        except KeyError as err:
            raise PMMInputError(f"pair: {err.args[0]}") from None
    head = getattr(pair, "output_head", "missing")
    if head == "missing":
        raise PMMInputError(f"pair: expected a conjugate pair or a registered pair name, got {pair!r}")
    if head is None:
        raise PMMInputError(f"pair: no default output head for {pair.name!r} (its data mix supports); pass head= one of {sorted(HEADS)} explicitly")
    return check_head(head)


def head_support_ok(head: str, xhat: jax.Array, atol: float = 1e-5) -> jax.Array:
    """Whether ``xhat`` lies in the head's support (a scalar bool array; used by tests and checks)."""
    if head == "real":
        return jnp.all(jnp.isfinite(xhat))
    if head == "positive":
        return jnp.all(xhat >= 0)
    if head == "unit":
        return jnp.all((xhat >= 0) & (xhat <= 1))
    if head == "simplex":
        return jnp.all(xhat >= 0) & jnp.all(jnp.abs(xhat.sum(-1) - 1) <= atol)
    raise PMMInputError(f"head: expected one of {sorted(HEADS)}, got {head!r}")

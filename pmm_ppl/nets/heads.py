r"""Output heads: map unconstrained network outputs to the support of the data.

=============  ==============================================  =====================================
head           map                                             pairs (by name)
=============  ==============================================  =====================================
``real``       identity                                        ``normal_normal``, ``mvn_normal``
``positive``   :math:`\mathrm{softplus}(h) = \log(1 + e^h)`    ``gamma_poisson``, ``gamma_exponential``,
                                                               ``gamma_gamma`` (any ``gamma_*``)
``simplex``    :math:`\mathrm{softmax}` over the last axis     ``dirichlet_*`` (tokens)
``unit``       :math:`\sigma(h) = 1/(1+e^{-h})`, in [0, 1]     ``beta_binomial`` (any ``beta_*``)
=============  ==============================================  =====================================

The denoiser estimates :math:`E^*[x \mid \mu_t]`, a convex combination of data points, so it lies
in the convex hull of the support: real, non-negative, a probability vector, or [0, 1].
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from pmm_ppl.conjugate.validation import PMMInputError

HEADS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "real": lambda h: h,
    "positive": jax.nn.softplus,
    "simplex": lambda h: jax.nn.softmax(h, axis=-1),
    "unit": jax.nn.sigmoid,
}

# pairs whose data mix supports (no single head fits): the caller must choose
_NO_DEFAULT = {"normal_gamma": "its data (m, tau) mix a real mean and a positive precision"}

# name prefix of a registered pair -> head (first match wins)
_PAIR_PREFIXES: tuple[tuple[str, str], ...] = (
    ("normal_", "real"),
    ("mvn_", "real"),
    ("gamma_", "positive"),
    ("dirichlet_", "simplex"),
    ("beta_", "unit"),
)


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
    """The head matching a pair (a pair object or its registered name), from the table above."""
    name = pair if isinstance(pair, str) else getattr(pair, "name", None)
    if not isinstance(name, str):
        raise PMMInputError(f"pair: expected a pair or a pair name, got {pair!r}")
    if name in _NO_DEFAULT:
        raise PMMInputError(f"pair: no default output head for {name!r}: {_NO_DEFAULT[name]}; pass head= explicitly")
    for prefix, head in _PAIR_PREFIXES:
        if name.startswith(prefix):
            return head
    raise PMMInputError(
        f"pair: no default output head for pair {name!r}; pass head= one of {sorted(HEADS)} explicitly"
    )


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

r"""Which per-coordinate posterior :math:`q(x_d \mid \mu_t)` a denoiser gives, if any: written once, used by
the ancestral sampler (:mod:`.sampler`) and by the log score of the training loss (:mod:`.objectives`).

In order:

1. ``denoiser.posterior(mu, t)`` -- distributional denoisers (level heads, mixture heads, exact oracles,
   :class:`~pmm_ppl.process.kernels.PosteriorDenoiser`);
2. ``pair.law_from_mean(f)`` -- pairs whose data's law is fixed by its mean (one-hot tokens: the categorical
   with probabilities :math:`f`), so any mean denoiser of such a pair is also distributional;
3. none: the denoiser gives only a mean.
"""

from __future__ import annotations

from typing import Any, Callable

import jax

from pmm_ppl.conjugate.base import ConjugatePair

Array = jax.Array


def has_posterior(denoiser: Any, pair: ConjugatePair) -> bool:
    """Whether :func:`posterior_and_mean` can give a per-coordinate posterior for this denoiser and pair."""
    return callable(getattr(denoiser, "posterior", None)) or pair.mean_determines_law


def posterior_fn(denoiser: Any, pair: ConjugatePair) -> Callable[[Array, Array], Any] | None:
    """``(mu, t) -> q`` (the per-coordinate posterior), or ``None`` when the denoiser gives only a mean."""
    if callable(getattr(denoiser, "posterior", None)):
        return denoiser.posterior
    if pair.mean_determines_law:
        return lambda mu, t: pair.law_from_mean(denoiser(mu, t))
    return None


def posterior_and_mean(denoiser: Any, pair: ConjugatePair, mu: Array, t: Array) -> tuple[Any, Array]:
    """``(q, f)``: the per-coordinate posterior and the denoiser's mean :math:`f(\\mu, t)`, with one network
    call where the denoiser offers ``posterior_and_mean`` (the level heads) or the pair's law is fixed by the
    mean."""
    if callable(getattr(denoiser, "posterior_and_mean", None)):
        return denoiser.posterior_and_mean(mu, t)
    if callable(getattr(denoiser, "posterior", None)):
        return denoiser.posterior(mu, t), denoiser(mu, t)
    f = denoiser(mu, t)
    return pair.law_from_mean(f), f


__all__ = ["has_posterior", "posterior_and_mean", "posterior_fn"]

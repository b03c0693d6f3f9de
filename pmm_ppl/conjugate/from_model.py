r"""``pair_from_model``: recognise a registered conjugate pair in a NumPyro model.

The model is traced once (``numpyro.handlers.seed`` + ``trace``) to find its sample sites: the latent
site(s) (not observed) and exactly one observed site.  Plates and ``to_event``/``expand`` wrappers are
looked through.  The conjugate structure is then recognised from the distribution *types* and from
how the observed distribution's parameters depend on the latent value: the model is re-traced with
the latent substituted (``numpyro.handlers.substitute``) at two prior draws, and each rule checks a
relation such as "the Poisson rate is proportional to theta" or "the Normal loc is theta and its scale
does not depend on theta" (in the spirit of Autoconj, Hoffman, Johnson and Tran, 2018, which
recognises conjugacy in the log joint's structure; here the parameters are probed numerically).

The result is the registered pair with the hyperparameters read off the prior (rounded to 7
significant digits, which recovers the Python floats a float32 trace has rounded).  The pair's
:math:`\theta` is in data space: where the model's latent is another parametrisation (a rate
:math:`\lambda` for ``gamma_exponential``, a precision :math:`\tau` for ``invgamma_variance``, a success
probability for ``beta_negative_binomial``) the pair is the same Bayesian model in the coordinates the
rule's description gives.  Accuracies are not hyperparameters; where the accuracy scale is not
identified by the model (the matrix of ``mvn_normal``, the log-scale of ``normal_lognormal``) the
first observation is taken to have accuracy 1.

A model that matches no rule raises :class:`UnrecognisedModelError` listing every rule (``RULES``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import numpy as np
import numpyro.distributions as dist
from numpyro import handlers

from pmm_ppl.conjugate import validation as V
from pmm_ppl.conjugate.base import ConjugatePair
from pmm_ppl.conjugate.normal_gamma import NormalSummary
from pmm_ppl.conjugate.registry import get_pair


class UnrecognisedModelError(V.PMMInputError):
    """The model has no recognised conjugate structure; the message lists what is recognised."""


@dataclasses.dataclass(frozen=True)
class Rule:
    """One recognised structure: ``prior`` and ``likelihood`` (descriptions) and ``match(prior, probe)``,
    which returns the pair or ``None``; ``probe(theta)`` is the observed site's distribution at latent ``theta``."""

    pair: str
    prior: str
    likelihood: str
    match: Callable[[dist.Distribution, Callable, jax.Array], ConjugatePair | None]


def _base(d: dist.Distribution) -> dist.Distribution:
    while isinstance(d, (dist.ExpandedDistribution, dist.Independent, dist.MaskedDistribution)):
        d = d.base_dist
    return d


def _num(v) -> float | tuple:
    """Python float (7 significant digits) or nested tuple of them."""
    a = np.asarray(v, np.float64)
    if a.ndim == 0:
        return float(f"{float(a):.7g}")
    return tuple(_num(x) for x in a)


def _const(v) -> float | tuple | None:
    """The single value of an array whose entries are all (nearly) equal, else ``None``."""
    a = np.asarray(v, np.float64)
    return _num(a.flat[0]) if a.size and np.allclose(a, a.flat[0], rtol=1e-5) else None


def _same(a, b) -> bool:
    a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
    return bool(np.allclose(a, b, rtol=1e-5, atol=1e-7))


def _is(d, *types) -> bool:
    return type(d) in types


def _ratio(probe, theta, param):
    """Values of ``param(probe(theta)) / theta`` at the two probes if they agree (proportionality), else None."""
    r = [np.asarray(param(probe(t)), np.float64) / np.asarray(t, np.float64) for t in theta]
    return r[0] if _same(r[0], r[1]) else None


# ---------------------------------------------------------------------------------------- rules
def _normal_normal(prior, probe, theta):
    if not _is(prior, dist.Normal):
        return None
    obs = [probe(t) for t in theta]
    if all(_is(o, dist.Normal) for o in obs) and all(_same(o.loc, t) for o, t in zip(obs, theta)) and _same(obs[0].scale, obs[1].scale):
        return get_pair("normal_normal", prior_mean_value=_num(prior.loc), prior_precision=_num(prior.scale**-2))
    return None


def _normal_lognormal(prior, probe, theta):
    if not _is(prior, dist.Normal):
        return None
    obs = [probe(t) for t in theta]
    if all(_is(o, dist.LogNormal) for o in obs) and all(_same(o.loc, t) for o, t in zip(obs, theta)) and _same(obs[0].scale, obs[1].scale):
        s = float(np.ravel(obs[0].scale)[0])
        return get_pair("normal_lognormal", c0=_num((s / prior.scale) ** 2), mu0=_num(prior.loc), scale=_num(s))
    return None


def _mvn_normal(prior, probe, theta):
    if not _is(prior, dist.MultivariateNormal):
        return None
    obs = [probe(t) for t in theta]
    if all(_is(o, dist.MultivariateNormal) for o in obs) and all(_same(o.loc, t) for o, t in zip(obs, theta)):
        p = np.asarray(obs[0].precision_matrix, np.float64)
        lam = p.reshape((-1,) + p.shape[-2:])[0]
        return get_pair("mvn_normal", prior_mean_value=_num(prior.loc), prior_precision=_num(prior.precision_matrix), obs_precision=_num(lam))
    return None


def _gamma_poisson(prior, probe, theta):
    if not (_is(prior, dist.Gamma) and _is(probe(theta[0]), dist.Poisson)) or _ratio(probe, theta, lambda o: o.rate) is None:
        return None
    shape, rate = np.asarray(prior.concentration), np.asarray(prior.rate)
    if shape.ndim == 0:
        return get_pair("gamma_poisson", prior_shape=_num(shape), prior_rate=_num(rate))
    # a vector of Gamma(a_k, c) with c = sum a_k: the Poissonised Dirichlet of the token pair
    if _const(rate) is not None and np.isclose(float(rate.flat[0]), shape.sum(), rtol=1e-5):
        conc = _const(shape)
        return get_pair("dirichlet_categorical", num_classes=int(shape.size), prior_concentration=conc if conc is not None else _num(shape))
    return None


def _gamma_rate(prior, probe, theta):
    """Gamma prior on the rate lambda of an Exponential / Gamma(k) likelihood."""
    if not _is(prior, dist.Gamma) or np.ndim(prior.concentration):
        return None
    obs = [probe(t) for t in theta]
    if all(_is(o, dist.Exponential) for o in obs) and all(_same(o.rate, t) for o, t in zip(obs, theta)):
        return get_pair("gamma_exponential", prior_shape=_num(prior.concentration), prior_rate=_num(prior.rate))
    if all(_is(o, dist.Gamma) for o in obs) and all(_same(o.rate, t) for o, t in zip(obs, theta)) and _same(obs[0].concentration, obs[1].concentration):
        k = _const(obs[0].concentration)
        if k is not None:
            name = "gamma_exponential" if k == 1.0 else "gamma_gamma"
            extra = {} if k == 1.0 else {"shape": k}
            return get_pair(name, prior_shape=_num(prior.concentration), prior_rate=_num(prior.rate), **extra)
    return None


def _invgamma_mean(prior, probe, theta):
    """InverseGamma prior on the mean x of Gamma(k alpha, k / x) observations (the pairs' own models)."""
    if not _is(prior, dist.InverseGamma):
        return None
    obs = [probe(t) for t in theta]
    if not all(_is(o, dist.Gamma) for o in obs):
        return None
    k = [_const(np.asarray(o.rate) * np.asarray(t)) for o, t in zip(obs, theta)]
    if k[0] is None or k[0] != k[1]:
        return None
    shape = k[0]
    if shape == 1.0:
        return get_pair("gamma_exponential", prior_shape=_num(prior.concentration), prior_rate=_num(prior.rate))
    return get_pair("gamma_gamma", prior_shape=_num(prior.concentration), prior_rate=_num(np.asarray(prior.rate) / shape), shape=shape)


def _invgamma_weibull(prior, probe, theta):
    """InverseGamma(c + 1, c mu) prior on x = scale^k of Weibull(scale, k) observations."""
    if not _is(prior, dist.InverseGamma):
        return None
    obs = [probe(t) for t in theta]
    if not all(_is(o, dist.Weibull) for o in obs) or not _same(obs[0].concentration, obs[1].concentration):
        return None
    k = _const(obs[0].concentration)
    if k is None or not all(_same(np.asarray(o.scale) ** k, t) for o, t in zip(obs, theta)):
        return None
    c = float(prior.concentration) - 1.0
    return get_pair("invgamma_weibull", c0=_num(c), mu0=_num(float(prior.rate) / c), shape=k)


def _precision_normal(prior, probe, theta):
    """Gamma prior on the precision tau (or InverseGamma on the variance) of Normal(m, .) with known m."""
    if not _is(prior, dist.Gamma, dist.InverseGamma) or np.ndim(prior.concentration):
        return None
    obs = [probe(t) for t in theta]
    if not all(_is(o, dist.Normal) for o in obs) or not _same(obs[0].loc, obs[1].loc):
        return None
    var = [np.asarray(o.scale, np.float64) ** 2 for o in obs]
    if _is(prior, dist.Gamma):  # tau ~ Gamma(c/2 + 1, c mu/2), variance 1/tau
        if not all(_same(v * t, 1.0) for v, t in zip(var, theta)):
            return None
    elif not all(_same(v, t) for v, t in zip(var, theta)):  # sigma^2 ~ InvGamma(c/2 + 1, c mu/2)
        return None
    c = 2.0 * (float(prior.concentration) - 1.0)
    return get_pair("invgamma_variance", c0=_num(c), mu0=_num(2.0 * float(prior.rate) / c))


def _gamma_pareto(prior, probe, theta):
    """Gamma(c + 1, c mu) prior on the shape a = 1/x of Pareto(m, a) observations."""
    if not _is(prior, dist.Gamma) or np.ndim(prior.concentration):
        return None
    obs = [probe(t) for t in theta]
    if not all(_is(o, dist.Pareto) for o in obs) or not all(_same(o.alpha, t) for o, t in zip(obs, theta)):
        return None
    m = _const(obs[0].scale)
    c = float(prior.concentration) - 1.0
    return None if m is None else get_pair("gamma_pareto", c0=_num(c), mu0=_num(float(prior.rate) / c), scale=m)


def _beta(prior, probe, theta):
    if not _is(prior, dist.Beta):
        return None
    obs = [probe(t) for t in theta]
    a, b = float(prior.concentration1), float(prior.concentration0)
    if all(_is(o, dist.BinomialProbs, dist.BernoulliProbs) for o in obs) and all(_same(o.probs, t) for o, t in zip(obs, theta)):
        return get_pair("beta_binomial", prior_concentration1=_num(a), prior_concentration0=_num(b))
    if all(_is(o, dist.GeometricProbs) for o in obs) and all(_same(o.probs, t) for o, t in zip(obs, theta)):
        # success probability p ~ Beta(a, b): failure probability q = 1 - p ~ Beta(b, a) = Beta(c mu, c + 1)
        return get_pair("beta_geometric", c0=_num(a - 1.0), mu0=_num(b / (a - 1.0)))
    if all(_is(o, dist.NegativeBinomialProbs) for o in obs) and all(_same(o.probs, t) for o, t in zip(obs, theta)):
        # numpyro's probs q: mean r q / (1 - q); q ~ Beta(c mu, c r + 1)
        r = _const(obs[0].total_count)
        if r is not None:
            c = (b - 1.0) / r
            return get_pair("beta_negative_binomial", c0=_num(c), mu0=_num(a / c), concentration=r)
    return None


def _dirichlet(prior, probe, theta):
    if not _is(prior, dist.Dirichlet):
        return None
    obs = [probe(t) for t in theta]
    if all(_is(o, dist.MultinomialProbs, dist.CategoricalProbs) for o in obs) and all(_same(o.probs, t) for o, t in zip(obs, theta)):
        conc = np.asarray(prior.concentration)
        c = _const(conc)
        return get_pair("dirichlet_multinomial", num_classes=int(conc.shape[-1]), prior_concentration=c if c is not None else _num(conc))
    return None


RULES: tuple[Rule, ...] = (
    Rule("normal_normal", "theta ~ Normal", "Normal(theta, scale free of theta)", _normal_normal),
    Rule("normal_lognormal", "theta ~ Normal", "LogNormal(theta, scale free of theta)", _normal_lognormal),
    Rule("mvn_normal", "theta ~ MultivariateNormal", "MultivariateNormal(theta, precision)", _mvn_normal),
    Rule("gamma_poisson", "theta ~ Gamma", "Poisson(alpha * theta)", _gamma_poisson),
    Rule("dirichlet_categorical", "theta ~ Gamma(a_k, sum_k a_k) per class", "Poisson(alpha * theta_k) per class", _gamma_poisson),
    Rule("gamma_exponential / gamma_gamma", "rate ~ Gamma", "Exponential(rate) or Gamma(k, rate)", _gamma_rate),
    Rule("gamma_exponential / gamma_gamma", "mean ~ InverseGamma", "Gamma(k alpha, k / mean)", _invgamma_mean),
    Rule("invgamma_weibull", "x ~ InverseGamma", "Weibull(x^(1/k), k)", _invgamma_weibull),
    Rule("invgamma_variance", "precision ~ Gamma (or variance ~ InverseGamma)", "Normal(known m, precision^-1/2)", _precision_normal),
    Rule("gamma_pareto", "shape ~ Gamma", "Pareto(known m, shape)", _gamma_pareto),
    Rule("beta_binomial", "p ~ Beta", "Binomial(n, p) or Bernoulli(p)", _beta),
    Rule("beta_geometric", "p ~ Beta", "Geometric(p)", _beta),
    Rule("beta_negative_binomial", "q ~ Beta", "NegativeBinomialProbs(r, q)", _beta),
    Rule("dirichlet_multinomial", "theta ~ Dirichlet", "Multinomial(n, theta) or Categorical(theta)", _dirichlet),
    # two latent sites: matched by _normal_gamma in pair_from_model, listed here for the error message
    Rule("normal_gamma", "tau ~ Gamma, m ~ Normal(m0, (kappa tau)^-1/2)", "Normal(m, tau^-1/2) or its summary", lambda *a: None),
)


def recognised() -> str:
    """One line per rule: ``pair: prior ; likelihood``."""
    return "\n".join(f"  {r.pair}: {r.prior} ; y ~ {r.likelihood}" for r in RULES)


# ---------------------------------------------------------------------------------------- tracing
def _sites(model, args, kwargs, substitute=None):
    m = handlers.seed(model, jax.random.key(0))
    if substitute:
        m = handlers.substitute(m, data=substitute)
    tr = handlers.trace(m).get_trace(*args, **kwargs)
    samples = [s for s in tr.values() if s["type"] == "sample"]
    return [s for s in samples if not s["is_observed"]], [s for s in samples if s["is_observed"]]


def _describe(site) -> str:
    return f"{site['name']!r} ~ {type(_base(site['fn'])).__name__}"


def _normal_gamma(latents, observed):
    """Two latents: tau ~ Gamma(a, b) and m ~ Normal(m0, (kappa tau)^-1/2); y ~ Normal(m, .) or its summary."""
    by_type = {type(_base(s["fn"])): s for s in latents}
    tau_site, m_site = by_type.get(dist.Gamma), by_type.get(dist.Normal)
    if tau_site is None or m_site is None:
        return None
    tau, m_prior, tau_prior = tau_site["value"], _base(m_site["fn"]), _base(tau_site["fn"])
    kappa = 1.0 / (np.asarray(m_prior.scale, np.float64) ** 2 * np.asarray(tau, np.float64))
    obs = _base(observed["fn"])
    m = m_site["value"]
    ok_summary = isinstance(obs, NormalSummary) and _same(obs.m, m) and _same(obs.tau, tau)
    ok_normal = _is(obs, dist.Normal) and _same(obs.loc, m) and _const(np.asarray(obs.scale) ** 2 * np.asarray(tau)) is not None
    if not (ok_summary or ok_normal):
        return None
    return get_pair("normal_gamma", prior_loc=_num(m_prior.loc), prior_kappa=_num(kappa), prior_shape=_num(tau_prior.concentration), prior_rate=_num(tau_prior.rate))


def pair_from_model(model: Callable, *args: Any, **kwargs: Any) -> ConjugatePair:
    """The registered conjugate pair of a NumPyro ``model(*args, **kwargs)`` with one latent site (two for
    Normal-Gamma: precision and mean) and one observed site, with the prior's hyperparameters.

    Example::

        def model(ys):
            rate = numpyro.sample("rate", dist.Gamma(2.0, 1.5))
            with numpyro.plate("obs", ys.shape[0]):
                numpyro.sample("y", dist.Poisson(rate), obs=ys)

        pair_from_model(model, ys)   # GammaPoisson(prior_shape=2.0, prior_rate=1.5)

    Raises :class:`UnrecognisedModelError` (a ``PMMInputError``) listing the recognised structures."""
    latents, observed = _sites(model, args, kwargs)
    where = f"latent {', '.join(map(_describe, latents)) or '(none)'}; observed {', '.join(map(_describe, observed)) or '(none)'}"
    if len(observed) != 1 or not 1 <= len(latents) <= 2:
        raise UnrecognisedModelError(f"model: needs one latent sample site (two for Normal-Gamma) and one observed site, got {where}.\nRecognised:\n{recognised()}")
    if len(latents) == 2:
        pair = _normal_gamma(latents, observed[0])
    else:
        latent, obs_name = latents[0], observed[0]["name"]
        prior = _base(latent["fn"])
        k1, k2 = jax.random.split(jax.random.key(1))
        theta = (latent["fn"].sample(k1), latent["fn"].sample(k2))

        def probe(value):
            return _base({s["name"]: s for s in _sites(model, args, kwargs, {latent["name"]: value})[1]}[obs_name]["fn"])

        pair = None
        for rule in RULES:
            try:
                pair = rule.match(prior, probe, theta)
            except (AttributeError, TypeError, ValueError):  # a parameter the rule reads is not there
                pair = None
            if pair is not None:
                break
    if pair is None:
        raise UnrecognisedModelError(f"model: no recognised conjugate structure ({where}).\nRecognised:\n{recognised()}")
    return pair

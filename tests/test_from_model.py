"""``pair_from_model`` recognises the conjugate structure of NumPyro models.

* the nine original pairs from their own ``model()`` (non-default hyperparameters, mixed accuracies):
  the recognised pair is the same registered pair with the same hyperparameters (relative 1e-6);
* user-written models, with plates and other site names: Gamma-Poisson, Beta-Bernoulli, Gamma rate of
  an Exponential, and the new exp-family pairs (negative binomial, geometric, Normal precision, log-normal,
  Weibull, Pareto);
* the recognised pair is the model's Bayesian model: its closed-form posterior mean equals the NUTS-free
  quadrature of the user's model (Gamma-Poisson, checked through ``numpyro.infer.util.log_density``);
* a model it cannot recognise gets ``UnrecognisedModelError`` (a ``PMMInputError`` naming ``model``)
  that lists the recognised structures.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

import pmm_ppl
from pmm_ppl import PMMInputError, pair_from_model

ORIGINALS = [
    ("normal_normal", dict(prior_mean_value=0.3, prior_precision=2.5)),
    ("mvn_normal", dict(prior_mean_value=(0.5, -1.0), prior_precision=((2.0, 0.3), (0.3, 1.0)), obs_precision=((1.5, 0.2), (0.2, 0.7)))),
    ("normal_gamma", dict(prior_loc=0.7, prior_kappa=3.0, prior_shape=3.0, prior_rate=2.5)),
    ("gamma_poisson", dict(prior_shape=2.5, prior_rate=0.8)),
    ("gamma_exponential", dict(prior_shape=3.5, prior_rate=1.2)),
    ("gamma_gamma", dict(prior_shape=2.5, prior_rate=1.7, shape=3.0)),
    ("beta_binomial", dict(prior_concentration1=1.5, prior_concentration0=4.0)),
    ("dirichlet_categorical", dict(num_classes=3, prior_concentration=(0.5, 1.0, 2.0))),
    ("dirichlet_multinomial", dict(num_classes=4, prior_concentration=0.7)),
]


def _fields(pair):
    return {f.name: getattr(pair, f.name) for f in dataclasses.fields(pair) if f.init}


def _assert_same_pair(got, expected):
    assert type(got) is type(expected), (type(got).__name__, type(expected).__name__)
    for name, value in _fields(expected).items():
        np.testing.assert_allclose(np.asarray(getattr(got, name), float), np.asarray(value, float), rtol=1e-6, err_msg=name)


@pytest.mark.parametrize("name,hyper", ORIGINALS, ids=[n for n, _ in ORIGINALS])
def test_recognises_the_original_pairs_from_their_models(name, hyper):
    pair = pmm_ppl.get_pair(name, **hyper)
    integer = pair.accuracy_kind == "integer"
    alphas = jnp.asarray([1.0, 3.0, 2.0] if integer else [1.0, 0.5, 2.0])  # first accuracy 1 (see from_model)
    x = pair.sample_data(jax.random.key(0))
    ys = jnp.stack([pair.observation(x, a).sample(k) for k, a in zip(jax.random.split(jax.random.key(1), 3), alphas)])
    _assert_same_pair(pair_from_model(pair.model, ys, alphas), pair)


def _plated(prior_site, likelihood):
    def model(ys):
        theta = numpyro.sample(*prior_site)
        with numpyro.plate("data", ys.shape[0]):
            numpyro.sample("obs", likelihood(theta), obs=ys)

    return model


USER_MODELS = [
    ("gamma_poisson", ("rate", dist.Gamma(2.0, 1.5)), dist.Poisson, [1.0, 4.0], dict(prior_shape=2.0, prior_rate=1.5)),
    ("beta_binomial", ("p", dist.Beta(2.0, 3.0)), lambda p: dist.Bernoulli(probs=p), [1.0, 0.0], dict(prior_concentration1=2.0, prior_concentration0=3.0)),
    ("gamma_exponential", ("lam", dist.Gamma(3.0, 2.0)), dist.Exponential, [0.5, 1.5], dict(prior_shape=3.0, prior_rate=2.0)),
    ("gamma_gamma", ("lam", dist.Gamma(3.0, 2.0)), lambda lam: dist.Gamma(2.5, lam), [0.5, 1.5], dict(prior_shape=3.0, prior_rate=2.0, shape=2.5)),
    # q ~ Beta(c mu, c r + 1): Beta(3, 5) with r = 2 is c = 2, mu = 1.5
    ("beta_negative_binomial", ("q", dist.Beta(3.0, 5.0)), lambda q: dist.NegativeBinomialProbs(2.0, q), [1.0, 3.0], dict(c0=2.0, mu0=1.5, concentration=2.0)),
    # success probability p ~ Beta(c + 1, c mu): Beta(3, 4) is c = 2, mu = 2
    ("beta_geometric", ("p", dist.Beta(3.0, 4.0)), lambda p: dist.Geometric(probs=p), [0.0, 2.0], dict(c0=2.0, mu0=2.0)),
    # tau ~ Gamma(c/2 + 1, c mu/2): Gamma(3, 2) is c = 4, mu = 1
    ("invgamma_variance", ("tau", dist.Gamma(3.0, 2.0)), lambda tau: dist.Normal(0.5, tau**-0.5), [0.1, 1.2], dict(c0=4.0, mu0=1.0)),
    ("invgamma_variance", ("var", dist.InverseGamma(3.0, 2.0)), lambda v: dist.Normal(0.5, jnp.sqrt(v)), [0.1, 1.2], dict(c0=4.0, mu0=1.0)),
    # log-mean ~ N(0.2, sigma^2 / c) with sigma = 0.6, c = 4
    ("normal_lognormal", ("m", dist.Normal(0.2, 0.3)), lambda m: dist.LogNormal(m, 0.6), [1.1, 0.7], dict(c0=4.0, mu0=0.2, scale=0.6)),
    # x = scale^k ~ InvGamma(c + 1, c mu)
    ("invgamma_weibull", ("x", dist.InverseGamma(3.0, 2.0)), lambda x: dist.Weibull(x ** (1 / 1.5), 1.5), [0.8, 1.3], dict(c0=2.0, mu0=1.0, shape=1.5)),
    ("gamma_pareto", ("a", dist.Gamma(3.0, 1.0)), lambda a: dist.Pareto(1.5, a), [1.7, 3.0], dict(c0=2.0, mu0=0.5, scale=1.5)),
]


@pytest.mark.parametrize("name,site,likelihood,ys,hyper", USER_MODELS, ids=[f"{m[0]}-{m[1][0]}" for m in USER_MODELS])
def test_recognises_user_models(name, site, likelihood, ys, hyper):
    got = pair_from_model(_plated(site, likelihood), jnp.asarray(ys))
    _assert_same_pair(got, pmm_ppl.get_pair(name, **hyper))


def test_recognised_pair_is_the_models_posterior():
    """Gamma-Poisson: the pair's posterior mean after the data equals the model's posterior mean by quadrature."""
    from numpyro.infer.util import log_density

    ys = jnp.asarray([2.0, 0.0, 5.0, 1.0])
    model = _plated(("rate", dist.Gamma(2.0, 1.5)), dist.Poisson)
    pair = pair_from_model(model, ys)
    grid = jnp.linspace(1e-4, 12.0, 20_001)
    lp = jax.vmap(lambda r: log_density(model, (ys,), {}, {"rate": r})[0])(grid)
    w = np.exp(np.asarray(lp, np.float64) - float(lp.max()))
    quad_mean = float(np.sum(w * np.asarray(grid)) / np.sum(w))
    got = float(pair.mean(pair.update_many(pair.init(), ys, jnp.ones(4))))
    np.testing.assert_allclose(got, quad_mean, rtol=1e-4)


UNRECOGNISED = [
    ("log-link Poisson", _plated(("theta", dist.Normal(0.0, 1.0)), lambda t: dist.Poisson(jnp.exp(t))), [1.0, 2.0]),
    ("Normal loc theta^2", _plated(("theta", dist.Normal(0.0, 1.0)), lambda t: dist.Normal(t**2, 1.0)), [1.0, 2.0]),
    ("Beta prior, Poisson", _plated(("p", dist.Beta(1.0, 1.0)), dist.Poisson), [1.0, 2.0]),
]


@pytest.mark.parametrize("label,model,ys", UNRECOGNISED, ids=[u[0] for u in UNRECOGNISED])
def test_unrecognised_model_lists_what_is_recognised(label, model, ys):
    with pytest.raises(PMMInputError, match=r"^model: no recognised conjugate structure") as err:
        pair_from_model(model, jnp.asarray(ys))
    message = str(err.value)
    assert "Recognised:" in message and "gamma_poisson: theta ~ Gamma ; y ~ Poisson(alpha * theta)" in message
    assert "'theta' ~" in message or "'p' ~" in message  # names the model's sites


def test_wrong_number_of_sites_is_named():
    def two_observed(ys):
        t = numpyro.sample("t", dist.Normal(0.0, 1.0))
        numpyro.sample("a", dist.Normal(t, 1.0), obs=ys)
        numpyro.sample("b", dist.Normal(t, 1.0), obs=ys)

    with pytest.raises(PMMInputError, match=r"^model: needs one latent sample site"):
        pair_from_model(two_observed, jnp.ones(2))


def test_recognises_a_user_normal_gamma_model():
    def model(ys, kappa=3.0):
        tau = numpyro.sample("tau", dist.Gamma(3.0, 2.5))
        m = numpyro.sample("m", dist.Normal(0.7, 1.0 / jnp.sqrt(kappa * tau)))
        with numpyro.plate("data", ys.shape[0]):
            numpyro.sample("y", dist.Normal(m, 1.0 / jnp.sqrt(tau)), obs=ys)

    ys = jnp.asarray([0.2, 1.1, 0.9])
    got = pair_from_model(model, ys)
    _assert_same_pair(got, pmm_ppl.get_pair("normal_gamma", prior_loc=0.7, prior_kappa=3.0, prior_shape=3.0, prior_rate=2.5))
    # a prior off the Diaconis-Ylvisaker line a_0 = (kappa_0 + 3)/2 is refused, naming the reason
    with pytest.raises(PMMInputError, match=r"prior_shape: .*Diaconis-Ylvisaker"):
        pair_from_model(model, ys, kappa=1.5)

"""The ancestral sampler: exact oracles give the target for every linear pair; the plug-in sampler is exact
only for the pairs that say so ("limit"), and for "unit_steps" pairs with one trial per step.

Statistic (``pmm_ppl.process.exactness``): share of samples nearer the first of two atoms weighted
0.3 / 0.7, n = 2000 (SE 0.0102), T = 200; a row passes within 4 SE.  Fixed seeds."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest

import pmm_ppl
from pmm_ppl.conjugate.base import LinearPair
from pmm_ppl.process.exactness import check_sampler, two_atoms

LINEAR = [n for n in pmm_ppl.list_pairs() if isinstance(pmm_ppl.get_pair(n), LinearPair)]


@pytest.mark.parametrize("name", LINEAR)
def test_ancestral_sampler_reproduces_the_target_for_every_linear_pair(name):
    pair = pmm_ppl.get_pair(name)
    row = check_sampler(pair, "ancestral", 200, 2000)
    assert row.within_noise, row
    if pair.plug_in_exact == "limit":
        plug = check_sampler(pair, "plug_in", 200, 2000)
        assert plug.within_noise, plug
    if pair.plug_in_exact == "unit_steps":  # one trial per step: the plug-in step is exact
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # and the sampler does not warn about it
            plug = check_sampler(pair, "plug_in", 200, 2000, process=pmm_ppl.Process.for_pair(pair, kind="power", a_max=200.0))
        assert plug.within_noise, plug


def test_plug_in_bias_on_a_gamma_channel_is_visible_and_the_ancestral_sampler_removes_it():
    """gamma_gamma ("no"): the plug-in share of the lower atom is far below 0.3 even at T = 800."""
    pair = pmm_ppl.get_pair("gamma_gamma")
    with pytest.warns(UserWarning, match="biased"):
        plug = check_sampler(pair, "plug_in", 800, 2000, seed=1)
    anc = check_sampler(pair, "ancestral", 800, 2000, seed=1)
    assert plug.statistic < plug.exact - 6 * plug.stderr, plug
    assert anc.within_noise, anc


def test_oracle_posteriors_have_the_oracle_as_their_mean():
    """The per-coordinate posterior of each exact oracle averages to the oracle (Monte Carlo and exact mean)."""
    nn = pmm_ppl.get_pair("normal_normal")
    gp = pmm_ppl.get_pair("gamma_poisson")
    cases = [
        (nn, pmm_ppl.gaussian_mixture_oracle(nn, pmm_ppl.schedule_for(nn), [0.4, 0.6], [[-1.0, 0.5], [1.0, 2.0]], [[0.1, 0.0], [0.3, 0.2]])),
        (gp, pmm_ppl.poisson_mixture_oracle(gp, pmm_ppl.schedule_for(gp), [0.5, 0.5], [[1.0, 3.0], [6.0, 0.5]])),
        (gp, pmm_ppl.empirical_oracle(gp, pmm_ppl.schedule_for(gp), jnp.asarray([[0.0, 2.0], [5.0, 1.0], [3.0, 3.0]]))),
    ]
    for pair, oracle in cases:
        schedule = pmm_ppl.schedule_for(pair)
        x = jnp.asarray(two_atoms(pair, 3)[:, None].repeat(2, axis=1)).reshape(2, 2) if pair is nn else jnp.asarray([[2.0, 1.0], [4.0, 0.0]])
        t = jnp.asarray([0.3, 0.6])
        mu = pair.mean(pair.flow(jax.random.key(4), x, schedule.A(t)[:, None]))
        q = oracle.posterior(mu, t)
        # a categorical on the counts 0..X has no numpyro mean: its values are the indices
        exact = (q.probs * jnp.arange(q.probs.shape[-1])).sum(-1) if isinstance(q, dist.CategoricalProbs) else q.mean
        np.testing.assert_allclose(np.asarray(exact), np.asarray(oracle(mu, t)), rtol=1e-4, atol=1e-4)
        draws = q.sample(jax.random.key(5), (20000,))
        np.testing.assert_allclose(np.asarray(draws.mean(0)), np.asarray(oracle(mu, t)), atol=0.06)


def test_ancestral_needs_a_posterior():
    pair = pmm_ppl.get_pair("normal_normal")
    with pytest.raises(pmm_ppl.PMMInputError, match="posterior"):
        pmm_ppl.sample(pair, lambda mu, t: mu, jax.random.key(0), 2, (1,), pmm_ppl.schedule_for(pair), 4, sampler="ancestral")
    with pytest.raises(pmm_ppl.PMMInputError, match="sampler"):
        pmm_ppl.sample(pair, lambda mu, t: mu, jax.random.key(0), 2, (1,), pmm_ppl.schedule_for(pair), 4, sampler="exact")


def test_level_head_posterior_drives_the_ancestral_sampler():
    """A level head with a constant backbone is the exact E*[x | mu] of a uniform prior on its levels, per
    coordinate; its ``posterior`` makes the ancestral sampler reproduce that prior on a Gamma channel,
    where the plug-in sampler is biased (n = 2000, SE 0.011, T = 200, 4 SE)."""
    from pmm_ppl.nets.discretised import LevelPosteriorDenoiser

    pair = pmm_ppl.get_pair("gamma_gamma")
    process = pmm_ppl.Process.for_pair(pair)
    levels = jnp.asarray([0.3, 2.0])
    net = LevelPosteriorDenoiser(lambda mu_in, t: jnp.zeros(mu_in.shape + (2,)), pair, process.schedule, levels)
    mu, t = jnp.full((4, 3), 1.0), jnp.full((4,), 0.5)
    np.testing.assert_allclose(np.asarray(net.posterior(mu, t).mean), np.asarray(net(mu, t)), rtol=1e-5)
    n, se = 2000, float(np.sqrt(0.25 / 2000))
    shares = {}
    for sampler in ("ancestral", "plug_in"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x = process.sample(net, jax.random.key(12), n, (3,), num_steps=200, sampler=sampler, output="mean")
        shares[sampler] = float(np.mean(np.asarray(x) < 0.8))
    assert abs(shares["ancestral"] - 0.5) < 4 * se, shares
    assert shares["plug_in"] < 0.5 - 4 * se, shares

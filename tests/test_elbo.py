"""The likelihood bound on small finite targets p* = sum_j w_j delta_{x_j}, with the exact oracle.

What must hold.  The T-step bound L_T(x) >= -log p_T(x) for every datum, p_T the T-step model of the
sampler (plug-in or ancestral receiver); it is checked per atom where p_T is computable exactly (a
scalar count: the chain's law propagated by sde.cox.count_chain_pmf).  Against the truth -log w_j
only the average holds, sum_j w_j L_T(x_j) >= H(w) (Gibbs); per atom L_T(x_j) < -log w_j happens
wherever p_T(x_j) > w_j (shown for Gamma-Poisson below).  Beyond the inequalities: the plug-in bound
shrinks as T grows and the continuous-time bound equals the truth up to the reconstruction gap
(negligible where A_max resolves the targets); the ancestral bound is tight already at small T.
Each pair gets its own reconstruction: discretised Gaussian on the 17-level grid (Normal),
discretised Gamma (counts), exact categorical (tokens).  Reconstruction terms are checked against
scipy separately.  Monte Carlo tolerances: 4 standard errors.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from scipy import stats

from pmm_ppl import PMMInputError, get_pair
from pmm_ppl.conjugate.dirichlet_categorical import encode_tokens
from pmm_ppl.process.elbo import (
    CategoricalReconstruction,
    DiscretisedGamma,
    DiscretisedGaussian,
    GaussianDensity,
    continuous_elbo,
    discrete_elbo,
    to_bits_per_dim,
)
from pmm_ppl.nets.discretised import DiscretisedNormalPreconditioned
from pmm_ppl.nets.mlp import MLP
from pmm_ppl.process.oracles import (
    empirical_oracle,
    empirical_oracle_at_accuracy,
    empirical_posterior_at_accuracy,
    gaussian_mixture_oracle,
)
from pmm_ppl.process.process import Process
from pmm_ppl.sde.cox import count_chain_pmf, count_state
from pmm_ppl.process.schedules import GeometricSchedule

LEVELS = np.linspace(-1.0, 1.0, 17)
W = np.array([0.2, 0.3, 0.5])
TRUTH = -np.log(W)
ENTROPY = float(np.sum(W * TRUTH))
NN = get_pair("normal_normal")
NN_POINTS = np.array([[LEVELS[4], LEVELS[10]], [LEVELS[12], LEVELS[12]], [LEVELS[8], LEVELS[2]]])
NN_SCHED = GeometricSchedule(a_max=1e4, scale=1.0)
NN_RECON = DiscretisedGaussian(num_levels=17)
NN_ORACLE = empirical_oracle(NN, NN_SCHED, NN_POINTS, W)


def _assert_average_bounds_entropy(est, w, label):
    """sum_j w_j L(x_j) >= H(w) = -sum_j w_j log w_j, to 4 standard errors of the weighted sum (the
    examples' estimates are independent)."""
    w = np.asarray(w)
    avg = float(np.sum(w * np.asarray(est.nats)))
    se = float(np.sqrt(np.sum((w * np.asarray(est.stderr)) ** 2)))
    entropy = float(-np.sum(w * np.log(w)))
    assert avg > entropy - 4.0 * se, (label, avg, entropy, se, np.asarray(est.nats))


def _assert_tightens(coarse, fine, label):
    diff = np.asarray(coarse.nats - fine.nats)
    se = np.sqrt(np.asarray(coarse.stderr) ** 2 + np.asarray(fine.stderr) ** 2)
    assert np.all(diff > -4.0 * se), (label, np.asarray(coarse.nats), np.asarray(fine.nats), se)


# ------------------------------------------------------------------------------------ Normal-Normal
def test_normal_discrete_bound_tightens_to_truth():
    """T = 4, 16, 64, 256: weighted average >= entropy, monotone within noise, and |L_256 - truth| < 0.1 + 4 SE."""
    x = jnp.asarray(NN_POINTS, jnp.float32)
    ests = {T: discrete_elbo(NN, NN_ORACLE, jax.random.PRNGKey(T), x, NN_SCHED, T, recon=NN_RECON, num_mc=32) for T in (4, 16, 64, 256)}
    for T, e in ests.items():
        _assert_average_bounds_entropy(e, W, f"T={T}")
        np.testing.assert_allclose(np.asarray(e.nats), np.asarray(e.kl + e.recon), rtol=1e-5)
        np.testing.assert_allclose(np.asarray(e.kl), np.asarray(e.kl_per_step.sum(1)), rtol=1e-4)
    for a, b in ((4, 16), (16, 64), (64, 256)):
        _assert_tightens(ests[a], ests[b], f"{a}->{b}")
    assert np.all(np.asarray(ests[4].nats) > TRUTH + 1.0)  # the coarse bound is visibly loose
    gap = np.abs(np.asarray(ests[256].nats) - TRUTH)
    assert np.all(gap < 0.1 + 4 * np.asarray(ests[256].stderr)), (np.asarray(ests[256].nats), TRUTH)
    assert np.all(np.asarray(ests[256].recon) < 1e-3)  # A_max = 1e4 resolves the grid (s.d. 0.01 vs half-bin 0.0625)


def test_normal_chain_and_marginal_estimators_agree():
    x = jnp.asarray(NN_POINTS, jnp.float32)
    m = discrete_elbo(NN, NN_ORACLE, jax.random.PRNGKey(1), x, NN_SCHED, 16, recon=NN_RECON, num_mc=32, mode="marginal")
    c = discrete_elbo(NN, NN_ORACLE, jax.random.PRNGKey(2), x, NN_SCHED, 16, recon=NN_RECON, num_mc=32, mode="chain")
    se = np.sqrt(np.asarray(m.stderr) ** 2 + np.asarray(c.stderr) ** 2)
    assert np.all(np.abs(np.asarray(m.nats - c.nats)) < 4 * se), (np.asarray(m.nats), np.asarray(c.nats), se)


def test_normal_ancestral_bound():
    """The ancestral receiver on two correlated coordinates (the empirical oracle's per-coordinate
    posterior): weighted average >= entropy at T = 4 and 64, far tighter than the plug-in bound at
    T = 4 (> truth + 1 there), and close to the truth at T = 64."""
    x = jnp.asarray(NN_POINTS, jnp.float32)
    process = Process(NN, NN_SCHED)  # process.bound forwards the receiver to discrete_elbo
    ests = {T: process.bound(NN_ORACLE, jax.random.PRNGKey(20 + T), x, T, receiver="ancestral", recon=NN_RECON, num_mc=64,
                             mode="chain") for T in (4, 64)}
    for T, e in ests.items():
        _assert_average_bounds_entropy(e, W, f"ancestral T={T}")
    assert np.all(np.asarray(ests[4].nats) < TRUTH + 0.6), np.asarray(ests[4].nats)
    gap = np.abs(np.asarray(ests[64].nats) - TRUTH)
    assert np.all(gap < 0.1 + 4 * np.asarray(ests[64].stderr)), (np.asarray(ests[64].nats), TRUTH)


def test_normal_continuous_bound_equals_truth():
    x = jnp.asarray(NN_POINTS, jnp.float32)
    e = continuous_elbo(NN, NN_ORACLE, jax.random.PRNGKey(3), x, NN_SCHED, recon=NN_RECON, num_mc=1024)
    assert np.all(np.asarray(e.stderr) < 0.2)
    assert np.all(np.abs(np.asarray(e.nats) - TRUTH) < 4 * np.asarray(e.stderr) + 0.02), (np.asarray(e.nats), TRUTH)


# ------------------------------------------------------------------------------------ Gamma-Poisson, tokens
GP = get_pair("gamma_poisson")
GP_POINTS = np.array([0.0, 1.0, 3.0])  # scalar counts: the chain's state is one count, its law computable
GP_SCHED = GeometricSchedule(a_max=20.0, scale=1.0)
GP_MAX_COUNT = 130  # N_T ~ Poisson(20 x) <= 60 on average: the truncated mass is checked below


def _exact_neg_log_p_T(receiver, num_steps):
    """-log p_T(x_j) of the T-step sampler's model: the pmf of the count N_T (count_chain_pmf), pushed
    through the discretised-Gamma reconstruction at the oracle's final mean; and the pmf's total mass."""
    oracle = (empirical_oracle_at_accuracy if receiver == "plug_in" else empirical_posterior_at_accuracy)(GP, GP_POINTS, W)
    pmf = count_chain_pmf(GP, oracle, GP_SCHED.grid(num_steps).cumulative, GP_MAX_COUNT, receiver=receiver)
    counts = jnp.arange(GP_MAX_COUNT + 1, dtype=jnp.float32)
    a_max = jnp.full(counts.shape, GP_SCHED.a_max)
    final = count_state(GP, counts, a_max)
    xhat = empirical_oracle_at_accuracy(GP, GP_POINTS, W)(final.mean, a_max)
    rec = jax.jit(jax.vmap(lambda x: DiscretisedGamma().neg_log_prob(GP, final, xhat, jnp.full(counts.shape, x))))
    p = np.asarray(jnp.sum(pmf * jnp.exp(-rec(jnp.asarray(GP_POINTS, jnp.float32))), axis=1))
    return -np.log(p), float(pmf.sum())


def test_gamma_poisson_bounds_above_the_exact_model_law():
    """Per atom L_T(x) >= -log p_T(x) (exact, T = 8) for both receivers; the ancestral bound equals it
    (one coordinate: the receiver is the true predictive, and the chain estimator telescopes); the
    plug-in model puts more than w_1 on x_1, so L_T(x_1) >= -log w_1 is no inequality to test.  (The
    continuous-time bound of a Poisson-type channel is checked on the token pair below.)"""
    T = 8
    f = empirical_oracle(GP, GP_SCHED, GP_POINTS, W)
    ests, exact = {}, {}
    for receiver, mode in (("plug_in", "marginal"), ("ancestral", "chain")):
        exact[receiver], mass = _exact_neg_log_p_T(receiver, T)
        assert mass > 1.0 - 1e-4, (receiver, mass)
        e = ests[receiver] = discrete_elbo(GP, f, jax.random.PRNGKey(4), GP_POINTS, GP_SCHED, T, num_mc=64, mode=mode, receiver=receiver)
        slack = 4 * np.asarray(e.stderr) + 2e-3  # float32 sums of T terms
        assert np.all(np.asarray(e.nats) > exact[receiver] - slack), (receiver, np.asarray(e.nats), exact[receiver], np.asarray(e.stderr))
        _assert_average_bounds_entropy(e, W, receiver)
    anc = ests["ancestral"]
    assert np.all(np.asarray(anc.stderr) < 5e-3), np.asarray(anc.stderr)
    assert np.all(np.abs(np.asarray(anc.nats) - exact["ancestral"]) < 0.01), (np.asarray(anc.nats), exact["ancestral"])
    assert exact["plug_in"][1] < TRUTH[1] - 0.05, exact["plug_in"]  # p_T(x_1) > w_1
    assert np.all(np.asarray(ests["plug_in"].nats) > np.asarray(anc.nats) - 4 * np.asarray(ests["plug_in"].stderr))


def test_ancestral_receiver_is_exact_for_one_coordinate_where_the_plug_in_is_biased():
    """Gamma-Gamma (plug_in_exact "no"): for one coordinate the ancestral receiver is the true predictive,
    so the path-wise diffusion part telescopes to -log w_j + E_q log p*(x_j | y) = -log w_j (A_max
    separates the atoms) at T = 8 already; the plug-in's is 0.07-0.19 nats above it even at T = 64
    (measured; Beta-Binomial behaves the same)."""
    pair, pts = get_pair("gamma_gamma"), np.array([0.5, 1.0, 2.0])
    sched = GeometricSchedule(a_max=200.0, scale=1.0)
    f = empirical_oracle(pair, sched, pts, W)
    e = discrete_elbo(pair, f, jax.random.PRNGKey(30), pts, sched, 8, recon=GaussianDensity(), num_mc=32, mode="chain",
                      receiver="ancestral")
    assert np.all(np.asarray(e.stderr) < 0.05), np.asarray(e.stderr)  # includes the density reconstruction's noise
    assert np.all(np.abs(np.asarray(e.kl) - TRUTH) < 0.01 + 4 * np.asarray(e.stderr)), (np.asarray(e.kl), TRUTH)


@pytest.mark.parametrize("noise,a_max", [(0.0, 20.0), pytest.param(0.2, 40.0, marks=pytest.mark.slow)])
def test_dirichlet_token_sequences(noise, a_max):
    """p* = 4 correlated token sequences (L = 3, K = 4); -log p*(x) = -log w."""
    seqs = np.array([[0, 1, 2], [0, 1, 3], [2, 2, 2], [1, 0, 3]])
    w = np.array([0.4, 0.3, 0.2, 0.1])
    truth = -np.log(w)
    data = encode_tokens(seqs, 4)
    pair = get_pair("dirichlet_categorical", num_classes=4, noise=noise)
    sched = GeometricSchedule(a_max=a_max, scale=pair.prior_weight)
    f = empirical_oracle(pair, sched, data, w)
    coarse = discrete_elbo(pair, f, jax.random.PRNGKey(7), data, sched, 16, num_mc=32)
    fine = discrete_elbo(pair, f, jax.random.PRNGKey(8), data, sched, 128, num_mc=32)
    cont = continuous_elbo(pair, f, jax.random.PRNGKey(9), data, sched, num_mc=1024)
    for e, label in ((coarse, "T=16"), (fine, "T=128")):
        _assert_average_bounds_entropy(e, w, label)
    _assert_tightens(coarse, fine, "16->128")
    assert np.all(np.asarray(fine.nats) < truth + 0.35)
    if noise == 0.0:  # the ancestral receiver with an event axis (positions x classes): valid, and tighter than
        # the plug-in at T = 16 (weighted averages ~1.56 vs ~2.00, ~6 standard errors apart; the entropy is 1.28)
        anc = discrete_elbo(pair, f, jax.random.PRNGKey(10), data, sched, 16, num_mc=32, mode="chain", receiver="ancestral")
        _assert_average_bounds_entropy(anc, w, "ancestral T=16")
        assert float(np.sum(w * np.asarray(anc.nats))) < float(np.sum(w * np.asarray(coarse.nats))), (np.asarray(anc.nats), np.asarray(coarse.nats))
    assert np.all(np.asarray(cont.recon) < 1e-3)
    assert np.all(np.abs(np.asarray(cont.nats) - truth) < 4 * np.asarray(cont.stderr) + 0.02), (np.asarray(cont.nats), truth)


# ------------------------------------------------------------------------------------ reconstructions
def test_discretised_gaussian_matches_scipy():
    r = DiscretisedGaussian(num_levels=5)  # levels -1, -.5, 0, .5, 1; half-width .25
    x = jnp.array([[-1.0, -0.5, 0.0, 0.5, 1.0, 0.5]])
    xhat = jnp.array([[-0.9, 0.3, 0.1, -2.0, 0.8, 6.0]])
    sd = 0.3
    got = DiscretisedGaussian(5, std=sd).neg_log_prob(NN, None, xhat, x)
    lo = np.where(np.asarray(x) <= -1, -np.inf, np.asarray(x) - 0.25)
    hi = np.where(np.asarray(x) >= 1, np.inf, np.asarray(x) + 0.25)
    p = stats.norm.cdf(hi, np.asarray(xhat), sd) - stats.norm.cdf(lo, np.asarray(xhat), sd)  # last: ~1e-68
    np.testing.assert_allclose(float(got[0]), -np.log(p).sum(), rtol=1e-4)
    # default s.d. 1/sqrt(C_T) from the final state; the probabilities of the 5 levels sum to one
    state = NN.init((5, 1))._replace(weight=jnp.full((5, 1), 16.0))
    levels = jnp.linspace(-1.0, 1.0, 5)[:, None]
    nll = r.neg_log_prob(NN, state, jnp.full((5, 1), 0.37), levels)
    np.testing.assert_allclose(float(jnp.exp(-nll).sum()), 1.0, rtol=1e-5)
    np.testing.assert_allclose(float(nll[2]), -np.log(stats.norm.cdf(0.25, 0.37, 0.25) - stats.norm.cdf(-0.25, 0.37, 0.25)), rtol=1e-5)


def test_discretised_gamma_and_categorical_match_scipy():
    gp = get_pair("gamma_poisson")
    state = gp.init((1, 4))._replace(weight=jnp.full((1, 4), 7.0))
    x = jnp.array([[0.0, 2.0, 5.0, 1.0]])
    xhat = jnp.array([[0.4, 2.3, 1.0, 9.0]])
    got = float(DiscretisedGamma().neg_log_prob(gp, state, xhat, x)[0])
    c, xn, fn = 7.0, np.asarray(x)[0], np.asarray(xhat)[0]
    lo, hi = np.maximum(xn - 0.5, 0.0), xn + 0.5
    p = stats.gamma.cdf(hi, c * fn, scale=1 / c) - stats.gamma.cdf(lo, c * fn, scale=1 / c)
    np.testing.assert_allclose(got, -np.log(p).sum(), rtol=1e-4)
    probs = jnp.array([[[0.2, 0.5, 0.3], [0.6, 0.1, 0.3]]])
    tokens = encode_tokens(np.array([[1, 2]]), 3)
    np.testing.assert_allclose(float(CategoricalReconstruction().neg_log_prob(None, None, probs, tokens)[0]), -np.log(0.5 * 0.3), rtol=1e-6)
    gd = float(GaussianDensity(std=0.5).neg_log_prob(NN, None, jnp.array([[0.1, 0.2]]), jnp.array([[0.0, 1.0]]))[0])
    np.testing.assert_allclose(gd, -stats.norm.logpdf([0.0, 1.0], [0.1, 0.2], 0.5).sum(), rtol=1e-5)


def test_bits_per_dim_and_bad_input():
    np.testing.assert_allclose(to_bits_per_dim(2 * math.log(2.0) * 64, 64), 2.0)
    x = jnp.asarray(NN_POINTS, jnp.float32)
    with pytest.raises(PMMInputError, match="num_dims"):
        to_bits_per_dim(1.0, 0)
    with pytest.raises(PMMInputError, match="recon"):
        discrete_elbo(NN, NN_ORACLE, jax.random.PRNGKey(0), x, NN_SCHED, 4, recon="bogus")
    assert isinstance(NN.default_reconstruction(), GaussianDensity)  # the pair's own default: a density
    with pytest.raises(PMMInputError, match="no default reconstruction"):
        get_pair("normal_gamma").default_reconstruction()
    with pytest.raises(PMMInputError, match="x"):
        discrete_elbo(NN, NN_ORACLE, jax.random.PRNGKey(0), x + 0.01, NN_SCHED, 4, recon=NN_RECON)
    with pytest.raises(PMMInputError, match="num_mc"):
        discrete_elbo(NN, NN_ORACLE, jax.random.PRNGKey(0), x, NN_SCHED, 4, recon=NN_RECON, num_mc=1)
    with pytest.raises(PMMInputError, match="mode"):
        discrete_elbo(NN, NN_ORACLE, jax.random.PRNGKey(0), x, NN_SCHED, 4, recon=NN_RECON, mode="path")
    with pytest.raises(PMMInputError, match="num_mc"):
        continuous_elbo(NN, NN_ORACLE, jax.random.PRNGKey(0), x, NN_SCHED, recon=NN_RECON, num_mc=33)
    with pytest.raises(PMMInputError, match="num_levels"):
        DiscretisedGaussian(num_levels=1)
    with pytest.raises(PMMInputError, match="x"):
        discrete_elbo(get_pair("gamma_poisson"), NN_ORACLE, jax.random.PRNGKey(0), [[1.5]], NN_SCHED, 4)
    with pytest.raises(PMMInputError, match="receiver"):
        discrete_elbo(NN, NN_ORACLE, jax.random.PRNGKey(0), x, NN_SCHED, 4, recon=NN_RECON, receiver="mixture")
    with pytest.raises(PMMInputError, match="per-coordinate posterior"):
        discrete_elbo(NN, lambda mu, t: mu, jax.random.PRNGKey(0), x, NN_SCHED, 4, recon=NN_RECON, receiver="ancestral")
    continuous_posterior = gaussian_mixture_oracle(NN, NN_SCHED, W, NN_POINTS, 0.1)
    with pytest.raises(PMMInputError, match="discrete per-coordinate posterior"):
        discrete_elbo(NN, continuous_posterior, jax.random.PRNGKey(0), x, NN_SCHED, 4, recon=NN_RECON, receiver="ancestral")
    with pytest.raises(PMMInputError, match="receiver"):
        Process(NN, NN_SCHED).bound(NN_ORACLE, jax.random.PRNGKey(0), x, None, receiver="ancestral", recon=NN_RECON)
    with pytest.raises(PMMInputError, match="count statistic"):
        count_chain_pmf(NN, NN_ORACLE, [0.0, 1.0], 4)


# ------------------------------------------------------------------------------------ denoisers as pytrees
class _Shrink(nnx.Module):
    """f(mu, t) = w * mu: an NNX module whose one weight is a Param."""

    def __init__(self, w):
        self.w = nnx.Param(jnp.asarray(w, jnp.float32))

    def __call__(self, mu, t):
        return self.w[...] * mu


def test_module_weights_are_arguments_not_cached_constants():
    """Updating a module in place changes the bound (no stale cached result), a fresh module with
    the new weight gives the same numbers, and a second module of the same structure reuses the
    compiled program (the jit cache does not grow)."""
    from pmm_ppl.process import elbo as elbo_module

    x = jnp.asarray(NN_POINTS, jnp.float32)
    kw = dict(recon=NN_RECON, num_mc=4)
    net = _Shrink(0.5)
    before = discrete_elbo(NN, net, jax.random.PRNGKey(11), x, NN_SCHED, 8, **kw)
    size = elbo_module._discrete_impl._cache_size()
    net.w.set_value(jnp.asarray(0.9, jnp.float32))
    after = discrete_elbo(NN, net, jax.random.PRNGKey(11), x, NN_SCHED, 8, **kw)
    fresh = discrete_elbo(NN, _Shrink(0.9), jax.random.PRNGKey(11), x, NN_SCHED, 8, **kw)
    assert elbo_module._discrete_impl._cache_size() == size
    assert np.all(np.abs(np.asarray(after.nats - before.nats)) > 1.0), (np.asarray(before.nats), np.asarray(after.nats))
    np.testing.assert_allclose(np.asarray(after.nats), np.asarray(fresh.nats), rtol=1e-6)
    # continuous time: the same in-place update is seen
    c1 = continuous_elbo(NN, net, jax.random.PRNGKey(12), x, NN_SCHED, recon=NN_RECON, num_mc=8, importance=False)
    net.w.set_value(jnp.asarray(0.5, jnp.float32))
    c2 = continuous_elbo(NN, net, jax.random.PRNGKey(12), x, NN_SCHED, recon=NN_RECON, num_mc=8, importance=False)
    assert np.all(np.abs(np.asarray(c1.nats - c2.nats)) > 1.0), (np.asarray(c1.nats), np.asarray(c2.nats))


def test_zero_initialised_level_net_gives_a_finite_bound():
    """Regression: the untrained digits net (zero last layer, softmax over grey levels) gave NaN
    for every example when its weights were baked into the jitted bound as constants (XLA:CPU,
    jax 0.10.2: ``softmax(base + h @ Z)`` with a constant all-zero ``Z`` returns NaN
    nondeterministically).  With the weights as arguments the bound is finite; with ``F = 0`` the
    net snaps to the grid at A_max = 1e4, so the reconstruction term is ~0.  The ancestral receiver
    on the same net: the exact value (comment below)."""
    levels = np.linspace(-1.0, 1.0, 17)
    x = levels[np.random.default_rng(0).integers(0, 17, (4, 8, 8))]
    backbone = MLP((8, 8), out_shape=(8, 8, 17), zero_init_output=True, rngs=nnx.Rngs(0), width=8, depth=1)
    net = DiscretisedNormalPreconditioned(backbone, NN, NN_SCHED, levels, data_mean=-0.39, data_std=0.75)
    e = discrete_elbo(NN, net, jax.random.PRNGKey(13), x, NN_SCHED, 16, recon=NN_RECON, num_mc=2)
    assert np.all(np.isfinite(np.asarray(e.kl_per_step))) and np.all(np.isfinite(np.asarray(e.nats))), np.asarray(e.nats)
    assert np.all(np.asarray(e.kl) > 0)
    assert np.all(np.asarray(e.recon) < 1e-3), np.asarray(e.recon)
    # the ancestral receiver reads the module's posterior (level probabilities).  With F = 0 that is the exact
    # posterior of the independent-pixel prior p(c_k) ~ N(c_k; -0.39, 0.75^2) on the grid, so the receiver
    # is that prior's true predictive and the path-wise bound telescopes to -sum_d log p(x_d) (+ recon ~ 0)
    anc = discrete_elbo(NN, net, jax.random.PRNGKey(13), x, NN_SCHED, 16, recon=NN_RECON, num_mc=2, mode="chain", receiver="ancestral")
    log_prior = -((levels + 0.39) ** 2) / (2 * 0.75**2)
    log_prior -= np.log(np.exp(log_prior).sum())
    exact = -log_prior[np.rint((x + 1.0) * 8).astype(int)].reshape(4, -1).sum(1)
    np.testing.assert_allclose(np.asarray(anc.nats), exact, rtol=1e-4)

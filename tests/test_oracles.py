"""Exact oracles E*[x | mu] against independent references.

References: direct Bayes in float64 NumPy/SciPy written in the *mean* parametrisation
(mu | x ~ N(g x + (1-g) mu0, g(1-g)/rho0); N | x ~ Poisson(A x)), numerical quadrature over x,
brute-force sums over counts, enumeration of token sequences, and Monte Carlo (simulate
x ~ p*, state ~ flow; check the defining orthogonality E[(x - f(mu)) h(mu)] = 0 and exact
binning on discrete states).
"""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp as np_logsumexp

from pmm_ppl import PMMInputError, get_pair
from pmm_ppl.conjugate.dirichlet_categorical import encode_tokens
from pmm_ppl.process.oracles import (
    empirical_oracle,
    empirical_oracle_at_accuracy,
    gaussian_mixture_oracle,
    gaussian_mixture_oracle_at_accuracy,
    poisson_mixture_oracle_at_accuracy,
    poisson_support_bound,
)
from pmm_ppl.process.schedules import GeometricSchedule

NN = get_pair("normal_normal", prior_mean_value=0.3, prior_precision=2.0)
GP = get_pair("gamma_poisson", prior_shape=1.5, prior_rate=0.5)
POINTS = np.array([[-0.5, 0.25], [0.75, 0.75], [0.0, -1.0]])
POINT_W = np.array([0.2, 0.3, 0.5])


def _normal_mean_law(pair, A):
    """mu | x ~ N(g x + (1-g) mu0, g (1-g)/rho0), the docs/design.md section 3 form."""
    rho0, mu0 = pair.prior_precision, pair.prior_mean_value
    g = A / (rho0 + A)
    return (lambda x: g * x + (1 - g) * mu0), np.sqrt(g * (1 - g) / rho0)


def _orthogonality_z(x, fx, mu):
    """z-scores of mean((x - f(mu)) h(mu)) for h in {1, mu, mu^2, sin(3 mu)} (each should be ~N(0,1))."""
    r = np.asarray(x - fx, np.float64).reshape(len(x), -1)
    m = np.asarray(mu, np.float64).reshape(len(x), -1)
    zs = []
    for h in (np.ones_like(m), m, m**2, np.sin(3 * m)):
        v = r * h
        zs.append(v.mean(0) / (v.std(0) / np.sqrt(len(v))))
    return np.concatenate(zs)


# ------------------------------------------------------------------------------------ empirical
@pytest.mark.parametrize("A", [0.0, 0.3, 4.0, 60.0])
def test_empirical_normal_matches_direct_bayes(A):
    loc, sd = _normal_mean_law(NN, A)
    rng = np.random.default_rng(0)
    mu = rng.normal(0.2, 0.6, size=(7, 2)) if A > 0 else np.full((7, 2), NN.prior_mean_value)
    got = np.asarray(empirical_oracle_at_accuracy(NN, POINTS, POINT_W)(jnp.asarray(mu, jnp.float32), A))
    if A == 0:
        expected = np.broadcast_to(POINT_W @ POINTS, mu.shape)
    else:
        logp = stats.norm.logpdf(mu[:, None, :], loc(POINTS)[None], sd).sum(-1) + np.log(POINT_W)
        post = np.exp(logp - np_logsumexp(logp, axis=1, keepdims=True))
        expected = post @ POINTS
    np.testing.assert_allclose(got, expected, atol=2e-4)


def test_empirical_poisson_matches_exact_binning():
    """Gamma-Poisson, point masses: bin Monte Carlo draws by the (discrete) state and average x."""
    data = np.array([[0.0], [2.0], [5.0]])
    w = np.array([0.5, 0.3, 0.2])
    A, n = 1.3, 60000
    key = jax.random.PRNGKey(1)
    idx = jax.random.choice(key, 3, (n,), p=jnp.asarray(w))
    x = jnp.asarray(data, jnp.float32)[idx]
    state = GP.flow(jax.random.PRNGKey(2), x, A)
    f = empirical_oracle_at_accuracy(GP, data, w)(state.mean, A)
    counts = np.round((GP.prior_rate + A) * np.asarray(state.mean) - GP.prior_shape).astype(int)[:, 0]
    x_np, f_np = np.asarray(x)[:, 0], np.asarray(f)[:, 0]
    checked = 0
    for N in np.unique(counts):
        sel = counts == N
        if sel.sum() < 500:
            continue
        # the oracle is constant on each bin and equals the exact Bayes value
        post = w * stats.poisson.pmf(N, A * data[:, 0])
        post /= post.sum()
        exact = post @ data[:, 0]
        np.testing.assert_allclose(f_np[sel], exact, rtol=1e-4, atol=1e-5)
        se = np.sqrt(post @ (data[:, 0] - exact) ** 2 / sel.sum())  # exact posterior s.d. / sqrt(n)
        assert abs(x_np[sel].mean() - exact) < 4 * se + 1e-6, (N, x_np[sel].mean(), exact, se)
        checked += 1
    assert checked >= 5


def test_empirical_orthogonality_monte_carlo_normal():
    A, n = 3.0, 40000
    idx = jax.random.choice(jax.random.PRNGKey(3), 3, (n,), p=jnp.asarray(POINT_W))
    x = jnp.asarray(POINTS, jnp.float32)[idx]
    mu = NN.flow(jax.random.PRNGKey(4), x, A).mean
    f = empirical_oracle_at_accuracy(NN, POINTS, POINT_W)(mu, A)
    z = _orthogonality_z(x, f, mu)
    assert np.max(np.abs(z)) < 4.0, z
    # the test has power: the prior-weighted mean (a wrong denoiser) fails it
    z_bad = _orthogonality_z(x, jnp.broadcast_to(jnp.asarray(POINT_W @ POINTS, jnp.float32), x.shape), mu)
    assert np.max(np.abs(z_bad)) > 20.0


def test_empirical_token_sequences_match_enumeration():
    """Dirichlet, p* = a few correlated token sequences: posterior over sequences by brute force."""
    K, L = 3, 2
    seqs = np.array([[0, 0], [1, 1], [2, 0], [1, 2]])
    w = np.array([0.4, 0.3, 0.2, 0.1])
    data = encode_tokens(seqs, K)
    for noise in (0.0, 0.2):
        pair = get_pair("dirichlet_categorical", num_classes=K, noise=noise)
        A = 0.8
        theta = (1 - noise) * np.eye(K) + noise / K  # link(one-hot)
        # enumerate a grid of count states (C_{l,k} in 0..2), keep those possible under some row
        states, expected = [], []
        for c in itertools.product(range(3), repeat=L * K):
            c = np.array(c, float).reshape(L, K)
            lik = np.array([np.prod(stats.poisson.pmf(c, A * theta[s])) for s in seqs]) * w
            if lik.sum() == 0:
                continue
            states.append(c)
            expected.append(np.einsum("j,jlk->lk", lik / lik.sum(), np.asarray(data)))
        states = np.array(states)
        C = pair.prior_weight + A
        mu = (np.asarray(pair.concentration) + states) / C  # (a0 + S) / (c0 + A)
        got = empirical_oracle_at_accuracy(pair, data, w)(jnp.asarray(mu, jnp.float32), A)
        np.testing.assert_allclose(np.asarray(got), np.array(expected), atol=2e-5)
        if noise == 0.0:
            # revealing token 1 at position 0 leaves sequences {11, 12}: position 1 is 1 w.p. 3/4
            i = next(i for i, s in enumerate(states) if s.sum() == 1 and s[0, 1] == 1)
            np.testing.assert_allclose(np.asarray(got)[i, 1], [0.0, 0.75, 0.25], atol=1e-5)


def test_empirical_inconsistent_state_is_finite():
    """A state no data sequence explains (tokens 'A' then 'B' revealed, p* = {AA, BB}) gives a finite
    answer (rows with the fewest impossible positions), not NaN."""
    pair = get_pair("dirichlet_categorical", num_classes=2)
    data = encode_tokens(np.array([[0, 0], [1, 1]]), 2)
    counts = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    A = 2.0
    mu = (np.asarray(pair.concentration) + counts) / (pair.prior_weight + A)
    got = np.asarray(empirical_oracle_at_accuracy(pair, data)(jnp.asarray(mu, jnp.float32), A))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, 0.5, atol=1e-6)


# ------------------------------------------------------------------------------------ Gaussian mixture
GM_W = np.array([0.3, 0.7])
GM_M = np.array([[-1.0, 0.5], [1.0, -0.5]])
GM_V = np.array([[0.2, 0.05], [0.1, 0.3]])


def _gmm_quadrature(mu, A, pair=NN):
    """Direct Bayes by quadrature over x (per dimension; components are diagonal), float64."""
    loc, sd = _normal_mean_law(pair, A)
    xs = np.linspace(-6, 6, 24001)
    out = []
    for m_row in mu:
        log_marg, cond = [], []
        for j in range(len(GM_W)):
            lm, cm = 0.0, []
            for d in range(2):
                dens = stats.norm.pdf(xs, GM_M[j, d], np.sqrt(GM_V[j, d])) * stats.norm.pdf(m_row[d], loc(xs), sd)
                z = np.trapezoid(dens, xs)
                lm += np.log(z)
                cm.append(np.trapezoid(xs * dens, xs) / z)
            log_marg.append(lm + np.log(GM_W[j]))
            cond.append(cm)
        log_marg = np.array(log_marg)
        r = np.exp(log_marg - np_logsumexp(log_marg))
        out.append(r @ np.array(cond))
    return np.array(out)


@pytest.mark.parametrize("A", [0.5, 5.0, 50.0])
def test_gaussian_mixture_matches_quadrature(A):
    rng = np.random.default_rng(5)
    loc, sd = _normal_mean_law(NN, A)
    x = GM_M[rng.integers(0, 2, 6)] + rng.normal(size=(6, 2)) * 0.4
    mu = loc(x) + sd * rng.normal(size=x.shape)
    got = gaussian_mixture_oracle_at_accuracy(NN, GM_W, GM_M, GM_V)(jnp.asarray(mu, jnp.float32), A)
    np.testing.assert_allclose(np.asarray(got), _gmm_quadrature(mu, A), atol=3e-4)


def test_gaussian_mixture_zero_variance_is_empirical():
    rng = np.random.default_rng(6)
    mu = jnp.asarray(rng.normal(size=(9, 2)) * 0.5, jnp.float32)
    for A in (0.7, 20.0):
        a = gaussian_mixture_oracle_at_accuracy(NN, POINT_W, POINTS, 0.0)(mu, A)
        b = empirical_oracle_at_accuracy(NN, POINTS, POINT_W)(mu, A)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-4)


def test_gaussian_mixture_orthogonality_monte_carlo():
    A, n = 2.0, 40000
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(7), 3)
    j = jax.random.choice(k1, 2, (n,), p=jnp.asarray(GM_W))
    x = jnp.asarray(GM_M, jnp.float32)[j] + jnp.sqrt(jnp.asarray(GM_V, jnp.float32))[j] * jax.random.normal(k2, (n, 2))
    mu = NN.flow(k3, x, A).mean
    f = gaussian_mixture_oracle_at_accuracy(NN, GM_W, GM_M, GM_V)(mu, A)
    assert np.max(np.abs(_orthogonality_z(x, f, mu))) < 4.0


# ------------------------------------------------------------------------------------ Poisson mixture
PM_W = np.array([0.6, 0.4])
PM_R = np.array([[1.5, 6.0], [9.0, 2.0]])  # (J, D): the component is shared by both elements


def _poisson_mixture_brute(counts, A):
    """Direct Bayes over x in 0..400 (float64) for the 2-D shared-component Poisson mixture."""
    xs = np.arange(401)
    out = []
    for N in counts:
        log_marg, cond = [], []
        for j in range(len(PM_W)):
            lm, cm = np.log(PM_W[j]), []
            for d in range(N.shape[0]):
                p = stats.poisson.pmf(xs, PM_R[j, d]) * stats.poisson.pmf(N[d], A * xs)
                lm += np.log(p.sum())
                cm.append((xs * p).sum() / p.sum())
            log_marg.append(lm)
            cond.append(cm)
        log_marg = np.array(log_marg)
        out.append(np.exp(log_marg - np_logsumexp(log_marg)) @ np.array(cond))
    return np.array(out)


@pytest.mark.parametrize("A", [0.2, 2.0, 30.0])
def test_poisson_mixture_matches_brute_force(A):
    rng = np.random.default_rng(8)
    j = rng.integers(0, 2, 8)
    x = rng.poisson(PM_R[j])
    counts = rng.poisson(A * x).astype(float)
    mu = (GP.prior_shape + counts) / (GP.prior_rate + A)
    got = poisson_mixture_oracle_at_accuracy(GP, PM_W, PM_R)(jnp.asarray(mu, jnp.float32), A)
    np.testing.assert_allclose(np.asarray(got), _poisson_mixture_brute(counts, A), rtol=2e-4, atol=2e-4)


def test_poisson_mixture_one_dim_is_empirical_on_support():
    """In 1-D, p* is a distribution on 0..X_max: the empirical oracle with the mixture pmf as weights."""
    rates = PM_R[:, :1]
    x_max = poisson_support_bound(rates)
    assert stats.poisson.sf(x_max, rates.max()) < 1e-12
    support = np.arange(x_max + 1.0)[:, None]
    pmf = (PM_W[:, None] * stats.poisson.pmf(support[:, 0][None], rates)).sum(0)
    mu = jnp.asarray((GP.prior_shape + np.arange(0, 40, 3.0)[:, None]) / (GP.prior_rate + 3.0), jnp.float32)
    a = poisson_mixture_oracle_at_accuracy(GP, PM_W, rates)(mu, 3.0)
    b = empirical_oracle_at_accuracy(GP, support, pmf)(mu, 3.0)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)


def test_poisson_mixture_orthogonality_monte_carlo():
    A, n = 0.7, 40000
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(9), 3)
    j = jax.random.choice(k1, 2, (n,), p=jnp.asarray(PM_W))
    x = jax.random.poisson(k2, jnp.asarray(PM_R, jnp.float32)[j]).astype(jnp.float32)
    mu = GP.flow(k3, x, A).mean
    f = poisson_mixture_oracle_at_accuracy(GP, PM_W, PM_R)(mu, A)
    assert np.max(np.abs(_orthogonality_z(x, f, mu))) < 4.0


# ------------------------------------------------------------------------------------ limits, time form
def test_limits_target_mean_at_zero_and_data_at_large_accuracy():
    key = jax.random.PRNGKey(10)
    B = 5
    # t -> 0: the target mean, from the prior state
    cases = [
        (NN, gaussian_mixture_oracle_at_accuracy(NN, GM_W, GM_M, GM_V), GM_W @ GM_M),
        (NN, empirical_oracle_at_accuracy(NN, POINTS, POINT_W), POINT_W @ POINTS),
        (GP, poisson_mixture_oracle_at_accuracy(GP, PM_W, PM_R), PM_W @ PM_R),
    ]
    for pair, g, target_mean in cases:
        mu0 = pair.init((B, 2)).mean
        np.testing.assert_allclose(np.asarray(g(mu0, 0.0)), np.broadcast_to(target_mean, (B, 2)), rtol=1e-5)
        np.testing.assert_allclose(np.asarray(g(mu0, 1e-6)), np.broadcast_to(target_mean, (B, 2)), rtol=1e-3)
    # large A: x back
    x = jnp.asarray(POINTS, jnp.float32)
    g = empirical_oracle_at_accuracy(NN, POINTS, POINT_W)
    np.testing.assert_allclose(np.asarray(g(NN.flow(key, x, 1e3).mean, 1e3)), POINTS, atol=1e-5)
    xg = jnp.asarray(GM_M + 0.3, jnp.float32)
    g = gaussian_mixture_oracle_at_accuracy(NN, GM_W, GM_M, GM_V)
    np.testing.assert_allclose(np.asarray(g(NN.flow(key, xg, 1e6).mean, 1e6)), np.asarray(xg), atol=5e-3)
    xp = jnp.asarray([[0.0, 7.0], [12.0, 3.0]])
    g = poisson_mixture_oracle_at_accuracy(GP, PM_W, PM_R)
    np.testing.assert_allclose(np.asarray(g(GP.flow(key, xp, 1e3).mean, 1e3)), np.asarray(xp), atol=1e-2)


def test_time_form_and_jit():
    sched = GeometricSchedule(a_max=100.0, scale=NN.prior_precision)
    f = gaussian_mixture_oracle(NN, sched, GM_W, GM_M, GM_V)
    g = gaussian_mixture_oracle_at_accuracy(NN, GM_W, GM_M, GM_V)
    mu = jnp.asarray(np.random.default_rng(11).normal(size=(4, 2)), jnp.float32)
    t = jnp.array([0.0, 0.2, 0.5, 1.0])
    expected = np.stack([np.asarray(g(mu[i : i + 1], sched.A(t[i])))[0] for i in range(4)])
    np.testing.assert_allclose(np.asarray(jax.jit(f)(mu, t)), expected, atol=1e-5)
    fe = empirical_oracle(NN, sched, POINTS, POINT_W)
    np.testing.assert_allclose(np.asarray(jax.jit(fe)(mu, t)), np.asarray(fe(mu, t)), atol=1e-5)


def test_bad_input_names_the_argument():
    with pytest.raises(PMMInputError, match="weights"):
        empirical_oracle_at_accuracy(NN, POINTS, [0.5, -0.1, 0.6])
    with pytest.raises(PMMInputError, match="weights"):
        empirical_oracle_at_accuracy(NN, POINTS, [0.5, 0.5])
    with pytest.raises(PMMInputError, match="data"):
        empirical_oracle_at_accuracy(GP, [[-1.0], [2.0]])
    with pytest.raises(PMMInputError, match="data"):
        empirical_oracle_at_accuracy(NN, [[0.0, np.nan]])
    with pytest.raises(PMMInputError, match="pair"):
        gaussian_mixture_oracle_at_accuracy(GP, GM_W, GM_M, GM_V)
    with pytest.raises(PMMInputError, match="variances"):
        gaussian_mixture_oracle_at_accuracy(NN, GM_W, GM_M, -GM_V)
    with pytest.raises(PMMInputError, match="variances"):
        gaussian_mixture_oracle_at_accuracy(NN, GM_W, GM_M, np.ones(3))
    with pytest.raises(PMMInputError, match="rates"):
        poisson_mixture_oracle_at_accuracy(GP, PM_W, -PM_R)
    with pytest.raises(PMMInputError, match="pair"):
        poisson_mixture_oracle_at_accuracy(NN, PM_W, PM_R)

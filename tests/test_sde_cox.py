"""Count pairs in continuous time: exact Cox-process simulation (thinning) and tau-leaping.

References: the mixed Poisson law of N_A (scipy), an exact forward recursion for the law of the
tau-leaping chain, and exact algebra.  Fixed seeds; statistical tests use p > 1e-3.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from pmm_ppl import PMMInputError, get_pair
from pmm_ppl.process.oracles import empirical_oracle_at_accuracy
from pmm_ppl.process.schedules import GeometricSchedule
from pmm_ppl.sde import checks as K
from pmm_ppl.sde import cox as X
from pmm_ppl.sde import diffusion as D
from pmm_ppl.verify import statistics as St

P_MIN = 1e-3


@pytest.fixture(scope="module")
def prob():
    return K.count_problem()


def test_count_state_is_the_flow_state(prob):
    """mu = (a0 + N)/(b0 + A), C = b0 + A: the same state pair.update reaches with one observation N at accuracy A."""
    n = jnp.array([0.0, 3.0, 10.0])
    s = X.count_state(prob.pair, n, 2.5)
    u = prob.pair.update(prob.pair.init((3,)), n, 2.5)
    np.testing.assert_allclose(s.mean, u.mean, rtol=1e-6)
    np.testing.assert_allclose(s.weight, u.weight, rtol=1e-6)


@pytest.mark.parametrize("bound", ["monotone", 3.0])
def test_exact_cox_law_is_mixed_poisson(prob, bound):
    """N_A under the model (intensity E*[x|mu]) equals sum_j w_j Poisson(A r_j) at several A; both
    thinning bounds (local monotone, and the support maximum 3.0) are exact."""
    m = prob.oracle()
    a_grid = jnp.array([1.0, 3.0, 6.0])
    res = jax.jit(jax.vmap(lambda k: X.exact_cox(k, prob.pair, m, a_grid, bound=bound)))(
        jax.random.split(jax.random.key(0), 6000))
    assert int(res.overflow.sum()) == 0
    assert int(res.bound_violations.sum()) == 0
    for g, a in enumerate([1.0, 3.0, 6.0]):
        n = np.asarray(res.counts[:, g])
        assert St.chi2_gof(n, lambda k, a=a: prob.pmf(a, k))[1] > P_MIN
    # counts are non-decreasing along the accuracy grid and equal the number of accepted events at A_max
    c = np.asarray(res.counts)
    assert np.all(np.diff(c, axis=1) >= 0)
    np.testing.assert_array_equal(c[:, -1], np.asarray(res.num_events))
    if bound == "monotone":  # the local bound wastes few candidates
        assert float(res.num_proposals.sum() / res.num_events.sum()) < 1.3


def test_exact_cox_flags_overflow_and_bad_bound(prob):
    m = prob.oracle()
    res = jax.vmap(lambda k: X.exact_cox(k, prob.pair, m, jnp.array([6.0]), max_proposals=3))(
        jax.random.split(jax.random.key(1), 200))
    # P(N_6 <= 2) is small under the target, so most paths need more than 3 candidates
    assert float(res.overflow.mean()) > 0.8
    assert np.all(np.asarray(res.num_proposals) <= 3)
    with pytest.raises(PMMInputError, match="bound"):
        X.exact_cox(jax.random.key(0), prob.pair, m, jnp.array([1.0]), bound="global")
    with pytest.raises(PMMInputError, match="bound"):
        X.exact_cox(jax.random.key(0), prob.pair, m, jnp.array([1.0]), bound=-1.0)


def test_exact_cox_counts_bound_violations_for_a_non_monotone_intensity(prob):
    """A denoiser whose output grows with accuracy breaks the monotone bound; the simulator reports it."""
    growing = lambda mu, a: 0.1 + a  # noqa: E731
    res = jax.vmap(lambda k: X.exact_cox(k, prob.pair, growing, jnp.array([3.0])))(jax.random.split(jax.random.key(2), 50))
    assert int(res.bound_violations.sum()) > 0


def test_k_variate_cox_poissonised_dirichlet():
    r = K.check_cox_categorical(seed=0, num_paths=3000, num_classes=4, a_max=2.0)
    assert r["max_classes_revealed"] == 1  # one-hot data: a second class is impossible
    assert r["total_count_chi2_p"] > P_MIN and r["revealed_class_chi2_p"] > P_MIN
    assert r["overflow"] == 0 and r["bound_violations"] == 0


def test_k_variate_noisy_channel_total_intensity_one():
    """Uniform-noise channel: every class can be revealed; total count per position is Poisson(A) exactly."""
    pair = get_pair("dirichlet_categorical", num_classes=3, noise=0.3)
    m = empirical_oracle_at_accuracy(pair, jnp.eye(3), jnp.array([0.2, 0.3, 0.5]))
    res = jax.jit(jax.vmap(lambda k: X.exact_cox(k, pair, m, jnp.array([1.5]), data_shape=(3,), bound=1.0)))(
        jax.random.split(jax.random.key(3), 3000))
    tot = np.asarray(res.counts[:, 0]).sum(1)
    assert St.chi2_gof(tot, lambda k: stats.poisson.pmf(k, 1.5))[1] > P_MIN
    assert int(res.bound_violations.sum()) == 0
    # mixed law of each class count: sum_j w_j Poisson(A link(e_j)_k)
    link = 0.7 * np.eye(3) + 0.1
    for k in range(3):
        pmf = lambda n, k=k: sum(w * stats.poisson.pmf(n, 1.5 * link[j, k]) for j, w in enumerate([0.2, 0.3, 0.5]))
        assert St.chi2_gof(np.asarray(res.counts[:, 0, k]), pmf)[1] > P_MIN


def test_tau_leap_converges_to_exact_law_with_order_one(prob):
    r = K.check_tau_leap_order(seed=0, steps=(8, 16, 32, 64), num_paths=5000, mc_steps=8)
    assert 0.9 < r["tv_order"] < 1.1, r
    assert 0.7 < r["order"] < 1.1, r
    assert np.log2(r["errors"][-2] / r["errors"][-1]) > 0.85  # local order approaches 1
    assert r["simulator_vs_recursion_chi2_p"] > P_MIN


def test_tau_leap_recursion_is_a_probability_law_and_exact_in_one_step(prob):
    """One tau-leap step from the prior is Poisson(A E*[x]) (the oracle at A = 0 is the target mean)."""
    p = K.tau_leap_pmf(prob, np.array([0.0, 2.0]), 60)
    mean_x = sum(w * r for w, r in zip(prob.weights, prob.rates))
    np.testing.assert_allclose(p, stats.poisson.pmf(np.arange(61), 2.0 * mean_x), atol=1e-6)
    p = K.tau_leap_pmf(prob, np.linspace(0.0, 6.0, 9), 80)
    assert abs(p.sum() - 1.0) < 1e-5  # float32 propagation (count_chain_pmf); the mass beyond 80 is negligible


def test_cox_samplers_reproduce_target(prob):
    """Exact Cox and tau-leaping (256 geometric steps) both reproduce the mixed Poisson law at A_max."""
    m = prob.oracle()
    n = 6000
    res = jax.jit(jax.vmap(lambda k: X.exact_cox(k, prob.pair, m, jnp.array([prob.a_max]))))(
        jax.random.split(jax.random.key(4), n))
    _, a_grid = D.accuracy_grid(GeometricSchedule(a_max=prob.a_max, scale=1.0), 256)
    tl = jax.jit(lambda k: X.tau_leap(k, prob.pair, m, a_grid, (n,)))(jax.random.key(5))
    assert tl.shape == (257, n)
    pmf = lambda k: prob.pmf(prob.a_max, k)  # noqa: E731
    for s in (res.counts[:, 0], tl[-1]):
        assert St.chi2_gof(np.asarray(s), pmf)[1] > P_MIN


def test_process_sampler_is_tau_leaping(prob):
    """The library's plug-in sampler on Gamma-Poisson (output='mean', T = 8) has the tau-leaping law of
    the exact recursion: N = (b0 + A) mu - a0 passes a chi-square test against tau_leap_pmf."""
    from pmm_ppl.process.oracles import empirical_oracle
    from pmm_ppl.process.sampler import sample

    sched = GeometricSchedule(a_max=prob.a_max, scale=1.0)
    f = empirical_oracle(prob.pair, sched, jnp.array(prob.rates), jnp.array(prob.weights))
    mu = sample(prob.pair, f, jax.random.key(0), 6000, (), sched, 8, output="mean")
    n = np.rint(np.asarray(mu, np.float64) * (1.0 + prob.a_max) - 1.0).astype(int)
    _, a_grid = D.accuracy_grid(sched, 8)
    a_grid = np.asarray(a_grid, np.float64)
    a_grid[-1] = prob.a_max
    p = K.tau_leap_pmf(prob, a_grid, 80)
    assert St.chi2_gof(n, lambda k: np.where(k <= 80, p[np.minimum(k, 80)], 0.0))[1] > P_MIN
    # and it is measurably off the exact law at 8 steps (TV of the recursion ~ 0.07)
    assert 0.5 * np.abs(p - prob.pmf(prob.a_max, np.arange(81))).sum() > 0.03

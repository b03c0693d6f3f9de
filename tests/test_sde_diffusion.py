"""Normal-Normal PMM as a diffusion: solvers, coordinates, Tweedie, convergence and marginals.

Every assertion is a measured number against an independent reference (exact algebra, scipy,
diffrax, closed-form laws), with fixed seeds and stated tolerances.  Statistical tests use
p > 1e-3 (family of ~20 tests: a false alarm rate of a few percent for a correct implementation
at a fresh seed, none at the fixed seeds).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from pmm_ppl import PMMInputError, get_pair
from pmm_ppl.process.schedules import GeometricSchedule
from pmm_ppl.sde import checks as K
from pmm_ppl.sde import coordinates as C
from pmm_ppl.sde import diffusion as D
from pmm_ppl.verify import statistics as St

P_MIN = 1e-3


@pytest.fixture(scope="module")
def prob():
    return K.normal_problem()


def test_vp_ve_round_trips_and_laws():
    """Both directions of both maps invert each other; VP/VE states have the textbook laws given x."""
    pair = get_pair("normal_normal", prior_mean_value=0.7, prior_precision=2.5)
    x = jnp.linspace(-2.0, 3.0, 7)
    a = 3.0
    mu = pair.flow(jax.random.key(0), x, a).mean
    z, sigma = C.to_ve(pair, mu, a)
    mu_back, a_back = C.from_ve(pair, z, sigma)
    np.testing.assert_allclose(mu_back, mu, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(a_back, a, rtol=1e-5)
    v, abar = C.to_vp(pair, mu, a)
    mu_back, a_back = C.from_vp(pair, v, abar)
    np.testing.assert_allclose(mu_back, mu, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(a_back, a, rtol=1e-5)
    np.testing.assert_allclose(C.unstandardise_data(pair, C.standardise_data(pair, x)), x, rtol=1e-5, atol=1e-6)
    # laws given x: VE z ~ N(x, 1/A); VP v ~ N(sqrt(g) x~, 1 - g)
    n = 50_000
    x0 = 1.3
    mu = pair.flow(jax.random.key(1), jnp.full((n,), x0), a).mean
    z, _ = C.to_ve(pair, mu, a)
    v, g = C.to_vp(pair, mu, a)
    assert stats.kstest(np.asarray((z - x0) * np.sqrt(a), np.float64), "norm").pvalue > P_MIN
    xt = float(C.standardise_data(pair, x0))
    std_v = (np.asarray(v, np.float64) - np.sqrt(float(g)) * xt) / np.sqrt(1 - float(g))
    assert stats.kstest(std_v, "norm").pvalue > P_MIN
    # the VP noise prediction from the true x is exactly the standardised noise
    eps = C.vp_noise_from_posterior_mean(pair, jnp.full((n,), x0), mu, a)
    np.testing.assert_allclose(eps, std_v, atol=2e-3)


def test_flow_log_prob_matches_scipy(prob):
    w, loc, var = prob.flow_params(2.0)
    mu = np.linspace(-3, 3, 13)
    ref = np.log(np.sum(w * stats.norm.pdf(mu[:, None], loc, np.sqrt(var)), -1))
    got = C.gaussian_mixture_flow_log_prob(prob.pair, jnp.asarray(mu, jnp.float32), 2.0, jnp.array(prob.weights),
                                           jnp.array(prob.means), jnp.array(prob.variances))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_tweedie_oracle_equals_autodiff_score():
    r = K.check_tweedie(accuracies=(0.05, 10.0, 100.0), num_points=201)
    assert r["max_rel_score_error"] < 1e-4
    assert r["max_abs_posterior_mean_error"] < 1e-4


def test_em_equals_diffrax_euler_on_the_same_path():
    r = K.check_em_matches_diffrax(seed=1, num_paths=64, num_steps=32)
    assert r["max_abs_diff"] < 1e-4 * max(1.0, r["max_abs_mu"])


def test_pmm_chain_conditional_is_exact_at_any_step_count():
    """With m = x the chain sums the Brownian increments exactly: mu_T = (rho0 mu0 + A x + B_A)/(rho0 + A)."""
    pair = get_pair("normal_normal", prior_mean_value=0.5, prior_precision=2.0)
    sched = GeometricSchedule(a_max=50.0, scale=2.0)
    _, a_grid = D.accuracy_grid(sched, 8)
    x = jnp.array([-1.0, 0.0, 2.0])
    dB = jax.random.normal(jax.random.key(0), (8, 3)) * jnp.sqrt(jnp.diff(a_grid))[:, None]
    mu = D.pmm_chain(pair, D.conditional_posterior_mean(x), a_grid, dB)
    expected = (2.0 * 0.5 + a_grid[-1] * x + dB.sum(0)) / (2.0 + a_grid[-1])
    np.testing.assert_allclose(mu, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_strong_order_of_em_against_shark():
    r = K.check_strong_order(seed=0, num_paths=32, steps=(8, 16, 32, 64), ref_steps=512, num_boot=100)
    assert 0.85 < r["em_order"] < 1.2, r
    assert r["em_order_ci"][0] < 1.0 + 0.2 and r["em_order_ci"][1] > 1.0 - 0.2
    assert r["shark_order"] > 1.2  # higher order than EM, as diffrax states (1.5)


def test_weak_order_gaussian_exact():
    r = K.check_weak_order_gaussian()
    assert 0.93 < r["order"] < 1.05, r
    assert all(e1 > e2 for e1, e2 in zip(r["errors"], r["errors"][1:]))


def test_weak_order_mixture_monte_carlo():
    r = K.check_weak_order_mixture(seed=0, num_paths=4000, steps=(8, 16, 32, 64), ref_steps=1024, num_boot=100)
    assert 0.85 < r["order"] < 1.15, r
    assert r["order_ci"][0] > 0.8 and r["order_ci"][1] < 1.2
    assert abs(r["reference_z"]) < 3.5


def test_marginals_match_flow_law():
    r = K.check_marginals(seed=0, num_paths=2000, num_steps=256, times=(0.25, 1.0))
    bad = {k: v for k, v in r.items() if v < P_MIN}
    assert not bad, bad


def test_probability_flow_ode_reproduces_target(prob):
    m = prob.oracle()
    n = 600
    t0 = 1e-3
    w, mm, vv = map(np.array, (prob.weights, prob.means, prob.variances))
    mean = float(np.sum(w * mm))
    var = float(np.sum(w * (vv + mm**2)) - mean**2)
    start = D.gaussian_start(jax.random.key(0), prob.pair, prob.schedule, t0, mean, var, (n,))
    pf = D.probability_flow_sample(prob.pair, prob.schedule, m, start, t0)
    exact = prob.sample_flow(jax.random.key(1), prob.schedule.a_max, n)
    d, p, null = St.energy_permutation_test(np.asarray(pf), np.asarray(exact), num_perm=100)
    assert p > P_MIN, (d, null)
    with pytest.raises(PMMInputError, match="t0"):
        D.probability_flow_sample(prob.pair, prob.schedule, m, start, 0.0)


def test_probability_flow_is_deterministic_transport_of_gaussian_target():
    """Gaussian target: the PF-ODE map is affine and must send N(flow mean, flow var) at t0 to the exact law at t=1."""
    pair = get_pair("normal_normal")
    sched = GeometricSchedule(a_max=100.0, scale=1.0)
    from pmm_ppl.process.oracles import gaussian_mixture_oracle_at_accuracy

    m = gaussian_mixture_oracle_at_accuracy(pair, jnp.array([1.0]), jnp.array([1.0]), jnp.array([0.25]))
    t0 = 1e-2
    q = jnp.array([-2.0, 0.0, 2.0])  # standard-normal quantiles
    a0 = float(sched.A(t0))
    g0 = a0 / (1 + a0)
    start = g0 * 1.0 + jnp.sqrt(g0**2 * 0.25 + a0 / (1 + a0) ** 2) * q  # exact flow law at t0 (Gaussian target)
    end = D.probability_flow_sample(pair, sched, m, start, t0, rtol=1e-6, atol=1e-7)
    g1 = 100.0 / 101.0
    expected = g1 * 1.0 + np.sqrt(g1**2 * 0.25 + 100.0 / 101.0**2) * np.asarray(q)
    np.testing.assert_allclose(end, expected, atol=2e-4)


def test_denoiser_at_accuracy_inverts_schedule():
    sched = GeometricSchedule(a_max=100.0, scale=1.0)
    f = lambda mu, t: t  # noqa: E731
    t = jnp.array([0.0, 0.3, 0.9])
    got = D.denoiser_at_accuracy(f, sched)(jnp.zeros(3), sched.A(t))
    np.testing.assert_allclose(got, t, atol=1e-5)
    np.testing.assert_allclose(D.schedule_inverse(sched, sched.A(t)), t, atol=1e-5)


def test_em_started_at_zero_is_regular(prob):
    """rho0 > 0 and A'(0) < inf: the SDE coefficients are finite at t = 0 and EM from mu0 stays finite."""
    assert np.isfinite(float(D.sde_diffusion(prob.pair, prob.schedule, 0.0)))
    drift = D.sde_drift(prob.pair, prob.schedule, prob.oracle(), jnp.asarray(0.0), jnp.zeros(4))
    assert np.all(np.isfinite(np.asarray(drift)))
    with pytest.raises(PMMInputError):
        D.coarsen_increments(jnp.zeros((10, 2)), 3)


def test_process_sampler_is_the_same_discrete_chain():
    """The library's plug-in sampler (pmm_ppl.process.sampler, output='mean') and pmm_chain have the same
    law at T = 8 steps: E[mu_1^2] agrees within Monte Carlo error, and both carry the same O(h) weak
    error against the exact flow law (far outside the noise at T = 8)."""
    from pmm_ppl.process.oracles import gaussian_mixture_oracle
    from pmm_ppl.process.sampler import sample

    prob = K.normal_problem(bimodal=False)
    n, steps = 20000, 8
    f = gaussian_mixture_oracle(prob.pair, prob.schedule, jnp.array(prob.weights), jnp.array(prob.means),
                                jnp.array(prob.variances))
    mu_s = np.asarray(sample(prob.pair, f, jax.random.key(0), n, (), prob.schedule, steps, output="mean"), np.float64)
    _, a_grid = D.accuracy_grid(prob.schedule, steps)
    dB = jax.random.normal(jax.random.key(1), (steps, n)) * jnp.sqrt(jnp.diff(a_grid))[:, None]
    mu_c = np.asarray(D.pmm_chain(prob.pair, prob.oracle(), a_grid, dB), np.float64)
    se = np.sqrt(np.var(mu_s**2) / n + np.var(mu_c**2) / n)
    assert abs(np.mean(mu_s**2) - np.mean(mu_c**2)) < 4 * se
    assert stats.ks_2samp(mu_s, mu_c).pvalue > P_MIN
    exact = prob.flow_moment(prob.schedule.a_max, 2)
    assert abs(np.mean(mu_c**2) - exact) > 10 * se  # the discretisation error (an under-dispersion) is resolved

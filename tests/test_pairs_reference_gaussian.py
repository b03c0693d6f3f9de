"""mvn_normal and normal_gamma against independent references (float64 numpy/scipy, quadrature, Monte Carlo).

Tolerances: closed forms vs references rtol 1e-4 (float32 arithmetic in the pairs); Monte Carlo
moments within 4 standard errors; quadrature on fine grids (relative error < 1e-4 checked against
its own refinement implicitly by the 1e-3 tolerance used).  Fixed seeds throughout.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats
from scipy.special import gammaln

import pmm_ppl

RNG = np.random.default_rng(1234)


def _spd(d, rng, jitter=0.5):
    m = rng.normal(size=(d, d))
    return m @ m.T / d + jitter * np.eye(d)


def _tup(a):
    return tuple(map(tuple, np.asarray(a, float))) if np.ndim(a) == 2 else tuple(float(v) for v in a)


# ====================================================================== mvn_normal
D = 3
P0 = _spd(D, RNG)
LAM = _spd(D, RNG, 0.3)
M0 = RNG.normal(size=D)
MVN = pmm_ppl.get_pair("mvn_normal", prior_mean_value=_tup(M0), prior_precision=_tup(P0), obs_precision=_tup(LAM))


def _mvn_posterior_reference(ys, alphas):
    prec = P0 + alphas.sum() * LAM
    mean = np.linalg.solve(prec, P0 @ M0 + LAM @ (alphas[:, None] * ys).sum(0))
    return prec, mean


def test_mvn_update_matches_textbook_posterior():
    alphas = np.array([0.3, 1.2, 0.7, 2.0])
    ys = RNG.normal(size=(4, D)) * 2
    state = MVN.update_many(MVN.init(()), jnp.asarray(ys, jnp.float32), jnp.asarray(alphas, jnp.float32))
    prec, mean = _mvn_posterior_reference(ys, alphas)
    np.testing.assert_allclose(np.asarray(MVN.precision(state)), prec, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(MVN.mean(state)), mean, rtol=1e-4, atol=1e-5)
    theta = RNG.normal(size=(5, D))
    ref = stats.multivariate_normal(mean, np.linalg.inv(prec)).logpdf(theta)
    np.testing.assert_allclose(np.asarray(MVN.posterior(state).log_prob(jnp.asarray(theta, jnp.float32))), ref, rtol=1e-4, atol=1e-4)
    # predictive N(mu, P^-1 + (alpha Lambda)^-1)
    alpha = 0.8
    cov = np.linalg.inv(prec) + np.linalg.inv(alpha * LAM)
    pred = MVN.predictive(state, alpha)
    np.testing.assert_allclose(np.asarray(pred.covariance_matrix), cov, rtol=1e-4, atol=1e-6)
    ref = stats.multivariate_normal(mean, cov).logpdf(theta)
    np.testing.assert_allclose(np.asarray(pred.log_prob(jnp.asarray(theta, jnp.float32))), ref, rtol=1e-4, atol=1e-4)


def test_mvn_flow_moments_and_density():
    x = RNG.normal(size=D)
    a_total = 3.5
    reps = 20000
    states = jax.jit(jax.vmap(lambda k: MVN.flow(k, jnp.asarray(x, jnp.float32), a_total)))(jax.random.split(jax.random.key(0), reps))
    mu = np.asarray(states.mean, np.float64)
    prec = P0 + a_total * LAM
    cov_p = np.linalg.inv(prec)
    exp_mean = cov_p @ (P0 @ M0 + a_total * LAM @ x)
    exp_cov = cov_p @ (a_total * LAM) @ cov_p  # Cov(Lambda S) = A Lambda
    se = np.sqrt(np.diag(exp_cov) / reps)
    assert np.all(np.abs(mu.mean(0) - exp_mean) < 4 * se), (mu.mean(0), exp_mean)
    emp_cov = np.cov(mu.T)
    se_cov = np.sqrt((np.outer(np.diag(exp_cov), np.diag(exp_cov)) + exp_cov**2) / reps)
    assert np.all(np.abs(emp_cov - exp_cov) < 4 * se_cov), (emp_cov, exp_cov)
    np.testing.assert_allclose(np.asarray(states.accuracy), a_total)
    # flow_log_prob is the exact density of the flow's posterior mean
    ref = stats.multivariate_normal(exp_mean, exp_cov).logpdf(mu[:5])
    got = np.asarray(MVN.flow_log_prob(jax.tree_util.tree_map(lambda v: v[:5], states), jnp.asarray(x, jnp.float32), a_total))
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=2e-3)


def test_mvn_divergence_exact_and_monte_carlo():
    x, xhat, alpha = RNG.normal(size=D), RNG.normal(size=D), 0.6
    exact = 0.5 * alpha * (x - xhat) @ LAM @ (x - xhat)
    got = float(MVN.divergence(jnp.asarray(x, jnp.float32), jnp.asarray(xhat, jnp.float32), alpha))
    np.testing.assert_allclose(got, exact, rtol=1e-5)
    cov = np.linalg.inv(alpha * LAM)
    y = RNG.multivariate_normal(x, cov, size=40000)
    llr = stats.multivariate_normal(x, cov).logpdf(y) - stats.multivariate_normal(xhat, cov).logpdf(y)
    assert abs(llr.mean() - got) < 4 * llr.std() / np.sqrt(len(llr))


def test_mvn_observation_and_prior_match_scipy():
    theta, y, alpha = RNG.normal(size=D), RNG.normal(size=D), 1.7
    got = float(MVN.observation(jnp.asarray(theta, jnp.float32), alpha).log_prob(jnp.asarray(y, jnp.float32)))
    np.testing.assert_allclose(got, stats.multivariate_normal(theta, np.linalg.inv(alpha * LAM)).logpdf(y), rtol=1e-5)
    got = float(MVN.prior().log_prob(jnp.asarray(theta, jnp.float32)))
    np.testing.assert_allclose(got, stats.multivariate_normal(M0, np.linalg.inv(P0)).logpdf(theta), rtol=1e-5)


# ====================================================================== normal_gamma
# data x = (m, m^2 + 1/tau); a_0 = (kappa_0 + 3)/2 = 3 (the Diaconis-Ylvisaker prior the pair requires)
NG_HYPER = dict(prior_loc=0.5, prior_kappa=3.0, prior_shape=3.0, prior_rate=1.5)
NG = pmm_ppl.get_pair("normal_gamma", **NG_HYPER)


def _summary(z):
    return np.array([z.mean(), ((z - z.mean()) ** 2).sum()])


def _x(m, tau):
    """Data coordinates of (m, tau), float64."""
    return np.stack([m, m**2 + 1 / tau], -1)


def _textbook(zbar, ss, n):
    """Textbook Normal-Gamma update (kappa, loc, shape, rate) of the prior after the summary of n draws."""
    h = NG_HYPER
    kappa = h["prior_kappa"] + n
    loc = (h["prior_kappa"] * h["prior_loc"] + n * zbar) / kappa
    rate = h["prior_rate"] + ss / 2 + h["prior_kappa"] * n * (zbar - h["prior_loc"]) ** 2 / (2 * kappa)
    return kappa, loc, h["prior_shape"] + n / 2, rate


def _raw_draw_posterior_unnormalised(z, m, tau):
    """log prior(m, tau) + sum_j log N(z_j; m, 1/tau), evaluated on grids (float64)."""
    h = NG_HYPER
    lp = stats.gamma(h["prior_shape"], scale=1 / h["prior_rate"]).logpdf(tau)
    lp += stats.norm(h["prior_loc"], 1 / np.sqrt(h["prior_kappa"] * tau)).logpdf(m)
    for zj in z:
        lp += stats.norm(m, 1 / np.sqrt(tau)).logpdf(zj)
    return lp


def test_normal_gamma_posterior_vs_quadrature():
    """Posterior mean of x = (m, m^2 + 1/tau) by quadrature over (m, tau) equals the pair's running average;
    the posterior density (with the Jacobian tau^2 of tau -> s) equals prior x likelihood / evidence."""
    z = RNG.normal(1.0, 0.7, size=7)
    ns = np.array([3.0, 1.0, 3.0])
    ys = np.stack([_summary(z[:3]), _summary(z[3:4]), _summary(z[4:])])
    state = NG.update_many(NG.init(()), jnp.asarray(ys, jnp.float32), jnp.asarray(ns, jnp.float32))
    mean = np.asarray(NG.mean(state), np.float64)
    m = np.linspace(mean[0] - 4, mean[0] + 4, 1601)
    tau = np.linspace(1e-6, 12, 2401)
    mm, tt = np.meshgrid(m, tau, indexing="ij")
    dens = np.exp(_raw_draw_posterior_unnormalised(z, mm, tt))
    integral = lambda f: integrate.simpson(integrate.simpson(f, x=tau, axis=1), x=m)  # noqa: E731
    norm = integral(dens)
    e_m, e_s = integral(dens * mm) / norm, integral(dens * (mm**2 + 1 / np.maximum(tt, 1e-300))) / norm
    np.testing.assert_allclose(mean, [e_m, e_s], rtol=1e-3)
    # the state is the textbook posterior: evidence from its hyperparameters
    kappa, loc, a, b = _textbook(z.mean(), ((z - z.mean()) ** 2).sum(), len(z))
    np.testing.assert_allclose(float(state.weight), kappa, rtol=1e-6)
    post = NG.posterior(state)
    np.testing.assert_allclose([float(post.loc), float(post.concentration), float(post.rate)], [loc, a, b], rtol=1e-4)
    h, n = NG_HYPER, len(z)
    log_z = (gammaln(a) - gammaln(h["prior_shape"]) + h["prior_shape"] * np.log(h["prior_rate"])
             - a * np.log(b) + 0.5 * np.log(h["prior_kappa"] / kappa) - 0.5 * n * np.log(2 * np.pi))
    np.testing.assert_allclose(log_z, np.log(norm), rtol=1e-4, atol=1e-4)
    pts = np.array([[1.0, 1.5], [0.6, 3.0], [1.4, 0.8]])  # (m, tau)
    got = np.asarray(post.log_prob(jnp.asarray(_x(pts[:, 0], pts[:, 1]), jnp.float32)))
    ref = _raw_draw_posterior_unnormalised(z, pts[:, 0], pts[:, 1]) - np.log(norm) + 2 * np.log(pts[:, 1])
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-3)


def test_normal_gamma_summary_likelihood_is_raw_likelihood_up_to_a_constant():
    z = RNG.normal(size=5)
    y = jnp.asarray(_summary(z), jnp.float32)
    diffs = []
    for m, tau in [(0.0, 1.0), (1.3, 0.4), (-0.7, 2.5)]:
        lp_summary = float(NG.observation(jnp.asarray(_x(m, tau), jnp.float32), 5.0).log_prob(y))
        lp_raw = stats.norm(m, 1 / np.sqrt(tau)).logpdf(z).sum()
        diffs.append(lp_summary - lp_raw)
    np.testing.assert_allclose(diffs, diffs[0], atol=1e-4)


def test_normal_gamma_predictive_student_t_and_joint_density():
    state = NG.update(NG.init(()), jnp.array([0.8, 2.0]), 4.0)
    kappa, loc, a, b = _textbook(0.8, 2.0, 4.0)
    # one future draw: Student-t(2a, loc, sqrt(b (kappa + 1) / (a kappa)))
    t_ref = stats.t(2 * a, loc, np.sqrt(b * (kappa + 1) / (a * kappa)))
    zs = np.array([-1.0, 0.3, 0.9, 2.5])
    pred1 = NG.predictive(state, 1.0)
    got = np.asarray(pred1.log_prob(jnp.asarray(np.stack([zs, np.zeros_like(zs)], -1), jnp.float32)))
    np.testing.assert_allclose(got, t_ref.logpdf(zs), rtol=1e-5)
    # n = 3 future draws: joint density of (zbar, ss) by quadrature over tau; zbar marginal Student-t
    n = 3.0
    pred = NG.predictive(state, n)
    v = 1 / kappa + 1 / n
    for zbar, ss in [(0.5, 1.2), (1.5, 0.2), (-0.4, 3.0)]:
        f = lambda tau: (stats.gamma(a, scale=1 / b).pdf(tau) * stats.norm(loc, np.sqrt(v / tau)).pdf(zbar)  # noqa: E731
                         * stats.gamma((n - 1) / 2, scale=2 / tau).pdf(ss))
        ref = np.log(integrate.quad(f, 0, np.inf, limit=200)[0])
        np.testing.assert_allclose(float(pred.log_prob(jnp.array([zbar, ss]))), ref, rtol=1e-4, atol=1e-4)
    st_ref = stats.t(2 * a, loc, np.sqrt(b * v / a))
    np.testing.assert_allclose(np.asarray(pred.student_t().log_prob(jnp.asarray(zs, jnp.float32))), st_ref.logpdf(zs), rtol=1e-5)


def test_normal_gamma_divergence_monte_carlo():
    (m, tau), (mh, tauh), n = (0.3, 1.5), (-0.2, 0.8), 4.0
    got = float(NG.divergence(jnp.asarray(_x(m, tau), jnp.float32), jnp.asarray(_x(mh, tauh), jnp.float32), n))
    p, q = stats.norm(m, 1 / np.sqrt(tau)), stats.norm(mh, 1 / np.sqrt(tauh))
    z = p.rvs(size=(40000,), random_state=RNG)
    llr = n * (p.logpdf(z) - q.logpdf(z))  # n raw draws: n times the one-draw KL
    assert abs(llr.mean() - got) < 4 * llr.std() / np.sqrt(len(llr))
    # the KL between the laws of the n-draw summaries is the same (the summary is sufficient)
    obs_x = NG.observation(jnp.asarray(_x(m, tau), jnp.float32), n)
    obs_h = NG.observation(jnp.asarray(_x(mh, tauh), jnp.float32), n)
    ys = obs_x.sample(jax.random.key(5), (40000,))
    llr = np.asarray(obs_x.log_prob(ys) - obs_h.log_prob(ys), np.float64)
    assert abs(llr.mean() - got) < 4 * llr.std() / np.sqrt(len(llr))


def test_normal_gamma_flow_vs_raw_draw_simulation_and_density():
    (m, tau), a_total, reps = (0.4, 2.0), 7, 20000
    x = jnp.asarray(_x(m, tau), jnp.float32)
    states = jax.jit(jax.vmap(lambda k: NG.flow(k, x, float(a_total))))(jax.random.split(jax.random.key(3), reps))
    # independent reference: a_total raw draws, textbook posterior
    z = RNG.normal(m, 1 / np.sqrt(tau), size=(reps, a_total))
    zbar, ss = z.mean(1), ((z - z.mean(1, keepdims=True)) ** 2).sum(1)
    kappa, loc, _, rate = _textbook(zbar, ss, a_total)
    second = loc**2 + 2 * rate / kappa  # E[m^2 + 1/tau] under the textbook posterior: the running average
    got_mean = np.asarray(states.mean, np.float64)
    for got, ref in [(got_mean[:, 0], loc), (got_mean[:, 1], second), (got_mean[:, 1] ** 2, second**2)]:
        se = np.sqrt(got.var() / reps + ref.var() / reps)
        assert abs(got.mean() - ref.mean()) < 4 * se, (got.mean(), ref.mean())
    np.testing.assert_allclose(np.asarray(states.weight), kappa)
    # flow_log_prob: the density of S = (sum z, sum z^2) behind the state (Jacobian a_total from (zbar, ss))
    ref_states = pmm_ppl.RunningMean(jnp.full((4,), kappa, jnp.float32), jnp.asarray(np.stack([loc, second], -1)[:4], jnp.float32))
    got = np.asarray(NG.flow_log_prob(ref_states, x, float(a_total)))
    ref = (stats.norm(m, 1 / np.sqrt(a_total * tau)).logpdf(zbar[:4]) + stats.gamma((a_total - 1) / 2, scale=2 / tau).logpdf(ss[:4])
           - np.log(a_total))
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-2)


def test_normal_gamma_distribution_matches_scipy():
    ng = NG.prior()
    pts = np.array([[0.1, 0.5], [1.0, 2.0], [-2.0, 1.0]])  # (m, tau)
    h = NG_HYPER
    ref = stats.gamma(h["prior_shape"], scale=1 / h["prior_rate"]).logpdf(pts[:, 1]) + stats.norm(
        h["prior_loc"], 1 / np.sqrt(h["prior_kappa"] * pts[:, 1])).logpdf(pts[:, 0]) + 2 * np.log(pts[:, 1])
    np.testing.assert_allclose(np.asarray(ng.log_prob(jnp.asarray(_x(pts[:, 0], pts[:, 1]), jnp.float32))), ref, rtol=1e-5)
    draws = np.asarray(ng.sample(jax.random.key(9), (40000,)), np.float64)
    mean, var = np.asarray(ng.mean), np.asarray(ng.variance)
    np.testing.assert_allclose(mean, NG.prior_mean, rtol=1e-6)  # the Diaconis-Ylvisaker x_0
    assert np.all(np.abs(draws.mean(0) - mean) < 4 * np.sqrt(var / len(draws)))
    # Var(s) closed form against float64 Monte Carlo of a prior with light tails (a = 9)
    light = type(ng)(0.7, 2.0, 9.0, 3.0)
    tau = RNG.gamma(9.0, 1 / 3.0, size=400000)
    s = _x(RNG.normal(0.7, 1 / np.sqrt(2.0 * tau)), tau)
    np.testing.assert_allclose(np.asarray(light.variance), s.var(0), rtol=0.02)
    np.testing.assert_allclose(np.asarray(light.mean), s.mean(0), rtol=0.01)


@pytest.mark.parametrize("pair", [MVN, NG], ids=["mvn_normal", "normal_gamma"])
def test_model_has_theta_site_with_the_prior(pair):
    """The NumPyro model's 'theta' site (what the verifier reads) has the prior's first two moments."""
    from numpyro.infer import Predictive

    ys = pair.sample_observation(jax.random.key(0), pair.sample_data(jax.random.key(1)), 2.0)[None]
    draws = Predictive(pair.model, num_samples=20000)(jax.random.key(2), None, jnp.array([2.0]), num_obs=1)["theta"]
    draws = np.asarray(draws, np.float64)
    assert draws.shape == (20000,) + ys.shape[1:]
    prior = pair.prior()
    mean = np.asarray(prior.mean)
    var = np.asarray(prior.variance) if hasattr(prior, "variance") else np.var(draws, 0)
    assert np.all(np.abs(draws.mean(0) - mean) < 4 * np.sqrt(var / len(draws)))

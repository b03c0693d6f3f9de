r"""Measured numerical checks of the continuous-time limits (docs/design.md section 6).

Every function returns plain numbers (a dict); tests assert them and ``pmm sde-checks`` prints
them as one table.  Sizes (paths, steps) are arguments so that tests can run small versions.

Reference problem (Normal-Normal, :func:`normal_problem`): :math:`\mu_0 = 0`, :math:`\rho_0 = 1`,
geometric schedule with :math:`A_{\max} = 100`, scale :math:`c = \rho_0` (so :math:`\alpha/\rho`
is constant in time), target a two-component Gaussian mixture.  Counts (:func:`count_problem`):
Gamma-Poisson :math:`a_0 = b_0 = 1`, :math:`p^*` point masses at rates ``(0.5, 3)``, weights
``(0.3, 0.7)``, :math:`A_{\max} = 6`; then :math:`N_A \mid x \sim \mathrm{Poisson}(Ax)` and the law of
:math:`N_A` under the model is the mixed Poisson :math:`\sum_j w_j\,\mathrm{Poisson}(A r_j)`.

Error bars: slopes are least-squares fits of :math:`\log(\text{error})` on :math:`\log h`; their
intervals are 95% percentile bootstrap intervals over simulated paths (or the regression
interval when the errors are computed exactly).  The statistics themselves (slopes, bootstrap,
chi-square, total variation, energy-distance and moment tests) live in :mod:`pmm_ppl.verify.statistics`.
The problems are built from the pair classes (:class:`NormalNormal`, :class:`GammaPoisson`,
:class:`DirichletCategorical`), not from registry names.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from pmm_ppl.conjugate import DirichletCategorical, GammaPoisson, NormalNormal
from pmm_ppl.process.oracles import empirical_oracle_at_accuracy, gaussian_mixture_oracle_at_accuracy
from pmm_ppl.process.schedules import GeometricSchedule
from pmm_ppl.sde import coordinates as C
from pmm_ppl.sde import cox as X
from pmm_ppl.sde import diffusion as D
from pmm_ppl.verify import statistics as St


# ---------------------------------------------------------------------- problems
@dataclasses.dataclass(frozen=True)
class NormalProblem:
    pair: Any
    schedule: Any
    weights: tuple
    means: tuple
    variances: tuple

    def oracle(self):
        return gaussian_mixture_oracle_at_accuracy(self.pair, jnp.array(self.weights), jnp.array(self.means),
                                                   jnp.array(self.variances))

    def flow_params(self, a):
        """Component locations and variances of the flow marginal at accuracy ``a`` (float64 numpy)."""
        rho0, mu0 = self.pair.prior_precision, self.pair.prior_mean_value
        g = a / (rho0 + a)
        s2 = a / (rho0 + a) ** 2
        m, v = np.array(self.means, float), np.array(self.variances, float)
        return np.array(self.weights, float), g * m + (1 - g) * mu0, g**2 * v + s2

    def flow_cdf(self, a, mu):
        w, loc, var = self.flow_params(a)
        return np.sum(w * stats.norm.cdf((np.asarray(mu)[..., None] - loc) / np.sqrt(var)), -1)

    def flow_moment(self, a, k):
        """:math:`E[\\mu^k]`, k = 1, 2, under the flow marginal."""
        w, loc, var = self.flow_params(a)
        return float(np.sum(w * (loc if k == 1 else loc**2 + var)))

    def sample_flow(self, key, a, n):
        """Exact draws of :math:`\\mu` at accuracy ``a``: :math:`x \\sim p^*`, then ``pair.flow``."""
        k1, k2, k3 = jax.random.split(key, 3)
        j = jax.random.choice(k1, len(self.weights), (n,), p=jnp.array(self.weights))
        x = jnp.array(self.means)[j] + jnp.sqrt(jnp.array(self.variances))[j] * jax.random.normal(k2, (n,))
        return self.pair.flow(k3, x, a).mean


def normal_problem(bimodal: bool = True) -> NormalProblem:
    """``bimodal``: weights (0.3, 0.7), means (-1, 1.5), variances (0.2, 0.1); otherwise an overlapping
    mixture (0.5, 0.5), (-0.5, 0.75), (0.5, 0.3) whose posterior mean is not stiff (for strong errors)."""
    pair = NormalNormal(prior_mean_value=0.0, prior_precision=1.0)
    schedule = GeometricSchedule(a_max=100.0, scale=1.0)
    if bimodal:
        return NormalProblem(pair, schedule, (0.3, 0.7), (-1.0, 1.5), (0.2, 0.1))
    return NormalProblem(pair, schedule, (0.5, 0.5), (-0.5, 0.75), (0.5, 0.3))


@dataclasses.dataclass(frozen=True)
class CountProblem:
    pair: Any
    rates: tuple
    weights: tuple
    a_max: float

    def oracle(self):
        return empirical_oracle_at_accuracy(self.pair, jnp.array(self.rates), jnp.array(self.weights))

    def pmf(self, a, n):
        """Mixed Poisson law of :math:`N_a`: :math:`\\sum_j w_j \\mathrm{Poi}(n; a r_j)`."""
        n = np.asarray(n)
        return sum(w * stats.poisson.pmf(n, a * r) for w, r in zip(self.weights, self.rates))

    def support_max(self, a, tail=1e-12):
        return int(stats.poisson.isf(tail, a * max(self.rates))) + 2


def count_problem() -> CountProblem:
    return CountProblem(GammaPoisson(prior_shape=1.0, prior_rate=1.0), (0.5, 3.0), (0.3, 0.7), 6.0)


# ---------------------------------------------------------------------- 1. solvers agree on one path
def check_em_matches_diffrax(seed: int = 0, num_paths: int = 256, num_steps: int = 64) -> dict:
    """Hand-written EM (``lax.scan``) vs ``diffrax.Euler`` driven by the increments of the same
    ``VirtualBrownianTree`` on the same grid: maximum absolute difference of :math:`\\mu_1`."""
    prob = normal_problem()
    m = prob.oracle()
    bm = diffrax.VirtualBrownianTree(0.0, 1.0, tol=1e-3 / num_steps, shape=(num_paths,), key=jax.random.key(seed))
    t_grid = jnp.linspace(0.0, 1.0, num_steps + 1)
    mu0 = jnp.zeros((num_paths,))

    @jax.jit
    def both():
        em = D.euler_maruyama(prob.pair, prob.schedule, m, mu0, t_grid, D.increments_of_path(bm, t_grid))
        dx = D.diffrax_sde_solve(prob.pair, prob.schedule, m, mu0, bm, 0.0, 1.0, num_steps)
        return em, dx

    em, dx = both()
    return {"max_abs_diff": float(jnp.max(jnp.abs(em - dx))), "max_abs_mu": float(jnp.max(jnp.abs(em)))}


def check_strong_order(seed: int = 0, num_paths: int = 256, steps=(8, 16, 32, 64, 128), ref_steps: int = 2048,
                       num_boot: int = 200) -> dict:
    """Strong convergence of EM to a fine :class:`diffrax.ShARK` solution on the same Brownian path
    (space-time Levy area tree): RMS error of :math:`\\mu_1` per step count and the fitted order
    (theory: 1 for additive noise), with a bootstrap interval over paths.  Also ShARK's own errors."""
    prob = normal_problem(bimodal=False)
    m = prob.oracle()
    bm = diffrax.VirtualBrownianTree(0.0, 1.0, tol=0.25 / ref_steps, shape=(num_paths,), key=jax.random.key(seed),
                                     levy_area=diffrax.SpaceTimeLevyArea)
    mu0 = jnp.zeros((num_paths,))
    shark = jax.jit(lambda n: D.diffrax_sde_solve(prob.pair, prob.schedule, m, mu0, bm, 0.0, 1.0, n,
                                                   solver=diffrax.ShARK(), max_steps=ref_steps + 2))
    ref = shark(ref_steps)
    # EM increments: exact sums of the path's increments on the finest grid (Brownian increments add up)
    dW_fine = jax.jit(D.increments_of_path)(bm, jnp.linspace(0.0, 1.0, ref_steps + 1))
    em_err, shark_err = [], []
    for t in steps:
        t_grid = jnp.linspace(0.0, 1.0, t + 1)
        em = jax.jit(D.euler_maruyama, static_argnums=(0, 1, 2))(prob.pair, prob.schedule, m, mu0, t_grid,
                                                                  D.coarsen_increments(dW_fine, ref_steps // t))
        em_err.append(np.asarray(em - ref, np.float64))
        shark_err.append(float(jnp.sqrt(jnp.mean((shark(t) - ref) ** 2))))
    per_path = np.stack(em_err, 1) ** 2
    h = 1.0 / np.array(steps)
    rms = np.sqrt(per_path.mean(0))
    slope = St.fit_slope(h, rms)[0]
    lo, hi = St.bootstrap_slope(h, per_path, lambda p: np.sqrt(p.mean(0)), num_boot, seed)
    return {"em_order": slope, "em_order_ci": (lo, hi), "em_rms_errors": rms.tolist(),
            "shark_rms_errors": shark_err, "shark_order": St.fit_slope(h, np.array(shark_err))[0], "steps": list(steps)}


# ---------------------------------------------------------------------- 2. weak order of the PMM chain
def gaussian_chain_law(a_grid: np.ndarray, m: float, v: float):
    """Exact mean and variance of :math:`S_T` for the discrete PMM chain with a N(m, v) target.

    The oracle is :math:`E[x \\mid S, A] = (m + vS)/(1 + Av)` (linear), so
    :math:`S_i = (1 + \\alpha_i v/(1 + A_{i-1}v)) S_{i-1} + \\alpha_i m/(1 + A_{i-1}v) + \\Delta B_i` and
    mean/variance follow a linear recursion (float64)."""
    mean, var = 0.0, 0.0
    for a_prev, a_next in zip(a_grid[:-1], a_grid[1:]):
        alpha = a_next - a_prev
        k = 1.0 + alpha * v / (1.0 + a_prev * v)
        mean = k * mean + alpha * m / (1.0 + a_prev * v)
        var = k * k * var + alpha
    return mean, var


def check_weak_order_gaussian(steps=(16, 32, 64, 128, 256), m: float = 1.0, v: float = 0.25) -> dict:
    """Weak error of the discrete PMM chain for a Gaussian target, computed exactly (no Monte Carlo):
    the chain's :math:`S_T` is Gaussian (:func:`gaussian_chain_law`) and the SDE's is
    :math:`N(A m, A(1 + Av))` at :math:`A = A_{\\max}`.  Error in :math:`E[\\mu_1^2]`; fitted order."""
    prob = normal_problem()
    rho0, mu0 = prob.pair.prior_precision, prob.pair.prior_mean_value
    a_max = prob.schedule.a_max
    rho = rho0 + a_max
    exact_s = (a_max * m, a_max * (1 + a_max * v))
    second = lambda mean, var: ((rho0 * mu0 + mean) ** 2 + var) / rho**2  # noqa: E731
    target = second(*exact_s)
    errs = []
    for t in steps:
        a_grid = np.asarray(prob.schedule._A_np(np.linspace(0.0, 1.0, t + 1)))
        a_grid[0], a_grid[-1] = 0.0, a_max
        errs.append(abs(second(*gaussian_chain_law(a_grid, m, v)) - target))
    h = 1.0 / np.array(steps)
    slope, lo, hi = St.fit_slope(h, np.array(errs))
    return {"order": slope, "order_ci": (lo, hi), "errors": errs, "steps": list(steps)}


def check_weak_order_mixture(seed: int = 0, num_paths: int = 20000, steps=(8, 16, 32, 64, 128),
                             ref_steps: int = 2048, num_boot: int = 200) -> dict:
    """Weak error of the discrete PMM chain (:func:`pmm_chain`, the plug-in sampler via ``pair.update``)
    for a Gaussian-mixture target, :math:`\\varphi(\\mu) = \\mu^2`, with common random numbers: all chains
    are driven by one accuracy-time Brownian path per sample (coarse increments = sums of fine ones),
    and the error is :math:`E[\\varphi(\\mu^{(T)}_1) - \\varphi(\\mu^{(\\mathrm{ref})}_1)]` against a chain with
    ``ref_steps`` steps.  The reference itself is compared with the exact flow law (z-score)."""
    prob = normal_problem(bimodal=False)
    m = prob.oracle()
    _, a_fine = D.accuracy_grid(prob.schedule, ref_steps)
    dB = jax.random.normal(jax.random.key(seed), (ref_steps, num_paths)) * jnp.sqrt(jnp.diff(a_fine))[:, None]
    run = jax.jit(lambda a, db: D.pmm_chain(prob.pair, m, a, db))
    ref = np.asarray(run(a_fine, dB), np.float64)
    phi = lambda mu: mu**2  # noqa: E731
    diffs = []
    for t in steps:
        f = ref_steps // t
        mu_t = np.asarray(run(a_fine[::f], D.coarsen_increments(dB, f)), np.float64)
        diffs.append(phi(mu_t) - phi(ref))
    per_path = np.stack(diffs, 1)
    err = np.abs(per_path.mean(0))
    se = per_path.std(0) / np.sqrt(num_paths)
    h = 1.0 / np.array(steps)
    slope = St.fit_slope(h, err)[0]
    lo, hi = St.bootstrap_slope(h, per_path, lambda p: np.abs(p.mean(0)), num_boot, seed)
    exact = prob.flow_moment(prob.schedule.a_max, 2)
    ref_z = St.mean_z_test(phi(ref), exact)[0]
    return {"order": slope, "order_ci": (lo, hi), "errors": err.tolist(), "std_errors": se.tolist(),
            "steps": list(steps), "reference_z": float(ref_z)}


# ---------------------------------------------------------------------- 3. marginals
def check_marginals(seed: int = 0, num_paths: int = 4000, num_steps: int = 1024, times=(0.25, 0.5, 1.0)) -> dict:
    """Marginals of EM paths (started at :math:`t = 0`, where :math:`\\rho_0 > 0` keeps the SDE regular)
    against the closed-form flow law at several t.  Conditional SDE given x (x drawn from :math:`p^*`,
    standardised by the conditional flow law, KS vs N(0,1)) and unconditional SDE with the oracle (KS vs
    the flow-marginal mixture CDF); plus moment tests: conditional -- z-test of the mean and chi-square
    test of the variance of the standardised values; unconditional -- z-tests of the first two moments
    (two-sided p-values).  EM's own bias at ``num_steps`` (order h) is far below these tests' resolution."""
    prob = normal_problem()
    m = prob.oracle()
    t_grid = jnp.linspace(0.0, 1.0, num_steps + 1)
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    j = jax.random.choice(k1, 2, (num_paths,), p=jnp.array(prob.weights))
    x = jnp.array(prob.means)[j] + jnp.sqrt(jnp.array(prob.variances))[j] * jax.random.normal(k2, (num_paths,))
    dW = D.brownian_increments(k3, t_grid, (num_paths,))
    mu0 = jnp.zeros((num_paths,))
    run = jax.jit(lambda pm_x, dw: (D.euler_maruyama(prob.pair, prob.schedule, D.conditional_posterior_mean(pm_x), mu0,
                                                     t_grid, dw, return_path=True)[1],
                                    D.euler_maruyama(prob.pair, prob.schedule, m, mu0, t_grid, dw, return_path=True)[1]))
    cond_path, unc_path = run(x, dW)
    out = {}
    x64 = np.asarray(x, np.float64)
    for t in times:
        i = int(round(t * num_steps))
        a = float(prob.schedule.A(jnp.asarray(t)))
        g, s2 = a / (1 + a), a / (1 + a) ** 2
        z = (np.asarray(cond_path[i], np.float64) - g * x64) / np.sqrt(s2)
        out[f"cond_ks_p@t={t}"] = float(stats.kstest(z, "norm").pvalue)
        out[f"cond_mean_p@t={t}"] = St.standard_normal_mean_pvalue(z)
        out[f"cond_var_p@t={t}"] = St.unit_variance_chi2_pvalue(z)
        mu = np.asarray(unc_path[i], np.float64)
        out[f"uncond_ks_p@t={t}"] = float(stats.kstest(mu, lambda q: prob.flow_cdf(a, q)).pvalue)
        for k in (1, 2):
            out[f"uncond_m{k}_p@t={t}"] = St.mean_z_test(mu**k, prob.flow_moment(a, k))[1]
    return out


# ---------------------------------------------------------------------- 4. Tweedie
def _tweedie_pair(pair, m, w, mu_m, var, mu, a):
    """(autodiff score of the closed-form marginal, oracle posterior mean, Tweedie score from the oracle)."""
    score_ad = jax.jit(lambda mu, a: jax.vmap(jax.grad(
        lambda q: C.gaussian_mixture_flow_log_prob(pair, q[None], a, w, mu_m, var)[0]))(mu))(mu, a)
    xhat = jax.jit(m)(mu, jnp.full(mu.shape, a))
    return score_ad, xhat, C.score_from_posterior_mean(pair, xhat, mu, a)


def check_tweedie(accuracies=(0.05, 1.0, 10.0, 100.0), num_points: int = 401) -> dict:
    """Oracle posterior mean vs the score of the flow marginal by autodiff of its closed-form log density
    (:func:`gaussian_mixture_flow_log_prob`), over a grid of :math:`\\mu` covering the marginal.
    Reports the max relative score error and the max absolute error of the posterior mean recovered
    from the autodiff score by inverse Tweedie."""
    prob = normal_problem()
    m = prob.oracle()
    w, mu_m, var = jnp.array(prob.weights), jnp.array(prob.means), jnp.array(prob.variances)
    score_err, mean_err = 0.0, 0.0
    for a in accuracies:
        _, loc, fv = prob.flow_params(a)
        lo, hi = float(np.min(loc - 4 * np.sqrt(fv))), float(np.max(loc + 4 * np.sqrt(fv)))
        mu = jnp.linspace(lo, hi, num_points)
        score_ad, xhat, score_tw = _tweedie_pair(prob.pair, m, w, mu_m, var, mu, jnp.asarray(a, mu.dtype))
        scale = jnp.max(jnp.abs(score_ad))
        score_err = max(score_err, float(jnp.max(jnp.abs(score_tw - score_ad)) / scale))
        xhat_ad = C.posterior_mean_from_score(prob.pair, score_ad, mu, a)
        mean_err = max(mean_err, float(jnp.max(jnp.abs(xhat_ad - xhat))))
    return {"max_rel_score_error": score_err, "max_abs_posterior_mean_error": mean_err}


# ---------------------------------------------------------------------- 5. Cox process
def check_cox_law(seed: int = 0, num_paths: int = 20000, accuracies=(1.0, 3.0, 6.0)) -> dict:
    """Law of :math:`N_A` from the exact thinning simulator (monotone bound) vs the mixed Poisson law:
    chi-square p-value and TV distance (with the TV of an exact multinomial sample of the same size as
    the noise level); thinning efficiency, overflow and bound-violation counts."""
    prob = count_problem()
    m = prob.oracle()
    a_grid = jnp.array(accuracies)
    sim = jax.jit(jax.vmap(lambda k: X.exact_cox(k, prob.pair, m, a_grid)))
    res = sim(jax.random.split(jax.random.key(seed), num_paths))
    rng = np.random.default_rng(seed)
    out = {"overflow": int(res.overflow.sum()), "bound_violations": int(res.bound_violations.sum()),
           "proposals_per_event": float(res.num_proposals.sum() / max(1, int(res.num_events.sum())))}
    for g, a in enumerate(accuracies):
        n = np.asarray(res.counts[:, g]).astype(int)
        pmf = lambda k, a=a: prob.pmf(a, k)  # noqa: E731
        out[f"chi2_p@A={a}"] = St.chi2_gof(n, pmf)[1]
        out[f"tv@A={a}"] = St.total_variation(n, pmf)
        support = np.arange(prob.support_max(a))
        ref = rng.choice(support, num_paths, p=pmf(support) / pmf(support).sum())
        out[f"tv_noise@A={a}"] = St.total_variation(ref, pmf)
    return out


def check_cox_categorical(seed: int = 0, num_paths: int = 8000, num_classes: int = 4, a_max: float = 2.0) -> dict:
    """K-variate Cox process of the Poissonised Dirichlet pair (noiseless channel, one-hot data rows with
    weights) simulated exactly with the constant bound 1 (a probability vector has total intensity 1).
    Under the model, at most one class is ever revealed (the data are one-hot), the revealed class has
    law :math:`\\propto` the weights among revealed paths, and the total count is Poisson(:math:`A`)."""
    pair = DirichletCategorical(num_classes=num_classes)
    weights = np.arange(1, num_classes + 1, dtype=float)
    weights /= weights.sum()
    data = jnp.eye(num_classes)
    m = empirical_oracle_at_accuracy(pair, data, jnp.array(weights))
    sim = jax.jit(jax.vmap(lambda k: X.exact_cox(k, pair, m, jnp.array([a_max]), data_shape=(num_classes,), bound=1.0)))
    res = sim(jax.random.split(jax.random.key(seed), num_paths))
    n = np.asarray(res.counts[:, 0]).astype(int)
    classes_revealed = (n > 0).sum(1)
    total = n.sum(1)
    revealed = total > 0
    cls = n[revealed].argmax(1)
    class_p = stats.chisquare(np.bincount(cls, minlength=num_classes), weights * revealed.sum()).pvalue
    return {"max_classes_revealed": int(classes_revealed.max()),
            "total_count_chi2_p": St.chi2_gof(total, lambda k: stats.poisson.pmf(k, a_max))[1],
            "revealed_class_chi2_p": float(class_p), "overflow": int(res.overflow.sum()),
            "bound_violations": int(res.bound_violations.sum())}


def tau_leap_pmf(prob: CountProblem, a_grid: np.ndarray, n_max: int) -> np.ndarray:
    """Exact law of :math:`N` after tau-leaping on ``a_grid`` over counts :math:`0..n_{\\max}`
    (:func:`pmm_ppl.sde.cox.count_chain_pmf` with the plug-in receiver: transitions
    Poisson(:math:`\\alpha_i\\,m(n, A_{i-1})`)), as a float64 array."""
    return np.asarray(X.count_chain_pmf(prob.pair, prob.oracle(), np.asarray(a_grid), int(n_max)), np.float64)


def check_tau_leap_order(seed: int = 0, steps=(8, 16, 32, 64, 128), num_paths: int = 20000, mc_steps: int = 8) -> dict:
    """Tau-leaping (the discrete PMM sampler) vs the exact law: weak error of :math:`E[N_{A_{\\max}}^2]`
    and TV, computed exactly by :func:`tau_leap_pmf`, with the fitted order; plus a chi-square check of
    the vmapped :func:`tau_leap` simulator against that recursion at ``mc_steps`` steps."""
    prob = count_problem()
    sched = GeometricSchedule(a_max=prob.a_max, scale=prob.pair.prior_rate)
    n_max = prob.support_max(prob.a_max) + 20
    n = np.arange(n_max + 1)
    exact = prob.pmf(prob.a_max, n)
    errs, tvs = [], []
    for t in steps:
        _, a_grid = D.accuracy_grid(sched, t)
        a_grid = np.asarray(a_grid, np.float64)
        a_grid[-1] = prob.a_max
        p = tau_leap_pmf(prob, a_grid, n_max)
        errs.append(abs(np.sum(p * n**2) - np.sum(exact * n**2)))
        tvs.append(0.5 * np.abs(p - exact).sum())
    h = 1.0 / np.array(steps)
    slope, lo, hi = St.fit_slope(h, np.array(errs))
    tv_slope = St.fit_slope(h, np.array(tvs))
    _, a_grid = D.accuracy_grid(sched, mc_steps)
    a_grid = a_grid.at[-1].set(prob.a_max)
    counts = jax.jit(lambda k: X.tau_leap(k, prob.pair, prob.oracle(), a_grid, (num_paths,)))(jax.random.key(seed))[-1]
    p_mc = tau_leap_pmf(prob, np.asarray(a_grid, np.float64), n_max)
    chi_p = St.chi2_gof(np.asarray(counts), lambda k: np.where(k <= n_max, p_mc[np.minimum(k, n_max)], 0.0))[1]
    return {"order": slope, "order_ci": (lo, hi), "errors": errs, "tv": tvs, "tv_order": tv_slope[0],
            "tv_order_ci": tv_slope[1:], "steps": list(steps),
            "simulator_vs_recursion_chi2_p": chi_p}


# ---------------------------------------------------------------------- 6. every sampler reproduces the target
def check_samplers_reproduce_target(seed: int = 0, num_samples: int = 2000, num_steps: int = 256,
                                    pf_t0: float = 1e-3, num_perm: int = 200) -> dict:
    """With the exact oracle, each continuous-time sampler's output vs exact draws of the flow marginal
    at :math:`A_{\\max}` (the law every exact sampler must produce): Normal -- EM SDE (from t = 0) and the
    probability-flow ODE (Tsit5 from ``pf_t0`` with the moment-matched Gaussian start), energy distance
    with permutation p-value and the median null energy distance (noise level); counts -- exact Cox and
    tau-leaping, chi-square p-value and TV vs the mixed Poisson law."""
    keys = jax.random.split(jax.random.key(seed), 8)
    prob = normal_problem()
    m = prob.oracle()
    a_max = prob.schedule.a_max
    exact = np.asarray(prob.sample_flow(keys[0], a_max, num_samples), np.float64)
    t_grid = jnp.linspace(0.0, 1.0, num_steps + 1)
    mu0 = jnp.zeros((num_samples,))
    em = jax.jit(lambda k: D.euler_maruyama(prob.pair, prob.schedule, m, mu0, t_grid,
                                            D.brownian_increments(k, t_grid, (num_samples,))))(keys[1])
    w, mm, vv = np.array(prob.weights), np.array(prob.means), np.array(prob.variances)
    tmean = float(np.sum(w * mm))
    tvar = float(np.sum(w * (vv + mm**2)) - tmean**2)
    start = D.gaussian_start(keys[2], prob.pair, prob.schedule, pf_t0, tmean, tvar, (num_samples,))
    pf = jax.jit(lambda s: D.probability_flow_sample(prob.pair, prob.schedule, m, s, pf_t0))(start)
    out = {}
    for name, s in (("em_sde", em), ("pf_ode", pf)):
        d, p, null = St.energy_permutation_test(np.asarray(s, np.float64), exact, num_perm, seed)
        out[f"{name}_energy"] = d
        out[f"{name}_energy_p"] = p
        out[f"{name}_energy_null_median"] = null
    cp = count_problem()
    cm = cp.oracle()
    n_cox = 4 * num_samples
    res = jax.jit(jax.vmap(lambda k: X.exact_cox(k, cp.pair, cm, jnp.array([cp.a_max]))))(jax.random.split(keys[3], n_cox))
    sched = GeometricSchedule(a_max=cp.a_max, scale=cp.pair.prior_rate)
    _, a_grid = D.accuracy_grid(sched, num_steps)
    a_grid = a_grid.at[-1].set(cp.a_max)
    tl = jax.jit(lambda k: X.tau_leap(k, cp.pair, cm, a_grid, (n_cox,)))(keys[4])[-1]
    pmf = lambda k: cp.pmf(cp.a_max, k)  # noqa: E731
    for name, s in (("exact_cox", res.counts[:, 0]), ("tau_leap", tl)):
        out[f"{name}_chi2_p"] = St.chi2_gof(np.asarray(s), pmf)[1]
        out[f"{name}_tv"] = St.total_variation(np.asarray(s), pmf)
    return out


# ---------------------------------------------------------------------- the table
def _fmt(v) -> str:
    if isinstance(v, (tuple, list)) and len(v) == 2:
        return f"[{v[0]:.3f}, {v[1]:.3f}]"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return f"{float(v):.3g}"


def run_all(quick: bool = False, seed: int = 0) -> list[tuple[str, str, str, str, str]]:
    """Run every check and return table rows ``(section, figure, value, interval, expectation)``.
    ``quick`` uses fewer paths (for smoke tests); the default sizes are those reported."""
    s = 0.25 if quick else 1.0
    n = lambda k: max(200, int(k * s))  # noqa: E731
    rows = []

    def add(section, figure, value, interval="", expect=""):
        rows.append((section, figure, _fmt(value), interval if isinstance(interval, str) else _fmt(interval), expect))

    r = check_em_matches_diffrax(seed)
    add("EM vs diffrax.Euler, same path", "max |mu_EM - mu_diffrax|", r["max_abs_diff"], "", f"float32 (~1e-6 x {r['max_abs_mu']:.2f})")
    r = check_strong_order(seed, num_paths=n(128), ref_steps=1024)
    add("strong order, EM vs ShARK ref", "fitted order (T=8..128)", r["em_order"], r["em_order_ci"], "1 (additive noise)")
    add("strong order, EM vs ShARK ref", "RMS error T=8 / T=128", r["em_rms_errors"][0], f"{r['em_rms_errors'][-1]:.3g}", "")
    add("strong order, ShARK vs ShARK ref", "fitted order", r["shark_order"], "", "1.5")
    r = check_weak_order_gaussian()
    add("weak order, PMM chain, Gaussian p*", "order of |E mu^2 err| (exact, T=16..256)", r["order"], r["order_ci"], "1")
    r = check_weak_order_mixture(seed, num_paths=n(20000))
    add("weak order, PMM chain, mixture p*", "order of |E mu^2 err| (MC+CRN, T=8..128)", r["order"], r["order_ci"], "1")
    add("weak order, PMM chain, mixture p*", "error T=8 / T=128 (+-se)", r["errors"][0],
        f"{r['errors'][-1]:.3g} +- {r['std_errors'][-1]:.2g}", "")
    add("weak order, PMM chain, mixture p*", "reference chain vs exact E mu^2 (z)", r["reference_z"], "", "|z| < 3")
    r = check_marginals(seed, num_paths=n(4000))
    for k, v in r.items():
        add("marginals vs flow law (EM, T=1024)", k, v, "", "p > 0.001")
    r = check_tweedie()
    add("Tweedie", "max rel |score(oracle) - grad log p_t|", r["max_rel_score_error"], "", "float32 (< 1e-4)")
    add("Tweedie", "max |E*[x|mu] - inverse-Tweedie(grad log p_t)|", r["max_abs_posterior_mean_error"], "", "float32 (< 1e-4)")
    r = check_cox_law(seed, num_paths=n(20000))
    for k, v in r.items():
        add("Cox exact (thinning) vs mixed Poisson", k, v, "", "p > 0.001; tv ~ tv_noise; 0 overflow")
    r = check_cox_categorical(seed, num_paths=n(8000))
    for k, v in r.items():
        add("Cox K-variate (Dirichlet, K=4)", k, v, "", "1 class max; p > 0.001")
    r = check_tau_leap_order(seed, num_paths=n(20000))
    add("tau-leaping vs exact law", "order of |E N^2 err| (exact recursion, T=8..128)", r["order"], r["order_ci"], "1")
    add("tau-leaping vs exact law", "order of TV (exact recursion)", r["tv_order"], r["tv_order_ci"], "1")
    add("tau-leaping vs exact law", "local order of |E N^2 err|, T=64 -> 128", float(np.log2(r["errors"][-2] / r["errors"][-1])), "", "1")
    add("tau-leaping vs exact law", "TV at T=8 / T=128", r["tv"][0], f"{r['tv'][-1]:.3g}", "")
    add("tau-leaping vs exact law", "vmapped simulator vs recursion chi2 p (T=8)", r["simulator_vs_recursion_chi2_p"], "", "p > 0.001")
    r = check_samplers_reproduce_target(seed, num_samples=n(2000))
    for k, v in r.items():
        add("samplers reproduce p* (oracle)", k, v, "", "p > 0.001; energy ~ null median")
    return rows


def format_table(rows) -> str:
    head = ("section", "figure", "value", "interval / detail", "expected")
    widths = [max(len(str(r[i])) for r in list(rows) + [head]) for i in range(5)]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(head), line(tuple("-" * w for w in widths))] + [line(r) for r in rows])

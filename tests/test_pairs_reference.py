"""Every conjugate pair against independent references (scipy.stats, quadrature, exact sums, Monte Carlo).

One table (``REFERENCES``) holds, per pair, a small fixed data set of observations with mixed
accuracies and the textbook model written with scipy.stats; every check is parametrised over it:

(a) posterior log density vs prior x likelihood normalised by quadrature (1-D, or per class for the
    Poissonised Dirichlet, whose posterior factorises), or vs scipy's Dirichlet (multinomial);
(b) posterior mean vs the quadrature mean (textbook formula for the Dirichlet);
(c) predictive log pmf/pdf vs scipy's closed form and vs numerical integration of likelihood x posterior;
(d) divergence vs exact sums over the support (discrete) or Monte Carlo (continuous, 4 standard errors);
(e) flow with total accuracy A vs folding in simulated observations over a 5-step split of A
    (mean and variance of mu within 4 standard errors, two-sample KS p > 1e-3, equal weights);
(f) the linear identity E_pred[s(y, alpha)] = w(alpha) mu, and the predictive mean vs scipy.

The normal_gamma and mvn_normal pairs have their own reference file.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from pmm_ppl import get_pair

N_REP = 4000
N_MC = 20_000
F64 = np.float64


# ---------------------------------------------------------------------------------------- 1-D quadrature
class Quad1D:
    """Normalised posterior density of a scalar parameter from its unnormalised log density, by quadrature."""

    COARSE = {
        "real": np.linspace(-60.0, 60.0, 60_001),
        "positive": np.geomspace(1e-9, 1e4, 60_001),
        "unit": np.linspace(1e-12, 1.0 - 1e-12, 60_001),
    }

    def __init__(self, log_unnorm: Callable[[np.ndarray], np.ndarray], support: str):
        self.log_unnorm = log_unnorm
        coarse = self.COARSE[support]
        lp = log_unnorm(coarse)
        keep = np.nonzero(lp > lp.max() - 45.0)[0]
        lo = coarse[max(keep[0] - 1, 0)]
        hi = coarse[min(keep[-1] + 1, coarse.size - 1)]
        self.grid = np.linspace(lo, hi, 20_001)
        lpg = log_unnorm(self.grid)
        self.shift = lpg.max()
        self.log_z = np.log(integrate.simpson(np.exp(lpg - self.shift), x=self.grid)) + self.shift
        self.density = np.exp(lpg - self.log_z)

    def log_post(self, theta):
        return self.log_unnorm(np.asarray(theta, F64)) - self.log_z

    def integrate(self, values):
        return integrate.simpson(values * self.density, x=self.grid)

    @property
    def mean(self):
        return self.integrate(self.grid)

    def points(self, num=60, rel=1e-5):
        """Grid points where the density exceeds ``rel`` times its maximum (where float32 is meaningful)."""
        ok = np.nonzero(self.density > rel * self.density.max())[0]
        return self.grid[np.linspace(ok[0], ok[-1], num).astype(int)]


def lik_sum(log_lik, ys, alphas):
    """theta -> sum_i log p(y_i | theta, alpha_i), vectorised over theta."""
    return lambda th: sum(log_lik(y, th, a) for y, a in zip(ys, alphas))


# ---------------------------------------------------------------------------------------- the table
@dataclasses.dataclass(eq=False)  # hashed by identity: quadratures are cached per reference
class Ref:
    id: str
    pair: Any
    kind: str  # "1d", "dirichlet_poisson", "dirichlet_multinomial"
    ys: np.ndarray
    alphas: np.ndarray
    pred_alpha: float
    pred_ys: np.ndarray
    # KL cases: rows of (x, xhat, alpha)
    kl_cases: list
    flow_x: np.ndarray
    flow_split: tuple
    support: str = ""
    log_prior: Callable | None = None  # 1-D: theta -> log pi(theta) (independent of the pair's code)
    log_lik: Callable | None = None  # (y, theta, alpha) -> log p(y | theta, alpha)
    textbook_predictive: Callable | None = None  # (ys, alphas, alpha) -> frozen scipy distribution
    kl_reference: Callable | None = None  # (x, xhat, alpha, rng) -> (value, standard error)
    discrete: bool = True

    def __str__(self):
        return self.id


def kl_exact(logpmf_x, logpmf_xhat, support):
    lp, lq = logpmf_x(support), logpmf_xhat(support)
    p = np.exp(lp)
    assert 1.0 - p.sum() < 1e-12, "support truncated too early"
    pos = p > 0
    return float(np.sum(p[pos] * (lp[pos] - lq[pos]))), 0.0


def kl_mc(sample_x, logpdf_x, logpdf_xhat, rng):
    y = sample_x(rng, N_MC)
    d = logpdf_x(y) - logpdf_xhat(y)
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(N_MC))


MIXED = np.array([0.5, 2.0, 1.0, 3.5, 0.25, 1.5])  # real accuracies
MIXED_INT = np.array([1, 3, 2, 5, 1, 4])  # integer accuracies (trials / draws)


def _normal_normal():
    mu0, rho0 = 0.3, 2.0

    def predictive(ys, alphas, a):
        rho = rho0 + alphas.sum()
        m = (rho0 * mu0 + (alphas * ys).sum()) / rho
        return stats.norm(m, np.sqrt(1.0 / rho + 1.0 / a))

    def kl(x, xh, a, rng):
        s = a**-0.5
        return kl_mc(lambda r, n: r.normal(x, s, n), lambda y: stats.norm.logpdf(y, x, s), lambda y: stats.norm.logpdf(y, xh, s), rng)

    return Ref(
        "normal_normal", get_pair("normal_normal", prior_mean_value=mu0, prior_precision=rho0), "1d",
        ys=np.array([0.9, -0.4, 1.3, 0.7, 2.5, 0.2]), alphas=MIXED, pred_alpha=1.3, pred_ys=np.array([-1.0, 0.5, 2.0]),
        kl_cases=[(0.7, -0.2, 1.7), (-1.0, 2.0, 0.3)], flow_x=np.array(0.7), flow_split=tuple(6.0 * np.array([0.1, 0.15, 0.2, 0.25, 0.3])),
        support="real", log_prior=lambda th: stats.norm.logpdf(th, mu0, rho0**-0.5),
        log_lik=lambda y, th, a: stats.norm.logpdf(y, th, a**-0.5), textbook_predictive=predictive, kl_reference=kl, discrete=False,
    )


def _gamma_poisson():
    a0, b0 = 2.0, 1.5

    def predictive(ys, alphas, a):
        shape, rate = a0 + ys.sum(), b0 + alphas.sum()
        return stats.nbinom(shape, rate / (rate + a))

    def kl(x, xh, a, rng):
        k = np.arange(0, 400)
        return kl_exact(lambda y: stats.poisson.logpmf(y, a * x), lambda y: stats.poisson.logpmf(y, a * xh), k)

    return Ref(
        "gamma_poisson", get_pair("gamma_poisson", prior_shape=a0, prior_rate=b0), "1d",
        ys=np.array([1, 3, 0, 5, 0, 2]), alphas=MIXED, pred_alpha=1.3, pred_ys=np.array([0, 1, 3, 7]),
        kl_cases=[(2.3, 1.1, 1.7), (0.4, 3.0, 2.5)], flow_x=np.array(2.3), flow_split=tuple(4.0 * np.array([0.1, 0.15, 0.2, 0.25, 0.3])),
        support="positive", log_prior=lambda th: stats.gamma.logpdf(th, a0, scale=1.0 / b0),
        log_lik=lambda y, th, a: stats.poisson.logpmf(y, a * th), textbook_predictive=predictive, kl_reference=kl,
    )


def _beta_binomial():
    a0, b0 = 2.0, 3.0

    def predictive(ys, alphas, n):
        return stats.betabinom(int(n), a0 + ys.sum(), b0 + (alphas - ys).sum())

    def kl(x, xh, n, rng):
        k = np.arange(0, int(n) + 1)
        return kl_exact(lambda y: stats.binom.logpmf(y, n, x), lambda y: stats.binom.logpmf(y, n, xh), k)

    return Ref(
        "beta_binomial", get_pair("beta_binomial", prior_concentration1=a0, prior_concentration0=b0), "1d",
        ys=np.array([1, 2, 0, 3, 1, 2]), alphas=MIXED_INT, pred_alpha=5, pred_ys=np.arange(6),
        kl_cases=[(0.35, 0.6, 4), (0.0, 0.2, 3), (0.9, 0.5, 1)], flow_x=np.array(0.35), flow_split=(1, 2, 2, 3, 4),
        support="unit", log_prior=lambda th: stats.beta.logpdf(th, a0, b0),
        log_lik=lambda y, th, n: stats.binom.logpmf(y, n, th), textbook_predictive=predictive, kl_reference=kl,
    )


def _gamma_shape_k(name, k, a0, b0, **hyper):
    """Gamma likelihood with shape k per unit accuracy; prior Gamma(a0, b0) on the RATE lambda = k/x."""

    def log_prior(x):  # change of variables lambda = k/x, |d lambda/dx| = k/x^2
        return stats.gamma.logpdf(k / x, a0, scale=1.0 / b0) + np.log(k) - 2.0 * np.log(x)

    def predictive(ys, alphas, a):
        shape, rate = a0 + k * alphas.sum(), b0 + ys.sum()  # textbook posterior of the rate
        return stats.betaprime(k * a, shape, scale=rate)

    def kl(x, xh, a, rng):
        return kl_mc(
            lambda r, n: r.gamma(k * a, x / k, n),
            lambda y: stats.gamma.logpdf(y, k * a, scale=x / k),
            lambda y: stats.gamma.logpdf(y, k * a, scale=xh / k),
            rng,
        )

    return Ref(
        name, get_pair(name, prior_shape=a0, prior_rate=b0, **hyper), "1d",
        ys=np.array([0.4, 2.1, 0.7, 3.0, 0.05, 1.2]), alphas=MIXED, pred_alpha=1.3, pred_ys=np.array([0.1, 1.0, 4.0]),
        kl_cases=[(1.7, 0.9, 1.3), (0.5, 2.0, 0.4)], flow_x=np.array(1.7), flow_split=tuple(3.0 * np.array([0.1, 0.15, 0.2, 0.25, 0.3])),
        support="positive", log_prior=log_prior,
        log_lik=lambda y, x, a: stats.gamma.logpdf(y, k * a, scale=x / k), textbook_predictive=predictive, kl_reference=kl,
        discrete=False,
    )


DIR_A0 = (0.5, 1.0, 1.5)
DIR_COUNTS = np.array([[0, 1, 0], [1, 2, 0], [0, 0, 1], [2, 1, 1], [0, 0, 0], [0, 1, 2]])


def _dirichlet_categorical(noise, x_flow):
    def kl(x, xh, a, rng):  # independent Poissons: the KL is the sum of per-class KLs
        l = (1 - noise) * np.asarray(x, F64) + noise / 3
        lh = (1 - noise) * np.asarray(xh, F64) + noise / 3
        k = np.arange(0, 200)
        return sum(kl_exact(lambda y: stats.poisson.logpmf(y, a * p), lambda y: stats.poisson.logpmf(y, a * q), k)[0] for p, q in zip(l, lh)), 0.0

    return Ref(
        f"dirichlet_categorical_eps{noise}", get_pair("dirichlet_categorical", num_classes=3, prior_concentration=DIR_A0, noise=noise),
        "dirichlet_poisson", ys=DIR_COUNTS, alphas=MIXED, pred_alpha=1.3, pred_ys=np.array([[0, 0, 0], [1, 0, 2], [0, 3, 1]]),
        kl_cases=[((1.0, 0.0, 0.0), (0.7, 0.2, 0.1), 2.0), ((0.0, 0.0, 1.0), (0.3, 0.3, 0.4), 0.7), ((0.2, 0.5, 0.3), (0.2, 0.5, 0.3), 1.0)],
        flow_x=np.array(x_flow, F64), flow_split=tuple(3.0 * np.array([0.1, 0.15, 0.2, 0.25, 0.3])), kl_reference=kl,
    )


def _dirichlet_multinomial():
    def kl(x, xh, n, rng):
        comps = np.array([c for c in itertools.product(range(int(n) + 1), repeat=3) if sum(c) == n])
        return kl_exact(lambda y: stats.multinomial.logpmf(y, n, x), lambda y: stats.multinomial.logpmf(y, n, xh), comps)

    return Ref(
        "dirichlet_multinomial", get_pair("dirichlet_multinomial", num_classes=3, prior_concentration=DIR_A0), "dirichlet_multinomial",
        ys=np.array([[0, 1, 0], [1, 2, 0], [0, 1, 1], [2, 1, 2], [0, 0, 1], [1, 1, 2]]), alphas=MIXED_INT, pred_alpha=4,
        pred_ys=np.array([[4, 0, 0], [1, 2, 1], [0, 1, 3]]),
        kl_cases=[((0.2, 0.5, 0.3), (0.4, 0.4, 0.2), 5), ((1.0, 0.0, 0.0), (0.5, 0.25, 0.25), 3)],
        flow_x=np.array([0.2, 0.5, 0.3]), flow_split=(1, 2, 2, 3, 4), kl_reference=kl,
    )


REFERENCES = [
    _normal_normal(),
    _gamma_poisson(),
    _beta_binomial(),
    _gamma_shape_k("gamma_exponential", 1.0, 3.0, 2.0),
    _gamma_shape_k("gamma_gamma", 2.5, 3.0, 2.0, shape=2.5),
    _dirichlet_categorical(0.0, (0.0, 1.0, 0.0)),
    _dirichlet_categorical(0.2, (0.0, 0.0, 1.0)),
    _dirichlet_multinomial(),
]
ONE_D = [r for r in REFERENCES if r.kind == "1d"]
by_ref = pytest.mark.parametrize("ref", REFERENCES, ids=str)
by_ref_1d = pytest.mark.parametrize("ref", ONE_D, ids=str)


def test_table_covers_every_registered_pair():
    from pmm_ppl import list_pairs
    from pmm_ppl.conjugate.expfamily import ExpFamilyPair
    from pmm_ppl.conjugate.registry import pair_class

    covered = {type(r.pair).name for r in REFERENCES}
    elsewhere = {"normal_gamma", "mvn_normal"}  # tests/test_pairs_reference_* of the other pairs
    elsewhere |= {n for n in list_pairs() if isinstance(get_pair(n), ExpFamilyPair)}  # tests/test_expfamily.py
    library = {n for n in list_pairs() if pair_class(n).__module__.startswith("pmm_ppl.")}  # not pairs tests define
    assert library - elsewhere <= covered


# ---------------------------------------------------------------------------------------- helpers
#: a cheap XLA backend: each test program is small and runs once, so compile time dominates
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


@functools.cache
def quad_posterior(ref):
    return Quad1D(lambda th: ref.log_prior(th) + lik_sum(ref.log_lik, ref.ys, ref.alphas)(th), ref.support)


@functools.cache
def class_quads(ref):
    """Poissonised Dirichlet: theta_k ~ Gamma(a0_k, c0) independently and c_k ~ Poisson(alpha theta_k):
    the posterior factorises over classes, each a 1-D problem (quadrature, scipy densities only)."""
    c0 = sum(DIR_A0)
    return [
        Quad1D(
            (lambda k: lambda th: stats.gamma.logpdf(th, DIR_A0[k], scale=1.0 / c0)
             + lik_sum(lambda y, t, a: stats.poisson.logpmf(y, a * t), ref.ys[:, k], ref.alphas)(th))(k),
            "positive",
        )
        for k in range(3)
    ]


def textbook_dirichlet(ref):
    """Textbook Dirichlet update of the concentrations: a0 + summed counts."""
    return np.asarray(DIR_A0) + ref.ys.sum(0)


@functools.cache
def reference_points(ref):
    """Where posterior densities are compared, and their reference log densities (numpy float64)."""
    if ref.kind == "1d":
        q = quad_posterior(ref)
        pts = q.points()
        return pts, q.log_post(pts)
    if ref.kind == "dirichlet_poisson":
        qs = class_quads(ref)
        means = np.array([q.mean for q in qs])
        blocks = []
        for k, q in enumerate(qs):  # vary class k along its grid, hold the others at their means
            b = np.tile(means, (60, 1))
            b[:, k] = q.points()
            blocks.append(b)
        pts = np.concatenate(blocks)
        return pts, sum(qj.log_post(pts[:, j]) for j, qj in enumerate(qs))
    conc = textbook_dirichlet(ref)
    pts = stats.dirichlet(conc).rvs(50, random_state=np.random.default_rng(0))
    return pts, stats.dirichlet(conc).logpdf(pts.T)


@functools.cache
def pair_outputs(ref):
    """Everything the pair computes for checks (a)-(d) and (f), in one jitted call per reference."""
    pair = ref.pair
    pts, _ = reference_points(ref)
    dir_pts = stats.dirichlet(textbook_dirichlet(ref)).rvs(50, random_state=np.random.default_rng(0)) if ref.kind != "1d" else np.zeros(1)
    kl_x, kl_xhat, kl_a = (np.array([c[i] for c in ref.kl_cases], np.float32) for i in range(3))
    a_pred = jnp.float32(ref.pred_alpha)

    def compute(ys, alphas, pts, dir_pts, pred_ys, kl_x, kl_xhat, kl_a):
        state = pair.update_many(pair.init(), ys, alphas)
        seq = jax.lax.scan(lambda st, ya: (pair.update(st, ya[0], ya[1]), None), pair.init(), (ys, alphas))[0]
        post, pred = pair.posterior(state), pair.predictive(state, a_pred)
        out = {
            "state": state, "seq": seq, "mean": pair.mean(state), "post_mean": post.mean, "post_lp": post.log_prob(pts),
            "pred_lp": pred.log_prob(pred_ys), "pred_mean": pred.mean,
            "pred_stat": pair.statistic(pred.mean, a_pred), "w_mu": pair.weight(a_pred) * pair.mean(state),
            "kl": pair.divergence(kl_x, kl_xhat, kl_a),
        }
        if ref.kind == "dirichlet_poisson":
            out["dir_lp"] = pair.direction_posterior(state).log_prob(dir_pts)
        return out

    args = (ref.ys, ref.alphas, pts, dir_pts, ref.pred_ys, kl_x, kl_xhat, kl_a)
    out = jax.jit(compute, compiler_options=FAST_COMPILE)(*(jnp.asarray(v, jnp.float32) for v in args))
    out = jax.tree.map(lambda v: np.asarray(v, F64), out)
    out["dir_pts"] = dir_pts
    return out


# ---------------------------------------------------------------------------------------- (a) posterior
@by_ref
def test_posterior_density(ref):
    out = pair_outputs(ref)
    # the closed-form batch update equals the one-by-one online update
    np.testing.assert_allclose(out["seq"].weight, out["state"].weight, rtol=1e-5)
    np.testing.assert_allclose(out["seq"].mean, out["state"].mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["state"].weight, ref.pair.prior_weight + ref.alphas.sum(), rtol=1e-6)
    _, ref_lp = reference_points(ref)
    if ref.kind == "dirichlet_multinomial":  # scipy's Dirichlet at posterior draws
        np.testing.assert_allclose(out["post_lp"], ref_lp, atol=2e-3, rtol=1e-3)
    else:  # quadrature-normalised prior x likelihood (per class for the Poissonised Dirichlet)
        np.testing.assert_allclose(out["post_lp"], ref_lp, atol=1e-3 * max(1.0, np.abs(ref_lp).max()), rtol=0)
    if ref.kind == "dirichlet_poisson":  # the normalised direction has the textbook Dirichlet posterior
        conc = textbook_dirichlet(ref)
        np.testing.assert_allclose(out["dir_lp"], stats.dirichlet(conc).logpdf(out["dir_pts"].T), atol=2e-3, rtol=1e-3)


# ---------------------------------------------------------------------------------------- (b) posterior mean
@by_ref
def test_posterior_mean(ref):
    out = pair_outputs(ref)
    if ref.kind == "1d":
        expected = quad_posterior(ref).mean
    elif ref.kind == "dirichlet_poisson":
        expected = np.array([q.mean for q in class_quads(ref)])
    else:
        conc = textbook_dirichlet(ref)
        expected = conc / conc.sum()
    np.testing.assert_allclose(out["mean"], expected, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(out["post_mean"], expected, rtol=1e-3, atol=1e-6)


# ---------------------------------------------------------------------------------------- (c) predictive
@by_ref
def test_predictive(ref):
    got = pair_outputs(ref)["pred_lp"]
    a = ref.pred_alpha
    if ref.kind == "1d":
        closed = ref.textbook_predictive(ref.ys, ref.alphas, a)
        closed_lp = closed.logpmf(ref.pred_ys) if ref.discrete else closed.logpdf(ref.pred_ys)
        q = quad_posterior(ref)
        integrated = np.log([q.integrate(np.exp(ref.log_lik(y, q.grid, a))) for y in ref.pred_ys])
        np.testing.assert_allclose(got, closed_lp, atol=1e-3, rtol=1e-4)
        np.testing.assert_allclose(closed_lp, integrated, atol=1e-3, rtol=0)
    elif ref.kind == "dirichlet_poisson":
        conc, rate = textbook_dirichlet(ref), sum(DIR_A0) + ref.alphas.sum()
        closed_lp = stats.nbinom.logpmf(ref.pred_ys, conc, rate / (rate + a)).sum(-1)
        qs = class_quads(ref)
        integrated = np.array(
            [sum(np.log(qk.integrate(stats.poisson.pmf(y[k], a * qk.grid))) for k, qk in enumerate(qs)) for y in ref.pred_ys]
        )
        np.testing.assert_allclose(got, closed_lp, atol=1e-3, rtol=1e-4)
        np.testing.assert_allclose(closed_lp, integrated, atol=1e-3, rtol=0)
    else:
        conc = textbook_dirichlet(ref)
        closed_lp = stats.dirichlet_multinomial.logpmf(ref.pred_ys, conc, a)
        np.testing.assert_allclose(got, closed_lp, atol=1e-3, rtol=1e-4)
        # Monte Carlo integration of the multinomial pmf over scipy Dirichlet posterior draws
        th = stats.dirichlet(conc).rvs(N_MC, random_state=np.random.default_rng(1))
        for y, lp in zip(ref.pred_ys, got):
            pmf = stats.multinomial.pmf(y, a, th)
            se = pmf.std(ddof=1) / np.sqrt(N_MC)
            assert abs(pmf.mean() - np.exp(lp)) <= 4 * se, (y, pmf.mean(), np.exp(lp), se)


# ---------------------------------------------------------------------------------------- (d) divergence
@by_ref
def test_divergence(ref):
    rng = np.random.default_rng(2)
    for (x, xh, a), got in zip(ref.kl_cases, pair_outputs(ref)["kl"]):
        expected, se = ref.kl_reference(np.asarray(x, F64), np.asarray(xh, F64), a, rng)
        assert abs(got - expected) <= 4 * se + 1e-4 * (1 + abs(expected)), (x, xh, a, got, expected, se)


# ---------------------------------------------------------------------------------------- (e) flow
def simulate_flow_and_chain(pair, x, split, seed):
    """``N_REP`` draws of the flow state at A = sum(split), and of the state after folding in
    simulated observations with accuracies ``split``; one jitted, vmapped call."""
    total = float(sum(split))

    def one(key):
        k_flow, k_chain = jax.random.split(key)
        flow = pair.flow(k_flow, x, jnp.float32(total))

        def step(state, inp):
            k, a = inp
            return pair.update(state, pair.sample_observation(k, x, a), a), None

        steps = (jax.random.split(k_chain, len(split)), jnp.asarray(split, jnp.float32))
        state = jax.lax.scan(step, pair.init(pair.batch_shape_of(x)), steps)[0]
        return flow, state

    keys = jax.random.split(jax.random.PRNGKey(seed), N_REP)
    return jax.jit(jax.vmap(one), compiler_options=FAST_COMPILE)(keys)


def _moments_close(a, b):
    """Mean and variance of two independent samples agree within 4 standard errors (per component)."""
    n = a.shape[0]
    for s in (a, b):
        assert np.all(np.isfinite(s))
    se_mean = np.sqrt(a.var(0, ddof=1) / n + b.var(0, ddof=1) / n)
    assert np.all(np.abs(a.mean(0) - b.mean(0)) <= 4 * se_mean + 1e-7), (a.mean(0), b.mean(0), se_mean)

    def var_se2(s):
        c = s - s.mean(0)
        return ((c**4).mean(0) - c.var(0) ** 2) / n

    se_var = np.sqrt(var_se2(a) + var_se2(b))
    assert np.all(np.abs(a.var(0, ddof=1) - b.var(0, ddof=1)) <= 4 * se_var + 1e-7), (a.var(0), b.var(0), se_var)


@by_ref
def test_flow_matches_sequential_updates(ref):
    pair = ref.pair
    flow, chain = simulate_flow_and_chain(pair, jnp.asarray(ref.flow_x, jnp.float32), ref.flow_split, seed=3)
    np.testing.assert_allclose(flow.weight, chain.weight, rtol=1e-5)
    mu_f = np.asarray(flow.mean, F64).reshape(N_REP, -1)
    mu_c = np.asarray(chain.mean, F64).reshape(N_REP, -1)
    _moments_close(mu_f, mu_c)
    # the laws themselves: KS per component (1-D pairs: the whole law)
    for j in range(mu_f.shape[1]):
        a, b = mu_f[:, j], mu_c[:, j]
        if ref.discrete:  # same lattice of values reached by different float32 roundings: make ties exact
            a, b = np.round(a, 4), np.round(b, 4)
        p = stats.ks_2samp(a, b, method="asymp").pvalue
        assert p > 1e-3, (j, p)
    # and the flow's mean is the closed form E[mu_A] = (c0 mu0 + A link(x)) / (c0 + A)
    total = float(sum(ref.flow_split))
    c0 = pair.prior_weight
    link = np.asarray(pair.link(jnp.asarray(ref.flow_x, jnp.float32)), F64).reshape(-1)
    expect = (c0 * np.asarray(pair.prior_mean, F64).reshape(-1) + total * link) / (c0 + total)
    se = mu_f.std(0, ddof=1) / np.sqrt(N_REP)
    assert np.all(np.abs(mu_f.mean(0) - expect) <= 4 * se + 1e-5 * np.abs(expect)), (mu_f.mean(0), expect, se)


def test_one_hot_token_fast_path_has_the_general_law():
    """The noiseless token pair draws one Poisson per one-hot position (``_poisson_counts``) instead of
    K; it must have the law of the class-by-class draw.  One-hot x: cold classes exactly 0, the hot
    class's pmf on 0..15 within 4 binomial standard errors of the Poisson pmf (scipy) and of the general
    sampler's frequencies (the flow; observations share ``_poisson_counts``).  Soft labels and noise > 0:
    bit-identical to the general sampler (same key).  One compiled program."""
    pair = get_pair("dirichlet_categorical", num_classes=3)
    noisy = get_pair("dirichlet_categorical", num_classes=3, noise=0.2)
    n, rate = 20_000, 3.5
    x = jax.nn.one_hot(jnp.arange(n) % 3, 3)
    soft = jnp.array([[0.2, 0.5, 0.3], [0.0, 1.0, 0.0]])

    def draws(key):
        k = jax.random.split(key, 3)
        rates, a = jnp.full((n,), rate), jnp.array([2.0, 5.0])
        return (pair.sample_statistic(k[0], x, rates), pair.statistic_law(x, rates).sample(k[1]),
                pair.sample_statistic(k[0], soft, a), pair.statistic_law(soft, a).sample(k[0]),
                noisy.sample_statistic(k[0], x[:4], rates[:4]), noisy.statistic_law(x[:4], rates[:4]).sample(k[0]))

    c_fast, c_gen, soft_fast, soft_gen, noisy_fast, noisy_gen = map(
        np.asarray, jax.jit(draws, compiler_options=FAST_COMPILE)(jax.random.PRNGKey(11)))
    hot = np.asarray(x, bool)
    for c in (c_fast, c_gen):
        assert np.all(c[~hot] == 0)
    levels = np.arange(16)
    pmf = stats.poisson.pmf(levels, rate)
    se = np.sqrt(pmf * (1 - pmf) / n)
    freq_fast, freq_gen = ((c[hot][:, None] == levels).mean(0) for c in (c_fast, c_gen))
    assert np.all(np.abs(freq_fast - pmf) <= 4 * se + 1e-4), (freq_fast, pmf)
    assert np.all(np.abs(freq_fast - freq_gen) <= 4 * np.sqrt(2) * se + 1e-4), (freq_fast, freq_gen)
    np.testing.assert_array_equal(soft_fast, soft_gen)
    np.testing.assert_array_equal(noisy_fast, noisy_gen)


# ---------------------------------------------------------------------------------------- (f) linear identity
@by_ref
def test_predictive_mean_is_linear_in_the_posterior_mean(ref):
    out = pair_outputs(ref)
    # E_pred[s(y, alpha)] = w(alpha) mu  (s is linear in y for every pair here)
    np.testing.assert_allclose(out["pred_stat"], out["w_mu"], rtol=1e-5)
    # the predictive's mean equals the mean of the independent scipy predictive
    if ref.kind == "1d":
        expected = ref.textbook_predictive(ref.ys, ref.alphas, ref.pred_alpha).mean()
    else:
        conc = textbook_dirichlet(ref)
        if ref.kind == "dirichlet_poisson":
            rate = sum(DIR_A0) + ref.alphas.sum()
            expected = stats.nbinom.mean(conc, rate / (rate + ref.pred_alpha))
        else:
            expected = ref.pred_alpha * conc / conc.sum()
    np.testing.assert_allclose(out["pred_mean"], expected, rtol=1e-5)


# ---------------------------------------------------------------------------------------- (g) NumPyro model
@by_ref
def test_numpyro_model_is_the_same_bayesian_model(ref):
    """``pair.model`` (one vectorised site ``y``) and ``pair.posterior`` describe one Bayesian model:
    log joint(theta, ys) - log posterior(theta | ys) is the log evidence, the same for every theta."""
    from numpyro.infer.util import log_density

    pair = ref.pair
    pts, _ = reference_points(ref)
    thetas = jnp.asarray(pts[:: max(1, len(pts) // 5)][:5], jnp.float32)
    ys, alphas = jnp.asarray(ref.ys, jnp.float32), jnp.asarray(ref.alphas, jnp.float32)

    def log_evidence(theta):
        joint = log_density(pair.model, (ys, alphas), {}, {"theta": theta})[0]
        state = pair.update_many(pair.init(), ys, alphas)
        return joint - pair.posterior(state).log_prob(theta)

    ev = np.asarray(jax.jit(jax.vmap(log_evidence), compiler_options=FAST_COMPILE)(thetas), F64)
    np.testing.assert_allclose(ev, ev[0], atol=2e-3 * max(1.0, abs(ev[0])))


# ---------------------------------------------------------------------------------------- input errors
def test_bad_inputs_name_the_argument():
    from pmm_ppl import PMMInputError
    from pmm_ppl.conjugate.dirichlet_categorical import encode_tokens

    np.testing.assert_array_equal(encode_tokens(np.array([2, 0]), 3), np.eye(3)[[2, 0]])
    bad = [
        (lambda: encode_tokens(np.array([0, 3]), 3), "indices"),
        (lambda: encode_tokens(np.array([0.0, np.nan]), 3), "indices"),
        (lambda: encode_tokens(np.array([0.5]), 3), "indices"),
        (lambda: get_pair("dirichlet_categorical", num_classes=3, noise=1.0), "noise"),
        (lambda: get_pair("dirichlet_categorical", num_classes=3, prior_concentration=(1.0, 2.0)), "prior_concentration"),
        (lambda: get_pair("dirichlet_multinomial", num_classes=1), "num_classes"),
        (lambda: get_pair("gamma_exponential", prior_shape=1.0), "prior_shape"),
        (lambda: get_pair("gamma_gamma", shape=-1.0), "shape"),
        (lambda: get_pair("beta_binomial", prior_concentration0=0.0), "prior_concentration0"),
    ]
    dc = get_pair("dirichlet_categorical", num_classes=3)
    dm = get_pair("dirichlet_multinomial", num_classes=3)
    bb, ge = get_pair("beta_binomial"), get_pair("gamma_exponential")
    bad += [
        (lambda: dc.validate_data(np.array([0.5, -0.1, 0.0])), "x"),  # negative intensity
        (lambda: dm.validate_data(np.array([0.5, 0.6, 0.0])), "x"),  # not on the simplex
        (lambda: dm.update(dm.init(), np.array([1.0, 2.0, 0.0]), 2.0), "y"),  # counts do not sum to n
        (lambda: bb.update_many(bb.init(), np.array([3.0, 1.0]), np.array([2.0, 2.0])), "ys"),  # y > n
        (lambda: dm.flow(jax.random.PRNGKey(0), np.array([0.2, 0.3, 0.5]), 2.5), "total_accuracy"),
        (lambda: dc.validate_data(np.array([1.0, 0.0])), "x"),  # wrong event shape
        (lambda: dc.validate_observation(np.array([1.0, -1.0, 0.0])), "y"),
        (lambda: dm.validate_observation(np.array([1.5, 0.0, 0.0])), "y"),
        (lambda: dm.predictive(dm.init(), 2.5), "alpha"),  # integer accuracy
        (lambda: bb.validate_data(np.array([1.2])), "x"),
        (lambda: bb.validate_observation(np.array([0.5])), "y"),
        (lambda: ge.validate_data(np.array([0.0])), "x"),
        (lambda: ge.validate_observation(np.array([np.nan])), "y"),
        (lambda: ge.flow(jax.random.PRNGKey(0), np.array([-1.0]), 1.0), "x"),
    ]
    for call, name in bad:
        with pytest.raises(PMMInputError, match=rf"^{name}:"):
            call()

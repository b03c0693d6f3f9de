"""Objectives: the three weightings share the minimiser E*[x | mu_t], and with the exact oracle
the expected losses equal their closed forms / quadratures (unbiasedness).

Targets with closed-form oracles (independent of pmm_ppl.process.oracles):
* Normal-Normal, p* = N(m, s^2):  mu_A | x ~ N(g x + (1-g) mu0, g(1-g)/rho0), g = A/(rho0+A), so
  E[x | mu] = m + k (mu - g m - (1-g) mu0), k = g s^2 / (g^2 s^2 + g(1-g)/rho0), and
  Var(x | mu_A) = s^2 / (1 + A s^2).
* Gamma-Poisson, p* = Gamma(a, b):  N | x ~ Poisson(A x), x | N ~ Gamma(a + N, b + A), so with
  N = mu (b0 + A) - a0:  E[x | mu] = (a + N) / (b + A).

For every registered pair and every weighting, the minimiser of the expected loss over a finite
posterior q(x | mu) is its mean (test_every_weighting_is_minimised_by_the_posterior_mean); end to end,
fits of the continuous-time loss over drawn states recover the closed-form E*[x | mu] for the two targets
above; in discrete time, the oracle's expected loss is the step sum (so the states fed are the right ones).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.special
import scipy.stats
from numpyro.distributions.transforms import biject_to

import pmm_ppl
from pmm_ppl import LinearPair, PMMInputError, get_pair
from pmm_ppl.process.objectives import WEIGHTINGS, draw_times, pmm_loss
from pmm_ppl.process.schedules import GeometricSchedule, PowerSchedule

NN = get_pair("normal_normal", prior_mean_value=0.0, prior_precision=1.0)
GP = get_pair("gamma_poisson", prior_shape=1.0, prior_rate=1.0)
M, S = 0.5, 0.8  # Gaussian target
GA, GB = 3.0, 2.0  # Gamma target (shape, rate)


def normal_oracle(schedule, A=None):
    def f(mu, t):
        acc = schedule.A(t) if A is None else A
        rho0, mu0 = NN.prior_precision, NN.prior_mean_value
        g = acc / (rho0 + acc)
        k = g * S**2 / (g**2 * S**2 + g * (1 - g) / rho0 + 1e-30)
        return M + k * (mu - g * M - (1 - g) * mu0)

    return f


def gamma_oracle(schedule):
    def f(mu, t):
        acc = schedule.A(t)
        n = mu * (GP.prior_rate + acc) - GP.prior_shape
        return (GA + n) / (GB + acc)

    return f


def draw_x(pair, key, n):
    if pair is NN:
        return M + S * jax.random.normal(key, (n,))
    return jax.random.gamma(key, GA, (n,)) / GB


# ------------------------------------------------------------------ same minimiser
def newton_fit(per_example, theta0, steps):
    """Minimise the mean of a smooth convex per-example loss of a few parameters by Newton's
    method (exact in one step for a quadratic), in one jitted call.  Returns the minimiser and
    its sandwich (M-estimator) standard errors sqrt(diag(H^-1 Cov(grad_i) H^-1 / n))."""
    loss = lambda th: per_example(th).mean()

    @jax.jit
    def run(theta):
        ridge = 1e-7 * jnp.eye(theta.size)
        newton = lambda _, th: th - jnp.linalg.solve(jax.hessian(loss)(th) + ridge, jax.grad(loss)(th))
        theta = jax.lax.fori_loop(0, steps, newton, theta)
        return theta, jax.hessian(loss)(theta) + ridge, jax.jacfwd(per_example)(theta)

    theta, hess, grads = (np.asarray(v, np.float64) for v in run(theta0))
    h_inv = np.linalg.inv(hess)
    cov = h_inv @ np.cov(grads.T) @ h_inv / grads.shape[0]
    return theta, np.sqrt(np.diag(cov))


def continuous_family(pair, schedule):
    """Three-parameter family containing the oracle at theta = (1, 1, 0)."""
    if pair is NN:

        def make(theta):
            def f(mu, t):
                acc = schedule.A(t)
                g = acc / (1.0 + acc)
                k = g * S**2 / (g**2 * S**2 + g * (1 - g) + 1e-30)
                return theta[0] * k * (mu - g * M) + theta[1] * M + theta[2] * t

            return f

    else:

        def make(theta):
            def f(mu, t):
                acc = schedule.A(t)
                return (theta[0] * (mu * (1.0 + acc) - 1.0) + theta[1] * GA) / (GB + acc) + theta[2] * t

            return f

    return make


@pytest.mark.parametrize("pair", [NN, GP], ids=["normal", "gamma_poisson"])
def test_weightings_share_the_minimiser_continuous(pair):
    """theta = (1, 1, 0) recovers the oracle; every weighting's fit is within 4 standard errors of
    it (sandwich estimate, each < 0.05)."""
    schedule = GeometricSchedule(a_max=40.0) if pair is NN else PowerSchedule(a_max=20.0)
    x = draw_x(pair, jax.random.PRNGKey(3), 20000)
    key = jax.random.PRNGKey(4)
    make = continuous_family(pair, schedule)
    start = jnp.array([1.2, 0.8, 0.1])
    for weighting in ("plain", "pmm", "elbo"):
        per_example = lambda th, w=weighting: pmm_loss(pair, schedule, make(th), key, x, weighting=w).per_example
        steps = 1 if (pair is NN or weighting != "elbo") else 4
        theta, se = newton_fit(per_example, start, steps)
        err = np.abs(theta - [1.0, 1.0, 0.0])
        assert np.all(se < 0.05), (weighting, se)
        assert np.all(err < 4 * se + 1e-3), (weighting, theta, se)


# ------------------------------------------------------------------ the minimiser, for every pair
MIN_WEIGHTS = np.array([0.2, 0.3, 0.5])  # q(x_j | mu) over three atoms


@pytest.mark.parametrize("name", pmm_ppl.list_pairs())
def test_every_weighting_is_minimised_by_the_posterior_mean(name):
    """For a fixed state (one time t, or the one step of a one-step grid) and a posterior q(x | mu) on three
    prior draws x_j, the expected loss sum_j q_j loss(x_j, f) of every weighting (and of 'elbo' in discrete time)
    is minimised by f = sum_j q_j x_j: in unconstrained coordinates u of the data support (numpyro's
    biject_to), the Newton step from the mean moves f by < 1e-3 of the atoms' spread and the Hessian is
    positive definite.  (The 'elbo' KL must be a Bregman divergence in x; normal_gamma in (m, tau) failed.)"""
    pair = get_pair(name)
    schedule = pmm_ppl.Process.for_pair(pair).schedule
    fast = {"xla_backend_optimization_level": 0}  # small programs: compiling dominates
    atoms = np.asarray(jax.jit(pair.sample_data, static_argnums=1, compiler_options=fast)(jax.random.key(3), (3,)), np.float32)
    target = np.tensordot(MIN_WEIGHTS, atoms, 1).astype(np.float32)
    spread = float(np.sqrt(np.tensordot(MIN_WEIGHTS, (atoms - target) ** 2, 1).sum()))
    to_support = biject_to(pair.prior().support)
    key = jax.random.key(4)  # the same key for every atom: the same t (batch of one)
    # every weighting in continuous time, and "elbo" (whose divergence reads the step's accuracy) on a one-step grid
    # ("none" has no regression term: the log score's minimiser is tests/test_distributional.py's)
    combos = [(w, None) for w in WEIGHTINGS if w != "none" and (w != "pmm" or isinstance(pair, LinearPair))]
    combos += [("elbo", 1)]
    if not isinstance(pair, LinearPair):
        with pytest.raises(PMMInputError, match="weighting"):
            pmm_loss(pair, schedule, lambda mu, t: mu, key, atoms[:1], weighting="pmm")

    u_shape = jax.eval_shape(to_support.inv, jnp.asarray(target)).shape  # (K - 1,) on a simplex

    def expected_loss(u, weighting, num_steps):
        f = to_support(u.reshape(u_shape))[None]
        per_atom = jax.vmap(lambda xj: pmm_loss(pair, schedule, lambda mu, t: f, key, xj[None], weighting=weighting,
                                                num_steps=num_steps).mean)(jnp.asarray(atoms))
        return jnp.dot(jnp.asarray(MIN_WEIGHTS, per_atom.dtype), per_atom)

    @functools.partial(jax.jit, compiler_options=fast)
    def newton_from_the_mean():
        """Per combination: the smallest Hessian eigenvalue and the Newton step's end point, in data space."""
        u = to_support.inv(jnp.asarray(target)).reshape(-1)
        out = []
        for w, T in combos:
            grad = lambda v, w=w, T=T: jax.grad(expected_loss)(v, w, T)  # noqa: E731
            hess, g = jax.jacfwd(lambda v: (grad(v), grad(v)), has_aux=True)(u)
            out.append((jnp.linalg.eigvalsh(hess)[0], to_support((u - jnp.linalg.solve(hess, g)).reshape(u_shape))))
        return out

    for (weighting, num_steps), (min_eig, newton) in zip(combos, newton_from_the_mean(), strict=True):
        assert float(min_eig) > 0, (name, weighting, num_steps, float(min_eig))
        moved = float(np.sqrt(np.sum((np.asarray(newton, np.float64) - target) ** 2)))
        assert moved < 1e-3 * spread, f"{name} {weighting} T={num_steps}: the minimiser is {newton}, not the mean {target}"


# ------------------------------------------------------------------ unbiasedness with the oracle
def mc_mean(out):
    pe = np.asarray(out.per_example, np.float64)
    return pe.mean(), pe.std() / np.sqrt(pe.size)


N_MC = 200_000


def test_normal_elbo_with_oracle_equals_quadrature_and_imMSE():
    """E[elbo loss] = int_0^1 A'(t) Var(x|mu_t)/2 dt = log(1 + A_max s^2)/2 (I-MMSE); within 4 SE."""
    schedule = GeometricSchedule(a_max=100.0)
    integrand = lambda t: float(schedule.dA(t)) * 0.5 * S**2 / (1 + float(schedule.A(t)) * S**2)
    quad = scipy.integrate.quad(integrand, 0, 1)[0]
    np.testing.assert_allclose(quad, 0.5 * np.log1p(100.0 * S**2), rtol=1e-4)
    x = draw_x(NN, jax.random.PRNGKey(5), N_MC)
    out = pmm_loss(NN, schedule, normal_oracle(schedule), jax.random.PRNGKey(6), x, weighting="elbo")
    mean, se = mc_mean(out)
    assert se < 0.02 * quad
    assert abs(mean - quad) < 4 * se, (mean, quad, se)


def test_stratified_times_are_uniform_one_per_stratum_and_cut_the_variance():
    """Stratified times: one in each [k/B, (k+1)/B), each t_i U(0, 1) (KS test over keys); the ELBO batch
    mean with the exact oracle stays unbiased (4 SE of the quadrature) with less variance (0.64 of it here)
    when the loss's level varies with t more than it varies at a given t (64 coordinates per example)."""
    b, reps = 16, 400
    keys = jax.random.split(jax.random.PRNGKey(7), reps)
    t = jax.vmap(lambda k: draw_times(k, b, "stratified"))(keys)
    np.testing.assert_array_equal(np.sort(np.floor(np.asarray(t) * b), axis=1), np.tile(np.arange(b), (reps, 1)))
    assert scipy.stats.kstest(np.asarray(t[:, 3]), "uniform").pvalue > 1e-3
    schedule = GeometricSchedule(a_max=100.0)
    dims = 64
    quad = dims * 0.5 * np.log1p(100.0 * S**2)

    def batch_mean(key, times):  # a fresh batch of data and times
        kx, kl = jax.random.split(key)
        oracle = lambda mu, t: normal_oracle(schedule)(mu, t[:, None])  # one t per example of 64 coordinates
        return pmm_loss(NN, schedule, oracle, kl, draw_x(NN, kx, b * dims).reshape(b, dims), weighting="elbo", times=times).mean

    batch_means = {times: np.asarray(jax.vmap(lambda k: batch_mean(k, times))(keys))
                   for times in ("independent", "stratified")}
    strat = batch_means["stratified"]
    assert abs(strat.mean() - quad) < 4 * strat.std() / np.sqrt(reps), (strat.mean(), quad)
    assert strat.var() < 0.8 * batch_means["independent"].var(), {k: v.var() for k, v in batch_means.items()}


def test_normal_pmm_weight_with_oracle_equals_quadrature():
    """Continuous 'pmm': E = int (A'/C)^2 Var(x|mu_t) dt, C = rho0 + A (power schedule: varying weight)."""
    schedule = PowerSchedule(a_max=30.0, power=2.0)
    integrand = lambda t: (float(schedule.dA(t)) / (1 + float(schedule.A(t)))) ** 2 * S**2 / (1 + float(schedule.A(t)) * S**2)
    quad = scipy.integrate.quad(integrand, 0, 1, limit=200)[0]
    x = draw_x(NN, jax.random.PRNGKey(7), N_MC)
    out = pmm_loss(NN, schedule, normal_oracle(schedule), jax.random.PRNGKey(8), x, weighting="pmm")
    mean, se = mc_mean(out)
    assert se < 0.02 * quad
    assert abs(mean - quad) < 4 * se, (mean, quad, se)


@pytest.mark.parametrize("weighting", ["elbo", "pmm"])
def test_normal_discrete_with_oracle_equals_step_sum(weighting):
    """Discrete: E[T KL_i] = sum_i alpha_i/2 Var(x|mu_{A_{i-1}}); E[T kappa_i^2 err] = sum_i kappa_i^2 Var."""
    T = 6
    schedule = GeometricSchedule(a_max=50.0)
    _, alphas = schedule.discretise(T)
    a = np.asarray(alphas, np.float64)
    cum = np.concatenate([[0.0], np.cumsum(a)])[:-1]
    var = S**2 / (1 + cum * S**2)
    if weighting == "elbo":
        ref = np.sum(a / 2 * var)
    else:
        ref = np.sum((a / (1.0 + cum + a)) ** 2 * var)
    x = draw_x(NN, jax.random.PRNGKey(9), N_MC)
    out = pmm_loss(NN, schedule, normal_oracle(schedule), jax.random.PRNGKey(10), x, weighting=weighting, num_steps=T)
    mean, se = mc_mean(out)
    assert se < 0.02 * ref
    assert abs(mean - ref) < 4 * se, (mean, ref, se)


def test_gamma_poisson_elbo_with_oracle_equals_quadrature():
    """E[elbo] = int A'(t) (E[x log x] - E_N[f log f]) dt with f = (a+N)/(b+A), N ~ NegBin(a, b/(b+A))."""
    schedule = PowerSchedule(a_max=20.0)
    e_xlogx = GA / GB * (scipy.special.digamma(GA + 1) - np.log(GB))
    n = np.arange(0, 3000)

    def integrand(t):
        acc = float(schedule.A(t))
        f = (GA + n) / (GB + acc)
        pmf = scipy.stats.nbinom.pmf(n, GA, GB / (GB + acc))
        return float(schedule.dA(t)) * (e_xlogx - np.sum(pmf * f * np.log(f)))

    quad = scipy.integrate.quad(integrand, 0, 1, limit=200)[0]
    x = draw_x(GP, jax.random.PRNGKey(11), N_MC)
    out = pmm_loss(GP, schedule, gamma_oracle(schedule), jax.random.PRNGKey(12), x, weighting="elbo")
    mean, se = mc_mean(out)
    assert se < 0.02 * quad
    assert abs(mean - quad) < 4 * se, (mean, quad, se)


# ------------------------------------------------------------------ mechanics
def test_discrete_loss_uses_the_state_before_the_step():
    """With a denoiser that reports the accuracy it was called at, the flow state has exactly
    the cumulative accuracy A_{i-1} of the grid point t_{i-1} it is given."""
    T = 5
    schedule = PowerSchedule(a_max=10.0, power=2.0)
    x = jnp.zeros((64,))
    seen = {}

    def spy(mu, t):
        seen["t"] = t
        seen["mu"] = mu
        return mu

    pmm_loss(NN, schedule, spy, jax.random.PRNGKey(0), x, weighting="plain", num_steps=T)
    t_grid = np.asarray(schedule.discretise(T)[0])
    assert np.all(np.isin(np.asarray(seen["t"]), t_grid[:-1]))


def test_integer_pairs_get_integer_steps():
    """accuracy_kind == 'integer' discretises with integer=True: the flow sees whole accuracies."""
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class IntegerNormal(type(NN)):
        accuracy_kind = "integer"

    pair = IntegerNormal()
    schedule = PowerSchedule(a_max=3.0)
    seen = {}

    def spy(mu, t):
        seen["t"] = t
        return mu

    pmm_loss(pair, schedule, spy, jax.random.PRNGKey(0), jnp.zeros((200,)), weighting="elbo", num_steps=10)
    acc = np.asarray(schedule.A(seen["t"]))
    np.testing.assert_allclose(acc, np.round(acc), atol=1e-4)


def test_jit_and_grad_and_shapes():
    schedule = GeometricSchedule(a_max=20.0)
    x = jax.random.normal(jax.random.PRNGKey(0), (8, 3, 2))

    def loss(w, key):
        return pmm_loss(NN, schedule, lambda mu, t: w * mu + t[:, None, None], key, x).mean

    val, grad = jax.jit(jax.value_and_grad(loss))(1.0, jax.random.PRNGKey(1))
    assert val.shape == () and np.isfinite(float(val)) and np.isfinite(float(grad))
    out = pmm_loss(NN, schedule, lambda mu, t: mu, jax.random.PRNGKey(1), x, weighting="elbo", num_steps=3)
    assert out.per_example.shape == (8,) and out.t.shape == (8,)
    for w in set(WEIGHTINGS) - {"none"}:  # a perfect denoiser has zero loss under every weighting
        out = pmm_loss(NN, schedule, lambda mu, t: x, jax.random.PRNGKey(1), x, weighting=w)
        assert float(out.mean) == 0.0
    with pytest.raises(PMMInputError, match="'none' leaves only the log score"):  # no log score: no loss
        pmm_loss(NN, schedule, lambda mu, t: x, jax.random.PRNGKey(1), x, weighting="none")


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        (dict(weighting="kl"), "weighting"),
        (dict(num_steps=0), "num_steps"),
        (dict(num_steps=2.0), "num_steps"),
        (dict(x=jnp.array(1.0)), "x"),
        (dict(x=jnp.array([1.0, jnp.nan])), "x"),
        (dict(pair=GP, x=jnp.array([1.0, -1.0])), "x"),
        (dict(schedule="geometric"), "schedule"),
        (dict(pair="normal_normal"), "pair"),
        (dict(times="sobol"), "times"),
        (dict(times="stratified", num_steps=3), "times"),
    ],
)
def test_validation(kwargs, arg):
    args = dict(pair=NN, schedule=GeometricSchedule(a_max=5.0), denoiser=lambda mu, t: mu, key=jax.random.PRNGKey(0), x=jnp.ones((4,)))
    args.update(kwargs)
    with pytest.raises(PMMInputError, match=arg):
        pmm_loss(**args)

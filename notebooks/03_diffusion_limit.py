# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 3. The diffusion limit of Normal-Normal PMM
#
# **What you will learn.**
# 1. As the steps shrink, the discrete PMM chain of the Normal-Normal pair becomes a stochastic
#    differential equation, the reverse of a diffusion model's noising process.
# 2. Its marginals are the closed-form flow laws at every time.
# 3. A PMM state *is* a diffusion state: the change of variables to variance-exploding (VE) and
#    variance-preserving (VP) coordinates, and Tweedie's formula linking the denoiser to the score.
# 4. The measured weak order of convergence of the discrete chain: 1.
#
# **The SDE.** With $\rho(t) = \rho_0 + A(t)$, $\alpha(t) = A'(t)$ and $m(\mu, A) = E^*[x\mid\mu]$:
#
# $$ d\mu = \frac{\alpha}{\rho}\,\big(m(\mu, A) - \mu\big)\,dt + \frac{\sqrt{\alpha}}{\rho}\,dW_t .$$
#
# Given $x$, the sum $S = \sum\alpha_i y_i$ is a Brownian motion with drift $x$ in *accuracy time*
# $u = A(t)$: $dS = x\,du + dB_u$. The discrete PMM step with accuracy $\alpha_i$,
# $\mu_i = \mu_{i-1} + (\alpha_i/\rho_i)(m - \mu_{i-1}) + \Delta B_i/\rho_i$, is a semi-implicit
# Euler-Maruyama step of this SDE, so the chain converges to it (weak order 1).
#
# The problem used throughout (`pmm_ppl.sde.checks.normal_problem`): $\mu_0 = 0$, $\rho_0 = 1$,
# geometric schedule with $A_{\max} = 100$, target $p^* = 0.3\,N(-1, 0.2) + 0.7\,N(1.5, 0.1)$.

# %%
import time

_wall0, _cpu0 = time.perf_counter(), time.process_time()

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

from pmm_ppl.sde import checks
from pmm_ppl.sde import coordinates as C
from pmm_ppl.sde import diffusion as D

prob = checks.normal_problem()
pair, schedule, oracle = prob.pair, prob.schedule, prob.oracle()  # oracle(mu, A) = E*[x | mu]
print(pair, schedule, sep="\n")
print("target: weights", prob.weights, "means", prob.means, "variances", prob.variances)

# %% [markdown]
# ## 1. One Brownian path, three step sizes
#
# `pmm_chain` is the plug-in PMM sampler with its Gaussian noise written as increments of one
# Brownian motion $B$ in accuracy time, so chains on nested grids can share a path (a coarse
# increment is the sum of fine ones). As $T$ grows the chain converges to the SDE path.

# %%
T_FINE, P = 1024, 500
_, a_fine = D.accuracy_grid(schedule, T_FINE)
dB = jax.random.normal(jax.random.key(0), (T_FINE, P)) * jnp.sqrt(jnp.diff(a_fine))[:, None]
paths = {}
for T in (8, 32, T_FINE):
    f = T_FINE // T
    _, path = D.pmm_chain(pair, oracle, a_fine[::f], D.coarsen_increments(dB, f), return_path=True)
    paths[T] = np.asarray(path)
rms_gap = {T: float(np.sqrt(np.mean((paths[T][-1] - paths[T_FINE][-1]) ** 2))) for T in (8, 32)}
print("RMS distance of mu_1 to the T = 1024 chain on the same path:", rms_gap)

fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
for k in range(6):
    axes[0].plot(np.linspace(0, 1, T_FINE + 1), paths[T_FINE][:, k], color=f"C{k}", lw=1)
    axes[0].plot(np.linspace(0, 1, 9), paths[8][:, k], "o--", color=f"C{k}", ms=3, lw=0.6)
    axes[0].plot(np.linspace(0, 1, 33), paths[32][:, k], ".", color=f"C{k}", ms=3)
axes[0].set_xlabel("t"); axes[0].set_ylabel(r"$\mu_t$")
axes[0].set_title("same Brownian path: T = 1024 (line), 32 (dots), 8 (circles)", fontsize=9)
for T in (8, 32):
    axes[1].scatter(paths[T_FINE][-1], paths[T][-1], s=4, alpha=0.6, label=f"T = {T}: RMS gap {rms_gap[T]:.3f}")
axes[1].plot([-2, 2.5], [-2, 2.5], "k:", lw=1)
axes[1].set_xlabel(r"$\mu_1$, T = 1024"); axes[1].set_ylabel(r"$\mu_1$, coarse chain"); axes[1].legend(fontsize=8)
axes[1].set_title("endpoints of 500 chains on shared paths", fontsize=9)
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 2. Marginals equal the flow law
#
# Euler-Maruyama on the SDE in $t$ (1024 steps, 4000 paths from $\mu_0$), compared at three times
# with the closed-form flow marginal: $\mu_A = g x + (1-g)\mu_0 + \sqrt{g(1-g)/\rho_0}\,\epsilon$
# with $x\sim p^*$, a two-component mixture with locations $g m_j$ and variances $g^2 v_j + g(1-g)$.

# %%
NP = 4000
t_grid = jnp.linspace(0.0, 1.0, T_FINE + 1)
dW = D.brownian_increments(jax.random.key(1), t_grid, (NP,))
_, em_path = jax.jit(lambda dw: D.euler_maruyama(pair, schedule, oracle, jnp.zeros((NP,)), t_grid, dw, return_path=True))(dW)
em_path = np.asarray(em_path, np.float64)

TIMES = (0.25, 0.5, 1.0)
ks_p = {}
fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
for ax, t in zip(axes, TIMES):
    a = float(schedule.A(jnp.asarray(t)))
    mu_t = em_path[int(round(t * T_FINE))]
    w, loc, v = prob.flow_params(a)
    grid = np.linspace(mu_t.min(), mu_t.max(), 300)
    pdf = np.sum(w * stats.norm.pdf(grid[:, None], loc, np.sqrt(v)), -1)
    ax.hist(mu_t, bins=60, density=True, alpha=0.5, label="SDE (EM)")
    ax.plot(grid, pdf, "k", lw=1.2, label="flow marginal")
    ks_p[t] = stats.kstest(mu_t, lambda q: prob.flow_cdf(a, q)).pvalue
    ax.set_title(f"t = {t}, A = {a:.1f}: KS p = {ks_p[t]:.2f}", fontsize=9)
axes[0].legend(fontsize=8)
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 3. VE and VP coordinates
#
# Given $x$, $\mu = gx + (1-g)\mu_0 + \sqrt{g(1-g)/\rho_0}\,\epsilon$ with $g = A/(\rho_0 + A)$. Two
# changes of variables turn this into the familiar diffusion states:
#
# * **VE**: $z = S/A = (\rho\mu - \rho_0\mu_0)/A = x + \sigma\epsilon$ with $\sigma = A^{-1/2}$;
# * **VP**: $v = \sqrt{\rho_0}(\mu - \mu_0)/\sqrt{g} = \sqrt{\bar\alpha}\,\tilde x + \sqrt{1-\bar\alpha}\,\epsilon$
#   with $\bar\alpha = g$ and standardised data $\tilde x = \sqrt{\rho_0}(x - \mu_0)$.
#
# So the geometric PMM schedule is a VE schedule $\sigma(t) = A(t)^{-1/2}$ and a VP schedule
# $\bar\alpha(t) = A(t)/(1 + A(t))$. Below, flow draws are mapped to both and the implied noise
# $\epsilon$ is recovered: it must be standard normal, independent of $x$.

# %%
x = np.asarray(prob.sample_flow(jax.random.key(2), 1e9, 20000))  # x ~ p* (flow at A -> inf is x)
eps_ve, eps_vp = [], []
for t in (0.1, 0.5, 0.9):
    a = schedule.A(jnp.asarray(t))
    mu = pair.flow(jax.random.key(int(10 * t)), jnp.asarray(x), a).mean
    z, sigma = C.to_ve(pair, mu, a)
    v, abar = C.to_vp(pair, mu, a)
    eps_ve.append(np.asarray((z - x) / sigma))
    eps_vp.append(np.asarray((v - jnp.sqrt(abar) * C.standardise_data(pair, x)) / jnp.sqrt(1 - abar)))
    mu_back, a_back = C.from_vp(pair, v, abar)
    assert np.allclose(mu_back, mu, atol=1e-4) and np.isclose(float(a_back), float(a), rtol=1e-3)
eps_ve, eps_vp = np.concatenate(eps_ve), np.concatenate(eps_vp)

fig, axes = plt.subplots(1, 2, figsize=(11, 3.3))
tt = jnp.linspace(0.0, 1.0, 200)
A_t = schedule.A(tt)
axes[0].semilogy(tt[1:], 1 / jnp.sqrt(A_t[1:]), label=r"VE $\sigma(t) = A^{-1/2}$")
axes[0].semilogy(tt, A_t / (1 + A_t), label=r"VP $\bar\alpha(t) = g$")
axes[0].set_xlabel("t"); axes[0].legend(); axes[0].set_title("the geometric PMM schedule as VE / VP schedules", fontsize=9)
grid = np.linspace(-4, 4, 200)
axes[1].hist(eps_ve, bins=80, density=True, histtype="step", label=r"$\epsilon$ from VE")
axes[1].hist(eps_vp, bins=80, density=True, histtype="step", label=r"$\epsilon$ from VP")
axes[1].plot(grid, stats.norm.pdf(grid), "k--", lw=1, label="N(0, 1)")
axes[1].legend(fontsize=8); axes[1].set_title("implied noise, 3 times x 20000 draws", fontsize=9)
plt.tight_layout(); plt.show()

# %% [markdown]
# ## 4. Tweedie's formula: the denoiser is the score
#
# The flow marginal $p_A(\mu) = \int N(\mu; gx + (1-g)\mu_0, s^2)\,p^*(dx)$, $s^2 = g(1-g)/\rho_0$,
# has score
#
# $$\nabla_\mu\log p_A(\mu) = \frac{g\,E^*[x\mid\mu] + (1-g)\mu_0 - \mu}{s^2}.$$
#
# Left: automatic differentiation of the closed-form log-density of the mixture marginal;
# right: the oracle denoiser plugged into Tweedie's formula. They agree to float32 precision.

# %%
score_err = {}
fig, ax = plt.subplots(figsize=(7, 3.4))
w, m_, v_ = (jnp.asarray(q) for q in (prob.weights, prob.means, prob.variances))
for k, a in enumerate((0.5, 5.0, 50.0)):
    _, loc, fv = prob.flow_params(a)
    mu = jnp.linspace(float(np.min(loc - 4 * np.sqrt(fv))), float(np.max(loc + 4 * np.sqrt(fv))), 401)
    score_ad = jax.vmap(jax.grad(lambda q: C.gaussian_mixture_flow_log_prob(pair, q[None], a, w, m_, v_)[0]))(mu)
    xhat = oracle(mu, jnp.full(mu.shape, a))
    score_tw = C.score_from_posterior_mean(pair, xhat, mu, a)
    score_err[a] = float(jnp.max(jnp.abs(score_tw - score_ad)) / jnp.max(jnp.abs(score_ad)))
    ax.plot(mu, score_ad / jnp.max(jnp.abs(score_ad)), color=f"C{k}", lw=2.5, alpha=0.5, label=f"autodiff, A = {a}")
    ax.plot(mu, score_tw / jnp.max(jnp.abs(score_ad)), "k:", lw=1)
ax.plot([], [], "k:", label="Tweedie from $E^*[x|\\mu]$")
ax.set_xlabel(r"$\mu$"); ax.set_ylabel("score / max |score|"); ax.legend(fontsize=8)
plt.tight_layout(); plt.show()
print("max relative score error per A:", {a: f"{e:.1e}" for a, e in score_err.items()})

# %% [markdown]
# ## 5. Weak order of the discrete chain
#
# The weak error is the error in an expectation, here $E[\mu_1^2]$. Two measurements:
#
# * a **Gaussian target** $N(1, 0.25)$: the oracle is linear, the chain's final law is Gaussian and
#   its moments follow an exact recursion (no Monte Carlo), compared with the SDE's exact law;
# * the **mixture target**: 20000 chains per step count on common random numbers (one Brownian path
#   per chain, coarsened), against a 2048-step reference chain; a bootstrap over paths gives the
#   interval of the fitted slope.
#
# Both should decay like $h = 1/T$: slope 1 on a log-log plot.

# %%
gauss = checks.check_weak_order_gaussian()
mix = checks.check_weak_order_mixture(seed=0, num_paths=20000)
print(f"Gaussian target: order {gauss['order']:.3f}, 95% CI {gauss['order_ci'][0]:.3f}..{gauss['order_ci'][1]:.3f}")
print(f"mixture target:  order {mix['order']:.3f}, bootstrap 95% CI {mix['order_ci'][0]:.3f}..{mix['order_ci'][1]:.3f}; "
      f"reference vs exact E mu^2: z = {mix['reference_z']:.2f}")

fig, ax = plt.subplots(figsize=(6, 3.8))
h_g, h_m = 1 / np.array(gauss["steps"]), 1 / np.array(mix["steps"])
ax.loglog(h_g, gauss["errors"], "o-", label=f"Gaussian p* (exact), order {gauss['order']:.2f}")
ax.errorbar(h_m, mix["errors"], yerr=2 * np.array(mix["std_errors"]), fmt="s-", capsize=3,
            label=f"mixture p* (MC, ±2 se), order {mix['order']:.2f}")
ref = np.array([h_m.min(), h_g.max()])
ax.loglog(ref, mix["errors"][0] * ref / h_m[0], "k:", lw=1, label="slope 1")
ax.set_xlabel("step size h = 1/T"); ax.set_ylabel(r"$|E\mu_1^2 - E\mu_{\rm ref}^2|$"); ax.legend(fontsize=8)
ax.set_title("weak error of the discrete PMM chain")
plt.tight_layout(); plt.show()

# %% [markdown]
# ## Check
#
# Claims:
# * on shared Brownian paths the T = 32 chain ends closer to the T = 1024 chain than the T = 8 one
#   (RMS gap at most half as large);
# * the EM marginals at $t = 0.25, 0.5, 1$ are the flow marginals (KS p > 0.001 each);
# * the VE- and VP-implied noise is N(0, 1): |mean| < 4 standard errors and |sd - 1| < 0.02
#   (60000 draws: the standard error of the sd is 0.003);
# * Tweedie: the oracle's score equals the autodiff score to 1e-4 relative (float32);
# * the discrete PMM chain has weak order 1: fitted order in [0.85, 1.15] for both targets and the
#   mixture's bootstrap interval inside [0.8, 1.2]; the reference chain matches the exact
#   $E\mu_1^2$ (|z| < 4).

# %%
assert rms_gap[32] < 0.5 * rms_gap[8], rms_gap
for t, p in ks_p.items():
    assert p > 1e-3, (t, p)
for eps in (eps_ve, eps_vp):
    assert abs(eps.mean()) < 4 / np.sqrt(eps.size), eps.mean()
    assert abs(eps.std() - 1) < 0.02, eps.std()
assert max(score_err.values()) < 1e-4, score_err
assert 0.85 < gauss["order"] < 1.15 and 0.85 < mix["order"] < 1.15, (gauss["order"], mix["order"])
assert 0.8 < mix["order_ci"][0] and mix["order_ci"][1] < 1.2, mix["order_ci"]
assert abs(mix["reference_z"]) < 4, mix["reference_z"]
print(f"all checks passed; wall {time.perf_counter() - _wall0:.0f} s, CPU {time.process_time() - _cpu0:.0f} s")

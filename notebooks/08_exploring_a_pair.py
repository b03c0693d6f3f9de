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
# # 8. Exploring a new pair: declare, verify, train, sample
#
# **What you will learn.** The short route to a new conjugate pair (`docs/expfamily_pairs.md`): declare
# an exponential family by its log-partition $\psi$, let the toolkit derive the rest, verify the
# derivation against NUTS and by simulation-based calibration, read off the plug-in sampler's
# exactness class, then train a small denoiser and sample. Notebook 7 does the same by hand in ~70
# lines; here the declaration is eleven (blank lines aside).
#
# **The math.** The channel is $p_\alpha(s\mid\eta) = h_\alpha(s)\exp(\eta s - \alpha\psi(\eta))$, the data is
# the mean parameter $x = \psi'(\eta)$, and the Diaconis-Ylvisaker prior $\propto\exp(c_0\mu_0\eta - c_0\psi(\eta))$
# (a density in $\eta$) gives $E[x\mid\text{data}] = (c_0\mu_0 + S)/(c_0 + A)$: a linear pair. From $\psi$ the
# base class derives $\eta(x)$ (Newton), the divergence $\alpha[\psi(\hat\eta) - \psi(\eta) - x(\hat\eta-\eta)]$,
# the flow log density, the variance function $V(x) = \psi''(\eta(x))$, the prior and posterior of $x$
# (the DY density normalised by quadrature, sampled by inverse CDF), the exact predictive and a NumPyro
# model in $\eta$. We declare only $\psi$, the law of the summed statistic and the supports.
#
# **The pair.** Poisson counts with exposure $\alpha$: $\psi(\eta) = e^\eta$, $x = e^\eta$ a rate. We do *not*
# tell the toolkit that the conjugate prior is a Gamma law; it should find the same posterior as the
# hand-written `gamma_poisson` pair.

# %%
import time

_wall0 = time.perf_counter()

import dataclasses

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import numpyro.distributions as dist
import scipy.stats
from flax import nnx

import pmm_ppl
from pmm_ppl import ExpFamilyPair, register
from pmm_ppl.nets import make_denoiser
from pmm_ppl.process import GeometricSchedule, empirical_oracle, sample
from pmm_ppl.verify import nuts_check, plot_verification, sbc


# %% [markdown]
# ## Declare it (eleven lines)

# %%
@register("nb_poisson_from_psi")
@dataclasses.dataclass(frozen=True)
class PoissonFromPsi(ExpFamilyPair):
    """Poisson counts with exposure alpha; the conjugate prior of the rate is derived from psi."""

    c0: float = 1.0
    mu0: float = 3.0
    data_domain, observation_domain = "positive", "counts"

    def log_partition(self, eta):
        return jnp.exp(eta)

    def statistic_law(self, x, total_accuracy):
        return dist.Poisson(total_accuracy * x)


pair = PoissonFromPsi()
xs = jnp.array([0.5, 1.0, 3.0, 8.0])
print(f"exactness class of the plug-in sampler: {pair.plug_in_exact!r}")
print("V(x) at x =", np.asarray(xs), ":", np.round(np.asarray(pair.variance_function(xs)), 5), "(affine: V(x) = x)")

# %% [markdown]
# **What the toolkit derived.** The derived prior of $x$ should be the textbook $\mathrm{Gamma}(c_0\mu_0, c_0)$,
# and after data the posterior mean and the predictive should equal those of the hand-written
# `gamma_poisson` pair (a scipy Gamma and the negative binomial are the independent references).

# %%
ys, alphas = jnp.array([2.0, 0.0, 5.0, 3.0]), jnp.array([0.5, 1.0, 2.0, 1.5])
state = pair.update_many(pair.init(), ys, alphas)
grid = np.linspace(0.05, 12.0, 200)
prior_gap = np.max(np.abs(np.asarray(pair.prior().log_prob(grid)) - scipy.stats.gamma.logpdf(grid, pair.c0 * pair.mu0, scale=1 / pair.c0)))
shape, rate = pair.c0 * pair.mu0 + float(ys.sum()), pair.c0 + float(alphas.sum())
post_gap = np.max(np.abs(np.asarray(pair.posterior(state).log_prob(grid)) - scipy.stats.gamma.logpdf(grid, shape, scale=1 / rate)))
pred_counts = np.arange(8)
pred_gap = np.max(np.abs(np.asarray(pair.predictive(state, 1.3).log_prob(pred_counts)) - scipy.stats.nbinom.logpmf(pred_counts, shape, rate / (rate + 1.3))))
gp = pmm_ppl.get_pair("gamma_poisson", prior_shape=pair.c0 * pair.mu0, prior_rate=pair.c0)
mean_gap = abs(float(pair.mean(state)) - float(gp.mean(gp.update_many(gp.init(), ys, alphas))))
print(f"max |log density gap|: prior {prior_gap:.1e}, posterior {post_gap:.1e}, predictive {pred_gap:.1e}; posterior mean gap {mean_gap:.1e}")

# %% [markdown]
# ## Verify it: NUTS against the closed form, and SBC
#
# `pair.model` samples $\eta$ with the unnormalised DY density derived from $\psi$ and records
# $\theta = \psi'(\eta)$; NUTS on it is compared with the derived posterior (moments, KS), and SBC checks
# the calibration of the derived posterior over 2000 simulated data sets.

# %%
check = nuts_check(pair, jax.random.key(3), num_warmup=300, num_samples=500)
calib = sbc(pair, jax.random.key(4), num_replicates=2000)
print(f"NUTS: z_mean {check.z_mean[0]:+.2f}, z_sd {check.z_sd[0]:+.2f}, KS p {check.ks_pvalue[0]:.2f}, "
      f"R-hat {check.rhat[0]:.3f}, passed {check.passed}; SBC p {calib.pvalue_adjusted:.3f}")
plot_verification(check, calib)
plt.tight_layout(); plt.show()

# %% [markdown]
# ## Train a small denoiser and sample
#
# Target: rates from $p^* = \tfrac12\mathrm{LogN}(\log 1, 0.15^2) + \tfrac12\mathrm{LogN}(\log 6, 0.1^2)$ (data
# shape `(1,)`). Geometric schedule to $A_{\max} = 10^3$. Because $V$ is affine the plug-in sampler is
# exact as the steps shrink, so with the exact oracle (`empirical_oracle`, the best any denoiser can
# do with 2000 data) the mode shares must come out right; the trained MLP (the pair's positive head, fed
# $\log\mu$, ELBO weighting = the derived divergence) should get close.

# %%
def draw_target(key, n):
    k1, k2 = jax.random.split(key)
    lower = jax.random.bernoulli(k1, 0.5, (n, 1))
    return jnp.exp(jnp.where(lower, 0.0, np.log(6.0)) + jnp.where(lower, 0.15, 0.1) * jax.random.normal(k2, (n, 1)))


schedule = GeometricSchedule(a_max=1e3, scale=pair.prior_weight)


class LogInput(nnx.Module):
    def __init__(self, net):
        self.net = net

    def __call__(self, mu, t):
        return self.net(jnp.log(mu), t)


net = LogInput(make_denoiser(pair, (1,), arch="mlp", width=64, depth=3, emb_dim=32,
                             conditioning="log_accuracy", schedule=schedule, rng_impl="rbg"))
STEPS = 1200
# the library's training entry point (AdamW, warm-up, cosine decay, EMA) on 200k draws of the target
config = pmm_ppl.TrainConfig(batch_size=256, learning_rate=3e-3, warmup_steps=100, max_steps=STEPS, log_every=20,
                             checkpoint_every=STEPS)
fitted = pmm_ppl.fit(pmm_ppl.Process(pair, schedule), net, np.asarray(draw_target(jax.random.key(5), 200_000)), config,
                     weighting="elbo")
net, losses = fitted.net, [row["loss"] for row in fitted.metrics]

NS = 4000
exact = np.asarray(draw_target(jax.random.key(6), NS))[:, 0]
model_samples = np.asarray(sample(pair, net, jax.random.key(7), NS, (1,), schedule, num_steps=200))[:, 0]
oracle = empirical_oracle(pair, schedule, draw_target(jax.random.key(8), 2000))
oracle_samples = np.asarray(sample(pair, oracle, jax.random.key(9), NS, (1,), schedule, num_steps=200))[:, 0]


def summary(v):
    """share of the lower mode, and mean / s.d. of log x within each mode (split at x = 2.5)"""
    lo = v < 2.5
    return lo.mean(), np.log(v[lo]).mean(), np.log(v[lo]).std(), np.log(v[~lo]).mean(), np.log(v[~lo]).std()


rows = {"exact p*": summary(exact), "exact oracle, T=200": summary(oracle_samples), "trained MLP, T=200": summary(model_samples)}
print(f"{'':22s} lower share | lower mode log x: mean  sd | upper mode log x: mean  sd")
for name, r in rows.items():
    print(f"{name:22s} {r[0]:11.3f} | {r[1]:22.3f} {r[2]:5.3f} | {r[3]:22.3f} {r[4]:5.3f}")

fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
axes[0].semilogy(np.arange(1, len(losses) + 1) * config.log_every, losses)
axes[0].set_xlabel("step"); axes[0].set_ylabel("ELBO-weighted loss (one batch every 20 steps)")
bins = np.linspace(np.log(0.4), np.log(10), 80)
axes[1].hist(np.log(exact), bins=bins, density=True, alpha=0.4, label="exact draws")
axes[1].hist(np.log(oracle_samples), bins=bins, density=True, histtype="step", lw=1, ls="--", label="exact oracle, T = 200")
axes[1].hist(np.log(model_samples), bins=bins, density=True, histtype="step", lw=1.5, label="trained MLP, T = 200")
axes[1].set_xlabel(r"$\log x$ (log rate)"); axes[1].legend(fontsize=8)
plt.tight_layout(); plt.show()

# %% [markdown]
# **What the table shows.** With the exact oracle the plug-in sampler reproduces the target (mode share
# and within-mode moments), as the exactness class `"limit"` promises -- compare notebook 7, whose
# Gamma channel is in class `"no"` and misses the mode share even with the exact oracle. The small MLP,
# trained for about a minute, finds both modes at the right place but leaves some mass between them
# (wider within-mode spreads): a training budget effect, not a property of the pair.
#
# ## The claims, checked
#
# * the derived prior, posterior and predictive equal the textbook Gamma / negative binomial to 1e-3 in
#   log density, and the posterior mean equals `gamma_poisson`'s to 1e-5;
# * the exactness class is `"limit"` (V affine), and NUTS and SBC pass;
# * with the exact oracle the plug-in sampler reproduces the mode share within 4 standard errors of
#   the target's (0.5, s.e. 0.008 at 4000 samples), as the exactness class promises;
# * training worked (last 200 steps' mean loss below half the first 200's) and the trained MLP puts
#   both modes at the right place (within-mode mean of log x within 0.15) with a lower-mode share in
#   (0.35, 0.65);
# * (the wall time is printed: about a minute and a half on 2 CPU cores, measured in a quiet moment).

# %%
wall = time.perf_counter() - _wall0
print(f"notebook wall time: {wall:.0f} s")
m, e, o = rows["trained MLP, T=200"], rows["exact p*"], rows["exact oracle, T=200"]
assert prior_gap < 1e-3 and post_gap < 1e-3 and pred_gap < 1e-3, (prior_gap, post_gap, pred_gap)
assert mean_gap < 1e-5, mean_gap
assert pair.plug_in_exact == "limit"
assert check.passed and calib.pvalue_adjusted > 1e-3, (check.failures, calib.pvalue_adjusted)
se = np.sqrt(0.25 / NS + e[0] * (1 - e[0]) / NS)
assert abs(o[0] - e[0]) < 4 * se, (o[0], e[0], se)
assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10]), (np.mean(losses[:10]), np.mean(losses[-10:]))  # last vs first 200 steps
assert abs(m[1] - e[1]) < 0.15 and abs(m[3] - e[3]) < 0.15, (m, e)
assert 0.35 < m[0] < 0.65, m[0]


"""The plug-in sampler with the exact oracle reproduces the target as the steps shrink (docs/design.md sections 5-6).

* Normal-Normal, 2-D two-component Gaussian mixture: energy distance between samples and a fresh
  target draw falls with the number of steps and, at the finest setting, is within the noise level
  of the energy distance between two fresh target draws (mean + 4 s.d. over repeats).
* Gamma-Poisson, 1-D Poisson mixture: total variation between count histograms, same comparison.
* Dirichlet-categorical, p* = {AA, BB} (L = 2, K = 2), noiseless and uniform-noise channels: the
  fraction of mixed AB/BA samples goes to ~0 and AA/BB to 1/2 each.  Tokens are decoded from the
  final posterior mean (the revealed counts), which shows a mixed sample as mixed.
Fixed seeds; a few thousand samples each.
"""

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial.distance import cdist

from pmm_ppl import get_pair
from pmm_ppl.conjugate.dirichlet_categorical import encode_tokens
from pmm_ppl.process.oracles import empirical_oracle, gaussian_mixture_oracle, poisson_mixture_oracle
from pmm_ppl.process.sampler import decode_tokens, sample
from pmm_ppl.process.schedules import GeometricSchedule

N = 2000


def _energy_distance(a, b):
    return 2 * cdist(a, b).mean() - cdist(a, a).mean() - cdist(b, b).mean()


def _total_variation(a, b):
    k = int(max(a.max(), b.max())) + 1
    return 0.5 * np.abs(np.bincount(a, minlength=k) / len(a) - np.bincount(b, minlength=k) / len(b)).sum()


def test_normal_gaussian_mixture_energy_distance():
    pair = get_pair("normal_normal")
    w, m, v = np.array([0.3, 0.7]), np.array([[-1.0, 0.5], [1.0, -0.5]]), np.array([[0.2, 0.05], [0.1, 0.3]])
    sched = GeometricSchedule(a_max=1e4, scale=1.0)
    f = gaussian_mixture_oracle(pair, sched, w, m, v)
    rng = np.random.default_rng(0)

    def draw(n):
        j = rng.choice(2, n, p=w)
        return m[j] + np.sqrt(v[j]) * rng.normal(size=(n, 2))

    null = np.array([_energy_distance(draw(N), draw(N)) for _ in range(6)])
    ed = {T: _energy_distance(np.asarray(sample(pair, f, jax.random.PRNGKey(T), N, (2,), sched, T)), draw(N)) for T in (4, 16, 256)}
    noise = null.mean() + 4 * null.std()
    assert ed[4] > ed[16] > ed[256], (ed, null)  # falls with the number of steps
    assert ed[4] > 20 * noise  # the coarse sampler is measurably off
    assert ed[256] < noise, (ed, null)


def test_gamma_poisson_poisson_mixture_total_variation():
    pair = get_pair("gamma_poisson")
    w, rates = np.array([0.4, 0.6]), np.array([2.0, 10.0])
    sched = GeometricSchedule(a_max=1e3, scale=1.0)
    f = poisson_mixture_oracle(pair, sched, w, rates[:, None])
    rng = np.random.default_rng(1)

    def draw(n):
        return rng.poisson(rates[rng.choice(2, n, p=w)])

    null = np.array([_total_variation(draw(N), draw(N)) for _ in range(20)])
    noise = null.mean() + 4 * null.std()
    tv = {}
    for T in (4, 256):
        s = np.asarray(sample(pair, f, jax.random.PRNGKey(T), N, (1,), sched, T))[:, 0]
        if T == 256:
            assert np.max(np.abs(s - np.round(s))) < 0.01  # f(mu_T, 1) has resolved the counts
        tv[T] = _total_variation(np.round(s).astype(int), draw(N))
    assert tv[4] > 3 * noise, (tv, null)
    assert tv[256] < noise, (tv, null)


def _token_stats(pair, sched, T, key):
    f = empirical_oracle(pair, sched, encode_tokens(np.array([[0, 0], [1, 1]]), 2))
    mu = sample(pair, f, key, N, (2, 2), sched, T, output="mean")
    tok = np.asarray(decode_tokens(mu))
    mixed = float(np.mean(tok[:, 0] != tok[:, 1]))
    aa = float(np.mean((tok[:, 0] == 0) & (tok[:, 1] == 0)))
    return mixed, aa


def test_dirichlet_correlated_tokens_noiseless_and_noisy():
    se = np.sqrt(0.25 / N)
    for noise, a_max, coarse_T, coarse_min in ((0.0, 20.0, 4, 0.05), (0.2, 40.0, 2, 0.02)):
        pair = get_pair("dirichlet_categorical", num_classes=2, noise=noise)
        sched = GeometricSchedule(a_max=a_max, scale=pair.prior_weight)
        mixed_coarse, _ = _token_stats(pair, sched, coarse_T, jax.random.PRNGKey(11))
        mixed_fine, aa = _token_stats(pair, sched, 256, jax.random.PRNGKey(12))
        assert mixed_coarse > coarse_min, (noise, mixed_coarse)  # coarse steps break the correlation
        assert mixed_fine < 0.003, (noise, mixed_fine)
        assert abs(aa - 0.5) < 4 * se, (noise, aa)

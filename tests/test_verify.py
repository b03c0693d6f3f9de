"""Tests of pmm_ppl.verify: NUTS-vs-closed-form check, SBC, InferenceData, plots and `pmm verify`.

Every registered pair must pass both checks; a deliberately wrong closed form (Normal-Normal with
the posterior variance doubled, or the posterior mean shifted by half a posterior sd) must fail
both -- so these tests can fail.  Settings are the library defaults except SBC replicates (2000),
shared with the CLI test so that compiled programs are reused.  Compilation dominates the run time.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import numpyro.distributions as dist
import pytest

matplotlib.use("Agg")

import pmm_ppl  # noqa: E402
from pmm_ppl.cli import main  # noqa: E402
from pmm_ppl.conjugate import registry  # noqa: E402
from pmm_ppl.conjugate.normal_normal import NormalNormal  # noqa: E402
from pmm_ppl.verify import nuts_check, plot_verification, sbc, to_inference_data  # noqa: E402
from pmm_ppl.verify.sbc import rank_statistic  # noqa: E402

SBC_REPLICATES = 2000
PAIRS = pmm_ppl.list_pairs()


@dataclasses.dataclass(frozen=True)
class DoubledVarianceNormal(NormalNormal):
    """Wrong on purpose: posterior N(mu, 2/rho) instead of N(mu, 1/rho)."""

    def posterior(self, state):
        return dist.Normal(state.mean, jnp.sqrt(2.0 / state.weight))


@dataclasses.dataclass(frozen=True)
class ShiftedMeanNormal(NormalNormal):
    """Wrong on purpose: posterior mean shifted by half a posterior sd."""

    def posterior(self, state):
        sd = jax.lax.rsqrt(state.weight)
        return dist.Normal(state.mean + 0.5 * sd, sd)


_CHECKS: dict = {}


def checked(pair_name: str, seed: int = 0):
    """NUTS check of a registered pair (memoised: several tests look at the same result)."""
    if (pair_name, seed) not in _CHECKS:
        _CHECKS[pair_name, seed] = nuts_check(pmm_ppl.get_pair(pair_name), jax.random.key(seed))
    return _CHECKS[pair_name, seed]


# ---------------------------------------------------------------------------------- every pair
@pytest.mark.parametrize("name", PAIRS)
def test_nuts_matches_closed_form(name):
    r = checked(name)
    k = len(r.coordinate_names)
    assert r.nuts_mean.shape == r.exact_mean.shape == r.z_mean.shape == r.rhat.shape == (k,)
    assert r.nuts_draws.shape[:2] == (2, 1000) and r.exact_draws.shape[0] == 2000
    # the documented pass rule, spelled out: |z| < 4 for mean and sd, Bonferroni KS p > 1e-3,
    # R-hat < 1.05, bulk ESS > 100
    assert np.all(np.abs(r.z_mean) < 4) and np.all(np.abs(r.z_sd) < 4), (r.z_mean, r.z_sd)
    assert r.ks_pvalue_adjusted > 1e-3, r.ks_pvalue
    assert np.all(r.rhat < 1.05) and np.all(r.ess_bulk > 100), (r.rhat, r.ess_bulk)
    assert r.passed and not r.failures
    # sanity of the numbers themselves: NUTS and exact sd agree to 15% (ESS >= 100 draws)
    np.testing.assert_allclose(r.nuts_sd, r.exact_sd, rtol=0.15)


@pytest.mark.parametrize("name", PAIRS)
def test_sbc_calibrated(name):
    r = sbc(pmm_ppl.get_pair(name), jax.random.key(1), num_replicates=SBC_REPLICATES)
    k = len(r.coordinate_names)
    assert r.ranks.shape == (SBC_REPLICATES, k)
    assert r.ranks.min() >= 0 and r.ranks.max() <= r.num_posterior_draws
    assert r.counts.shape == (k, r.num_bins) and np.all(r.counts.sum(1) == SBC_REPLICATES)
    assert r.passed, (r.pvalues, r.counts)


# ---------------------------------------------------------------------------------- wrong closed forms
@pytest.mark.parametrize(
    "broken_cls, failing",
    [(DoubledVarianceNormal, "z_sd"), pytest.param(ShiftedMeanNormal, "z_mean", marks=pytest.mark.slow)],
)
def test_wrong_closed_form_detected(broken_cls, failing):
    pair = broken_cls()
    check = nuts_check(pair, jax.random.key(0))
    assert not check.passed
    assert any(failing in f for f in check.failures), check.failures
    stat = check.z_sd if failing == "z_sd" else check.z_mean
    assert np.max(np.abs(stat)) > 6  # far beyond the threshold 4, not a borderline miss
    calib = sbc(pair, jax.random.key(1), num_replicates=SBC_REPLICATES)
    assert not calib.passed and calib.pvalue_adjusted < 1e-10


def test_rank_statistic_counts_and_breaks_ties():
    draws = jnp.array([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0], [3.0, 1.0]])
    truth = jnp.array([1.5, 1.0])  # 2 draws below in coordinate 0; 4 ties in coordinate 1
    ranks = jax.vmap(lambda k: rank_statistic(k, draws, truth))(jax.random.split(jax.random.key(0), 5000))
    assert np.all(ranks[:, 0] == 2)
    counts = np.bincount(np.asarray(ranks[:, 1]), minlength=5)
    np.testing.assert_allclose(counts / 5000, 0.2, atol=0.03)  # uniform on 0..4


# ---------------------------------------------------------------------------------- outputs
def test_inference_data_groups_and_values():
    r = checked("normal_normal")
    idata = to_inference_data(r)
    for group in ("posterior", "exact_posterior", "observed_data", "constant_data"):
        assert group in idata.groups()
    assert idata.posterior["theta"].shape == (2, 1000)
    assert idata.exact_posterior["theta"].shape == (1, 2000)
    np.testing.assert_allclose(float(idata.posterior["theta"].mean()), r.nuts_mean[0], rtol=1e-6)
    np.testing.assert_allclose(idata.observed_data["y"].values, r.ys)
    np.testing.assert_allclose(idata.constant_data["alpha"].values, r.alphas)


def test_inference_data_vector_event():
    name = next(n for n in PAIRS if pmm_ppl.get_pair(n).event_ndim == 1)
    r = checked(name)
    idata = to_inference_data(r)
    k = r.theta_true.shape[-1]
    assert idata.posterior["theta"].shape == (2, 1000, k)
    assert idata.exact_posterior["theta"].dims[-1] == idata.posterior["theta"].dims[-1]


def test_plot_verification_axes():
    import matplotlib.pyplot as plt

    r = checked("normal_normal")
    s = sbc("normal_normal", jax.random.key(1), num_replicates=SBC_REPLICATES)
    axes = plot_verification(r, s)
    assert len(axes) == 2 and all(a.has_data() for a in axes)
    fig, given = plt.subplots(1, 2)
    assert list(plot_verification(r, s, ax=given)) == list(given)
    with pytest.raises(pmm_ppl.PMMInputError, match="ax"):
        plot_verification(r, s, ax=given[:1])
    plt.close("all")


# ---------------------------------------------------------------------------------- input errors
def test_bad_arguments_named():
    with pytest.raises(pmm_ppl.PMMInputError, match="num_obs"):
        nuts_check("normal_normal", jax.random.key(0), num_obs=0)
    with pytest.raises(pmm_ppl.PMMInputError, match="num_chains"):
        nuts_check("normal_normal", jax.random.key(0), num_chains=1)
    with pytest.raises(pmm_ppl.PMMInputError, match="num_bins"):
        sbc("normal_normal", jax.random.key(0), num_posterior_draws=100, num_bins=20)
    with pytest.raises(KeyError, match="registered"):
        sbc("no_such_pair", jax.random.key(0))


# ---------------------------------------------------------------------------------- CLI
@pytest.fixture
def broken_registered():
    """Register the wrong pair under a test-only name (registry internals: tests only), then remove it.
    The same class as in test_wrong_closed_form_detected, so its compiled programs are reused."""
    name = "test_only_doubled_variance"
    old_name = DoubledVarianceNormal.name
    registry.register(name)(DoubledVarianceNormal)
    try:
        yield name
    finally:
        registry._REGISTRY.pop(name, None)
        DoubledVarianceNormal.name = old_name


def test_cli_good_pair_exit_0(capsys):
    rc = main(["verify", "normal_normal", "--sbc-replicates", str(SBC_REPLICATES)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "normal_normal" in out and "PASS" in out and "FAIL" not in out


def test_cli_broken_pair_exit_1(capsys, broken_registered):
    rc = main(["verify", "normal_normal", broken_registered, "--sbc-replicates", str(SBC_REPLICATES)])
    out = capsys.readouterr().out
    assert rc == 1
    rows = {line.split()[0]: line for line in out.splitlines() if line.split() and line.split()[0] in ("normal_normal", broken_registered)}
    assert rows["normal_normal"].endswith("PASS") and rows[broken_registered].endswith("FAIL")


def test_cli_unknown_pair_lists_registered(capsys):
    rc = main(["verify", "no_such_pair"])
    err = capsys.readouterr().err
    assert rc == 2 and "no_such_pair" in err and "normal_normal" in err

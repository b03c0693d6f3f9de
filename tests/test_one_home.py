"""Each fact has one home: a pair defined here (outside ``pmm_ppl/``) trains, samples, evaluates its
bound and passes the NUTS check through the public API alone; ``mvn_normal`` (no running-mean
state) does the same; no pair name appears in the layers above the pairs; the process owns its grid
and the kernel; old denoiser/oracle conventions meet in one place."""

from __future__ import annotations

import dataclasses
import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
import pytest
from flax import nnx

import pmm_ppl
import pmm_ppl.verify
from pmm_ppl.conjugate.validation import check_finite
from pmm_ppl.nets import make_denoiser
from pmm_ppl.process import kernels

ROOT = pathlib.Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ a pair that lives in this test module
@pmm_ppl.register("test_scaled_normal")
@dataclasses.dataclass(frozen=True)
class ScaledNormal(pmm_ppl.LinearPair):
    r"""Normal prior :math:`N(m_0, 1/\rho_0)`, observation :math:`N(x, 1/(k\alpha))` with a known precision
    ``k`` per unit accuracy.  Linear pair: :math:`s = \alpha y`, :math:`w = \alpha`, :math:`c_0 = \rho_0/k`;
    posterior :math:`N(\mu, 1/(kC))`; :math:`S_A \mid x \sim N(Ax, A/k)`."""

    prior_mean_value: float = 0.0
    prior_precision: float = 1.0
    k: float = 4.0

    support_text = "real numbers"
    plug_in_exact = "limit"
    default_a_max = 2e3
    output_head = "real"

    @property
    def prior_weight(self):
        return self.prior_precision / self.k

    @property
    def prior_mean(self):
        return jnp.asarray(self.prior_mean_value, dtype=jnp.result_type(float))

    def prior(self):
        return dist.Normal(self.prior_mean_value, self.prior_precision**-0.5)

    def observation(self, theta, alpha):
        return dist.Normal(theta, jax.lax.rsqrt(self.k * jnp.asarray(alpha, dtype=jnp.result_type(float))))

    def statistic(self, y, alpha):
        return jnp.asarray(alpha) * y

    def statistic_law(self, x, total_accuracy):
        a = jnp.asarray(total_accuracy, dtype=jnp.result_type(float))
        return dist.Normal(a * x, jnp.sqrt(a / self.k))

    def posterior(self, state):
        return dist.Normal(state.mean, jax.lax.rsqrt(self.k * state.weight))

    def predictive(self, state, alpha):
        return dist.Normal(state.mean, jnp.sqrt(1.0 / (self.k * state.weight) + 1.0 / (self.k * jnp.asarray(alpha))))

    def divergence(self, x, xhat, alpha):
        return 0.5 * self.k * jnp.asarray(alpha) * (x - xhat) ** 2

    def default_reconstruction(self):
        return pmm_ppl.GaussianDensity()

    def validate_data(self, x, name="x"):
        return check_finite(x, name)


def _train_sample_bound(pair, data, data_shape, steps=6, weighting="pmm"):
    process = pmm_ppl.Process.for_pair(pair)
    net = make_denoiser(pair, data_shape, arch="mlp", width=16, depth=1, emb_dim=8, rng_impl="rbg")
    config = pmm_ppl.TrainConfig(batch_size=16, max_steps=steps, warmup_steps=2, checkpoint_every=1000, log_every=2)
    result = pmm_ppl.fit(process, net, data, config, weighting=weighting)
    assert [row["step"] for row in result.metrics] == list(range(2, steps + 1, 2))
    assert all(np.isfinite(row["loss"]) for row in result.metrics)
    samples = process.sample(result.net, jax.random.key(1), 8, data_shape, num_steps=16)
    assert samples.shape == (8,) + data_shape and bool(jnp.all(jnp.isfinite(samples)))
    bound = process.bound(result.net, jax.random.key(2), data[:4], num_steps=8, num_mc=2)
    assert bound.nats.shape == (4,) and bool(jnp.all(jnp.isfinite(bound.nats)))
    return result, bound


def test_pair_defined_outside_the_library_trains_samples_bounds_and_verifies():
    pair = pmm_ppl.get_pair("test_scaled_normal", k=4.0)
    assert pmm_ppl.schedule_for(pair).a_max == 2e3  # its own default, read from the class
    data = np.asarray(jax.random.normal(jax.random.key(0), (64, 3)), np.float32)
    _train_sample_bound(pair, data, (3,))
    result = pmm_ppl.verify.nuts_check(pair, jax.random.key(3), num_obs=5, num_warmup=200, num_samples=400)
    assert result.passed, result


def test_mvn_normal_trains_samples_and_evaluates_its_bound():
    """The multivariate Normal has no running-mean state: its schedule default is its own (1e4, not the
    token default), and its reconstruction reads the posterior s.d. through the pair."""
    pair = pmm_ppl.get_pair("mvn_normal")  # d = 2, correlated observation precision
    assert pmm_ppl.schedule_for(pair).a_max == 1e4
    data = np.asarray(0.5 * jax.random.normal(jax.random.key(4), (64, 2)), np.float32)
    # the "pmm" weighting needs a scalar step gain; the multivariate gain is a matrix: train on the KL
    with pytest.raises(pmm_ppl.PMMInputError, match="weighting"):
        pmm_ppl.fit(pmm_ppl.Process.for_pair(pair), make_denoiser(pair, (2,), arch="mlp", width=8, depth=1, emb_dim=8), data,
                     pmm_ppl.TrainConfig(batch_size=16, max_steps=2))
    _, bound = _train_sample_bound(pair, data, (2,), weighting="elbo")
    # the reconstruction s.d. is the posterior s.d. of the final state: sqrt(diag P_T^-1)
    state = pair.flow(jax.random.key(5), jnp.asarray(data[:2]), 1e4)
    np.testing.assert_allclose(np.asarray(pair.posterior_std(state)),
                               np.sqrt(np.diagonal(np.linalg.inv(np.asarray(pair.precision(state))), axis1=-2, axis2=-1)),
                               rtol=1e-4)


def test_no_pair_name_in_the_layers_above_the_pairs():
    names = [n for n in pmm_ppl.list_pairs() if pmm_ppl.conjugate.registry.pair_class(n).__module__.startswith("pmm_ppl.")]
    prefixes = sorted({n.split("_")[0] + "_" for n in names})  # name-prefix tables: "gamma_", "dirichlet_", ...
    pattern = re.compile("|".join([rf"\b{re.escape(n)}\b" for n in names] + [rf"[\"']{re.escape(p)}[\"']" for p in prefixes]))
    hits = []
    for layer in ("process", "nets", "train", "data", "sde"):
        for path in sorted((ROOT / "pmm_ppl" / layer).rglob("*.py")):
            for i, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line):
                    hits.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not hits, "pair names outside the pairs:\n" + "\n".join(hits)


def test_process_grid_is_the_schedules_grid_with_the_pairs_integer_flag():
    binomial = pmm_ppl.Process.for_pair(pmm_ppl.get_pair("beta_binomial"), a_max=30.0)
    grid = binomial.grid(7)
    np.testing.assert_array_equal(np.asarray(grid.alphas), np.round(np.asarray(grid.alphas)))  # whole trials
    np.testing.assert_allclose(np.asarray(grid.cumulative), np.concatenate([[0.0], np.cumsum(grid.alphas)]), atol=1e-4)
    normal = pmm_ppl.Process.for_pair(pmm_ppl.get_pair("normal_normal"))
    g = normal.grid(5)
    np.testing.assert_allclose(np.asarray(g.cumulative), np.asarray(normal.accuracy(g.times)), rtol=1e-5)


def test_process_refuses_a_network_built_with_another_schedule():
    pair = pmm_ppl.get_pair("normal_normal")
    process = pmm_ppl.Process.for_pair(pair)
    other = pmm_ppl.GeometricSchedule(a_max=50.0, scale=1.0)
    net = make_denoiser(pair, (2,), arch="mlp", schedule=other, precondition=True, width=8, depth=1, emb_dim=8, rng_impl="rbg")
    with pytest.raises(pmm_ppl.PMMInputError, match="schedule"):
        process.sample(net, jax.random.key(0), 2, (2,), num_steps=4)
    ok = make_denoiser(pair, (2,), arch="mlp", schedule=process.schedule, precondition=True, width=8, depth=1, emb_dim=8, rng_impl="rbg")
    assert isinstance(process.check_denoiser(ok), nnx.Module)


def test_kernel_scan_equals_the_sampler():
    """The sampler is a scan of the plug-in kernel: the same keys give the same samples."""
    pair = pmm_ppl.get_pair("gamma_poisson")
    process = pmm_ppl.Process.for_pair(pair, a_max=50.0)
    oracle = pmm_ppl.poisson_mixture_oracle(pair, process.schedule, weights=[0.5, 0.5], rates=[[1.0], [6.0]])
    key, T, n = jax.random.key(9), 12, 5
    via_sampler = process.sample(oracle, key, n, (1,), num_steps=T, output="mean")
    grid = process.grid(T)
    state = kernels.init(pair, (n, 1))
    estimate = lambda mu, s: oracle(mu, jnp.full((n,), s.time))  # noqa: E731
    state, _ = kernels.scan_steps(kernels.plug_in_step, pair, state, estimate, jax.random.split(key, T), grid.times[1:], grid.alphas)
    np.testing.assert_allclose(np.asarray(pair.mean(state.posterior)), np.asarray(via_sampler), rtol=1e-6)
    assert float(state.accuracy) == pytest.approx(50.0, rel=1e-5)


def test_plug_in_sampler_warns_on_pairs_it_cannot_sample_exactly():
    pair = pmm_ppl.get_pair("gamma_gamma")
    process = pmm_ppl.Process.for_pair(pair, a_max=10.0)
    with pytest.warns(UserWarning, match="biased"):
        process.sample(lambda mu, t: mu, jax.random.key(0), 2, (1,), num_steps=3)


def test_linear_pair_map_round_trips_and_rounds_counts():
    for name in ("normal_normal", "gamma_poisson", "dirichlet_categorical"):
        pair = pmm_ppl.get_pair(name, **({"num_classes": 3} if name.startswith("dirichlet") else {}))
        x = pair.sample_data(jax.random.key(1), (4,))
        a = jnp.asarray([0.0, 0.5, 3.0, 40.0])
        a_b = a.reshape((4,) + (1,) * (x.ndim - 1 - pair.event_ndim))
        state = pair.flow(jax.random.key(2), x, a_b)
        s = pair.statistic_from_mean(pair.mean(state), a)
        back = pair.state_from_statistic(s, a)
        np.testing.assert_allclose(np.asarray(back.mean), np.asarray(state.mean), rtol=1e-5, atol=1e-6)
        assert float(jnp.abs(s[0]).max()) == 0.0  # A = 0: no observation yet
        if pair.statistic_is_discrete:
            np.testing.assert_array_equal(np.asarray(s), np.round(np.asarray(s)))

"""The plug-in PMM sampler: shapes, alpha = 0 no-ops, determinism, one compiled scan per T,
conditioning, token decoding, and -- with the exact oracle -- a 2-point target for Normal-Normal.

(The convergence of the sampler to the target as the steps shrink is tested with the oracles in
test_oracles.py; here only one fixed-T check.)"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from pmm_ppl import PMMInputError, get_pair
from pmm_ppl.process.oracles import empirical_oracle, gaussian_mixture_oracle
from pmm_ppl.process.sampler import Inpaint, Prefix, _run, decode_tokens, sample
from pmm_ppl.process.schedules import GeometricSchedule, PowerSchedule

NN = get_pair("normal_normal")
GP = get_pair("gamma_poisson")
DC = get_pair("dirichlet_categorical", num_classes=4)
DM = get_pair("dirichlet_multinomial", num_classes=3)
KEY = jax.random.PRNGKey(0)


def identity(mu, t):
    return mu


def positive(mu, t):
    return jnp.maximum(mu, 0.0)


@dataclasses.dataclass(frozen=True)
class FixedSteps:
    """A schedule given by its step accuracies (some zero), on a uniform grid."""

    alphas: tuple

    def discretise(self, num_steps, integer=False):
        assert num_steps == len(self.alphas)
        return jnp.linspace(0.0, 1.0, num_steps + 1), jnp.asarray(self.alphas, jnp.float32)


@pytest.mark.parametrize(
    "pair, data_shape, den",
    [(NN, (3, 2), identity), (GP, (4,), positive), (DC, (3, 4), identity)],
    ids=["normal", "gamma_poisson", "dirichlet"],
)
def test_shapes_trajectory_and_support(pair, data_shape, den):
    schedule = GeometricSchedule(a_max=50.0)
    out, traj = sample(pair, den, KEY, 5, data_shape, schedule, 6, return_trajectory=True, output="mean")
    assert out.shape == (5,) + data_shape and traj.shape == (7, 5) + data_shape
    np.testing.assert_allclose(np.asarray(traj[0]), np.broadcast_to(np.asarray(pair.prior_mean), (5,) + data_shape), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(traj[-1]), np.asarray(out))  # same key: the final mean
    denoised = sample(pair, den, KEY, 5, data_shape, schedule, 6)
    assert denoised.shape == (5,) + data_shape and np.all(np.isfinite(np.asarray(denoised)))
    if pair is GP:
        assert np.all(np.asarray(traj) >= 0)
    if pair is DC:  # Poissonised Dirichlet: per-class Gamma posterior means, non-negative
        assert np.all(np.asarray(traj) >= 0)


def test_zero_accuracy_steps_are_no_ops():
    """Normal-Normal would produce inf/NaN observations at alpha = 0; the state must carry over."""
    schedule = FixedSteps((1.0, 0.0, 2.0, 0.0, 0.0, 3.0))
    _, traj = sample(NN, identity, KEY, 8, (2,), schedule, 6, return_trajectory=True)
    traj = np.asarray(traj)
    assert np.all(np.isfinite(traj))
    for i, a in enumerate(schedule.alphas):
        same = np.array_equal(traj[i + 1], traj[i])
        assert same == (a == 0.0), i


def test_integer_pair_zero_steps():
    """Dirichlet-multinomial: integer accuracies (some 0); 0-trial steps leave the state unchanged."""
    schedule = PowerSchedule(a_max=5.0)
    _, alphas = schedule.discretise(20, integer=True)
    out, traj = sample(DM, identity, KEY, 16, (3,), schedule, 20, return_trajectory=True, output="mean")
    traj = np.asarray(traj)
    zero = np.asarray(alphas) == 0
    assert zero.sum() == 15
    np.testing.assert_array_equal(traj[1:][zero], traj[:-1][zero])
    assert np.all(np.any(traj[1:][~zero] != traj[:-1][~zero], axis=(1, 2)))
    # after 5 trials in total, C = c0 + 5 and C * mu - a0 are whole counts summing to 5
    counts = (DM.prior_weight + 5.0) * np.asarray(out) - np.asarray(DM.concentration)
    np.testing.assert_allclose(counts, np.round(counts), atol=1e-4)
    np.testing.assert_allclose(counts.sum(-1), 5.0, atol=1e-4)


def test_deterministic_given_key():
    schedule = GeometricSchedule(a_max=20.0)
    a = sample(NN, identity, KEY, 4, (3,), schedule, 5)
    b = sample(NN, identity, KEY, 4, (3,), schedule, 5)
    c = sample(NN, identity, jax.random.PRNGKey(1), 4, (3,), schedule, 5)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.allclose(np.asarray(a), np.asarray(c))


def test_one_compiled_scan_per_step_count():
    """New keys or schedules with the same T reuse the compiled program; the program does not
    grow with T (the chain is a scan, not an unrolled loop)."""

    def den(mu, t):  # a fresh function: its own cache entries
        return 0.5 * mu

    before = _run._cache_size()
    sample(NN, den, KEY, 4, (2,), GeometricSchedule(a_max=10.0), 3)
    sample(NN, den, jax.random.PRNGKey(7), 4, (2,), PowerSchedule(a_max=99.0, power=2.0), 3)
    assert _run._cache_size() == before + 1
    sample(NN, den, KEY, 4, (2,), GeometricSchedule(a_max=10.0), 9)
    assert _run._cache_size() == before + 2

    def hlo_lines(T):
        t_grid, alphas = GeometricSchedule(a_max=10.0).discretise(T)
        static = dict(pair=NN, den_static=(jax.tree_util.tree_structure(den), (den,)), state_batch=(4, 2), output="denoised", return_trajectory=False, sampler="plug_in")
        return len(_run.lower([None], KEY, t_grid, alphas, None, **static).as_text().splitlines())

    assert hlo_lines(4) == hlo_lines(64)


def test_denoiser_array_leaves_are_arguments():
    """A denoiser carrying arrays (jax.tree_util.Partial) is not baked in: new weights, no recompile."""

    def scaled(w, mu, t):
        return w * mu

    schedule = GeometricSchedule(a_max=10.0)
    before = _run._cache_size()
    a = sample(NN, jax.tree_util.Partial(scaled, jnp.float32(0.0)), KEY, 4, (2,), schedule, 3)
    b = sample(NN, jax.tree_util.Partial(scaled, jnp.float32(1.0)), KEY, 4, (2,), schedule, 3)
    assert _run._cache_size() == before + 1
    np.testing.assert_array_equal(np.asarray(a), 0.0)
    assert np.all(np.asarray(b) != 0.0)


def test_two_point_target_with_exact_oracle():
    """p* = 0.3 delta(-1) + 0.7 delta(1): P(x > 0) within 4 SE of 0.7, samples at +-1."""
    schedule = GeometricSchedule(a_max=1e3)
    oracle = gaussian_mixture_oracle(NN, schedule, jnp.array([0.3, 0.7]), jnp.array([[-1.0], [1.0]]), 0.0)
    n = 4000
    x = np.asarray(sample(NN, oracle, jax.random.PRNGKey(3), n, (1,), schedule, 100))[:, 0]
    frac = (x > 0).mean()
    assert abs(frac - 0.7) < 4 * np.sqrt(0.7 * 0.3 / n), frac
    np.testing.assert_allclose(np.abs(x), 1.0, atol=1e-3)


def test_inpainting_known_coordinate_and_independent_free_coordinate():
    """Product target (x1, x2 independent 2-point laws): replacement conditioning is exact here.
    The known coordinate's mean converges to the value (s.d. 1/sqrt(1 + A_max) within 10%), the
    denoised output equals it, and x2 keeps its marginal (within 4 SE)."""
    schedule = GeometricSchedule(a_max=1e3)
    p1, p2 = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    grid = np.array([[a, b] for a in (-1.0, 1.0) for b in (-1.0, 1.0)])
    weights = np.outer(p1, p2).ravel()
    oracle = gaussian_mixture_oracle(NN, schedule, jnp.asarray(weights), jnp.asarray(grid), 0.0)
    cond = Inpaint(np.array([True, False]), np.array([1.0, 0.0]))
    n = 4000
    key = jax.random.PRNGKey(4)
    x = np.asarray(sample(NN, oracle, key, n, (2,), schedule, 100, condition=cond))
    mu = np.asarray(sample(NN, oracle, key, n, (2,), schedule, 100, condition=cond, output="mean"))
    np.testing.assert_array_equal(x[:, 0], 1.0)
    sd = 1.0 / np.sqrt(1.0 + 1e3)  # mu_1 | x_1 ~ N(g x_1, g(1-g)), g = A/(1+A)
    assert abs(mu[:, 0].mean() - 1e3 / (1 + 1e3)) < 4 * sd / np.sqrt(n)
    assert abs(mu[:, 0].std() / sd - 1.0) < 0.1
    frac = (x[:, 1] > 0).mean()
    assert abs(frac - 0.75) < 4 * np.sqrt(0.75 * 0.25 / n), frac


def test_inpainting_dependent_target_is_pulled_to_the_conditional():
    """p* = 1/2 N((2,2), I/4) + 1/2 N((-2,-2), I/4), x1 = 2: exactly, x2 is in the + component with
    probability 1 - 1e-14.  Replacement conditioning is an approximation (module docstring):
    assert it moves x2 from the unconditional 0.5 to > 0.85, with the known coordinate exact."""
    schedule = GeometricSchedule(a_max=1e4)
    oracle = gaussian_mixture_oracle(NN, schedule, jnp.array([0.5, 0.5]), jnp.array([[2.0, 2.0], [-2.0, -2.0]]), 0.25)
    cond = Inpaint(np.array([True, False]), np.array([2.0, 0.0]))
    x = np.asarray(sample(NN, oracle, jax.random.PRNGKey(5), 4000, (2,), schedule, 100, condition=cond))
    np.testing.assert_array_equal(x[:, 0], 2.0)
    assert (x[:, 1] > 0).mean() > 0.85


def test_prefix_equals_inpaint_and_fixes_tokens():
    """Token prefix: same draws as Inpaint with one-hot values on the first positions; the decoded
    prefix equals the tokens and the posterior means' argmax there too."""
    pair = get_pair("dirichlet_categorical", num_classes=3, noise=0.1)
    schedule = GeometricSchedule(a_max=40.0, scale=pair.prior_weight)
    rows = jax.nn.one_hot(jnp.array([[0, 1, 2, 1], [2, 2, 0, 0], [1, 0, 1, 2]]), 3)
    oracle = empirical_oracle(pair, schedule, rows)
    tokens = np.array([2, 2])
    mask = np.zeros((4, 3), bool)
    mask[:2] = True
    values = np.zeros((4, 3), np.float32)
    values[:2] = np.eye(3)[tokens]
    key = jax.random.PRNGKey(6)
    a, traj_a = sample(pair, oracle, key, 64, (4, 3), schedule, 40, condition=Prefix(tokens), return_trajectory=True)
    b, traj_b = sample(pair, oracle, key, 64, (4, 3), schedule, 40, condition=Inpaint(mask, values), return_trajectory=True)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(traj_a), np.asarray(traj_b))
    np.testing.assert_array_equal(np.asarray(decode_tokens(a))[:, :2], np.broadcast_to(tokens, (64, 2)))
    mu = traj_a[-1]
    np.testing.assert_array_equal(np.asarray(decode_tokens(mu))[:, :2], np.broadcast_to(tokens, (64, 2)))
    # the only row with this prefix is [2, 2, 0, 0]: the free positions follow it in most samples
    assert (np.asarray(decode_tokens(a))[:, 2:] == 0).all(-1).mean() > 0.8


def test_decode_tokens():
    probs = jnp.array([[0.2, 0.8], [0.6, 0.4]])
    np.testing.assert_array_equal(np.asarray(decode_tokens(probs)), [1, 0])
    n = 20000
    draws = decode_tokens(jnp.broadcast_to(jnp.array([0.2, 0.8]), (n, 2)), "categorical", jax.random.PRNGKey(0))
    frac = float(draws.mean())
    assert abs(frac - 0.8) < 4 * np.sqrt(0.16 / n)
    with pytest.raises(PMMInputError, match="key"):
        decode_tokens(probs, "categorical")
    with pytest.raises(PMMInputError, match="method"):
        decode_tokens(probs, "top_k")


SCHED = GeometricSchedule(a_max=10.0)


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        (dict(num_samples=0), "num_samples"),
        (dict(num_samples=2.0), "num_samples"),
        (dict(num_steps=0), "num_steps"),
        (dict(data_shape=(2, 0)), "data_shape"),
        (dict(data_shape="ab"), "data_shape"),
        (dict(output="final"), "output"),
        (dict(schedule=10.0), "schedule"),
        (dict(denoiser=3), "denoiser"),
        (dict(pair="normal_normal"), "pair"),
        (dict(key=0), "key"),
        (dict(pair=DC, data_shape=(3, 5)), "data_shape"),
        (dict(condition=Inpaint(np.ones(3, bool), np.zeros(3))), "condition"),
        (dict(condition=Inpaint(np.array([True, False]), np.array([np.nan, 0.0]))), "condition.values"),
        (dict(pair=GP, denoiser=positive, condition=Inpaint(np.array([True, False]), np.array([-1.0, 0.0]))), "condition.values"),
        (dict(condition=Prefix(np.array([0]))), "condition"),
        (dict(pair=DC, data_shape=(2, 4), condition=Prefix(np.array([0, 1, 2]))), "condition.tokens"),
        (dict(pair=DC, data_shape=(2, 4), condition=Prefix(np.array([4]))), "condition.tokens"),
        (dict(pair=DC, data_shape=(2, 4), condition=Inpaint(np.array([True, False, False, False]), np.eye(4)[0])), "condition.mask"),
        (dict(condition="x1=0"), "condition"),
    ],
)
def test_validation(kwargs, arg):
    args = dict(pair=NN, denoiser=identity, key=KEY, num_samples=3, data_shape=(2,), schedule=SCHED, num_steps=4)
    args.update(kwargs)
    with pytest.raises(PMMInputError, match=arg):
        sample(**args)

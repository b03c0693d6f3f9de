"""Denoiser networks: shapes, output supports, Normal preconditioning, training, sizes."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from pmm_ppl import PMMInputError, get_pair, list_pairs
from pmm_ppl.nets import (
    MLP,
    NormalPreconditioned,
    Transformer,
    UNet,
    apply_head,
    count_params,
    forward_flops,
    head_for_pair,
    make_denoiser,
)
from pmm_ppl.nets.embedding import conditioning_value
from pmm_ppl.nets.heads import head_support_ok


@dataclasses.dataclass(frozen=True)
class _Power:
    """Minimal schedule (protocol: A(t)); A(t) = a_max t^p."""

    a_max: float = 50.0
    p: float = 2.0

    def A(self, t):
        return self.a_max * jnp.asarray(t) ** self.p


T3 = jnp.array([0.0, 0.5, 1.0])


def key(i):
    """RBG keys: threefry sampling programs take ~1.5 s CPU each to compile on XLA:CPU, RBG ~0.15 s."""
    return jax.random.key(i, impl="rbg")


def rngs(i=0):
    return nnx.Rngs(key(i))


# ---------------------------------------------------------------- shapes
@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda r: MLP((3,), width=16, depth=2, emb_dim=8, rngs=r), (3,)),
        (lambda r: UNet((8, 8), channels=(8, 16), groups=4, emb_dim=16, rngs=r), (8, 8)),
        (lambda r: UNet((28, 28), channels=(8, 8, 16), groups=4, emb_dim=16, rngs=r), (28, 28)),
        (lambda r: UNet((8, 8, 3), channels=(8, 16), attention=False, groups=4, emb_dim=16, rngs=r), (8, 8, 3)),
        (lambda r: Transformer((6, 5), d_model=16, num_layers=2, num_heads=2, emb_dim=16, rngs=r), (6, 5)),
        (lambda r: Transformer((6, 5), d_model=16, num_layers=1, num_heads=2, emb_dim=16, positions="sinusoidal", rngs=r), (6, 5)),
    ],
    ids=["mlp", "unet8", "unet28", "unet8x8x3", "transformer", "transformer-sin"],
)
def test_output_shape_and_finite(make, shape):
    net = make(rngs(0))
    mu = jax.random.normal(key(1), (3,) + shape)
    # one jit per network: the batch holds mu twice, with t reversed the second time
    out = nnx.jit(lambda n, m, t: n(m, t))(net, jnp.concatenate([mu, mu]), jnp.concatenate([T3, T3[::-1]]))
    assert out.shape == (6,) + shape
    assert bool(jnp.all(jnp.isfinite(out)))
    # the output depends on t (conditioning is wired in)
    assert float(jnp.max(jnp.abs(out[:3] - out[3:]))) > 1e-6


def test_unet_dropout_only_in_training_with_a_fresh_mask_per_key():
    from pmm_ppl.train.step import split_net, training_view

    def build(rate):
        net = UNet((8, 8), channels=(8,), attention=False, groups=4, emb_dim=8, dropout=rate, rngs=rngs(0))
        params, rebuild = split_net(net)
        return jax.tree_util.tree_map(lambda v: v + 0.05, params), rebuild  # non-zero everywhere

    params, rebuild = build(0.5)
    plain_params, plain_rebuild = build(0.0)
    plain_net = plain_rebuild(plain_params)
    assert training_view(plain_net, key(3)) is plain_net  # no dropout: nothing to switch on
    # the same weights (dropout adds none)
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(plain_params)
    mu, t = jax.random.normal(key(1), (2, 8, 8)), T3[1:]

    @jax.jit  # one compile for every output compared below
    def outputs(p, q):
        trained = [training_view(rebuild(p), k)(mu, t) for k in (key(3), key(3), key(4))]
        return rebuild(p)(mu, t), plain_rebuild(q)(mu, t), *trained

    evaluated, plain, a, a2, b = outputs(params, plain_params)
    # evaluation never drops: it is the dropout-free net exactly
    np.testing.assert_array_equal(np.asarray(evaluated), np.asarray(plain))
    # training: a mask drawn from the step's key, reproducible, different for another key
    np.testing.assert_array_equal(np.asarray(a), np.asarray(a2))
    assert float(jnp.abs(a - b).max()) > 1e-3 and float(jnp.abs(a - plain).max()) > 1e-3


def test_unet_rejects_bad_shape():
    with pytest.raises(ValueError, match="data_shape"):
        UNet((8,), rngs=rngs(0))
    for rate in (-0.1, 1.0):
        with pytest.raises(ValueError, match="dropout"):
            UNet((8, 8), dropout=rate, rngs=rngs(0))


# ---------------------------------------------------------------- heads
@pytest.mark.parametrize("name", list_pairs())
def test_every_pair_head_contains_its_prior_draws(name):
    """The head a pair names (``output_head``) covers its data: prior draws lie in the head's support."""
    pair = get_pair(name)
    if pair.output_head is None:
        with pytest.raises(PMMInputError, match="no default output head"):
            head_for_pair(pair)
        return
    x = pair.sample_data(key(11), (64,))
    if pair.output_head == "simplex":  # the Poissonised Dirichlet's draws are unnormalised concentrations
        x = x / x.sum(-1, keepdims=True)
    assert bool(head_support_ok(head_for_pair(pair), x, atol=1e-4))


def test_head_for_pair_table():
    expect = {
        "normal_normal": "real", "mvn_normal": "real", "gamma_poisson": "positive",
        "gamma_exponential": "positive", "gamma_gamma": "positive", "dirichlet_categorical": "simplex",
        "dirichlet_multinomial": "simplex", "beta_binomial": "unit",
    }
    for name, head in expect.items():
        assert head_for_pair(name) == head
    assert head_for_pair(get_pair("gamma_poisson")) == "positive"
    with pytest.raises(PMMInputError, match="unknown conjugate pair"):
        head_for_pair("weibull_thing")
    with pytest.raises(PMMInputError, match="normal_gamma"):
        head_for_pair("normal_gamma")
    with pytest.raises(PMMInputError, match="head"):
        apply_head("bogus", jnp.zeros(3))


def test_heads_respect_support():
    h = 30.0 * jax.random.normal(key(0), (64, 7))  # large logits stress saturation
    assert bool(jnp.all(apply_head("positive", h) >= 0))
    assert bool(jnp.all(apply_head("positive", h - 100.0) >= 0))
    u = apply_head("unit", h)
    assert bool(jnp.all((u >= 0) & (u <= 1)))
    s = apply_head("simplex", h)
    assert bool(jnp.all(s >= 0))
    np.testing.assert_allclose(np.asarray(s.sum(-1)), 1.0, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(apply_head("real", h)), np.asarray(h))


def test_nets_with_heads_respect_support():
    r = rngs(0)
    tr = make_denoiser("dirichlet_categorical", (6, 5), d_model=16, num_layers=1, num_heads=2, emb_dim=16, seed=0, rng_impl="rbg")
    assert isinstance(tr, Transformer)
    mu = jax.nn.softmax(3 * jax.random.normal(key(2), (3, 6, 5)), -1)
    p = tr(mu, T3)
    assert bool(jnp.all(p >= 0))
    np.testing.assert_allclose(np.asarray(p.sum(-1)), 1.0, atol=1e-5)
    pos = MLP((4,), width=16, depth=1, emb_dim=8, head="positive", rngs=r)
    assert bool(jnp.all(pos(100.0 * jax.random.normal(key(3), (3, 4)), T3) >= 0))
    unit = make_denoiser("beta_binomial", (4,), width=16, depth=1, emb_dim=8, rng_impl="rbg")
    v = unit(jax.random.uniform(key(4), (3, 4)), T3)
    assert bool(jnp.all((v >= 0) & (v <= 1)))


# ---------------------------------------------------------------- preconditioning
def _bayes_linear_reference(mu, A, mu0, rho0):
    """E[x | mu] for x ~ N(0, 1) with mu | x ~ N(g x + (1-g) mu0, g(1-g)/rho0), g = A/(rho0 + A):
    jointly Gaussian, so E[x|mu] = Cov(x, mu)/Var(mu) (mu - E mu) with Cov = g, Var = g^2 + g(1-g)/rho0."""
    g = A / (rho0 + A)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(A > 0, g / (g**2 + g * (1 - g) / rho0), 0.0)
    return slope * (mu - (1 - g) * mu0)


def test_preconditioned_zero_init_is_bayes_linear_estimate():
    pair = get_pair("normal_normal", prior_mean_value=0.3, prior_precision=2.0)
    sched = _Power()
    net = make_denoiser(pair, (5,), schedule=sched, precondition=True, data_mean=0.0, data_std=1.0,
                        width=16, depth=1, emb_dim=8, rng_impl="rbg")
    assert isinstance(net, NormalPreconditioned)
    t = jnp.array([0.0, 0.05, 0.3, 1.0])
    mu = jax.random.normal(key(5), (4, 5))
    out = np.asarray(net(mu, t))
    ref = _bayes_linear_reference(np.asarray(mu, np.float64), np.asarray(sched.A(t), np.float64)[:, None], 0.3, 2.0)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_preconditioning_monte_carlo():
    """Independent check on samples from the pair's own flow: regressing x on mu gives the skip
    term's slope, and the network input c_in (z - m) has unit variance."""
    from pmm_ppl.nets.precondition import normal_preconditioning

    pair = get_pair("normal_normal", prior_mean_value=-0.5, prior_precision=0.5)
    A, n = 3.0, 200_000
    kx, kf = jax.random.split(key(6))
    x = 1.5 + 0.7 * jax.random.normal(kx, (n,))  # data N(1.5, 0.7^2)
    mu = pair.flow(kf, x, A).mean
    skip, x_in, c_out = normal_preconditioning(pair, mu, A, 1.5, 0.7)
    xs, ms, ks = (np.asarray(v, np.float64) for v in (x, mu, skip))
    slope, intercept = np.polyfit(ms, xs, 1)  # least-squares E[x | mu] (exactly linear here)
    np.testing.assert_allclose(ks, slope * ms + intercept, atol=0.01)
    assert abs(np.var(np.asarray(x_in)) - 1.0) < 0.02  # 200k samples: sd of var estimate ~0.003
    # c_out^2 is the posterior variance Var(x | mu) = residual variance of the regression
    resid = xs - (slope * ms + intercept)
    assert abs(float(c_out) ** 2 / np.var(resid) - 1.0) < 0.02


def test_preconditioning_default_skip_is_mu_and_rejects_non_normal():
    pair = get_pair("normal_normal", prior_mean_value=0.2, prior_precision=4.0)
    net = make_denoiser(pair, (3,), schedule=_Power(), precondition=True, width=8, depth=1, emb_dim=8, rng_impl="rbg")
    mu = jax.random.normal(key(7), (3, 3))
    t = jnp.array([0.1, 0.5, 1.0])
    np.testing.assert_allclose(np.asarray(net(mu, t)), np.asarray(mu), atol=1e-5)
    # at A = 0 the state carries no information: the estimate is the data mean whatever mu is
    np.testing.assert_allclose(np.asarray(net(mu, jnp.zeros(3))), 0.2, atol=1e-6)
    with pytest.raises(PMMInputError, match="precondition"):
        make_denoiser("gamma_poisson", (3,), schedule=_Power(), precondition=True)
    with pytest.raises(PMMInputError, match="pair"):
        NormalPreconditioned(MLP((3,), width=8, depth=1, emb_dim=8, rngs=rngs(0)), get_pair("gamma_poisson"), _Power())


def test_log_accuracy_conditioning_finite_at_zero():
    c = conditioning_value(T3, "log_accuracy", _Power())
    assert bool(jnp.all(jnp.isfinite(c)))
    net = MLP((3,), width=8, depth=1, emb_dim=8, conditioning="log_accuracy", schedule=_Power(), rngs=rngs(0))
    assert bool(jnp.all(jnp.isfinite(net(jnp.zeros((3, 3)), T3))))
    with pytest.raises(ValueError, match="schedule"):
        MLP((3,), conditioning="log_accuracy", rngs=rngs(0))


# ---------------------------------------------------------------- training
def test_jit_grad_optax_reduces_loss():
    """A preconditioned MLP learns a tiny regression target; the whole step is one jit."""
    pair = get_pair("normal_normal")
    net = make_denoiser(pair, (2,), schedule=_Power(), precondition=True, width=32, depth=2, emb_dim=16, seed=1, rng_impl="rbg")
    opt = nnx.Optimizer(net, optax.adam(3e-3), wrt=nnx.Param)
    k1, k2 = jax.random.split(key(8))
    mu = jax.random.normal(k1, (128, 2))
    t = jax.random.uniform(k2, (128,))
    target = jnp.sin(2 * mu) * t[:, None] + 0.5

    @nnx.jit
    def step(net, opt, mu, t, target):
        def loss_fn(net):
            return jnp.mean((net(mu, t) - target) ** 2)

        loss, grads = nnx.value_and_grad(loss_fn)(net)
        opt.update(net, grads)
        return loss

    losses = [float(step(net, opt, mu, t, target)) for _ in range(60)]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < 0.3 * losses[0], (losses[0], losses[-1])


# ---------------------------------------------------------------- sizes
def test_count_params_exact_for_mlp():
    d, w, depth, e, f = 3, 16, 2, 8, 64  # f = 2 * num_frequencies (default 32 frequencies)
    net = MLP((d,), width=w, depth=depth, emb_dim=e, rngs=rngs(0))
    embed = f * e + e + e * e + e
    block = 2 * w + (w * w + w) + (e * w + w) + (w * w + w)
    expect = embed + (d * w + w) + depth * block + 2 * w + (w * d + d)
    assert count_params(net) == expect


def test_param_counts_sane_and_flops():
    # abstract modules (nnx.eval_shape): shapes only, no initialisation work
    small = nnx.eval_shape(lambda: UNet((8, 8), channels=(16, 32), emb_dim=32, rngs=rngs(0)))
    big = nnx.eval_shape(lambda: UNet((28, 28), channels=(32, 64, 128), rngs=rngs(0)))
    assert 5e4 < count_params(small) < count_params(big) < 1e7
    d, w = 4, 32
    mlp = MLP((d,), width=w, depth=1, emb_dim=8, rngs=rngs(0))
    flops = forward_flops(mlp, (d,), batch_size=16)
    # matmul FLOPs (2 per multiply-add): embedding 64x8, 8x8; in d x w; block w x w, 8 x w, w x w; out w x d
    macs = 64 * 8 + 8 * 8 + d * w + (w * w + 8 * w + w * w) + w * d
    assert flops is not None and 2 * 16 * macs <= flops <= 2 * 2 * 16 * macs

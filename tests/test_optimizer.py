"""The optimisers of ``TrainConfig.optimizer``: AdamW everywhere, or Muon on the hidden weight matrices that the
nets' blocks declare (``HIDDEN_MATRICES``) and AdamW on the rest.

References: the polar factor ``U V^T`` of the gradient from numpy's SVD (Muon's first step is its Newton-Schulz
approximation, scaled by ``0.2 sqrt(max(m, n))`` and the learning rate), and ``optax.adamw`` with Nesterov
momentum for every other leaf.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from pmm_ppl.conjugate.validation import PMMInputError
from pmm_ppl.nets.dilated_conv import DilatedConvNet
from pmm_ppl.nets.hidden_matrices import hidden_matrix_paths, path_strings
from pmm_ppl.nets.mlp import MLP
from pmm_ppl.nets.transformer import Transformer
from pmm_ppl.nets.unet import UNet
from pmm_ppl.train.models import load_spec
from pmm_ppl.train.spec import TrainConfig
from pmm_ppl.train.step import MUON_CONSISTENT_RMS, make_optimizer, muon_dimension_numbers, split_net

HIDDEN = ("blocks", "0", "conv", "kernel")
LR = 1e-2  # the schedule's value at step 0 when there is no warm-up


def _params():
    """A params dict as ``split_net`` gives it (``nnx.List`` items under int keys)."""
    keys = jax.random.split(jax.random.key(0), 4)
    return {"blocks": {0: {"conv": {"kernel": jax.random.normal(keys[0], (3, 8, 16)),
                                    "bias": jax.random.normal(keys[1], (16,))}}},
            "head": {"kernel": jax.random.normal(keys[2], (16, 4)), "bias": jnp.zeros(4)}}


def _first_update(optimizer, params, grads):
    updates, _ = optimizer.update(grads, optimizer.init(params), params)
    return updates


def _config(**kw):
    return TrainConfig(**{"learning_rate": LR, "warmup_steps": 0, "clip_norm": 1e9, "decay_steps": 1000, **kw})


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_muon_orthogonalises_the_hidden_matrices_and_leaves_the_rest_to_adamw(weight_decay):
    """First step from zero momentum: the hidden (3, 8, 16) kernel W, as the 24 x 16 matrix G of its gradient, moves
    by -lr (0.2 sqrt(24) orth(G) + lambda W), with orth(G) close to the polar factor U V^T of numpy's SVD (cosine
    > 0.97, every singular value in [0.6, 1.25], the Newton-Schulz quintic's band); every other leaf moves exactly
    as under ``optax.adamw(nesterov=True)`` with the same decay (rtol 1e-5; Adam's first step with Nesterov momentum
    is 1.47 lr, not lr)."""
    params = _params()
    grads = jax.tree_util.tree_map(lambda x: jax.random.normal(jax.random.key(7), x.shape), params)
    updates = _first_update(make_optimizer(_config(optimizer="muon", weight_decay=weight_decay), frozenset({HIDDEN})),
                            params, grads)

    w = np.asarray(params["blocks"][0]["conv"]["kernel"]).reshape(24, 16)
    g = np.asarray(grads["blocks"][0]["conv"]["kernel"]).reshape(24, 16)
    u, _, vt = np.linalg.svd(g, full_matrices=False)
    polar = u @ vt
    moved = -np.asarray(updates["blocks"][0]["conv"]["kernel"]).reshape(24, 16) / LR - weight_decay * w
    orth = moved / (MUON_CONSISTENT_RMS * np.sqrt(24))
    assert np.sum(orth * polar) / (np.linalg.norm(orth) * np.linalg.norm(polar)) > 0.97
    sv = np.linalg.svd(orth, compute_uv=False)
    assert 0.6 < sv.min() and sv.max() < 1.25

    reference = _first_update(optax.adamw(LR, weight_decay=weight_decay, nesterov=True), params, grads)
    for get in (lambda t: t["blocks"][0]["conv"]["bias"], lambda t: t["head"]["kernel"], lambda t: t["head"]["bias"]):
        np.testing.assert_allclose(np.asarray(get(updates)), np.asarray(get(reference)), rtol=1e-5, atol=1e-9)


def _newton_schulz(g: np.ndarray, steps: int, preconditioning: str) -> np.ndarray:
    """Muon's orthogonalisation in float64, written from its definition (Jordan 2024; Schatten-4 scaling as in
    Grishina et al. 2025, arXiv 2506.10935): the wide view X of ``g``, scaled by its Frobenius norm or by its
    Schatten-4 norm ||X X^T||_F^(1/2), then ``steps`` times X <- a X + (b A + c A^2) X with A = X X^T."""
    a, b, c = 3.4445, -4.775, 2.0315
    x = g.T if g.shape[0] > g.shape[1] else g
    if preconditioning == "frobenius":
        x = x / np.linalg.norm(x)
    else:
        x = x / np.sqrt(np.linalg.norm(x @ x.T))
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if g.shape[0] > g.shape[1] else x


@pytest.mark.parametrize("steps, preconditioning", [(5, "frobenius"), (3, "schatten"), (2, "schatten")])
def test_muon_takes_its_newton_schulz_settings(steps, preconditioning):
    """``muon_ns_steps`` and ``muon_preconditioning`` reach the orthogonalisation: the hidden kernel's first update
    is -lr 0.2 sqrt(24) NS(G) (no weight decay) with NS the iteration written out in float64 (atol 1e-3 on entries
    of about 0.2: float32 rounding grows through the quintic), and the three settings
    give updates that differ by more than 1% of their norm (so the comparison tells them apart)."""
    params = _params()
    grads = jax.tree_util.tree_map(lambda x: jax.random.normal(jax.random.key(7), x.shape), params)
    g = np.asarray(grads["blocks"][0]["conv"]["kernel"], np.float64).reshape(24, 16)

    def moved(cfg):
        updates = _first_update(make_optimizer(cfg, frozenset({HIDDEN})), params, grads)
        return -np.asarray(updates["blocks"][0]["conv"]["kernel"]).reshape(24, 16) / (LR * MUON_CONSISTENT_RMS
                                                                                       * np.sqrt(24))

    got = moved(_config(optimizer="muon", muon_ns_steps=steps, muon_preconditioning=preconditioning, weight_decay=0.0))
    np.testing.assert_allclose(got, _newton_schulz(g, steps, preconditioning), atol=1e-3)
    for other in {(5, "frobenius"), (3, "schatten"), (2, "schatten")} - {(steps, preconditioning)}:
        assert np.linalg.norm(got - _newton_schulz(g, *other)) > 1e-2 * np.linalg.norm(got)


def test_bad_muon_settings_are_refused():
    with pytest.raises(PMMInputError, match="muon_ns_steps: must be an integer >= 1, got 0"):
        TrainConfig(optimizer="muon", muon_ns_steps=0)
    with pytest.raises(PMMInputError, match="muon_preconditioning: must be one of frobenius, spectral, aol, schatten"):
        TrainConfig(optimizer="muon", muon_preconditioning="svd")


def test_muon_settings_shape_the_trajectory_only_under_muon():
    """A resume compares ``TrainConfig.trajectory``: Muon's own settings are in it under Muon, not under AdamW (where
    they change nothing)."""
    assert TrainConfig(optimizer="muon", muon_ns_steps=3).trajectory()["muon_ns_steps"] == 3
    assert TrainConfig(optimizer="adamw", muon_ns_steps=3).trajectory() == TrainConfig(optimizer="adamw").trajectory()


def test_a_declared_matrix_missing_from_the_parameters_is_refused():
    """A path that matches no parameter (a renamed layer) is an error, not a matrix silently left to AdamW."""
    params = _params()
    with pytest.raises(PMMInputError, match="hidden matrices not among the parameters: blocks/0/conv/weight"):
        muon_dimension_numbers(params, frozenset({HIDDEN, ("blocks", "0", "conv", "weight")}))


def test_muon_without_declared_matrices_is_refused():
    with pytest.raises(PMMInputError, match="the net declares no hidden weight matrices"):
        make_optimizer(TrainConfig(optimizer="muon"))


def test_an_unknown_optimizer_is_refused():
    with pytest.raises(PMMInputError, match="optimizer: must be one of adamw, muon, got 'sgd'"):
        TrainConfig(optimizer="sgd")


@pytest.mark.parametrize("build, expected", [
    (lambda r: DilatedConvNet((32, 5), width=16, num_blocks=3, kernel_size=3, dilations=(1, 2), head="simplex", rngs=r),
     {(f"blocks/{i}/{name}/kernel") for i in range(3) for name in ("conv", "proj")}),
    (lambda r: DilatedConvNet((32, 5), width=16, num_blocks=3, kernel_size=3, dilations=(1, 2), ngram_buckets=64,
                              ngram_width=4, head="simplex", rngs=r),  # the n-gram tables and projection: AdamW
     {(f"blocks/{i}/{name}/kernel") for i in range(3) for name in ("conv", "proj")}),
    (lambda r: DilatedConvNet((32, 5), width=16, num_blocks=2, kernel_size=3, dilations=(1,), mlp_ratio=2,
                              num_attention=1, num_heads=2, head="simplex", rngs=r),
     {(f"blocks/{i}/{name}/kernel") for i in range(2) for name in ("conv", "proj", "mlp1", "mlp2")}
     | {"attention/0/mlp1/kernel", "attention/0/mlp2/kernel"}),
    (lambda r: MLP((2,), width=16, depth=2, rngs=r),
     {f"blocks/{i}/{name}/kernel" for i in range(2) for name in ("dense1", "dense2")}),
    (lambda r: Transformer((16, 5), d_model=16, num_layers=2, num_heads=2, mlp_ratio=2, head="simplex", rngs=r),
     {f"blocks/{i}/{name}/kernel" for i in range(2) for name in ("mlp1", "mlp2")}),
    (lambda r: UNet((8, 8), channels=(8, 16), num_res_blocks=1, attention=True, num_heads=2, groups=4, emb_dim=16,
                    rngs=r),
     {"down_blocks/0/conv1/kernel", "down_blocks/0/conv2/kernel",
      "down_blocks/1/conv1/kernel", "down_blocks/1/conv2/kernel", "down_blocks/1/skip/kernel",
      "downsamples/0/conv/kernel", "mid1/conv1/kernel", "mid1/conv2/kernel", "mid2/conv1/kernel", "mid2/conv2/kernel",
      "upsamples/0/conv/kernel"}
     | {f"up_blocks/{i}/{name}/kernel" for i in range(4) for name in ("conv1", "conv2", "skip")}),
], ids=["conv", "conv_ngrams", "conv_mlp_attention", "mlp", "transformer", "unet"])
def test_the_declared_hidden_matrices_of_each_net(build, expected):
    """Exactly the blocks' width-to-width kernels: every path is a parameter of the net of rank >= 2 (the
    embedding, time conditioning, attention projections and head are not among them)."""
    net = build(nnx.Rngs(0))
    paths = hidden_matrix_paths(net)
    assert {"/".join(p) for p in paths} == expected
    params, _ = split_net(net)
    leaves = {path_strings(path): leaf for path, leaf in jax.tree_util.tree_leaves_with_path(params)}
    assert all(leaves[p].ndim >= 2 for p in paths)


def test_the_shakespeare_model_trains_its_wrapped_blocks_with_muon():
    """Through the model's wrappers (carry-over, input map): its 2 x 12 hidden matrices get Muon's view, and the
    first update of each has RMS 0.2 lr within the Newton-Schulz band (0.6 to 1.25 of it; AdamW's first update of
    a random gradient has RMS about lr, Nesterov's 1.47 lr)."""
    spec = load_spec("shakespeare_chars", length=16, batch_size=2, warmup_steps=0, weight_decay=0.0)
    assert spec.train.optimizer == "muon"
    net = spec.make_net(0)
    paths = hidden_matrix_paths(net)
    assert len(paths) == 24 and all(p[-2] in ("conv", "proj") for p in paths)
    params, _ = split_net(net)
    dims = muon_dimension_numbers(params, paths)
    assert sum(d is not None for d in jax.tree_util.tree_leaves(dims, is_leaf=lambda x: x is None or hasattr(x, "output_axis"))) == 24
    grads = jax.tree_util.tree_map(lambda x: jax.random.normal(jax.random.key(3), x.shape), params)
    updates = _first_update(make_optimizer(spec.train, paths), params, grads)
    leaves = {path_strings(path): leaf for path, leaf in jax.tree_util.tree_leaves_with_path(updates)}
    lr = spec.train.learning_rate
    for path in paths:
        rms = float(jnp.sqrt(jnp.mean(leaves[path] ** 2)))
        assert 0.6 * 0.2 * lr < rms < 1.25 * 0.2 * lr, (path, rms / lr)

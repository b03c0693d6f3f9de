"""Non-leaking augmentation (pmm_ppl/data/augment.py) and the nets' augmentation labels.

The oracle is numpy: every output image must equal ``np.flip`` / ``np.rot90`` / ``np.roll`` of its input as
decoded from its label, and a zero label must mean the image is unchanged (what makes the augmentation
non-leaking).  The draw frequencies are checked against their laws with chi-square tests (p > 1e-3,
fixed seeds).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from scipy import stats

from pmm_ppl.conjugate.validation import PMMInputError
from pmm_ppl.data.augment import GeometricAugmentation
from pmm_ppl.nets.embedding import set_augment_labels
from pmm_ppl.nets.unet import UNet

P_MIN = 1e-3


def decode(image: np.ndarray, label: np.ndarray, size: int) -> np.ndarray:
    """Apply the operations a label of GeometricAugmentation() names, in its order (xflip, rot90, translate)."""
    if label[0] == 1.0:
        image = np.flip(image, axis=1)
    cos_minus_1, sin = label[1], label[2]
    k = {(0.0, 0.0): 0, (-1.0, 1.0): 1, (-2.0, 0.0): 2, (-1.0, -1.0): 3}[(float(cos_minus_1), float(sin))]
    image = np.rot90(image, k, axes=(0, 1))
    dx, dy = int(round(label[3] * size)), int(round(label[4] * size))
    return np.roll(image, (dy, dx), axis=(0, 1))


@pytest.fixture(scope="module")
def batch():
    return np.asarray(jax.random.normal(jax.random.key(0), (4000, 6, 6)), np.float32)


def test_every_image_is_its_label_applied_and_zero_means_unchanged(batch):
    aug = GeometricAugmentation(probability=0.5, max_shift=2)
    assert aug.num_labels == 5
    out, labels = map(np.asarray, jax.jit(aug)(jax.random.key(1), jnp.asarray(batch)))
    assert out.shape == batch.shape and labels.shape == (len(batch), 5)
    for image, label, result in zip(batch, labels, out):
        np.testing.assert_array_equal(result, decode(image, label, 6))
    unchanged = np.all(labels == 0, axis=1)
    np.testing.assert_array_equal(out[unchanged], batch[unchanged])
    assert np.all(np.any(out[~unchanged] != batch[~unchanged], axis=(1, 2)))  # a non-zero label changes the image
    # probability 0 is the identity, 1 applies every operation
    same, zero = jax.jit(GeometricAugmentation(probability=0.0))(jax.random.key(2), jnp.asarray(batch[:50]))
    np.testing.assert_array_equal(np.asarray(same), batch[:50])
    assert not np.any(np.asarray(zero))
    _, full = jax.jit(GeometricAugmentation(probability=1.0))(jax.random.key(3), jnp.asarray(batch[:50]))
    full = np.asarray(full)
    assert np.all(full[:, 0] == 1) and np.all(np.any(full[:, 1:3] != 0, axis=1)) and np.all(np.any(full[:, 3:] != 0, axis=1))


def test_draws_follow_their_laws(batch):
    p, s = 0.3, 1
    _, labels = map(np.asarray, jax.jit(GeometricAugmentation(probability=p, max_shift=s))(jax.random.key(4),
                                                                                          jnp.asarray(batch)))
    n = len(labels)
    applied = [labels[:, 0] != 0, np.any(labels[:, 1:3] != 0, axis=1), np.any(labels[:, 3:] != 0, axis=1)]
    for hits in applied:  # each operation applied with probability p, independently of the others
        assert stats.binomtest(int(hits.sum()), n, p).pvalue > P_MIN
    both = int((applied[0] & applied[2]).sum())
    assert stats.binomtest(both, n, p * p).pvalue > P_MIN
    # rot90: k uniform on {1, 2, 3}; translate: uniform on the 8 non-zero shifts of {-1, 0, 1}^2
    turns = labels[applied[1]][:, 1:3]
    counts = [np.sum(np.all(turns == np.float32(v), axis=1)) for v in ((-1, 1), (-2, 0), (-1, -1))]
    assert sum(counts) == len(turns) and stats.chisquare(counts).pvalue > P_MIN
    shifts = np.round(labels[applied[2]][:, 3:] * 6).astype(int)
    cells = np.zeros((3, 3), int)
    np.add.at(cells, (shifts[:, 1] + 1, shifts[:, 0] + 1), 1)
    assert cells[1, 1] == 0 and stats.chisquare(np.delete(cells.ravel(), 4)).pvalue > P_MIN


@pytest.mark.parametrize("kwargs, shape, match", [
    ({"probability": 1.5}, (2, 6, 6), "probability"),
    ({"probability": float("nan")}, (2, 6, 6), "probability"),
    ({"operations": ("shear",)}, (2, 6, 6), "operations"),
    ({"operations": ()}, (2, 6, 6), "operations"),
    ({"max_shift": 0}, (2, 6, 6), "max_shift"),
    ({"max_shift": 6}, (2, 6, 6), "max_shift"),
    ({}, (2, 6, 5), "square"),
    ({}, (2, 36), "images"),
])
def test_bad_augmentation_names_the_problem(kwargs, shape, match):
    with pytest.raises(PMMInputError, match=f"augment: .*{match}"):
        GeometricAugmentation(**kwargs)(jax.random.key(0), jnp.zeros(shape))


def test_net_labels_start_neutral_and_only_training_sets_them():
    net = UNet((6, 6), channels=(8,), attention=False, groups=4, emb_dim=8, augment_dim=5, rngs=nnx.Rngs(0))
    mu, t = jax.random.normal(jax.random.key(1), (3, 6, 6)), jnp.asarray([0.2, 0.5, 0.9])
    plain = np.asarray(net(mu, t))
    labels = jnp.asarray(np.eye(3, 5, dtype=np.float32))
    assert set_augment_labels(net, labels) == 1
    np.testing.assert_array_equal(np.asarray(net(mu, t)), plain)  # W_a = 0 at the start
    net.embed.augment_proj.kernel[...] = jnp.ones((5, net.embed.num_features))
    assert float(np.abs(np.asarray(net(mu, t)) - plain).max()) > 1e-4  # the labels reach the output
    set_augment_labels(net, jnp.zeros((3, 5)))
    np.testing.assert_allclose(np.asarray(net(mu, t)), plain, atol=1e-6)  # a zero label is the real data
    with pytest.raises(ValueError, match="augment"):
        set_augment_labels(net, jnp.zeros((3, 4)))
    assert set_augment_labels(UNet((6, 6), channels=(8,), attention=False, groups=4, emb_dim=8, rngs=nnx.Rngs(0)),
                              labels) == 0
    with pytest.raises(ValueError, match="augment_dim"):
        UNet((6, 6), augment_dim=-1, rngs=nnx.Rngs(0))


def test_training_with_augmentation_needs_a_net_that_takes_the_labels():
    from pmm_ppl.train.models import load_spec
    from pmm_ppl.train.step import augmented

    spec = load_spec("digits_normal", augment=0.5, arch="mlp", width=16, depth=1)
    assert spec.fingerprint()["augment"] is not None and load_spec("digits_normal").fingerprint()["augment"] is None
    x = jnp.zeros((4, 8, 8))
    net, out = augmented(spec, spec.make_net(0), jax.random.key(0), x)
    assert out.shape == x.shape and net.backbone.embed.augment_label[...].shape == (4, 5)
    unconditioned = load_spec("digits_normal", arch="mlp", width=16, depth=1).make_net(0)
    with pytest.raises(PMMInputError, match="augment: the net has no augmentation"):
        augmented(spec, unconditioned, jax.random.key(0), x)
    with pytest.raises(PMMInputError, match="augment: probability"):
        load_spec("digits_normal", augment="often")
    with pytest.raises(PMMInputError, match=r"augment: unknown settings \['prob'\]"):
        load_spec("digits_normal", augment={"prob": 0.1})
    assert GeometricAugmentation.from_setting(None) is None
    assert GeometricAugmentation.from_setting({"probability": 0.2, "max_shift": 2}) == GeometricAugmentation(0.2, 2)

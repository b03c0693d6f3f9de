"""The count prior of masked tokens (pmm_ppl/nets/count_prior.py) against counts in plain Python, and its wrapper."""

from __future__ import annotations

import numpy as np
import pytest

import jax
import jax.numpy as jnp
from flax import nnx

from pmm_ppl.conjugate.dirichlet_categorical import DirichletCategorical
from pmm_ppl.conjugate.validation import PMMInputError
from pmm_ppl.nets.count_prior import CountPrior, LazyCounts, MaskedContextCounts, context_offsets
from pmm_ppl.nets.info import fit_to_data, net_settings
from pmm_ppl.process.schedules import LogLinearSchedule

K = 5


def _text(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, K, n)
    tokens[::7] = 1  # some structure for the contexts to find
    tokens[3::7] = (tokens[2::7][: len(tokens[3::7])] + 1) % K
    return tokens


def _oracle(tokens, window, i, radius, discount):
    """p(x_i | the revealed tokens of ``window`` within ``radius`` of ``i``) by counting in plain Python."""
    offsets = [o for o in context_offsets(radius) if 0 <= i + o < len(window) and window[i + o] < K]
    text = [int(t) for t in tokens]

    def p(subset):
        lower = [1.0 / K] * K if not subset else p(subset[:-1])
        counts = [0.0] * K
        for pos in range(len(text)):
            if all(0 <= pos + o < len(text) and text[pos + o] == window[i + o] for o in subset):
                counts[text[pos]] += 1
        n, u = sum(counts), sum(c > 0 for c in counts)
        if n == 0:
            return lower
        return [(max(c - discount, 0.0) + discount * u * lo) / n for c, lo in zip(counts, lower)]

    return np.array(p(offsets))


def test_context_offsets_grow_nearest_first():
    assert context_offsets(0) == ()
    assert context_offsets(2) == (-1, 1, -2, 2)


@pytest.mark.parametrize("radius", [0, 1, 2])
def test_probs_match_counting_in_plain_python(radius):
    """Every masked position of two windows (half masked, one with a context never seen, ends of the window) gets
    the smoothed conditional of the oracle, to 1e-6; revealed positions 1/K; every row sums to 1, all mass > 0."""
    tokens, discount = _text(), 0.6
    table = MaskedContextCounts(tokens, K, radius, discount)
    rng = np.random.default_rng(1)
    windows = rng.integers(0, K, (2, 14))
    windows[rng.random(windows.shape) < 0.5] = K
    windows[0, :4] = [3, 3, 3, K]  # "3 3 3" never occurs with the structure above
    probs = table.probs(windows)
    assert probs.shape == (2, 14, K) and probs.dtype == np.float32
    checked = 0
    for b in range(2):
        for i in range(14):
            if windows[b, i] == K:
                np.testing.assert_allclose(probs[b, i], _oracle(tokens, windows[b], i, radius, discount), atol=1e-6)
                checked += 1
            else:
                np.testing.assert_allclose(probs[b, i], 1.0 / K)
    assert checked >= 10
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-6)
    assert probs.min() > 0


def test_a_text_shorter_than_some_contexts_gets_tables_all_the_same():
    """Two classes at radius 4, on a text of 6 tokens: the subsets spanning 8 or 9 positions have no context
    inside the text (empty blocks); the lookups back off to the subsets that have one."""
    table = MaskedContextCounts(np.array([0, 1, 0, 1, 0, 1]), 2, 4)
    p = table.probs(np.array([[0, 2, 0, 1, 2, 1, 0, 2, 2]]))
    np.testing.assert_allclose(p.sum(-1), 1.0, atol=1e-6)
    assert p[0, 1, 1] > 0.5 and p[0, 4, 0] > 0.5  # between 0s: 1; between 1 and 1: 0
    LazyCounts(lambda: np.zeros(3, int), 2, 4)  # settings checked without building


def test_counts_find_a_deterministic_context():
    """In a text that repeats "0 1 2 3 4", a masked position between 0 and 2 is 1 with probability
    1 - D u / n (u = 1 class seen) plus the backed-off share: above 0.99 for 600 repeats."""
    table = MaskedContextCounts(np.tile(np.arange(K), 600), K, 1, 0.75)
    p = table.probs(np.array([[0, K, 2]]))[0, 1]
    assert p.argmax() == 1 and p[1] > 0.99


def test_leading_dims_are_kept():
    table = MaskedContextCounts(_text(), K, 1)
    ids = np.full((3, 2, 6), K)
    ids[..., ::2] = 1
    assert table.probs(ids).shape == (3, 2, 6, K)
    np.testing.assert_allclose(table.probs(ids)[1, 0], table.probs(ids[1, :1])[0])


@pytest.mark.parametrize("tokens, num_classes, radius, discount, name", [
    (np.zeros((2, 3), int), K, 1, 0.5, "tokens"),
    (np.array([0, 1, 7]), K, 1, 0.5, "tokens"),
    (np.array([0.0, 1.0]), K, 1, 0.5, "tokens"),
    (np.array([0, 1]), K, 1, 1.5, "count_discount"),
    (np.array([0, 1]), K, 1, 0.0, "count_discount"),
    (np.array([0, 1]), 84, 5, 0.5, "count_radius"),
    (np.array([0, 1]), K, -1, 0.5, "count_radius"),
])
def test_bad_settings_are_refused_by_name(tokens, num_classes, radius, discount, name):
    with pytest.raises(PMMInputError, match=name):
        MaskedContextCounts(tokens, num_classes, radius, discount)


def test_lazy_counts_load_nothing_until_used_and_refuse_bad_settings_at_once():
    loads = []
    lazy = LazyCounts(lambda: loads.append(1) or _text(), K, 1)
    assert loads == [] and lazy.build_seconds == 0.0
    lazy.probs(np.array([[K, 1, 2]]))
    lazy.probs(np.array([[K, 1, 2]]))
    assert loads == [1] and lazy.build_seconds > 0
    with pytest.raises(PMMInputError, match="count_discount"):
        LazyCounts(_text, K, 1, discount=2.0)


class _Fixed(nnx.Module):
    """A denoiser whose categorical is a learned table per position (for the wrapper's tests)."""

    def __init__(self, length, classes=K):
        self.logits = nnx.Param(jax.random.normal(jax.random.key(0), (length, classes)))
        self.head = "simplex"

    def __call__(self, mu, t):
        return jnp.broadcast_to(jax.nn.softmax(self.logits[...], -1), mu.shape)


def _revealed_mu(pair, schedule, ids, t):
    """The posterior mean of the noiseless channel after one count of each revealed class (``ids`` < K)."""
    counts = jax.nn.one_hot(np.where(ids < K, ids, 0), K) * (ids < K)[..., None]
    a = schedule.A(t)[:, None, None]
    return (pair.prior_concentration / K + counts) / (pair.prior_concentration + a)


def test_count_prior_pools_the_net_with_the_counts_at_masked_positions():
    """jit and vmap (the host callback); the geometric pool inner^(1-w) p^w renormalised at masked positions, the
    inner net's output at revealed ones and in a training call; a gradient through the inner net; the fit builds
    the tables once and reports their time; settings recorded."""
    from pmm_ppl.train.step import training_view

    pair, schedule = DirichletCategorical(num_classes=K, prior_concentration=1.0, noise=0.0), LogLinearSchedule(12.0)
    lazy = LazyCounts(_text, K, 2, 0.6)
    net = CountPrior(_Fixed(8), pair, schedule, lazy, count_weight=0.3)
    ids = np.array([[0, K, 2, K, K, 1, K, 4], [K, K, 1, 1, K, K, 3, K]])
    t = jnp.array([0.4, 0.7])
    mu = _revealed_mu(pair, schedule, ids, t)
    np.testing.assert_array_equal(np.asarray(jnp.argmax(net.counts(mu, t), -1))[ids < K], ids[ids < K])
    assert lazy.table is None
    out = np.asarray(nnx.jit(lambda m, mu, t: m(mu, t))(net, mu, t))
    seconds = fit_to_data(net)
    assert seconds > 0 and fit_to_data(net) == seconds  # built once
    inner = np.asarray(net.inner(mu, t))
    expected = inner ** 0.7 * lazy.get().probs(ids) ** 0.3
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(out[ids == K], expected[ids == K], atol=1e-5)
    np.testing.assert_allclose(out[ids < K], inner[ids < K], atol=1e-6)  # the prior is 1/K there: no change
    batched = jax.vmap(lambda mu, t: net(mu[None], t[None])[0])(mu, t)
    np.testing.assert_allclose(np.asarray(batched), out, atol=1e-6)
    trained = CountPrior(_Fixed(8), pair, schedule, lazy, count_weight=0.3)
    np.testing.assert_allclose(np.asarray(training_view(trained, jax.random.key(0))(mu, t)), inner, atol=1e-6)
    alone = CountPrior(_Fixed(8), pair, schedule, lazy, count_weight=0.0)
    np.testing.assert_allclose(np.asarray(alone(mu, t)), inner, atol=1e-6)

    def loss(model):
        return -jnp.sum(jnp.log(model(mu, t)) * jax.nn.one_hot(np.where(ids < K, ids, 0), K))

    grads = nnx.grad(loss)(net)
    assert float(jnp.abs(grads.inner.logits[...]).sum()) > 0
    assert net_settings(net)["root"] == {"class": "CountPrior", "head": "simplex"}  # inference-only settings
    with pytest.raises(PMMInputError, match="count_weight"):
        CountPrior(_Fixed(8), pair, schedule, lazy, count_weight=1.5)


def test_count_prior_refuses_other_class_counts():
    pair = DirichletCategorical(num_classes=K + 1, prior_concentration=1.0, noise=0.0)
    schedule = LogLinearSchedule(12.0)
    net = CountPrior(_Fixed(4, K + 1), pair, schedule, LazyCounts(_text, K, 1))
    with pytest.raises(PMMInputError, match="classes"):
        net(jnp.full((1, 4, K + 1), 1.0 / (K + 1)), jnp.array([0.5]))

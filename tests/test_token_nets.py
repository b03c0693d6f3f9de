"""Token-sequence denoiser pieces: the dilated convolution net (shapes, exact receptive field),
the log-concentration input map and the revealed-token carry-over (against the exact oracle)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from pmm_ppl import get_pair
from pmm_ppl.nets.carry_revealed import CarryRevealed, RevealedTokenInput
from pmm_ppl.nets.concentration_input import LogConcentrationInput
from pmm_ppl.nets.dilated_conv import DilatedConvNet
from pmm_ppl.nets.hashed_ngram import HashedNgramEmbedding, ngram_buckets, revealed_ids
from pmm_ppl.process.oracles import empirical_oracle
from pmm_ppl.process.schedules import LogLinearSchedule


def rngs(i=0):
    return nnx.Rngs(jax.random.key(i, impl="rbg"))


L, K = 24, 5
SCHED = LogLinearSchedule(a_max=6.0)
PAIR = get_pair("dirichlet_categorical", num_classes=K)


def small_conv(length=L, **kw):
    return DilatedConvNet((length, K), width=16, num_blocks=3, kernel_size=3, dilations=(1, 2), emb_dim=16,
                          rngs=rngs(0), **kw)


def test_dilated_conv_receptive_field_is_exact():
    # blocks with dilations 1, 2, 1 and k = 3: each output sees 1 + 2 * (1 + 2 + 1) = 9 positions, i.e.
    # +-4; changing position p changes outputs exactly at |q - p| <= 4 (a check of the stated formula)
    net = small_conv()
    assert net.receptive_field == 9
    mu = jax.nn.softmax(jax.random.normal(jax.random.key(1), (1, L, K)), -1)
    p = 11
    mu2 = mu.at[0, p].set(jnp.roll(mu[0, p], 2))
    t = jnp.array([0.3])
    diff = np.abs(np.asarray(net(mu, t) - net(mu2, t))).max(-1)[0]
    changed = np.nonzero(diff > 1e-7)[0]
    np.testing.assert_array_equal(changed, np.arange(p - 4, p + 5))


def test_attention_blocks_give_the_conv_net_global_context():
    # without attention a change at position 0 cannot reach position L - 1 (receptive field 9); one
    # self-attention block after the convolutions reaches every position, and any length still works
    mu = jax.nn.softmax(jax.random.normal(jax.random.key(1), (1, L, K)), -1)
    mu2 = mu.at[0, 0].set(jnp.roll(mu[0, 0], 2))
    t = jnp.array([0.3])
    for num_attention, reaches in ((0, False), (1, True)):
        net = small_conv(num_attention=num_attention, num_heads=2)
        assert len(net.attention) == num_attention
        far = float(jnp.abs(net(mu, t) - net(mu2, t))[0, -1].max())
        assert (far > 1e-7) == reaches, (num_attention, far)
    assert net(jax.nn.softmax(jnp.zeros((2, 2 * L, K)), -1), jnp.array([0.2, 0.5])).shape == (2, 2 * L, K)


def test_dilated_conv_shapes_simplex_time_and_any_length():
    net = small_conv(mlp_ratio=2)
    mu = jax.nn.softmax(jax.random.normal(jax.random.key(2), (3, L, K)), -1)
    out = net(mu, jnp.array([0.0, 0.5, 1.0]))
    assert out.shape == (3, L, K) and bool(jnp.all(out >= 0))
    np.testing.assert_allclose(np.asarray(out.sum(-1)), 1.0, atol=1e-5)
    # conditioning is wired in once the (zero-initialised) modulation is non-zero
    st = nnx.state(net, nnx.Param)
    st = jax.tree_util.tree_map(lambda v: v + 0.1, st)
    nnx.update(net, st)
    a, b = net(mu[:1], jnp.array([0.1])), net(mu[:1], jnp.array([0.9]))
    assert float(jnp.abs(a - b).max()) > 1e-5
    # the weights do not depend on L: a longer sequence runs through the same module
    assert net(jax.nn.softmax(jnp.zeros((1, 2 * L, K)), -1), jnp.array([0.5])).shape == (1, 2 * L, K)


def test_dilated_conv_blind_to_time_ignores_t_and_has_no_time_weights():
    # conditioning="none": no embedding and no modulation; with every weight moved off its initial value the
    # output at t = 0.1 and t = 0.9 is the same, where the conditioned net's differs (the test above)
    net = small_conv(mlp_ratio=2, conditioning="none")
    assert net.embed is None and all(block.modulation is None for block in net.blocks)
    nnx.update(net, jax.tree_util.tree_map(lambda v: v + 0.1, nnx.state(net, nnx.Param)))
    mu = jax.nn.softmax(jax.random.normal(jax.random.key(2), (1, L, K)), -1)
    np.testing.assert_array_equal(np.asarray(net(mu, jnp.array([0.1]))), np.asarray(net(mu, jnp.array([0.9]))))
    assert net.receptive_field == small_conv().receptive_field
    with pytest.raises(ValueError, match="conditioning 'none'"):
        small_conv(conditioning="none", num_attention=1)


def test_the_noiseless_and_noisy_token_posteriors_given_the_counts_are_free_of_time():
    # why the character recipe's net is blind to t (pmm_ppl/train/character_recipe.py, net_for): the exact
    # E*[x | counts, A] over 40 one-hot sequences (empirical_oracle, independent of the claim) is the same at
    # A = 0.5 and A = 3 for the same counts, at noise 0 and 0.2, though 10% revealed leaves it far from x
    from pmm_ppl.process.oracles import empirical_oracle_at_accuracy
    from pmm_ppl.train.character_recipe import net_for

    data = jax.nn.one_hot(jax.random.randint(jax.random.key(7), (40, L), 0, K), K)
    x = data[:2]
    counts = x * jax.random.bernoulli(jax.random.key(8), 0.1, (2, L))[..., None]
    for noise in (0.0, 0.2):
        pair = get_pair("dirichlet_categorical", num_classes=K, noise=noise)
        oracle = empirical_oracle_at_accuracy(pair, data)
        low, high = (oracle(pair.mean(pair.state_from_statistic(counts, jnp.full((2,), a))), jnp.full((2,), a))
                     for a in (0.5, 3.0))
        np.testing.assert_allclose(np.asarray(low), np.asarray(high), atol=1e-5)
        assert float(jnp.abs(low - x).max()) > 0.3
        assert net_for(pair)["conditioning"] == "none"
    assert net_for(get_pair("gamma_poisson"))["conditioning"] == "time"  # its posterior moves with A


def test_dilated_conv_input_bias_keeps_the_gradient_bounded_on_masked_input():
    # a masked position's input is all zeros (log a_0 = 0 for a unit prior); with the default zero input bias
    # every block keeps h = 0 there and each LayerNorm's backward pass scales by 1/sqrt(eps) = 1e3, compounding
    # over the blocks (a 16-block stack overflowed float32 in training).  A small random input bias (a mask
    # embedding) keeps the cross-entropy's gradient at the prior moderate: measured largest entry about 1e2 with
    # input_bias_std = 0.01, against NaN (float32 overflow) with the zero bias
    mu = jnp.full((2, L, K), 1.0 / K)  # the prior mean: every position masked
    log_concentration = jnp.log(mu * K)  # what LogConcentrationInput feeds for a unit prior: 0 everywhere

    def largest_gradient(input_bias_std):
        net = DilatedConvNet((L, K), width=32, num_blocks=16, kernel_size=3, dilations=(1, 2, 4), emb_dim=16,
                             input_bias_std=input_bias_std, rngs=rngs(0))
        graphdef, params = nnx.split(net)

        def cross_entropy(p):
            return -jnp.sum(jnp.log(nnx.merge(graphdef, p)(log_concentration, jnp.array([0.05, 0.5]))[..., 0]))

        grads = jax.grad(cross_entropy)(params)
        return max(float(jnp.max(jnp.abs(g))) for g in jax.tree_util.tree_leaves(grads))

    bounded = largest_gradient(0.01)
    assert np.isfinite(bounded) and bounded < 1e4, bounded
    degenerate = largest_gradient(0.0)
    assert not (degenerate < 1e6), degenerate  # NaN / inf or enormous: the reason for the option


def test_dilated_conv_rejects_bad_arguments():
    with pytest.raises(ValueError, match="kernel_size"):
        DilatedConvNet((L, K), kernel_size=4, rngs=rngs(0))
    with pytest.raises(ValueError, match="input_bias_std"):
        DilatedConvNet((L, K), input_bias_std=-0.1, rngs=rngs(0))
    with pytest.raises(ValueError, match="dilations"):
        DilatedConvNet((L, K), dilations=(), rngs=rngs(0))
    with pytest.raises(ValueError, match="data_shape"):
        DilatedConvNet((L,), rngs=rngs(0))
    with pytest.raises(ValueError, match="num_attention"):
        DilatedConvNet((L, K), num_attention=-1, rngs=rngs(0))
    with pytest.raises(ValueError, match="ngram_buckets: must be a power of two"):
        DilatedConvNet((L, K), ngram_buckets=1000, rngs=rngs(0))
    with pytest.raises(ValueError, match="ngram_radii"):
        DilatedConvNet((L, K), ngram_buckets=64, ngram_radii=(0,), rngs=rngs(0))


def _python_bucket(ngram, num_buckets):
    """The hash of pmm_ppl/nets/hashed_ngram.py in plain Python integers: 32-bit FNV-1a, then the top bits of
    the Fibonacci product."""
    h = 2166136261
    for z in ngram:
        h = ((h ^ int(z)) * 16777619) % 2**32
    return ((h * 2654435761) % 2**32) >> (32 - (num_buckets.bit_length() - 1))


def test_ngram_buckets_match_a_plain_python_hash_of_the_centred_ngram():
    ids = np.random.default_rng(0).integers(0, K + 1, size=(2, 17))  # classes and the mask id K
    for radius, buckets in ((1, 64), (2, 1024), (3, 2**15)):
        got = np.asarray(ngram_buckets(jnp.asarray(ids), radius, K, buckets))
        padded = np.pad(ids, ((0, 0), (radius, radius)), constant_values=K + 1)  # K + 1 beyond the ends
        want = [[_python_bucket(padded[b, i:i + 2 * radius + 1], buckets) for i in range(ids.shape[1])]
                for b in range(ids.shape[0])]
        np.testing.assert_array_equal(got, want)
        assert got.min() >= 0 and got.max() < buckets
    # spread: the 6^3 = 216 trigrams over 2^15 buckets collide like random draws would (expected ~0.7 pairs)
    trigrams = np.array(np.meshgrid(*[np.arange(K + 1)] * 3)).reshape(3, -1).T
    centre = np.asarray(ngram_buckets(jnp.asarray(trigrams), 1, K, 2**15))[:, 1]
    assert len(set(centre.tolist())) >= len(trigrams) - 3


def test_hashed_ngram_embedding_sums_the_table_rows_of_joint_local_contexts():
    emb = HashedNgramEmbedding(K, 256, (1, 2), 8, init_std=1.0, rngs=rngs(1))
    ids = jnp.asarray(np.random.default_rng(1).integers(0, K + 1, size=(1, L)))
    out = emb(ids)
    want = sum(table.embedding[...][ngram_buckets(ids, r, K, 256)] for r, table in zip((1, 2), emb.tables))
    np.testing.assert_allclose(np.asarray(out), np.asarray(want), rtol=1e-6)
    # local: changing position 10 changes the outputs within the largest radius (2) of it and no others
    changed = emb(ids.at[0, 10].set((ids[0, 10] + 1) % (K + 1)))
    moved = np.flatnonzero(np.abs(np.asarray(changed - out)).max(-1)[0] > 0)
    np.testing.assert_array_equal(moved, np.arange(8, 13))
    # joint, not additive in the neighbours: (a, mask, b) - (a, mask, c) differs from (d, mask, b) - (d, mask, c)
    centre = lambda a, b: emb(jnp.array([[a, K, b]]))[0, 1]  # noqa: E731
    assert float(jnp.abs((centre(0, 1) - centre(0, 2)) - (centre(3, 1) - centre(3, 2))).max()) > 0.1


def test_revealed_ids_read_the_token_inputs_of_the_noiseless_channel():
    # the flow's own counts: a position with a count is its data class, one without is the mask id K
    x = jax.nn.one_hot(jnp.asarray(np.random.default_rng(2).integers(0, K, size=(3, L))), K)
    A = 1.0
    mu, _ = _flow_mu(x, A)
    counts = np.round(np.asarray(mu) * (PAIR.prior_weight + A) - 1.0)
    want = np.where(counts.sum(-1) > 0, np.asarray(x).argmax(-1), K)
    assert 0.2 < (want == K).mean() < 0.6  # e^-1 of the positions masked
    t = jnp.full((3,), SCHED.inverse(A))
    for input_map in (LogConcentrationInput, RevealedTokenInput):
        np.testing.assert_array_equal(np.asarray(revealed_ids(input_map(_Probe(), PAIR, SCHED)(mu, t))), want)
    # a sampler updates mu step by step: an unseen class's log concentration is then 0 only up to rounding
    # (about 1e-6); read with a threshold at 0 every masked position would become class 0
    fed = LogConcentrationInput(_Probe(), PAIR, SCHED)(mu, t)
    np.testing.assert_array_equal(np.asarray(revealed_ids(fed + 1e-6)), want)
    np.testing.assert_array_equal(np.asarray(revealed_ids(fed - 1e-6)), want)


def test_dilated_conv_with_ngram_tables_uses_them_and_sees_their_radius_further():
    # tables of width 4 projected to the net's 16: revealed one-hot inputs, so every id is a class
    net = small_conv(ngram_buckets=128, ngram_radii=(1, 2), ngram_width=4)
    assert net.receptive_field == 9 + 2 * 2 and net.ngrams.project is not None
    tokens = jnp.asarray(np.random.default_rng(3).integers(0, K, size=(1, L)))
    mu, t = jax.nn.one_hot(tokens, K), jnp.array([0.4])
    np.testing.assert_allclose(np.asarray(jax.jit(lambda m, s: net(m, s))(mu, t).sum(-1)), 1.0, atol=1e-5)
    out = net(mu, t)  # compared with eager calls only: jit and eager differ by rounding
    # changing position p changes outputs exactly at |q - p| <= 4 + 2: the convolutions' reach plus the radius
    p = 11
    moved = jax.nn.one_hot(tokens.at[0, p].set((tokens[0, p] + 1) % K), K)
    changed = np.flatnonzero(np.abs(np.asarray(net(moved, t) - out)).max(-1)[0] > 1e-7)
    np.testing.assert_array_equal(changed, np.arange(p - 6, p + 7))
    # the tables are used: zeroing them changes the output
    for table in net.ngrams.tables:
        table.embedding[...] = jnp.zeros_like(table.embedding[...])
    assert float(jnp.abs(net(mu, t) - out).max()) > 1e-4
    assert small_conv().ngrams is None and small_conv().receptive_field == 9
    with pytest.raises(ValueError, match="ngram_width"):
        small_conv(ngram_buckets=128, ngram_width=0)


class _Probe(nnx.Module):
    """Inner 'net' returning its input unchanged, to see what the wrappers feed it."""

    head = "simplex"

    def __call__(self, v, t):
        return v


def _flow_mu(x, A, seed=3):
    st = PAIR.flow(jax.random.key(seed), x, jnp.full((x.shape[0], 1), A))
    return PAIR.mean(st), st


def test_log_concentration_input_is_log_prior_plus_counts():
    x = jax.nn.one_hot(jax.random.randint(jax.random.key(4), (4, L), 0, K), K)
    A = 1.7
    mu, _ = _flow_mu(x, A)
    counts = np.asarray(PAIR.mean(PAIR.flow(jax.random.key(3), x, jnp.full((4, 1), A))) * (PAIR.prior_weight + A) - 1.0)
    fed = LogConcentrationInput(_Probe(), PAIR, SCHED)(mu, jnp.full((4,), SCHED.inverse(A)))
    np.testing.assert_allclose(np.asarray(fed), np.log(1.0 + np.round(counts)), atol=1e-4)


def test_revealed_token_input_is_the_revealed_one_hot():
    # the flow's own states (Poisson counts drawn by the pair, not by this test): a revealed position is fed
    # the data's one-hot whatever its count, a masked one zeros; about e^-A of the positions stay masked
    x = jax.nn.one_hot(jax.random.randint(jax.random.key(4), (64, L), 0, K), K)
    A = 2.0
    mu, st = _flow_mu(x, A)
    fed = np.asarray(RevealedTokenInput(_Probe(), PAIR, SCHED)(mu, jnp.full((64,), SCHED.inverse(A))))
    masked = ~fed.any(-1)
    assert abs(masked.mean() - np.exp(-A)) < 0.02  # SE sqrt(e^-A (1 - e^-A) / 1536) = 0.008
    np.testing.assert_array_equal(fed[~masked], np.asarray(x)[~masked])
    counts = np.asarray(mu) * (PAIR.prior_weight + A) - 1.0
    assert counts[~masked].max() > 1.5  # some revealed counts exceed 1: the indicator drops them
    with pytest.raises(ValueError, match="noise"):
        RevealedTokenInput(_Probe(), get_pair("dirichlet_categorical", num_classes=K, noise=0.1), SCHED)


def test_carry_revealed_matches_the_exact_oracle_on_revealed_positions():
    # a finite set of 6 sequences as the target: the exact E*[x | mu] (empirical_oracle) is one-hot on
    # every position with a count, whatever the other positions say -- exactly what CarryRevealed outputs
    data = jax.nn.one_hot(jax.random.randint(jax.random.key(5), (6, L), 0, K), K)
    oracle = empirical_oracle(PAIR, SCHED, data)
    x = data[jnp.array([0, 3, 5, 1])]
    A = float(-np.log(0.5))  # half the positions revealed
    mu, _ = _flow_mu(x, A)
    t = jnp.full((4,), SCHED.inverse(A))
    inner = small_conv()
    carried = CarryRevealed(inner, PAIR, SCHED)
    out, ref, raw = carried(mu, t), oracle(mu, t), inner(mu, t)
    revealed = np.asarray(carried.counts(mu, t).max(-1) >= 0.5)
    assert 0.3 < revealed.mean() < 0.7
    np.testing.assert_allclose(np.asarray(out)[revealed], np.asarray(ref)[revealed], atol=1e-5)
    np.testing.assert_array_equal(np.asarray(out)[revealed], np.asarray(x)[revealed])
    np.testing.assert_array_equal(np.asarray(out)[~revealed], np.asarray(raw)[~revealed])


def test_carry_revealed_refuses_noisy_channel():
    with pytest.raises(ValueError, match="noise"):
        CarryRevealed(_Probe(), get_pair("dirichlet_categorical", num_classes=K, noise=0.1), SCHED)

"""Sample-quality metrics (pmm_ppl/quality/) against independent references: the closed-form Frechet
distance of two Gaussians, scipy's 1-D energy distance, a hand-computed n-gram likelihood, and the
limiting cases of precision / recall."""

import math

import numpy as np
import pytest
import scipy.linalg
import scipy.stats

from pmm_ppl.conjugate.validation import PMMInputError
from pmm_ppl.quality import (cached_classifier, energy_distance, features, fit_ngram, frechet_distance,
                             gaussian_frechet_distance, ngram_nll, precision_recall, predict)


def test_energy_distance_matches_scipy_in_1d_and_is_zero_for_identical_sets():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=70), rng.normal(0.5, 2.0, size=50)
    np.testing.assert_allclose(energy_distance(x[:, None], y[:, None]), scipy.stats.energy_distance(x, y), rtol=1e-10)
    z = rng.normal(size=(40, 3, 2))
    assert energy_distance(z, z) == pytest.approx(0.0, abs=1e-6)
    # multivariate: the V-statistic written out with explicit loops over pairs
    a, b = rng.normal(size=(9, 4)), rng.normal(size=(7, 4)) + 1
    d = lambda u, v: np.mean([[np.linalg.norm(p - q) for q in v] for p in u])  # noqa: E731
    np.testing.assert_allclose(energy_distance(a, b) ** 2, 2 * d(a, b) - d(a, a) - d(b, b), rtol=1e-7)
    with pytest.raises(PMMInputError, match="different sizes"):
        energy_distance(a, b[:, :3])


def test_frechet_distance_closed_form_and_large_samples():
    rng = np.random.default_rng(1)
    m1, m2 = np.array([0.0, 1.0, -1.0]), np.array([0.5, 0.0, 0.0])
    l1, l2 = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    s1, s2 = l1 @ l1.T + 0.1 * np.eye(3), l2 @ l2.T + 0.1 * np.eye(3)
    # independent reference: tr sqrtm(S1 S2) by scipy's general matrix square root
    ref = np.sum((m1 - m2) ** 2) + np.trace(s1 + s2 - 2 * np.real(scipy.linalg.sqrtm(s1 @ s2)))
    np.testing.assert_allclose(gaussian_frechet_distance(m1, s1, m2, s2), ref, rtol=1e-8)
    # 1-D: (m1 - m2)^2 + (sd1 - sd2)^2
    np.testing.assert_allclose(gaussian_frechet_distance([1.0], [[4.0]], [-1.0], [[9.0]]), 4.0 + 1.0, rtol=1e-12)
    # from samples: within a few per cent of the closed form at n = 20000
    x = rng.multivariate_normal(m1, s1, size=20000)
    y = rng.multivariate_normal(m2, s2, size=20000)
    np.testing.assert_allclose(frechet_distance(x, y), ref, rtol=0.05)


def test_precision_recall_identical_and_disjoint_sets():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(60, 5))
    assert precision_recall(real, real.copy(), k=3) == (1.0, 1.0)
    assert precision_recall(real, real + 100.0, k=3) == (0.0, 0.0)
    # samples covering only half the real points (one of two clusters): precision 1, recall about 1/2
    two = np.concatenate([rng.normal(size=(50, 2)), rng.normal(size=(50, 2)) + 20])
    p, r = precision_recall(two, two[:50] + 0.01 * rng.normal(size=(50, 2)), k=3)
    assert p > 0.9 and 0.45 <= r <= 0.55


def test_ngram_nll_hand_computed():
    # K = 3, order 2, k = 1 on "0 1 0 1 2": bigrams 01, 10, 01, 12 -> N(01) = 2, N(10) = 1, N(12) = 1,
    # N(0.) = 2, N(1.) = 2.  Score "0 1 1": p(1|0) = (2+1)/(2+3), p(1|1) = (0+1)/(2+3)
    model = fit_ngram(np.array([0, 1, 0, 1, 2]), num_classes=3, order=2, k=1.0)
    expect = -(math.log(3 / 5) + math.log(1 / 5)) / 2
    np.testing.assert_allclose(ngram_nll(model, [np.array([0, 1, 1])]), [expect], rtol=1e-12)
    # an unseen context (2): p = (0 + 1) / (0 + 3); two sequences give two values; order 1 = add-k unigram
    np.testing.assert_allclose(ngram_nll(model, np.array([[2, 0], [0, 1]])), [math.log(3), -math.log(3 / 5)])
    uni = fit_ngram(np.array([[0, 0], [1, 0]]), num_classes=3, order=1, k=0.5)
    np.testing.assert_allclose(ngram_nll(uni, [np.array([0, 2])]), [-(math.log(3.5 / 5.5) + math.log(0.5 / 5.5)) / 2])
    # the conditionals of a fitted model sum to one over the next character
    rng = np.random.default_rng(3)
    m = fit_ngram(rng.integers(0, 4, size=(5, 40)), num_classes=4, order=3, k=0.3)
    probs = [np.exp(-ngram_nll(m, [np.array([1, 2, c])])[0]) for c in range(4)]
    np.testing.assert_allclose(sum(probs), 1.0, rtol=1e-12)
    with pytest.raises(PMMInputError, match="token indices must be in 0..3"):
        ngram_nll(m, [np.array([1, 2, 4])])


@pytest.fixture(scope="module")
def classifier_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("classifiers")


def test_classifier_is_cached_and_separates_digits(classifier_cache):
    from pmm_ppl.data.digits import load_digits_images
    from pmm_ppl.quality.features import classifier_path

    d = load_digits_images()
    clf = cached_classifier(d.train, d.train_labels, cache=classifier_cache)
    assert classifier_path(d.train, d.train_labels, cache=classifier_cache).is_file()
    again = cached_classifier(d.train, d.train_labels, cache=classifier_cache)  # loaded, not retrained
    np.testing.assert_array_equal(again.w0, clf.w0)
    assert np.mean(predict(clf, d.test) == d.test_labels) > 0.9
    assert features(clf, d.test[:5]).shape == (5, 64)


def test_quality_of_samples_scores_heldout_samples_at_the_reference(classifier_cache):
    """Samples that ARE the held-out half b score exactly the reference (b against a) on every metric and
    class histogram; pixel noise scores worse on each.  Digits (labelled images) and a character model."""

    import jax

    from pmm_ppl.train.evaluate import heldout_halves, quality_of_samples
    from pmm_ppl.train.models import load_spec

    spec = load_spec("digits_normal")
    train, test = spec.load_data()
    labels = spec.load_labels()
    a, b = heldout_halves(test, 40, jax.random.key(0))
    rep = quality_of_samples(spec, b, a, b, train, labels=labels, test=test, cache=classifier_cache)
    assert [m.name.split(" (")[0] for m in rep.metrics] == ["energy distance", "Frechet distance", "precision", "recall"]
    for m in rep.metrics:
        assert m.value == m.reference, m
    assert rep.histogram.samples == rep.histogram.heldout and sum(rep.histogram.samples) == 40
    assert "test accuracy" in rep.notes[0]
    noise = np.random.default_rng(0).uniform(-1, 1, size=b.shape).astype(np.float32)
    worse = quality_of_samples(spec, noise, a, b, train, labels=labels, cache=classifier_cache).metrics
    assert worse[0].value > 2 * worse[0].reference and worse[1].value > 2 * worse[1].reference
    assert worse[2].value < worse[2].reference - 0.3
    with pytest.raises(PMMInputError, match="one entry per training example"):
        quality_of_samples(spec, b, a, b, train, labels=(labels[0][:-1], labels[1]), cache=classifier_cache)

    text = load_spec("shakespeare_chars", length=12)
    rng = np.random.default_rng(1)
    words = np.array([[3, 1, 4, 1, 5, 9], [2, 6, 5, 3, 5, 8]])
    rows = words[rng.integers(0, 2, size=(60, 2))].reshape(60, 12)  # text made of two "words"
    a, b = rows[:10], rows[10:20]
    rep = quality_of_samples(text, np.asarray(text.to_data(b)), a, b, rows[20:])
    assert rep.metrics[-1].name.startswith("5-gram NLL") and rep.metrics[-1].value == rep.metrics[-1].reference
    gibberish = np.asarray(text.to_data(rng.integers(0, 84, size=(10, 12))))
    worse = quality_of_samples(text, gibberish, a, b, rows[20:]).metrics[-1]
    assert worse.value > worse.reference + 3  # bits/char
    with pytest.raises(PMMInputError, match="integer token indices"):
        quality_of_samples(text, gibberish, a, b, rows[20:].astype(np.float32))

"""Evaluation of a trained model: the test-set likelihood bound, samples, and their quality.

The bound is :func:`pmm_ppl.process.elbo.discrete_elbo` with the model's reconstruction
(images: discretised Gaussian on ``num_levels`` levels in [-1, 1]; tokens: exact categorical;
counts: discretised Gamma), averaged over the test set in batches.  Reported in nats per
example and in bits per dimension (``unit="dim"``), per character (``"char"``: one token is one
dimension), or nats per count (``"count"``: nats divided by the total count of the document).

:func:`sample_quality` puts the metrics of :mod:`pmm_ppl.quality` next to the bound: the energy
distance for every model, a classifier's Frechet distance, precision / recall and class histogram
when the model has labels (``ModelSpec.load_labels``), and the n-gram likelihood of the samples for
character models (``unit="char"``, stored as token indices), each with its held-out reference.
"""

from __future__ import annotations

import math
import time
from typing import Any, NamedTuple

import jax
import numpy as np
from tqdm.auto import tqdm

from pmm_ppl.process.elbo import (
    DiscretisedGaussian,
    continuous_elbo,
    discrete_elbo,
)
from pmm_ppl.conjugate.validation import PMMInputError, check_whole_number
from pmm_ppl.process.sampler import sample
from pmm_ppl.quality.features import cached_classifier, classifier_path, predict
from pmm_ppl.quality.ngram import fit_ngram
from pmm_ppl.quality.report import QualityReport, classifier_metrics, energy_metrics, ngram_metrics
from pmm_ppl.train.spec import ModelSpec


def _given_or(value: int | None, default: int, name: str, minimum: int = 1) -> int:
    """``default`` when ``value`` is None, else ``value`` checked (0 never means "the default")."""
    return default if value is None else check_whole_number(value, name, minimum)


#: the printed name of each reporting unit (``EvalConfig.unit``); the benchmarks print it too
UNIT_NAMES = {"dim": "bits/dim", "char": "bits/char", "count": "nats/count", "doc": "nats/doc"}


class BoundReport(NamedTuple):
    nats_per_example: float
    nats_se: float
    bits_per_dim: float
    bits_se: float
    num_examples: int
    num_steps: int
    unit: str
    per_unit: float  # the bound in the model's reporting unit (bits/dim, bits/char or nats/count)
    seconds: float
    receiver: str = "plug_in"  # the sampler whose model the bound is about

    @property
    def unit_se(self) -> float | None:
        """The standard error in the reporting unit: ``bits_se`` for bits/dim and bits/char, ``nats_se`` for
        nats/doc (a document is one example); ``None`` for nats/count, a ratio of sums with no per-example SE of
        its own (``nats_se`` is per example)."""
        return {"dim": self.bits_se, "char": self.bits_se, "doc": self.nats_se}.get(self.unit)

    def line(self) -> str:
        unit = UNIT_NAMES[self.unit]
        steps = "continuous time" if self.num_steps == 0 else f"{self.num_steps} steps, {self.receiver} sampler"
        se = "" if self.unit_se is None else f"+- {self.unit_se:.4f} {unit}; "
        return (f"test bound: {self.nats_per_example:.2f} +- {self.nats_se:.2f} nats/example = "
                f"{self.per_unit:.4f} {unit} ({se}{self.num_examples} examples, "
                f"{steps}, {self.seconds:.0f} s)")


def reconstruction_for(spec: ModelSpec):
    if spec.eval.num_levels:
        return DiscretisedGaussian(num_levels=spec.eval.num_levels)
    return spec.pair.default_reconstruction()


def test_bound(spec: ModelSpec, denoiser: Any, test_data: np.ndarray, key: jax.Array, *, num_steps: int | None = None,
               num_mc: int | None = None, batch_size: int = 256, max_examples: int | None = None,
               progress: bool = False, continuous: bool = False, receiver: str | None = None) -> BoundReport:
    """Average ``T``-step bound over ``test_data`` (first ``max_examples`` rows), or with
    ``continuous=True`` the continuous-time bound (:func:`~pmm_ppl.process.elbo.continuous_elbo`,
    ``num_mc`` time draws per example, default 16; ``num_steps`` is reported as 0).  The ``T``-step
    bound costs ``T * num_mc`` network calls per example, the continuous one ``2 * num_mc``.
    ``receiver``: the sampler whose bound it is, ``"plug_in"`` or ``"ancestral"`` (discrete time only;
    see :func:`~pmm_ppl.process.elbo.discrete_elbo`); default: the model's own sampler
    (``spec.default_sampler``) for the ``T``-step bound, the plug-in limit in continuous time."""
    if receiver is None:
        receiver = "plug_in" if continuous else spec.default_sampler
    if continuous and receiver != "plug_in":
        raise PMMInputError(f"receiver: the continuous-time bound is written for the plug-in receiver, got {receiver!r}")
    t0 = time.perf_counter()
    num_steps = 0 if continuous else _given_or(num_steps, spec.eval.num_steps, "num_steps")
    num_mc = _given_or(num_mc, 16 if continuous else spec.eval.num_mc, "num_mc", 2)
    max_examples = spec.eval.max_examples if max_examples is None else check_whole_number(max_examples, "max_examples")
    check_whole_number(batch_size, "batch_size")
    data = np.asarray(test_data)[: max_examples or None]
    recon = reconstruction_for(spec)
    totals = []
    for start in tqdm(range(0, len(data), batch_size), disable=not progress, desc="bound"):
        chunk = np.asarray(spec.to_data(data[start : start + batch_size]), np.float32)
        chunk_key = jax.random.fold_in(key, start)
        if continuous:
            est = continuous_elbo(spec.pair, denoiser, chunk_key, chunk, spec.schedule, recon=recon, num_mc=num_mc)
        else:
            est = discrete_elbo(spec.pair, denoiser, chunk_key, chunk, spec.schedule, num_steps, recon=recon,
                                num_mc=num_mc, receiver=receiver)
        totals.append(np.asarray(est.nats))
    per_example = np.concatenate(totals)
    n = len(per_example)
    mean = float(per_example.mean())
    se = float(per_example.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    dims = int(np.prod(spec.data_shape[: len(spec.data_shape) - spec.pair.event_ndim]))
    bits = mean / (dims * math.log(2))
    bits_se = se / (dims * math.log(2))
    if spec.eval.unit == "count":
        per_unit = float(per_example.sum() / max(float(np.asarray(data, np.float64).sum()), 1.0))
    elif spec.eval.unit == "doc":
        per_unit = mean
    else:
        per_unit = bits
    return BoundReport(mean, se, bits, bits_se, n, num_steps, spec.eval.unit, per_unit, time.perf_counter() - t0,
                       receiver)


def draw_samples(spec: ModelSpec, denoiser: Any, key: jax.Array, num: int, num_steps: int | None = None,
                 sampler: str | None = None, output: str = "draw") -> np.ndarray:
    r"""``num`` samples from the trained model (``num_steps`` default: the model's) with the plug-in or the
    ancestral sampler (default: the model's ``default_sampler``; the ancestral one needs a distributional
    net: a level or mixture head, or a token model).
    ``output="draw"`` (default): draws from the model's reconstruction law, the one whose likelihood
    :func:`test_bound` reports (grid levels, integer counts, tokens); ``"denoised"``: the final estimate
    :math:`f(\mu_T, 1)`; ``"mean"``: the posterior mean :math:`\mu_T`."""
    num = check_whole_number(num, "num")
    steps = _given_or(num_steps, spec.sample_steps, "num_steps")
    sampler = spec.default_sampler if sampler is None else sampler
    out = sample(spec.pair, denoiser, key, num, tuple(spec.data_shape), spec.schedule, steps, sampler=sampler,
                 output=output, reconstruction=reconstruction_for(spec) if output == "draw" else None)
    return np.asarray(out)


def _token_sequences(spec: ModelSpec, stored: Any, what: str) -> np.ndarray:
    """The stored rows of a character model as integer token indices (N, L) (its data space is one-hot)."""
    x = np.asarray(stored)
    if not np.issubdtype(x.dtype, np.integer) or x.ndim != len(spec.data_shape):
        raise PMMInputError(f"{spec.name}: a character model (unit 'char') must store its {what} data as integer token "
                            f"indices of shape (N, {', '.join(map(str, spec.data_shape[:-1]))}), got {x.dtype} {x.shape}")
    return x


def _check_labels(labels: Any, rows: int, what: str) -> np.ndarray:
    y = np.asarray(labels)
    if y.shape != (rows,):
        raise PMMInputError(f"load_labels: the {what} labels must have one entry per {what} example ({rows}), "
                            f"got shape {y.shape}")
    return y


def heldout_halves(test: Any, num: int, key: jax.Array, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint halves ``a``, ``b`` of ``n = min(num, len(test) // 2)`` rows of ``test`` (stored form),
    from a permutation drawn with ``key``; ``n`` must exceed ``k`` (the precision / recall neighbours)."""
    num, k = check_whole_number(num, "num"), check_whole_number(k, "k")
    test = np.asarray(test)
    n = min(num, len(test) // 2)
    if n <= k:
        raise PMMInputError(f"the test set has {len(test)} examples: the quality metrics need two held-out halves of "
                            f"more than k = {k} examples each (at least {2 * (k + 1)})")
    perm = np.asarray(jax.random.permutation(key, len(test)))
    return test[perm[:n]], test[perm[n : 2 * n]]


def quality_of_samples(spec: ModelSpec, samples: Any, a: Any, b: Any, train: Any, *, num_steps: int = 0,
                       sampler: str = "given", labels: tuple[Any, Any] | None = None, test: Any = None, k: int = 3,
                       cache: str | None = None, seconds: float = 0.0) -> QualityReport:
    """The metrics of :func:`sample_quality` for given ``samples`` (the pair's data space) against the
    held-out halves ``a``, ``b`` (stored form, as many rows as ``samples``; e.g. from :func:`heldout_halves`),
    e.g. to score samples drawn elsewhere.  With ``labels``, the whole ``test`` set (stored form, labelled
    by ``labels[1]``) gives the classifier's test accuracy, when given.  ``num_steps`` and ``sampler`` are
    only recorded in the report."""
    t0 = time.perf_counter()
    samples = np.asarray(samples, np.float32)
    if not (len(samples) == len(a) == len(b)):
        raise PMMInputError(f"samples, a and b: need as many rows each, got {len(samples)}, {len(a)}, {len(b)}")
    if samples.shape[1:] != tuple(spec.data_shape):
        raise PMMInputError(f"samples: need shape (n, {', '.join(map(str, spec.data_shape))}), got {samples.shape}")
    xa, xb = (np.asarray(spec.to_data(np.asarray(v)), np.float32) for v in (a, b))
    metrics, histogram, notes = energy_metrics(samples, xa, xb), None, []
    if labels is not None:
        x_train = np.asarray(spec.to_data(np.asarray(train)), np.float32)
        train_labels = _check_labels(labels[0], len(x_train), "training")
        clf = cached_classifier(x_train, train_labels, cache=cache)
        more, histogram = classifier_metrics(clf, samples, xa, xb, k)
        metrics += more
        note = f"features: {clf.description}, trained on the {len(x_train)} training examples"
        if test is not None:
            test_labels = _check_labels(labels[1], len(test), "test")
            accuracy = float(np.mean(predict(clf, np.asarray(spec.to_data(np.asarray(test)), np.float32)) == test_labels))
            note += f", test accuracy {accuracy:.1%}"
        notes.append(f"{note}; cached as {classifier_path(x_train, train_labels, cache=cache)}")
    if spec.eval.unit == "char":
        train_tokens = _token_sequences(spec, train, "training")
        model = fit_ngram(train_tokens, spec.data_shape[-1])
        metrics += ngram_metrics(model, np.argmax(samples, -1), _token_sequences(spec, b, "test"))
        notes.append(f"n-gram model: order {model.order}, add-{model.k:g} smoothing, counted in the {train_tokens.size} "
                     "training characters; samples read as their arg-max characters")
    return QualityReport(tuple(metrics), len(samples), num_steps, sampler, histogram, tuple(notes),
                         seconds + time.perf_counter() - t0)


def sample_quality(spec: ModelSpec, denoiser: Any, key: jax.Array, train: Any, test: Any, *, num: int = 256,
                   num_steps: int | None = None, sampler: str | None = None, labels: tuple[Any, Any] | None = None,
                   k: int = 3, cache: str | None = None) -> QualityReport:
    """Sample-quality metrics of a trained model, each next to its held-out reference.

    The test set (stored form, as from ``spec.load_data()``) is cut into two disjoint halves ``a`` and
    ``b`` of ``n = min(num, len(test) // 2)`` rows (:func:`heldout_halves`, with one half of ``key``);
    ``n`` samples are drawn with the other half (``num_steps``, ``sampler`` as in :func:`draw_samples`,
    default the model's; the samples are draws from the model's reconstruction law, ``output="draw"``).
    Each two-sample statistic compares the samples with ``a`` and, as the noise floor, ``b`` with ``a``:

    - every model: the energy distance in the pair's data space;
    - ``labels = (train_labels, test_labels)`` given: Frechet distance and k-NN precision / recall
      (``k``) in the hidden features of the classifier of :mod:`pmm_ppl.quality.features`, trained on
      ``train`` once and cached under ``cache`` (default the data cache folder), and the histogram of
      the classes it predicts for the samples and for ``b``;
    - character models (``spec.eval.unit == "char"``): the per-character likelihood under the n-gram
      model of ``train`` of the samples (arg-max characters) and of ``b``.
    """
    t0 = time.perf_counter()
    steps = _given_or(num_steps, spec.sample_steps, "num_steps")
    sampler = spec.default_sampler if sampler is None else sampler
    split_key, sample_key = jax.random.split(key)
    a, b = heldout_halves(test, num, split_key, k)
    samples = draw_samples(spec, denoiser, sample_key, len(a), steps, sampler=sampler)
    return quality_of_samples(spec, samples, a, b, train, num_steps=steps, sampler=sampler, labels=labels, test=test,
                              k=k, cache=cache, seconds=time.perf_counter() - t0)

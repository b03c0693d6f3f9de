"""Sample-quality metrics with their reference values, as one report.

Every metric is printed next to a reference: for the two-sample statistics (energy distance,
Frechet distance, precision, recall) the same statistic between two disjoint held-out halves ``a``
and ``b`` of the same size as the samples (the noise floor: what a perfect sampler would score);
for the n-gram likelihood the score of held-out text.  The functions here take arrays; which of them
apply to a trained model is decided by :func:`pmm_ppl.train.evaluate.sample_quality`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from pmm_ppl.quality.energy import energy_distance
from pmm_ppl.quality.features import FeatureClassifier, features, predict
from pmm_ppl.quality.frechet import frechet_distance
from pmm_ppl.quality.ngram import NGramModel, ngram_nll
from pmm_ppl.quality.precision_recall import precision_recall


class Metric(NamedTuple):
    name: str
    value: float  # of the samples
    reference: float  # held-out half b against held-out half a, or held-out text
    better: str  # "lower" or "higher"

    def line(self) -> str:
        return f"  {self.name:<42s} {self.value:10.4f}   (held-out {self.reference:.4f}; {self.better} is better)"


class ClassHistogram(NamedTuple):
    classes: list
    samples: list[int]  # predicted classes of the samples
    heldout: list[int]  # predicted classes of held-out half b

    def line(self) -> str:
        pairs = " ".join(f"{c}:{s}/{h}" for c, s, h in zip(self.classes, self.samples, self.heldout))
        return f"  class histogram (class:samples/held-out) {pairs}"


class QualityReport(NamedTuple):
    metrics: tuple[Metric, ...]
    num_samples: int
    num_steps: int
    sampler: str
    histogram: ClassHistogram | None = None
    notes: tuple[str, ...] = ()  # what was used (the classifier, the n-gram model)
    seconds: float = float("nan")

    def lines(self) -> list[str]:
        head = (f"sample quality: {self.num_samples} samples ({self.sampler} sampler, {self.num_steps} steps) against "
                f"held-out half a; reference: held-out half b of {self.num_samples} ({self.seconds:.0f} s)")
        out = [head] + [m.line() for m in self.metrics]
        if self.histogram is not None:
            out.append(self.histogram.line())
        return out + [f"  {n}" for n in self.notes]

    def to_dict(self) -> dict:
        return {"num_samples": self.num_samples, "num_steps": self.num_steps, "sampler": self.sampler,
                "metrics": {m.name: {"samples": m.value, "held_out": m.reference, "better": m.better}
                            for m in self.metrics},
                "class_histogram": None if self.histogram is None else self.histogram._asdict(),
                "notes": list(self.notes), "seconds": self.seconds}


def energy_metrics(samples, a, b) -> list[Metric]:
    """Energy distance (:mod:`pmm_ppl.quality.energy`) of ``samples`` to held-out ``a``; reference ``b`` to ``a``."""
    return [Metric("energy distance (data space)", energy_distance(samples, a), energy_distance(b, a), "lower")]


def classifier_metrics(clf: FeatureClassifier, samples, a, b, k: int = 3) -> tuple[list[Metric], ClassHistogram]:
    """Frechet distance and precision / recall (k-NN, ``k``) in the classifier's feature space, samples
    against held-out ``a`` with ``b`` against ``a`` as reference, and the predicted-class histograms."""
    fs, fa, fb = features(clf, samples), features(clf, a), features(clf, b)
    ps, rs = precision_recall(fa, fs, k)
    pb, rb = precision_recall(fa, fb, k)
    tag = f"{fs.shape[1]} classifier features"
    metrics = [Metric(f"Frechet distance ({tag})", frechet_distance(fs, fa), frechet_distance(fb, fa), "lower"),
               Metric(f"precision (k = {k}, {tag})", ps, pb, "higher"),
               Metric(f"recall (k = {k}, {tag})", rs, rb, "higher")]
    classes = list(clf.classes)
    count = lambda y: [int(np.sum(y == c)) for c in classes]  # noqa: E731
    hist = ClassHistogram([c.item() if hasattr(c, "item") else c for c in classes], count(predict(clf, samples)),
                          count(predict(clf, b)))
    return metrics, hist


def ngram_metrics(model: NGramModel, sample_tokens, heldout_tokens) -> list[Metric]:
    """Mean per-character NLL of the sample sequences and of held-out sequences under ``model``, in bits
    per character (the unit of the text models' bound)."""
    name = f"{model.order}-gram NLL (bits/char, add-{model.k:g})"
    bits = lambda seqs: float(np.mean(ngram_nll(model, seqs)) / np.log(2))  # noqa: E731
    return [Metric(name, bits(sample_tokens), bits(heldout_tokens), "closer to held-out")]

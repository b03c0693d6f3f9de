"""Sample-quality metrics: energy distance (any data), Frechet distance and precision / recall in the
feature space of a small classifier (labelled images), the per-character likelihood of samples under
an n-gram model of the training text (text).  One concept per module; :mod:`pmm_ppl.quality.report`
puts them next to their held-out references, :func:`pmm_ppl.train.evaluate.sample_quality` applies
them to a trained model."""

from pmm_ppl.quality.energy import energy_distance, energy_distance_sq
from pmm_ppl.quality.features import FeatureClassifier, cached_classifier, features, predict, train_classifier
from pmm_ppl.quality.frechet import frechet_distance, gaussian_frechet_distance
from pmm_ppl.quality.ngram import NGramModel, fit_ngram, ngram_nll
from pmm_ppl.quality.precision_recall import precision_recall
from pmm_ppl.quality.report import Metric, QualityReport

__all__ = ["energy_distance", "energy_distance_sq", "FeatureClassifier", "cached_classifier", "features", "predict",
           "train_classifier", "frechet_distance", "gaussian_frechet_distance", "NGramModel", "fit_ngram", "ngram_nll",
           "precision_recall", "Metric", "QualityReport"]

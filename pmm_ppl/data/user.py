"""The user's own data: NumPy arrays (``.npy`` / ``.npz``) and plain-text files (characters)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pmm_ppl.conjugate.validation import PMMInputError
from pmm_ppl.data.text import build_vocabulary, encode


def load_array_file(path: str | os.PathLike, key: str | None = None) -> np.ndarray:
    """Load an array from ``.npy`` or from ``.npz`` (``key`` names the array; optional when the
    archive holds exactly one).  Pickled object arrays are refused (``allow_pickle=False``)."""
    path = Path(path)
    if not path.exists():
        raise PMMInputError(f"path: no such file {str(path)!r}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            if key is not None:
                raise PMMInputError(f"key: {str(path)!r} is a .npy file holding one array; do not pass key={key!r}")
            return np.load(path, allow_pickle=False)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as f:
                names = list(f.files)
                if key is None:
                    if len(names) != 1:
                        raise PMMInputError(f"key: {str(path)!r} holds arrays {names}; pass key= one of them")
                    key = names[0]
                if key not in names:
                    raise PMMInputError(f"key: {key!r} not in {str(path)!r}; it holds {names}")
                return f[key]
    except ValueError as err:  # e.g. object arrays needing pickle, corrupt files
        if isinstance(err, PMMInputError):
            raise
        raise PMMInputError(f"path: cannot read {str(path)!r} as a NumPy array file ({err})") from err
    raise PMMInputError(f"path: {str(path)!r} must end in .npy or .npz")


def load_text_file(path: str | os.PathLike, vocabulary: str | None = None, encoding: str = "utf-8") -> tuple[np.ndarray, str]:
    """Read a text file as characters: ``(int32 indices, vocabulary)``.  Without ``vocabulary`` it
    is the sorted set of the file's characters; with one, unknown characters are an error."""
    path = Path(path)
    if not path.exists():
        raise PMMInputError(f"path: no such file {str(path)!r}")
    try:
        text = path.read_text(encoding=encoding)
    except UnicodeDecodeError as err:
        raise PMMInputError(f"path: {str(path)!r} is not valid {encoding} text ({err})") from err
    if not text:
        raise PMMInputError(f"path: {str(path)!r} is empty")
    vocab = vocabulary if vocabulary is not None else build_vocabulary(text)
    return encode(text, vocab, name=str(path)), vocab

"""The user's own data: NumPy arrays (``.npy`` / ``.npz``) and plain-text files (characters)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from pmm_ppl.conjugate.validation import PMMInputError
from pmm_ppl.data.text import build_vocabulary, encode


NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"


def _check_file(path: Path) -> None:
    """``path`` exists and is a regular file (not a folder)."""
    if not path.exists():
        raise PMMInputError(f"path: no such file {str(path)!r}")
    if path.is_dir():
        raise PMMInputError(f"path: {str(path)!r} is a directory, not a file")


def _check_magic(path: Path, magic: bytes, kind: str) -> None:
    try:
        with open(path, "rb") as f:
            head = f.read(len(magic))
    except OSError as err:
        raise PMMInputError(f"path: cannot read {str(path)!r} ({err.strerror})") from None
    if head != magic:
        hint = " (it looks like text: use load_text_file for characters)" if head and all(32 <= b < 127 or b in b"\t\r\n" for b in head) else ""
        raise PMMInputError(f"path: {str(path)!r} is not a {kind} file (it does not start with the {kind} signature){hint}")


def load_array_file(path: str | os.PathLike, key: str | None = None) -> np.ndarray:
    """Load an array from ``.npy`` or from ``.npz`` (``key`` names the array; optional when the
    archive holds exactly one).  Pickled object arrays are refused (``allow_pickle=False``); a file
    that is not in NumPy's format (e.g. text named ``.npy``) or a folder is a :class:`PMMInputError`."""
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        _check_magic(path, NPY_MAGIC if suffix == ".npy" else ZIP_MAGIC, f"NumPy {suffix}")
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
        if "pickle" in str(err):
            raise PMMInputError(f"path: {str(path)!r} holds Python objects (a pickled object array), which are "
                                "refused for safety; save a numeric array instead") from None
        raise PMMInputError(f"path: cannot read {str(path)!r} as a NumPy array file ({err})") from err
    except (OSError, EOFError, zipfile.BadZipFile) as err:  # truncated or damaged archives
        raise PMMInputError(f"path: cannot read {str(path)!r} as a NumPy array file ({type(err).__name__}: {err})") from None
    raise PMMInputError(f"path: {str(path)!r} must end in .npy or .npz")


def load_text_file(path: str | os.PathLike, vocabulary: str | None = None, encoding: str = "utf-8") -> tuple[np.ndarray, str]:
    """Read a text file as characters: ``(int32 indices, vocabulary)``.  Without ``vocabulary`` it
    is the sorted set of the file's characters; with one, unknown characters are an error."""
    path = Path(path)
    _check_file(path)
    try:
        text = path.read_text(encoding=encoding)
    except UnicodeDecodeError as err:
        raise PMMInputError(f"path: {str(path)!r} is not valid {encoding} text ({err})") from err
    if not text:
        raise PMMInputError(f"path: {str(path)!r} is empty")
    vocab = vocabulary if vocabulary is not None else build_vocabulary(text)
    return encode(text, vocab, name=str(path)), vocab

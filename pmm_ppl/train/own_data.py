"""Training on the user's own data file without writing a model file (``pmm train --pair NAME --data FILE``).

:func:`plan_own_data` reads the file (``.npy`` / ``.npz`` arrays ``(N, ...)``, or a text file of
characters), checks *every* example against the pair's support (before anything is trained or written),
holds out a test split, and chooses defaults from the data's shape and the pair:

=========================  =====================================================================
data                       net (a residual MLP over the flattened example, or dilated convolutions)
=========================  =====================================================================
text (characters)          the pair with ``num_classes`` = the file's characters; dilated 1-D
                           convolutions on windows of characters, revealed positions carried over,
                           a count prior of the file's characters (pooled outside training), the
                           masked-token cross-entropy, the ancestral sampler: the measured
                           recipe of ``models/shakespeare_chars.py``
                           (:mod:`pmm_ppl.train.character_recipe`); log-linear schedule
whole numbers on a grid    a *level head* (the output is an expectation over the grid's levels
(integer dtype, or whole   ``0..255`` for ``uint8``, else ``min(0, lowest)..highest``): a Normal-type
floats; at most            pair (linear, real head) sees the levels mapped onto [-1, 1]
``MAX_LEVELS`` levels)     (``DiscretisedNormalPreconditioned``, the bound is on the discretised
                           data, as ``models/digits_normal.py``); any other linear pair
                           sees the raw levels (``LevelPosteriorDenoiser``, e.g. counts with
                           Gamma-Poisson, as ``models/digits_counts.py``)
other real data            the pair's own head (``pair.output_head``); a Normal-type pair gets EDM
                           preconditioning with the data's mean and s.d., and ``A_max`` scaled to
                           the data (``default_a_max / s.d.^2``)
=========================  =====================================================================

The schedule is the pair's default (:func:`~pmm_ppl.process.schedules.schedule_for`), the budget
``clip(100 epochs, 500, 20000)`` steps or 10 minutes, the held-out split a seeded random
``test_fraction`` of the rows (the last fraction of the characters for text) or a separate ``--test``
file.

The plan is written out as an ordinary model file (:func:`model_source`): the run directory keeps it as
``model.py`` (so ``pmm sample`` / ``pmm eval`` rebuild the model from it) and ``--save-model`` writes it
for customising.  The file records the data file's absolute path and SHA-256; building its spec
re-hashes the file and refuses a changed one (:func:`check_data_file`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from pmm_ppl.conjugate.base import LinearPair
from pmm_ppl.conjugate.validation import PMMInputError
from pmm_ppl.data.user import load_array_file, load_text_file
from pmm_ppl.data.validate import validate_for_pair
from pmm_ppl.train import character_recipe as recipe

#: a grid with more levels than this gets a plain (mean) head instead of a level head
MAX_LEVELS = 256
DEFAULT_TEST_FRACTION = 0.1
TEXT_WINDOW = 128
#: largest A_max for the log-linear schedule of text: in float32, A(1) = -log(1 - (1 - e^-A_max)) is inf for
#: A_max = 20 (1 - e^-20 rounds to 1) and already imprecise at 16 (measured: 15.94); 12 as models/shakespeare_chars.py
TEXT_A_MAX = 12.0
VALIDATE_CHUNK = 4096


# ---------------------------------------------------------------------------------------------- data files
def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of the file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_data_file(path: str | os.PathLike, sha256: str) -> Path:
    """``path`` must still be the file a run was set up on (same SHA-256); else a :class:`PMMInputError`."""
    path = Path(path)
    if not path.is_file():
        raise PMMInputError(f"data file {str(path)!r}: not found; the run was trained on it (SHA-256 {sha256[:16]}...). "
                            "Put the file back, or train a new run on the data you have")
    actual = file_sha256(path)
    if actual != sha256:
        raise PMMInputError(f"data file {str(path)!r}: changed since the run was set up (SHA-256 now {actual[:16]}..., "
                            f"recorded {sha256[:16]}...); restore the original file, or train a new run on the new data")
    return path


def _split_rows(n: int, test_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row indices: a seeded random ``test_fraction`` of ``n`` rows (at least one each)."""
    num_test = min(max(1, int(round(test_fraction * n))), n - 1)
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[num_test:]), np.sort(perm[:num_test])


def load_own_array(data: str, sha256: str, test: str | None = None, test_sha256: str | None = None,
                   test_fraction: float = DEFAULT_TEST_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """``(train, test)`` rows of an array file (checked against its SHA-256): the test rows are the
    ``test`` file's, or a seeded random ``test_fraction`` of the rows (:func:`_split_rows`)."""
    arr = load_array_file(check_data_file(data, sha256))
    if test is not None:
        return arr, load_array_file(check_data_file(test, test_sha256))
    train_idx, test_idx = _split_rows(len(arr), test_fraction)
    return arr[train_idx], arr[test_idx]


def load_own_text(data: str, sha256: str, vocabulary: str, length: int, test: str | None = None,
                  test_sha256: str | None = None, test_fraction: float = DEFAULT_TEST_FRACTION
                  ) -> tuple[np.ndarray, np.ndarray]:
    """``(train, test)`` windows ``(n, length)`` of character indices of a text file (checked against its
    SHA-256): non-overlapping windows of the first ``1 - test_fraction`` of the characters and of the
    rest (or of the ``test`` file)."""
    tokens, _ = load_text_file(check_data_file(data, sha256), vocabulary)
    if test is not None:
        test_tokens, _ = load_text_file(check_data_file(test, test_sha256), vocabulary)
    else:
        cut = len(tokens) - max(length, int(round(test_fraction * len(tokens))))
        tokens, test_tokens = tokens[:cut], tokens[cut:]

    def windows(t):
        n = (len(t) // length) * length
        return t[:n].reshape(-1, length)

    return windows(tokens), windows(test_tokens)


# ---------------------------------------------------------------------------------------------- the plan
@dataclasses.dataclass(frozen=True)
class OwnDataPlan:
    """Everything the model file of an own-data run states (see the module docstring for the rules)."""

    pair: str
    kind: str  # "array" or "text"
    data: str  # absolute path
    sha256: str
    test: str | None
    test_sha256: str | None
    test_fraction: float
    data_shape: tuple[int, ...]  # of one example in the pair's data space
    num_train: int
    num_test: int
    net: str  # "discretised_normal", "levels", "preconditioned", "plain", "text"
    levels: tuple[int, int] | None  # (lowest, highest) whole number of a grid
    data_mean: float
    data_std: float
    a_max: float
    unit: str
    train: dict
    vocabulary: str | None = None

    @property
    def name(self) -> str:
        return Path(self.data).stem

    def record(self) -> dict:
        """The data files of the run and their SHA-256 (written to the run's ``model.json``)."""
        out = {"pair": self.pair, "kind": self.kind, "path": self.data, "sha256": self.sha256}
        if self.test is not None:
            out.update(test_path=self.test, test_sha256=self.test_sha256)
        return out

    def summary(self) -> str:
        """What was chosen, in two lines (printed by ``pmm train`` and kept in the model file's docstring)."""
        if self.net == "text":
            what = f"dilated convolutions over windows of {self.data_shape[0]} characters ({self.data_shape[1]} distinct)"
        elif self.net in ("discretised_normal", "levels"):
            lo, hi = self.levels
            what = (f"level head over the {hi - lo + 1} levels {lo}..{hi}"
                    + (" mapped onto [-1, 1]" if self.net == "discretised_normal" else " with the pair's exact likelihood"))
        else:
            what = {"preconditioned": "MLP with Normal preconditioning", "plain": "MLP with the pair's head"}[self.net]
        unit = "windows" if self.kind == "text" else "examples"
        part = (f"the last {self.test_fraction:.0%} of the characters" if self.kind == "text" else
                f"a random {self.test_fraction:.0%} of the rows (seed 0)")
        held = (f"test set: {self.test} ({self.num_test} {unit})" if self.test is not None else
                f"test set: {part} of {Path(self.data).name} ({self.num_test} {unit}; --test-fraction or --test "
                "to change)")
        return (f"{self.data}: {self.num_train} training {unit} of shape "
                f"{self.data_shape}, pair {self.pair}; {what}; A_max {self.a_max:g}; up to {self.train['max_steps']} "
                f"steps or {self.train['max_seconds']:g} s\n{held}")


def _whole_numbers(arr: np.ndarray) -> bool:
    if arr.dtype.kind in "biu":
        return True
    return arr.dtype.kind == "f" and bool(np.all(np.isfinite(arr))) and bool(np.all(arr == np.round(arr)))


def _validate_rows(arr: np.ndarray, pair: Any, name: str) -> None:
    """Every row against the pair (chunks of ``VALIDATE_CHUNK`` rows; the message names the rows)."""
    for start in range(0, len(arr), VALIDATE_CHUNK):
        rows = arr[start : start + VALIDATE_CHUNK]
        validate_for_pair(rows, pair, name=f"{name} (rows {start}..{start + len(rows) - 1})")


def _budget(num_train: int, batch_size: int) -> dict:
    steps = int(np.clip(round(100 * num_train / batch_size), 500, 20_000))
    return {"batch_size": batch_size, "learning_rate": 2e-3, "warmup_steps": min(200, steps // 10),
            "max_steps": steps, "max_seconds": 600.0, "decay_steps": steps, "checkpoint_every": min(500, steps),
            "log_every": min(50, steps), "ema_warmup": 2.0}


def _check_fraction(test_fraction: float | None) -> float:
    f = DEFAULT_TEST_FRACTION if test_fraction is None else test_fraction
    if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0.0 < float(f) < 1.0:
        raise PMMInputError(f"--test-fraction: must be a number strictly between 0 and 1, got {test_fraction!r}")
    return float(f)


def plan_own_data(pair: str | None, data: str | None = None, text: str | None = None, test: str | None = None,
                  test_fraction: float | None = None) -> OwnDataPlan:
    """The defaults for training ``pair`` (a registered name) on the array file ``data`` or the text file
    ``text``; every example (train and test) is checked against the pair first.  ``test`` (a file of the
    same kind) replaces the held-out ``test_fraction`` (default 0.1)."""
    from pmm_ppl.conjugate.registry import get_pair, pair_class
    from pmm_ppl.nets.heads import head_for_pair

    if (data is None) == (text is None):
        raise PMMInputError("give exactly one of --data FILE (arrays: .npy / .npz) and --text FILE (characters)")
    if test is not None and test_fraction is not None:
        raise PMMInputError("give --test FILE or --test-fraction, not both")
    fraction = _check_fraction(test_fraction)
    if pair is None:
        raise PMMInputError("--pair: name the conjugate pair to train with (see `pmm pairs`)")
    try:
        cls = pair_class(pair)
    except KeyError as err:
        raise PMMInputError(f"--pair: {err.args[0]}") from None
    path = Path(data if data is not None else text).resolve()
    test_path = None if test is None else Path(test).resolve()
    sha = file_sha256(_existing(path))
    test_sha = None if test_path is None else file_sha256(_existing(test_path))

    if text is not None:
        return _plan_text(cls, pair, path, sha, test_path, test_sha, fraction)

    if getattr(cls, "output_head", "real") == "simplex":
        raise PMMInputError(f"--pair {pair}: a token pair trains on the characters of a text file (--text FILE); "
                            "for arrays of probability vectors write a model file")
    arr = load_array_file(path)
    test_arr = None if test_path is None else load_array_file(test_path)
    if arr.ndim < 2:
        raise PMMInputError(f"{path}: expected examples on the first axis and at least one more axis, e.g. (N, D) "
                            f"vectors or (N, H, W) images; got shape {arr.shape}")
    if test_arr is not None and test_arr.shape[1:] != arr.shape[1:]:
        raise PMMInputError(f"{test_path}: examples of shape {test_arr.shape[1:]}, but {path.name} has {arr.shape[1:]}")
    if test_arr is None and len(arr) < 2:
        raise PMMInputError(f"{path}: needs at least 2 examples to hold one out for testing, got {len(arr)}")
    p = get_pair(pair)
    whole = _whole_numbers(arr) and (test_arr is None or _whole_numbers(test_arr))
    allv = arr if test_arr is None else np.concatenate([arr.reshape(len(arr), -1), test_arr.reshape(len(test_arr), -1)])
    lo, hi = _grid_range(allv) if whole else (0, 0)
    grid = whole and 2 <= hi - lo + 1 <= MAX_LEVELS and isinstance(p, LinearPair) and p.event_ndim == 0
    normal_type = isinstance(p, LinearPair) and getattr(p, "output_head", None) == "real"
    if normal_type and grid:
        net, to_pair = "discretised_normal", lambda v: _to_unit_grid(v, lo, hi)
    else:
        net, to_pair = ("levels" if grid else "preconditioned" if normal_type else "plain"), lambda v: v
    # the whole file (and the test file) against the pair, in the pair's data space, before anything else
    _validate_rows(to_pair(arr), p, str(path))
    if test_arr is not None:
        _validate_rows(to_pair(test_arr), p, str(test_path))
    if net == "plain":
        head_for_pair(p)  # a pair without a single head (mixed supports) is refused here with its reason
    num_test = len(test_arr) if test_arr is not None else len(_split_rows(len(arr), fraction)[1])
    num_train = len(arr) if test_arr is not None else len(arr) - num_test
    # statistics on the training rows only (the same rows load_own_array returns)
    train_rows = arr if test_arr is not None else arr[_split_rows(len(arr), fraction)[0]]
    stats = np.asarray(to_pair(train_rows), np.float64)
    mean, std = float(stats.mean()), float(stats.std())
    std = std if std > 0 else 1.0
    a_max = float(p.default_a_max) / (std ** 2 if net == "preconditioned" else 1.0)
    unit = "count" if net == "levels" and p.output_head == "positive" else "dim"
    return OwnDataPlan(pair=pair, kind="array", data=str(path), sha256=sha,
                       test=None if test_path is None else str(test_path), test_sha256=test_sha,
                       test_fraction=fraction, data_shape=tuple(int(d) for d in arr.shape[1:]), num_train=num_train,
                       num_test=num_test, net=net, levels=(lo, hi) if grid else None, data_mean=round(mean, 6),
                       data_std=round(std, 6), a_max=a_max, unit=unit, train=_budget(num_train, min(128, num_train)))


def _grid_range(values: np.ndarray) -> tuple[int, int]:
    """The grid of whole-number data: ``0..255`` for ``uint8`` (images), else from ``min(0, lowest)`` (counts
    and pixel values start at 0) to the highest value of the file."""
    if values.dtype == np.uint8:
        return 0, 255
    return min(0, int(np.min(values))), int(np.max(values))


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise PMMInputError(f"{str(path)!r}: no such file" if not path.exists() else f"{str(path)!r}: not a file")
    return path


def _to_unit_grid(v: Any, lo: int, hi: int) -> np.ndarray:
    """Whole numbers ``lo..hi`` -> ``hi - lo + 1`` evenly spaced levels in [-1, 1] (float32)."""
    return ((np.asarray(v, np.float32) - lo) / (hi - lo) * 2.0 - 1.0).astype(np.float32)


def _plan_text(cls, pair, path, sha, test_path, test_sha, fraction) -> OwnDataPlan:
    if getattr(cls, "output_head", None) != "simplex":
        from pmm_ppl.conjugate.registry import list_pairs, pair_class

        tokens = [n for n in list_pairs() if getattr(pair_class(n), "output_head", None) == "simplex"]
        raise PMMInputError(f"--pair {pair}: characters need a token pair (one whose data are probability vectors: "
                            f"{', '.join(tokens)}); use --data for arrays")
    tokens, vocab = load_text_file(path)
    test_tokens = None
    if test_path is not None:
        _, test_vocab = load_text_file(test_path)
        vocab = "".join(sorted(set(vocab) | set(test_vocab)))
        test_tokens, _ = load_text_file(test_path, vocab)
    if len(vocab) < 2:
        raise PMMInputError(f"{path}: the text uses only {len(vocab)} distinct character(s); at least 2 are needed")
    n = len(tokens)
    held = len(test_tokens) if test_tokens is not None else int(round(fraction * n))
    length = min(TEXT_WINDOW, held, (n - (0 if test_tokens is not None else held)) // 4)
    if length < 8:
        raise PMMInputError(f"{path}: too short ({n} characters{'' if test_tokens is None else f', test {held}'}); "
                            "training on text needs windows of at least 8 characters with 4 of them for training "
                            "and one held out")
    # the same split as load_own_text
    num_train = (n if test_tokens is not None else n - max(length, held)) // length
    num_test = (held if test_tokens is not None else max(length, held)) // length
    batch = min(recipe.windows_per_step(length), num_train)
    train = {**_budget(num_train, batch), "learning_rate": recipe.LEARNING_RATE, **recipe.OPTIMIZER,
             "ema_warmup": 10.0}
    p = cls(num_classes=len(vocab))
    return OwnDataPlan(pair=pair, kind="text", data=str(path), sha256=sha,
                       test=None if test_path is None else str(test_path), test_sha256=test_sha, test_fraction=fraction,
                       data_shape=(length, len(vocab)), num_train=num_train, num_test=num_test, net="text", levels=None,
                       data_mean=0.0, data_std=1.0, a_max=min(float(p.default_a_max), TEXT_A_MAX), unit="char", train=train,
                       vocabulary=vocab)


# ---------------------------------------------------------------------------------------------- the model file
_HEADER = '''"""{name}: own data {data} with the {pair} pair (written by `pmm train --pair {pair} --{opt} ...`).

{summary}

Edit freely: this file is an ordinary model file (`pmm train THIS_FILE.py`).  Building its spec re-hashes the
data file and refuses a changed one; after changing the data, update SHA256 (`sha256sum FILE`).
"""

import jax
import numpy as np
from flax import nnx

from pmm_ppl.conjugate.registry import get_pair
from pmm_ppl.data.augment import GeometricAugmentation
from pmm_ppl.process.schedules import GeometricSchedule, LogLinearSchedule, PowerSchedule  # noqa: F401
from pmm_ppl.train.own_data import check_data_file
from pmm_ppl.train.spec import EvalConfig, ModelSpec, TrainConfig


def init_key(seed):
    """The initialisation key: "rbg" initialises about 1.5x faster on CPU than jax's default threefry
    (measured: 1.7 s against 2.6 s for a small dilated convolution net; the weights differ, not their law)."""
    return jax.random.key(seed, impl="rbg")


DATA = {data!r}
SHA256 = {sha!r}
TEST = {test!r}
TEST_SHA256 = {test_sha!r}
TEST_FRACTION = {fraction!r}  # held out when TEST is None
'''

_ARRAY_LOAD = '''
    def load_data():
        from pmm_ppl.train.own_data import load_own_array

        train_rows, test_rows = load_own_array(DATA, SHA256, TEST, TEST_SHA256, TEST_FRACTION)
        return to_pair(train_rows), to_pair(test_rows)
'''

_NETS = {
    "discretised_normal": '''
    # whole numbers LO..HI on a grid: mapped onto NUM_LEVELS evenly spaced levels in [-1, 1]
    LO, HI = {lo}, {hi}
    NUM_LEVELS = HI - LO + 1

    def to_pair(v):
        return ((np.asarray(v, np.float32) - LO) / (HI - LO) * 2.0 - 1.0).astype(np.float32)

    def make_net(seed):
        from pmm_ppl.nets.discretised import DiscretisedNormalPreconditioned
        from pmm_ppl.nets.mlp import MLP

        backbone = MLP(SHAPE, out_shape=SHAPE + (NUM_LEVELS,), width=width, depth=depth, zero_init_output=True,
                       augment_dim=augment_dim, rngs=nnx.Rngs(init_key(seed)))
        return DiscretisedNormalPreconditioned(backbone, pair, schedule, np.linspace(-1.0, 1.0, NUM_LEVELS),
                                               data_mean=DATA_MEAN, data_std=DATA_STD)
''',
    "levels": '''
    # whole numbers LO..HI: the output is an expectation over these levels with the pair's exact likelihood
    LO, HI = {lo}, {hi}

    def to_pair(v):
        return np.asarray(v, np.float32)

    def make_net(seed):
        from pmm_ppl.nets.discretised import LevelPosteriorDenoiser
        from pmm_ppl.nets.mlp import MLP

        backbone = MLP(SHAPE, out_shape=SHAPE + (HI - LO + 1,), width=width, depth=depth, zero_init_output=True,
                       augment_dim=augment_dim, rngs=nnx.Rngs(init_key(seed)))
        return LevelPosteriorDenoiser(backbone, pair, schedule, np.arange(LO, HI + 1), input_shift=DATA_MEAN,
                                      input_scale=DATA_STD, floor={floor})
''',
    "preconditioned": '''
    def to_pair(v):
        return np.asarray(v, np.float32)

    def make_net(seed):
        from pmm_ppl.nets.factory import make_denoiser

        return make_denoiser(pair, SHAPE, arch="mlp", schedule=schedule, precondition=True, data_mean=DATA_MEAN,
                             data_std=DATA_STD, width=width, depth=depth, augment_dim=augment_dim, seed=seed,
                             rng_impl="rbg")
''',
    "plain": '''
    def to_pair(v):
        return np.asarray(v, np.float32)

    def make_net(seed):
        from pmm_ppl.nets.factory import make_denoiser

        return make_denoiser(pair, SHAPE, arch="mlp", width=width, depth=depth, augment_dim=augment_dim, seed=seed,
                             rng_impl="rbg")
''',
}

_ARRAY_SPEC = '''

def spec(**overrides) -> ModelSpec:
    check_data_file(DATA, SHA256)
    if TEST is not None:
        check_data_file(TEST, TEST_SHA256)
    SHAPE = {shape!r}
    DATA_MEAN, DATA_STD = {mean!r}, {std!r}  # of the training examples in the pair's data space
    pair = get_pair({pair!r})
    schedule = {schedule}
    width, depth = overrides.pop("width", 512), overrides.pop("depth", 3)
    weighting = overrides.pop("weighting", "elbo")
    # non-leaking augmentation of images (pmm_ppl/data/augment.py), e.g. --set '{{"augment": 0.15}}'
    augment = GeometricAugmentation.from_setting(overrides.pop("augment", None))
    augment_dim = 0 if augment is None else augment.num_labels
    train = TrainConfig(**{{**{train}, **overrides}})
{net}{load}
    return ModelSpec(name={name!r}, pair=pair, schedule=schedule, make_net=make_net, load_data=load_data,
                     data_shape=SHAPE, weighting=weighting, augment=augment, train=train,
                     eval=EvalConfig(num_levels={num_levels}, unit={unit!r}, num_steps=256, num_mc=2), sample_steps=256,
                     description=__doc__)
'''

_TEXT_SPEC = '''
VOCABULARY = {vocab!r}


def spec(**overrides) -> ModelSpec:
    check_data_file(DATA, SHA256)
    if TEST is not None:
        check_data_file(TEST, TEST_SHA256)
    from pmm_ppl.data.text import decode
    from pmm_ppl.nets.carry_revealed import CarryRevealed
    from pmm_ppl.nets.concentration_input import LogConcentrationInput
    from pmm_ppl.nets.count_prior import CountPrior, LazyCounts, check_count_settings, check_count_weight
    from pmm_ppl.nets.dilated_conv import DilatedConvNet

    K, LENGTH = len(VOCABULARY), {length}
    pair = get_pair({pair!r}, num_classes=K)
    schedule = LogLinearSchedule(a_max={a_max!r})
    # the measured recipe of models/shakespeare_chars.py (pmm_ppl/train/character_recipe.py) when this file was written
    conv_defaults = {net!r}
    conv_settings = {{key: overrides.pop(key, default) for key, default in conv_defaults.items()}}
    count_settings = {{key: overrides.pop(key, default) for key, default in {counts!r}.items()}}
    check_count_settings(K, count_settings["count_radius"], count_settings["count_discount"])
    check_count_weight(count_settings["count_weight"])
    reveals = getattr(pair, "reveals_on_first_count", False)
    counts = (LazyCounts(lambda: load_data()[0], K, count_settings["count_radius"], count_settings["count_discount"])
              if count_settings["count_radius"] and reveals else None)  # built on first use
    weighting = overrides.pop("weighting", {weighting!r})
    log_score = float(overrides.pop("log_score", {log_score!r}))  # the masked-token cross-entropy
    sampler = overrides.pop("sampler", {sampler!r})
    train = TrainConfig(**{{**{train}, **overrides}})

    def make_net(seed):
        inner = DilatedConvNet((LENGTH, K), **conv_settings, head="simplex", rngs=nnx.Rngs(init_key(seed)))
        net = LogConcentrationInput(inner, pair, schedule)
        if counts is not None:
            net = CountPrior(net, pair, schedule, counts, count_settings["count_weight"])
        return CarryRevealed(net, pair, schedule) if reveals else net

    def load_data():
        from pmm_ppl.train.own_data import load_own_text

        return load_own_text(DATA, SHA256, VOCABULARY, LENGTH, TEST, TEST_SHA256, TEST_FRACTION)

    def encode(batch):
        return jax.nn.one_hot(batch, K, dtype=np.float32)

    def decode_sample(sample):
        return decode(np.argmax(np.asarray(sample), -1), VOCABULARY)

    return ModelSpec(name={name!r}, pair=pair, schedule=schedule, make_net=make_net, load_data=load_data,
                     data_shape=(LENGTH, K), weighting=weighting, log_score=log_score, train=train,
                     eval=EvalConfig(num_levels=0, unit="char", num_steps=256, num_mc=2), sample_steps=256,
                     sampler=sampler, description=__doc__, encode=encode, decode=decode_sample)
'''


def _schedule_source(plan: OwnDataPlan) -> str:
    """The pair's default schedule (:func:`~pmm_ppl.process.schedules.schedule_for`) with the plan's ``A_max``,
    written out as source."""
    from pmm_ppl.conjugate.registry import get_pair
    from pmm_ppl.process.schedules import schedule_for

    sched = schedule_for(get_pair(plan.pair), a_max=plan.a_max)
    return repr(sched)


def model_source(plan: OwnDataPlan) -> str:
    """The model file (Python source) equivalent to ``plan``: ``spec(**overrides)`` like the files in ``models/``."""
    header = _HEADER.format(name=plan.name, data=plan.data, pair=plan.pair, opt=plan.kind if plan.kind == "text" else "data",
                            summary=plan.summary().replace('"""', "'''"), sha=plan.sha256, test=plan.test,
                            test_sha=plan.test_sha256, fraction=plan.test_fraction)
    train = json.dumps(plan.train)
    if plan.kind == "text":
        from pmm_ppl.conjugate.registry import get_pair

        net = recipe.net_for(get_pair(plan.pair, num_classes=plan.data_shape[1]))
        counts = recipe.counts_for(plan.data_shape[1], plan.num_train * plan.data_shape[0])
        return header + _TEXT_SPEC.format(vocab=plan.vocabulary, length=plan.data_shape[0], pair=plan.pair,
                                          a_max=plan.a_max, train=train, name=plan.name, net=net, counts=counts,
                                          sampler=recipe.SAMPLER, **recipe.OBJECTIVE)
    lo, hi = plan.levels if plan.levels is not None else (0, 0)
    net = _NETS[plan.net].format(lo=lo, hi=hi, floor="1e-6" if _positive_head(plan.pair) else "None")
    return header + _ARRAY_SPEC.format(
        shape=tuple(plan.data_shape), mean=plan.data_mean, std=plan.data_std, pair=plan.pair,
        schedule=_schedule_source(plan), train=train, net=net, load=_ARRAY_LOAD, name=plan.name,
        num_levels="NUM_LEVELS" if plan.net == "discretised_normal" else 0, unit=plan.unit)


def _positive_head(pair: str) -> bool:
    from pmm_ppl.nets.heads import head_for_pair

    try:
        return head_for_pair(pair) == "positive"
    except PMMInputError:
        return False


def spec_from_source(source: str, **overrides):
    """The :class:`~pmm_ppl.train.spec.ModelSpec` of model-file ``source`` (through a temporary file and
    :func:`~pmm_ppl.train.models.load_spec`, so errors read as for any model file)."""
    from pmm_ppl.train.models import load_spec

    with tempfile.TemporaryDirectory(prefix="pmm-own-") as tmp:
        path = Path(tmp) / "model.py"
        path.write_text(source)
        return load_spec(str(path), **overrides)


__all__ = ["OwnDataPlan", "check_data_file", "file_sha256", "load_own_array", "load_own_text", "model_source",
           "plan_own_data", "spec_from_source"]

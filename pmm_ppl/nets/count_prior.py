r"""A count-based prior for masked tokens: the training text's n-gram statistics around each masked position.

Under masked diffusion (the noiseless Dirichlet-Categorical channel) a masked position :math:`i` sees the revealed
tokens around it.  Masks are drawn independently of the text, so the posterior of token :math:`x_i` given the
revealed tokens :math:`x_S` at offsets :math:`S \subseteq \{-R, \dots, R\} \setminus \{0\}` is the text's own
conditional :math:`p(x_i \mid x_{i+S})`: one count table per subset :math:`S` estimates it.
:class:`MaskedContextCounts` counts, over every position of a training token stream and every subset :math:`S`
(:math:`2^{2R}` of them), how often each class follows each context, and smooths by interpolated absolute
discounting (the family of Kneser-Ney; Ney, Essen & Kneser 1994), backing off by dropping the farthest revealed
offset:

.. math::

    p_S(c) = \frac{\max(n_S(c) - D, 0) + D\,u_S\,p_{S^-}(c)}{n_S}, \qquad
    p_\emptyset(c) = \frac{\max(n(c) - D, 0) + D\,u\,/K}{n},

where :math:`n_S(c)` counts class :math:`c` after the context :math:`x_{i+S}`, :math:`n_S = \sum_c n_S(c)`,
:math:`u_S` the number of classes with :math:`n_S(c) > 0`, :math:`S^-` is :math:`S` without its farthest offset
(ties: the later one), and :math:`p_S = p_{S^-}` for a context never seen in training.  Every class keeps positive
mass (:math:`D\,u / (n K)` at the empty context, times :math:`D\,u_S / n_S` for each seen context backed off
through; the pool clamps it at 1e-30 before its logarithm).  Offsets beyond either end of the window are not
revealed.

:class:`CountPrior` pools a token denoiser's categorical with it at masked positions (a logarithmic opinion pool,
the geometric mixture of two estimates of the same posterior),

.. math::

    f(\mu, t)_i \propto \mathrm{inner}(\mu, t)_i^{\,1 - \lambda} \odot p_{S_i}(\cdot \mid x_{i + S_i})^{\lambda}
    \quad (i \text{ masked}),

with ``count_weight`` :math:`\lambda`, and leaves revealed positions to ``inner`` (wrapped in
:class:`~pmm_ppl.nets.carry_revealed.CarryRevealed`, they are exact).  The pool is a categorical per position, so
the likelihood bound of the pooled denoiser is as valid as the network's.  The network trains alone (in a training
call, :meth:`CountPrior.training_call`, the wrapper returns ``inner``'s output): a network trained through the
pool learned a correction to counts of its own training text, which overrated them on new text (measured in
``models/shakespeare_chars.py``, the ninth session's block).  The counts hold the local statistics of the whole
training text, which a network learns only slowly; the network holds what the counts cannot (smoothing across
contexts, reach beyond ``R``).

The tables are numpy arrays on the host, looked up by :func:`jax.pure_callback` (jittable, vmappable, no
gradient: their input is the integer revealed ids).  They are a function of the model's training text (its
``load_data``; the run's spec.json records its SHA-256) and ``(radius, discount)``, built on first use (or by
:meth:`CountPrior.fit_to_data`) and not saved with the net's weights.  No library here counts n-grams with masked,
two-sided contexts (NLTK's and KenLM's models are left-to-right), so this one is written out; the tests check it
against counts in plain Python.
"""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from pmm_ppl.conjugate.validation import PMMInputError
from pmm_ppl.nets.carry_revealed import RevealedTokenWrapper


def context_offsets(radius: int) -> tuple[int, ...]:
    """The offsets ``-radius..radius`` without 0, nearest first (ties: negative first): the order in which
    contexts grow, so that dropping the last offset of a subset drops its farthest."""
    return tuple(sorted((o for o in range(-radius, radius + 1) if o), key=lambda o: (abs(o), o)))


def max_count_radius(num_classes: int) -> int:
    r"""The largest radius whose keys fit :class:`MaskedContextCounts`' int64: :math:`K^{2R} \max(2^{2R}, K) <
    2^{62}` (4 for K = 37 to 107, 3 for K = 108 to 463)."""
    k, r = int(num_classes), 0
    while _fits(k, r + 1):
        r += 1
    return r


def _fits(k: int, r: int) -> bool:
    return float(k) ** (2 * r) * max(2 ** (2 * r), k) < 2.0 ** 62


def check_count_settings(num_classes: int, radius: int, discount: float) -> tuple[int, int, float]:
    """``(K, R, D)`` checked: K >= 2, R >= 0 with keys that fit (:func:`max_count_radius`), D in (0, 1); else
    :class:`~pmm_ppl.conjugate.validation.PMMInputError` naming the setting."""
    k, r = int(num_classes), int(radius)
    if k < 2:
        raise PMMInputError(f"num_classes: the count tables need at least 2 classes, got {num_classes}")
    if r < 0 or not _fits(k, r):
        raise PMMInputError(f"count_radius: must be >= 0 with K^(2R) max(2^(2R), K) < 2^62 (the keys are int64; "
                            f"K = {k}: at most {max_count_radius(k)}), got {radius}")
    if not 0.0 < float(discount) < 1.0:
        raise PMMInputError(f"count_discount: must lie in (0, 1), got {discount}")
    return k, r, float(discount)


class MaskedContextCounts:
    """Smoothed counts of each class given the revealed tokens at every subset of the offsets within ``radius``
    (module docstring), from the 1-D int ``tokens`` in ``0..num_classes-1``.

    A context's key is the subset's bit mask :math:`s` (bit :math:`j` for the :math:`j`-th offset of
    :func:`context_offsets`) and its tokens in base :math:`K`: :math:`s\\,K^{2R} + \\sum_{j \\in s}
    x_{o_j} K^j`, one int64 (``radius`` is refused where it would not fit).  Stored as one sorted key array
    with, per key, the classes seen after it and their counts (compressed sparse rows)."""

    def __init__(self, tokens: Any, num_classes: int, radius: int, discount: float = 0.75):
        k, r, discount = check_count_settings(num_classes, radius, discount)
        tokens = np.asarray(tokens)
        if tokens.ndim != 1 or tokens.size == 0 or not np.issubdtype(tokens.dtype, np.integer):
            raise PMMInputError(f"tokens: a non-empty 1-D integer array, got shape {tokens.shape} "
                                f"and dtype {tokens.dtype}")
        if tokens.min() < 0 or tokens.max() >= k:
            raise PMMInputError(f"tokens: classes must lie in 0..{k - 1}, got {tokens.min()}..{tokens.max()}")
        self.num_classes, self.radius, self.discount = k, r, float(discount)
        self.offsets = context_offsets(r)
        self.base = k
        self.span = self.base ** len(self.offsets)
        x = tokens.astype(np.int64)
        digits = [_shifted(x, o, -1) for o in self.offsets]  # -1: beyond the text
        cls = np.int16 if k <= np.iinfo(np.int16).max else np.int32

        def count(subset):  # the block of one subset: its bit mask, keys, rows' lengths, classes and counts
            local = np.zeros_like(x)
            inside = np.ones(x.shape, bool)
            for j in subset:
                local += digits[j] * self.base ** j
                inside &= digits[j] >= 0
            pair, n = np.unique(local[inside] * k + x[inside], return_counts=True)  # sorted; empty if no position
            key = pair // k  # has every offset of the subset inside the text
            first = np.flatnonzero(np.append(True, key[1:] != key[:-1])) if len(key) else np.zeros(0, np.int64)
            mask = sum(1 << j for j in subset)
            return (mask, mask * self.span + key[first], np.diff(np.append(first, len(pair))), (pair % k).astype(cls),
                    n.astype(np.float32))

        subsets = [s for size in range(len(self.offsets) + 1)
                   for s in itertools.combinations(range(len(self.offsets)), size)]
        from pmm_ppl.train.cpu_devices import available_cores

        with ThreadPoolExecutor(max_workers=min(len(subsets), available_cores())) as pool:  # sorting frees the GIL
            blocks = list(pool.map(count, subsets))
        blocks.sort(key=lambda b: b[0])  # keys sorted within a block, blocks by their mask: all keys sorted
        self.keys = np.concatenate([b[1] for b in blocks])
        lengths = np.concatenate([b[2] for b in blocks])
        index = np.int32 if lengths.sum() < 2 ** 31 else np.int64
        self.starts = np.concatenate([[0], np.cumsum(lengths)]).astype(index)  # row i: starts[i]..starts[i+1]
        self.classes = np.concatenate([b[3] for b in blocks])
        self.counts = np.concatenate([b[4] for b in blocks])
        del blocks

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.keys, self.starts, self.classes, self.counts))

    def _row_counts(self, keys: np.ndarray) -> np.ndarray:
        """(n, K) counts of each class after each key (zeros for an unseen key)."""
        out = np.zeros((len(keys), self.num_classes), np.float32)
        i = np.clip(np.searchsorted(self.keys, keys), 0, len(self.keys) - 1)
        q = np.nonzero(self.keys[i] == keys)[0]
        lo, hi = self.starts[i[q]].astype(np.int64), self.starts[i[q] + 1].astype(np.int64)
        lens = hi - lo
        rows = np.repeat(q, lens)
        pos = np.repeat(lo - np.cumsum(lens) + lens, lens) + np.arange(int(lens.sum()))
        out[rows, self.classes[pos]] = self.counts[pos]
        return out

    def probs(self, ids: Any) -> np.ndarray:
        """``ids`` (..., L): a class ``0..K-1`` where revealed, ``K`` where masked -> (..., L, K) float32: the
        smoothed :math:`p_S` at masked positions, ``1/K`` at revealed ones."""
        ids = np.asarray(ids)
        k, d = self.num_classes, self.discount
        flat = ids.reshape(-1, ids.shape[-1]).astype(np.int64)
        out = np.full(flat.shape + (k,), 1.0 / k, np.float32)
        rows, cols = np.nonzero(flat == k)
        if rows.size == 0:
            return out.reshape(ids.shape + (k,))
        length = flat.shape[-1]
        # the revealed neighbours of each masked position, nearest first
        nb = []
        for o in self.offsets:
            c = cols + o
            ok = (c >= 0) & (c < length)
            v = np.where(ok, flat[rows, np.clip(c, 0, length - 1)], k)
            nb.append(np.where(v < k, v, -1))
        nb = np.stack(nb, 1) if nb else np.zeros((len(rows), 0), np.int64)  # (q, 2R); -1: not revealed
        revealed = nb >= 0
        order = np.argsort(~revealed, axis=1, kind="stable")  # revealed offsets first, nearest first
        depth = revealed.sum(1)
        p = self._smooth(np.zeros(len(rows), np.int64), np.full((len(rows), k), 1.0 / k, np.float32), d)
        mask = np.zeros(len(rows), np.int64)
        local = np.zeros(len(rows), np.int64)
        for level in range(1, len(self.offsets) + 1):
            active = depth >= level
            if not active.any():
                break
            a = np.nonzero(active)[0]
            j = order[a, level - 1]
            mask[a] |= 1 << j
            local[a] += nb[a, j] * self.base ** j
            p[a] = self._smooth(mask[a] * self.span + local[a], p[a], d)
        out[rows, cols] = p
        return out.reshape(ids.shape + (k,))

    def _smooth(self, keys: np.ndarray, lower: np.ndarray, d: float) -> np.ndarray:
        c = self._row_counts(keys)
        n = c.sum(1, keepdims=True)
        u = (c > 0).sum(1, keepdims=True)
        p = (np.maximum(c - d, 0.0) + d * u * lower) / np.maximum(n, 1.0)
        return np.where(n > 0, p, lower).astype(np.float32)


def _shifted(x: np.ndarray, offset: int, fill: int) -> np.ndarray:
    """``y[i] = x[i + offset]``, ``fill`` beyond the ends."""
    y = np.full_like(x, fill)
    if offset > 0:
        y[:-offset] = x[offset:]
    elif offset < 0:
        y[-offset:] = x[:offset]
    else:
        y[:] = x
    return y


def check_count_weight(count_weight: float) -> float:
    """``count_weight`` as a float in [0, 1], else :class:`~pmm_ppl.conjugate.validation.PMMInputError`."""
    w = float(count_weight)
    if not 0.0 <= w <= 1.0:
        raise PMMInputError(f"count_weight: must lie in [0, 1], got {count_weight}")
    return w


class LazyCounts:
    """A :class:`MaskedContextCounts` built on first use from ``load_tokens()`` (a function returning the 1-D
    training tokens), so that making a net neither loads its data nor counts (tests, settings, shapes).
    ``build_seconds``: the time the build took (loading and counting), 0 until it is built.  Hashed by identity
    (Python's default), as a module's static attribute under ``jit``."""

    def __init__(self, load_tokens: Any, num_classes: int, radius: int, discount: float = 0.75):
        self.num_classes, self.radius, self.discount = check_count_settings(num_classes, radius, discount)  # now
        self.load_tokens = load_tokens
        self._lock = threading.Lock()
        self.table: MaskedContextCounts | None = None
        self.build_seconds = 0.0

    def get(self) -> MaskedContextCounts:
        with self._lock:  # callbacks may run at once (several devices)
            return self._get()

    def _get(self) -> MaskedContextCounts:
        if self.table is None:
            t0 = time.perf_counter()
            self.table = MaskedContextCounts(np.asarray(self.load_tokens()).reshape(-1), self.num_classes, self.radius,
                                             self.discount)
            self.build_seconds = time.perf_counter() - t0
        return self.table

    def probs(self, ids: Any) -> np.ndarray:
        return self.get().probs(ids)


class CountPrior(RevealedTokenWrapper):
    """``net(mu, t)``: ``inner(mu, t)`` pooled with the count prior of ``counts`` (a :class:`LazyCounts`) at masked
    positions with weight ``count_weight`` (module docstring); ``inner``'s output at revealed positions and in a
    training call.

    Arguments: ``inner``, ``pair``, ``schedule`` as :class:`~pmm_ppl.nets.carry_revealed.RevealedTokenWrapper`;
    ``counts`` of the training tokens; ``count_weight`` in [0, 1] (0: ``inner`` alone, 1: the counts alone).
    The network trains alone, so these settings are not among those its weights are recorded under
    (``INFERENCE_ONLY``, :func:`~pmm_ppl.nets.info.net_settings`): a run can be evaluated under another weight,
    discount or positive radius (radius 0 leaves the wrapper out, which moves every layer's path)."""

    INFERENCE_ONLY = ("count_radius", "count_discount", "count_weight")

    def __init__(self, inner: nnx.Module, pair: Any, schedule: Any, counts: LazyCounts, count_weight: float = 0.4):
        super().__init__(inner, pair, schedule)
        self.count_weight = check_count_weight(count_weight)
        self.count_radius = counts.radius
        self.count_discount = counts.discount
        self._counts = counts
        self._training = False

    def training_call(self) -> None:
        """Marks a training call on a freshly rebuilt net (:func:`~pmm_ppl.train.step.training_view`): the wrapper
        then returns ``inner``'s output, so that the network learns the posterior on its own (module docstring)."""
        self._training = True

    def fit_to_data(self) -> float:
        """Builds the count tables from the training text if they are not built yet; returns the seconds their
        build took (fitting to the data: :func:`~pmm_ppl.nets.info.fit_to_data` charges it to a run's training
        budget)."""
        self._counts.get()
        return self._counts.build_seconds

    def prior(self, mu: jax.Array, t: jax.Array) -> jax.Array:
        """(..., L, K): :math:`p_{S_i}` at masked positions, ``1/K`` at revealed ones."""
        return self._prior(self._ids(mu, t))

    def _ids(self, mu: jax.Array, t: jax.Array) -> jax.Array:
        """(..., L): the revealed class, ``K`` where masked."""
        k = mu.shape[-1]
        if k != self._counts.num_classes:
            raise PMMInputError(f"mu: {k} classes, the count tables have {self._counts.num_classes}")
        n = self.counts(mu, t)
        return jnp.where(jnp.max(n, -1) >= 0.5, jnp.argmax(n, -1), k).astype(jnp.int32)

    def _prior(self, ids: jax.Array) -> jax.Array:
        k = self._counts.num_classes
        return jax.pure_callback(self._counts.probs, jax.ShapeDtypeStruct(ids.shape + (k,), jnp.float32), ids,
                                 vmap_method="broadcast_all")

    def __call__(self, mu: jax.Array, t: jax.Array) -> jax.Array:
        q = self.inner(mu, t)
        if self._training or self.count_weight == 0.0:
            return q
        lam, ids = self.count_weight, self._ids(mu, t)
        log_q, log_p = jnp.log(jnp.maximum(q, 1e-30)), jnp.log(jnp.maximum(self._prior(ids), 1e-30))
        pooled = jax.nn.softmax((1.0 - lam) * log_q + lam * log_p, -1)
        return jnp.where((ids < mu.shape[-1])[..., None], q, pooled)


__all__ = ["CountPrior", "LazyCounts", "MaskedContextCounts", "check_count_settings", "check_count_weight",
           "context_offsets", "max_count_radius"]

"""Bad input fails at the public API with a ``PMMInputError`` naming the argument -- for every registered pair.

Cases are generated per pair (``bad_input_cases``), so a new pair is covered by registering it:

* NaN / inf data, observations, accuracies, total accuracies; non-positive accuracies; non-integer
  accuracies for integer-accuracy pairs;
* wrong shapes: observation batch shape vs the state, wrong event size, stacked accuracies of the wrong length;
* out-of-support data and observations: a valid datum / observation with one entry replaced by a candidate
  value (-1, -0.5, 0.5, 1.5, 2.5, 1e3) is expected to be rejected whenever numpyro's ``support`` of
  ``prior()`` / ``observation(link(x), alpha)`` rejects it (negative or non-integer counts, values
  outside [0, 1], non-positive precision, off-simplex vectors, ...);
* hyperparameters: NaN in any float field; -1 and 0 for fields named like a positive quantity
  (precision, rate, shape, concentration, kappa, scale); non-symmetric and non-PD matrices;
  ``encode_tokens`` with a class index >= K.

The message must *start* with the argument's name and a colon (``"x: ..."``): a substring test would
accept ``"xhat: ..."`` for ``x``.  The support probe is checked against the pair's own
``validate_data`` for every pair, with no skip: numpyro's ``prior().support`` and the pair's check
must agree on every candidate value, and a pair that keeps the base class's ``support_text``
must really accept all real data.

Run ``python tests/test_bad_input.py`` to print the table "input -> message".
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pmm_ppl
from pmm_ppl import PMMInputError

PAIRS = pmm_ppl.list_pairs()
POSITIVE_WORDS = ("precision", "rate", "shape", "concentration", "kappa", "scale")
CANDIDATES = (-1.0, -0.5, 0.5, 1.5, 2.5, 1e3)


@dataclasses.dataclass(frozen=True)
class Case:
    label: str
    call: Callable[[], object]
    argument: str  # the name the error message must contain


def _valid_accuracy(pair) -> float:
    return 2.0


def _with_entry(arr, index, value):
    a = np.array(arr, dtype=np.float32, copy=True)
    a[index] = value
    return a


def _support_cases(pair, key) -> list[Case]:
    cases = []
    x = np.asarray(pair.sample_data(key, (3,)), np.float32)
    alpha = _valid_accuracy(pair)
    y = np.asarray(pair.sample_observation(jax.random.fold_in(key, 1), jnp.asarray(x), alpha), np.float32)
    state = pair.init((3,))
    data_support = pair.prior().support
    obs_support = pair.observation(pair.link(jnp.asarray(x)), alpha).support
    positions = [(0,) + (0,) * pair.event_ndim, (0,) + (-1,) * pair.event_ndim]
    for pos in dict.fromkeys(positions):
        for c in CANDIDATES:
            xb = _with_entry(x, pos, c)
            if not bool(np.all(data_support(jnp.asarray(xb)))):
                cases.append(Case(f"x[{pos}] = {c} (out of support)", lambda xb=xb: pair.flow(key, xb, 1.0), "x"))
            yb = _with_entry(y, pos, c)
            if not bool(np.all(obs_support(jnp.asarray(yb)))):
                cases.append(Case(f"y[{pos}] = {c} (out of support)", lambda yb=yb: pair.update(state, yb, alpha), "y"))
    return cases


def _hyper_cases(name) -> list[Case]:
    cls = type(pmm_ppl.get_pair(name))
    cases = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        default = f.default
        build = lambda v, f=f: pmm_ppl.get_pair(name, **{f.name: v})  # noqa: E731
        if isinstance(default, float):
            cases.append(Case(f"{f.name} = nan", lambda b=build: b(float("nan")), f.name))
            if any(w in f.name for w in POSITIVE_WORDS) and default > 0:
                cases.append(Case(f"{f.name} = -1", lambda b=build: b(-1.0), f.name))
                cases.append(Case(f"{f.name} = 0", lambda b=build: b(0.0), f.name))
        elif isinstance(default, tuple) and np.ndim(default) == 1:
            bad = (float("nan"),) + tuple(default[1:])
            cases.append(Case(f"{f.name} has a nan", lambda b=build, v=bad: b(v), f.name))
        elif isinstance(default, tuple) and np.ndim(default) == 2:
            d = len(default)
            eye = np.eye(d)
            non_pd = tuple(map(tuple, eye - 2.0 * np.roll(eye, 1, axis=1) - 2.0 * np.roll(eye, -1, axis=1))) if d > 1 else ((-1.0,),)
            non_sym = tuple(map(tuple, eye + np.triu(np.ones((d, d)), 1)))
            cases.append(Case(f"{f.name} not positive definite", lambda b=build, v=non_pd: b(v), f.name))
            cases.append(Case(f"{f.name} not symmetric", lambda b=build, v=non_sym: b(v), f.name))
            cases.append(Case(f"{f.name} wrong size", lambda b=build, v=tuple(map(tuple, np.eye(d + 1))): b(v), f.name))
        elif isinstance(default, int) and not isinstance(default, bool) and f.name.startswith("num_"):
            cases.append(Case(f"{f.name} = 0", lambda b=build: b(0), f.name))
    return cases


def bad_input_cases(name: str) -> list[Case]:
    pair = pmm_ppl.get_pair(name)
    key = jax.random.key(0)
    x = np.asarray(pair.sample_data(key, (3,)), np.float32)
    alpha = _valid_accuracy(pair)
    y = np.asarray(pair.sample_observation(jax.random.fold_in(key, 1), jnp.asarray(x), alpha), np.float32)
    state = pair.init((3,))
    ys = np.stack([y, y])
    first = (0,) * x.ndim
    cases = [
        Case("x with NaN (flow)", lambda: pair.flow(key, _with_entry(x, first, np.nan), 1.0), "x"),
        Case("x with inf (flow)", lambda: pair.flow(key, _with_entry(x, first, np.inf), 1.0), "x"),
        Case("xhat with NaN (divergence)", lambda: pair.divergence(x, _with_entry(x, first, np.nan), alpha), "xhat"),
        Case("total_accuracy = -1 (flow)", lambda: pair.flow(key, x, -1.0), "total_accuracy"),
        Case("total_accuracy = nan (flow)", lambda: pair.flow(key, x, float("nan")), "total_accuracy"),
        Case("y with NaN (update)", lambda: pair.update(state, _with_entry(y, first, np.nan), alpha), "y"),
        Case("ys with inf (update_many)", lambda: pair.update_many(state, _with_entry(ys, (0,) + first, np.inf), alpha), "ys"),
        Case("alpha = nan (update)", lambda: pair.update(state, y, float("nan")), "alpha"),
        Case("alpha = -1 (update)", lambda: pair.update(state, y, -1.0), "alpha"),
        Case("alpha = 0 (update)", lambda: pair.update(state, y, 0.0), "alpha"),
        Case("alpha = -1 (predictive)", lambda: pair.predictive(state, -1.0), "alpha"),
        Case("alpha = -1 (divergence)", lambda: pair.divergence(x, x, -1.0), "alpha"),
        Case("alphas of length 3 for 2 observations", lambda: pair.update_many(state, ys, jnp.full((3,), alpha)), "alphas"),
        Case("y batch (4,) vs state batch (3,)", lambda: pair.update(state, np.concatenate([y, y[:1]]), alpha), "y"),
        Case("ys a scalar (not stacked)", lambda: pair.update_many(state, np.float32(y.flat[0]), alpha), "ys"),
    ]
    if pair.accuracy_kind == "integer":
        cases.append(Case("alpha = 1.5 for an integer accuracy", lambda: pair.update(state, y, 1.5), "alpha"))
        cases.append(Case("alphas = [1, 2.5] for an integer accuracy", lambda: pair.update_many(state, ys, jnp.array([1.0, 2.5])), "alphas"))
    if pair.event_ndim:
        y_wide = np.concatenate([y, y[..., :1]], axis=-1)
        x_wide = np.concatenate([x, x[..., :1]], axis=-1)
        cases.append(Case("y event size + 1 (update)", lambda: pair.update(state, y_wide, alpha), "y"))
        cases.append(Case("x event size + 1 (flow)", lambda: pair.flow(key, x_wide, 1.0), "x"))
        cases.append(Case("xhat event size + 1 (divergence)", lambda: pair.divergence(x, x_wide, alpha), "xhat"))
    cases += _support_cases(pair, key)
    cases += _hyper_cases(name)
    return cases


ALL_CASES = [(name, case) for name in PAIRS for case in bad_input_cases(name)]


@pytest.mark.parametrize("name,case", ALL_CASES, ids=[f"{n}:{c.label}" for n, c in ALL_CASES])
def test_bad_input_raises_error_naming_the_argument(name, case):
    with pytest.raises(PMMInputError) as err:
        case.call()
    message = str(err.value)
    assert message.startswith(f"{case.argument}:"), f"{name}: message {message!r} does not start with {case.argument + ':'!r}"


def _data_candidates(pair):
    """(modified datum, rejected by numpyro's prior support?, rejected by pair.validate_data?) per candidate."""
    x = np.asarray(pair.sample_data(jax.random.key(0), (3,)), np.float32)
    support = pair.prior().support
    rows = []
    for pos in dict.fromkeys([(0,) + (0,) * pair.event_ndim, (0,) + (-1,) * pair.event_ndim]):
        for c in CANDIDATES:
            xb = _with_entry(x, pos, c)
            try:
                pair.validate_data(xb)
                refused = False
            except PMMInputError:
                refused = True
            rows.append((f"x[{pos}] = {c}", not bool(np.all(support(jnp.asarray(xb)))), refused))
    return rows


@pytest.mark.parametrize("name", PAIRS)
def test_support_probe_agrees_with_the_pairs_own_checks(name):
    """The probe above derives its out-of-support cases from numpyro's ``prior().support``; here that
    support is compared with the pair's own ``validate_data`` on every candidate, for every pair (no
    skip).  A support that is too loose (the probe would silently find nothing) or too strict fails."""
    pair = pmm_ppl.get_pair(name)
    disagree = [(label, by_support, by_check) for label, by_support, by_check in _data_candidates(pair)
                if by_support != by_check]
    assert not disagree, f"{name}: prior().support and validate_data disagree on (value, support rejects, check rejects): {disagree}"


@pytest.mark.parametrize("name", PAIRS)
def test_pair_states_its_support(name):
    """A pair that keeps the base class's ``support_text`` ("real numbers") must accept every real
    datum; otherwise it forgot to describe its support (which error messages and `pmm pairs` show)."""
    pair = pmm_ppl.get_pair(name)
    inherited = all("support_text" not in vars(c) for c in type(pair).__mro__ if c is not pmm_ppl.ConjugatePair
                    and issubclass(c, pmm_ppl.ConjugatePair))
    if inherited:
        refused = [label for label, _, by_check in _data_candidates(pair) if by_check]
        assert not refused, f"{name}: keeps the default support_text {pair.support_text!r} but refuses {refused}"


def test_encode_tokens_rejects_index_out_of_range():
    mod = pytest.importorskip("pmm_ppl.conjugate.dirichlet_categorical")
    with pytest.raises(PMMInputError, match="indices"):
        mod.encode_tokens(np.array([0, 1, 3]), 3)
    with pytest.raises(PMMInputError, match="indices"):
        mod.encode_tokens(np.array([-1, 0]), 3)


def test_validation_is_skipped_inside_jit_and_vmap():
    """Checks skip tracers: a jitted / vmapped call with valid values works and compiles the same program."""
    pair = pmm_ppl.get_pair("normal_normal")
    state = pair.init((3,))
    jitted = jax.jit(lambda s, y, a: pair.update(s, y, a))
    out = jitted(state, jnp.ones(3), 0.5)
    np.testing.assert_allclose(np.asarray(out.mean), 1.0 / 3.0, rtol=1e-6)
    vm = jax.vmap(lambda y: pair.update(pair.init(()), y, 0.5).mean)(jnp.ones(3))
    np.testing.assert_allclose(np.asarray(vm), 1.0 / 3.0, rtol=1e-6)


if __name__ == "__main__":  # print the table "input -> message"
    for name, case in ALL_CASES:
        try:
            case.call()
            msg = "(no error)"
        except PMMInputError as e:
            msg = str(e)
        print(f"| {name} | {case.label} | {msg} |")

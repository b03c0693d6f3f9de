"""Schedules: closed forms against independent references (finite differences, numeric
inversion, exact algebra), discretisation invariants, integer rounding, validation."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from pmm_ppl import PMMInputError, get_pair
from pmm_ppl.process.schedules import GeometricSchedule, LogLinearSchedule, PowerSchedule, schedule_for

SCHEDULES = [
    GeometricSchedule(a_max=1000.0),
    GeometricSchedule(a_max=50.0, scale=4.0),
    PowerSchedule(a_max=30.0),
    PowerSchedule(a_max=200.0, power=2.0),
    PowerSchedule(a_max=5.0, power=0.5),
    LogLinearSchedule(a_max=7.0),
]
IDS = ["geo1000", "geo50s4", "lin30", "sq200", "sqrt5", "loglin7"]


@pytest.mark.parametrize("s", SCHEDULES, ids=IDS)
def test_endpoints_and_monotone(s):
    t = jnp.linspace(0.0, 1.0, 101)
    a = np.asarray(s.A(t))
    assert a[0] == 0.0
    np.testing.assert_allclose(a[-1], s.a_max, rtol=1e-5)
    assert np.all(np.diff(a) > 0)


@pytest.mark.parametrize("s", SCHEDULES, ids=IDS)
def test_derivative_matches_finite_difference(s):
    t = np.linspace(0.05, 0.95, 19)
    h = 1e-5
    fd = (s._A_np(t + h) - s._A_np(t - h)) / (2 * h)  # float64 central difference
    np.testing.assert_allclose(np.asarray(s.dA(jnp.asarray(t))), fd, rtol=1e-4)
    # and jax autodiff of A agrees with the closed-form dA
    ad = jax.vmap(jax.grad(s.A))(jnp.asarray(t, jnp.float32))
    np.testing.assert_allclose(np.asarray(ad), fd, rtol=1e-4)


@pytest.mark.parametrize("s", SCHEDULES, ids=IDS)
def test_inverse_against_root_finding(s):
    targets = np.array([1e-3, 0.1, 0.37, 0.8, 0.999]) * s.a_max
    ref = [scipy.optimize.brentq(lambda t, a=a: s._A_np(t) - a, 0.0, 1.0, xtol=1e-14) for a in targets]
    np.testing.assert_allclose(np.asarray(s.inverse(jnp.asarray(targets))), ref, rtol=1e-5, atol=1e-6)


def test_geometric_is_bfn_precision_and_constant_gain_rate():
    # scale = rho_0 = 1: rho(t) = 1 + A(t) = sigma_1^(-2t) with sigma_1^(-2) = 1 + a_max
    sigma1 = 0.02
    s = GeometricSchedule(a_max=sigma1**-2 - 1.0)
    t = jnp.array([0.0, 0.25, 0.5, 0.9, 1.0])
    np.testing.assert_allclose(1.0 + np.asarray(s.A(t)), sigma1 ** (-2 * np.asarray(t)), rtol=1e-5)
    # A'(t)/C(t) = log(1 + a_max/c) for C = c + A
    s2 = GeometricSchedule(a_max=300.0, scale=3.0)
    np.testing.assert_allclose(np.asarray(s2.dA(t) / (3.0 + s2.A(t))), math.log(101.0), rtol=1e-5)


def test_loglinear_masking_rate_is_linear_and_poisson_reveal_matches():
    # exp(-A(t)) = 1 - (1 - e^-a_max) t exactly; and the fraction of unit-rate Poisson(A(t)) draws
    # that are still 0 (an unrevealed token) matches it by simulation (4 SE)
    s = LogLinearSchedule(a_max=5.0)
    t = np.array([0.0, 0.1, 0.5, 0.9, 1.0])
    np.testing.assert_allclose(np.exp(-np.asarray(s.A(jnp.asarray(t)))), 1 - (1 - math.exp(-5.0)) * t, rtol=1e-5, atol=1e-6)
    n = 200_000
    counts = jax.random.poisson(jax.random.key(0), s.A(jnp.asarray(t[1:4]))[:, None], (3, n))
    unrevealed = np.asarray((counts == 0).mean(1))
    expected = 1 - (1 - math.exp(-5.0)) * t[1:4]
    assert np.all(np.abs(unrevealed - expected) < 4 * np.sqrt(expected * (1 - expected) / n))
    assert isinstance(schedule_for(get_pair("dirichlet_categorical", num_classes=3), kind="loglinear"), LogLinearSchedule)


@pytest.mark.parametrize("s", SCHEDULES, ids=IDS)
@pytest.mark.parametrize("T", [1, 7, 64])
def test_discretise_sums_and_grid(s, T):
    t, alphas = s.discretise(T)
    assert t.shape == (T + 1,) and alphas.shape == (T,)
    np.testing.assert_allclose(np.asarray(t), np.linspace(0, 1, T + 1), atol=1e-7)
    assert np.all(np.asarray(alphas) > 0)
    np.testing.assert_allclose(float(alphas.sum()), s.a_max, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(alphas), np.diff(s._A_np(np.linspace(0, 1, T + 1))), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("s", SCHEDULES, ids=IDS)
@pytest.mark.parametrize("T", [3, 50, 400])
def test_discretise_integer(s, T):
    t, alphas = s.discretise(T, integer=True)
    a = np.asarray(alphas)
    assert np.all(a >= 0) and np.all(a == np.round(a))
    assert a.sum() == round(s.a_max)
    # the grid is moved so that A(t_i) equals the cumulative integer accuracy
    cum = np.concatenate([[0.0], np.cumsum(a)])
    np.testing.assert_allclose(np.asarray(s.A(t)), cum, rtol=1e-4, atol=1e-4)
    assert np.all(np.diff(np.asarray(t)) >= 0) and float(t[0]) == 0.0 and float(t[-1]) == 1.0
    # and the rounded cumulative accuracy stays within 1/2 of the exact one on the uniform grid
    exact = s._A_np(np.linspace(0, 1, T + 1))
    assert np.max(np.abs(cum - exact)) <= 0.5 + 1e-9


def test_integer_zero_steps_exist_when_schedule_is_slow():
    _, alphas = PowerSchedule(a_max=5.0).discretise(20, integer=True)
    a = np.asarray(alphas)
    assert (a == 0).sum() == 15 and a.sum() == 5


def test_cumulative():
    s = PowerSchedule(a_max=8.0, power=2.0)
    np.testing.assert_allclose(np.asarray(s.cumulative(4)), 8.0 * np.linspace(0, 1, 5) ** 2, rtol=1e-6)


def test_schedules_are_hashable_static_args():
    s = GeometricSchedule(a_max=10.0)
    assert hash(s) == hash(GeometricSchedule(a_max=10))
    f = jax.jit(lambda t, sched: sched.A(t), static_argnums=1)
    np.testing.assert_allclose(float(f(1.0, s)), 10.0, rtol=1e-6)


@pytest.mark.parametrize(
    "make, arg",
    [
        (lambda: GeometricSchedule(a_max=0.0), "a_max"),
        (lambda: GeometricSchedule(a_max=-1.0), "a_max"),
        (lambda: GeometricSchedule(a_max=float("nan")), "a_max"),
        (lambda: GeometricSchedule(a_max=1.0, scale=0.0), "scale"),
        (lambda: PowerSchedule(a_max="x"), "a_max"),
        (lambda: PowerSchedule(a_max=1.0, power=0.0), "power"),
        (lambda: PowerSchedule(a_max=1.0).discretise(0), "num_steps"),
        (lambda: PowerSchedule(a_max=1.0).discretise(2.5), "num_steps"),
        (lambda: PowerSchedule(a_max=0.2).discretise(4, integer=True), "a_max"),
        (lambda: schedule_for(get_pair("normal_normal"), kind="cosine"), "kind"),
    ],
)
def test_validation(make, arg):
    with pytest.raises(PMMInputError, match=arg):
        make()


def test_schedule_for_defaults():
    s = schedule_for(get_pair("normal_normal", prior_precision=2.0))
    assert isinstance(s, GeometricSchedule) and s.scale == 2.0 and s.a_max == 1e4
    s = schedule_for(get_pair("gamma_poisson"), kind="power", a_max=50.0, power=2.0)
    assert s == PowerSchedule(a_max=50.0, power=2.0)


def test_loglinear_schedule_is_finite_at_one_in_float32():
    """r = 1 - e^-20 rounds to 1 in float32; A(1) must still be A_max (it was inf) and match float64."""
    import math

    import jax.numpy as jnp

    from pmm_ppl.process.schedules import LogLinearSchedule

    for a_max in (2.0, 20.0, 40.0):
        s = LogLinearSchedule(a_max=a_max)
        t = np.array([0.0, 0.1, 0.4999, 0.5, 0.9, 0.999, 1.0])
        exact = np.array([-math.log1p(-(-math.expm1(-a_max)) * v) if v < 1 else a_max for v in t])
        got = np.asarray(s.A(jnp.asarray(t, jnp.float32)), np.float64)
        np.testing.assert_allclose(got, exact, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(s._A_np(t), exact, rtol=1e-12, atol=1e-15)
        assert np.isfinite(float(s.dA(jnp.float32(1.0))))

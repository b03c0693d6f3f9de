r"""Normal-Normal PMM in continuous time: a diffusion (docs/design.md section 6).

With prior precision :math:`\rho_0`, prior mean :math:`\mu_0`, a schedule :math:`A(t)`,
:math:`\alpha(t) = A'(t)` and :math:`\rho(t) = \rho_0 + A(t)`, the posterior mean obeys

.. math::

   d\mu = \frac{\alpha}{\rho}\,(m(\mu, A) - \mu)\,dt + \frac{\sqrt{\alpha}}{\rho}\,dW_t .

*Conditional form*: :math:`m = x` (the data); then :math:`\mu_t` is exactly the flow
:math:`N(g x + (1-g)\mu_0,\ g(1-g)/\rho_0)`, :math:`g = A/(\rho_0 + A)`.  *Unconditional
form*: :math:`m(\mu, A) = E^*[x \mid \mu_t = \mu]` (an oracle or a trained denoiser); with the
exact posterior mean the marginals are the flow marginals of :math:`p^*`.

Derivation: given :math:`x`, :math:`S_t = \rho(t)\mu_t - \rho_0\mu_0` satisfies
:math:`dS = \alpha x\,dt + \sqrt{\alpha}\,dW` (independent Normal observations with
precision :math:`\alpha\,dt`), and Ito's rule on :math:`\mu = (\rho_0\mu_0 + S)/\rho` gives the SDE.
In *accuracy time* :math:`u = A(t)` the noise is :math:`dB_u = \sqrt{\alpha}\,dW_t`, a standard
Brownian motion; the discrete PMM step with accuracy :math:`\alpha_i = A(t_i) - A(t_{i-1})`
is :math:`\rho_i\mu_i = \rho_{i-1}\mu_{i-1} + \alpha_i m(\mu_{i-1}, A_{i-1}) + (B_{A_i} - B_{A_{i-1}})`,
i.e. :math:`\mu_i = \mu_{i-1} + (\alpha_i/\rho_i)(m - \mu_{i-1}) + \Delta B_i/\rho_i`: a
semi-implicit Euler-Maruyama step of the SDE in accuracy time (weak order 1).

Regularity at :math:`t = 0`: the coefficients :math:`\alpha/\rho` and :math:`\sqrt\alpha/\rho`
are bounded near 0 whenever :math:`\rho_0 > 0` and :math:`A'(0) < \infty` (true for the
geometric schedule and for power schedules with :math:`p \ge 1`), so the SDE can be started
at :math:`t_0 = 0` from :math:`\mu_0`; for :math:`p < 1` start at a small :math:`t_0 > 0` (or
integrate in accuracy time, as :func:`pmm_chain` does).  The probability-flow ODE, by
contrast, is singular at :math:`A = 0` (its score term divides by :math:`g(1-g)/\rho_0`) and
must start at :math:`t_0 > 0`: see :func:`probability_flow_sample`.

``posterior_mean`` below is always a function :math:`m(\mu, A)` of the posterior mean
(shape ``(B, *data_shape)``) and the cumulative accuracy (shape ``(B,)``), e.g. an
``..._oracle_at_accuracy`` of :mod:`pmm_ppl.process.oracles` or :func:`denoiser_at_accuracy`.
"""

from __future__ import annotations

from typing import Any, Callable

import diffrax
import jax
import jax.numpy as jnp
import lineax

from pmm_ppl.conjugate import validation as V
from pmm_ppl.process import kernels

Array = jax.Array
PosteriorMean = Callable[[Array, Array], Array]


def _batch_accuracy(mu: Array, a: Array) -> Array:
    """Broadcast a scalar accuracy to the batch axis ``(B,)`` of ``mu`` (shape ``(B, ...)``)."""
    return jnp.broadcast_to(jnp.asarray(a, mu.dtype), mu.shape[:1])


def _expand(v: Array, like: Array) -> Array:
    v = jnp.asarray(v)
    return v.reshape(v.shape + (1,) * (like.ndim - v.ndim))


def denoiser_at_accuracy(denoiser: Callable[[Array, Array], Array], schedule: Any, inverse_iters: int = 40) -> PosteriorMean:
    """Turn a denoiser :math:`f(\\mu, t)` into :math:`m(\\mu, A) = f(\\mu, A^{-1}(A))`
    (``schedule.inverse`` when the schedule has one, else bisection with ``inverse_iters`` halvings)."""

    def m(mu, a):
        a = jnp.broadcast_to(jnp.asarray(a, dtype=jnp.result_type(float)), mu.shape[:1])
        t = schedule.inverse(a) if hasattr(schedule, "inverse") else schedule_inverse(schedule, a, inverse_iters)
        return denoiser(mu, t)

    return m


def schedule_inverse(schedule: Any, a: Array, iters: int = 40) -> Array:
    """:math:`t = A^{-1}(a)` for an increasing schedule, by bisection (elementwise, jittable)."""
    a = jnp.asarray(a, dtype=jnp.result_type(float))
    lo = jnp.zeros_like(a)
    hi = jnp.ones_like(a)

    def body(_, lohi):
        lo, hi = lohi
        mid = 0.5 * (lo + hi)
        below = schedule.A(mid) < a
        return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

    lo, hi = jax.lax.fori_loop(0, iters, body, (lo, hi))
    return 0.5 * (lo + hi)


# ---------------------------------------------------------------------- coefficients
def sde_drift(pair: Any, schedule: Any, posterior_mean: PosteriorMean, t: Array, mu: Array) -> Array:
    """:math:`(\\alpha(t)/\\rho(t))\\,(m(\\mu, A(t)) - \\mu)`, ``mu`` of shape ``(B, ...)``, scalar ``t``."""
    a = schedule.A(t)
    rho = pair.prior_precision + a
    xhat = posterior_mean(mu, _batch_accuracy(mu, a))
    return (schedule.dA(t) / rho) * (xhat - mu)


def sde_diffusion(pair: Any, schedule: Any, t: Array) -> Array:
    """:math:`\\sqrt{\\alpha(t)}/\\rho(t)` (scalar; the noise is additive and diagonal)."""
    return jnp.sqrt(schedule.dA(t)) / (pair.prior_precision + schedule.A(t))


def conditional_posterior_mean(x: Array) -> PosteriorMean:
    """The conditional SDE: :math:`m(\\mu, A) = x` (the data, shape ``(B, ...)``)."""
    return lambda mu, a: jnp.broadcast_to(x, mu.shape)


# ---------------------------------------------------------------------- Brownian paths
def brownian_increments(key: Array, t_grid: Array, shape: tuple[int, ...]) -> Array:
    """Independent increments :math:`W_{t_{i+1}} - W_{t_i} \\sim N(0, t_{i+1} - t_i)`, shape ``(T, *shape)``."""
    dt = jnp.diff(jnp.asarray(t_grid, dtype=jnp.result_type(float)))
    z = jax.random.normal(key, dt.shape + tuple(shape))
    return z * _expand(jnp.sqrt(dt), z)


def increments_of_path(path: Any, t_grid: Array) -> Array:
    """Increments of a diffrax Brownian path (e.g. ``VirtualBrownianTree``) on ``t_grid``, shape ``(T, ...)``:
    drives :func:`euler_maruyama` with the same path as a diffrax solve."""
    t_grid = jnp.asarray(t_grid)
    return jax.vmap(lambda s, e: path.evaluate(s, e))(t_grid[:-1], t_grid[1:])


# ---------------------------------------------------------------------- solvers
def euler_maruyama(pair: Any, schedule: Any, posterior_mean: PosteriorMean, mu_init: Array, t_grid: Array,
                   dW: Array, return_path: bool = False):
    """Explicit Euler-Maruyama as a ``lax.scan``:
    :math:`\\mu_{i+1} = \\mu_i + b(t_i, \\mu_i)h_i + \\sigma(t_i)\\,\\Delta W_i`.

    ``mu_init`` has shape ``(B, ...)``; ``dW`` shape ``(T, B, ...)`` are the Brownian increments on
    ``t_grid`` (shape ``(T+1,)``), so that a path can be shared with another solver.  Returns
    :math:`\\mu` at ``t_grid[-1]`` (and the path, shape ``(T+1, B, ...)``, with ``return_path``)."""
    t_grid = jnp.asarray(t_grid, dtype=mu_init.dtype)

    def step(mu, inp):
        t0, t1, dw = inp
        mu_new = mu + sde_drift(pair, schedule, posterior_mean, t0, mu) * (t1 - t0) + sde_diffusion(pair, schedule, t0) * dw
        return mu_new, mu_new

    mu_end, path = jax.lax.scan(step, mu_init, (t_grid[:-1], t_grid[1:], dW))
    if return_path:
        return mu_end, jnp.concatenate([mu_init[None], path], 0)
    return mu_end


def accuracy_grid(schedule: Any, num_steps: int, t0: float = 0.0, t1: float = 1.0) -> tuple[Array, Array]:
    """Uniform time grid on ``[t0, t1]`` and its accuracies :math:`A(t_i)`, both shape ``(T+1,)``.
    Grids with step counts that divide each other are nested (used for common random numbers)."""
    t = jnp.linspace(t0, t1, num_steps + 1)
    return t, schedule.A(t)


def pmm_chain(pair: Any, posterior_mean: PosteriorMean, a_grid: Array, dB: Array, state_init: Any = None,
              return_path: bool = False):
    """The discrete PMM chain of the Normal-Normal pair driven by accuracy-time Brownian increments.

    Step i (accuracy :math:`\\alpha_i = A_i - A_{i-1}`): :math:`\\hat x = m(\\mu, A_{i-1})`, observation
    :math:`y = \\hat x + \\Delta B_i/\\alpha_i \\sim N(\\hat x, 1/\\alpha_i)` and the conjugate update
    ``pair.update`` -- exactly the plug-in sampler of docs/design.md section 5, with its Gaussian noise
    written as the increment :math:`\\Delta B_i \\sim N(0, \\alpha_i)` of one Brownian motion in
    accuracy time, so that chains on nested grids share a path (sum the fine increments).

    ``a_grid`` shape ``(T+1,)`` (``a_grid[0]`` the accuracy of ``state_init``, default the prior at 0);
    ``dB`` shape ``(T, B, ...)``.  Returns the final posterior mean (and path with ``return_path``)."""
    a_grid = jnp.asarray(a_grid, dtype=jnp.result_type(float))
    if state_init is None:
        state_init = pair.init(dB.shape[1:])
    state0 = kernels.init(pair, (), time=a_grid[0], accuracy=a_grid[0], posterior=state_init)

    def estimate(mu, state):  # the accuracy convention m(mu, A)
        return posterior_mean(mu, _batch_accuracy(mu, state.accuracy))

    def brownian_draw(db, xhat, alpha):  # y = xhat + dB / alpha ~ N(xhat, 1/alpha)
        return xhat + db / alpha

    collect = (lambda state, info: pair.mean(state.posterior)) if return_path else None
    state, path = kernels.scan_steps(kernels.plug_in_step, pair, state0, estimate, dB, a_grid[1:], jnp.diff(a_grid),
                                     draw=brownian_draw, collect=collect)
    mu = pair.mean(state.posterior)
    if return_path:
        return mu, jnp.concatenate([pair.mean(state_init)[None], path], 0)
    return mu


def coarsen_increments(dB: Array, factor: int) -> Array:
    """Sum consecutive groups of ``factor`` increments (fine grid -> nested coarse grid)."""
    t = dB.shape[0]
    if t % factor:
        raise V.PMMInputError(f"factor: {factor} does not divide the number of increments {t}")
    return dB.reshape((t // factor, factor) + dB.shape[1:]).sum(1)


def diffrax_sde_solve(pair: Any, schedule: Any, posterior_mean: PosteriorMean, mu_init: Array, path: Any,
                      t0: float, t1: float, num_steps: int, solver: Any = None, save_ts: Array | None = None,
                      max_steps: int | None = None):
    """Reference solution of the same SDE with diffrax: ``MultiTerm(ODETerm(drift),
    ControlTerm(diagonal diffusion, path))`` on a constant step ``(t1 - t0)/num_steps``.

    ``path`` is a diffrax Brownian path of shape ``mu_init.shape`` (e.g. ``VirtualBrownianTree``;
    ``levy_area=diffrax.SpaceTimeLevyArea`` for :class:`diffrax.ShARK`).  ``solver`` defaults to
    :class:`diffrax.Euler` (which reproduces :func:`euler_maruyama` on the same increments).
    Returns :math:`\\mu(t_1)` or, with ``save_ts``, the values at those times (leading axis).
    ``num_steps`` may be traced (one compilation for several step counts) if ``max_steps`` is given."""
    solver = diffrax.Euler() if solver is None else solver
    drift = diffrax.ODETerm(lambda t, y, args: sde_drift(pair, schedule, posterior_mean, t, y))
    noise = diffrax.ControlTerm(
        lambda t, y, args: lineax.DiagonalLinearOperator(jnp.full(y.shape, sde_diffusion(pair, schedule, t), y.dtype)), path
    )
    saveat = diffrax.SaveAt(t1=True) if save_ts is None else diffrax.SaveAt(ts=save_ts)
    sol = diffrax.diffeqsolve(
        diffrax.MultiTerm(drift, noise), solver, t0=t0, t1=t1, dt0=(t1 - t0) / num_steps, y0=mu_init,
        saveat=saveat, max_steps=num_steps + 2 if max_steps is None else max_steps,
    )
    return sol.ys[0] if save_ts is None else sol.ys


# ---------------------------------------------------------------------- probability flow
def probability_flow_velocity(pair: Any, schedule: Any, posterior_mean: PosteriorMean, t: Array, mu: Array) -> Array:
    """:math:`\\dot\\mu = b - \\tfrac12\\sigma^2\\nabla\\log p_t(\\mu)` with the Tweedie score
    :math:`\\nabla\\log p_t = (g m + (1-g)\\mu_0 - \\mu)/(g(1-g)/\\rho_0)`; since
    :math:`\\sigma^2/(g(1-g)/\\rho_0) = \\alpha/A`:

    .. math:: \\dot\\mu = \\frac{\\alpha}{\\rho}(m - \\mu) - \\frac{\\alpha}{2A}(g m + (1-g)\\mu_0 - \\mu).

    Singular at :math:`A = 0`; use for :math:`t > 0` only."""
    a = schedule.A(t)
    rho0 = pair.prior_precision
    rho = rho0 + a
    g = a / rho
    alpha = schedule.dA(t)
    m = posterior_mean(mu, _batch_accuracy(mu, a))
    return (alpha / rho) * (m - mu) - (alpha / (2.0 * a)) * (g * m + (1.0 - g) * pair.prior_mean_value - mu)


def gaussian_start(key: Array, pair: Any, schedule: Any, t0: float, target_mean: Array, target_var: Array,
                   shape: tuple[int, ...]) -> Array:
    """Initial draw for the probability-flow ODE at a small :math:`t_0 > 0`: the flow marginal with
    :math:`p^*` replaced by its moment-matched Gaussian,
    :math:`N(g m^* + (1-g)\\mu_0,\\ g^2 v^* + g(1-g)/\\rho_0)`.  Its error is of higher order in
    :math:`g(t_0)`: the standardised non-Gaussian part scales like :math:`\\sqrt{g\\rho_0 v^*}`."""
    a = schedule.A(jnp.asarray(t0, dtype=jnp.result_type(float)))
    rho0 = pair.prior_precision
    g = a / (rho0 + a)
    mean = g * jnp.asarray(target_mean) + (1 - g) * pair.prior_mean_value
    var = g**2 * jnp.asarray(target_var) + g * (1 - g) / rho0
    return mean + jnp.sqrt(var) * jax.random.normal(key, shape)


def probability_flow_sample(pair: Any, schedule: Any, posterior_mean: PosteriorMean, mu_t0: Array, t0: float,
                            t1: float = 1.0, solver: Any = None, rtol: float = 1e-4, atol: float = 1e-5,
                            max_steps: int = 4096) -> Array:
    """Deterministic sampler: integrate the probability-flow ODE from ``mu_t0`` at ``t0 > 0`` to ``t1``
    with diffrax (default :class:`diffrax.Tsit5`, adaptive PID steps).  Returns :math:`\\mu(t_1)`."""
    if not V.is_traced(t0) and float(t0) <= 0.0:
        raise V.PMMInputError("t0: the probability-flow ODE is singular at A = 0; start at t0 > 0")
    solver = diffrax.Tsit5() if solver is None else solver
    term = diffrax.ODETerm(lambda t, y, args: probability_flow_velocity(pair, schedule, posterior_mean, t, y))
    sol = diffrax.diffeqsolve(
        term, solver, t0=t0, t1=t1, dt0=None, y0=mu_t0,
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol), max_steps=max_steps,
    )
    return sol.ys[0]

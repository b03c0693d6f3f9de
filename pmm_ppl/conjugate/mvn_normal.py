r"""Multivariate Normal with known observation precision (real vectors of length d).

Prior        :math:`\theta \sim N(m_0, P_0^{-1})`, :math:`\theta \in \mathbb{R}^d`.
Likelihood   :math:`y \mid \theta \sim N(\theta, (\alpha\Lambda)^{-1})`: :math:`\Lambda` is the observation
             precision per unit accuracy, the accuracy :math:`\alpha > 0` scales it.
Update       after observations with total accuracy :math:`A = \sum_i \alpha_i`:
             :math:`P_A = P_0 + A\Lambda`, :math:`\mu_A = P_A^{-1}(P_0 m_0 + \Lambda \sum_i \alpha_i y_i)`.
Posterior    :math:`\theta \mid y \sim N(\mu_A, P_A^{-1})`, mean :math:`\mu_A`.
Predictive   :math:`y \mid \text{state} \sim N(\mu_A, P_A^{-1} + (\alpha\Lambda)^{-1})`.
Flow         :math:`S_A = \sum_i \alpha_i y_i \mid x \sim N(A x, A\Lambda^{-1})` (a sum of independent
             :math:`N(\alpha_i x, \alpha_i \Lambda^{-1})`, so its law depends on the alphas only through A),
             and :math:`\mu_A = P_A^{-1}(P_0 m_0 + \Lambda S_A)`.
Divergence   :math:`KL(N(x, (\alpha\Lambda)^{-1}) \| N(\hat x, (\alpha\Lambda)^{-1})) = \tfrac{\alpha}{2}(x-\hat x)^\top\Lambda(x-\hat x)`.

Why not a :class:`~pmm_ppl.conjugate.base.LinearPair`: the posterior mean is a running average with
the *matrix* weight :math:`A\Lambda` (the gain :math:`P_A^{-1}\alpha\Lambda` is a matrix), not a scalar.

State.  The posterior precision :math:`P_A = P_0 + A\Lambda` is a deterministic function of the total
accuracy, so the state stores ``accuracy`` :math:`A` (batch) and ``mean`` :math:`\mu_A` (batch, d) instead
of a (batch, d, d) precision; :meth:`MvnNormal.precision` rebuilds :math:`P_A`.

Computation.  With :math:`P_0 = LL^\top` and :math:`L^{-1}\Lambda L^{-\top} = U\,\mathrm{diag}(\lambda)\,U^\top`,
the whitening map :math:`z = R\theta`, :math:`R = U^\top L^\top`, makes the prior :math:`N(Rm_0, I)` and the
observation precision :math:`\alpha\,\mathrm{diag}(\lambda)`: in :math:`z` the pair is d independent
Normal-Normal pairs with prior precision 1 and observation precision :math:`\alpha\lambda_k`, so updates,
flow and flow density cost :math:`O(d^2)` (two matrix-vector products), with no per-step solve.
Plug-in      exact in the continuous-time limit (``plug_in_exact = "limit"``): constant covariance.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist

from pmm_ppl.conjugate import validation as V
from pmm_ppl.conjugate.base import ConjugatePair
from pmm_ppl.conjugate.reconstruction import GaussianDensity
from pmm_ppl.conjugate.registry import register

Array = jax.Array


class MvnState(NamedTuple):
    """Posterior state: total accuracy ``A`` (batch) and posterior mean (batch, d); precision is ``P0 + A Lambda``."""

    accuracy: Array
    mean: Array


def _check_matrix(value, name: str, d: int | None) -> np.ndarray:
    """A finite, symmetric, positive-definite (d, d) matrix given as nested tuples."""
    m = V._as_numpy(value, name)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or (d is not None and m.shape[0] != d):
        want = f"({d}, {d})" if d is not None else "square"
        raise V.PMMInputError(f"{name}: must be a {want} matrix, got shape {m.shape}")
    m = m.astype(np.float64)
    if not np.all(np.isfinite(m)):
        raise V.PMMInputError(f"{name}: contains NaN or infinite entries")
    if not np.allclose(m, m.T, rtol=1e-6, atol=1e-8):
        raise V.PMMInputError(f"{name}: must be symmetric")
    eig = np.linalg.eigvalsh(m)
    if eig.min() <= 1e-10 * max(1.0, eig.max()):
        raise V.PMMInputError(f"{name}: must be positive definite, smallest eigenvalue {eig.min():.3g}")
    return m


@register("mvn_normal")
@dataclasses.dataclass(frozen=True)
class MvnNormal(ConjugatePair):
    """Multivariate Normal prior on a real vector, Normal observation with precision alpha * Lambda."""

    prior_mean_value: tuple = (0.0, 0.0)  # m_0, shape (d,)
    prior_precision: tuple = ((1.0, 0.0), (0.0, 1.0))  # P_0, (d, d)
    obs_precision: tuple = ((2.0, 0.6), (0.6, 1.0))  # Lambda, (d, d)

    event_ndim = 1
    support_text = "real vectors (length d)"
    plug_in_exact = "limit"  # Normal channel: law affine in x (constant covariance)
    default_a_max = 1e4
    output_head = "real"

    def default_reconstruction(self):
        return GaussianDensity()

    def __post_init__(self):
        m0 = V._as_numpy(self.prior_mean_value, "prior_mean_value")
        if m0.ndim != 1 or m0.size == 0:
            raise V.PMMInputError(f"prior_mean_value: must be a non-empty vector, got shape {m0.shape}")
        V.check_finite(m0, "prior_mean_value")
        _check_matrix(self.prior_precision, "prior_precision", m0.size)
        _check_matrix(self.obs_precision, "obs_precision", m0.size)

    # ------------------------------------------------------------------ constants
    @property
    def dim(self) -> int:
        return len(self.prior_mean_value)

    @functools.cached_property
    def _whitening(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(R, R^{-1}, lambda, z0 = R m0)`` in float64 (module docstring, 'Computation')."""
        p0 = np.asarray(self.prior_precision, np.float64)
        lam_mat = np.asarray(self.obs_precision, np.float64)
        chol = np.linalg.cholesky(p0)
        chol_inv = np.linalg.inv(chol)
        lam, u = np.linalg.eigh(chol_inv @ lam_mat @ chol_inv.T)
        r = u.T @ chol.T
        r_inv = chol_inv.T @ u
        return r, r_inv, lam, r @ np.asarray(self.prior_mean_value, np.float64)

    def _consts(self):
        f = jnp.result_type(float)
        return tuple(jnp.asarray(c, f) for c in self._whitening)

    def _to_z(self, v: Array) -> Array:
        return v @ self._consts()[0].T

    def _from_z(self, z: Array) -> Array:
        return z @ self._consts()[1].T

    def precision(self, state: MvnState) -> Array:
        """Posterior precision :math:`P_0 + A\\Lambda`, shape (batch, d, d)."""
        a = jnp.asarray(state.accuracy)[..., None, None]
        return jnp.asarray(self.prior_precision) + a * jnp.asarray(self.obs_precision)

    # ------------------------------------------------------------------ distributions
    def prior(self) -> dist.Distribution:
        return dist.MultivariateNormal(jnp.asarray(self.prior_mean_value), precision_matrix=jnp.asarray(self.prior_precision))

    def observation(self, theta, alpha) -> dist.Distribution:
        a = jnp.asarray(alpha, dtype=jnp.result_type(float))[..., None, None]
        return dist.MultivariateNormal(theta, precision_matrix=a * jnp.asarray(self.obs_precision))

    # ------------------------------------------------------------------ posterior
    def init(self, batch_shape: tuple[int, ...] = ()) -> MvnState:
        f = jnp.result_type(float)
        mu = jnp.broadcast_to(jnp.asarray(self.prior_mean_value, f), tuple(batch_shape) + (self.dim,))
        return MvnState(jnp.zeros(batch_shape, f), mu)

    def state_batch_shape(self, state: MvnState) -> tuple[int, ...]:
        return tuple(jnp.shape(state.accuracy))

    def _fold(self, state: MvnState, total_alpha: Array, weighted_sum: Array) -> MvnState:
        """Fold in observations with total accuracy ``total_alpha`` and ``sum_i alpha_i y_i = weighted_sum``:
        in z-coordinates :math:`z_\\mu' = ((1 + A\\lambda) z_\\mu + \\lambda R S)/(1 + A'\\lambda)`."""
        _, _, lam, _ = self._consts()
        a_old = jnp.asarray(state.accuracy)
        a_new = a_old + total_alpha
        z = ((1.0 + a_old[..., None] * lam) * self._to_z(state.mean) + lam * self._to_z(weighted_sum)) / (1.0 + a_new[..., None] * lam)
        return MvnState(a_new, self._from_z(z))

    def update(self, state: MvnState, y, alpha) -> MvnState:
        alpha = jnp.asarray(alpha, dtype=jnp.result_type(float))
        return self._fold(state, alpha, alpha[..., None] * y)

    def update_many(self, state: MvnState, ys, alphas) -> MvnState:
        """Closed form: :math:`A' = A + \\sum\\alpha_i`, the statistic :math:`\\sum_i \\alpha_i y_i`."""
        alphas = jnp.asarray(alphas, dtype=jnp.result_type(float))
        alphas = jnp.broadcast_to(alphas, (ys.shape[0],)) if alphas.ndim == 0 else alphas
        alphas = alphas.reshape(alphas.shape + (1,) * (ys.ndim - 1 - alphas.ndim))  # (n, batch-rank ones)
        return self._fold(state, alphas.sum(0), (alphas[..., None] * ys).sum(0))

    def posterior(self, state: MvnState) -> dist.Distribution:
        return dist.MultivariateNormal(state.mean, precision_matrix=self.precision(state))

    def mean(self, state: MvnState) -> Array:
        return state.mean

    def _covariance(self, diag_z: Array) -> Array:
        """:math:`R^{-1}\\mathrm{diag}(v)R^{-\\top}` for per-coordinate z-variances ``v`` (batch, d)."""
        r_inv = self._consts()[1]
        return jnp.einsum("ij,...j,kj->...ik", r_inv, diag_z, r_inv)

    def predictive(self, state: MvnState, alpha) -> dist.Distribution:
        """:math:`N(\\mu_A, P_A^{-1} + (\\alpha\\Lambda)^{-1})`."""
        _, _, lam, _ = self._consts()
        a = jnp.asarray(state.accuracy)[..., None]
        alpha = jnp.asarray(alpha, dtype=jnp.result_type(float))[..., None]
        cov = self._covariance(1.0 / (1.0 + a * lam) + 1.0 / (alpha * lam))
        return dist.MultivariateNormal(state.mean, covariance_matrix=cov)

    # ------------------------------------------------------------------ flow
    def flow(self, key, x, total_accuracy) -> MvnState:
        """:math:`S_A \\sim N(Ax, A\\Lambda^{-1})`; in z-coordinates :math:`RS_A = A z_x + \\sqrt{A/\\lambda}\\,\\varepsilon`."""
        _, _, lam, _ = self._consts()
        x = jnp.asarray(x, dtype=jnp.result_type(float))
        a = jnp.broadcast_to(jnp.asarray(total_accuracy, dtype=x.dtype), x.shape[:-1])
        eps = jax.random.normal(key, x.shape, x.dtype)
        s_z = a[..., None] * self._to_z(x) + jnp.sqrt(a[..., None] / lam) * eps
        return self._fold(self.init(x.shape[:-1]), a, self._from_z(s_z))

    def flow_log_prob(self, state: MvnState, x, total_accuracy) -> Array:
        """Exact log density of the flow's posterior mean given ``x`` and ``A`` (``A > 0``): in z-coordinates
        :math:`z_{\\mu,k} \\sim N((z_{0,k} + A\\lambda_k z_{x,k})/(1+A\\lambda_k),\\ A\\lambda_k/(1+A\\lambda_k)^2)`,
        plus :math:`\\log|\\det R|` for the change of variables to :math:`\\mu`."""
        r, _, lam, z0 = self._consts()
        a = jnp.asarray(total_accuracy, dtype=jnp.result_type(float))[..., None]
        denom = 1.0 + a * lam
        loc = (z0 + a * lam * self._to_z(x)) / denom
        scale = jnp.sqrt(a * lam) / denom
        logdet_r = jnp.linalg.slogdet(r)[1]
        return dist.Normal(loc, scale).log_prob(self._to_z(state.mean)).sum(-1) + logdet_r

    def divergence(self, x, xhat, alpha) -> Array:
        """:math:`\\tfrac{\\alpha}{2}(x-\\hat x)^\\top\\Lambda(x-\\hat x)`."""
        diff = jnp.asarray(x) - jnp.asarray(xhat)
        quad = jnp.einsum("...i,ij,...j->...", diff, jnp.asarray(self.obs_precision, diff.dtype), diff)
        return 0.5 * jnp.asarray(alpha) * quad

r"""Dirichlet pairs for tokens and probability vectors (event: one vector over :math:`K` classes).

Two pairs share the Dirichlet prior's hyperparameters :math:`a_0 \in (0,\infty)^K` (symmetric or
per class); :math:`c_0 = \sum_k a_{0k}`, :math:`\mu_0 = a_0/c_0`.

**DirichletCategorical** (``"dirichlet_categorical"``, tokens; Poissonised, real accuracy)

Data         a one-hot vector :math:`x \in \{e_1, \dots, e_K\}` (``encode_tokens`` turns class indices
             into one-hot vectors); soft labels on the simplex work too.  ``validate_data`` accepts any
             non-negative vector, the support of the Poissonised prior below, so that prior draws are
             valid data (SBC); the channel and the flow are defined for any such intensity vector.
Channel      :math:`\mathrm{link}(x) = (1-\epsilon)x + \epsilon/K`.  :math:`\epsilon = 0`: noiseless
             Poissonised channel -- a position keeps the prior mean until its first count
             arrives (probability :math:`e^{-A}` of "not yet revealed"), i.e. masked / absorbing
             discrete diffusion; :math:`\epsilon > 0`: uniform-noise channel.
Prior        the *Poissonised Dirichlet*: :math:`\theta_k \sim \mathrm{Gamma}(a_{0k}, c_0)` independently
             (shape, rate).  Equivalently :math:`\theta = R\,\pi` with :math:`\pi \sim \mathrm{Dir}(a_0)` and
             :math:`R = \sum_k\theta_k \sim \mathrm{Gamma}(c_0, c_0)` independent of :math:`\pi` (normalising
             independent Gammas with a common rate gives a Dirichlet independent of their sum),
             so :math:`E[\theta] = \mu_0` lies on the simplex and :math:`E[R] = 1`.
Likelihood   counts :math:`c_k \mid \theta \sim \mathrm{Poisson}(\alpha\theta_k)` independently; real
             accuracy :math:`\alpha > 0` (the expected number of tokens revealed).
Update       :math:`\prod_k \theta_k^{c_k} e^{-\alpha\theta_k}` times the Gamma prior is a Gamma in each
             class: :math:`\theta_k \mid c \sim \mathrm{Gamma}(a_{0k} + \sum_i c_{ik},\ c_0 + A)`.  Linear pair
             with :math:`s = c`, :math:`w = \alpha`: :math:`C = c_0 + A`, :math:`\mu = (a_0 + \sum_i c_i)/C`.
Posterior    :math:`\theta_k \sim \mathrm{Gamma}(C\mu_k, C)` independently, mean :math:`\mu` (the running average).
             In the :math:`(R, \pi)` coordinates the likelihood factorises,
             :math:`\prod_k (R\pi_k)^{c_k} e^{-\alpha R\pi_k} = R^{N} e^{-\alpha R}\prod_k \pi_k^{c_k}` with
             :math:`N = \sum_k c_k`, so the direction has the textbook Dirichlet-categorical posterior
             :math:`\pi \mid c \sim \mathrm{Dir}(a_0 + \sum_i c_i) = \mathrm{Dir}(C\mu)`
             (:meth:`DirichletCategorical.direction_posterior`), independent of
             :math:`R \mid c \sim \mathrm{Gamma}(c_0 + N, c_0 + A)`.  Note :math:`\sum_k \mu_k = (c_0+N)/(c_0+A)`
             is 1 only on average: :math:`\mu` is the mean of :math:`\theta`, not of :math:`\pi`.
Convergence  :math:`E[s \mid x] = \alpha\,\mathrm{link}(x)`, so :math:`\mu \to \mathrm{link}(x)` (not :math:`x`
             when :math:`\epsilon > 0`); :math:`x = (\mathrm{link}(x) - \epsilon/K)/(1-\epsilon)`.
Predictive   Gamma-Poisson mixture per class, independent across classes:
             :math:`c_k \sim \mathrm{NegBin}` with concentration :math:`C\mu_k` and rate :math:`C/\alpha`
             (:math:`\int \mathrm{Poi}(c;\alpha\theta)\,\mathrm{Gamma}(\theta; C\mu_k, C)\,d\theta`), mean :math:`\alpha\mu_k`.
Flow         :math:`S_A = \sum_i c_i \mid x \sim \prod_k \mathrm{Poisson}(A\,\mathrm{link}(x)_k)`, :math:`\mu_A = (a_0 + S_A)/(c_0 + A)`.
Divergence   :math:`\sum_k KL(\mathrm{Poi}(\alpha l_k) \| \mathrm{Poi}(\alpha \hat l_k))
             = \alpha\sum_k (l_k\log(l_k/\hat l_k) - l_k + \hat l_k)` with :math:`l = \mathrm{link}(x)`,
             :math:`\hat l = \mathrm{link}(\hat x)`; for :math:`\hat x` on the simplex this is
             :math:`\alpha\,KL(\mathrm{Cat}(l) \| \mathrm{Cat}(\hat l))`.

**DirichletMultinomial** (``"dirichlet_multinomial"``, probability vectors; integer accuracy)

Data         any point :math:`x` of the probability simplex.
Prior        :math:`\theta \sim \mathrm{Dir}(a_0)`.
Likelihood   counts :math:`c \mid \theta \sim \mathrm{Multinomial}(n, \theta)`; accuracy = number of draws :math:`n`.
Update       :math:`\mathrm{Dir}(a_0 + \sum_i c_i)`; linear pair with :math:`s = c`, :math:`w = n`:
             :math:`C = c_0 + A` (here exactly the posterior total concentration, since :math:`\sum_k c_{ik} = n_i`),
             :math:`\mu = (a_0 + \sum_i c_i)/C`.
Posterior    :math:`\mathrm{Dir}(C\mu)`, mean :math:`\mu`.
Predictive   :math:`\mathrm{DirichletMultinomial}(C\mu, n)`, mean :math:`n\mu`.
Flow         :math:`S_A \mid x \sim \mathrm{Multinomial}(A, x)` (:math:`A` integer), :math:`\mu_A = (a_0 + S_A)/(c_0 + A)`.
Divergence   :math:`KL(\mathrm{Mult}(n, x) \| \mathrm{Mult}(n, \hat x)) = n\,KL(\mathrm{Cat}(x) \| \mathrm{Cat}(\hat x))`.
Plug-in      ``dirichlet_categorical``: exact in the continuous-time limit (``"limit"``: Poisson counts at
             rates alpha link(x), affine in x); ``dirichlet_multinomial``: one draw only (``"unit_steps"``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro.distributions as dist
from jax.scipy.special import xlogy

from pmm_ppl.conjugate import validation as V
from pmm_ppl.conjugate.base import LinearPair, RunningMean
from pmm_ppl.conjugate.laws import OneHotCategorical
from pmm_ppl.conjugate.poisson_sampler import sample_poisson
from pmm_ppl.conjugate.reconstruction import CategoricalReconstruction
from pmm_ppl.conjugate.registry import register


def encode_tokens(indices: Any, num_classes: int) -> jax.Array:
    """One-hot float vectors of shape ``indices.shape + (num_classes,)`` from class indices in ``0..K-1``."""
    num_classes = V.check_whole_number(num_classes, "num_classes")
    idx = V.check_category_indices(indices, "indices", num_classes)
    return jax.nn.one_hot(jnp.asarray(idx).astype(jnp.int32), int(num_classes), dtype=jnp.result_type(float))


def _whole(n) -> jax.Array:
    """Whole number of draws as an integer array (the accuracy is validated as integer at the API)."""
    return jnp.round(jnp.asarray(n)).astype(jnp.int32)


def sample_multinomial(key: jax.Array, total_count: jax.Array, probs: jax.Array) -> jax.Array:
    r"""Multinomial counts by the conditional-binomial method, jittable with a *traced* ``total_count``.

    :math:`c_k \mid c_{<k} \sim \mathrm{Binomial}(n - \sum_{j<k} c_j,\ p_k / \sum_{j \ge k} p_j)`;
    ``probs`` has shape ``batch + (K,)``, ``total_count`` broadcasts against ``batch``.  (NumPyro's
    Multinomial sampler needs a concrete ``total_count_max``.)  Returns float counts.
    """
    probs = jnp.asarray(probs, dtype=jnp.result_type(float))
    batch = probs.shape[:-1]
    n = jnp.broadcast_to(jnp.asarray(total_count, dtype=probs.dtype), batch)
    tail = jnp.flip(jnp.cumsum(jnp.flip(probs, -1), -1), -1)  # sum_{j >= k} p_j
    cond = jnp.clip(jnp.where(tail > 0, probs / jnp.where(tail > 0, tail, 1.0), 0.0), 0.0, 1.0)
    cond = cond.at[..., -1].set(1.0)
    keys = jax.random.split(key, probs.shape[-1])

    def step(remaining, inp):
        k, q = inp
        c = jax.random.binomial(k, remaining, q).astype(probs.dtype)
        c = jnp.minimum(c, remaining)
        return remaining - c, c

    _, counts = jax.lax.scan(step, n, (keys, jnp.moveaxis(cond, -1, 0)))
    return jnp.moveaxis(counts, 0, -1)


@dataclasses.dataclass(frozen=True)
class _DirichletPrior(LinearPair):
    """Shared hyperparameters and checks of the Dirichlet pairs (not registered)."""

    num_classes: int = 2  # K
    prior_concentration: float | tuple[float, ...] = 1.0  # a_0: one value for all classes, or K values

    event_ndim = 1
    support_text = "probability vectors over the last axis"
    plug_in_exact = "unit_steps"  # one categorical draw is affine in x; Multinomial(n >= 2) is not
    default_a_max = 20.0  # tokens: a position is unrevealed with probability exp(-A), e^-20 ~ 2e-9
    output_head = "simplex"

    def encode(self, data, name="data"):
        """Integer data are class indices ``0..K-1``: one-hot float32 vectors; other data are returned as given."""
        arr = np.asarray(data)
        if arr.dtype.kind in "iu":
            V.check_category_indices(arr, name, self.num_classes)
            return np.eye(self.num_classes, dtype=np.float32)[arr]
        return data

    def __post_init__(self):
        k = self.num_classes
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 2:
            raise V.PMMInputError(f"num_classes: must be an integer >= 2, got {k!r}")
        a = self.prior_concentration
        if np.ndim(a) == 0:
            V.check_hyper_positive(a, "prior_concentration")
            object.__setattr__(self, "prior_concentration", float(a))
        else:
            V.check_hyper_positive(a, "prior_concentration")
            if np.ndim(a) != 1 or len(a) != k:
                raise V.PMMInputError(
                    f"prior_concentration: needs one value or num_classes={k} values, got shape {np.shape(a)}"
                )
            object.__setattr__(self, "prior_concentration", tuple(float(v) for v in np.asarray(a)))

    @property
    def concentration(self) -> jax.Array:
        """:math:`a_0` as a vector of shape ``(K,)``."""
        return jnp.broadcast_to(jnp.asarray(self.prior_concentration, dtype=jnp.result_type(float)), (self.num_classes,))

    @property
    def prior_weight(self) -> float:
        return float(np.sum(np.broadcast_to(np.asarray(self.prior_concentration, dtype=float), (self.num_classes,))))

    @property
    def prior_mean(self) -> jax.Array:
        return self.concentration / self.prior_weight

    def statistic(self, y, alpha):
        return jnp.asarray(y, dtype=jnp.result_type(float))

    def validate_data(self, x, name="x"):
        V.check_event_shape(x, name, (self.num_classes,))
        return V.check_simplex(x, name)

    def validate_observation(self, y, name="y"):
        V.check_event_shape(y, name, (self.num_classes,))
        return V.check_counts(y, name)


@register("dirichlet_categorical")
@dataclasses.dataclass(frozen=True)
class DirichletCategorical(_DirichletPrior):
    """Tokens: Poissonised Dirichlet prior, independent Poisson counts per class with exposure alpha."""

    noise: float = 0.0  # epsilon of the uniform-noise channel, in [0, 1)

    plug_in_exact = "limit"  # Poisson counts per class at the rates alpha link(x): affine in x

    def __post_init__(self):
        super().__post_init__()
        eps = V.check_finite(self.noise, "noise")
        if np.ndim(eps) != 0 or not 0.0 <= float(eps) < 1.0:
            raise V.PMMInputError(f"noise: must be a number in [0, 1), got {self.noise!r}")

    @property
    def reveals_on_first_count(self) -> bool:
        """Noiseless channel (``noise == 0``): on one-hot data only the true class is ever counted, so
        a position's first count reveals its token with certainty (masked diffusion)."""
        return self.noise == 0.0

    def default_reconstruction(self):
        return CategoricalReconstruction()

    #: tokens are one-hot, so a position's law is the categorical with probabilities E[x]
    mean_determines_law = True

    #: the counts' likelihood :math:`\prod_c (A\lambda_c)^{N_c} e^{-A\lambda_c} / N_c!` with rates
    #: :math:`\lambda_c(x) = \epsilon/K + (1-\epsilon)x_c` summing to 1 for every :math:`x` on the simplex (tokens,
    #: soft labels) is :math:`A^{\sum N} e^{-A} / \prod N_c! \cdot \prod_c \lambda_c(x)^{N_c}`: given the counts, the
    #: accuracy says nothing more about the token (at every noise; masked diffusion's time-free posterior at noise
    #: 0).  Off the simplex (other draws of the Poissonised prior) the total rate, and so the posterior, depends on it
    posterior_free_of_accuracy = True

    def law_from_mean(self, mean):
        """A token position with mean :math:`p` (one-hot data): class :math:`k` with probability :math:`p_k`,
        drawn as :math:`e_k`.  With it the ancestral step is the exact per-position step of the token chain:
        the true class is revealed with probability :math:`1 - e^{-\alpha}` (noiseless channel) and is one
        draw from :math:`p`, never two classes at once as in Poisson(:math:`\alpha p`) counts."""
        return OneHotCategorical(mean)

    def validate_data(self, x, name="x"):
        """Non-negative vectors of shape ``(K,)``: the support of the Poissonised prior, which contains
        the one-hot tokens and the simplex (soft labels).  The simplex is not enforced so that prior draws
        (``sample_data``, used by SBC) are valid data, as the pair protocol requires."""
        V.check_event_shape(x, name, (self.num_classes,))
        return V.check_positive(x, name, allow_zero=True)

    def link(self, x):
        return (1.0 - self.noise) * jnp.asarray(x) + self.noise / self.num_classes

    def prior(self) -> dist.Distribution:
        return dist.Gamma(self.concentration, self.prior_weight).to_event(1)

    def observation(self, theta, alpha) -> dist.Distribution:
        a = jnp.asarray(alpha, dtype=jnp.result_type(float))[..., None]
        return dist.Poisson(a * theta).to_event(1)

    def sample_observation(self, key, x, alpha):
        general = lambda: super(DirichletCategorical, self).sample_observation(key, x, alpha)
        return self._poisson_counts(key, x, alpha, general)

    def statistic_law(self, x, total_accuracy):
        a = jnp.asarray(total_accuracy, dtype=jnp.result_type(float))[..., None]
        return dist.Poisson(a * self.link(x)).to_event(1)

    def sample_statistic(self, key, x, total_accuracy):
        general = lambda: super(DirichletCategorical, self).sample_statistic(key, x, total_accuracy)
        return self._poisson_counts(key, x, total_accuracy, general)

    def _poisson_counts(self, key, x, rate, general):
        r"""Counts :math:`c_k \sim \mathrm{Poisson}(r\,\mathrm{link}(x)_k)` independently (an observation,
        :math:`r = \alpha`, or the flow's summed statistic, :math:`r = A`); ``general()`` draws them class by
        class (``K`` Poisson draws per position), the law's own sampler.

        One-hot fast path (noiseless channel, ``noise == 0``, and every position of ``x`` one-hot, checked
        on the values with ``lax.cond``): the cold classes have rate 0, so their counts are 0 almost
        surely, and the hot class's count is :math:`\mathrm{Poisson}(r)`: one Poisson draw per position,
        :math:`c = n\,x` with :math:`n \sim \mathrm{Poisson}(r)` -- the same law, ``K`` times fewer draws
        (the token models' training step draws ``B x L x K`` counts otherwise).  Soft labels and
        ``noise > 0`` take the general path (with noise every class has a positive rate)."""
        dtype = jnp.result_type(float)
        if self.noise != 0.0:
            return general().astype(dtype)
        x = jnp.asarray(x, dtype)
        r = jnp.asarray(rate, dtype)
        batch = jnp.broadcast_shapes(r.shape, x.shape[:-1])
        xb = jnp.broadcast_to(x, batch + x.shape[-1:])
        one_hot = jnp.all((xb == 0) | (xb == 1)) & jnp.all(jnp.sum(xb, axis=-1) == 1)

        def fast():
            return sample_poisson(key, jnp.broadcast_to(r, batch))[..., None] * xb

        return jax.lax.cond(one_hot, fast, lambda: jnp.broadcast_to(general().astype(dtype), xb.shape))

    def posterior(self, state: RunningMean) -> dist.Distribution:
        c = state.weight[..., None]
        return dist.Gamma(c * state.mean, c).to_event(1)

    def direction_posterior(self, state: RunningMean) -> dist.Distribution:
        """Posterior of the normalised direction :math:`\\pi = \\theta/\\sum_k\\theta_k`: :math:`\\mathrm{Dir}(C\\mu)`."""
        return dist.Dirichlet(state.weight[..., None] * state.mean)

    def predictive(self, state: RunningMean, alpha) -> dist.Distribution:
        c = state.weight[..., None]
        a = jnp.asarray(alpha, dtype=jnp.result_type(float))[..., None]
        return dist.GammaPoisson(c * state.mean, c / a).to_event(1)

    def divergence(self, x, xhat, alpha):
        l, lh = self.link(x), self.link(xhat)
        return jnp.asarray(alpha) * jnp.sum(xlogy(l, l) - xlogy(l, lh) - l + lh, axis=-1)


@register("dirichlet_multinomial")
@dataclasses.dataclass(frozen=True)
class DirichletMultinomial(_DirichletPrior):
    """Probability vectors: Dirichlet prior, Multinomial counts with n draws (n = accuracy)."""

    accuracy_kind = "integer"

    def prior(self) -> dist.Distribution:
        return dist.Dirichlet(self.concentration)

    def observation(self, theta, alpha) -> dist.Distribution:
        return dist.Multinomial(_whole(alpha), probs=theta)

    def sample_observation(self, key, x, alpha):
        return sample_multinomial(key, _whole(alpha), self.link(x))

    def statistic_law(self, x, total_accuracy):
        return dist.Multinomial(_whole(total_accuracy), probs=jnp.asarray(x))

    def sample_statistic(self, key, x, total_accuracy):
        return sample_multinomial(key, _whole(total_accuracy), x)

    def posterior(self, state: RunningMean) -> dist.Distribution:
        return dist.Dirichlet(state.weight[..., None] * state.mean)

    def predictive(self, state: RunningMean, alpha) -> dist.Distribution:
        return dist.DirichletMultinomial(state.weight[..., None] * state.mean, total_count=_whole(alpha))

    def flow(self, key, x, total_accuracy):
        """Flow state; the total number of draws ``total_accuracy`` must be whole (rounded when traced)."""
        V.check_integer(total_accuracy, "total_accuracy")
        return super().flow(key, x, total_accuracy)

    def divergence(self, x, xhat, alpha):
        x, xhat = jnp.asarray(x), jnp.asarray(xhat)
        return jnp.asarray(alpha) * jnp.sum(xlogy(x, x) - xlogy(x, xhat), axis=-1)

r"""The jitted training step: optimiser, EMA and the PMM loss over a Flax NNX denoiser.

The network's weights travel as a plain nested dict (``nnx.to_pure_dict``) so that the whole
training state is an ordinary pytree: easy to checkpoint, shard and compare.

    state' = (step + 1, params + update(grad L), opt_state', ema' = d_s * ema + (1 - d_s) * params')

(``update``: the clipped AdamW or Muon step of :func:`make_optimizer`)

with the EMA decay warmed up, :math:`d_s = \min(d, (1 + s)/(w + s))` at step :math:`s` (``w = 10``
is the usual warm-up, as in TensorFlow's ``ExponentialMovingAverage(num_updates=...)``; it averages
roughly the last ~10-20% of a run, a smaller ``w`` averages more of it): a fixed
:math:`d = 0.999` would still hold :math:`0.999^{2000} = 13.5\%` of the *initial* weights after
2000 steps, which short CPU runs cannot afford.

with ``L`` the mean PMM loss of :func:`pmm_ppl.process.objectives.pmm_loss` on the batch and
randomness ``fold_in(key, step)`` -- a pure function of the seed and the step, so a resumed run
replays exactly.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx
from optax.contrib import MuonDimensionNumbers

from pmm_ppl.conjugate.validation import PMMInputError
from pmm_ppl.nets.hidden_matrices import path_strings
from pmm_ppl.train.spec import TrainConfig


class TrainState(NamedTuple):
    step: jax.Array
    params: Any
    opt_state: Any
    ema: Any


def split_net(net: nnx.Module) -> tuple[Any, Callable[[Any], nnx.Module]]:
    """``(pure_params, rebuild)``: the trainable weights (``nnx.Param``) as a nested dict, and a
    function mapping such a dict back to a module (usable inside jit).  Everything else the module
    holds (constant arrays such as grid levels or preconditioning statistics) is kept as built."""
    graphdef, params, rest = nnx.split(net, nnx.Param, ...)
    pure = nnx.to_pure_dict(params)

    def rebuild(values: Any) -> nnx.Module:
        st = jax.tree_util.tree_map(lambda v: v, params)
        nnx.replace_by_pure_dict(st, values)
        return nnx.merge(graphdef, st, jax.tree_util.tree_map(lambda v: v, rest))  # fresh RNG variables

    return pure, rebuild


#: the factor of Muon's update that matches AdamW's root-mean-square update (Liu et al. 2025, "Muon is scalable
#: for LLM training"; :func:`make_optimizer`)
MUON_CONSISTENT_RMS = 0.2


def muon_dimension_numbers(params: Any, hidden_matrices: frozenset[tuple[str, ...]]) -> Any:
    """For each leaf of ``params``: Muon's matrix view of it if its path is one of ``hidden_matrices``
    (:func:`~pmm_ppl.nets.hidden_matrices.hidden_matrix_paths`; every axis but the last is the input, the last the
    output, so a ``(k, in, out)`` convolution kernel is the ``(k in) x out`` matrix), else ``None`` (AdamW).
    A declared path that ``params`` lacks is an error, not a matrix silently left to AdamW."""
    found = {path_strings(path) for path, _ in jax.tree_util.tree_leaves_with_path(params)}
    missing = sorted("/".join(p) for p in hidden_matrices - found)
    if missing:
        raise PMMInputError(f"hidden matrices not among the parameters: {', '.join(missing[:4])}"
                            + (f" and {len(missing) - 4} more" if len(missing) > 4 else ""))

    def dims(path, leaf):
        if path_strings(path) not in hidden_matrices:
            return None
        return MuonDimensionNumbers(reduction_axis=tuple(range(leaf.ndim - 1)), output_axis=leaf.ndim - 1)

    return jax.tree_util.tree_map_with_path(dims, params)


def make_optimizer(cfg: TrainConfig, hidden_matrices: frozenset[tuple[str, ...]] = frozenset()) -> optax.GradientTransformation:
    r"""Global-norm clipping, then the optimiser ``cfg.optimizer`` at the rate :math:`\eta_s` (linear warm-up to
    ``learning_rate``, cosine decay to 5% of it over ``cfg.decay_horizon`` steps):

    - ``"adamw"``: AdamW on every parameter.
    - ``"muon"``: Muon (``optax.contrib.muon``: Nesterov momentum 0.95, ``cfg.muon_ns_steps`` Newton-Schulz steps
      of the quintic (3.4445, -4.775, 2.0315) after the scaling ``cfg.muon_preconditioning``: by default five after
      Frobenius scaling; ``"schatten"`` scales by the Schatten-4 norm :math:`\lVert M M^\top \rVert_F^{1/2}`
      instead, which lies between the spectral and the Frobenius norm, so the singular values start nearer 1 and
      fewer steps reach the quintic's band) on the net's
      hidden weight matrices (``hidden_matrices``, from :func:`~pmm_ppl.nets.hidden_matrices.hidden_matrix_paths`),
      AdamW with Nesterov momentum on the rest (embeddings, time conditioning, head, biases, norms).  A hidden matrix :math:`W`
      (:math:`m \times n`) moves by :math:`-\eta_s (0.2 \sqrt{\max(m, n)}\, \mathrm{orth}(M) + \lambda W)`, with
      :math:`M` the bias-corrected Nesterov mix of momentum and gradient, and :math:`\mathrm{orth}(M) \approx U V^\top`
      for :math:`M = U \Sigma V^\top` (an :math:`m \times n` matrix with singular values near 1 has RMS entry
      :math:`\sqrt{\min(m, n) / (m n)}`, so the scaled update's RMS is about :math:`0.2 \eta_s`); the
      factor :data:`MUON_CONSISTENT_RMS` gives it AdamW's update size, so :math:`\eta` and the weight decay
      :math:`\lambda` mean the same under both."""
    decay = cfg.decay_horizon
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, cfg.learning_rate, cfg.warmup_steps, decay, end_value=cfg.learning_rate * 0.05
    )
    if cfg.optimizer == "adamw":
        inner = optax.adamw(schedule, weight_decay=cfg.weight_decay)
    else:
        if not hidden_matrices:
            raise PMMInputError(f"optimizer {cfg.optimizer!r}: the net declares no hidden weight matrices (a block class's "
                                "HIDDEN_MATRICES, pmm_ppl/nets/hidden_matrices.py); use optimizer 'adamw'")
        inner = optax.contrib.muon(schedule, weight_decay=cfg.weight_decay, adam_weight_decay=cfg.weight_decay,
                                   consistent_rms=MUON_CONSISTENT_RMS, ns_steps=int(cfg.muon_ns_steps),
                                   preconditioning=cfg.muon_preconditioning,
                                   muon_weight_dimension_numbers=lambda p: muon_dimension_numbers(p, hidden_matrices))
    return optax.chain(optax.clip_by_global_norm(cfg.clip_norm), inner)


def init_state(params: Any, optimizer: optax.GradientTransformation) -> TrainState:
    return TrainState(jnp.zeros((), jnp.int32), params, optimizer.init(params), jax.tree_util.tree_map(jnp.copy, params))


def ema_decay_at(step: jax.Array, ema_decay: float, warmup: float = 10.0) -> jax.Array:
    r"""Warmed-up EMA decay :math:`\min(d, (1 + s)/(w + s))` at step ``s``: with ``w = 10``, 0.1 at
    step 0 (the first update keeps 10% of the initial weights) and the full decay ``d = 0.999`` from
    step ~9000 on; ``w = 2`` is close to a uniform average of all iterates so far."""
    s = jnp.asarray(step, jnp.float32)
    return jnp.minimum(ema_decay, (1.0 + s) / (warmup + s))


def make_train_step(
    loss_of_params: Callable[[Any, jax.Array, jax.Array], jax.Array],
    optimizer: optax.GradientTransformation,
    ema_decay: float,
    base_key: jax.Array,
    ema_warmup: float = 10.0,
) -> Callable[[TrainState, jax.Array], tuple[TrainState, dict]]:
    """Build ``step(state, x_batch) -> (state', metrics)``.  ``loss_of_params(params, key, x)``
    returns the scalar mean loss; the step's key is ``fold_in(base_key, state.step)``."""

    def step(state: TrainState, x: jax.Array) -> tuple[TrainState, dict]:
        key = jax.random.fold_in(base_key, state.step)
        loss, grads = jax.value_and_grad(loss_of_params)(state.params, key, x)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        ema = optax.incremental_update(params, state.ema, 1.0 - ema_decay_at(state.step, ema_decay, ema_warmup))
        metrics = {"loss": loss, "grad_norm": optax.tree.norm(grads)}
        return TrainState(state.step + 1, params, opt_state, ema), metrics

    return step


#: folded into a step's key to give its dropout key, so that nets without dropout keep their randomness unchanged
DROPOUT_STREAM = 0x64726F70


def training_view(net: nnx.Module, key: jax.Array) -> nnx.Module:
    """The net as trained: its ``nnx.Dropout`` layers (built ``deterministic=True`` with a ``"dropout"``
    stream, so that evaluation and sampling never drop) switched on, with masks drawn from
    ``fold_in(key, DROPOUT_STREAM)``, and every submodule with a ``training_call()`` method told that this call
    trains (e.g. :class:`~pmm_ppl.nets.count_prior.CountPrior`, whose network then trains without the pool).
    For a freshly rebuilt net (one training call); a net with neither is returned unchanged."""
    if any(isinstance(m, nnx.Dropout) for _, m in nnx.iter_modules(net)):
        nnx.reseed(net, dropout=jax.random.fold_in(key, DROPOUT_STREAM))
        net = nnx.view(net, deterministic=False)
    for _, module in nnx.iter_modules(net):
        if callable(getattr(module, "training_call", None)):
            module.training_call()
    return net


#: folded into a step's key to give its augmentation key
AUGMENT_STREAM = 0x61756700


def augmented(spec, net: nnx.Module, key: jax.Array, x: jax.Array) -> tuple[nnx.Module, jax.Array]:
    """``(net, x)`` for one training call: with ``spec.augment`` set, the batch augmented from
    ``fold_in(key, AUGMENT_STREAM)`` and the net given its labels (a net that cannot take them is an
    error); otherwise both unchanged."""
    if spec.augment is None:
        return net, x
    from pmm_ppl.conjugate.validation import PMMInputError
    from pmm_ppl.nets.embedding import set_augment_labels

    x, labels = spec.augment(jax.random.fold_in(key, AUGMENT_STREAM), x)
    if not set_augment_labels(net, labels):
        raise PMMInputError("augment: the net has no augmentation-conditioned embedding (build it with "
                            "augment_dim=augment.num_labels, e.g. UNet(augment_dim=...)), so the augmented "
                            "examples would leak into the model")
    return net, x


def pmm_loss_of_params(spec, rebuild: Callable[[Any], nnx.Module]) -> Callable:
    """The model spec's PMM objective as a function of the weights (dropout on, see :func:`training_view`;
    the batch augmented when the spec says so, see :func:`augmented`)."""
    from pmm_ppl.process.objectives import pmm_loss

    def loss(params, key, x):
        net, data = augmented(spec, rebuild(params), key, spec.to_data(x))
        net = training_view(net, key)
        return pmm_loss(spec.pair, spec.schedule, net, key, data, weighting=spec.weighting,
                        log_score=spec.log_score, times=spec.train_times).mean

    return loss


def regression_loss_of_params(rebuild: Callable[[Any], nnx.Module]) -> Callable:
    """A plain regression step on the same net and batch (the overhead benchmark's baseline):
    ``||f(x + noise, t) - x||^2`` with ``t ~ U(0, 1)`` -- same forward/backward work, no PMM flow."""

    def loss(params, key, x):
        net = training_view(rebuild(params), key)
        k1, k2 = jax.random.split(key)
        t = jax.random.uniform(k1, (x.shape[0],))
        noisy = x + jax.random.normal(k2, x.shape)
        return jnp.mean((net(noisy, t) - x) ** 2)

    return loss

"""pmm_ppl: Posterior Mean Matching -- generative modelling by online Bayesian inference with conjugate pairs.

The everyday API is re-exported here::

    import jax, pmm_ppl
    pair = pmm_ppl.get_pair("normal_normal")
    process = pmm_ppl.Process(pair, pmm_ppl.GeometricSchedule(a_max=1e3))
    oracle = pmm_ppl.gaussian_mixture_oracle(pair, process.schedule, weights=[0.5, 0.5], means=[[-1.0], [1.0]], variances=[[0.01], [0.01]])
    x = process.sample(oracle, jax.random.key(0), 1000, (1,), num_steps=200)

``pmm_ppl.fit`` (the training entry point) is imported on first use, so that ``import pmm_ppl`` does
not load the optimiser and checkpoint libraries.
"""

from pmm_ppl.conjugate import (
    ConjugatePair,
    ExpFamilyPair,
    LinearPair,
    PMMInputError,
    RunningMean,
    get_pair,
    list_pairs,
    register,
)
from pmm_ppl.conjugate.from_model import pair_from_model
from pmm_ppl.process import (
    DiscretisedGaussian,
    GaussianDensity,
    GeometricSchedule,
    Inpaint,
    LogLinearSchedule,
    PowerSchedule,
    Prefix,
    Process,
    continuous_elbo,
    discrete_elbo,
    empirical_oracle,
    gaussian_mixture_oracle,
    pmm_loss,
    poisson_mixture_oracle,
    sample,
    schedule_for,
    to_bits_per_dim,
)

__version__ = "0.1.0"
__all__ = [
    "ConjugatePair",
    "DiscretisedGaussian",
    "ExpFamilyPair",
    "FitResult",
    "GaussianDensity",
    "GeometricSchedule",
    "Inpaint",
    "LinearPair",
    "LogLinearSchedule",
    "PMMInputError",
    "PowerSchedule",
    "Prefix",
    "Process",
    "RunningMean",
    "TrainConfig",
    "continuous_elbo",
    "discrete_elbo",
    "empirical_oracle",
    "fit",
    "gaussian_mixture_oracle",
    "get_pair",
    "list_pairs",
    "pair_from_model",
    "pmm_loss",
    "poisson_mixture_oracle",
    "register",
    "sample",
    "schedule_for",
    "to_bits_per_dim",
]


def __getattr__(name: str):
    if name in ("fit", "FitResult", "TrainConfig"):
        from pmm_ppl.train import fit as _fit
        from pmm_ppl.train.spec import TrainConfig

        return {"fit": _fit.fit, "FitResult": _fit.FitResult, "TrainConfig": TrainConfig}[name]
    raise AttributeError(f"module 'pmm_ppl' has no attribute {name!r}")

"""PMM itself: accuracy schedules, training objectives, the plug-in and ancestral samplers, exact oracles and
the likelihood bound, and the :class:`Process` that joins a pair and a schedule (docs/design.md sections 3-6).  Re-exports the public names of the submodules."""

from pmm_ppl.process.elbo import (
    CategoricalReconstruction,
    DiscretisedGamma,
    DiscretisedGaussian,
    ELBOEstimate,
    GaussianDensity,
    continuous_elbo,
    default_reconstruction,
    discrete_elbo,
    to_bits_per_dim,
)
from pmm_ppl.process.objectives import WEIGHTINGS, LossOutput, pmm_loss
from pmm_ppl.process.oracles import (
    POISSON_TAIL_MASS,
    empirical_oracle,
    empirical_oracle_at_accuracy,
    gaussian_mixture_oracle,
    gaussian_mixture_oracle_at_accuracy,
    poisson_mixture_oracle,
    poisson_mixture_oracle_at_accuracy,
    poisson_support_bound,
    summed_statistic,
)
from pmm_ppl.process.process import Process
from pmm_ppl.process.sampler import OUTPUTS, Inpaint, Prefix, decode_tokens, sample
from pmm_ppl.process.schedules import GeometricSchedule, LogLinearSchedule, PowerSchedule, Schedule, StepGrid, schedule_for

__all__ = [
    "Process",
    # schedules
    "StepGrid",
    "GeometricSchedule",
    "LogLinearSchedule",
    "PowerSchedule",
    "Schedule",
    "schedule_for",
    # objectives
    "LossOutput",
    "WEIGHTINGS",
    "pmm_loss",
    # sampler
    "Inpaint",
    "OUTPUTS",
    "Prefix",
    "decode_tokens",
    "sample",
    # oracles
    "POISSON_TAIL_MASS",
    "empirical_oracle",
    "empirical_oracle_at_accuracy",
    "gaussian_mixture_oracle",
    "gaussian_mixture_oracle_at_accuracy",
    "poisson_mixture_oracle",
    "poisson_mixture_oracle_at_accuracy",
    "poisson_support_bound",
    "summed_statistic",
    # likelihood bound
    "CategoricalReconstruction",
    "DiscretisedGamma",
    "DiscretisedGaussian",
    "ELBOEstimate",
    "GaussianDensity",
    "continuous_elbo",
    "default_reconstruction",
    "discrete_elbo",
    "to_bits_per_dim",
]

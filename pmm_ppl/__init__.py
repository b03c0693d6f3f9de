"""pmm_ppl: Posterior Mean Matching -- generative modelling by online Bayesian inference with conjugate pairs."""

from pmm_ppl.conjugate import (
    ConjugatePair,
    LinearPair,
    PMMInputError,
    RunningMean,
    get_pair,
    list_pairs,
    register,
)

__version__ = "0.1.0"
__all__ = ["ConjugatePair", "LinearPair", "PMMInputError", "RunningMean", "get_pair", "list_pairs", "register"]

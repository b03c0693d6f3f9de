"""pmm_ppl: Posterior Mean Matching -- generative modelling by online Bayesian inference with conjugate pairs."""

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

__version__ = "0.1.0"
__all__ = [
    "ConjugatePair",
    "ExpFamilyPair",
    "LinearPair",
    "PMMInputError",
    "RunningMean",
    "get_pair",
    "list_pairs",
    "pair_from_model",
    "register",
]

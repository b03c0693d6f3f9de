"""Conjugate pairs: the protocol (:mod:`.base`), one module per pair, and the registry.

To add a pair: write one module with a ``@register("name")`` class (see
``docs/adding_a_pair.md``) and add its module name to ``PAIR_MODULES`` below.
"""

import importlib

from pmm_ppl.conjugate.base import ConjugatePair, LinearPair, RunningMean
from pmm_ppl.conjugate.expfamily import ExpFamilyPair
from pmm_ppl.conjugate.registry import get_pair, list_pairs, register
from pmm_ppl.conjugate.validation import PMMInputError

PAIR_MODULES = [
    "normal_normal",
    "gamma_poisson",
    "dirichlet_categorical",
    "beta_binomial",
    "gamma_gamma",
    "gamma_exponential",
    "mvn_normal",
    "normal_gamma",
    "expfamily_pairs",
]

for _m in PAIR_MODULES:
    importlib.import_module(f"pmm_ppl.conjugate.{_m}")

# the pair classes, for code that builds a specific pair without going through a registered name
from pmm_ppl.conjugate.dirichlet_categorical import DirichletCategorical  # noqa: E402
from pmm_ppl.conjugate.gamma_poisson import GammaPoisson  # noqa: E402
from pmm_ppl.conjugate.normal_normal import NormalNormal  # noqa: E402

__all__ = ["ConjugatePair", "DirichletCategorical", "ExpFamilyPair", "GammaPoisson", "LinearPair", "NormalNormal", "RunningMean", "PMMInputError",
           "get_pair", "list_pairs", "register"]

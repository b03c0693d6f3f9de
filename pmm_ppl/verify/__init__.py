"""Generic inference checks of any registered conjugate pair.

* :func:`nuts_check` -- NUTS on ``pair.model`` versus the closed-form posterior (one experiment).
* :func:`sbc` -- simulation-based calibration of the closed form (thousands of experiments).
* :func:`to_inference_data` -- ArviZ ``InferenceData`` of a NUTS check.
* :func:`plot_verification` -- densities (NUTS vs exact) and SBC rank histograms.

``pmm verify PAIR ... | --all`` runs the first two on registered pairs (:mod:`.command`).
"""

from pmm_ppl.verify.inference_data import to_inference_data
from pmm_ppl.verify.nuts_check import NutsCheckResult, Thresholds, nuts_check
from pmm_ppl.verify.plots import plot_verification
from pmm_ppl.verify.sbc import SBCResult, sbc

__all__ = ["NutsCheckResult", "SBCResult", "Thresholds", "nuts_check", "plot_verification", "sbc", "to_inference_data"]

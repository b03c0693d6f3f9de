"""Figure of a verification: NUTS versus exact posterior per coordinate, and SBC ranks.

``plot_verification(result, sbc_result=None, ax=None)`` draws, for each flattened coordinate of
theta, the density histograms of the NUTS draws and of the exact posterior draws with the true theta
marked; with an :class:`~pmm_ppl.verify.sbc.SBCResult` it adds one panel of binned SBC rank counts
per coordinate (step lines) with the band that holds a uniform bin count with probability 0.99
(binomial quantiles, pointwise).  Returns the array of matplotlib Axes used.
"""

from __future__ import annotations

import numpy as np
import scipy.stats

from pmm_ppl.conjugate import validation as V
from pmm_ppl.verify.nuts_check import NutsCheckResult
from pmm_ppl.verify.sbc import SBCResult


def num_panels(result: NutsCheckResult, sbc_result: SBCResult | None = None) -> int:
    """Number of Axes :func:`plot_verification` needs."""
    return len(result.coordinate_names) + (1 if sbc_result is not None else 0)


def plot_verification(result: NutsCheckResult, sbc_result: SBCResult | None = None, ax=None, bins: int = 40):
    """Plot a NUTS check (and optionally SBC); ``ax`` is ``None`` or a sequence of enough Axes."""
    import matplotlib.pyplot as plt

    n = num_panels(result, sbc_result)
    if ax is None:
        ncols = min(n, 4)
        nrows = -(-n // ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 2.8 * nrows), squeeze=False)
        axes = axes.ravel()
        for extra in axes[n:]:
            extra.set_visible(False)
    else:
        axes = np.atleast_1d(np.asarray(ax, dtype=object)).ravel()
        if axes.size < n:
            raise V.PMMInputError(f"ax: needs at least {n} Axes for this result, got {axes.size}")

    k = len(result.coordinate_names)
    nuts = np.asarray(result.nuts_draws, dtype=float).reshape(result.nuts_draws.shape[:2] + (k,)).reshape(-1, k)
    exact = np.asarray(result.exact_draws, dtype=float).reshape(-1, k)
    truth = np.asarray(result.theta_true, dtype=float).reshape(k)
    for j, name in enumerate(result.coordinate_names):
        a = axes[j]
        lo = min(nuts[:, j].min(), exact[:, j].min())
        hi = max(nuts[:, j].max(), exact[:, j].max())
        edges = np.linspace(lo, hi, bins + 1) if hi > lo else bins
        a.hist(exact[:, j], bins=edges, density=True, histtype="stepfilled", alpha=0.35, label="closed form")
        a.hist(nuts[:, j], bins=edges, density=True, histtype="step", linewidth=1.5, label="NUTS")
        a.axvline(truth[j], color="k", linestyle=":", linewidth=1, label="true theta")
        a.set_title(f"{result.pair_name}: {name}\nz_mean={result.z_mean[j]:.2f} KS p={result.ks_pvalue[j]:.2g}", fontsize=8)
        if j == 0:
            a.legend(fontsize=7)

    if sbc_result is not None:
        a = axes[k]
        counts = np.asarray(sbc_result.counts)
        num_rep = counts.sum(axis=1)[0]
        p = 1.0 / sbc_result.num_bins
        lo, hi = scipy.stats.binom.ppf([0.005, 0.995], num_rep, p)
        centres = np.arange(sbc_result.num_bins)
        a.axhspan(lo, hi, color="0.85", label="99% band (uniform)")
        for j, name in enumerate(sbc_result.coordinate_names):
            a.step(centres, counts[j], where="mid", linewidth=1, label=name if j < 6 else None)
        a.set_xlabel(f"rank bin (L={sbc_result.num_posterior_draws})")
        a.set_ylabel("count")
        a.set_title(f"SBC ranks, p={sbc_result.pvalue_adjusted:.2g}", fontsize=8)
        a.legend(fontsize=6)
    return axes[:n]

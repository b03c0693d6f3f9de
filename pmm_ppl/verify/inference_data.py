"""ArviZ ``InferenceData`` of a NUTS-versus-closed-form check.

Groups:

* ``posterior``        -- NUTS draws of ``theta``, shape ``(chain, draw) + event``;
* ``exact_posterior``  -- independent draws from the closed-form posterior, one pseudo-chain
  ``(1, num_exact) + event`` (a non-standard group name: ArviZ functions take it with
  ``group="exact_posterior"``, e.g. ``az.summary(idata, group="exact_posterior")``);
* ``observed_data``    -- the simulated observations ``y`` (axis 0 indexes observations);
* ``constant_data``    -- the accuracies ``alpha`` and the true ``theta`` drawn from the prior.

Both posterior groups share the dimension names ``theta_dim_i``, so ``az.plot_density`` /
``az.summary`` can put them side by side.
"""

from __future__ import annotations

import warnings

import numpy as np

from pmm_ppl.verify.nuts_check import NutsCheckResult


def _arviz():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import arviz as az
    return az


def to_inference_data(result: NutsCheckResult):
    """``arviz.InferenceData`` with the NUTS posterior and the exact posterior draws (see module doc)."""
    az = _arviz()
    event_ndim = np.ndim(result.theta_true)
    dims = {"theta": [f"theta_dim_{i}" for i in range(event_ndim)]}
    obs_dims = {"y": ["obs"] + [f"y_dim_{i}" for i in range(np.ndim(result.ys) - 1)], "alpha": ["obs"]}
    idata = az.from_dict(
        posterior={"theta": np.asarray(result.nuts_draws)},
        observed_data={"y": np.asarray(result.ys)},
        constant_data={"alpha": np.asarray(result.alphas), "theta_true": np.asarray(result.theta_true)},
        dims={**dims, **obs_dims, "theta_true": dims["theta"]},
    )
    exact = az.convert_to_dataset({"theta": np.asarray(result.exact_draws)[None]}, dims=dims)
    idata.add_groups(exact_posterior=exact)
    idata.posterior.attrs["pair"] = result.pair_name
    idata.exact_posterior.attrs["pair"] = result.pair_name
    return idata

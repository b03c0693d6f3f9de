"""sklearn digits with the Normal-Normal pair and the U-Net: the 10-minute CPU quality model.

Same pair, schedule (geometric, A_max = 1e4), discretised 17-level output and ELBO weighting as
``digits_normal``, but the backbone is the U-Net (channels 32, 64; attention at 4x4) giving
per-level logits.  It trains ~15x slower per step than the MLP on 2 CPU cores and overfits the 1500
training images later (measured, test / train bits/dim: 2.43 / 2.40 at 650 steps, 1.84 / 1.71 at
1390 steps; after 600 s = 3333 steps: test 1.97 at T = 256, 1.93 continuous), so its budget is
1400 steps (about 4-6 minutes on 2 cores).
"""

import dataclasses

from pmm_ppl.train.models import load_spec
from pmm_ppl.train.spec import ModelSpec


def spec(**overrides) -> ModelSpec:
    settings = {"arch": "unet", "max_steps": 1400, "max_seconds": None, "decay_steps": 6000, **overrides}
    base = load_spec("digits_normal", **settings)
    return dataclasses.replace(base, name="digits_unet", description=__doc__)

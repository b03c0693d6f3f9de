"""A 2-D toy: a ring of 8 Gaussians, with the Normal-Normal pair and a small residual MLP.

pair       Normal-Normal, mu_0 = 0, rho_0 = 1
schedule   geometric, A_max = 1e3
net        residual MLP (width 128, depth 2), Normal preconditioning
objective  ELBO weighting (continuous time)
data       8 Gaussians of s.d. 0.05 on the circle of radius 1; 8192 train, 2048 test points (seed 0);
           the bound is on the negative log *density* (continuous data)
budget     a minute of CPU training
"""

import numpy as np

from pmm_ppl.conjugate.normal_normal import NormalNormal
from pmm_ppl.nets.factory import make_denoiser
from pmm_ppl.process.schedules import GeometricSchedule
from pmm_ppl.train.spec import EvalConfig, ModelSpec, TrainConfig


def ring_of_gaussians(n: int, seed: int, num_modes: int = 8, radius: float = 1.0, sd: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(seed)
    angle = 2 * np.pi * rng.integers(num_modes, size=n) / num_modes
    centres = radius * np.stack([np.cos(angle), np.sin(angle)], -1)
    return (centres + sd * rng.standard_normal((n, 2))).astype(np.float32)


def spec(**overrides) -> ModelSpec:
    pair = NormalNormal(prior_mean_value=0.0, prior_precision=1.0)
    schedule = GeometricSchedule(a_max=float(overrides.pop("a_max", 1e3)), scale=1.0)
    width, depth = overrides.pop("width", 128), overrides.pop("depth", 2)
    weighting = overrides.pop("weighting", "elbo")
    train = TrainConfig(**{"batch_size": 256, "learning_rate": 2e-3, "warmup_steps": 100, "max_steps": 3000,
                           "max_seconds": 60.0, "checkpoint_every": 500, **overrides})

    def make_net(seed):
        return make_denoiser(pair, (2,), arch="mlp", schedule=schedule, precondition=True, data_mean=0.0,
                             data_std=0.7, width=width, depth=depth, seed=seed)

    def load_data():
        return ring_of_gaussians(8192, seed=0), ring_of_gaussians(2048, seed=1)

    return ModelSpec(name="toy2d_normal", pair=pair, schedule=schedule, make_net=make_net, load_data=load_data,
                     data_shape=(2,), weighting=weighting, train=train,
                     eval=EvalConfig(num_levels=0, unit="dim", num_steps=256, num_mc=2), sample_steps=256,
                     description=__doc__)

"""MNIST (28x28, 256 grey levels) with the Normal-Normal pair, sized for 10 minutes on 2 CPU cores.

(draft: figures to be measured)
"""

import numpy as np
from flax import nnx

from pmm_ppl.conjugate.normal_normal import NormalNormal
from pmm_ppl.data.mnist import NUM_LEVELS, load_mnist
from pmm_ppl.nets.discretised import DiscretisedNormalPreconditioned
from pmm_ppl.nets.factory import make_denoiser
from pmm_ppl.nets.unet import UNet
from pmm_ppl.process.schedules import GeometricSchedule
from pmm_ppl.train.spec import EvalConfig, ModelSpec, TrainConfig

DATA_MEAN, DATA_STD = -0.74, 0.62  # of the 60k training images scaled to [-1, 1]


def spec(**overrides) -> ModelSpec:
    pair = NormalNormal(prior_mean_value=0.0, prior_precision=1.0)
    schedule = GeometricSchedule(a_max=float(overrides.pop("a_max", 1e6)), scale=1.0)
    net_kwargs = {"channels": tuple(overrides.pop("channels", (32, 64, 64))),
                  "num_res_blocks": overrides.pop("num_res_blocks", 2),
                  "attention": overrides.pop("attention", True)}
    out_kernel = overrides.pop("out_kernel", 1)
    discretised = overrides.pop("discretised", True)
    weighting = overrides.pop("weighting", "elbo")
    log_score = float(overrides.pop("log_score", 0.0))
    train = TrainConfig(**{"batch_size": 32, "learning_rate": 1e-3, "warmup_steps": 100, "max_steps": 1_000_000,
                           "max_seconds": 600.0, "decay_steps": 1500, "checkpoint_every": 10_000,
                           "ema_decay": 0.999, "ema_warmup": 10.0, **overrides})

    def make_net(seed):
        if discretised:  # output = expectation over the 256 grey levels (pmm_ppl/nets/discretised.py)
            backbone = UNet((28, 28), out_per_pixel=NUM_LEVELS, out_kernel=out_kernel, zero_init_output=True,
                            rngs=nnx.Rngs(seed), **net_kwargs)
            return DiscretisedNormalPreconditioned(backbone, pair, schedule, np.linspace(-1, 1, NUM_LEVELS),
                                                   data_mean=DATA_MEAN, data_std=DATA_STD)
        return make_denoiser(pair, (28, 28), arch="unet", schedule=schedule, precondition=True, data_mean=DATA_MEAN,
                             data_std=DATA_STD, seed=seed, **net_kwargs)

    def load_data():
        data = load_mnist()
        return data.train, data.test

    def load_labels():
        data = load_mnist()
        return data.train_labels, data.test_labels

    return ModelSpec(name="mnist_cpu", pair=pair, schedule=schedule, make_net=make_net, load_data=load_data,
                     load_labels=load_labels, data_shape=(28, 28), weighting=weighting, log_score=log_score,
                     train=train,
                     eval=EvalConfig(num_levels=NUM_LEVELS, unit="dim", num_steps=256, num_mc=2, max_examples=500,
                                     discrete_bound=False),
                     sample_steps=256, sampler="ancestral" if discretised else "plug_in", description=__doc__)


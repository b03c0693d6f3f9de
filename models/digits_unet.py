"""sklearn digits with the Normal-Normal pair and the U-Net: the 10-minute CPU quality model.

Same pair, discretised 17-level output and ELBO weighting as ``digits_normal``, but a lower A_max (geometric,
A_max = 3e3 against its 1e4: final posterior s.d. 0.018, a bin's half-width 1/16), and the backbone is the
U-Net (channels 32, 64; attention at 4x4; dropout 0.1) giving per-level logits, trained on non-leaking
augmented images (flips, quarter turns and one-pixel circular shifts, each with probability 0.3, the net
conditioned on what was applied: ``pmm_ppl/data/augment.py``) for 9000 steps of batch 64 (cosine
horizon 18000) with Muon on the U-Net's hidden convolutions and AdamW on the rest
(``optimizer="muon"``, ``pmm_ppl/train/step.py``; the last section).  Without augmentation it overfits the
1500 training images after ~1100 steps, so the budget is in steps and the weights are decayed.  The history
below is in the order it was measured; the last section is this model.  Measured on this 2-core machine
with ``benchmarks/train_quality.py --models digits_unet --set JSON`` (test bound in bits/dim, T = 256 steps /
continuous time; EMA with warm-up; one run each):

    1400 steps, weight decay 1e-4, cosine horizon 6000    1.807 / 1.768
    1400 steps, cosine decayed to 5% at step 1400         1.826 / 1.786
    2100 steps, cosine decayed to 5% at step 2100         1.907 / 1.861
    1100 steps, weight decay 1e-4                         1.791 / 1.752
    1400 steps, weight decay 0.05                         1.793 / 1.752
    1100 steps, weight decay 0.05 (kept)                  1.784 / 1.743  (T = 1024: 1.757)

Those are plug-in bounds.  The model's sampler is the ancestral one (as digits_normal): its own T-step bound
is lower.  ``benchmarks/sampler_comparison.py`` (one run; 297 test images; Frechet distance of 148 samples in
a small classifier's features, held-out floor 22.0):

    plug-in    T=64  1.905 bits/dim  FD 42.3    T=256  1.785 bits/dim  FD 43.2
    ancestral  T=64  1.755 bits/dim  FD 49.2    T=256  1.762 bits/dim  FD 49.3

Two seeds (weights and batch order), `benchmarks/train_quality.py --models digits_unet digits_counts --seeds 0 1`
(one run, 2 cores shared with other work; T-step bounds with the model's ancestral receiver):

    seed 0    T=256 1.7617   T=1024 1.7594   continuous 1.7433 bits/dim
    seed 1    T=256 1.7526   T=1024 1.7472   continuous 1.7328 bits/dim

Training times drawn stratified over the batch (one t per 1/B of (0, 1)) instead of independently: seed 0
gave 1.7578 / 1.7443 (T=256 / continuous), no change, so training keeps independent times.

Dropout 0.1 before each residual block's second convolution (as in DDPM; only in training, from the step's
key), measured on seed 0 with ``--set JSON --bound-steps 256`` (T = 256 ancestral / continuous, bits/dim):

    no dropout, 1100 steps (before)                     1.7617 / 1.7433
    dropout 0.1, 1100 steps (kept)                      1.7512 / 1.7371
    dropout 0.1, 1600 steps                             1.7512 / 1.7371   (no overfitting, no further gain)
    dropout 0.2, 1100 steps                             1.7578 / 1.7407
    dropout 0.1, channels (48, 96), 1100 steps          1.7519 / 1.7305   (about twice the training time)
    dropout 0.1, "pmm" loss weighting                   1.8329 / 1.8174
    dropout 0.1, cosine decayed to 5% at step 1600      1.7669 / 1.7542   (a full decay still hurts,
    dropout 0.2, cosine decayed to 5% at step 2000      1.7759 / 1.7548    as without dropout)

Seed 1 of that model (`--models digits_unet --seeds 1`): 1.7533 / 1.7315 (T=1024 1.7486), against 1.7526 /
1.7328 without dropout: over the two seeds dropout gains 0.005 / 0.004 bits/dim, less than the seed-to-seed
spread; it is kept because it also stops the overfitting (1600 steps score as 1100).

The EMA used the usual warm-up w = 10 (with w = 2, as in digits_normal: 1.796 / 1.755).  Training took
about 3.5 minutes on 2 cores (~650 images/s).

Non-leaking augmentation (EDM's recipe, ``augment=p``: each of xflip, rot90, translate applied with
probability p; the labels enter the time embedding, zero for the real data, so the bound and the samplers
see the model of the unaugmented law).  It regularises the way dropout alone did not, so the run can be
longer.  Seed 0, dropout 0.1, cosine horizon 6000, T = 256 ancestral / continuous, bits/dim:

    p = 0.15, 1100 steps                                1.7589 / 1.7400   (slower to fit)
    p = 0.15, 2200 steps                                1.7222 / 1.7024
    p = 0.15, 2800 steps                                1.7215 / 1.7006
    p = 0.30, 2800 steps                                1.7210 / 1.7007
    p = 0.15, 2800 steps, cosine decayed to 5% at 2800  1.7288 / 1.7087   (a full decay still hurts)
    p = 0.15, 2800 steps, no dropout                    1.7317 / 1.7081   (dropout still helps)
    p = 0.15, 2800 steps, EMA warm-up w = 4               1.7197 / 1.7000

Two seeds of that model, ``benchmarks/train_quality.py --models digits_unet --seeds 0 1 --bound-steps 256``
(seed 1 trained in 315 s on 2 quiet cores, 1139 images/s): seed 0 1.7197 / 1.7000, seed 1 1.7188 / 1.6985
(seed 1 with w = 10: 1.7223 / 1.7010).  Variations on seed 0, no gain beyond the noise: channels (40, 80)
1.7203 / 1.6981 (1.5x the time); shifts of up to 2 pixels (``augment={"probability": 0.15, "max_shift":
2}``) 1.7188 / 1.6981; training times drawn by a loss-aware importance proposal (32 time bins, Neyman
allocation refitted as training goes; a prototype, not kept) 1.7185 / 1.6999.

That model used about half of the 10-minute budget.  Spending the rest on more steps pays once the
augmentation is stronger; a bigger batch at the same steps does not.  Seed 0, ``--set JSON --seconds 1e9
--bound-steps 256`` (one run each, two runs sharing the 2 cores; step budgets, so the figures do not depend
on the load):

    batch 256, p = 0.15, 2800 steps                     1.7349 / 1.7137
    p = 0.2, 4500 steps, cosine horizon 9000            1.7154 / 1.6948
    p = 0.3, 4500 steps, cosine horizon 6000            1.7103 / 1.6890
    p = 0.3, 4500 steps, cosine horizon 20000           1.7100 / 1.6889
    p = 0.5, 4500 steps, cosine horizon 6000            1.7544 / 1.7337   (too much of the net's capacity
                                                                           goes to the augmented laws)
    p = 0.3, 4500 steps, horizon 9000, AdamW 3e-3       1.7082 / 1.6894
    p = 0.3, 4500 steps, horizon 9000, EMA decay 0.9995 1.7092 / 1.6876
    p = 0.3, 4500 steps, horizon 9000 (the model before) 1.7085 / 1.6864

Two seeds of that model, ``benchmarks/train_quality.py --models digits_unet --seeds S --bound-steps 256``
(seed 0 alone on 2 quiet cores: 4500 steps at a median 1051 images/s, i.e. about 550 s of training inside the
10-minute budget, and the same figures as in the table above; seed 1 with the cores shared):

    seed 0    T=256 1.7085   continuous 1.6864 bits/dim
    seed 1    T=256 1.7056   continuous 1.6822 bits/dim

Against the targets: < 1.72 at T = 256 is met by both seeds (margins 0.012 / 0.014 bits/dim, about one
standard error of the bound over the 297 test images, 0.014); < 1.68 in continuous time is not (0.006 / 0.002
short).  Without the one-pixel shifts (flips and quarter turns only, p = 0.3, seed 0): 1.7169 / 1.6969, so
the shifts help.

Smaller batches for the same 576,000 images, and a lower A_max.  Seed 0, ``--set JSON --seconds 1e9
--bound-steps 256`` on top of that model (one run each, two runs sharing the 2 cores):

    batch 64, 9000 steps, horizon 18000                 1.7066 / 1.6840
    batch 32, 18000 steps, horizon 36000                1.7100 / 1.6894
    batch 128, dropout 0.15                             1.7100 / 1.6899
    batch 64, 9000 steps, horizon 18000, A_max = 1e3    1.7272 / 1.7167   (s.d. 0.032, half of a bin's half-width)
                                          A_max = 2e3   1.7036 / 1.6896
                                          A_max = 3e3   1.6945 / 1.6793   (the AdamW model before Muon)
                                          A_max = 5e3   1.7035 / 1.6846
    A_max = 3e3 and EMA decay 0.9995                    1.6955 / 1.6809
    A_max = 3e3 and augmentation p = 0.35               1.6969 / 1.6802

Under the geometric schedule uniform training times are uniform in log(1 + A), so with A_max = 1e4 13% of
them fall above A = 3e3, where the posterior s.d. is already well inside a bin (a likely reason, not measured
apart).  The rows around 3e3 scatter by 0.005 to 0.01, so its lead over 2e3 and 5e3 is partly noise.

Two seeds of that model (AdamW, the model before Muon), ``benchmarks/train_quality.py --models digits_unet
--seeds S --bound-steps 256`` (seed 0 alone on 2 quiet cores: 9000 steps at a median 1250 images/s, i.e. about 460 s
of training and 575 s with compilation and the bounds, the same figures as the ``--set`` run above; seed 1
with the cores shared; seed 2 alone, 1117 images/s, 636 s in all):

    seed 0    T=256 1.6945   continuous 1.6793 bits/dim
    seed 1    T=256 1.6930   continuous 1.6792 bits/dim
    seed 2    T=256 1.6928   continuous 1.6799 bits/dim

On a 2-core machine whose steps take 1.8x as long (AVX2, no AVX-512; the Shakespeare training step took
50.5 ms there against 27.6 ms), the 600 s limit, not the 9000 steps, ends the run: seed 0 (the command above,
without ``--bound-steps``) trained 4531 steps at 524 images/s and scored T=256 1.7216, T=1024 1.7180,
continuous 1.7078 bits/dim, missing both targets.  The figures above need a machine that finishes the 9000
steps within the budget.

Its training-step overhead (``benchmarks/train_step_overhead.py --models digits_unet``, two quiet runs):
1.015 with ``--repeats 5``, 0.997 with ``--repeats 10``.

Against the targets: < 1.72 at T = 256 is met with margins 0.026 / 0.027 / 0.027; < 1.68 in continuous time
is met, but by 0.0007 / 0.0008 / 0.0001 bits/dim, far inside one standard error of the bound over the 297 test
images (0.014): the three seeds agree, but another run's noise could cross it.  BFN with its own code on the same split: 1.750
continuous, 1.767 at 1000 steps.

Muon (this model).  ``optimizer="muon"``: Muon on the 23 hidden matrices the U-Net declares (its residual
blocks' 3x3 convolutions and 1x1 skips, the re-sampling convolutions; ``pmm_ppl/nets/unet.py``), AdamW on the
input and output convolutions, the conditioning embedding and the blocks' projections of it, the attention,
the norms and biases; the same rate, weight decay and schedule.  Measured on the slower kind of machine (AVX2;
one run each, EMA weights, T=256 / continuous, bits/dim).  The fixed-step rows lift the time limit:
``--seconds 100000 --bound-steps 256 --set '{"optimizer": "muon", "max_steps": N}'`` (4531: the steps AdamW
trained in 600 s on that machine; 9000: the model's budget, which a faster machine finishes in 600 s; two runs
shared the cores).  The 600 s row is the default command with ``--set '{"optimizer": "muon"}'``:

    seed 0, 4531 steps                                  1.7059 / 1.6915   (AdamW, the same steps: 1.7216 / 1.7078)
    seed 0, 600 s: 4250 steps at 487 images/s           1.7090 / 1.6942   (T=1024 1.7035; raw weights 1.7470 /
                                                                           1.7351; AdamW: 4531 steps at 524
                                                                           images/s)
    seed 0, 9000 steps                                  1.6912 / 1.6765   (AdamW on the faster machine:
                                                                           1.6945 / 1.6793)
    seed 1, 9000 steps                                  1.6886 / 1.6755   (AdamW there: 1.6930 / 1.6792)
    seed 0, 4250 steps, learning rate 4e-3 (a later     1.7236 / 1.7078   (the steps of the 600 s run above,
      session; ``"learning_rate": 0.004``)                                 which scored 1.7090 / 1.6942 at 2e-3)
    seed 1, 600 s (that later session, the default      1.7172 / 1.7032   (3565 steps at 405 images/s: the
      command ``--seeds 1 --bound-steps 256``)                             same kind of machine, slower in that
                                                                           session)
    seed 0, 600 s with the batch split over two CPU     1.6980 / 1.6833   (6076 steps at 655 images/s)
      devices (a third session; the default command
      ``--seeds S --bound-steps 256``, which now splits
      it, ``pmm_ppl/train/cpu_devices.py``; seed 0 ran
      before that, with ``XLA_FLAGS=--xla_force_host_
      platform_device_count=2``)
    seed 1, 600 s, two CPU devices                      1.6994 / 1.6848   (4867 steps at 531 images/s: the
                                                                           machine ran slower during this run)

Per step Muon gains 0.016 bits/dim at 4531 steps and 0.003 to 0.004 at 9000 (both seeds).  A Muon step costs about
7% more on that machine (4250 steps in 600 s against AdamW's 4531 in an earlier session), and the 600 s run still
gains 0.013 / 0.014 (T=256 / continuous): on the slower machine < 1.72 at T = 256 is now met on two seeds (1.7090,
and 1.7172 for seed 1 after only 3565 steps: margins 0.011 / 0.003, both inside one standard error of the bound,
0.015), < 1.68 in continuous time is still missed (1.6942 / 1.7032).  Twice the rate (4e-3) lost 0.015 / 0.014 at
4250 steps on seed 0, so the rate stays 2e-3.  At 9000 steps the continuous margins are 0.0035 / 0.0045, still
inside one standard error (0.014).  With the batch split over two CPU devices (0.65x the time per step,
``benchmarks/xla_cpu_flags.py``), 600 s on the slower machine gave 4867 to 6076 steps: T = 256 is under 1.72 on
both seeds by 0.02, continuous time misses 1.68 by 0.003 / 0.005 (seeds 0 / 1).  The AdamW 9000-step figures ran on
the faster kind of machine, so that comparison also carries the two machines' rounding (the three AdamW seeds there
agree within 0.0007). Training-step overhead with Muon (``benchmarks/train_step_overhead.py --models digits_unet``,
the slower machine): 1.020 with ``--repeats 10`` (minimum ratio 0.959), 1.133 with ``--repeats 5`` (minimum 1.010),
over the 1.10 target in that run; both steps use the same optimiser, and the two runs' step times differ by 10 to
20%.  With the batch split over two CPU devices as training splits it: the README's benchmarks section (all ready
models in one run). A run trained under AdamW loads for ``pmm sample`` and ``pmm eval`` as it is; ``--resume`` continues
it with ``--set '{"optimizer": "adamw"}'``.

A fourth session on the slower kind of machine (about 530 images/s with two devices, so about 4950 steps in
600 s), seed 0 at a fixed 4000 steps (``--seeds 0 --bound-steps 256 --seconds 100000 --set '{"max_steps": 4000}'``,
T=256 / continuous, bits/dim): the model 1.7134 / 1.6979; with the log score of its level head next to the ELBO
weighting (``"log_score": 1.0``) 1.7124 / 1.6980, no gain, so the objective stays.  Steps still pay in this range
(4000 steps 1.6979, 6076 steps 1.6833 on the same seed), so on this machine the figure moves with the step time.
Muon's share of it grew with the split: its step took 1.24x the AdamW step over two devices
(``benchmarks/setting_step_cost.py --model digits_unet --set '{"optimizer": "adamw"}' --repeats 5 --steps 10``:
112.9 against 91.2 ms), against about 7% more on one (the step counts above), because each device repeats the whole
optimiser update on its own core while the forward and backward passes are split.  The Newton-Schulz iterations are
that whole extra cost: in a scratch copy of the code with none (``ns_steps=0``: momentum and scaling only), the step
took AdamW's time (89.7 against 89.4 ms; 114.1 with five; one interleaved run).  They run on 23 small matrices one
by one, 12 distinct shapes.  Stacking the matrices of each shape into one batched iteration (a scratch prototype
around the same ``optax.contrib.muon``, equal weights after a step) took 0.890x the step (minima 0.951) here, but
1.089x (minima 1.026) for ``shakespeare_chars``, whose 24 matrices have 2 shapes (one interleaved run each); in a
later run here, grouped 0.931x (minima 0.950), and with each stack split over the two devices (a sharding constraint,
each device orthogonalising its half) 0.990x (minima 0.913): no clear gain, not kept.

A fifth session, on the faster kind of machine (AVX-512), the default command (``benchmarks/train_quality.py
--models digits_unet --seeds 0 1 --bound-steps 256``, one run, alone on the cores; T=256 / continuous, bits/dim):

    seed 0, 600 s: 8639 steps at 929 images/s           1.6921 / 1.6769
    seed 1, 600 s: 7812 steps at 847 images/s           1.6932 / 1.6789

Both targets are met at 600 s on both seeds there: < 1.72 at T = 256 by 0.028 / 0.027, < 1.68 in continuous time by
0.0031 / 0.0011, inside one standard error of the bound (0.014) as before.  On the slower kind the 600 s runs stop
at 4867 to 6076 steps and miss 1.68 (above); the figure moves with the steps a machine gives.

A ninth session, on the faster kind of machine (an instance about 10% slower than the fifth session's), the same
command, unchanged model (one run, alone on the cores; T=256 / continuous, bits/dim):

    seed 0, 600 s: 7853 steps at 843 images/s           1.6949 / 1.6790
    seed 1, 600 s: 7729 steps at 834 images/s           1.6930 / 1.6790

Both targets are met again on both seeds, < 1.68 by 0.0010 / 0.0010: inside one standard error, with 9% / 1%
fewer steps than in the fifth session.
"""

import dataclasses

from pmm_ppl.train.models import load_spec
from pmm_ppl.train.spec import ModelSpec


def spec(**overrides) -> ModelSpec:
    settings = {"arch": "unet", "batch_size": 64, "max_steps": 9000, "max_seconds": None, "decay_steps": 18000,
                "a_max": 3e3, "weight_decay": 0.05, "ema_warmup": 4.0, "dropout": 0.1, "augment": 0.3,
                "optimizer": "muon", "cpu_data_devices": 2,  # 0.65x the step time on 2 cores (see above)
                **overrides}
    base = load_spec("digits_normal", **settings)
    return dataclasses.replace(base, name="digits_unet", description=__doc__)

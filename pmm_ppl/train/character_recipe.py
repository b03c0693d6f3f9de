r"""The measured recipe for characters with the noiseless Dirichlet-Categorical pair (masked diffusion).

``models/shakespeare_chars.py`` chose each setting by measurement (its docstring holds every row and the
command that printed it); :mod:`pmm_ppl.train.own_data` writes the same settings into the model file that
``pmm train --pair NAME --text FILE`` makes for a text file.  This module is their one home.

Net (``NET``): :class:`~pmm_ppl.nets.dilated_conv.DilatedConvNet` of ``num_blocks`` residual blocks of
kernel :math:`k`, block :math:`\ell = 1, \dots, n` (:math:`n` = ``num_blocks``) with the dilation :math:`d_\ell`
taken in turn from the cycle ``dilations``; an output sees :math:`1 + (k - 1)\sum_{\ell=1}^{n} d_\ell` characters
(:math:`1 + 2 \cdot 6 \cdot (1 + 2) = 37` here; 41 with the 5-gram tables below).  On a 2-core budget the width is
better spent on the nearest characters than on reach.  Its input layer adds hashed embeddings of the centred 3- and
5-grams of revealed and masked characters (``ngram_buckets`` rows of width ``ngram_width`` per radius in
``ngram_radii``, projected to the net's width; :mod:`pmm_ppl.nets.hashed_ngram`): capacity for joint local contexts
at the cost of a lookup and of updating the tables: 1.05x the step timed alone, 1.16x per step in a 600 s training
run (measured: ``models/shakespeare_chars.py``, the sixth session's rows).  Not measured on text other than
Shakespeare; a small corpus gets the same tables.  :func:`net_for` makes the net blind to the time for a pair whose
posterior given the counts is free of the accuracy (the Dirichlet-Categorical: exact, not an approximation), which
scored 0.006 / 0.008 bits/char better at 2000 steps (seeds 0 / 2; each below one standard error of a single figure,
the same sign on both) and saves the time embedding and the blocks' modulation.

Count prior (``COUNTS``): outside training, the net's categorical at each masked position is pooled with the training
text's smoothed counts of each character given the revealed characters within ``count_radius`` positions on either
side (:class:`~pmm_ppl.nets.count_prior.CountPrior`: the geometric mixture :math:`q^{1-\lambda} p^{\lambda}`,
renormalised, with :math:`\lambda` = ``count_weight``).  The counts hold the local statistics of the whole text
from the start, which a network learns only slowly in a CPU budget; the network trains alone (why, and what the
counting costs in time and memory: ``models/shakespeare_chars.py``, the ninth session's block).  Counting is part
of training and is charged to the budget; :func:`counts_for` lowers the radius for a large vocabulary or a long
text.

Objective (``OBJECTIVE``): per window,

.. math::

    \ell = \sum_{i\ \text{masked}} \big(-\log \hat x_{i, x_i}\big),

the masked-token cross-entropy with weight 1 (``log_score=1``; a revealed position is carried over exactly
and costs nothing) and no regression term (``weighting="none"``), instead of the ELBO's weight
:math:`A'(t) = r / (1 - r t)` per masked token.  Both are proper scores with the minimiser
:math:`E[x \mid \mu_t]`, but under the ELBO weight (up to :math:`e^{12}`) a batch's gradient is dominated by
its example with the fewest masked tokens.  The reported figure is the ELBO all the same.  The squared error
:math:`\lVert \hat x - x \rVert^2` that was added to it before (``weighting="plain"``) cost bits/char at a fixed
number of steps on two seeds (``models/shakespeare_chars.py``, the eighth session's rows).

Optimiser (``OPTIMIZER``): Muon on the blocks' convolution and projection matrices, AdamW on the rest
(:func:`~pmm_ppl.train.step.make_optimizer`), with three Newton-Schulz steps after Schatten-4 scaling instead of
optax's five after Frobenius scaling (the same bound at a fixed number of steps, and a cheaper step:
``models/shakespeare_chars.py``, the eighth session's rows), at the peak ``LEARNING_RATE``
with about ``POSITIONS_PER_STEP`` characters per step (:func:`windows_per_step`: batch 8 of 256, or 16 of
128), each step clipped to global norm 1.  Under AdamW small, noisy steps beat larger batches in a fixed time
(batch 4 was best); a Muon step costs more than an AdamW step (the orthogonalisation of 24 small matrices), a cost
that batch 8 spreads over twice the characters (the measurements: ``models/shakespeare_chars.py``).  Warm-up, decay
horizon and budget belong to each model.

Devices: one on a CPU (``TrainConfig.cpu_data_devices``' default).  A batch of 8 windows split over the 2 devices
of a 2-core CPU (:mod:`pmm_ppl.train.cpu_devices`) took 1.15x the time per step of one device, where the image
U-Nets took 0.62x to 0.65x; batch 16 split over two took 0.97x the time per window of batch 8 on one
(``benchmarks/setting_step_cost.py --model shakespeare_chars --set '{"batch_size": 16, "cpu_data_devices": 2}'
--repeats 5 --steps 10``, one run: 253 against 130 ms per step).  This net's step gains nothing from the split
(measured before the n-gram tables, whose update each device would repeat).

Sampler (``SAMPLER``): ancestral, each step reveals a position's token with probability
:math:`1 - e^{-\alpha}`, drawn from the net's categorical.
"""

from __future__ import annotations

#: :class:`~pmm_ppl.nets.dilated_conv.DilatedConvNet` settings
NET = {"width": 112, "num_blocks": 12, "kernel_size": 3, "dilations": (1, 2), "ngram_buckets": 65536,
       "ngram_radii": (1, 2), "ngram_width": 32}
#: :class:`~pmm_ppl.nets.count_prior.CountPrior` settings (``count_radius`` 0: no count prior)
COUNTS = {"count_radius": 4, "count_discount": 0.75, "count_weight": 0.4}
#: the most contexts (:math:`4^R` per training token) :func:`counts_for` lets a text's count tables hold: Shakespeare's
#: 4.8 M training characters at radius 4
MAX_CONTEXTS_COUNTED = 256 * 4_804_352
#: the :class:`~pmm_ppl.train.spec.ModelSpec` objective fields
OBJECTIVE = {"weighting": "none", "log_score": 1.0}
#: the :class:`~pmm_ppl.train.spec.TrainConfig` optimiser fields
OPTIMIZER = {"optimizer": "muon", "muon_ns_steps": 3, "muon_preconditioning": "schatten"}
LEARNING_RATE = 2e-3
POSITIONS_PER_STEP = 2048
SAMPLER = "ancestral"


def net_for(pair) -> dict:
    """``NET`` for ``pair``, fed the counts (:class:`~pmm_ppl.nets.concentration_input.LogConcentrationInput`): blind
    to the time (``conditioning="none"``) where the pair's posterior given the counts is free of the accuracy
    (``posterior_free_of_accuracy``: the Dirichlet-Categorical channel at any noise), so the time would tell the net
    nothing; conditioned on it otherwise.  (A net fed only the revealed one-hot, not the counts, is exact blind to
    the time for one-hot tokens at noise 0, not for soft labels.)"""
    return {**NET, "conditioning": "none" if pair.posterior_free_of_accuracy else "time"}


def counts_for(num_classes: int, num_tokens: int) -> dict:
    """``COUNTS`` with the radius lowered until the count tables' keys fit
    (:func:`~pmm_ppl.nets.count_prior.max_count_radius`) and :math:`4^R` times ``num_tokens`` (the contexts counted)
    is at most ``MAX_CONTEXTS_COUNTED``."""
    from pmm_ppl.nets.count_prior import max_count_radius

    radius = min(COUNTS["count_radius"], max_count_radius(num_classes))
    while radius and 4 ** radius * int(num_tokens) > MAX_CONTEXTS_COUNTED:
        radius -= 1
    return {**COUNTS, "count_radius": radius}


def windows_per_step(length: int) -> int:
    """The batch for windows of ``length`` characters: the largest power of two with at most
    ``POSITIONS_PER_STEP`` characters, and at least 1 (a power of two divides evenly over 2^k devices)."""
    n = max(1, POSITIONS_PER_STEP // int(length))
    return 1 << (n.bit_length() - 1)


__all__ = ["COUNTS", "LEARNING_RATE", "MAX_CONTEXTS_COUNTED", "NET", "OBJECTIVE", "OPTIMIZER", "POSITIONS_PER_STEP",
           "SAMPLER", "counts_for", "net_for", "windows_per_step"]

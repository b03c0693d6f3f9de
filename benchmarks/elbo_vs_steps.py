"""ELBO (bits per dimension, with Monte Carlo standard error) versus the number of steps, with the exact
oracle on small finite targets, next to the exact -log p*(x).

Targets (p* = weighted point masses, so -log p*(x_j) = -log w_j; the table reports the average over
x ~ p*, i.e. sum_j w_j L(x_j) against the entropy H(p*) = -sum_j w_j log w_j, in bits per dimension):

* normal:  Normal-Normal, 3 points on the 17-level grid in [-1, 1]^2 (D = 2), geometric schedule
           A_max = 1e4, discretised-Gaussian reconstruction;
* counts:  Gamma-Poisson, 3 points in N^2 (D = 2), geometric schedule A_max = 1e3, discretised Gamma;
* tokens:  Dirichlet-categorical (noiseless), 4 sequences of L = 3 tokens over K = 4 (D = 3 characters),
           geometric schedule A_max = 20, exact categorical reconstruction.

Discrete bounds of the plug-in sampler use the marginal estimator (an independent flow draw per term);
one row also gives the chain estimator's standard error at T = 64 (same expectation, correlated terms).
The rows "anc" are the bound of the ancestral sampler (receiver = the channel averaged over the
oracle's per-coordinate posterior), chain estimator.  The continuous bound is the plug-in's
T -> infinity limit (stratified, pilot importance-sampled times).  Every row bounds -log p_T of its own
model; the averages are >= H(p*) up to Monte Carlo error.

    .venv/bin/python benchmarks/elbo_vs_steps.py [--steps 4 16 64 256] [--num-mc 64] [--num-mc-continuous 2048]
"""

from __future__ import annotations

import argparse
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from pmm_ppl import get_pair
from pmm_ppl.conjugate.dirichlet_categorical import encode_tokens
from pmm_ppl.process.elbo import DiscretisedGaussian, continuous_elbo, discrete_elbo, to_bits_per_dim
from pmm_ppl.process.oracles import empirical_oracle
from pmm_ppl.process.schedules import GeometricSchedule


def targets():
    levels = np.linspace(-1.0, 1.0, 17)
    w3 = np.array([0.2, 0.3, 0.5])
    nn = get_pair("normal_normal")
    yield dict(
        name="normal",
        pair=nn,
        data=np.array([[levels[4], levels[10]], [levels[12], levels[12]], [levels[8], levels[2]]]),
        weights=w3,
        schedule=GeometricSchedule(a_max=1e4, scale=1.0),
        recon=DiscretisedGaussian(num_levels=17),
        dims=2,
    )
    yield dict(
        name="counts",
        pair=get_pair("gamma_poisson"),
        data=np.array([[0.0, 3.0], [5.0, 1.0], [2.0, 8.0]]),
        weights=w3,
        schedule=GeometricSchedule(a_max=1e3, scale=1.0),
        recon=None,
        dims=2,
    )
    tok = get_pair("dirichlet_categorical", num_classes=4)
    yield dict(
        name="tokens",
        pair=tok,
        data=np.asarray(encode_tokens(np.array([[0, 1, 2], [0, 1, 3], [2, 2, 2], [1, 0, 3]]), 4)),
        weights=np.array([0.4, 0.3, 0.2, 0.1]),
        schedule=GeometricSchedule(a_max=20.0, scale=tok.prior_weight),
        recon=None,
        dims=3,
    )


def weighted(est, w):
    """sum_j w_j L(x_j) and its standard error."""
    return float(np.sum(w * np.asarray(est.nats))), float(np.sqrt(np.sum((w * np.asarray(est.stderr)) ** 2)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[4, 16, 64, 256])
    ap.add_argument("--num-mc", type=int, default=64)
    ap.add_argument("--num-mc-continuous", type=int, default=2048)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    key = jax.random.PRNGKey(args.seed)
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}; marginal estimator, {args.num_mc} replicates per point")
    for tg in targets():
        pair, w, D = tg["pair"], tg["weights"], tg["dims"]
        f = empirical_oracle(pair, tg["schedule"], tg["data"], w)
        x = jnp.asarray(tg["data"], jnp.float32)
        exact = float(-np.sum(w * np.log(w)))
        bpd = lambda v: to_bits_per_dim(v, D)  # noqa: E731
        print(f"\n[{tg['name']}] {pair.name}, D = {D}, exact H(p*) = {exact:.4f} nats = {bpd(exact):.4f} bits/dim")
        print(f"{'T':>10} {'bits/dim':>10} {'SE':>8} {'excess':>8} {'recon':>8} {'sec':>6}")
        for T in args.steps:
            key, k = jax.random.split(key)
            t0 = time.perf_counter()
            est = discrete_elbo(pair, f, k, x, tg["schedule"], T, recon=tg["recon"], num_mc=args.num_mc)
            m, se = weighted(est, w)
            dt = time.perf_counter() - t0
            print(f"{T:>10d} {bpd(m):>10.4f} {bpd(se):>8.4f} {bpd(m - exact):>8.4f} {bpd(float(np.sum(w * est.recon))):>8.4f} {dt:>6.1f}")
        for T in args.steps:
            key, k = jax.random.split(key)
            t0 = time.perf_counter()
            est = discrete_elbo(pair, f, k, x, tg["schedule"], T, recon=tg["recon"], num_mc=args.num_mc, mode="chain",
                                receiver="ancestral")
            m, se = weighted(est, w)
            dt = time.perf_counter() - t0
            print(f"{f'{T} anc':>10} {bpd(m):>10.4f} {bpd(se):>8.4f} {bpd(m - exact):>8.4f} {bpd(float(np.sum(w * est.recon))):>8.4f} {dt:>6.1f}")
        key, k = jax.random.split(key)
        chain = discrete_elbo(pair, f, k, x, tg["schedule"], 64, recon=tg["recon"], num_mc=args.num_mc, mode="chain")
        m, se = weighted(chain, w)
        print(f"{'64 chain':>10} {bpd(m):>10.4f} {bpd(se):>8.4f} {bpd(m - exact):>8.4f}")
        key, k = jax.random.split(key)
        t0 = time.perf_counter()
        cont = continuous_elbo(pair, f, k, x, tg["schedule"], recon=tg["recon"], num_mc=args.num_mc_continuous)
        m, se = weighted(cont, w)
        dt = time.perf_counter() - t0
        print(f"{'continuous':>10} {bpd(m):>10.4f} {bpd(se):>8.4f} {bpd(m - exact):>8.4f} {bpd(float(np.sum(w * cont.recon))):>8.4f} {dt:>6.1f}")
        print(f"{'exact':>10} {bpd(exact):>10.4f}")


if __name__ == "__main__":
    main()

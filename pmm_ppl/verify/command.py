"""``pmm verify PAIR [PAIR ...] | --all``: NUTS-versus-closed-form check and SBC for registered pairs.

Prints one row per pair -- NUTS and closed-form posterior mean of the first coordinate, the largest
absolute difference of the means over coordinates, max |z| of the means and of the sds, the
Bonferroni KS p-value, max R-hat, min bulk ESS, the SBC p-value, the seconds taken (compilation
included) and PASS/FAIL -- and exits 1 if any pair fails (2 for an unknown pair name).
Thresholds: :class:`pmm_ppl.verify.nuts_check.Thresholds` and :func:`pmm_ppl.verify.sbc.sbc`.
"""

from __future__ import annotations

import sys
import time

from pmm_ppl.cli import int_at_least

HEADER = (
    f"{'pair':24s} {'mean NUTS':>10s} {'exact':>10s} {'max|dmean|':>10s} {'max|z|':>7s} {'max|zsd|':>8s} "
    f"{'KS p':>8s} {'R-hat':>6s} {'ESS':>6s} {'SBC p':>8s} {'sec':>6s}  result"
)


def format_row(name, check, sbc_result, seconds) -> str:
    ok = check.passed and (sbc_result is None or sbc_result.passed)
    sbc_p = f"{sbc_result.pvalue_adjusted:8.3g}" if sbc_result is not None else f"{'-':>8s}"
    return (
        f"{name:24s} {check.nuts_mean[0]:10.4g} {check.exact_mean[0]:10.4g} {check.max_abs_mean_diff:10.3g} "
        f"{check.max_abs_z_mean:7.2f} {check.max_abs_z_sd:8.2f} {check.ks_pvalue_adjusted:8.3g} "
        f"{float(check.rhat.max()):6.3f} {float(check.ess_bulk.min()):6.0f} {sbc_p} {seconds:6.1f}  "
        f"{'PASS' if ok else 'FAIL'}"
    )


def run(args) -> int:
    import jax

    from pmm_ppl.conjugate import get_pair, list_pairs
    from pmm_ppl.verify.nuts_check import nuts_check
    from pmm_ppl.verify.sbc import sbc

    registered = list_pairs()
    if args.all and args.pairs:
        print("pmm verify: give pair names or --all, not both", file=sys.stderr)
        return 2
    names = registered if args.all else list(dict.fromkeys(args.pairs))
    if not names:
        print(f"pmm verify: name at least one pair or use --all; registered: {', '.join(registered)}", file=sys.stderr)
        return 2
    unknown = [n for n in names if n not in registered]
    if unknown:
        print(
            f"pmm verify: unknown pair(s) {', '.join(map(repr, unknown))}; registered: {', '.join(registered)}",
            file=sys.stderr,
        )
        return 2

    print(HEADER)
    failed = []
    total = time.perf_counter()
    for i, name in enumerate(names):
        pair = get_pair(name)
        key_nuts, key_sbc = jax.random.split(jax.random.fold_in(jax.random.key(args.seed), i), 2)
        start = time.perf_counter()
        try:
            check = nuts_check(pair, key_nuts, num_warmup=args.warmup, num_samples=args.samples, num_obs=args.num_obs)
            sbc_result = None
            if args.sbc_replicates:
                sbc_result = sbc(pair, key_sbc, num_replicates=args.sbc_replicates, num_obs=args.num_obs)
        except Exception as err:  # a broken pair must not hide the others' results
            print(f"{name:24s} ERROR {type(err).__name__}: {err}".splitlines()[0][:160], flush=True)
            failed.append((name, [f"{type(err).__name__}: {err}".splitlines()[0]]))
            continue
        seconds = time.perf_counter() - start
        print(format_row(name, check, sbc_result, seconds), flush=True)
        if not check.passed or (sbc_result is not None and not sbc_result.passed):
            reasons = list(check.failures) + ([] if sbc_result is None or sbc_result.passed else [f"SBC p {sbc_result.pvalue_adjusted:.2e}"])
            failed.append((name, reasons))
    print(f"{len(names) - len(failed)}/{len(names)} passed in {time.perf_counter() - total:.1f} s")
    for name, reasons in failed:
        print(f"  {name}: " + "; ".join(reasons))
    return 1 if failed else 0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "verify",
        help="check pairs' closed-form posteriors against NUTS and by simulation-based calibration",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    p.add_argument("pairs", nargs="*", metavar="PAIR", help="registered pair names (see `pmm pairs`)")
    p.add_argument("--all", action="store_true", help="verify every registered pair")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="random seed (default 0)")
    p.add_argument("--samples", type=int_at_least(1), default=1000, help="NUTS samples per chain (default 1000)")
    p.add_argument("--warmup", type=int_at_least(1), default=500, help="NUTS warmup steps per chain (default 500)")
    p.add_argument("--num-obs", type=int_at_least(1), default=10, help="observations per experiment (default 10)")
    p.add_argument(
        "--sbc-replicates", type=int_at_least(0), default=4000, help="SBC replicates, 0 to skip SBC (default 4000)"
    )
    p.set_defaults(func=run)

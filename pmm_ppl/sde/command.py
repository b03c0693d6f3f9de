"""``pmm sde-checks``: run the continuous-time-limit checks and print every measured figure as one table."""

from __future__ import annotations

import time

from pmm_ppl.cli import int_at_least


def run(args) -> int:
    from pmm_ppl.sde.checks import format_table, run_all

    start = time.perf_counter()
    rows = run_all(quick=args.quick, seed=args.seed)
    print(format_table(rows))
    print(f"\n{len(rows)} figures in {time.perf_counter() - start:.0f} s")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("sde-checks", help="measured checks of the SDE / Cox-process limits (one table)")
    p.add_argument("--quick", action="store_true", help="fewer paths (smoke run)")
    p.add_argument("--seed", type=int_at_least(0), default=0)
    p.set_defaults(func=run)

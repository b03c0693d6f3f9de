"""``pmm pairs``: list the registered conjugate pairs with their data support."""

from __future__ import annotations


def run(args) -> int:
    from pmm_ppl.conjugate import get_pair, list_pairs

    for name in list_pairs():
        pair = get_pair(name)
        doc = (type(pair).__doc__ or "").strip().splitlines()[0]
        print(f"{name:24s} {pair.support_text:34s} {doc}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("pairs", help="list the registered conjugate pairs")
    p.set_defaults(func=run)

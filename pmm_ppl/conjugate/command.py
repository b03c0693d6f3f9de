"""``pmm pairs``: list the registered conjugate pairs with their data support and plug-in exactness class
(``plug_in_exact``: "limit", "unit_steps" or "no"; docs/design.md section 5)."""

from __future__ import annotations


def run(args) -> int:
    from pmm_ppl.conjugate import get_pair, list_pairs

    print(f"{'pair':24s} {'data':40s} {'plug-in':10s} summary")
    for name in list_pairs():
        pair = get_pair(name)
        doc = (type(pair).__doc__ or "").strip().splitlines()[0]
        print(f"{name:24s} {pair.support_text:40s} {pair.plug_in_exact:10s} {doc}")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("pairs", help="list the registered conjugate pairs")
    p.set_defaults(func=run)

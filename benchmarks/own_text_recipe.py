"""A user's own text through the one-command path: the character recipe against the settings it replaced.

Builds a corpus that is not Shakespeare and needs no download: the top-level ``.py`` files of this Python's
standard library, in sorted order, joined and cut at the last newline before ``--chars`` characters.  Then, for
each recipe, it runs the two commands a user runs,

    pmm train --pair dirichlet_categorical --text CORPUS --run-dir RUN [--set OLD] [--seconds S]
    pmm eval RUN --continuous --max-examples 512 --samples 0 --json REPORT

and prints the steps trained and the continuous-time test bound in bits/char (+- one standard error over the
test windows; both recipes are scored on the same held-out windows with the same evaluation key, so their
difference is paired).  ``new`` is :mod:`pmm_ppl.train.character_recipe`, what ``pmm train --text`` writes
into the user's model file; ``old`` is what it wrote before (6 blocks of kernel 5 with dilations 1, 2, 4 at
width 128, the ELBO weighting without the log score, batch 16, AdamW 3e-3); ``adamw`` (``--recipes adamw new``)
is the recipe before Muon (AdamW, 1.4e-3, 1024 characters per step); ``muon`` the Muon recipe before the hashed
n-gram tables (``"ngram_buckets": 0``); ``tables`` the recipe with the tables whose net still saw the time
(``"conditioning": "time"``; now blind to it, exact for this pair); ``blind`` the recipe blind to the time
with Muon's five Newton-Schulz steps after Frobenius scaling (now three after Schatten-4 scaling) and the squared
error beside the cross-entropy (now the cross-entropy alone); ``uncounted`` the recipe before the count prior
(``"count_radius": 0``; pmm_ppl/nets/count_prior.py), which every recipe above shares.  All keep the step budget and
decay horizon the plan gives the new batch; that is the old template's too when both reach the 20,000-step cap,
as on the default corpus, but not on a small one.

    .venv/bin/python benchmarks/own_text_recipe.py                        # 4 MB corpus, 600 s per recipe
    .venv/bin/python benchmarks/own_text_recipe.py --seconds 60 --chars 400000 --keep runs/own_text

Measured with the defaults when ``new`` was the AdamW recipe (now ``adamw``), before Muon (Python 3.11.7's
standard library: 3,999,991 characters, 163 distinct; windows of 128, the default 10% held out), one run on a
2-core machine whose Shakespeare training step took 53 ms:

    recipe     steps  bits/char     +- windows
    old         6800     3.1349  0.060 512
    new        10545     3.1191  0.062 512
    new - old: -0.0158 bits/char (same test windows)

The same commands run by hand in an earlier session, on the same kind of machine: old 6292 steps, 3.1443; new
10450 steps, 3.1201 (-0.024).  Each gap is below one standard error of a single figure.

The Muon recipe (``new`` then, ``muon`` now: before the n-gram tables) against the AdamW one, 300 s each
(``--recipes adamw new --seconds 300`` then), one run
on a machine of the same slower kind:

    recipe     steps  bits/char     +- windows
    adamw       3950     3.2770  0.060 512
    new         1795     3.2335  0.060 512   (the Muon recipe, now ``muon``)
    new - adamw: -0.0436 bits/char (same test windows)

Not measured at the default 600 s (a 25-minute run).

The count prior (``new``, radius 3 for this corpus's 163 characters: ``character_recipe.counts_for``) against the
recipe before it (``--recipes uncounted new --seconds 300``), one run on a machine of the faster kind (Intel,
AVX-512), the counting charged to ``new``'s 300 s:

    recipe     steps  bits/char     +- windows
    uncounted   2800     3.1032  0.063 512
    new         2733     3.0151  0.068 512
    new - uncounted: -0.0881 bits/char (same test windows)
"""

from __future__ import annotations

import argparse
import json
import sysconfig
import tempfile
from pathlib import Path

#: the recipe before the count prior (pmm_ppl/nets/count_prior.py); every recipe below shares it
BEFORE_COUNTS = {"count_radius": 0}
#: the own-text settings before pmm_ppl/train/character_recipe.py (the template's defaults then)
OLD_RECIPE = {"width": 128, "num_blocks": 6, "kernel_size": 5, "dilations": [1, 2, 4], "weighting": "elbo",
              "log_score": 0, "batch_size": 16, "learning_rate": 3e-3, "optimizer": "adamw", "ngram_buckets": 0,
              "conditioning": "time", **BEFORE_COUNTS}
#: the recipe before Muon: AdamW at 1024 characters per step (batch 8 of 128), peak rate 1.4e-3, no n-gram tables
ADAMW_RECIPE = {"optimizer": "adamw", "batch_size": 8, "learning_rate": 1.4e-3, "ngram_buckets": 0,
                "conditioning": "time", "weighting": "plain", **BEFORE_COUNTS}
#: what the recipes below up to ``blind`` shared: Muon as optax sets it (five Newton-Schulz steps after Frobenius
#: scaling) and the squared error beside the cross-entropy
BEFORE_CROSS_ENTROPY_ALONE = {"muon_ns_steps": 5, "muon_preconditioning": "frobenius", "weighting": "plain",
                              **BEFORE_COUNTS}
#: the recipe before the hashed n-gram tables (pmm_ppl/nets/hashed_ngram.py): Muon at batch 16 of 128
MUON_RECIPE = {"ngram_buckets": 0, "conditioning": "time", **BEFORE_CROSS_ENTROPY_ALONE}
#: the recipe before the net was made blind to the time (pmm_ppl/nets/dilated_conv.py, ``conditioning="none"``)
TABLES_RECIPE = {"conditioning": "time", **BEFORE_CROSS_ENTROPY_ALONE}
#: the recipe before Muon's three Newton-Schulz steps after Schatten-4 scaling and the cross-entropy alone
#: (pmm_ppl/train/character_recipe.py)
BLIND_RECIPE = BEFORE_CROSS_ENTROPY_ALONE
RECIPES = {"new": {}, "uncounted": BEFORE_COUNTS, "blind": BLIND_RECIPE, "tables": TABLES_RECIPE,
           "muon": MUON_RECIPE, "adamw": ADAMW_RECIPE, "old": OLD_RECIPE}


def stdlib_corpus(num_chars: int) -> str:
    """The top-level ``.py`` files of the standard library in sorted order, joined, cut at the last newline
    before ``num_chars`` characters."""
    folder = Path(sysconfig.get_paths()["stdlib"])
    text = "".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(folder.glob("*.py")))
    if len(text) < num_chars:
        raise SystemExit(f"the standard library's top-level .py files hold {len(text)} characters, fewer than "
                         f"--chars {num_chars}")
    cut = text.rfind("\n", 0, num_chars)
    return text[: cut + 1]


def main() -> None:
    from pmm_ppl.cli import main as pmm
    from pmm_ppl.train import checkpoint as ckpt

    ap = argparse.ArgumentParser()
    ap.add_argument("--chars", type=int, default=4_000_000, help="corpus length in characters (default 4,000,000)")
    ap.add_argument("--seconds", type=float, default=None, help="training budget per recipe (default: the model "
                    "file's, 600 s)")
    ap.add_argument("--max-examples", type=int, default=512, help="test windows scored (default 512)")
    ap.add_argument("--recipes", nargs="+", choices=sorted(RECIPES), default=["old", "new"])
    ap.add_argument("--pair", default="dirichlet_categorical")
    ap.add_argument("--keep", default=None, help="keep the corpus and the runs under this folder")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        corpus, text = work / "stdlib.txt", stdlib_corpus(args.chars)
        corpus.write_text(text, encoding="utf-8")
        print(f"corpus: {len(text)} characters, {len(set(text))} distinct ({corpus})")
        rows = []
        for name in args.recipes:
            run, report = work / f"run_{name}", work / f"eval_{name}.json"
            command = ["train", "--pair", args.pair, "--text", str(corpus), "--run-dir", str(run), "--overwrite",
                       "--quiet"]
            if RECIPES[name]:
                command += ["--set", json.dumps(RECIPES[name])]
            if args.seconds is not None:
                command += ["--seconds", str(args.seconds)]
            if pmm(command) != 0:
                raise SystemExit(f"pmm {' '.join(command)} failed")
            if pmm(["eval", str(run), "--continuous", "--max-examples", str(args.max_examples), "--samples", "0",
                    "--json", str(report), "--overwrite", "--quiet"]) != 0:
                raise SystemExit(f"pmm eval {run} failed")
            bound = json.loads(report.read_text())["bound"]
            # a text model's unit is the character: per_unit and bits_se are both bits/char
            rows.append((name, ckpt.latest_step(run), bound["per_unit"], bound["bits_se"], bound["num_examples"]))
        print(f"\n{'recipe':8s} {'steps':>7s} {'bits/char':>10s} {'+-':>6s} windows")
        for name, steps, value, se, windows in rows:
            print(f"{name:8s} {steps:7d} {value:10.4f} {se:6.3f} {windows}")
        if len(rows) == 2:
            print(f"\n{rows[1][0]} - {rows[0][0]}: {rows[1][2] - rows[0][2]:+.4f} bits/char (same test windows)")


if __name__ == "__main__":
    main()

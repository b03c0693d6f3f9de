"""``pmm train``, ``pmm sample``, ``pmm eval`` and ``pmm demo``: parse, then call the library."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def _load(run_dir: Path):
    from pmm_ppl.train.models import load_spec

    info_path = run_dir / "model.json"
    if not info_path.exists():
        raise SystemExit(f"pmm: {run_dir} is not a training run (no model.json); train one with `pmm train MODEL`")
    info = json.loads(info_path.read_text())
    return load_spec(info["model"], **info.get("overrides", {}))


def _overrides(args) -> dict:
    return {k: v for k, v in json.loads(args.set or "{}").items()}


def cmd_train(args) -> int:
    from pmm_ppl.train.loop import train
    from pmm_ppl.train.models import load_spec

    if args.distributed:
        import jax

        jax.distributed.initialize()
    overrides = _overrides(args)
    spec = load_spec(args.model, **overrides)
    run_dir = Path(args.run_dir or f"runs/{spec.name}")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "model.json").write_text(json.dumps({"model": args.model, "overrides": overrides}))
    train(spec, run_dir, resume=args.resume, max_steps=args.steps, max_seconds=args.seconds, progress=not args.quiet)
    print(f"trained {spec.name}: checkpoints in {run_dir}/checkpoints")
    return 0


def cmd_sample(args) -> int:
    import jax

    from pmm_ppl.train.evaluate import draw_samples
    from pmm_ppl.train.loop import load_trained
    from pmm_ppl.train.output import write_samples

    run_dir = Path(args.checkpoint)
    spec = _load(run_dir)
    net = load_trained(spec, run_dir)
    samples = draw_samples(spec, net, jax.random.key(args.seed), args.num, args.steps)
    out = write_samples(spec, samples, Path(args.out) if args.out else run_dir / "samples")
    print(f"wrote {out}")
    return 0


def cmd_eval(args) -> int:
    import jax

    from pmm_ppl.train.evaluate import test_bound
    from pmm_ppl.train.loop import load_trained

    run_dir = Path(args.checkpoint)
    spec = _load(run_dir)
    net = load_trained(spec, run_dir)
    _, test = spec.load_data()
    report = test_bound(spec, net, test, jax.random.key(args.seed), num_steps=args.steps, num_mc=args.num_mc,
                        max_examples=args.max_examples, progress=not args.quiet, continuous=args.continuous)
    print(report.line())
    return 0


def cmd_demo(args) -> int:
    from pmm_ppl.train.demo import run_demo

    run_demo(Path(args.out), train_seconds=args.seconds, progress=not args.quiet)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="train a model from models/ (or a model .py file)")
    p.add_argument("model", help="model name in models/ (e.g. digits_normal) or a path to a .py file")
    p.add_argument("--run-dir", help="where checkpoints and metrics go (default runs/MODEL)")
    p.add_argument("--resume", action="store_true", help="continue exactly from the latest checkpoint")
    p.add_argument("--steps", type=int, help="stop after this many steps (default: the model's budget)")
    p.add_argument("--seconds", type=float, help="stop after this much training time")
    p.add_argument("--set", help='JSON overrides passed to the model\'s spec(), e.g. \'{"batch_size": 64}\'')
    p.add_argument("--distributed", action="store_true", help="call jax.distributed.initialize() (multi-host)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="draw samples from a trained run")
    p.add_argument("checkpoint", help="run directory written by `pmm train`")
    p.add_argument("--steps", type=int, help="sampling steps (default: the model's)")
    p.add_argument("--num", type=int, default=64, help="number of samples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="output file stem (default RUN/samples): .png for images, .txt for text, .npy always")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("eval", help="test-set likelihood bound of a trained run")
    p.add_argument("checkpoint", help="run directory written by `pmm train`")
    p.add_argument("--steps", type=int, help="discrete steps of the bound (default: the model's)")
    p.add_argument("--num-mc", type=int, help="Monte Carlo replicates per example")
    p.add_argument("--continuous", action="store_true",
                   help="the continuous-time bound instead of the T-step one (much cheaper for long sequences)")
    p.add_argument("--max-examples", type=int, help="evaluate on the first N test examples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("demo", help="train the digits model on the CPU (about a minute); write samples.png and a report")
    p.add_argument("--out", default="demo_out", help="output directory (default demo_out)")
    p.add_argument("--seconds", type=float, help="train for this many seconds instead of the model's step budget")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)

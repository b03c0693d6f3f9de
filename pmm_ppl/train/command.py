"""``pmm train``, ``pmm sample``, ``pmm eval``, ``pmm plot`` and ``pmm demo``: parse, then call the library."""

from __future__ import annotations

import json
from pathlib import Path

from pmm_ppl.cli import int_at_least, positive_float


def _load(run_dir: Path):
    from pmm_ppl.train.checkpoint import CheckpointError
    from pmm_ppl.train.models import load_spec

    info_path = run_dir / "model.json"
    if not info_path.is_file():
        raise CheckpointError(f"{run_dir} is not a training run (no model.json); train one with `pmm train MODEL`")
    try:
        info = json.loads(info_path.read_text())
        model, overrides = str(info["model"]), info.get("overrides", {})
        if not isinstance(overrides, dict):
            raise TypeError(f"overrides is a {type(overrides).__name__}, not an object")
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{info_path}: corrupt ({type(err).__name__}: {err})") from None
    return load_spec(model, **overrides)


def cmd_train(args) -> int:
    from pmm_ppl.train.checkpoint import latest_step
    from pmm_ppl.train.loop import train
    from pmm_ppl.train.models import load_spec, parse_overrides

    if own_data_args(args):
        return cmd_train_own_data(args)
    if args.model is None:
        from pmm_ppl.conjugate.validation import PMMInputError

        raise PMMInputError("name a MODEL (see models/, or a .py file), or train on your own data with "
                            "--pair NAME --data FILE (arrays) / --text FILE (characters)")
    overrides = parse_overrides(args.set)
    spec = load_spec(args.model, **overrides)
    if args.distributed:
        import jax

        jax.distributed.initialize()
    run_dir = Path(args.run_dir or f"runs/{spec.name}")
    # a model file is recorded by its absolute path, so `pmm sample/eval RUN` work from any folder
    model = str(Path(args.model).resolve()) if Path(args.model).suffix == ".py" else args.model
    state, _ = train(spec, run_dir, resume=args.resume, max_steps=args.steps, max_seconds=args.seconds,
                     progress=not args.quiet, run_info={"model": model, "overrides": overrides},
                     overwrite=args.overwrite)
    print(f"trained {spec.name} to step {int(state.step)}: checkpoints in {run_dir}/checkpoints "
          f"(newest: step {latest_step(run_dir)})")
    return 0


OWN_DATA_OPTIONS = ("pair", "data", "text", "test", "test_fraction", "save_model")


def own_data_args(args) -> bool:
    """Whether ``pmm train`` was given any own-data option (``--pair``, ``--data``, ``--text``, ...)."""
    return any(getattr(args, name, None) is not None for name in OWN_DATA_OPTIONS)


def cmd_train_own_data(args) -> int:
    """``pmm train --pair NAME --data FILE`` / ``--text FILE``: the defaults of :mod:`pmm_ppl.train.own_data`,
    written out as a model file (the run's ``model.py``, or ``--save-model PATH`` without training)."""
    from pmm_ppl.conjugate.validation import PMMInputError
    from pmm_ppl.train.checkpoint import atomic_write_text, latest_step
    from pmm_ppl.train.loop import train
    from pmm_ppl.train.models import parse_overrides
    from pmm_ppl.train.output import refuse_existing
    from pmm_ppl.train.own_data import model_source, plan_own_data, spec_from_source

    if args.model is not None:
        raise PMMInputError(f"give a MODEL ({args.model!r}) or --pair/--data/--text, not both")
    plan = plan_own_data(args.pair, data=args.data, text=args.text, test=args.test, test_fraction=args.test_fraction)
    source = model_source(plan)
    overrides = parse_overrides(args.set)
    spec = spec_from_source(source, **overrides)  # checks the source and the --set keys before writing
    print(plan.summary())
    if args.save_model is not None:
        path = Path(args.save_model)
        if path.suffix != ".py":
            raise PMMInputError(f"--save-model: the model file must end in .py, got {str(path)!r}")
        refuse_existing([path], args.overwrite, "model file")
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, source)
        print(f"wrote {path}: train it with `pmm train {path}`")
        return 0
    if args.distributed:
        import jax

        jax.distributed.initialize()
    run_dir = Path(args.run_dir or f"runs/{plan.name}")
    run_info = {"model": str((run_dir / "model.py").resolve()), "overrides": overrides, "data": plan.record()}
    state, _ = train(spec, run_dir, resume=args.resume, max_steps=args.steps, max_seconds=args.seconds,
                     progress=not args.quiet, run_info=run_info, overwrite=args.overwrite,
                     run_files={"model.py": source})
    print(f"trained {spec.name} to step {int(state.step)}: checkpoints in {run_dir}/checkpoints "
          f"(newest: step {latest_step(run_dir)}); the model file is {run_dir}/model.py")
    return 0


def cmd_sample(args) -> int:
    import jax

    from pmm_ppl.train.evaluate import draw_samples
    from pmm_ppl.train.loop import load_trained
    from pmm_ppl.train.output import refuse_existing, sample_paths, write_samples

    run_dir = Path(args.checkpoint)
    spec = _load(run_dir)
    net = load_trained(spec, run_dir)
    stem = Path(args.out) if args.out else run_dir / "samples"
    refuse_existing(sample_paths(spec, stem), args.overwrite, "sample output")  # before the sampling work
    if args.trajectory:
        from pmm_ppl.train.plots import trajectory_paths

        refuse_existing(trajectory_paths(spec, stem), args.overwrite, "trajectory output")
    samples = draw_samples(spec, net, jax.random.key(args.seed), args.num, args.steps,
                           sampler=args.sampler or spec.default_sampler,
                           output=args.output)
    out = write_samples(spec, samples, stem, overwrite=args.overwrite)
    print(f"wrote {out}")
    if args.trajectory:
        from pmm_ppl.train.plots import write_trajectory

        paths = write_trajectory(spec, net, jax.random.key(args.seed), stem, num=min(args.num, 4),
                                 num_steps=args.steps, overwrite=args.overwrite, sampler=args.sampler or spec.default_sampler)
        print(f"wrote {' and '.join(map(str, paths))}")
    return 0


def cmd_eval(args) -> int:
    import jax

    from pmm_ppl.train.evaluate import sample_quality, test_bound
    from pmm_ppl.train.loop import load_trained
    from pmm_ppl.train.output import refuse_existing

    run_dir = Path(args.checkpoint)
    spec = _load(run_dir)
    if args.json:
        refuse_existing([Path(args.json)], args.overwrite, "eval report")  # before the work
    net = load_trained(spec, run_dir)
    train, test = spec.load_data()
    key = jax.random.key(args.seed)
    quality = None
    samples = args.samples
    if samples is None:  # the default: skipped, with a note, where the test set is too small for two halves
        samples = 256 if len(test) >= 8 else 0
        if not samples:
            print(f"(no sample-quality metrics: the test set has {len(test)} examples; they need at least 8)")
    if samples:  # first: a sampler the net cannot run is refused before the bound's work
        labels = spec.load_labels() if spec.load_labels is not None else None
        if not args.quiet:
            print(f"drawing up to {samples} samples ({args.sampler or spec.default_sampler} sampler) for the "
                  "quality metrics ...", flush=True)
        quality = sample_quality(spec, net, jax.random.fold_in(key, 1), train, test, num=samples,
                                 num_steps=args.sample_steps, sampler=args.sampler, labels=labels)
    # the T-step bound is the one of the sampler's own model (its receiver); continuous time: the plug-in limit
    receiver = "plug_in" if args.continuous else args.sampler
    report = test_bound(spec, net, test, key, num_steps=args.steps, num_mc=args.num_mc,
                        max_examples=args.max_examples, progress=not args.quiet, continuous=args.continuous,
                        receiver=receiver)
    print(report.line())
    if quality is not None:
        print("\n".join(quality.lines()))
    record = {"run": str(run_dir), "model": spec.name, "bound": report._asdict(),
              "quality": None if quality is None else quality.to_dict()}
    if args.json:
        from pmm_ppl.data.cache import atomic_write

        text = json.dumps(record, indent=1)
        atomic_write(Path(args.json), lambda f: f.write(text.encode()))
        print(f"wrote {args.json}")
    return 0


def cmd_plot(args) -> int:
    from pmm_ppl.train.plots import plot_metrics

    print(f"wrote {plot_metrics(Path(args.run), args.out, overwrite=args.overwrite)}")
    return 0


def cmd_demo(args) -> int:
    from pmm_ppl.train.demo import run_demo

    run_demo(Path(args.out), train_seconds=args.seconds, progress=not args.quiet, overwrite=args.overwrite)
    return 0


def cmd_models(args) -> int:
    from pmm_ppl.train.models import list_models, load_spec

    rows = []
    for name in list_models():
        spec = load_spec(name)
        summary = (spec.description.strip().splitlines() or [""])[0]
        rows.append((name, spec.pair.name, spec.hardware, spec.default_sampler, summary))
    widths = [max(len(r[i]) for r in rows + [("model", "pair", "hardware", "sampler", "")]) for i in range(4)]
    print("  ".join(h.ljust(w) for h, w in zip(("model", "pair", "hardware", "sampler"), widths)) + "  description")
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[4])
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="list the ready models in models/ (pair, hardware budget, sampler)")
    p.set_defaults(func=cmd_models)
    p = sub.add_parser("train", help="train a model from models/ (or a model .py file), or on your own data file",
                       usage="pmm train MODEL [options]\n       pmm train --pair NAME (--data FILE | --text FILE) "
                             "[options]   (pmm train -h: the options)")
    p.add_argument("model", nargs="?", help="model name in models/ (e.g. digits_normal) or a path to a .py file "
                                            "(omit it with --pair/--data/--text)")
    p.add_argument("--run-dir", help="where checkpoints and metrics go (default runs/MODEL)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--resume", action="store_true",
                   help="continue exactly from the latest checkpoint (bit for bit on the same number of devices)")
    g.add_argument("--overwrite", action="store_true",
                   help="replace the run already in --run-dir (its checkpoints, metrics, spec.json, model.json)")
    p.add_argument("--steps", type=int_at_least(1), help="stop after this many steps (default: the model's budget)")
    p.add_argument("--seconds", type=positive_float, help="stop after this much training time")
    p.add_argument("--set", help='JSON overrides passed to the model\'s spec(), e.g. \'{"batch_size": 64}\'')
    p.add_argument("--distributed", action="store_true", help="call jax.distributed.initialize() (multi-host)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    g = p.add_argument_group("own data (instead of MODEL; defaults from the data's shape and the pair)")
    g.add_argument("--pair", help="conjugate pair to train with (a name from `pmm pairs`)")
    d = g.add_mutually_exclusive_group()
    d.add_argument("--data", help="array file: .npy, or .npz holding one array, of shape (N, ...): images, vectors, counts")
    d.add_argument("--text", help="text file: trains on its characters (with a token pair, one whose data are probability vectors)")
    t = g.add_mutually_exclusive_group()
    t.add_argument("--test-fraction", type=float, help="fraction of the data held out for `pmm eval` (default 0.1)")
    t.add_argument("--test", help="a separate test file of the same kind (instead of a held-out fraction)")
    g.add_argument("--save-model", metavar="PATH.py", help="write the equivalent model file and stop (no training)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="draw samples from a trained run")
    p.add_argument("checkpoint", help="run directory written by `pmm train`")
    p.add_argument("--steps", type=int_at_least(1), help="sampling steps (default: the model's)")
    p.add_argument("--num", type=int_at_least(1), default=64, help="number of samples")
    p.add_argument("--seed", type=int_at_least(0), default=0)
    p.add_argument("--out", help="output file stem (default RUN/samples): .png for images, .txt for text, .npy always")
    p.add_argument("--sampler", choices=("plug_in", "ancestral"),
                   help="plug_in: observe at the net's mean; ancestral: at a draw from its per-coordinate posterior "
                        "(level or mixture heads, token models); default: the model's own choice (its `sampler`)")
    p.add_argument("--output", choices=("draw", "denoised", "mean"), default="draw",
                   help="draw (default): draws from the model's reconstruction law, the one `pmm eval` scores (grid "
                        "levels, integer counts, tokens); denoised: the final estimate f(mu_T, 1); mean: mu_T")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--trajectory", action="store_true",
                   help="also draw the posterior means mu_t and the denoiser's estimates along 4 chains: "
                        "STEM_trajectory.png (images, arrays) or .txt (text), and the arrays in STEM_trajectory.npz")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("eval", help="test-set likelihood bound and sample-quality metrics of a trained run")
    p.add_argument("checkpoint", help="run directory written by `pmm train`")
    p.add_argument("--steps", type=int_at_least(1), help="discrete steps of the bound (default: the model's)")
    p.add_argument("--num-mc", type=int_at_least(2), help="Monte Carlo replicates per example (>= 2)")
    p.add_argument("--continuous", action="store_true",
                   help="the continuous-time bound instead of the T-step one (much cheaper for long sequences)")
    p.add_argument("--max-examples", type=int_at_least(1), help="evaluate on the first N test examples")
    p.add_argument("--samples", type=int_at_least(0),
                   help="samples drawn for the quality metrics, each compared with two held-out halves of as many test "
                        "examples (at most half the test set; default 256, skipped with a note when the test set has "
                        "fewer than 8 examples; 0: no quality metrics)")
    p.add_argument("--sample-steps", type=int_at_least(1), help="sampling steps for the quality metrics (default: the model's)")
    p.add_argument("--sampler", choices=("plug_in", "ancestral"),
                   help="the sampler evaluated: plug_in (observe at the net's mean) or ancestral (at a draw from its "
                        "per-coordinate posterior; level or mixture heads, token models); the T-step bound is that "
                        "sampler's (its receiver; --continuous is the plug-in limit) and the quality metrics draw with "
                        "it; default: the model's own choice")
    p.add_argument("--json", help="also write the bound and the quality metrics to this JSON file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    p.add_argument("--seed", type=int_at_least(0), default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("plot", help="draw the training curves of a run (metrics.jsonl) into a PNG")
    p.add_argument("run", help="run directory written by `pmm train` (also while it trains)")
    p.add_argument("--out", help="PNG path (default RUN/metrics.png)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing PNG")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("demo", help="train the digits model on the CPU (about a minute); write samples.png and a report")
    p.add_argument("--out", default="demo_out", help="output directory (default demo_out)")
    p.add_argument("--seconds", type=positive_float, help="train for this many seconds instead of the model's step budget")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a previous demo in --out (run/, samples.png, report.txt; other files stay)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)

"""The `pmm` command with wrong input and ordinary mistakes: a message, not a traceback; nothing lost.

Each case runs ``pmm_ppl.cli.main([...])`` in-process (no subprocess: one JAX import for all of
them) in a temporary directory that holds a small trained run, user files and previous outputs, and
asserts: a non-zero exit, no "Traceback" in the output, a message naming the problem, and every file
that existed before is byte-identical afterwards (and no file was added).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pmm_ppl.cli import main
from pmm_ppl.train import checkpoint as ckpt

TINY = {"width": 32, "depth": 1, "batch_size": 64, "warmup_steps": 5, "decay_steps": 1000, "log_every": 5,
        "max_seconds": None, "max_steps": 10, "checkpoint_every": 5}


def run_cli(argv, capsys) -> tuple[int, str]:
    """Exit status and stdout + stderr of ``pmm ARGV`` (argparse's usage errors exit via SystemExit)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out + out.err


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 10-step toy run (checkpoints at 5 and 10) made with `pmm train`, copied into each test's folder."""
    run = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", "toy2d_normal", "--run-dir", str(run), "--quiet", "--set", json.dumps(TINY)]) == 0
    return run


@pytest.fixture
def workdir(tmp_path, trained, monkeypatch):
    """tmp_path with: run/ (a trained toy run plus a user's notes.txt), demo/ (a previous demo output and a
    user file in demo/run/), out.npy (a user's file), models/ (broken model files)."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(trained, tmp_path / "run")
    (tmp_path / "run" / "notes.txt").write_text("my notes")
    demo = tmp_path / "demo"
    shutil.copytree(trained, demo / "run")
    (demo / "run" / "mine.txt").write_text("a user's file inside the demo's run folder")
    (demo / "report.txt").write_text("previous report")
    (demo / "samples.png").write_bytes(b"\x89PNG previous")
    (tmp_path / "user_only" / "run").mkdir(parents=True)
    (tmp_path / "user_only" / "report.txt").write_text("a report the user wrote")
    np.save(tmp_path / "out.npy", np.arange(3))
    models = tmp_path / "models"
    models.mkdir()
    (models / "syntax.py").write_text("def spec(**overrides)\n    return None\n")
    (models / "nospec.py").write_text("X = 1\n")
    (models / "raises.py").write_text("def spec(**overrides):\n    raise KeyError('arch')\n")
    (models / "late_nan.py").write_text(
        "import numpy as np\nfrom pmm_ppl.train.models import load_spec\n\n"
        "def spec(**overrides):\n"
        "    base = load_spec('toy2d_normal', **overrides)\n"
        "    def load_data():\n"
        "        train, test = base.load_data()\n"
        "        train = train.copy(); train[5000, 1] = np.nan\n"
        "        return train, test\n"
        "    import dataclasses\n"
        "    return dataclasses.replace(base, load_data=load_data)\n")
    return tmp_path


def _flip_byte_in_largest_checkpoint_file(run: Path) -> None:
    step_dir = run / "checkpoints" / str(ckpt.latest_step(run))
    target = max((p for p in step_dir.rglob("*") if p.is_file() and p.name != ckpt.MANIFEST), key=lambda p: p.stat().st_size)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))


TINY_JSON = json.dumps(TINY)
# (id, argv, words the message must contain, setup(workdir) or None)
CASES = [
    ("demo refuses to overwrite a previous demo", ["demo", "--out", "demo", "--quiet"],
     ["--overwrite", "report.txt", "samples.png"], None),
    ("demo refuses a user's report.txt", ["demo", "--out", "user_only", "--quiet"], ["--overwrite", "report.txt"], None),
    ("train another model into a run dir", ["train", "digits_normal", "--run-dir", "run", "--quiet"],
     ["already holds a training run", "--resume", "--overwrite"], None),
    ("resume another model's run", ["train", "digits_normal", "--run-dir", "run", "--quiet", "--resume"],
     ["toy2d_normal", "digits_normal"], None),
    ("fresh train into an existing run", ["train", "toy2d_normal", "--run-dir", "run", "--quiet", "--set", TINY_JSON],
     ["already holds a training run"], None),
    ("resume with another net width", ["train", "toy2d_normal", "--run-dir", "run", "--resume", "--quiet", "--set",
                                       json.dumps({**TINY, "width": 48})], ["width", "32", "48"], None),
    ("resume with another batch size", ["train", "toy2d_normal", "--run-dir", "run", "--resume", "--quiet", "--set",
                                        json.dumps({**TINY, "batch_size": 32})], ["batch_size", "64", "32"], None),
    ("resume with another seed", ["train", "toy2d_normal", "--run-dir", "run", "--resume", "--quiet", "--set",
                                  json.dumps({**TINY, "seed": 3})], ["seed"], None),
    ("resume with another learning rate", ["train", "toy2d_normal", "--run-dir", "run", "--resume", "--quiet", "--set",
                                           json.dumps({**TINY, "learning_rate": 1e-3})], ["learning_rate"], None),
    ("resume with another schedule", ["train", "toy2d_normal", "--run-dir", "run", "--resume", "--quiet", "--set",
                                      json.dumps({**TINY, "a_max": 50.0})], ["a_max"], None),
    ("resume with --overwrite", ["train", "toy2d_normal", "--run-dir", "run", "--resume", "--overwrite"],
     ["not allowed with argument"], None),
    ("sample over an existing file", ["sample", "run", "--out", "out", "--num", "4", "--steps", "4"],
     ["out.npy", "--overwrite"], None),
    ("negative learning rate", ["train", "toy2d_normal", "--run-dir", "new", "--set", '{"learning_rate": -1}'],
     ["learning_rate", "> 0"], None),
    ("zero batch size", ["train", "toy2d_normal", "--run-dir", "new", "--set", '{"batch_size": 0}'], ["batch_size"], None),
    ("zero checkpoint interval", ["train", "toy2d_normal", "--run-dir", "new", "--set", '{"checkpoint_every": 0}'],
     ["checkpoint_every"], None),
    ("a net setting the net refuses", ["train", "digits_unet", "--run-dir", "new", "--set", '{"dropout": 1.5}'],
     ["dropout", "[0, 1)"], None),
    ("the cross-entropy objective without its log score", ["train", "shakespeare_chars", "--run-dir", "new", "--set",
                                                           '{"log_score": 0}'], ["'none'", "log_score > 0"], None),
    ("a count radius whose keys do not fit", ["train", "shakespeare_chars", "--run-dir", "new", "--set",
                                              '{"count_radius": 5}'], ["count_radius", "got 5"], None),
    ("unknown Muon preconditioning", ["train", "toy2d_normal", "--run-dir", "new", "--set",
                                      '{"muon_preconditioning": "svd"}'], ["muon_preconditioning", "schatten"], None),
    ("--steps 0", ["train", "toy2d_normal", "--run-dir", "new", "--steps", "0"], ["--steps", ">= 1"], None),
    ("--steps -5", ["train", "toy2d_normal", "--run-dir", "new", "--steps", "-5"], ["--steps", ">= 1"], None),
    ("--seconds 0", ["train", "toy2d_normal", "--run-dir", "new", "--seconds", "0"], ["--seconds", "> 0"], None),
    ("eval --steps 0", ["eval", "run", "--steps", "0"], ["--steps", ">= 1"], None),
    ("eval --num-mc 1", ["eval", "run", "--num-mc", "1"], ["--num-mc", ">= 2"], None),
    ("eval --max-examples 0", ["eval", "run", "--max-examples", "0"], ["--max-examples", ">= 1"], None),
    ("eval --samples -1", ["eval", "run", "--samples", "-1"], ["--samples", ">= 0"], None),
    ("eval --sample-steps 0", ["eval", "run", "--sample-steps", "0"], ["--sample-steps", ">= 1"], None),
    ("eval --json over an existing file", ["eval", "run", "--json", "run/notes.txt"], ["notes.txt", "--overwrite"], None),
    ("eval --sampler ancestral with a mean-only net", ["eval", "run", "--sampler", "ancestral", "--quiet"],
     ["ancestral sampler", "posterior(mu, t)"], None),
    ("sample --steps 0", ["sample", "run", "--steps", "0"], ["--steps", ">= 1"], None),
    ("sample --num 0", ["sample", "run", "--num", "0"], ["--num", ">= 1"], None),
    ("unknown model", ["train", "no_such_model", "--run-dir", "new"], ["no_such_model", "available", "toy2d_normal"], None),
    ("model file with a syntax error", ["train", "models/syntax.py", "--run-dir", "new"], ["syntax error", "line 1"], None),
    ("model file without spec()", ["train", "models/nospec.py", "--run-dir", "new"], ["defines no spec"], None),
    ("model file whose spec() fails", ["train", "models/raises.py", "--run-dir", "new"], ["raises.py", "KeyError"], None),
    ("--set bad JSON", ["train", "toy2d_normal", "--run-dir", "new", "--set", "{bad json"], ["--set", "not valid JSON"], None),
    ("--set a list", ["train", "toy2d_normal", "--run-dir", "new", "--set", "[1]"], ["--set", "JSON object"], None),
    ("--set unknown key", ["train", "toy2d_normal", "--run-dir", "new", "--set", '{"widht": 3}'],
     ["widht", "valid keys", "width", "batch_size"], None),
    ("NaN in a late training row", ["train", "models/late_nan.py", "--run-dir", "new", "--quiet"],
     ["rows 4096..", "NaN"], None),
    ("sample from a folder that is not a run", ["sample", "models"], ["not a training run", "model.json"], None),
    ("eval a run with a flipped checkpoint byte", ["eval", "run", "--steps", "2", "--quiet"], ["corrupt", "SHA-256"],
     _flip_byte_in_largest_checkpoint_file),
    ("sample a run with a flipped checkpoint byte", ["sample", "run", "--out", "s2"], ["corrupt", "SHA-256"],
     _flip_byte_in_largest_checkpoint_file),
]


@pytest.mark.parametrize("argv,words,setup", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_command_reports_and_changes_nothing(workdir, capsys, argv, words, setup):
    if setup is not None:
        setup(workdir / "run")
    before = snapshot(workdir)
    code, output = run_cli(argv, capsys)
    assert code not in (0, None), f"pmm {' '.join(argv)} succeeded: {output}"
    assert "Traceback" not in output
    for word in words:
        assert word in output, f"message does not name {word!r}: {output}"
    assert len(output.strip().splitlines()) <= 6, output  # a message, not a dump
    assert snapshot(workdir) == before, "a refused command changed files"


def test_debug_shows_the_traceback(workdir, capsys, monkeypatch):
    """--debug (or PMM_DEBUG=1) lets the exception through, with its traceback."""
    from pmm_ppl.train.models import ModelFileError

    with pytest.raises(ModelFileError, match="no_such_model"):
        main(["--debug", "train", "no_such_model"])
    with pytest.raises(ModelFileError):
        main(["train", "no_such_model", "--debug"])
    monkeypatch.setenv("PMM_DEBUG", "1")
    with pytest.raises(ModelFileError):
        main(["train", "no_such_model"])


def test_overwrite_replaces_only_what_pmm_wrote(workdir, capsys):
    """`pmm train --overwrite` retrains into the run folder: the old checkpoints go, a user's file stays;
    `pmm sample --overwrite` replaces the sample file."""
    old_meta = (workdir / "run" / "checkpoints" / "10" / "meta").exists()
    code, out = run_cli(["train", "toy2d_normal", "--run-dir", "run", "--quiet", "--overwrite", "--set",
                         json.dumps({**TINY, "max_steps": 6, "checkpoint_every": 3})], capsys)
    assert code == 0, out
    assert old_meta and ckpt.latest_step(workdir / "run") == 6
    assert sorted(p.name for p in (workdir / "run" / "checkpoints").iterdir()) == ["3", "6"]
    assert (workdir / "run" / "notes.txt").read_text() == "my notes"
    assert json.loads((workdir / "run" / "model.json").read_text())["overrides"]["max_steps"] == 6
    code, out = run_cli(["sample", "run", "--out", "out", "--num", "3", "--steps", "4", "--overwrite"], capsys)
    assert code == 0, out
    assert np.load(workdir / "out.npy").shape == (3, 2)


def test_zero_is_never_read_as_the_default(trained):
    """The library refuses 0 for counts it would otherwise default (no `x or default`)."""
    from pmm_ppl.conjugate.validation import PMMInputError
    from pmm_ppl.train.evaluate import draw_samples, test_bound
    from pmm_ppl.train.loop import load_trained
    from pmm_ppl.train.models import load_spec

    spec = load_spec("toy2d_normal", **TINY)
    net = load_trained(spec, trained)
    _, test = spec.load_data()
    import jax

    for kwargs, name in [({"num_steps": 0}, "num_steps"), ({"num_mc": 0}, "num_mc"), ({"max_examples": 0}, "max_examples")]:
        with pytest.raises(PMMInputError, match=f"^{name}:"):
            test_bound(spec, net, test, jax.random.key(0), **kwargs)
    for kwargs, name in [({"receiver": "mixture"}, "receiver"), ({"receiver": "ancestral", "continuous": True}, "receiver"),
                         ({"receiver": "ancestral"}, "denoiser")]:  # this net gives a mean only, no posterior
        with pytest.raises(PMMInputError, match=f"^{name}:"):
            test_bound(spec, net, test, jax.random.key(0), **kwargs)
    with pytest.raises(PMMInputError, match="^num_steps:"):
        draw_samples(spec, net, jax.random.key(0), 4, num_steps=0)
    with pytest.raises(PMMInputError, match="^num:"):
        draw_samples(spec, net, jax.random.key(0), 0)


@pytest.mark.slow
def test_demo_overwrite_keeps_the_users_files(workdir, monkeypatch):
    """`pmm demo --overwrite` over a previous demo: the report, the image and the run are new; a user's
    file inside demo/run/ is still there, byte for byte.  (A shrunken digits model keeps it fast.)"""
    from pmm_ppl.train import demo as demo_mod
    from pmm_ppl.train.models import load_spec

    tiny = {"width": 16, "depth": 1, "batch_size": 32, "max_steps": 4, "checkpoint_every": 4, "warmup_steps": 1,
            "decay_steps": 100, "log_every": 2}
    monkeypatch.setattr(demo_mod, "load_spec", lambda model, **kw: load_spec(model, **{**tiny, **kw}))
    monkeypatch.setattr(demo_mod, "test_bound", _short_bound)
    monkeypatch.setattr(demo_mod, "draw_samples", lambda spec, net, key, num: _few_step_samples(spec, net, key, num))
    report = demo_mod.run_demo(workdir / "demo", progress=False, overwrite=True)
    assert report["train_steps"] == 4
    assert (workdir / "demo" / "run" / "mine.txt").read_text() == "a user's file inside the demo's run folder"
    assert (workdir / "demo" / "report.txt").read_text().startswith("model: digits_normal")
    assert (workdir / "demo" / "samples.png").read_bytes()[:4] == b"\x89PNG"
    assert ckpt.latest_step(workdir / "demo" / "run") == 4


def _few_step_samples(spec, net, key, num):
    from pmm_ppl.train.evaluate import draw_samples

    return draw_samples(spec, net, key, num, num_steps=4)


def _short_bound(spec, net, test, key, **kw):
    from pmm_ppl.train.evaluate import test_bound

    return test_bound(spec, net, test[:16], key, num_steps=4, **kw)


def test_resume_accepts_the_same_settings_spelled_differently(workdir, capsys):
    """The model given as a path instead of a name, and a training default written out (seed 0), are the
    same run: `--resume` continues it (from step 10 to 12); a stop setting (max_steps) may change."""
    from pmm_ppl.train.models import models_dir

    code, out = run_cli(["train", models_dir() / "toy2d_normal.py", "--run-dir", "run", "--resume", "--quiet",
                         "--steps", "12", "--set", json.dumps({**TINY, "seed": 0, "max_steps": 50})], capsys)
    assert code == 0, out
    assert "to step 12" in out and ckpt.latest_step(workdir / "run") == 12


def test_corrupt_model_json_is_a_message(workdir, capsys):
    for text in ("{not json", '{"overrides": {}}', '{"model": "toy2d_normal", "overrides": [1]}'):
        (workdir / "run" / "model.json").write_text(text)
        before = snapshot(workdir)
        code, out = run_cli(["sample", "run", "--out", "s3"], capsys)
        assert code == 1 and "Traceback" not in out and "model.json: corrupt" in out, out
        assert snapshot(workdir) == before

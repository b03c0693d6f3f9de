"""`pmm train --pair NAME --data/--text FILE`: training on one's own file without a model file, then
`pmm sample` (with `--trajectory`), `pmm eval` and `pmm plot` on the run, all through the CLI's main().

Tiny on purpose (a few steps, nets of width 8, a few dozen examples): each run costs mostly its compilations.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from pmm_ppl import get_pair
from pmm_ppl.cli import main
from pmm_ppl.conjugate.validation import PMMInputError
from pmm_ppl.train.own_data import MAX_LEVELS, model_source, plan_own_data, spec_from_source

TINY = json.dumps({"width": 8, "depth": 1, "log_every": 1})
EVAL = ["--steps", "2", "--num-mc", "2", "--max-examples", "2", "--quiet"]


def _train(args, run, steps=3, tiny=TINY):
    return main(["train", *args, "--run-dir", str(run), "--steps", str(steps), "--quiet", "--set", tiny])


def test_defaults_follow_the_data_shape_and_the_pair(tmp_path):
    """The plan's rules (pmm_ppl/train/own_data.py): uint8 images -> a 256-level head under Normal-Normal;
    real data -> Normal preconditioning with A_max scaled by 1/s.d.^2; integer counts -> a level head with
    the pair's likelihood; too many levels -> the pair's plain head; the split is stated and sized."""
    rng = np.random.default_rng(0)
    np.save(tmp_path / "img.npy", rng.integers(0, 9, (30, 4, 4)).astype(np.uint8))
    plan = plan_own_data("normal_normal", data=str(tmp_path / "img.npy"))
    assert (plan.net, plan.levels, plan.num_train, plan.num_test) == ("discretised_normal", (0, 255), 27, 3)
    assert "a random 10% of the rows" in plan.summary()
    real = 3.0 * rng.standard_normal((40, 5)).astype(np.float32)
    np.save(tmp_path / "real.npy", real)
    plan = plan_own_data("normal_normal", data=str(tmp_path / "real.npy"), test_fraction=0.25)
    assert (plan.net, plan.num_train, plan.num_test) == ("preconditioned", 30, 10)
    assert plan.a_max == pytest.approx(1e4 / plan.data_std**2) and 2.0 < plan.data_std < 4.0
    np.save(tmp_path / "counts.npy", rng.poisson(3.0, (20, 6)))
    np.save(tmp_path / "counts_test.npy", rng.poisson(3.0, (5, 6)) + 20)  # the grid spans both files
    plan = plan_own_data("gamma_poisson", data=str(tmp_path / "counts.npy"), test=str(tmp_path / "counts_test.npy"))
    assert (plan.net, plan.levels[0], plan.num_train, plan.num_test, plan.unit) == ("levels", 0, 20, 5, "count")
    assert plan.levels[1] >= 20
    train, test = spec_from_source(model_source(plan)).load_data()  # --test FILE: all rows train, the file tests
    assert train.shape == (20, 6) and test.shape == (5, 6) and test.min() >= 20
    np.save(tmp_path / "wide.npy", np.arange(2 * MAX_LEVELS).reshape(-1, 4))
    plan = plan_own_data("gamma_poisson", data=str(tmp_path / "wide.npy"))
    assert plan.net == "plain"
    # the model file of a plan builds the spec and loads the same split (the nets are trained by the CLI tests)
    spec = spec_from_source(model_source(plan))
    train, test = spec.load_data()
    assert spec.data_shape == (4,) and train.shape == (115, 4) and test.shape == (13, 4)
    with pytest.raises(PMMInputError, match="test-fraction"):
        plan_own_data("gamma_poisson", data=str(tmp_path / "counts.npy"), test_fraction=1.0)
    with pytest.raises(PMMInputError, match="--text FILE"):
        plan_own_data("dirichlet_categorical", data=str(tmp_path / "counts.npy"))


def test_uint8_images_train_sample_trajectory_eval_plot(tmp_path, capsys):
    rng = np.random.default_rng(1)
    data = tmp_path / "img.npy"
    np.save(data, (rng.integers(0, 4, (24, 8, 8)) * 85).astype(np.uint8))
    run = tmp_path / "run"
    assert _train(["--pair", "normal_normal", "--data", str(data)], run) == 0
    out = capsys.readouterr().out
    assert "level head over the 256 levels" in out and "test set: a random 10% of the rows" in out
    info = json.loads((run / "model.json").read_text())
    assert info["data"]["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert info["data"]["path"] == str(data.resolve())
    # metrics.jsonl: a row per log interval (log_every=1), not only at checkpoints
    assert [json.loads(ln)["step"] for ln in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]

    assert main(["sample", str(run), "--num", "2", "--steps", "3", "--trajectory", "--output", "denoised"]) == 0
    samples = np.load(run / "samples.npy")
    traj = np.load(run / "samples_trajectory.npz")
    assert (run / "samples.png").stat().st_size > 0 and (run / "samples_trajectory.png").stat().st_size > 0
    assert traj["means"].shape == (4, 2, 8, 8) and traj["estimates"].shape == (4, 2, 8, 8)
    np.testing.assert_allclose(traj["times"], [0.0, 1 / 3, 2 / 3, 1.0], atol=1e-6)
    np.testing.assert_allclose(traj["means"][0], 0.0)  # the prior mean of Normal-Normal(0, 1)
    # the same chains (seed, num): the last estimate f(mu_T, 1) is the (denoised) sample
    np.testing.assert_allclose(traj["estimates"][-1], samples, atol=1e-5)
    # by default the samples are draws from the model: pixels on the grid of the 256 levels in [-1, 1]
    assert main(["sample", str(run), "--num", "2", "--steps", "3", "--overwrite"]) == 0
    drawn = np.load(run / "samples.npy") * 127.5 + 127.5
    np.testing.assert_allclose(drawn, np.round(drawn), atol=1e-3)

    assert main(["eval", str(run), *EVAL]) == 0
    assert "bits/dim" in capsys.readouterr().out
    assert main(["plot", str(run)]) == 0
    assert f"wrote {run / 'metrics.png'}" in capsys.readouterr().out
    assert (run / "metrics.png").stat().st_size > 0


def test_own_images_train_with_non_leaking_augmentation(tmp_path, capsys):
    # --set '{"augment": p}' on one's own images: the net takes the labels, the run trains and evaluates; on
    # vectors (not images) the augmentation is refused with an error that names it
    rng = np.random.default_rng(2)
    data = tmp_path / "img.npy"
    np.save(data, (rng.integers(0, 4, (24, 6, 6)) * 85).astype(np.uint8))
    run = tmp_path / "run"
    augmented = json.dumps({**json.loads(TINY), "augment": 0.5})
    assert _train(["--pair", "normal_normal", "--data", str(data)], run, steps=2, tiny=augmented) == 0
    info = json.loads((run / "model.json").read_text())
    assert "augment" in json.dumps(info)
    assert main(["eval", str(run), *EVAL]) == 0
    assert "bits/dim" in capsys.readouterr().out
    vectors = tmp_path / "vec.npy"
    np.save(vectors, rng.normal(size=(24, 5)).astype(np.float32))
    capsys.readouterr()
    assert _train(["--pair", "normal_normal", "--data", str(vectors)], tmp_path / "run2", steps=1, tiny=augmented) != 0
    assert "augment: needs images (B, H, W) or (B, H, W, C), got shape" in capsys.readouterr().err


def test_text_file_trains_samples_and_evaluates(tmp_path, capsys):
    text = tmp_path / "words.txt"
    text.write_text("the cat sat on a mat; a dog sat on the log. " * 14)  # 616 characters
    run = tmp_path / "run"
    tiny = json.dumps({"width": 8, "num_blocks": 1, "ngram_buckets": 64, "log_every": 1})
    assert _train(["--pair", "dirichlet_categorical", "--text", str(text)], run, steps=2, tiny=tiny) == 0
    out = capsys.readouterr().out
    assert "windows of 62 characters (15 distinct)" in out and "the last 10% of the characters" in out
    assert main(["sample", str(run), "--num", "2", "--steps", "3", "--trajectory"]) == 0
    samples = (run / "samples.txt").read_text().split("\n\n---\n\n")
    assert len(samples) == 2 and all(len(s) == 62 and set(s) <= set(text.read_text()) for s in samples)
    traj = (run / "samples_trajectory.txt").read_text()
    assert traj.count("=== chain") == 2 and f"t=0.000 mu  : {'_' * 62!r}" in traj  # nothing revealed at t = 0
    assert f"t=1.000 xhat: {samples[0]!r}" in traj  # the last estimate is the sample
    assert main(["eval", str(run), *EVAL]) == 0
    assert "bits/char" in capsys.readouterr().out


def test_counts_train_and_a_changed_file_is_refused_and_save_model_trains(tmp_path, capsys):
    rng = np.random.default_rng(2)
    data = tmp_path / "counts.npy"
    np.save(data, rng.poisson(2.0, (24, 6)))
    run = tmp_path / "run"
    args = ["--pair", "gamma_poisson", "--data", str(data)]
    assert _train(args, run) == 0
    assert main(["sample", str(run), "--num", "2", "--steps", "3"]) == 0
    assert main(["eval", str(run), *EVAL]) == 0
    assert "nats/count" in capsys.readouterr().out

    # --save-model writes the same model file the run uses; the run above was built by loading exactly that
    # text as a model file (own_data.spec_from_source -> load_spec), so the saved file trains as it did
    saved = tmp_path / "my_model.py"
    assert main(["train", *args, "--save-model", str(saved)]) == 0
    assert saved.read_text() == (run / "model.py").read_text()
    assert not (tmp_path / "runs").exists()

    # a changed data file: sample and eval refuse it, naming the file; nothing is written
    np.save(data, rng.poisson(2.0, (24, 6)))
    capsys.readouterr()
    assert main(["sample", str(run), "--out", str(tmp_path / "s2")]) == 1
    assert main(["eval", str(run), *EVAL]) == 1
    err = capsys.readouterr().err
    assert err.count(f"data file {str(data.resolve())!r}: changed since the run was set up") == 2
    assert not list(tmp_path.glob("s2*"))


@pytest.mark.parametrize("pair, values, problem", [
    ("gamma_poisson", [[1, 2], [3, -1], [0, 0]], "rows 0..2"),
    ("normal_normal", [[0.5, np.nan], [1.0, 2.0], [0.0, 0.0]], "rows 0..2"),
])
def test_out_of_support_file_is_refused_before_training(tmp_path, capsys, pair, values, problem):
    data = tmp_path / "bad.npy"
    np.save(data, np.asarray(values))
    run = tmp_path / "run"
    assert main(["train", "--pair", pair, "--data", str(data), "--run-dir", str(run), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert f"pmm train: error: {data.resolve()} ({problem})" in err
    assert not run.exists()


def test_own_text_gets_the_measured_recipe_of_the_shakespeare_model(tmp_path):
    """A text file's model file (written by the plan) and ``models/shakespeare_chars.py`` build the same
    convolution stack, objective, learning rate, characters per step and sampler: both read
    ``pmm_ppl/train/character_recipe.py``; a user's file keeps the values as literals."""
    from flax import nnx

    from pmm_ppl.nets.count_prior import CountPrior
    from pmm_ppl.nets.dilated_conv import DilatedConvNet
    from pmm_ppl.train import character_recipe as recipe
    from pmm_ppl.train.models import load_spec

    text = tmp_path / "book.txt"
    text.write_text("to be or not to be, that is the question. " * 200)  # 8600 characters: windows of 128
    source = model_source(plan_own_data("dirichlet_categorical", text=str(text)))
    assert "character_recipe import" not in source
    assert repr(recipe.net_for(get_pair("dirichlet_categorical"))) in source
    own, shakespeare = spec_from_source(source), load_spec("shakespeare_chars")

    def stack(spec):
        [conv] = [m for _, m in nnx.iter_graph(spec.make_net(0)) if isinstance(m, DilatedConvNet)]
        return ([(b.conv.in_features, b.conv.kernel_size, b.conv.kernel_dilation) for b in conv.blocks],
                (conv.ngrams.num_buckets, conv.ngrams.radii, conv.ngrams.table_width), conv.conditioning)

    assert stack(own) == stack(shakespeare) == (
        [(recipe.NET["width"], (recipe.NET["kernel_size"],), (recipe.NET["dilations"][i % len(recipe.NET["dilations"])],))
         for i in range(recipe.NET["num_blocks"])],
        (recipe.NET["ngram_buckets"], recipe.NET["ngram_radii"], recipe.NET["ngram_width"]),
        "none")  # the Dirichlet-Categorical posterior given the counts is free of the time
    for spec in (own, shakespeare):
        [prior] = [m for _, m in nnx.iter_graph(spec.make_net(0)) if isinstance(m, CountPrior)]
        assert (prior.count_radius, prior.count_discount, prior.count_weight) == tuple(recipe.COUNTS.values())
    assert recipe.counts_for(84, 4_804_352) == recipe.COUNTS
    assert recipe.counts_for(84, 4_804_353)["count_radius"] == 3 and recipe.counts_for(200, 100)["count_radius"] == 3
    for spec in (own, shakespeare):
        assert (spec.weighting, spec.log_score, spec.default_sampler) == (
            recipe.OBJECTIVE["weighting"], recipe.OBJECTIVE["log_score"], recipe.SAMPLER)
        assert spec.train.learning_rate == recipe.LEARNING_RATE
        assert {k: getattr(spec.train, k) for k in recipe.OPTIMIZER} == recipe.OPTIMIZER
        assert spec.train.batch_size * spec.data_shape[0] == recipe.POSITIONS_PER_STEP
    assert [recipe.windows_per_step(n) for n in (256, 128, 62, 37, 1024, 4096)] == [8, 16, 32, 32, 2, 1]

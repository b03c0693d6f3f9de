"""Every ready model in models/ loads, builds its net, and the net maps a batch of prior means to
the data shape with finite values (no data download: the data loaders are exercised in test_data)."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
import pytest

from pmm_ppl.nets.count_prior import CountPrior, LazyCounts
from pmm_ppl.process.objectives import WEIGHTINGS
from pmm_ppl.train.models import list_models, load_spec
from pmm_ppl.train.spec import ModelSpec


def test_models_are_listed():
    assert {"digits_normal", "digits_counts", "shakespeare_chars", "toy2d_normal", "mnist_normal",
            "nyt_counts"} <= set(list_models())


@pytest.mark.parametrize("name", sorted(list_models()))
def test_model_spec_builds_and_net_runs(name):
    spec = load_spec(name)
    assert isinstance(spec, ModelSpec) and spec.description
    assert spec.weighting in WEIGHTINGS
    net = spec.make_net(0)
    for _, node in nnx.iter_graph(net):  # tests load no corpus: count tables of a random text instead of the model's
        if isinstance(node, CountPrior):
            k = spec.data_shape[-1]
            node._counts = LazyCounts(lambda: np.random.default_rng(0).integers(0, k, 3000), k, node.count_radius,
                                      node.count_discount)
    state = spec.pair.init((2,) + tuple(spec.data_shape[: len(spec.data_shape) - spec.pair.event_ndim]))
    # one compiled forward pass (eagerly, a U-Net dispatches and compiles op by op: 10-20 s)
    out = nnx.jit(lambda n, mu, t: n(mu, t))(net, spec.pair.mean(state), jnp.array([0.3, 0.9]))
    assert out.shape == (2,) + tuple(spec.data_shape)
    assert np.all(np.isfinite(np.asarray(out)))


def test_mnist_cpu_fits_its_parameter_budget():
    """The issue's CPU target allows a network of at most 1.6 M parameters (counted from the abstract
    state: nothing is initialised)."""
    net = nnx.eval_shape(lambda: load_spec("mnist_cpu").make_net(0))
    count = sum(int(np.prod(p.shape)) for p in jax.tree_util.tree_leaves(nnx.state(net, nnx.Param)))
    assert 1.4e6 < count <= 1.6e6, count


def test_unknown_model_names_the_available_ones():
    with pytest.raises(FileNotFoundError, match="digits_normal"):
        load_spec("no_such_model")


def test_pmm_models_lists_every_model_with_its_pair_and_hardware(capsys):
    from pmm_ppl.cli import main

    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {ln.split()[0]: ln.split()[1:4] for ln in lines[1:]}
    assert set(rows) == set(list_models())
    assert rows["digits_normal"] == ["normal_normal", "cpu", "ancestral"]
    assert rows["mnist_normal"][:2] == ["normal_normal", "gpu"]
    assert rows["shakespeare_chars"][:2] == ["dirichlet_categorical", "cpu"]


def test_model_hardware_must_be_cpu_or_gpu():
    import dataclasses

    from pmm_ppl.conjugate.validation import PMMInputError

    with pytest.raises(PMMInputError, match="hardware: must be 'cpu' or 'gpu', got 'tpu'"):
        dataclasses.replace(load_spec("toy2d_normal"), hardware="tpu")
